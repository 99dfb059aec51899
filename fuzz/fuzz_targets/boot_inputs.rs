//! What a bootable build reads from outside: kernel modules (`.modinfo` of an ELF, gzip
//! inflated), boot images (the setup header's version), EFI stubs (PE headers) and CA
//! certificates (PEM, DER subject names): no panic, whatever the bytes.
#![no_main]

use basalt::build::{certs, kernel, uki};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|bytes: &[u8]| {
    let _ = kernel::modinfo("fuzz.ko", bytes);
    let _ = kernel::modinfo("fuzz.ko.gz", bytes);
    let _ = kernel::bzimage_version("vmlinuz", bytes);
    let _ = kernel::parse_builtin(&String::from_utf8_lossy(bytes));
    let sections = uki::Sections {
        osrel: b"ID=alpine\n".to_vec(),
        cmdline: b"console=ttyS0".to_vec(),
        uname: b"6.1.0".to_vec(),
        initrd: vec![0; 16],
        linux: vec![0; 16],
    };
    let _ = uki::build("stub", bytes, &sections);
    let _ = uki::sections(bytes);
    let _ = certs::subject_hash(bytes);
    for der in certs::pem_certificates(bytes) {
        let _ = certs::subject_hash(&der);
    }
});
