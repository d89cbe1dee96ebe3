//! Non-first IPv4 and IPv6 fragments against transport-header tests, legacy kernel vs fwnet,
//! in rulesets without conntrack (so the fragments are not reassembled before the rules).
//!
//! The same packets leave each namespace over loopback, through OUTPUT rules that only count;
//! the counters must agree line by line. IPv4: a whole TCP segment to port 80, a non-first
//! fragment whose payload carries port 80 where a TCP header would have it, and a whole UDP
//! datagram; without fwnet's `ip frag-off & 8191 == 0` guard nft's `tcp dport 80` counts the
//! fragment too. IPv6: the same, plus a first TCP fragment and a non-first UDP one, all with
//! flow label 80: for a non-first IPv6 fragment nft's transport offset is 0, so without
//! fwnet's `frag frag-off != 0 goto OUTPUT_frag` guard `tcp dport 80` and `udp dport 80` read
//! the flow label's low 16 bits and count those fragments.
//!
//! fwnet's counters are summed per input line over every chain of the table: on IPv6 a line
//! that xt could match on a non-first fragment has a copy in `OUTPUT_frag`, which counts the
//! fragments while the line in `OUTPUT` counts the rest.

use crate::apply::{fwnet_in, StateDir};
use crate::netns::{assert_not_host_netns, privileged, Netns};
use crate::raw::{checksum, send_ipv4, send_ipv6};

const RULES: &str = "*filter\n:OUTPUT ACCEPT [0:0]\n\
-A OUTPUT -p tcp\n\
-A OUTPUT -p tcp --dport 80\n\
-A OUTPUT -p tcp -m multiport --dports 80,81\n\
-A OUTPUT -p udp --dport 80\n\
-A OUTPUT -f\n\
-A OUTPUT -p tcp -m tcp\n\
-A OUTPUT -p udp -m udp\n\
COMMIT\n";

/// An IPv4 packet from and to 127.0.0.1 with `frag` as its flags/offset field.
fn ipv4(proto: u8, frag: u16, payload: &[u8]) -> Vec<u8> {
    let len = (20 + payload.len()) as u16;
    let mut p = vec![0x45, 0];
    p.extend(len.to_be_bytes());
    p.extend(7u16.to_be_bytes());
    p.extend(frag.to_be_bytes());
    p.extend([64, proto, 0, 0, 127, 0, 0, 1, 127, 0, 0, 1]);
    let c = checksum(&p);
    p[10..12].copy_from_slice(&c.to_be_bytes());
    p.extend(payload);
    p
}

/// Source port 40000, destination port 80, then a TCP header's worth of zeros.
fn ports_then_zeros() -> Vec<u8> {
    let mut b = Vec::new();
    b.extend(40000u16.to_be_bytes());
    b.extend(80u16.to_be_bytes());
    b.extend([0u8; 16]);
    b[12] = 5 << 4;
    b
}

fn send_ipv4_packets() {
    assert_not_host_netns();
    let packets = [
        ipv4(6, 0, &ports_then_zeros()),
        // Offset 3 (24 bytes), no more fragments.
        ipv4(6, 3, &ports_then_zeros()),
        ipv4(17, 0, &ports_then_zeros()[..8]),
    ];
    send_ipv4(&packets, [127, 0, 0, 1]);
}

/// An IPv6 packet from and to ::1 with flow label 80 and next header `nh`.
pub(crate) fn ipv6(nh: u8, payload: &[u8]) -> Vec<u8> {
    let mut p = (6u32 << 28 | 80).to_be_bytes().to_vec();
    p.extend((payload.len() as u16).to_be_bytes());
    p.extend([nh, 64]);
    p.extend(std::net::Ipv6Addr::LOCALHOST.octets());
    p.extend(std::net::Ipv6Addr::LOCALHOST.octets());
    p.extend(payload);
    p
}

/// A fragment header for `nh` at `offset` (8-byte units) with the M flag `more`, then `data`.
fn fragment(nh: u8, offset: u16, more: bool, data: &[u8]) -> Vec<u8> {
    let mut p = vec![nh, 0];
    p.extend((offset << 3 | u16::from(more)).to_be_bytes());
    p.extend(7u32.to_be_bytes());
    p.extend(data);
    p
}

/// [`Netns::new`] turns IPv6 off; loopback needs it (and `::1`) here.
pub(crate) fn enable_ipv6_on_lo() {
    assert_not_host_netns();
    for conf in ["all", "lo"] {
        let path = format!("/proc/sys/net/ipv6/conf/{conf}/disable_ipv6");
        std::fs::write(&path, "0").unwrap_or_else(|e| panic!("{path}: {e}"));
    }
}

fn send_ipv6_packets() {
    assert_not_host_netns();
    let packets = [
        ipv6(6, &ports_then_zeros()),
        // Offset 3 (24 bytes), no more fragments.
        ipv6(44, &fragment(6, 3, false, &ports_then_zeros())),
        ipv6(17, &ports_then_zeros()[..8]),
        ipv6(44, &fragment(6, 0, true, &ports_then_zeros())),
        ipv6(44, &fragment(17, 3, false, &ports_then_zeros()[..8])),
    ];
    send_ipv6(&packets);
}

/// The packet counters of `iptables-legacy -L OUTPUT -vnx` (`tool`), rule by rule.
pub(crate) fn legacy_counts(ns: &Netns, tool: &str) -> Vec<u64> {
    legacy_chain_counts(ns, tool, "OUTPUT")
}

/// The packet counters of `iptables-legacy -L CHAIN -vnx` (`tool`), rule by rule.
pub(crate) fn legacy_chain_counts(ns: &Netns, tool: &str, chain: &str) -> Vec<u64> {
    let out = ns
        .exec(tool, &["-L", chain, "-v", "-n", "-x"])
        .unwrap_or_else(|e| panic!("{e}"));
    out.lines()
        .skip(2)
        .filter_map(|l| l.split_whitespace().next()?.parse().ok())
        .collect()
}

/// The packet counters of fwnet's filter table of `family`, from `fwnet status --json`, summed
/// per input line over all its chains, in line order.
pub(crate) fn fwnet_counts(ns: &Netns, state: &StateDir, family: &str) -> Vec<u64> {
    let out = fwnet_in(ns, &["status", "--json", "--state-dir", state.arg()], None);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("status json");
    let table = v["tables"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|t| t["name"] == "fwnet_filter" && t["family"] == family)
        .unwrap_or_else(|| panic!("no {family} fwnet_filter table in {v}"));
    let mut lines = std::collections::BTreeMap::<u64, u64>::new();
    for r in table["chains"]
        .as_array()
        .expect("chains")
        .iter()
        .flat_map(|c| c["rules"].as_array().cloned().unwrap_or_default())
    {
        // Rules without a counter (a jump to a chain that holds the rule's counter) add none.
        let (Some(origin), Some(packets)) = (r["origin"].as_str(), r["packets"].as_u64()) else {
            continue;
        };
        let line = origin
            .rsplit(':')
            .next()
            .and_then(|l| l.parse().ok())
            .unwrap_or_else(|| panic!("origin {origin}"));
        *lines.entry(line).or_default() += packets;
    }
    lines.into_values().collect()
}

/// Loads `rules` into `legacy` with `restore`, imports and applies them with fwnet in `fwnet`.
pub(crate) fn load(
    legacy: &Netns,
    fwnet: &Netns,
    restore: &str,
    name: &str,
    rules: &str,
) -> StateDir {
    for ns in [legacy, fwnet] {
        ns.ip(&["link", "set", "lo", "up"]).expect("lo up");
    }
    legacy
        .exec_stdin(restore, &[], rules)
        .unwrap_or_else(|e| panic!("{e}"));
    let path = crate::apply::scratch(&format!("{name}.rules"), rules);
    let state = StateDir::new(name);
    crate::apply::import(&path, &state);
    let out = fwnet_in(fwnet, &["apply", "--state-dir", state.arg()], None);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    state
}

#[test]
fn non_first_fragments_meet_port_tests_as_in_iptables() {
    let test = "non_first_fragments_meet_port_tests_as_in_iptables";
    if !privileged(test) {
        return;
    }
    let legacy = Netns::new("frag-legacy").expect("namespace");
    let fwnet = Netns::new("frag-fwnet").expect("namespace");
    let state = load(&legacy, &fwnet, "iptables-legacy-restore", "frag", RULES);
    legacy.run_in(send_ipv4_packets);
    fwnet.run_in(send_ipv4_packets);
    let want = legacy_counts(&legacy, "iptables-legacy");
    // -p tcp: both TCP packets; --dport 80 and --dports 80,81: the whole one only; -p udp
    // --dport 80: the datagram; -f: the fragment; -m tcp and -m udp without options: the whole
    // segment and the datagram (xt_tcp and xt_udp fail every non-first fragment).
    assert_eq!(want, vec![2, 1, 1, 1, 1, 1, 1], "legacy");
    assert_eq!(
        fwnet_counts(&fwnet, &state, "ip"),
        want,
        "fwnet against legacy"
    );
}

/// The ip6tables form of [`RULES`]: `-m frag --fraglast` stands for `-f`.
const RULES6: &str = "*filter\n:OUTPUT ACCEPT [0:0]\n\
-A OUTPUT -p tcp\n\
-A OUTPUT -p tcp --dport 80\n\
-A OUTPUT -p tcp -m multiport --dports 80,81\n\
-A OUTPUT -p udp --dport 80\n\
-A OUTPUT -m frag --fraglast\n\
-A OUTPUT -p tcp -m tcp\n\
-A OUTPUT -p udp -m udp\n\
COMMIT\n";

#[test]
fn non_first_ipv6_fragments_meet_port_tests_as_in_ip6tables() {
    let test = "non_first_ipv6_fragments_meet_port_tests_as_in_ip6tables";
    if !privileged(test) {
        return;
    }
    let legacy = Netns::new("frag6-legacy").expect("namespace");
    let fwnet = Netns::new("frag6-fwnet").expect("namespace");
    for ns in [&legacy, &fwnet] {
        ns.run_in(enable_ipv6_on_lo);
    }
    let state = load(
        &legacy,
        &fwnet,
        "ip6tables-legacy-restore",
        "v6-frag",
        RULES6,
    );
    legacy.run_in(send_ipv6_packets);
    fwnet.run_in(send_ipv6_packets);
    let want = legacy_counts(&legacy, "ip6tables-legacy");
    // -p tcp: the three TCP packets; --dport 80 and --dports 80,81: the whole segment and the
    // first fragment; -p udp --dport 80: the datagram; --fraglast: the two non-first
    // fragments; -m tcp and -m udp without options: the whole segment and the first fragment,
    // and the datagram.
    assert_eq!(want, vec![3, 2, 2, 1, 2, 2, 1], "legacy");
    assert_eq!(
        fwnet_counts(&fwnet, &state, "ip6"),
        want,
        "fwnet against legacy"
    );
}
