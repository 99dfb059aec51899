//! The verifier an image carries when it verifies itself at boot: a statically linked basalt
//! at [`VERIFIER_PATH`], and the public key it trusts in [`VERIFIER_KEYS`].
//!
//! Invariant: the verifier's bytes are placed as given; whether they can run on the image is
//! told ([`elf_linking`]), never guessed: an ELF that names a program interpreter needs a
//! loader and libraries the image may not have.

use std::collections::BTreeMap;

use crate::build::pipeline::{VERIFIER_KEYS, VERIFIER_PATH};
use crate::integrity::sign::PublicKey;
use crate::tree::Node;

/// The verifier's files: the binary at [`VERIFIER_PATH`] (0755 root) and `public` in
/// [`VERIFIER_KEYS`], by absolute path.
#[must_use]
pub fn files(binary: Vec<u8>, public: &PublicKey) -> BTreeMap<String, Node> {
    let mut files = BTreeMap::new();
    files.insert(VERIFIER_PATH.to_owned(), Node::file(binary, 0o755));
    files.insert(
        format!("{VERIFIER_KEYS}/{}.pub", public.id),
        Node::file(public.render().into_bytes(), 0o644),
    );
    files
}

/// How an executable is linked, as far as running it on another system goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Linking {
    /// An ELF file without a program interpreter.
    Static,
    /// An ELF file that names a program interpreter (`PT_INTERP`): it needs a dynamic loader
    /// and libraries.
    Dynamic,
    /// Not an ELF file (or a truncated one).
    NotElf,
}

/// Reads the ELF header and program headers of `bytes` looking for `PT_INTERP`.
#[must_use]
pub fn elf_linking(bytes: &[u8]) -> Linking {
    const PT_INTERP: u32 = 3;
    if bytes.len() < 52 || &bytes[..4] != b"\x7fELF" {
        return Linking::NotElf;
    }
    let little = match bytes[5] {
        1 => true,
        2 => false,
        _ => return Linking::NotElf,
    };
    let int = |at: usize, len: usize| -> Option<u64> {
        let field = bytes.get(at..at.checked_add(len)?)?;
        let mut n = 0u64;
        for i in 0..len {
            let b = if little { field[len - 1 - i] } else { field[i] };
            n = (n << 8) | u64::from(b);
        }
        Some(n)
    };
    // (e_phoff, e_phentsize, e_phnum) for ELF32 and ELF64.
    let header = match bytes[4] {
        1 => int(0x1c, 4).zip(int(0x2a, 2)).zip(int(0x2c, 2)),
        2 => int(0x20, 8).zip(int(0x36, 2)).zip(int(0x38, 2)),
        _ => None,
    };
    let Some(((phoff, phentsize), phnum)) = header else {
        return Linking::NotElf;
    };
    for i in 0..phnum {
        let at = phentsize
            .checked_mul(i)
            .and_then(|off| off.checked_add(phoff))
            .and_then(|at| usize::try_from(at).ok());
        match at.and_then(|at| int(at, 4)) {
            Some(kind) if kind == u64::from(PT_INTERP) => return Linking::Dynamic,
            Some(_) => {}
            None => return Linking::NotElf,
        }
    }
    Linking::Static
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An ELF header (64- or 32-bit, either byte order) followed by program headers of the
    /// given types.
    fn elf(class64: bool, little: bool, types: &[u32]) -> Vec<u8> {
        let (phoff, phentsize): (u64, u16) = if class64 { (64, 56) } else { (52, 32) };
        let mut bytes = vec![0u8; usize::try_from(phoff).unwrap()];
        bytes[..4].copy_from_slice(b"\x7fELF");
        bytes[4] = if class64 { 2 } else { 1 };
        bytes[5] = if little { 1 } else { 2 };
        let put = |bytes: &mut Vec<u8>, at: usize, value: u64, len: usize| {
            for i in 0..len {
                let shift = 8 * if little { i } else { len - 1 - i };
                bytes[at + i] = u8::try_from((value >> shift) & 0xff).unwrap();
            }
        };
        let n = u64::try_from(types.len()).unwrap();
        if class64 {
            put(&mut bytes, 0x20, phoff, 8);
            put(&mut bytes, 0x36, u64::from(phentsize), 2);
            put(&mut bytes, 0x38, n, 2);
        } else {
            put(&mut bytes, 0x1c, phoff, 4);
            put(&mut bytes, 0x2a, u64::from(phentsize), 2);
            put(&mut bytes, 0x2c, n, 2);
        }
        for kind in types {
            let at = bytes.len();
            bytes.resize(at + usize::from(phentsize), 0);
            put(&mut bytes, at, u64::from(*kind), 4);
        }
        bytes
    }

    #[test]
    fn a_program_interpreter_makes_an_elf_dynamic() {
        for class64 in [true, false] {
            for little in [true, false] {
                let case = format!("64-bit {class64}, little-endian {little}");
                // PT_PHDR, PT_INTERP, PT_LOAD: a dynamically linked executable.
                assert_eq!(
                    elf_linking(&elf(class64, little, &[6, 3, 1])),
                    Linking::Dynamic,
                    "{case}"
                );
                // PT_LOAD, PT_LOAD, PT_TLS, PT_GNU_STACK: a static one.
                assert_eq!(
                    elf_linking(&elf(class64, little, &[1, 1, 7, 0x6474_e551])),
                    Linking::Static,
                    "{case}"
                );
            }
        }
    }

    #[test]
    fn scripts_and_truncated_files_are_not_elf() {
        assert_eq!(elf_linking(b"#!/bin/sh\necho hi\n"), Linking::NotElf);
        assert_eq!(elf_linking(b"\x7fELF"), Linking::NotElf);
        let mut cut = elf(true, true, &[1, 3]);
        cut.truncate(64 + 56);
        assert_eq!(elf_linking(&cut), Linking::NotElf);
        let mut bad_class = elf(true, true, &[1]);
        bad_class[4] = 9;
        assert_eq!(elf_linking(&bad_class), Linking::NotElf);
    }

    #[test]
    fn arbitrary_bytes_never_panic() {
        let mut state = 0x9e37_79b9_7f4a_7c15u64;
        for len in 0..400 {
            let mut bytes: Vec<u8> = (0..len)
                .map(|_| {
                    state ^= state << 13;
                    state ^= state >> 7;
                    state ^= state << 17;
                    u8::try_from(state & 0xff).unwrap()
                })
                .collect();
            if bytes.len() > 6 {
                bytes[..4].copy_from_slice(b"\x7fELF");
                bytes[4] = 1 + u8::try_from(len % 2).unwrap();
                bytes[5] = 1 + u8::try_from((len / 2) % 2).unwrap();
            }
            let _ = elf_linking(&bytes);
        }
    }
}
