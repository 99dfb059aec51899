//! Round-trip properties of the formats basalt owns for verification: the manifest's canonical
//! text, minisign keys and signatures; and the manifest parser on arbitrary bytes (the same
//! entry point as `fuzz/fuzz_targets/manifest.rs`).

use basalt::integrity::manifest::{
    Entry, Header, Kind, Manifest, Package, RuntimePolicy, escape, unescape,
};
use basalt::integrity::sign::{Algorithm, KeyId, PublicKey, SecretKey, Signature};
use proptest::prelude::*;

fn path() -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(
        prop::collection::vec(any::<u8>(), 1..8).prop_filter("a real name", |c| {
            !c.contains(&b'/') && !c.contains(&0) && c != b"." && c != b".."
        }),
        0..4,
    )
    .prop_map(|parts| {
        let mut p = Vec::new();
        for part in parts {
            p.push(b'/');
            p.extend(part);
        }
        if p.is_empty() {
            p.push(b'/');
        }
        p
    })
}

fn text() -> impl Strategy<Value = String> {
    "[ -~\u{e9}\u{4e2d}]{1,12}"
}

fn kind() -> impl Strategy<Value = Kind> {
    prop_oneof![
        (any::<u64>(), any::<[u8; 32]>()).prop_map(|(size, sha256)| Kind::File { size, sha256 }),
        Just(Kind::Dir),
        prop::collection::vec(any::<u8>().prop_filter("no NUL", |b| *b != 0), 1..20)
            .prop_map(|target| Kind::Symlink { target }),
        (any::<u32>(), any::<u32>()).prop_map(|(major, minor)| Kind::Char { major, minor }),
        (any::<u32>(), any::<u32>()).prop_map(|(major, minor)| Kind::Block { major, minor }),
        Just(Kind::Fifo),
        Just(Kind::Socket),
    ]
}

fn entry() -> impl Strategy<Value = Entry> {
    (
        path(),
        kind(),
        0u32..=0o7777,
        any::<u32>(),
        any::<u32>(),
        proptest::option::of(path()),
        proptest::option::of(any::<[u8; 32]>()),
        proptest::option::of(text()),
    )
        .prop_map(
            |(path, kind, mode, uid, gid, hardlink, xattrs, package)| Entry {
                hardlink: hardlink.filter(|_| matches!(kind, Kind::File { .. })),
                path,
                kind,
                mode,
                uid,
                gid,
                xattrs,
                package,
            },
        )
}

fn policy_path() -> impl Strategy<Value = String> {
    "(/[a-z0-9._-]{1,6}){1,3}".prop_filter("normalised", |p| {
        !p.split('/').any(|c| c == "." || c == "..")
    })
}

fn manifest() -> impl Strategy<Value = Manifest> {
    let package = (
        text(),
        text(),
        proptest::option::of(text()),
        proptest::option::of(text()),
        proptest::option::of(any::<[u8; 32]>()),
    )
        .prop_map(|(name, version, origin, identity, record)| Package {
            name,
            version,
            origin,
            identity,
            record,
        });
    (
        (
            text(),
            text(),
            proptest::option::of(text()),
            proptest::option::of(text()),
        ),
        (any::<u64>(), proptest::option::of(any::<[u8; 32]>())),
        prop::collection::vec(package, 0..4),
        (
            prop::collection::vec(policy_path(), 0..3),
            prop::collection::vec(policy_path(), 0..3),
            prop::collection::vec(policy_path(), 0..3),
        ),
        prop::collection::vec(entry(), 0..12),
    )
        .prop_map(
            |(
                (image, version, profile, lock),
                (build_time, root_hash),
                packages,
                (e, s, m),
                entries,
            )| {
                let mut manifest = Manifest {
                    header: Header {
                        image,
                        version,
                        profile_digest: profile,
                        lock_digest: lock,
                        build_time,
                        root_hash,
                        packages,
                        policy: RuntimePolicy {
                            ephemeral: e,
                            state: s,
                            mutable: m,
                        },
                    },
                    entries,
                };
                manifest.canonicalise();
                // Two packages may share a name and differ elsewhere; both are kept, sorted.
                manifest.header.packages.dedup();
                manifest
            },
        )
}

proptest! {
    // Signing is slow in debug builds; 64 cases per property keep the suite quick.
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn manifest_text_round_trips(m in manifest()) {
        let text = m.render();
        let back = Manifest::parse(&text).unwrap();
        prop_assert_eq!(&back, &m);
        prop_assert_eq!(back.render(), text);
    }

    #[test]
    fn manifest_json_and_mtree_name_every_entry(m in manifest()) {
        let json = m.to_json();
        prop_assert_eq!(json["entries"].as_array().unwrap().len(), m.entries.len());
        let spec = m.to_mtree();
        prop_assert_eq!(spec.lines().filter(|l| !l.starts_with('#')).count(), m.entries.len());
    }

    #[test]
    fn escaping_round_trips(bytes in prop::collection::vec(any::<u8>(), 0..64)) {
        let token = escape(&bytes);
        prop_assert!(token.bytes().all(|b| (0x21..=0x7e).contains(&b)));
        prop_assert_eq!(unescape(&token).unwrap(), bytes);
    }

    #[test]
    fn parse_never_panics_and_accepts_only_canonical_text(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        if let Ok(m) = Manifest::parse(&bytes) {
            prop_assert_eq!(m.render(), bytes);
        }
    }

    #[test]
    fn parse_survives_mutated_manifests(m in manifest(), at in any::<prop::sample::Index>(), byte in any::<u8>()) {
        let mut text = m.render();
        let i = at.index(text.len());
        text[i] = byte;
        if let Ok(back) = Manifest::parse(&text) {
            prop_assert_eq!(back.render(), text);
        }
    }

    #[test]
    fn keys_round_trip(seed in any::<[u8; 32]>(), id in any::<[u8; 8]>()) {
        let secret = SecretKey::from_seed(KeyId(id), seed);
        let back = SecretKey::parse(&secret.render()).unwrap();
        prop_assert_eq!(back.public(), secret.public());
        let public = secret.public();
        prop_assert_eq!(PublicKey::parse(&public.render()).unwrap(), public.clone());
        prop_assert_eq!(PublicKey::parse(&public.to_base64()).unwrap(), public.clone());
        prop_assert_eq!(public.id.to_string().parse::<KeyId>().unwrap(), public.id);
    }

    #[test]
    fn signatures_round_trip_and_verify(
        seed in any::<[u8; 32]>(),
        data in prop::collection::vec(any::<u8>(), 0..256),
        comment in "[ -~]{0,40}",
        legacy in any::<bool>(),
    ) {
        let key = SecretKey::from_seed(KeyId([7; 8]), seed);
        let algorithm = if legacy { Algorithm::Legacy } else { Algorithm::Prehashed };
        let sig = key.sign_with(algorithm, &data, "c", &comment).unwrap();
        let back = Signature::parse(&sig.render()).unwrap();
        prop_assert_eq!(&back, &sig);
        prop_assert!(key.public().verify(&data, &back).is_ok());
        let mut other = data.clone();
        other.push(0);
        prop_assert!(key.public().verify(&other, &back).is_err());
    }

    #[test]
    fn key_and_signature_parsers_never_panic(text in "\\PC{0,300}") {
        let _ = PublicKey::parse(&text);
        let _ = SecretKey::parse(&text);
        let _ = Signature::parse(&text);
    }
}
