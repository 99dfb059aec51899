//! basalt's version ordering against the real apk-tools (`apk version -t` and `-c`), on
//! generated strings (valid and invalid) and on every version in the shared indexes.

use crate::support;

use std::cmp::Ordering;
use std::collections::BTreeSet;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Command;

use basalt::apk::version::{self, Version};

/// How to run apk: the wrapper unpacks apk into a cache and execs its musl loader; once it
/// has, calling the loader directly saves a shell per comparison (about half the time).
struct Apk {
    program: PathBuf,
    prefix: Vec<String>,
}

impl Apk {
    fn locate(wrapper: &Path) -> Apk {
        let via_wrapper = Apk {
            program: wrapper.to_owned(),
            prefix: vec![],
        };
        assert_eq!(
            via_wrapper.test("1", "2"),
            '<',
            "the reference apk does not run"
        );
        let cache = std::env::var_os("ALPINE_APK_CACHE")
            .map(PathBuf::from)
            .or_else(|| {
                std::env::var_os("XDG_CACHE_HOME")
                    .map(|d| PathBuf::from(d).join("alpine-apk/3.20.3"))
            })
            .or_else(|| {
                std::env::var_os("HOME").map(|d| PathBuf::from(d).join(".cache/alpine-apk/3.20.3"))
            });
        if let Some(cache) = cache {
            let loader = cache.join("lib/ld-musl-x86_64.so.1");
            if loader.is_file() && cache.join("sbin/apk").is_file() {
                let direct = Apk {
                    program: loader,
                    prefix: vec![
                        "--library-path".into(),
                        format!("{0}/lib:{0}/usr/lib", cache.display()),
                        cache.join("sbin/apk").display().to_string(),
                    ],
                };
                let ok = Command::new(&direct.program)
                    .args(&direct.prefix)
                    .args(["version", "-t", "1", "2"])
                    .output()
                    .is_ok_and(|o| o.stdout == b"<\n");
                if ok {
                    return direct;
                }
            }
        }
        via_wrapper
    }

    fn command(&self) -> Command {
        let mut cmd = Command::new(&self.program);
        cmd.args(&self.prefix);
        cmd
    }

    fn test(&self, a: &str, b: &str) -> char {
        let out = self
            .command()
            .args(["version", "-t", "--", a, b])
            .output()
            .expect("run apk version -t");
        let text = String::from_utf8_lossy(&out.stdout);
        let text = text.trim();
        assert!(
            matches!(text, "<" | "=" | ">"),
            "apk version -t {a:?} {b:?} printed {text:?}"
        );
        text.chars().next().unwrap()
    }

    /// The arguments `apk version -c` reports as invalid (one process per 500 strings).
    fn invalid(&self, strings: &[String]) -> BTreeSet<String> {
        let mut invalid = BTreeSet::new();
        for chunk in strings.chunks(500) {
            let out = self
                .command()
                .args(["version", "-c", "--"])
                .args(chunk)
                .output()
                .expect("run apk version -c");
            for line in String::from_utf8_lossy(&out.stdout).lines() {
                invalid.insert(line.to_owned());
            }
        }
        invalid
    }
}

fn sign(o: Ordering) -> char {
    match o {
        Ordering::Less => '<',
        Ordering::Equal => '=',
        Ordering::Greater => '>',
    }
}

/// Compares every pair with apk on two threads; returns the disagreements.
fn disagreements(apk: &Apk, pairs: &[(String, String)]) -> Vec<String> {
    let half = pairs.len().div_ceil(2);
    std::thread::scope(|s| {
        let handles: Vec<_> = pairs
            .chunks(half.max(1))
            .map(|chunk| {
                s.spawn(move || {
                    chunk
                        .iter()
                        .filter_map(|(a, b)| {
                            let ours = sign(version::compare(a, b));
                            let theirs = apk.test(a, b);
                            (ours != theirs)
                                .then(|| format!("{a:?} vs {b:?}: basalt {ours}, apk {theirs}"))
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().expect("comparison thread"))
            .collect()
    })
}

/// A small deterministic generator (splitmix64), so that failures reproduce.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: usize) -> usize {
        usize::try_from(self.next() % n as u64).unwrap()
    }
    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len())]
    }
    fn digits(&mut self, max: usize) -> String {
        (0..=self.below(max))
            .map(|_| char::from(b'0' + u8::try_from(self.below(10)).unwrap()))
            .collect()
    }

    /// One piece of a version: mostly the grammar's own, sometimes something apk rejects.
    fn piece(&mut self) -> String {
        match self.below(20) {
            0..=5 => self.digits(3),
            6 => format!("0{}", self.digits(1)),
            7..=9 => format!(".{}", self.digits(2)),
            10 => ".0".to_owned(),
            11 => self.pick(&["a", "b", "z", "c"]).to_owned(),
            12..=14 => {
                let s = self.pick(&[
                    "alpha", "beta", "pre", "rc", "cvs", "svn", "git", "hg", "p", "pa", "foo",
                ]);
                if self.below(2) == 0 {
                    format!("_{s}{}", self.digits(2))
                } else {
                    format!("_{s}")
                }
            }
            15..=16 => format!(
                "-r{}",
                if self.below(4) == 0 {
                    String::new()
                } else {
                    self.digits(2)
                }
            ),
            17 => self
                .pick(&["-", ".", "_", "A", "~", "-x", "..", " "])
                .to_owned(),
            18 => self.digits(20),
            _ => format!(".{}", self.digits(1)),
        }
    }

    fn version(&mut self) -> Vec<String> {
        let mut pieces = vec![self.digits(2)];
        for _ in 0..self.below(6) {
            pieces.push(self.piece());
        }
        pieces
    }
}

fn generated_pairs(n: usize) -> Vec<(String, String)> {
    let mut rng = Rng(0x6261_7361_6c74);
    (0..n)
        .map(|_| {
            let a = rng.version();
            let b = match rng.below(3) {
                // independent
                0 => rng.version(),
                // one piece changed, added or removed: the cases where order is decided late
                1 => {
                    let mut b = a.clone();
                    let i = rng.below(b.len());
                    b[i] = rng.piece();
                    b
                }
                _ => {
                    let mut b = a.clone();
                    if rng.below(2) == 0 || b.len() == 1 {
                        b.push(rng.piece());
                    } else {
                        b.pop();
                    }
                    b
                }
            };
            (a.concat(), b.concat())
        })
        .collect()
}

#[test]
fn generated_pairs_compare_as_apk_compares_them() {
    let Some(wrapper) = support::alpine_apk("generated_pairs_compare_as_apk_compares_them") else {
        return;
    };
    let apk = Apk::locate(&wrapper);
    let pairs = generated_pairs(5000);
    let invalid = pairs.iter().filter(|(a, _)| !version::is_valid(a)).count();
    assert!(
        invalid > 500 && invalid < 4000,
        "the generator should make both valid and invalid strings ({invalid} invalid)"
    );
    let wrong = disagreements(&apk, &pairs);
    assert!(
        wrong.is_empty(),
        "{} disagreements:\n{}",
        wrong.len(),
        wrong.join("\n")
    );

    // Validity, in bulk: `apk version -c` prints the strings it rejects.
    let strings: BTreeSet<String> = pairs.into_iter().flat_map(|(a, b)| [a, b]).collect();
    let strings: Vec<String> = strings.into_iter().collect();
    let apk_invalid = apk.invalid(&strings);
    let ours: BTreeSet<String> = strings
        .iter()
        .filter(|s| !version::is_valid(s))
        .cloned()
        .collect();
    let differ: Vec<_> = ours.symmetric_difference(&apk_invalid).collect();
    assert!(differ.is_empty(), "validity differs for {differ:?}");
}

fn index_versions(path: &Path) -> Vec<String> {
    let file = fs_err::File::open(path).expect("open index");
    let mut archive = tar::Archive::new(flate2::read::MultiGzDecoder::new(file));
    let mut versions = Vec::new();
    for entry in archive.entries().expect("read index") {
        let mut entry = entry.expect("index entry");
        if entry.path().expect("entry path").as_os_str() != "APKINDEX" {
            continue;
        }
        let mut text = String::new();
        entry.read_to_string(&mut text).expect("read APKINDEX");
        versions.extend(
            text.lines()
                .filter_map(|l| l.strip_prefix("V:"))
                .map(str::to_owned),
        );
    }
    versions
}

#[test]
fn every_index_version_sorts_as_apk_sorts_it() {
    let test = "every_index_version_sorts_as_apk_sorts_it";
    let (Some(data), Some(wrapper)) = (support::shared_data(test), support::alpine_apk(test))
    else {
        return;
    };
    let indexes = [
        "alpine/indexes/v3.19-main-x86_64.APKINDEX.tar.gz",
        "alpine/indexes/v3.19-community-x86_64.APKINDEX.tar.gz",
        "alpine/repos/v3.17-main/aarch64/APKINDEX.tar.gz",
        "alpine/repos/v3.19-boot/x86_64/APKINDEX.tar.gz",
    ];
    let mut all = BTreeSet::new();
    for index in indexes {
        let versions = index_versions(&data.join(index));
        assert!(
            versions.len() > 50,
            "{index}: only {} versions",
            versions.len()
        );
        all.extend(versions);
    }
    let mut versions: Vec<Version> = all
        .iter()
        .map(|v| Version::parse(v).unwrap_or_else(|e| panic!("{e}")))
        .collect();
    versions.sort();
    let pairs: Vec<(String, String)> = versions
        .windows(2)
        .map(|w| (w[0].to_string(), w[1].to_string()))
        .collect();
    assert!(pairs.len() > 5000, "{} neighbour pairs", pairs.len());
    let wrong = disagreements(&Apk::locate(&wrapper), &pairs);
    assert!(
        wrong.is_empty(),
        "{} disagreements:\n{}",
        wrong.len(),
        wrong.join("\n")
    );
}
