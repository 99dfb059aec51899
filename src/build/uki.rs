//! Unified Kernel Images: an EFI stub (e.g. systemd's `linuxx64.efi.stub`) with the kernel,
//! the initramfs, the command line, the os-release and the kernel version appended as PE
//! sections (`.osrel`, `.cmdline`, `.uname`, `.initrd`, `.linux`), as the UKI specification of
//! the UAPI group describes them.
//!
//! Invariants: the output is a pure function of the stub and the sections' bytes (no time
//! stamp, and the PE checksum is recomputed from the bytes). Each new section starts after
//! the stub's last one at the next page (4096 bytes, a multiple of every `SectionAlignment`
//! stubs use) in memory and at the next `FileAlignment` boundary in the file; `.linux` comes
//! last, so that nothing follows the kernel in memory. The stub is untrusted input: every
//! offset is checked, and a stub without room for the new section headers is refused.
//! The image is unsigned: sign it for Secure Boot with `sbsign` or `pesign` afterwards.

/// Why a UKI cannot be made.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The stub is not a PE32+ EFI application.
    #[error("the EFI stub `{stub}` is not usable: {reason}")]
    Stub {
        /// The stub's file name.
        stub: String,
        /// What is wrong.
        reason: String,
    },
}

/// The sections of a UKI, in the order they are appended.
#[derive(Debug, Clone, Default)]
pub struct Sections {
    /// `/etc/os-release` of the image.
    pub osrel: Vec<u8>,
    /// The kernel command line.
    pub cmdline: Vec<u8>,
    /// `uname -r` of the kernel.
    pub uname: Vec<u8>,
    /// The initramfs.
    pub initrd: Vec<u8>,
    /// The kernel image.
    pub linux: Vec<u8>,
}

const PAGE: u32 = 4096;
/// `IMAGE_SCN_CNT_INITIALIZED_DATA | IMAGE_SCN_MEM_READ`.
const DATA_READ: u32 = 0x4000_0040;

fn align(value: u64, to: u64) -> u64 {
    value.div_ceil(to) * to
}

fn u16_at(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_le_bytes(b.get(at..at + 2)?.try_into().ok()?))
}

fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

fn put_u32(b: &mut [u8], at: usize, v: u32) {
    b[at..at + 4].copy_from_slice(&v.to_le_bytes());
}

/// Builds a UKI from `stub` (its file name for messages) and `sections`.
///
/// # Errors
/// [`Error::Stub`] when the stub is not a PE32+ EFI application, already has a UKI section,
/// or has no room for five more section headers.
pub fn build(stub_name: &str, stub: &[u8], sections: &Sections) -> Result<Vec<u8>, Error> {
    let bad = |reason: &str| Error::Stub {
        stub: stub_name.to_owned(),
        reason: reason.to_owned(),
    };
    if stub.get(..2) != Some(b"MZ") {
        return Err(bad("no MZ header"));
    }
    let pe = u32_at(stub, 0x3c).ok_or_else(|| bad("truncated DOS header"))? as usize;
    if stub.get(pe..pe + 4) != Some(b"PE\0\0") {
        return Err(bad("no PE signature"));
    }
    let coff = pe + 4;
    let count = usize::from(u16_at(stub, coff + 2).ok_or_else(|| bad("truncated COFF header"))?);
    let opt_size =
        usize::from(u16_at(stub, coff + 16).ok_or_else(|| bad("truncated COFF header"))?);
    let opt = coff + 20;
    if u16_at(stub, opt) != Some(0x20b) {
        return Err(bad("not a PE32+ image"));
    }
    if u16_at(stub, opt + 68) != Some(10) {
        return Err(bad("not an EFI application (subsystem 10)"));
    }
    let section_alignment = u32_at(stub, opt + 32).ok_or_else(|| bad("truncated header"))?;
    let file_alignment = u32_at(stub, opt + 36).ok_or_else(|| bad("truncated header"))?;
    let size_of_headers = u32_at(stub, opt + 60).ok_or_else(|| bad("truncated header"))?;
    if section_alignment == 0
        || file_alignment == 0
        || !section_alignment.is_power_of_two()
        || !file_alignment.is_power_of_two()
        || !PAGE.is_multiple_of(section_alignment.min(PAGE))
    {
        return Err(bad("bad section or file alignment"));
    }
    let table = opt + opt_size;
    let table_end = table + 40 * count;
    if table_end > stub.len() {
        return Err(bad("truncated section table"));
    }
    let mut mem_end = 0u64;
    let mut file_end = u64::from(size_of_headers);
    let mut first_raw = u64::MAX;
    for i in 0..count {
        let s = table + 40 * i;
        let name = &stub[s..s + 8];
        if [".linux", ".initrd", ".cmdline", ".osrel", ".uname"]
            .iter()
            .any(|n| name.starts_with(n.as_bytes()) && name.get(n.len()).is_none_or(|&b| b == 0))
        {
            return Err(bad("it already holds UKI sections"));
        }
        let vsize = u64::from(u32_at(stub, s + 8).unwrap_or(0));
        let va = u64::from(u32_at(stub, s + 12).unwrap_or(0));
        let raw_size = u64::from(u32_at(stub, s + 16).unwrap_or(0));
        let raw_at = u64::from(u32_at(stub, s + 20).unwrap_or(0));
        mem_end = mem_end.max(va + vsize.max(raw_size));
        if raw_size > 0 {
            file_end = file_end.max(raw_at + raw_size);
            first_raw = first_raw.min(raw_at);
        }
    }
    if file_end > stub.len() as u64 {
        return Err(bad("a section lies past the end of the file"));
    }
    let new: [(&[u8; 8], &[u8]); 5] = [
        (b".osrel\0\0", &sections.osrel),
        (b".cmdline", &sections.cmdline),
        (b".uname\0\0", &sections.uname),
        (b".initrd\0", &sections.initrd),
        (b".linux\0\0", &sections.linux),
    ];
    let new_table_end = table_end + 40 * new.len();
    if new_table_end as u64 > u64::from(size_of_headers) || new_table_end as u64 > first_raw {
        return Err(bad("no room for five more section headers"));
    }

    let mut out = stub[..usize::try_from(file_end).map_err(|_| bad("too large"))?].to_vec();
    let mut va = align(mem_end, u64::from(PAGE));
    let mut end = mem_end;
    let too_large = || bad("the sections take the image past 4 GiB");
    for (i, (name, bytes)) in new.iter().enumerate() {
        let raw_at = align(out.len() as u64, u64::from(file_alignment));
        let raw_size = align(bytes.len() as u64, u64::from(file_alignment));
        out.resize(usize::try_from(raw_at).map_err(|_| too_large())?, 0);
        out.extend_from_slice(bytes);
        out.resize(
            usize::try_from(raw_at + raw_size).map_err(|_| too_large())?,
            0,
        );
        let h = table_end + 40 * i;
        out[h..h + 8].copy_from_slice(*name);
        let field = |v: u64| u32::try_from(v).map_err(|_| too_large());
        put_u32(&mut out, h + 8, field(bytes.len() as u64)?);
        put_u32(&mut out, h + 12, field(va)?);
        put_u32(&mut out, h + 16, field(raw_size)?);
        put_u32(&mut out, h + 20, field(raw_at)?);
        out[h + 24..h + 36].fill(0);
        put_u32(&mut out, h + 36, DATA_READ);
        end = va + bytes.len() as u64;
        va = align(end, u64::from(PAGE));
    }
    let count = u16::try_from(count + new.len()).map_err(|_| bad("too many sections"))?;
    out[coff + 2..coff + 4].copy_from_slice(&count.to_le_bytes());
    let initialized = u32_at(&out, opt + 8).unwrap_or(0);
    let added: u64 = new
        .iter()
        .map(|(_, b)| align(b.len() as u64, u64::from(file_alignment)))
        .sum();
    put_u32(
        &mut out,
        opt + 8,
        u32::try_from(u64::from(initialized) + added).map_err(|_| too_large())?,
    );
    put_u32(
        &mut out,
        opt + 56,
        u32::try_from(align(end, u64::from(section_alignment))).map_err(|_| too_large())?,
    );
    put_u32(&mut out, opt + 64, 0);
    let sum = checksum(&out, opt + 64);
    put_u32(&mut out, opt + 64, sum);
    Ok(out)
}

/// The PE image checksum: 16-bit one's-complement sum of the file's words (the checksum
/// field counted as zero), plus the file's length.
fn checksum(bytes: &[u8], field: usize) -> u32 {
    let mut sum: u64 = 0;
    for (i, chunk) in bytes.chunks(2).enumerate() {
        let at = i * 2;
        if at >= field && at < field + 4 {
            continue;
        }
        let word = u64::from(chunk[0]) | (u64::from(*chunk.get(1).unwrap_or(&0)) << 8);
        sum += word;
        sum = (sum & 0xffff) + (sum >> 16);
    }
    let sum = (sum & 0xffff) + (sum >> 16);
    u32::try_from((sum & 0xffff) + bytes.len() as u64).unwrap_or(0)
}

/// One section of a PE image, as [`sections`] reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Section {
    /// `.linux`, `.text`...
    pub name: String,
    /// Virtual address.
    pub address: u32,
    /// Virtual size.
    pub size: u32,
    /// Offset of its data in the file.
    pub offset: u32,
    /// Its data (virtual size bytes).
    pub data: Vec<u8>,
}

/// The sections of a PE image (a UKI), for checks and tests.
///
/// # Errors
/// [`Error::Stub`] when the bytes are not a PE image.
pub fn sections(bytes: &[u8]) -> Result<Vec<Section>, Error> {
    let bad = |reason: &str| Error::Stub {
        stub: "(image)".to_owned(),
        reason: reason.to_owned(),
    };
    let pe = u32_at(bytes, 0x3c).ok_or_else(|| bad("truncated"))? as usize;
    let coff = pe + 4;
    let count = usize::from(u16_at(bytes, coff + 2).ok_or_else(|| bad("truncated"))?);
    let opt_size = usize::from(u16_at(bytes, coff + 16).ok_or_else(|| bad("truncated"))?);
    let table = coff + 20 + opt_size;
    let mut out = Vec::new();
    for i in 0..count {
        let s = table + 40 * i;
        let raw = bytes.get(s..s + 40).ok_or_else(|| bad("truncated"))?;
        let name = String::from_utf8_lossy(&raw[..8])
            .trim_end_matches('\0')
            .to_owned();
        let vsize = u32_at(raw, 8).unwrap_or(0);
        let va = u32_at(raw, 12).unwrap_or(0);
        let raw_at = u32_at(raw, 20).unwrap_or(0);
        let data = bytes
            .get(raw_at as usize..raw_at as usize + vsize as usize)
            .map(<[u8]>::to_vec)
            .unwrap_or_default();
        out.push(Section {
            name,
            address: va,
            size: vsize,
            offset: raw_at,
            data,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A minimal PE32+ EFI application: headers, one `.text` section.
    fn stub() -> Vec<u8> {
        let mut b = vec![0u8; 0x600];
        b[..2].copy_from_slice(b"MZ");
        put_u32(&mut b, 0x3c, 0x80);
        b[0x80..0x84].copy_from_slice(b"PE\0\0");
        let coff = 0x84;
        b[coff..coff + 2].copy_from_slice(&0x8664u16.to_le_bytes());
        b[coff + 2..coff + 4].copy_from_slice(&1u16.to_le_bytes());
        b[coff + 16..coff + 18].copy_from_slice(&240u16.to_le_bytes());
        let opt = coff + 20;
        b[opt..opt + 2].copy_from_slice(&0x20bu16.to_le_bytes());
        put_u32(&mut b, opt + 32, 0x200);
        put_u32(&mut b, opt + 36, 0x200);
        put_u32(&mut b, opt + 56, 0x1200);
        put_u32(&mut b, opt + 60, 0x400);
        b[opt + 68..opt + 70].copy_from_slice(&10u16.to_le_bytes());
        let s = opt + 240;
        b[s..s + 5].copy_from_slice(b".text");
        put_u32(&mut b, s + 8, 0x100);
        put_u32(&mut b, s + 12, 0x1000);
        put_u32(&mut b, s + 16, 0x200);
        put_u32(&mut b, s + 20, 0x400);
        b
    }

    #[test]
    fn sections_follow_the_stub_page_aligned_with_linux_last() {
        let s = Sections {
            osrel: b"ID=alpine\n".to_vec(),
            cmdline: b"console=ttyS0".to_vec(),
            uname: b"6.1.0".to_vec(),
            initrd: vec![1; 5000],
            linux: vec![2; 3000],
        };
        let uki = build("stub", &stub(), &s).unwrap();
        assert_eq!(uki, build("stub", &stub(), &s).unwrap());
        let all = sections(&uki).unwrap();
        let names: Vec<&str> = all.iter().map(|x| x.name.as_str()).collect();
        assert_eq!(
            names,
            [".text", ".osrel", ".cmdline", ".uname", ".initrd", ".linux"]
        );
        assert_eq!(all[1].address, 0x2000);
        assert_eq!(
            (all[2].address, all[3].address, all[4].address),
            (0x3000, 0x4000, 0x5000)
        );
        assert_eq!(all[5].address, 0x7000);
        assert_eq!(all[5].data, s.linux);
        assert_eq!(all[4].data, s.initrd);
        for x in &all[1..] {
            assert_eq!(x.offset % 0x200, 0);
        }
        let opt = 0x84 + 20;
        assert_eq!(u32_at(&uki, opt + 56), Some(0x7000 + 0xc00));
        assert_eq!(u32_at(&uki, opt + 64), Some(checksum(&uki, opt + 64)));
    }

    #[test]
    fn bad_stubs_are_refused() {
        let s = Sections::default();
        assert!(build("x", b"MZ", &s).is_err());
        let mut not_efi = stub();
        not_efi[0x84 + 20 + 68] = 3;
        assert!(
            build("x", &not_efi, &s)
                .unwrap_err()
                .to_string()
                .contains("EFI application")
        );
        let uki = build("x", &stub(), &s).unwrap();
        assert!(
            build("x", &uki, &s)
                .unwrap_err()
                .to_string()
                .contains("already")
        );
        let base = stub();
        for cut in 0..base.len() {
            let _ = build("x", &base[..cut], &s);
        }
    }
}
