//! `-m conntrack --ctexpire` against the kernel: the same datagrams through legacy
//! xt_conntrack and through fwnet's `ct expiration` ranges, each in a namespace of its own,
//! must get the same verdicts, and the legacy ones must be those written here.
//!
//! Each flow is one UDP socket on loopback sending two datagrams 50 ms apart through OUTPUT
//! (a drop is the sender's `EPERM`). The first datagram's connection is not confirmed yet when
//! OUTPUT sees it, so its remaining lifetime is 0; the second one's was just refreshed to the
//! 30 s of an unreplied UDP connection (nf_conntrack_udp_timeout). The ranges stay clear of the
//! 29/30 s edge, where a clock tick between conntrack's hook and the filter's would decide.

use crate::apply::legacy_and_fwnet;
use crate::netns::{privileged, Netns};
use std::net::{SocketAddr, UdpSocket};
use std::time::Duration;

const RULES: &str = "*filter
:INPUT ACCEPT [0:0]
:FORWARD ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
-A OUTPUT -p udp -m udp --dport 4001 -m conntrack --ctexpire 20:40 -j DROP
-A OUTPUT -p udp -m udp --dport 4002 -m conntrack ! --ctexpire 1:40 -j DROP
-A OUTPUT -p udp -m udp --dport 4003 -m conntrack --ctexpire 0 -j DROP
-A OUTPUT -p udp -m udp --dport 4004 -m conntrack --ctexpire 21:28 -j DROP
-A OUTPUT -p udp -m udp --dport 4005 -m conntrack --ctexpire 31:100 -j DROP
-A OUTPUT -p udp -m udp --dport 4006 -m conntrack ! --ctexpire 0 -j DROP
COMMIT
";

/// Port, and whether the first and the second datagram pass under the legacy kernel.
const FLOWS: &[(u16, [bool; 2])] = &[
    (4001, [true, false]),  // 0 s, then 30 s: in 20:40
    (4002, [false, false]), // 0 s is outside 1:40; the dropped datagram confirmed nothing
    (4003, [false, false]), // 0 s
    (4004, [true, true]),   // neither 0 nor 30 is in 21:28
    (4005, [true, true]),   // nor in 31:100
    (4006, [true, false]),  // `! 0`: the second one
];

fn run(ns: &Netns) -> Vec<[bool; 2]> {
    ns.run_in(|| {
        FLOWS
            .iter()
            .map(|(port, _)| {
                let sock = UdpSocket::bind("127.0.0.1:0").expect("bind");
                let to = SocketAddr::from(([127, 0, 0, 1], *port));
                let send = || match sock.send_to(b"x", to) {
                    Ok(_) => true,
                    Err(e) if e.raw_os_error() == Some(libc::EPERM) => false,
                    Err(e) => panic!("send to {to}: {e}"),
                };
                let first = send();
                std::thread::sleep(Duration::from_millis(50));
                [first, send()]
            })
            .collect()
    })
}

#[test]
fn ctexpire_verdicts_equal_legacy_xt_conntrack() {
    if !privileged("ctexpire_verdicts_equal_legacy_xt_conntrack") {
        return;
    }
    let (legacy, ours, _) = legacy_and_fwnet("ctexpire", RULES, false, |_| {});
    let want: Vec<[bool; 2]> = FLOWS.iter().map(|(_, v)| *v).collect();
    let got_legacy = run(&legacy);
    assert_eq!(
        got_legacy, want,
        "the legacy kernel disagrees with the test's expectations"
    );
    assert_eq!(
        run(&ours),
        got_legacy,
        "fwnet's verdicts differ from xt_conntrack's"
    );
}
