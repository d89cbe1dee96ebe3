//! The interpreter ([`fwnet_nft::eval`]) against the founding ruleset as the translator
//! produces it: a table of packets and the verdict and source line each must get.
//!
//! It does not check the kernel; the integration tests compare real verdicts.

use fwnet_nft::eval::{self, Device, Packet, Verdict};
use fwnet_nft::{ct_state, tcp_flag, Hook, Ruleset};
use std::net::IpAddr;
use std::path::Path;

fn seed() -> Ruleset {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/seed/centos6-web.rules");
    let text = std::fs::read_to_string(&path).expect("the founding ruleset is in ../shared/seed");
    let (ast, diags) = fwnet_iptables::parse("seed.rules", &text);
    assert!(diags.iter().all(|d| !d.is_error()), "{diags:?}");
    let input = fwnet_translate::Input {
        ruleset: &ast,
        family: fwnet_translate::IpFamily::V4,
    };
    let t = fwnet_translate::translate(&[input], &Default::default());
    assert!(!t.has_errors(), "{:?}", t.diagnostics);
    t.ruleset
}

const CLIENT: &str = "198.51.100.7";
const SERVER: &str = "192.0.2.1";

fn a(s: &str) -> IpAddr {
    s.parse().expect("test address")
}

/// A packet arriving on eth0 (hook input) or leaving by it (hook output).
fn packet(hook: Hook, l4proto: u8, sport: u16, dport: u16, flags: u64, ct: u64) -> Packet {
    let (saddr, daddr) = match hook {
        Hook::Output => (a(SERVER), a(CLIENT)),
        _ => (a(CLIENT), a(SERVER)),
    };
    let mut p = Packet::tcp(saddr, sport, daddr, dport, flags as u8, ct);
    p.l4proto = l4proto;
    match hook {
        Hook::Output => p.oifname = Device::Name("eth0".into()),
        _ => p.iifname = Device::Name("eth0".into()),
    }
    p
}

#[test]
fn founding_ruleset_verdicts() {
    use tcp_flag::*;
    const EST: u64 = ct_state::ESTABLISHED;
    const NEW: u64 = ct_state::NEW;
    let rs = seed();
    let icmp = |ty: u8, ct: u64| {
        let mut p = packet(Hook::Input, 1, 0, 0, 0, ct);
        p.icmp_type = ty;
        p
    };
    let on_lo = {
        let mut p = packet(Hook::Input, 6, 40000, 25, SYN, NEW);
        p.iifname = Device::Name("lo".into());
        p
    };
    let v6 = {
        let mut p = packet(Hook::Input, 6, 40000, 25, SYN, NEW);
        p.saddr = a("2001:db8::7");
        p.daddr = a("2001:db8::1");
        p
    };
    // (what, hook, packet, verdict, seed line that decides it; 0 = the chain's policy)
    let cases: Vec<(&str, Hook, Packet, Verdict, u32)> = vec![
        (
            "ssh session, client to server",
            Hook::Input,
            packet(Hook::Input, 6, 40000, 22, ACK, EST),
            Verdict::Accept,
            10,
        ),
        (
            "ssh session, with data",
            Hook::Input,
            packet(Hook::Input, 6, 40000, 22, ACK | PSH, EST),
            Verdict::Accept,
            10,
        ),
        (
            "ssh session, server to client",
            Hook::Output,
            packet(Hook::Output, 6, 22, 40000, ACK, EST),
            Verdict::Accept,
            0,
        ),
        (
            "new ssh: hashlimited",
            Hook::Input,
            packet(Hook::Input, 6, 40000, 22, SYN, NEW),
            Verdict::Unknown,
            12,
        ),
        (
            "new http",
            Hook::Input,
            packet(Hook::Input, 6, 40000, 80, SYN, NEW),
            Verdict::Accept,
            13,
        ),
        (
            "new https",
            Hook::Input,
            packet(Hook::Input, 6, 40000, 443, SYN, NEW),
            Verdict::Accept,
            14,
        ),
        (
            "new smtp",
            Hook::Input,
            packet(Hook::Input, 6, 40000, 25, SYN, NEW),
            Verdict::Drop,
            0,
        ),
        (
            "picked up mid-stream: new without syn",
            Hook::Input,
            packet(Hook::Input, 6, 40000, 22, ACK, NEW),
            Verdict::Drop,
            7,
        ),
        (
            "null scan",
            Hook::Input,
            packet(Hook::Input, 6, 40000, 80, 0, NEW),
            Verdict::Drop,
            6,
        ),
        (
            "xmas scan",
            Hook::Input,
            packet(Hook::Input, 6, 40000, 80, 0x3f, EST),
            Verdict::Drop,
            8,
        ),
        ("anything on lo", Hook::Input, on_lo, Verdict::Accept, 5),
        (
            "ping: hashlimited",
            Hook::Input,
            icmp(8, NEW),
            Verdict::Unknown,
            9,
        ),
        (
            "icmp echo reply is not tcp",
            Hook::Input,
            icmp(0, EST),
            Verdict::Drop,
            0,
        ),
        (
            "dns answer",
            Hook::Input,
            packet(Hook::Input, 17, 53, 33000, 0, EST),
            Verdict::Accept,
            11,
        ),
        (
            "dns query to us",
            Hook::Input,
            packet(Hook::Input, 17, 33000, 53, 0, NEW),
            Verdict::Drop,
            0,
        ),
        (
            "forwarding",
            Hook::Forward,
            packet(Hook::Input, 6, 40000, 80, SYN, NEW),
            Verdict::Drop,
            0,
        ),
    ];
    for (what, hook, p, verdict, line) in cases {
        let got = eval::hook(&rs, hook, &p);
        let got_line = got
            .decided_by
            .as_ref()
            .map(|d| d.origin.as_ref().map_or(0, |o| o.line));
        assert_eq!(
            (got.verdict, got_line),
            (verdict, Some(line)),
            "{what}: {got:?}"
        );
        if verdict == Verdict::Unknown {
            assert_eq!(got.unknown, Some(eval::Unknowable::RateLimit), "{what}");
        }
    }
    // The IPv4 table does not see IPv6: accepted, decided by nothing.
    let got = eval::hook(&rs, Hook::Input, &v6);
    assert_eq!((got.verdict, got.decided_by), (Verdict::Accept, None));
}
