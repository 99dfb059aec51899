//! Version parsing and ordering on arbitrary bytes: never panics, `compare` is antisymmetric,
//! and `Version::parse` accepts exactly what `is_valid` accepts (within the length limit).
#![no_main]

use std::cmp::Ordering;

use basalt::apk::version::{self, Version};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let (a, b) = text.split_at(text.char_indices().nth(text.chars().count() / 2).map_or(0, |(i, _)| i));
    assert_eq!(version::compare(a, b), version::compare(b, a).reverse());
    assert_eq!(version::compare(a, a), Ordering::Equal);
    let _ = version::compare_fuzzy(a, b);
    match Version::parse(a) {
        Ok(v) => {
            assert!(version::is_valid(a));
            assert_eq!(v.as_str(), a);
        }
        Err(_) => assert!(!version::is_valid(a) || a.len() > version::MAX_LEN),
    }
});
