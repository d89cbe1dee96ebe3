//! `! --uid-owner` and `! --gid-owner`, and id ranges, legacy kernel against fwnet: the negation matches
//! packets of other owners and packets without one (the kernel's own ICMP errors), which fwnet
//! writes as a chain that returns for the owner (`fwnet_translate::owner`).
//!
//! In each namespace, datagrams over loopback from uid 0 and from uid 1 (`setpriv`), to ports
//! with no socket, so the kernel answers each one that gets out with an ICMP port unreachable,
//! which has no owner. What must agree: which sends the kernel refused (EPERM from a DROP) and
//! every rule's packet counter.

use crate::fragments::{fwnet_counts, legacy_counts, load};
use crate::netns::{privileged, Netns};

const RULES: &str = "*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n\
    -A OUTPUT -o lo -p udp --dport 9999 -m owner ! --uid-owner 1 -j DROP\n\
    -A OUTPUT -o lo -p icmp -m owner ! --uid-owner 0 -j ACCEPT\n\
    -A OUTPUT -o lo -p udp --dport 9998 -m owner ! --uid-owner 0 ! --gid-owner 1 -j DROP\n\
    -A OUTPUT -o lo -p udp --dport 9997 -m owner --uid-owner 1-256 -j DROP\n\
    -A OUTPUT -o lo -p udp --dport 9997 -m owner ! --gid-owner 0-0 -j DROP\n\
    COMMIT\n";

/// Sends one datagram to 127.0.0.1:`port` as `uid`/`gid`; whether the kernel let it out.
fn send(ns: &Netns, uid: u32, gid: u32, port: u16) -> bool {
    ns.exec(
        "setpriv",
        &[
            &format!("--reuid={uid}"),
            &format!("--regid={gid}"),
            "--clear-groups",
            "bash",
            "-c",
            &format!("echo x > /dev/udp/127.0.0.1/{port}"),
        ],
    )
    .is_ok()
}

fn traffic(ns: &Netns) -> Vec<bool> {
    vec![
        send(ns, 1, 1, 9999),
        send(ns, 0, 0, 9999),
        send(ns, 1, 1, 9998),
        send(ns, 0, 1, 9998),
        send(ns, 1, 0, 9998),
        // Between 1 and 256 as numbers, not as little-endian bytes (02 00 > 00 01).
        send(ns, 2, 0, 9997),
        send(ns, 0, 0, 9997),
        send(ns, 0, 1, 9997),
    ]
}

#[test]
fn negated_owner_matches_other_owners_and_packets_without_one() {
    let test = "negated_owner_matches_other_owners_and_packets_without_one";
    if !privileged(test) {
        return;
    }
    let legacy = Netns::new("owner-legacy").expect("namespace");
    let fwnet = Netns::new("owner-fwnet").expect("namespace");
    let state = load(&legacy, &fwnet, "iptables-legacy-restore", "owner", RULES);
    let want = traffic(&legacy);
    let got = traffic(&fwnet);
    // uid 1 passes 9999, root does not; on 9998 only uid 0 or gid 1 passes; on 9997 only
    // uids outside 1-256 in gid 0.
    assert_eq!(
        want,
        [true, false, true, true, false, false, true, false],
        "legacy sends"
    );
    assert_eq!(got, want, "fwnet sends against legacy");
    let want = legacy_counts(&legacy, "iptables-legacy");
    // Rule 2 counts the ICMP errors for the four datagrams that got out: no owner.
    assert_eq!(want, [1, 4, 1, 1, 1], "legacy counters");
    assert_eq!(
        fwnet_counts(&fwnet, &state, "ip"),
        want,
        "fwnet counters against legacy"
    );
}
