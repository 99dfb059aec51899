//! Network prefixes in CIDR notation (`192.0.2.0/24`, `2001:db8::/32`).
//!
//! Invariant: a [`Cidr`] has no host bits set, so its text form is canonical and every tool
//! that reads it (nftables rejects host bits in interval sets) agrees on what it means.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::str::FromStr;

use serde::{Serialize, Serializer};

/// An IPv4 or IPv6 network: an address with its host bits cleared, and a prefix length.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Cidr {
    addr: IpAddr,
    prefix: u8,
}

/// Why a network was refused; `Display` explains it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CidrError {
    /// No `/` separating address and prefix length.
    MissingPrefix,
    /// The address part is not an IPv4 or IPv6 address.
    BadAddress(String),
    /// The prefix length is not a number within 0..=32 (IPv4) or 0..=128 (IPv6).
    BadPrefix(String),
    /// The address has bits set beyond the prefix; `.0` is the network that was probably meant.
    HostBits(Cidr),
}

impl fmt::Display for CidrError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CidrError::MissingPrefix => {
                f.write_str("expected ADDRESS/PREFIX, e.g. `192.0.2.0/24` or `2001:db8::/32`")
            }
            CidrError::BadAddress(a) => write!(f, "`{a}` is not an IPv4 or IPv6 address"),
            CidrError::BadPrefix(p) => write!(f, "`{p}` is not a valid prefix length"),
            CidrError::HostBits(net) => {
                write!(
                    f,
                    "host bits are set beyond the prefix (the network is `{net}`)"
                )
            }
        }
    }
}

impl Cidr {
    /// The network address (host bits clear).
    #[must_use]
    pub fn addr(&self) -> IpAddr {
        self.addr
    }

    /// The prefix length.
    #[must_use]
    pub fn prefix(&self) -> u8 {
        self.prefix
    }

    /// True for IPv4 networks.
    #[must_use]
    pub fn is_ipv4(&self) -> bool {
        self.addr.is_ipv4()
    }

    /// Builds the network containing `addr` with the given prefix length, clearing host bits.
    ///
    /// # Errors
    /// [`CidrError::BadPrefix`] when the length is beyond the address family's width.
    pub fn containing(addr: IpAddr, prefix: u8) -> Result<Cidr, CidrError> {
        match addr {
            IpAddr::V4(v4) => {
                if prefix > 32 {
                    return Err(CidrError::BadPrefix(prefix.to_string()));
                }
                let mask = u32::MAX.checked_shl(32 - u32::from(prefix)).unwrap_or(0);
                Ok(Cidr {
                    addr: IpAddr::V4(Ipv4Addr::from(u32::from(v4) & mask)),
                    prefix,
                })
            }
            IpAddr::V6(v6) => {
                if prefix > 128 {
                    return Err(CidrError::BadPrefix(prefix.to_string()));
                }
                let mask = u128::MAX.checked_shl(128 - u32::from(prefix)).unwrap_or(0);
                Ok(Cidr {
                    addr: IpAddr::V6(Ipv6Addr::from(u128::from(v6) & mask)),
                    prefix,
                })
            }
        }
    }

    /// True when `addr` lies inside this network.
    #[must_use]
    pub fn contains(&self, addr: IpAddr) -> bool {
        Cidr::containing(addr, self.prefix).is_ok_and(|net| net.addr == self.addr)
    }

    /// Whether every address of `self` lies in `other`.
    #[must_use]
    pub fn within(self, other: Cidr) -> bool {
        self.is_ipv4() == other.is_ipv4()
            && self.prefix >= other.prefix
            && other.contains(self.addr)
    }

    /// Reads a network as firewall rules write it: `10.0.0.0/8`, a bare address (a /32 or
    /// /128 host), or an address with host bits set (`10.0.0.1/24`, the network containing
    /// it). `None` for anything else.
    #[must_use]
    pub fn lenient(text: &str) -> Option<Cidr> {
        let (addr, prefix) = match text.split_once('/') {
            Some((a, p)) => (a.parse::<IpAddr>().ok()?, Some(p.parse::<u8>().ok()?)),
            None => (text.parse::<IpAddr>().ok()?, None),
        };
        let max = if addr.is_ipv4() { 32 } else { 128 };
        Cidr::containing(addr, prefix.unwrap_or(max)).ok()
    }
}

impl FromStr for Cidr {
    type Err = CidrError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (addr, prefix) = s.split_once('/').ok_or(CidrError::MissingPrefix)?;
        let ip: IpAddr = addr
            .parse()
            .map_err(|_| CidrError::BadAddress(addr.to_owned()))?;
        // Digits only: `+8` and ` 8` are refused although `u8::from_str` would take the first.
        if prefix.is_empty() || prefix.len() > 3 || !prefix.bytes().all(|b| b.is_ascii_digit()) {
            return Err(CidrError::BadPrefix(prefix.to_owned()));
        }
        let len: u8 = prefix
            .parse()
            .map_err(|_| CidrError::BadPrefix(prefix.to_owned()))?;
        let net = Cidr::containing(ip, len)?;
        if net.addr != ip {
            return Err(CidrError::HostBits(net));
        }
        Ok(net)
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

impl Serialize for Cidr {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[track_caller]
    fn case(input: &str, expected: Result<&str, CidrError>) {
        let got = input.parse::<Cidr>().map(|c| c.to_string());
        assert_eq!(got, expected.map(str::to_owned), "{input}");
    }

    #[test]
    fn parses_and_rejects() {
        case("10.0.0.0/8", Ok("10.0.0.0/8"));
        case("0.0.0.0/0", Ok("0.0.0.0/0"));
        case("192.0.2.7/32", Ok("192.0.2.7/32"));
        case("2001:db8::/32", Ok("2001:db8::/32"));
        case("2001:0db8:0000::/48", Ok("2001:db8::/48"));
        case("::/0", Ok("::/0"));
        case("10.0.0.0", Err(CidrError::MissingPrefix));
        case("10.0.0.0/33", Err(CidrError::BadPrefix("33".into())));
        case("10.0.0.0/+8", Err(CidrError::BadPrefix("+8".into())));
        case("10.0.0.0/", Err(CidrError::BadPrefix(String::new())));
        case("2001:db8::/129", Err(CidrError::BadPrefix("129".into())));
        case(
            "10.0.0.256/8",
            Err(CidrError::BadAddress("10.0.0.256".into())),
        );
        case(
            "example.net/24",
            Err(CidrError::BadAddress("example.net".into())),
        );
        let host_bits = "10.1.2.3/8".parse::<Cidr>().unwrap_err();
        assert_eq!(
            host_bits.to_string(),
            "host bits are set beyond the prefix (the network is `10.0.0.0/8`)"
        );
    }

    #[test]
    fn containment() {
        let net: Cidr = "192.168.0.0/16".parse().unwrap();
        assert!(net.contains("192.168.4.5".parse().unwrap()));
        assert!(!net.contains("192.169.0.1".parse().unwrap()));
        assert!(!net.contains("::1".parse().unwrap()));
    }

    proptest! {
        #[test]
        fn v4_round_trips(bits in any::<u32>(), prefix in 0u8..=32) {
            let net = Cidr::containing(IpAddr::V4(Ipv4Addr::from(bits)), prefix).unwrap();
            prop_assert_eq!(net.to_string().parse::<Cidr>(), Ok(net));
            prop_assert!(net.contains(IpAddr::V4(Ipv4Addr::from(bits))));
        }

        #[test]
        fn v6_round_trips(bits in any::<u128>(), prefix in 0u8..=128) {
            let net = Cidr::containing(IpAddr::V6(Ipv6Addr::from(bits)), prefix).unwrap();
            prop_assert_eq!(net.to_string().parse::<Cidr>(), Ok(net));
        }

        #[test]
        fn host_bits_are_refused(bits in any::<u32>(), prefix in 0u8..32) {
            let addr = Ipv4Addr::from(bits);
            let text = format!("{addr}/{prefix}");
            let net = Cidr::containing(IpAddr::V4(addr), prefix).unwrap();
            match text.parse::<Cidr>() {
                Ok(parsed) => prop_assert_eq!(parsed.addr(), IpAddr::V4(addr)),
                Err(e) => prop_assert_eq!(e, CidrError::HostBits(net)),
            }
        }

        #[test]
        fn arbitrary_text_never_panics(s in "[0-9a-f:./]{0,45}") {
            let _ = s.parse::<Cidr>();
        }
    }
}
