//! `[network]` and `[boot]`: defaults, errors with their line, column and hint, and what they
//! render (ifupdown-ng's interfaces, host name, hosts, resolver, modules loaded at boot).

use std::collections::BTreeMap;
use std::path::Path;

use basalt::build::render::{self, Rendered};
use basalt::profile::{self, Diagnostic, Profile};

const HEAD: &str = r#"[image]
name = "web"
version = "1"
arch = "x86_64"

[repositories]
urls = ["https://dl-cdn.alpinelinux.org/alpine/v3.19/main"]

[packages]
install = ["alpine-base"]
"#;

fn ok(rest: &str) -> Profile {
    match profile::parse(&format!("{HEAD}\n{rest}"), Path::new("p.toml")) {
        Ok(p) => p,
        Err(e) => panic!("expected a valid profile, got:\n{e}"),
    }
}

#[track_caller]
fn one_error(rest: &str) -> Diagnostic {
    match profile::parse(&format!("{HEAD}\n{rest}"), Path::new("p.toml")) {
        Ok(_) => panic!("expected an invalid profile:\n{rest}"),
        Err(e) => {
            let d = e.diagnostics().to_vec();
            assert_eq!(d.len(), 1, "{d:#?}");
            d.into_iter().next().unwrap()
        }
    }
}

fn rendered(p: &Profile) -> BTreeMap<String, String> {
    render::render(p, &render::Sources::default())
        .unwrap()
        .into_iter()
        .map(|r: Rendered| {
            (
                r.path.clone(),
                String::from_utf8(r.bytes().to_vec()).unwrap(),
            )
        })
        .collect()
}

#[test]
fn without_the_sections_eth0_takes_dhcp_and_the_host_is_named_after_the_image() {
    let p = ok("");
    assert_eq!(p.network.hostname, "web");
    assert_eq!(p.network.interfaces.len(), 1);
    assert_eq!(p.network.interfaces[0].name, "eth0");
    assert!(p.network.interfaces[0].dhcp);
    assert_eq!(p.boot.kernel, None);
    assert_eq!(p.boot.cmdline, "console=tty0 console=ttyS0,115200");
    let files = rendered(&p);
    assert_eq!(files["/etc/hostname"], "web\n");
    assert!(
        files["/etc/hosts"].contains("127.0.1.1\tweb\n"),
        "{}",
        files["/etc/hosts"]
    );
    // No [network] and no `networking` service: the interfaces file is left to the packages.
    assert!(!files.contains_key("/etc/network/interfaces"));
    assert!(!files.contains_key("/etc/resolv.conf"));
}

#[test]
fn static_and_dhcp_interfaces_render_for_ifupdown_ng() {
    let p = ok(r#"
[network]
hostname = "Web-1"
dns = ["192.0.2.53", "2001:db8::53"]
search = ["example.net"]
interfaces = [
    { name = "eth0", address = ["192.0.2.10/24", "2001:db8::10/64"], gateway = ["192.0.2.1", "2001:db8::1"], mtu = 9000 },
    { name = "eth1", dhcp = true, ipv6_ra = true },
]
"#);
    let files = rendered(&p);
    assert_eq!(
        files["/etc/network/interfaces"],
        "# /etc/network/interfaces for web, generated from its host profile (ifupdown-ng).\n\
         auto lo\niface lo inet loopback\n\n\
         auto eth0\niface eth0\n\taddress 192.0.2.10/24\n\taddress 2001:db8::10/64\n\
         \tgateway 192.0.2.1\n\tgateway 2001:db8::1\n\tmtu 9000\n\n\
         auto eth1\niface eth1\n\tuse dhcp\n\tuse ipv6-ra\n"
    );
    assert_eq!(files["/etc/hostname"], "web-1\n");
    assert!(files["/etc/hosts"].contains("192.0.2.10\tweb-1.example.net web-1\n"));
    assert!(
        files["/etc/resolv.conf"]
            .ends_with("search example.net\nnameserver 192.0.2.53\nnameserver 2001:db8::53\n")
    );
    // DHCP on eth1 must not overwrite the profile's resolver.
    assert!(files["/etc/udhcpc/udhcpc.conf"].contains("RESOLV_CONF=\"no\""));
}

#[test]
fn network_errors_name_the_value_and_hint() {
    let d = one_error("[network]\ninterfaces = [{ name = \"eth0\" }]\n");
    assert_eq!(d.message, "interface `eth0` gets no address");
    assert!(d.hint.unwrap().contains("dhcp = true"));
    let d = one_error("[network]\ninterfaces = [{ name = \"eth0\", address = \"192.0.2.10\" }]\n");
    assert!(d.message.contains("the prefix length is missing"), "{d}");
    let d = one_error(
        "[network]\ninterfaces = [{ name = \"eth0\", dhcp = true, gateway = \"192.0.2.1\" }]\n",
    );
    assert!(d.message.contains("has no static IPv4 address"), "{d}");
    let d = one_error("[network]\ninterfaces = [{ name = \"lo\", dhcp = true }]\n");
    assert!(d.message.contains("always configured"), "{d}");
    let d = one_error(
        "[network]\ninterfaces = [{ name = \"eth0\", dhcp = true }, { name = \"eth0\", dhcp = true }]\n",
    );
    assert!(d.message.contains("declared twice"), "{d}");
    let d = one_error("[network]\nhostname = \"-bad\"\n");
    assert!(d.message.contains("invalid host name"), "{d}");
    let d = one_error("[network]\ndns = [\"ns1.example.net\"]\n");
    assert!(d.hint.as_deref().unwrap().contains("IP addresses"), "{d}");
    let d = one_error("[network]\ninterfaces = [{ name = \"eth0\", dhcp = true, vlan = 3 }]\n");
    assert!(d.message.contains("unknown key `vlan`"), "{d}");
}

#[test]
fn networking_without_an_interface_is_an_error_with_a_hint() {
    let d = one_error("[services]\nboot = [\"networking\"]\n\n[network]\ninterfaces = []\n");
    assert_eq!(
        d.message,
        "the `networking` service is enabled but no interface is configured"
    );
    assert_eq!((d.line, d.column), (15, 1), "{d}");
    assert!(d.hint.unwrap().contains("name = \"eth0\", dhcp = true"));
    // Without `networking`, no interface is fine (a host on its console only).
    let p = ok("[services]\nboot = [\"hostname\"]\n\n[network]\ninterfaces = []\n");
    assert!(p.network.interfaces.is_empty());
}

#[test]
fn boot_names_a_kernel_package_that_is_installed_and_locked() {
    let p = ok(
        "[boot]\nkernel = \"linux-virt\"\ncmdline = \"console=ttyS0  quiet\"\nmodules = [\"dm-verity\", \"ext4\"]\n",
    );
    assert_eq!(p.boot.kernel.as_deref(), Some("linux-virt"));
    assert!(p.packages.installs("linux-virt"));
    assert!(p.lock_inputs().install.contains(&"linux-virt".to_owned()));
    assert_eq!(p.boot.cmdline, "console=ttyS0 quiet");
    assert_eq!(p.boot.modules, ["dm_verity", "ext4"]);
    let files = rendered(&p);
    assert!(files["/etc/modules-load.d/basalt.conf"].ends_with("dm_verity\next4\n"));

    let d = one_error("[boot]\nkernel = \"linuxvirt\"\n");
    assert_eq!(d.hint.as_deref(), Some("did you mean `linux-virt`?"));
    let d = one_error("[boot]\ncmdline = \"console=ttyS0 init=/bin/sh\"\n");
    assert!(d.message.contains("sets the init program"), "{d}");
    let d = one_error("[boot]\nmodules = [\"ext4\", \"ext4\"]\n");
    assert!(d.message.contains("listed twice"), "{d}");
}

#[test]
fn a_root_in_memory_has_no_root_line_and_state_volumes_are_nofail() {
    let mut p = ok("");
    let disk = rendered(&p)["/etc/fstab"].clone();
    assert!(
        disk.lines().any(|l| l.starts_with("LABEL=root\t/\t")),
        "{disk}"
    );
    p.boot.ram_root = true;
    let ram = rendered(&p)["/etc/fstab"].clone();
    assert!(
        !ram.lines()
            .any(|l| l.split_whitespace().nth(1) == Some("/")),
        "{ram}"
    );
    assert!(
        ram.contains("LABEL=state\t/var/lib\text4\tdefaults,nodev,nosuid,nofail\t0\t0\n"),
        "{ram}"
    );
    let state = rendered(&p)["/etc/init.d/basalt-state"].clone();
    assert!(
        state.contains("_basalt_check \"LABEL=state\" \"/var/lib\""),
        "{state}"
    );
    assert_eq!(
        p.services.runlevel_of("basalt-state"),
        Some(profile::Runlevel::Boot)
    );
}
