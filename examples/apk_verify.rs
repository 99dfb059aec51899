//! Verifies packages and indexes in one process through the library, like `apk verify`:
//! signature by a built-in Alpine key (or `--keys-dir`), identity, datahash and every file's
//! SHA-1 for packages; signature and a full parse for indexes. Prints `FILE: OK` or
//! `FILE: ERROR`, and exits 1 when any file failed. Used by `bench/apk-verify.sh`.
//!
//!     cargo run --release --example apk_verify -- FILE...

use std::io::{self, BufReader, Write as _};
use std::process::ExitCode;

use basalt::apk::package::{ReadOptions, read_package};
use basalt::apk::{Keyring, Limits, index};

fn main() -> ExitCode {
    let ring = Keyring::alpine();
    let limits = Limits::default();
    let mut failed = false;
    let mut out = io::stdout().lock();
    for path in std::env::args().skip(1) {
        let result = fs_err::File::open(&path)
            .map_err(|e| e.to_string())
            .and_then(|file| {
                let reader = BufReader::new(file);
                if path.ends_with(".apk") {
                    let mut opts = ReadOptions::new(&ring);
                    opts.require_verified = true;
                    read_package(reader, &path, &opts, |_, _| Ok(()))
                        .map(|_| ())
                        .map_err(|e| e.to_string())
                } else {
                    index::read_index_with(reader, &path, &ring, &limits, |_| {})
                        .map_err(|e| e.to_string())
                        .and_then(|s| {
                            if s.signature.is_verified() {
                                Ok(())
                            } else {
                                Err(s.signature.to_string())
                            }
                        })
                }
            });
        let status = match result {
            Ok(()) => "OK".to_owned(),
            Err(e) => {
                failed = true;
                format!("ERROR: {e}")
            }
        };
        let _ = writeln!(out, "{path}: {status}");
    }
    if failed {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}
