//! `[network]` and `[boot]`: checks, defaults and normalisation.

use std::net::IpAddr;

use super::super::host::{Boot, DEFAULT_CMDLINE, DEFAULT_INTERFACE, Interface, Network};
use super::super::raw::{RawBoot, RawInterface, RawNetwork, S};
use super::{Ctx, closest, is_hostname, is_name};

/// Kernel packages Alpine ships, for the hint on a misspelt one.
const KERNEL_PACKAGES: &[&str] = &["linux-virt", "linux-lts", "linux-edge", "linux-rpi"];

/// `[network]`; without it, the host is named after the image and `eth0` takes DHCP.
pub(super) fn network(cx: &mut Ctx, raw: Option<&S<RawNetwork>>, image_name: &str) -> Network {
    let Some(raw) = raw else {
        return Network {
            hostname: image_name.to_owned(),
            interfaces: vec![Interface {
                name: DEFAULT_INTERFACE.to_owned(),
                dhcp: true,
                ipv6_ra: false,
                addresses: Vec::new(),
                gateways: Vec::new(),
                mtu: None,
            }],
            dns: Vec::new(),
            search: Vec::new(),
            declared: false,
        };
    };
    let n = raw.get_ref();
    let hostname = match &n.hostname {
        Some(h) if is_hostname(h.get_ref()) => h.get_ref().to_ascii_lowercase(),
        Some(h) => {
            cx.hint(
                h.span(),
                format!("invalid host name `{}`", h.get_ref().escape_debug()),
                "use letters, digits and `-` in dot-separated labels of at most 63 characters",
            );
            image_name.to_owned()
        }
        None => image_name.to_owned(),
    };
    let interfaces = match &n.interfaces {
        None => vec![Interface {
            name: DEFAULT_INTERFACE.to_owned(),
            dhcp: true,
            ipv6_ra: false,
            addresses: Vec::new(),
            gateways: Vec::new(),
            mtu: None,
        }],
        Some(list) => {
            let mut out: Vec<Interface> = Vec::new();
            for raw_if in list {
                if let Some(i) = interface(cx, raw_if) {
                    if out.iter().any(|o| o.name == i.name) {
                        cx.err(
                            raw_if.get_ref().name.span(),
                            format!("interface `{}` is declared twice", i.name),
                        );
                        continue;
                    }
                    out.push(i);
                }
            }
            out
        }
    };
    let mut dns = Vec::new();
    for server in &n.dns {
        match server.get_ref().parse::<IpAddr>() {
            Ok(ip) => {
                let text = ip.to_string();
                if dns.contains(&text) {
                    cx.err(
                        server.span(),
                        format!("name server `{text}` is listed twice"),
                    );
                } else {
                    dns.push(text);
                }
            }
            Err(_) => cx.hint(
                server.span(),
                format!("invalid name server `{}`", server.get_ref().escape_debug()),
                "name servers are IP addresses, e.g. `192.0.2.53` or `2001:db8::53`",
            ),
        }
    }
    if dns.len() > 3
        && let Some(extra) = n.dns.get(3)
    {
        cx.hint(
            extra.span(),
            "more than three name servers",
            "the resolver (musl) uses at most three `nameserver` lines",
        );
    }
    let mut search = Vec::new();
    for domain in &n.search {
        let d = domain.get_ref().trim_end_matches('.').to_ascii_lowercase();
        if !is_hostname(&d) {
            cx.err(
                domain.span(),
                format!(
                    "invalid search domain `{}`",
                    domain.get_ref().escape_debug()
                ),
            );
        } else if search.contains(&d) {
            cx.err(
                domain.span(),
                format!("search domain `{d}` is listed twice"),
            );
        } else {
            search.push(d);
        }
    }
    Network {
        hostname,
        interfaces,
        dns,
        search,
        declared: true,
    }
}

fn interface(cx: &mut Ctx, raw: &S<RawInterface>) -> Option<Interface> {
    let r = raw.get_ref();
    let name = r.name.get_ref();
    if !is_name(name, 15, &['.', '_', '-', ':']) {
        cx.hint(
            r.name.span(),
            format!("invalid interface name `{}`", name.escape_debug()),
            "Linux interface names have at most 15 letters, digits, `.`, `_`, `-` or `:`",
        );
        return None;
    }
    if name == "lo" {
        cx.hint(
            r.name.span(),
            "the loopback interface `lo` is always configured",
            "remove it from [network] interfaces",
        );
        return None;
    }
    let mut addresses = Vec::new();
    if let Some(list) = &r.address {
        for text in list.get_ref().items() {
            match host_address(text) {
                Ok(a) if addresses.contains(&a) => {
                    cx.err(list.span(), format!("address `{a}` is listed twice"));
                }
                Ok(a) => addresses.push(a),
                Err(why) => cx.hint(
                    list.span(),
                    format!("invalid address `{}` of interface `{name}`: {why}", text.escape_debug()),
                    "write the address with its prefix length, e.g. `192.0.2.10/24` or `2001:db8::10/64`",
                ),
            }
        }
    }
    let mut gateways: Vec<String> = Vec::new();
    if let Some(list) = &r.gateway {
        for text in list.get_ref().items() {
            let Ok(ip) = text.parse::<IpAddr>() else {
                cx.hint(
                    list.span(),
                    format!(
                        "invalid gateway `{}` of interface `{name}`",
                        text.escape_debug()
                    ),
                    "a gateway is an IP address without prefix, e.g. `192.0.2.1`",
                );
                continue;
            };
            let v6 = ip.is_ipv6();
            if gateways.iter().any(|g| g.contains(':') == v6) {
                cx.err(
                    list.span(),
                    format!(
                        "interface `{name}` has two IPv{} gateways",
                        if v6 { 6 } else { 4 }
                    ),
                );
                continue;
            }
            if !addresses.iter().any(|a| a.contains(':') == v6) {
                cx.hint(
                    list.span(),
                    format!(
                        "gateway `{ip}` of interface `{name}` has no static IPv{} address to go with it",
                        if v6 { 6 } else { 4 }
                    ),
                    "give the interface an `address` of the same family (DHCP and router advertisements bring their own routes)",
                );
                continue;
            }
            gateways.push(ip.to_string());
        }
    }
    let mtu = r
        .mtu
        .as_ref()
        .and_then(|m| cx.int_in::<u32>(m, "mtu", 576, 65536));
    let dhcp = r.dhcp.unwrap_or(false);
    let ipv6_ra = r.ipv6_ra.unwrap_or(false);
    if !dhcp && !ipv6_ra && r.address.is_none() {
        cx.hint(
            raw.span(),
            format!("interface `{name}` gets no address"),
            "set `dhcp = true`, `ipv6_ra = true` or a static `address`",
        );
        return None;
    }
    Some(Interface {
        name: name.clone(),
        dhcp,
        ipv6_ra,
        addresses,
        gateways,
        mtu,
    })
}

/// An interface address with its prefix length, host bits kept: `192.0.2.10/24`.
fn host_address(text: &str) -> Result<String, String> {
    let (addr, prefix) = text
        .split_once('/')
        .ok_or_else(|| "the prefix length is missing".to_owned())?;
    let ip: IpAddr = addr
        .parse()
        .map_err(|_| format!("`{addr}` is not an IPv4 or IPv6 address"))?;
    let max = if ip.is_ipv4() { 32 } else { 128 };
    let prefix: u8 = prefix
        .parse()
        .ok()
        .filter(|p| *p <= max && *p > 0)
        .ok_or_else(|| format!("`{prefix}` is not a prefix length (1 to {max})"))?;
    if ip.is_unspecified() || ip.is_multicast() || ip.is_loopback() {
        return Err(format!("`{ip}` cannot be an interface's address"));
    }
    Ok(format!("{ip}/{prefix}"))
}

/// `[boot]`; the kernel package joins the packages to install.
pub(super) fn boot(cx: &mut Ctx, raw: Option<&S<RawBoot>>) -> Boot {
    let Some(raw) = raw else {
        return Boot {
            kernel: None,
            cmdline: DEFAULT_CMDLINE.to_owned(),
            modules: Vec::new(),
            ram_root: false,
            verity_root: false,
        };
    };
    let b = raw.get_ref();
    let kernel = b.kernel.as_ref().and_then(|k| {
        let name = k.get_ref();
        let ok = name.starts_with("linux-")
            && is_name(name, 64, &['-', '_', '.', '+'])
            && name.chars().all(|c| !c.is_ascii_uppercase());
        if ok {
            Some(name.clone())
        } else {
            let hint = closest(name, KERNEL_PACKAGES).map_or_else(
                || "name an Alpine kernel package, e.g. `linux-virt` or `linux-lts`".to_owned(),
                |best| format!("did you mean `{best}`?"),
            );
            cx.hint(k.span(), format!("invalid kernel package `{name}`"), hint);
            None
        }
    });
    let cmdline = match &b.cmdline {
        None => DEFAULT_CMDLINE.to_owned(),
        Some(c) => {
            let text = c.get_ref().split_whitespace().collect::<Vec<_>>().join(" ");
            if text.len() > 2048
                || c.get_ref()
                    .chars()
                    .any(|ch| ch.is_control() && !ch.is_whitespace())
            {
                cx.hint(
                    c.span(),
                    "invalid kernel command line",
                    "use at most 2048 printable characters",
                );
            }
            if text
                .split(' ')
                .any(|arg| arg.starts_with("rdinit=") || arg.starts_with("init="))
            {
                cx.hint(
                    c.span(),
                    "the kernel command line sets the init program",
                    "basalt images boot busybox init (`rdinit=/sbin/init`); remove `init=`/`rdinit=`",
                );
            }
            text
        }
    };
    let mut modules: Vec<String> = Vec::new();
    for m in &b.modules {
        let name = m.get_ref().replace('-', "_");
        if !is_name(&name, 64, &['_']) {
            cx.err(
                m.span(),
                format!("invalid module name `{}`", m.get_ref().escape_debug()),
            );
        } else if modules.contains(&name) {
            cx.err(
                m.span(),
                format!("module `{}` is listed twice", m.get_ref()),
            );
        } else {
            modules.push(name);
        }
    }
    modules.sort();
    Boot {
        kernel,
        cmdline,
        modules,
        ram_root: false,
        verity_root: false,
    }
}
