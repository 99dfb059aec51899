//! The machine's limit for checking a tree's content: read every listed file (and, with
//! `--sha256`, hash every byte), with `--threads` readers (default: one per core), with nothing
//! else done: no walk, no metadata, no comparison. With many readers on a cold page cache, that
//! many reads are in flight: the parallel cold-read limit. `bench/verify.sh` times it beside
//! the integrity tools.
//!
//! Usage: `read_limit [--sha256] [--buffer KIB] [--threads N] --input LIST`, where LIST holds
//! NUL-separated file paths (`find TREE -type f -print0`). Exits 1 when a file cannot be read,
//! so that a failed run is never taken for a fast one.

use std::io::Read;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use anyhow::Context;
use rayon::prelude::*;
use sha2::{Digest, Sha256};

fn main() -> anyhow::Result<std::process::ExitCode> {
    let mut hash = false;
    let mut buffer_kib: usize = 256;
    let mut threads: usize = 0;
    let mut input: Option<PathBuf> = None;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = || args.next().with_context(|| format!("{arg} needs a value"));
        match arg.as_str() {
            "--sha256" => hash = true,
            "--buffer" => buffer_kib = value()?.parse()?,
            "--threads" => threads = value()?.parse()?,
            "--input" => input = Some(value()?.into()),
            other => anyhow::bail!("unknown argument `{other}`"),
        }
    }
    let input = input.context("--input LIST is required")?;
    anyhow::ensure!(buffer_kib > 0, "--buffer must be at least 1 KiB");
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build_global()?;
    let list = std::fs::read(&input).with_context(|| format!("reading {}", input.display()))?;
    let paths: Vec<&Path> = list
        .split(|&b| b == 0)
        .filter(|p| !p.is_empty())
        .map(|p| Path::new(std::ffi::OsStr::from_bytes(p)))
        .collect();
    let results: Vec<std::io::Result<u64>> = paths
        .par_iter()
        .with_max_len(64)
        .map(|path| {
            // One buffer per thread, allocated once.
            BUFFER.with(|cell| {
                let mut buf = cell.borrow_mut();
                if buf.len() != buffer_kib * 1024 {
                    buf.resize(buffer_kib * 1024, 0);
                }
                read_one(path, &mut buf, hash)
            })
        })
        .collect();
    let mut bytes = 0u64;
    let mut failed = 0usize;
    for (path, result) in paths.iter().zip(results) {
        match result {
            Ok(n) => bytes += n,
            Err(e) => {
                failed += 1;
                eprintln!("{}: {e}", path.display());
            }
        }
    }
    eprintln!("{} files, {bytes} bytes, {failed} unreadable", paths.len());
    Ok(if failed == 0 {
        std::process::ExitCode::SUCCESS
    } else {
        std::process::ExitCode::FAILURE
    })
}

thread_local! {
    static BUFFER: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
}

fn read_one(path: &Path, buf: &mut [u8], hash: bool) -> std::io::Result<u64> {
    let mut file = std::fs::File::open(path)?;
    let mut hasher = Sha256::new();
    let mut total = 0u64;
    loop {
        let n = file.read(buf)?;
        if n == 0 {
            break;
        }
        if hash {
            hasher.update(&buf[..n]);
        }
        total += n as u64;
    }
    std::hint::black_box(hasher.finalize());
    Ok(total)
}
