//! `-j CT --zone`, `--zone-orig` and `--zone-reply` against the kernel: a UDP datagram per
//! rule through legacy xt_CT and through fwnet's `ct [original|reply] zone set`, each in a
//! namespace of its own; the connections the kernel then holds (/proc/net/nf_conntrack, which
//! prints `zone=`, `zone-orig=` or `zone-reply=`) must be the same, and the legacy ones those
//! written here.

use crate::apply::legacy_and_fwnet;
use crate::netns::{privileged, Netns};
use std::net::{SocketAddr, UdpSocket};

const RULES: &str = "*raw
:PREROUTING ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
-A OUTPUT -p udp -m udp --dport 4100 -j CT --zone 7
-A OUTPUT -p udp -m udp --dport 4101 -j CT --zone-orig 5
-A OUTPUT -p udp -m udp --dport 4102 -j CT --zone-reply 6
COMMIT
*filter
:INPUT ACCEPT [0:0]
:FORWARD ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
-A OUTPUT -m conntrack --ctstate NEW -j ACCEPT
COMMIT
";

/// Each destination port and the zone field its connection must show.
const WANT: &[(u16, &str)] = &[
    (4100, "zone=7"),
    (4101, "zone-orig=5"),
    (4102, "zone-reply=6"),
];

/// Sends one datagram to each port, then returns, per port, the zone fields of its
/// connection's line in /proc/net/nf_conntrack.
fn run(ns: &Netns) -> Vec<(u16, Vec<String>)> {
    ns.run_in(|| {
        for (port, _) in WANT {
            let sock = UdpSocket::bind("127.0.0.1:0").expect("bind");
            sock.send_to(b"x", SocketAddr::from(([127, 0, 0, 1], *port)))
                .expect("send");
        }
        let table = std::fs::read_to_string("/proc/thread-self/net/nf_conntrack")
            .expect("/proc/net/nf_conntrack");
        WANT.iter()
            .map(|(port, _)| {
                let dport = format!("dport={port} ");
                let zones = table
                    .lines()
                    .filter(|l| l.contains(&dport))
                    .flat_map(|l| l.split_whitespace())
                    .filter(|w| w.starts_with("zone"))
                    .map(str::to_string)
                    .collect();
                (*port, zones)
            })
            .collect()
    })
}

#[test]
fn ct_zone_directions_equal_legacy_xt_ct() {
    if !privileged("ct_zone_directions_equal_legacy_xt_ct") {
        return;
    }
    let (legacy, ours, _) = legacy_and_fwnet("ctzone", RULES, false, |_| {});
    let want: Vec<(u16, Vec<String>)> = WANT
        .iter()
        .map(|(p, z)| (*p, vec![z.to_string()]))
        .collect();
    let got_legacy = run(&legacy);
    assert_eq!(
        got_legacy, want,
        "the legacy kernel disagrees with the test's expectations"
    );
    assert_eq!(
        run(&ours),
        got_legacy,
        "the connections fwnet's rules make are in other zones than xt_CT's"
    );
}
