//! `scan`, `outdated` and `diff` given lock files (`basalt lock`) of real profiles: a lock of
//! the v3.19 boot repository and one of the full v3.19 main index. A lock gives the same scan
//! and outdated results as a root holding the same packages.

use crate::support;

use support::{apkindex_text, run_basalt};

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

struct Setup {
    dir: tempfile::TempDir,
    data: PathBuf,
}

impl Setup {
    fn new(data: PathBuf) -> Setup {
        Setup {
            dir: tempfile::tempdir().unwrap(),
            data,
        }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn cache(&self) -> String {
        self.path("cache").to_str().unwrap().to_owned()
    }

    /// A repository directory named `name` whose x86_64 index is `index`.
    fn repo(&self, name: &str, index: &Path) -> PathBuf {
        let arch = self.path(name).join("x86_64");
        std::fs::create_dir_all(&arch).unwrap();
        std::os::unix::fs::symlink(index, arch.join("APKINDEX.tar.gz")).unwrap();
        self.path(name)
    }

    fn boot_index(&self) -> PathBuf {
        self.data
            .join("alpine/repos/v3.19-boot/x86_64/APKINDEX.tar.gz")
    }

    fn main_index(&self) -> PathBuf {
        self.data
            .join("alpine/indexes/v3.19-main-x86_64.APKINDEX.tar.gz")
    }

    /// Locks `alpine-base openssh-server` against `repo`, as `NAME.lock`.
    fn lock(&self, name: &str, repo: &Path) -> PathBuf {
        let profile = self.path(&format!("{name}.toml"));
        std::fs::write(
            &profile,
            format!(
                "[image]\nname = \"{name}\"\nversion = \"1.0.0\"\narch = \"x86_64\"\n\n\
                 [repositories]\nurls = [\"{}\"]\n\n[packages]\ninstall = [\"alpine-base\", \"openssh-server\"]\n\n\
                 [[users]]\nname = \"admin\"\nuid = 1000\nssh_keys = [\"ssh-ed25519 \
                 AAAAC3NzaC1lZDI1NTE5AAAAIDMzMzMzMzMzMzMzMzMzMzMzMzMzMzMzMzMzMzMzMzMz admin@example.invalid\"]\n",
                repo.display()
            ),
        )
        .unwrap();
        let (code, _, stderr) = run_basalt(&[
            "lock",
            profile.to_str().unwrap(),
            "--cache-dir",
            &self.cache(),
        ]);
        assert_eq!(code, 0, "{stderr}");
        self.path(&format!("{name}.lock"))
    }

    /// A root whose apk database holds the index stanzas of the packages `lock` pins.
    fn root_like(&self, lock: &Path, index: &Path) -> tempfile::TempDir {
        let lock =
            basalt::build::lock::Lockfile::parse(&std::fs::read_to_string(lock).unwrap(), "x")
                .unwrap();
        let pinned: BTreeSet<(String, String)> = lock
            .packages
            .iter()
            .map(|p| (p.name.clone(), p.version.clone()))
            .collect();
        let db: String = apkindex_text(index)
            .split_inclusive("\n\n")
            .filter(|stanza| {
                let field = |k: &str| stanza.lines().find_map(|l| l.strip_prefix(k)).unwrap_or("");
                pinned.contains(&(field("P:").to_owned(), field("V:").to_owned()))
            })
            .collect();
        let root = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(root.path().join("lib/apk/db")).unwrap();
        std::fs::write(root.path().join("lib/apk/db/installed"), db).unwrap();
        root
    }
}

#[test]
fn scan_of_a_lock_reads_origins_from_its_pinned_indexes() {
    let Some(data) = support::shared_data("scan_of_a_lock_reads_origins_from_its_pinned_indexes")
    else {
        return;
    };
    let setup = Setup::new(data);
    let boot = setup.repo("boot", &setup.boot_index());
    let lock = setup.lock("boot", &boot);
    let secdb = setup.data.join("alpine/secdb/v3.19");
    let (main, community) = (secdb.join("main.json"), secdb.join("community.json"));
    let scan = |target: &Path| {
        let (code, stdout, stderr) = run_basalt(&[
            "scan",
            target.to_str().unwrap(),
            "--secdb",
            main.to_str().unwrap(),
            "--secdb",
            community.to_str().unwrap(),
            "--cache-dir",
            &setup.cache(),
            "--offline",
            "--format",
            "json",
        ]);
        assert_eq!(code, 1, "{stderr}");
        let json: serde_json::Value = serde_json::from_str(&stdout).unwrap();
        json
    };
    let from_lock = scan(&lock);
    let vulnerable = from_lock["vulnerable"].as_array().unwrap();
    let ssl = vulnerable
        .iter()
        .find(|v| v["package"] == "libcrypto3")
        .unwrap();
    assert_eq!(ssl["origin"], "openssl");
    assert!(
        ssl["advisories"]
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a["id"] == "CVE-2024-2511")
    );
    assert!(
        !ssl["advisories"]
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a["id"] == "CVE-2024-0727")
    );
    assert!(vulnerable.iter().any(|v| {
        v["package"] == "openssh-server"
            && v["advisories"]
                .as_array()
                .unwrap()
                .iter()
                .any(|a| a["id"] == "CVE-2024-6387")
    }));

    let root = setup.root_like(&lock, &setup.boot_index());
    let from_root = scan(root.path());
    assert_eq!(from_lock["scanned"], from_root["scanned"]);
    assert_eq!(from_lock["vulnerable"], from_root["vulnerable"]);
}

#[test]
fn outdated_and_diff_of_locks() {
    let Some(data) = support::shared_data("outdated_and_diff_of_locks") else {
        return;
    };
    let setup = Setup::new(data);
    let boot = setup.repo("boot", &setup.boot_index());
    let main = setup.repo("main", &setup.main_index());
    let old = setup.lock("old", &boot);
    let new = setup.lock("new", &main);

    // Against its own repositories a fresh lock is current.
    let (code, stdout, stderr) = run_basalt(&[
        "outdated",
        old.to_str().unwrap(),
        "--cache-dir",
        &setup.cache(),
    ]);
    assert_eq!(code, 0, "{stdout}{stderr}");
    // Against the main index it is not, and says what a root of the same packages says.
    let outdated = |target: &Path| {
        let (code, stdout, stderr) = run_basalt(&[
            "outdated",
            target.to_str().unwrap(),
            "--repository",
            main.to_str().unwrap(),
            "--cache-dir",
            &setup.cache(),
            "--format",
            "json",
        ]);
        assert_eq!(code, 1, "{stderr}");
        let json: serde_json::Value = serde_json::from_str(&stdout).unwrap();
        json
    };
    let from_lock = outdated(&old);
    let root = setup.root_like(&old, &setup.boot_index());
    let from_root = outdated(root.path());
    assert_eq!(from_lock["outdated"], from_root["outdated"]);
    assert!(
        from_lock["outdated"]
            .as_array()
            .unwrap()
            .iter()
            .any(|u| u["name"] == "libcrypto3"
                && u["current"] == "3.1.4-r5"
                && u["available"] == "3.1.5-r0")
    );

    // The redeploy plan from the old lock to the new: the same upgrades, files not compared.
    let (code, stdout, stderr) = run_basalt(&[
        "diff",
        old.to_str().unwrap(),
        new.to_str().unwrap(),
        "--format",
        "json",
    ]);
    assert_eq!(code, 1, "{stderr}");
    let json: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(json["files_compared"], false);
    let upgraded: BTreeSet<(String, String, String)> = json["packages"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["change"] == "upgraded")
        .map(|c| {
            let s = |k: &str| c[k].as_str().unwrap().to_owned();
            (s("name"), s("from"), s("to"))
        })
        .collect();
    let expected: BTreeSet<(String, String, String)> = from_lock["outdated"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| {
            let s = |k: &str| u[k].as_str().unwrap().to_owned();
            (s("name"), s("current"), s("available"))
        })
        .collect();
    assert_eq!(upgraded, expected);
    let (code, stdout, _) =
        run_basalt(&["diff", old.to_str().unwrap(), root.path().to_str().unwrap()]);
    assert_eq!(code, 0, "{stdout}");
    assert!(
        stdout.ends_with("files not compared (a lock lists packages only)\n"),
        "{stdout}"
    );
}
