//! The installed database parsers on arbitrary bytes: no panic, and whatever parses writes back
//! to bytes that parse to the same value.
#![no_main]

use basalt::apk::installed::{Database, Scripts, Triggers, World};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|bytes: &[u8]| {
    if let Ok(db) = Database::parse(bytes) {
        let written = db.to_bytes().expect("a parsed database can be written");
        assert_eq!(Database::parse(&written).unwrap(), db);
        let _ = db.owners();
    }
    if let Ok(scripts) = Scripts::parse(bytes)
        && let Ok(written) = scripts.to_bytes()
    {
        assert_eq!(Scripts::parse(&written).unwrap(), scripts);
    }
    if let Ok(triggers) = Triggers::parse(bytes)
        && let Ok(written) = triggers.to_bytes()
    {
        assert_eq!(Triggers::parse(&written).unwrap(), triggers);
    }
    if let Ok(world) = World::parse(bytes) {
        assert_eq!(World::parse(&world.to_bytes().unwrap()).unwrap(), world);
    }
});
