//! `-m u32` against the legacy kernel: the same hand-made IPv4 and IPv6 packets leave a legacy
//! namespace and an fwnet one over loopback, through OUTPUT and then INPUT rules that only
//! count (both hooks start reading at the network header), and the counters must agree line by
//! line (and with the counts written here, so a translation that agrees only by accident, such
//! as one that never matches, fails too).
//!
//! The packets put the bytes at the Heartbleed rule's offset (0x34: 20-byte IPv4 header and a
//! 32-byte TCP header) on each side of both range ends, in a packet exactly long enough for the
//! read, and in one 2 bytes too short (xt_u32 and nft's raw payload load both fail it). A wrong
//! offset (bits for bytes, off by one byte) or a wrong range end changes a count. ip6tables'
//! u32 reads from the IPv6 header the same way: the IPv6 test moves the offset to 0x48 (40-byte
//! header, 32-byte TCP header). The translator's u32 fixtures also load in an inet table
//! (`--inet`) as `nft -f` loads their `fwnet show` text.

use crate::fragments::{enable_ipv6_on_lo, fwnet_counts, ipv6, legacy_chain_counts, load};
use crate::netns::{assert_not_host_netns, privileged, Netns};
use crate::raw::{checksum, send_ipv4, send_ipv6};

const TESTS: &[&str] = &[
    "-p tcp -m tcp --dport 443 -m u32 --u32 \"0x34=0x18030000:0x1803ffff\"",
    "-m u32 --u32 \"0x34=0x18030000:0x1803ffff\"",
    "-m u32 --u32 \"0x20>>16&0xff=0x10:0x1f,0x40\"",
    "-m u32 --u32 \"0x14<<8=0x100:0x2ff\"",
    "-m u32 ! --u32 \"8>>16&0xff=6\"",
    "-m u32 --u32 \"0x38=0:0xffffffff\"",
    "-m u32 ! --u32 \"0x34=0x18030000:0x1803ffff\"",
];

/// A filter table counting `tests` in INPUT, then the same in OUTPUT: packets sent over
/// loopback pass OUTPUT, then INPUT, where the IP layer has already consumed the link layer.
fn rules(tests: &[&str]) -> String {
    let mut text = String::from("*filter\n:INPUT ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n");
    for chain in ["INPUT", "OUTPUT"] {
        for t in tests {
            text.push_str(&format!("-A {chain} {t}\n"));
        }
    }
    text + "COMMIT\n"
}

/// INPUT's counters, then OUTPUT's, of `tool` (`iptables-legacy`, `ip6tables-legacy`).
fn legacy_in_out(ns: &Netns, tool: &str) -> Vec<u64> {
    let mut counts = legacy_chain_counts(ns, tool, "INPUT");
    counts.extend(legacy_chain_counts(ns, tool, "OUTPUT"));
    counts
}

/// An IPv4 packet from and to 127.0.0.1 of protocol `proto`.
fn ipv4(proto: u8, payload: &[u8]) -> Vec<u8> {
    let len = (20 + payload.len()) as u16;
    let mut p = vec![0x45, 0];
    p.extend(len.to_be_bytes());
    p.extend([0, 7, 0, 0, 64, proto, 0, 0, 127, 0, 0, 1, 127, 0, 0, 1]);
    let c = checksum(&p);
    p[10..12].copy_from_slice(&c.to_be_bytes());
    p.extend(payload);
    p
}

/// A 32-byte TCP header (12 bytes of options, as the Heartbleed rule's offset assumes) with
/// these ports and flags, then `data`.
fn tcp(sport: u16, dport: u16, flags: u8, data: &[u8]) -> Vec<u8> {
    let mut h = Vec::new();
    h.extend(sport.to_be_bytes());
    h.extend(dport.to_be_bytes());
    h.extend([0u8; 8]);
    h.extend([8 << 4, flags]);
    h.extend([0u8; 18]);
    h.extend(data);
    ipv4(6, &h)
}

/// A UDP datagram to port 443 whose bytes 52..56 from the IP header are a TLS heartbeat
/// record's start, and whose packet is 60 bytes long.
fn udp_heartbeat() -> Vec<u8> {
    let mut d = Vec::new();
    d.extend(40000u16.to_be_bytes());
    d.extend(443u16.to_be_bytes());
    d.extend(40u16.to_be_bytes());
    d.extend([0, 0]);
    let mut data = [0u8; 32];
    data[24..28].copy_from_slice(&[0x18, 0x03, 0x01, 0x00]);
    d.extend(data);
    ipv4(17, &d)
}

fn send_ipv4_packets() {
    assert_not_host_netns();
    let packets = [
        // 60 bytes, a heartbeat record (0x18, TLS 1.1): in the range.
        tcp(40000, 443, 0x18, &[0x18, 0x03, 0x02, 0x00, 0, 0, 0, 0]),
        // 56 bytes, just long enough; the range's lower end.
        tcp(40000, 443, 0x18, &[0x18, 0x03, 0x00, 0x00]),
        // The upper end.
        tcp(40000, 443, 0x18, &[0x18, 0x03, 0xff, 0xff]),
        // Just above and just below.
        tcp(40000, 443, 0x10, &[0x18, 0x04, 0x00, 0x00]),
        tcp(40000, 443, 0x10, &[0x18, 0x02, 0xff, 0xff]),
        // 55 and 54 bytes: too short for the read at 52.
        tcp(40000, 443, 0x18, &[0x18, 0x03, 0x00]),
        tcp(40000, 443, 0x18, &[0x18, 0x03]),
        udp_heartbeat(),
        // Ports 256 -> 2 (word at 20 << 8 is 0x200) and 256 -> 3 (0x300).
        tcp(0x0100, 2, 0x02, &[]),
        tcp(0x0100, 3, 0x40, &[]),
    ];
    send_ipv4(&packets, [127, 0, 0, 1]);
}

#[test]
fn u32_raw_matches_count_as_in_iptables() {
    let test = "u32_raw_matches_count_as_in_iptables";
    if !privileged(test) {
        return;
    }
    let legacy = Netns::new("u32-legacy").expect("namespace");
    let fwnet = Netns::new("u32-fwnet").expect("namespace");
    let rules = rules(TESTS);
    let state = load(&legacy, &fwnet, "iptables-legacy-restore", "u32", &rules);
    legacy.run_in(send_ipv4_packets);
    fwnet.run_in(send_ipv4_packets);
    let want = legacy_in_out(&legacy, "iptables-legacy");
    // Heartbleed with --dport 443: the three TCP packets in the range (not the short ones);
    // without it: those and the UDP datagram; TCP flags byte (byte 33) in 0x10-0x1f or 0x40:
    // every TCP packet but the SYN; the shifted ports word: the packet to port 2; `!` on the
    // protocol byte: the datagram and the ICMP port unreachable it brings back (88 bytes,
    // which also leaves through OUTPUT); a read of 4 bytes at 56: the two 60-byte packets and
    // that ICMP error; `!` on the Heartbleed test: the two just outside the range, the four
    // too short for the read (xt_u32 fails them, and `!` makes them match) and the ICMP error.
    assert_eq!(want[7..], [3, 4, 8, 1, 2, 3, 7], "legacy OUTPUT");
    // Every one of them comes back in over loopback and counts again in INPUT.
    assert_eq!(want[..7], want[7..], "legacy INPUT");
    assert_eq!(
        fwnet_counts(&fwnet, &state, "ip"),
        want,
        "fwnet against legacy"
    );
}

const TESTS6: &[&str] = &[
    "-p tcp -m tcp --dport 443 -m u32 --u32 \"0x48=0x18030000:0x1803ffff\"",
    "-m u32 --u32 \"0x48=0x18030000:0x1803ffff\"",
    "-m u32 ! --u32 \"4>>8&0xff=6\"",
    "-m u32 --u32 \"0>>28=6\"",
    "-m u32 ! --u32 \"0x48=0x18030000:0x1803ffff\"",
];

/// The IPv6 form of [`tcp`]: from and to ::1, 32-byte TCP header, then `data`.
fn tcp6(dport: u16, data: &[u8]) -> Vec<u8> {
    let mut h = Vec::new();
    h.extend(40000u16.to_be_bytes());
    h.extend(dport.to_be_bytes());
    h.extend([0u8; 8]);
    h.extend([8 << 4, 0x18]);
    h.extend([0u8; 18]);
    h.extend(data);
    ipv6(6, &h)
}

fn send_ipv6_packets() {
    assert_not_host_netns();
    let mut udp = Vec::new();
    udp.extend(40000u16.to_be_bytes());
    udp.extend(443u16.to_be_bytes());
    udp.extend(40u16.to_be_bytes());
    udp.extend([0, 0]);
    let mut data = [0u8; 32];
    data[24..28].copy_from_slice(&[0x18, 0x03, 0x01, 0x00]);
    udp.extend(data);
    let packets = [
        // 80 bytes, in the range.
        tcp6(443, &[0x18, 0x03, 0x02, 0x00, 0, 0, 0, 0]),
        // 76 bytes, just long enough; the upper end.
        tcp6(443, &[0x18, 0x03, 0xff, 0xff]),
        // Just above.
        tcp6(443, &[0x18, 0x04, 0x00, 0x00]),
        // 75 and 74 bytes: too short for the read at 72.
        tcp6(443, &[0x18, 0x03, 0x00]),
        tcp6(443, &[0x18, 0x03]),
        // 80 bytes, UDP, in the range at 72.
        ipv6(17, &udp),
    ];
    send_ipv6(&packets);
}

#[test]
fn u32_raw_matches_count_as_in_ip6tables() {
    let test = "u32_raw_matches_count_as_in_ip6tables";
    if !privileged(test) {
        return;
    }
    let legacy = Netns::new("u32v6-legacy").expect("namespace");
    let fwnet = Netns::new("u32v6-fwnet").expect("namespace");
    for ns in [&legacy, &fwnet] {
        ns.run_in(enable_ipv6_on_lo);
    }
    let state = load(
        &legacy,
        &fwnet,
        "ip6tables-legacy-restore",
        "v6-u32",
        &rules(TESTS6),
    );
    legacy.run_in(send_ipv6_packets);
    fwnet.run_in(send_ipv6_packets);
    let want = legacy_in_out(&legacy, "ip6tables-legacy");
    // Heartbleed with --dport 443: the two TCP packets in the range (not the short ones);
    // without it: those and the datagram; `!` on the next-header byte: the datagram (its zero
    // checksum, invalid for IPv6, gets it dropped without an ICMPv6 error); the version: all;
    // `!` on the Heartbleed test: the one just above the range and the short ones.
    assert_eq!(want[5..], [2, 3, 1, 6, 3], "legacy OUTPUT");
    assert_eq!(want[..5], want[5..], "legacy INPUT");
    assert_eq!(
        fwnet_counts(&fwnet, &state, "ip6"),
        want,
        "fwnet against legacy"
    );
}

/// `fwnet import --inet` of the translator's u32 fixtures (both families): the kernel holds what
/// `nft -f` of `fwnet show` gives it (nft adds no `meta nfproto` test before an `@nh` load).
#[test]
fn inet_u32_applies_as_nft_loads_its_text() {
    if !privileged("inet_u32_applies_as_nft_loads_its_text") {
        return;
    }
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../translate/test_data/translate/ok");
    let (a, b, shown) = crate::tproxy::inet_apply_and_nft(
        &dir.join("u32.rules"),
        &dir.join("v6-u32.rules"),
        "inet-u32",
    );
    assert!(
        a.iter().any(|l| l.contains("network header + 52"))
            && a.iter().any(|l| l.contains("network header + 72")),
        "{a:#?}"
    );
    // A two-element anonymous set is a hash set, whose elements list in an order of their own.
    let sorted = |lines: Vec<String>| crate::apply::sorted_sets(&lines.join("\n"));
    assert_eq!(sorted(a), sorted(b), "--- show:\n{shown}");
}
