//! The parts of a profile that make an image a running host: `[network]` (ifupdown-ng's
//! interfaces, host name, resolver) and `[boot]` (the kernel, its command line, the modules
//! loaded at boot).
//!
//! Invariant: values here have passed validation: names are valid interface names and host
//! names, addresses parse and keep their prefix, every gateway has a static address of its
//! family on its interface, and at least one interface is usable when `networking` runs.

use serde::Serialize;

/// The interface a profile without `[network]` configures: the one NIC of a VM or a server.
pub const DEFAULT_INTERFACE: &str = "eth0";

/// The OpenRC service that brings the interfaces up (ifupdown-ng).
pub const NETWORKING_SERVICE: &str = "networking";

/// The OpenRC service that checks the state volumes are mounted (`basalt-state`).
pub const STATE_SERVICE: &str = "basalt-state";

/// The kernel command line a profile without `cmdline` boots with: the console on the first
/// serial port (and the screen), so that a VM's or a server's serial console shows the boot.
pub const DEFAULT_CMDLINE: &str = "console=tty0 console=ttyS0,115200";

/// `[network]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Network {
    /// The host name (`/etc/hostname`); the image name unless given.
    pub hostname: String,
    /// Interfaces besides loopback, in declared order.
    pub interfaces: Vec<Interface>,
    /// Name servers (IP addresses) for a static `/etc/resolv.conf`; empty leaves it to DHCP.
    pub dns: Vec<String>,
    /// Search domains.
    pub search: Vec<String>,
    /// Whether `[network]` was written (otherwise the defaults apply).
    #[serde(skip)]
    pub declared: bool,
}

impl Network {
    /// Whether any interface takes its IPv4 address by DHCP.
    #[must_use]
    pub fn uses_dhcp(&self) -> bool {
        self.interfaces.iter().any(|i| i.dhcp)
    }

    /// Whether the profile writes `/etc/resolv.conf` itself (static DNS).
    #[must_use]
    pub fn static_resolver(&self) -> bool {
        !self.dns.is_empty() || !self.search.is_empty()
    }

    /// The address `/etc/hosts` gives the host name: the first static IPv4 address, else
    /// `127.0.1.1`.
    #[must_use]
    pub fn host_address(&self) -> String {
        self.interfaces
            .iter()
            .flat_map(|i| &i.addresses)
            .find(|a| !a.contains(':'))
            .and_then(|a| a.split('/').next())
            .unwrap_or("127.0.1.1")
            .to_owned()
    }
}

/// One interface, as ifupdown-ng configures it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Interface {
    /// Kernel name (`eth0`).
    pub name: String,
    /// IPv4 address by DHCP (`use dhcp`).
    pub dhcp: bool,
    /// IPv6 addresses and routes from router advertisements (`use ipv6-ra`).
    pub ipv6_ra: bool,
    /// Static addresses with their prefix length (`192.0.2.10/24`, `2001:db8::10/64`).
    pub addresses: Vec<String>,
    /// Default gateways, at most one per address family.
    pub gateways: Vec<String>,
    /// MTU, when set.
    pub mtu: Option<u32>,
}

/// `[boot]`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Boot {
    /// An Alpine kernel package (`linux-virt`, `linux-lts`), installed like every other
    /// package; `None` leaves the kernel to `basalt build --kernel`, or builds no bootable
    /// output.
    pub kernel: Option<String>,
    /// The kernel command line (console and extra arguments).
    pub cmdline: String,
    /// Modules loaded at boot (`/etc/modules-load.d/basalt.conf`), sorted; they are also
    /// copied into the image with their dependencies.
    pub modules: Vec<String>,
    /// Whether the image boots with its root in memory (an initramfs, alone or in a UKI): its
    /// fstab then has no root line. Set by the build from its outputs, not by the profile.
    #[serde(skip)]
    pub ram_root: bool,
    /// Whether the image boots from a disk whose initramfs mounts the dm-verity root: its
    /// fstab then has no root line either. Set by the build from its outputs.
    #[serde(skip)]
    pub verity_root: bool,
}
