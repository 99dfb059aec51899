//! Profile text → validated profile → rendered files: never a panic, and every diagnostic
//! points inside the text.
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match basalt::profile::parse(text, Path::new("fuzz.toml")) {
        Ok(profile) => {
            let rendered =
                basalt::build::render::render(&profile, &basalt::build::render::Sources::default());
            // The built-in templates render for every valid profile.
            if profile.files.extra.is_empty() && profile.files.templates.is_none() {
                assert!(rendered.is_ok());
            }
        }
        Err(err) => {
            let lines = text.lines().count() + 1;
            for d in err.diagnostics() {
                assert!(d.line >= 1 && d.line <= lines && d.column >= 1);
            }
        }
    }
});
