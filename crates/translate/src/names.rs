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
//!
//! `fwnet import` asks the same questions of the host it runs on, which for the founding use
//! (`fwnet import /etc/sysconfig/iptables && fwnet apply`) is the host that loads the rules:
//! [`wanted`] lists the names, `fwnet_apply::names` looks them up, and [`Names`] carries the
//! answers into the translation, which stays free of I/O. The stored ruleset holds the numbers,
//! so applying it (at boot too) needs no name service; each name is reported with what it
//! became. Without [`Names`] (`fwnet import --no-resolve`, or a library caller that gives none)
//! names are refused as before.

use crate::IpFamily;
use fwnet_iptables::Ruleset as IptRuleset;
use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

/// The answers of the host that imports the rules.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Names {
    /// User name to uid; `None` when the host has no such user.
    pub users: BTreeMap<String, Option<u32>>,
    /// Group name to gid; `None` when the host has no such group.
    pub groups: BTreeMap<String, Option<u32>>,
    /// Host or network name, per family, to its addresses in the resolver's order (empty when
    /// it does not resolve).
    pub hosts: BTreeMap<(String, IpFamily), Vec<IpAddr>>,
    /// Why a name could not be looked up at all (a name service that did not answer), by name.
    pub errors: BTreeMap<String, String>,
}

/// The names a set of rulesets uses, for the caller to look up.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Wanted {
    pub users: BTreeSet<String>,
    pub groups: BTreeSet<String>,
    pub hosts: BTreeSet<(String, IpFamily)>,
}

impl Wanted {
    pub fn is_empty(&self) -> bool {
        self.users.is_empty() && self.groups.is_empty() && self.hosts.is_empty()
    }
}

/// Every user, group and host name in `-s`, `-d`, `--uid-owner` and `--gid-owner` of the
/// given rulesets.
pub fn wanted<'a>(inputs: impl IntoIterator<Item = (&'a IptRuleset, IpFamily)>) -> Wanted {
    let mut out = Wanted::default();
    for (ruleset, family) in inputs {
        for table in &ruleset.tables {
            for cmd in &table.commands {
                let rule = match cmd {
                    fwnet_iptables::Command::Append(r)
                    | fwnet_iptables::Command::Insert { rule: r, .. } => r,
                    _ => continue,
                };
                let mut owner = false;
                for opt in &rule.opts {
                    let name = opt.name.as_bytes();
                    // Only `-s`, `-d`, `-m` and the owner options matter: skip the rest cheaply.
                    if name.len() < 2 || !matches!(name[1], b's' | b'd' | b'm' | b'-') {
                        continue;
                    }
                    let [arg] = opt.args.as_slice() else {
                        continue;
                    };
                    match opt.name.as_str() {
                        "-m" | "--match" => owner = arg.as_str() == "owner",
                        "-s" | "--source" | "--src" | "-d" | "--destination" | "--dst" => {
                            for item in arg.split(',') {
                                if let Some(host) = host_name(item) {
                                    out.hosts.insert((host.to_string(), family));
                                }
                            }
                        }
                        "--uid-owner" if owner && is_name(arg) => {
                            out.users.insert(arg.to_string());
                        }
                        "--gid-owner" if owner && is_name(arg) => {
                            out.groups.insert(arg.to_string());
                        }
                        _ => {}
                    }
                }
            }
        }
    }
    out
}

/// The name part of an address item (`www.example.org/24` gives `www.example.org`), when it
/// is a name rather than an address or a typo in one: letters, digits, `-`, `_` and `.`, with
/// at least one letter and no `:` (an IPv6 address has hex letters and colons).
pub(crate) fn host_name(item: &str) -> Option<&str> {
    // This runs on every `-s` and `-d` of every rule, and most are IPv4 addresses: digits, `.`
    // and `/` (0x2e to 0x39), none of which has bit 0x40, which every letter has. One OR over
    // the bytes (vectorised) sends them away; IPv6 addresses go on to meet their colon.
    if item.bytes().fold(0u8, |acc, b| acc | b) & 0x40 == 0 {
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

/// An owner argument that is a name, not an id, an id range or `root` (which is 0 everywhere
/// and needs no lookup).
fn is_name(arg: &str) -> bool {
    arg != "root" && arg.bytes().any(|b| !b.is_ascii_digit() && b != b'-')
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
        assert!(is_name("postfix"));
        assert!(!is_name("1000"));
        assert!(!is_name("1000-2000"));
        assert!(!is_name("root"));
    }

    #[test]
    fn wanted_lists_each_name_once_per_family() {
        let text = "*filter\n:INPUT ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n\
            -A INPUT -s db.example,10.0.0.1/8 -d web.example/24 -j ACCEPT\n\
            -A INPUT -s db.example -j DROP\n\
            -A OUTPUT -m owner --uid-owner postfix --gid-owner mail -j ACCEPT\n\
            -A OUTPUT -m owner --uid-owner 1000 -j ACCEPT\n\
            -A OUTPUT -m comment --comment --uid-owner -j ACCEPT\nCOMMIT\n";
        let (rs, _) = fwnet_iptables::parse("t.rules", text);
        let w = wanted([(&rs, IpFamily::V4)]);
        let hosts: Vec<_> = w.hosts.iter().map(|(h, _)| h.as_str()).collect();
        assert_eq!(hosts, ["db.example", "web.example"]);
        assert_eq!(w.users.iter().collect::<Vec<_>>(), ["postfix"]);
        assert_eq!(w.groups.iter().collect::<Vec<_>>(), ["mail"]);
    }
}
