//! The offline minimal profile against real packages: its services exist in the image the
//! build assembles from the shared v3.19 boot repository, and its rendered files land there.

use crate::support;

use std::process::Command;

use basalt::build::pipeline::{self, Options};
use basalt::build::render;
use basalt::profile;
use basalt::tree::NodeKind;

#[test]
fn minimal_profile_assembles_with_its_services_and_files() {
    let test = "minimal_profile_assembles_with_its_services_and_files";
    let Some(apk) = support::alpine_apk(test) else {
        return;
    };
    let data = support::shared_data(test).unwrap();
    let repo = data.join("alpine/repos/v3.19-boot");
    let p = profile::load(&support::offline_profile()).unwrap();

    // The install order, from the real apk.
    let root = tempfile::tempdir().unwrap();
    assert!(
        Command::new(data.join("../tools/alpine-apk-root"))
            .arg(root.path())
            .status()
            .unwrap()
            .success()
    );
    let output = Command::new(&apk)
        .arg("--root")
        .arg(root.path())
        .arg("--repository")
        .arg(&repo)
        .args(["--no-scripts", "--no-cache", "--simulate", "add"])
        .args(&p.packages.install)
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    let stdout = String::from_utf8(output.stdout).unwrap();
    let limits = basalt::build::unpack::Limits::default();
    let keyring = basalt::apk::keys::Keyring::alpine();
    let packages: Vec<_> = stdout
        .lines()
        .filter_map(|l| {
            let rest = l.split_once(") Installing ")?.1;
            let (name, version) = rest.split_once(" (")?;
            Some((name.to_owned(), version.trim_end_matches(')').to_owned()))
        })
        .map(|(name, version)| {
            let file = repo.join(format!("x86_64/{name}-{version}.apk"));
            let bytes = fs_err::read(&file).unwrap();
            pipeline::read_apk(&bytes, &file.display().to_string(), &keyring, None, limits).unwrap()
        })
        .collect();
    assert!(packages.len() > 30, "{stdout}");

    let rendered = render::render_profile(&p).unwrap();
    let options = Options {
        name: p.image.name.clone(),
        version: p.image.version.clone(),
        epoch: 1_700_000_000,
        services: p.services.by_runlevel_name(),
        files: render::to_nodes(&rendered),
        world: p.packages.install.clone(),
        limits,
        ..Options::default()
    };
    let assembled = pipeline::assemble(packages, &options)
        .unwrap_or_else(|e| panic!("the minimal profile does not assemble: {e}"));
    let tree = &assembled.tree;
    for (level, service) in p.services.enabled() {
        let link = format!("/etc/runlevels/{level}/{service}");
        assert!(
            matches!(
                tree.lookup(&link).map(|n| &n.kind),
                Some(NodeKind::Symlink(_))
            ),
            "{link} missing"
        );
    }
    for file in &rendered {
        if let render::Content::File(bytes) = &file.content {
            assert_eq!(
                tree.read_file(&file.path),
                Some(bytes.as_slice()),
                "{}",
                file.path
            );
        }
    }
}
