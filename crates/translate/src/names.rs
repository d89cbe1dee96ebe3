//! User, group and host names in rules, which iptables-restore looks up when it loads a file.
//!
//! What iptables 1.8.9 (legacy) does, measured on this machine with a private /etc/hosts:
//! - `-s NAME` / `-d NAME` (each item of a comma list, with an optional `/mask`): a numeric
//!   address first, then a network name (getnetbyname, /etc/networks: `loopback` is
//!   127.0.0.0/32), then getaddrinfo for the file's family; every address it returns becomes a
//!   rule of its own, in getaddrinfo's order, duplicates kept, each with the item's mask,
//!   exactly as a comma list does. That order is RFC 6724's, which depends on the routes of the
//!   moment (with none, 169.254.1.1 comes before 10.9.9.9; with a default route, after), so it
//!   is iptables' own when fwnet asks from the same host in the same state. It changes no
//!   verdict either way: the rules differ only in an address of one prefix length, so a packet
//!   matches one of them, or several identical ones, and the order decides only which rule's
//!   counter counts it. `!` with a name
//!   that gives several addresses is refused ("! not allowed with multiple source or
//!   destination IP addresses"). A name it cannot resolve stops the load ("host/network `x'
//!   not found"). ip6tables has no network names.
//! - `--uid-owner NAME` / `--gid-owner NAME`: getpwnam / getgrnam.
//! - a port's service name (`--dport ssmtp`): getservbyname for tcp in `-m tcp` and for the
//!   `-p` protocol in multiport; `-m udp` and conntrack's ports take getaddrinfo's first answer
//!   for the name alone, which is the tcp port when the name has one (`-p udp --sport x` with
//!   `x 4242/tcp` and `x 4343/udp` is port 4242). fwnet first looks in its own table of IANA
//!   names that are the same everywhere ([`crate::port`]), and asks the host only for the
//!   others.
//!
//! `fwnet import` asks the same questions of the host it runs on, which for the founding use
//! (`fwnet import /etc/sysconfig/iptables && fwnet apply`) is the host that loads the rules:
//! the translation asks a [`Resolve`] when it meets a name (`fwnet` gives one that asks the
//! host through `fwnet_apply::names`; tests give a [`Names`] map), so this crate stays free of
//! I/O and a file without names costs nothing more. The stored ruleset holds the numbers, so
//! applying it (at boot too) needs no name service; each name is reported with what it
//! became. Without a resolver (`fwnet import --no-resolve`, or a library caller that gives
//! none) names are refused.

use crate::IpFamily;
use std::collections::BTreeMap;
use std::net::IpAddr;

/// Answers for the names in rules, as the host that loads them would give them. An `Err` is
/// a name service that could not answer (its message), not a name that does not exist.
pub trait Resolve: std::fmt::Debug + Send + Sync {
    /// The uid of user `name`; `None` when there is no such user.
    fn user(&self, name: &str) -> Result<Option<u32>, String>;
    /// The gid of group `name`; `None` when there is no such group.
    fn group(&self, name: &str) -> Result<Option<u32>, String>;
    /// The addresses host or network `name` stands for in a rule of `family`, in the order
    /// iptables makes its rules in; empty when it does not resolve.
    fn host(&self, name: &str, family: IpFamily) -> Result<Vec<IpAddr>, String>;
    /// The port of service `name` for protocol `proto` (`tcp`, `udp` ...), or with `None` the
    /// first for any protocol (tcp's first); `None` when there is no such service.
    fn service(&self, name: &str, proto: Option<&str>) -> Result<Option<u16>, String>;
}

/// Fixed answers: a name not in a map does not exist.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Names {
    pub users: BTreeMap<String, u32>,
    pub groups: BTreeMap<String, u32>,
    pub hosts: BTreeMap<(String, IpFamily), Vec<IpAddr>>,
    /// By name and protocol (`None`: asked without one).
    pub services: BTreeMap<(String, Option<String>), u16>,
}

impl Resolve for Names {
    fn user(&self, name: &str) -> Result<Option<u32>, String> {
        Ok(self.users.get(name).copied())
    }

    fn group(&self, name: &str) -> Result<Option<u32>, String> {
        Ok(self.groups.get(name).copied())
    }

    fn host(&self, name: &str, family: IpFamily) -> Result<Vec<IpAddr>, String> {
        Ok(self
            .hosts
            .get(&(name.to_string(), family))
            .cloned()
            .unwrap_or_default())
    }

    fn service(&self, name: &str, proto: Option<&str>) -> Result<Option<u16>, String> {
        Ok(self
            .services
            .get(&(name.to_string(), proto.map(str::to_string)))
            .copied())
    }
}

/// The name part of an address item (`www.example.org/24` gives `www.example.org`), when it
/// is a name rather than an address or a typo in one: letters, digits, `-`, `_` and `.`, with
/// at least one letter and no `:` (an IPv6 address has hex letters and colons).
pub(crate) fn host_name(item: &str) -> Option<&str> {
    if !has_letter(item) {
        return None;
    }
    let mut letter = false;
    let mut end = item.len();
    for (i, b) in item.bytes().enumerate() {
        match b {
            b'a'..=b'z' | b'A'..=b'Z' => letter = true,
            b'0'..=b'9' | b'-' | b'_' | b'.' => {}
            b'/' => {
                end = i;
                break;
            }
            _ => return None,
        }
    }
    let name = &item[..end];
    // `0x0a000001` is a number libxtables reads itself.
    (letter && !name.starts_with("0x") && !name.starts_with("0X")).then_some(name)
}

/// Whether `s` may hold a letter: some byte has bit 0x40, which every letter has and the
/// characters of an IPv4 address or list (digits, `.`, `/`, `,`: 0x2c to 0x39) do not. This
/// runs on every `-s` and `-d` of every rule, most of them IPv4 addresses, so it ORs the bytes
/// eight at a time; IPv6 addresses (hex letters) go on to meet their colon in [`host_name`].
pub(crate) fn has_letter(s: &str) -> bool {
    let mut chunks = s.as_bytes().chunks_exact(8);
    let mut acc = 0u64;
    for c in &mut chunks {
        let mut w = [0u8; 8];
        w.copy_from_slice(c);
        acc |= u64::from_ne_bytes(w);
    }
    for &b in chunks.remainder() {
        acc |= u64::from(b);
    }
    acc & 0x4040_4040_4040_4040 != 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_told_from_addresses() {
        assert_eq!(host_name("www.example.org/24"), Some("www.example.org"));
        assert_eq!(host_name("db-1"), Some("db-1"));
        assert_eq!(host_name("10.0.0.1"), None);
        assert_eq!(host_name("10.0.0.1/8"), None);
        assert_eq!(host_name("fe80::1"), None);
        assert_eq!(host_name("0x0a000001"), None);
        assert_eq!(host_name(""), None);
        assert_eq!(host_name("a b"), None);
        assert!(has_letter("www.example.org"));
        assert!(has_letter("2001:db8::1"));
        assert!(!has_letter("10.0.0.1/255.255.255.0,192.168.100.200/32"));
    }
}
