//! `--hashlimit-srcmask` against the kernel: a per-/24 bucket is shared by every source of the
//! /24, under iptables-legacy and under fwnet's `update @set { ip saddr & 255.255.255.0 ... }`.
//!
//! Datagrams leave over loopback from 127.0.0.1 and then 127.0.0.2, both in 127.0.0.0/24,
//! through an OUTPUT rule that passes two of them (burst 2, one more per minute) and a rule
//! after it that counts the rest; the counters must agree rule by rule. Keyed by whole
//! addresses, 127.0.0.2 would get a bucket of its own and pass.

use crate::fragments::{fwnet_counts, legacy_counts, load};
use crate::netns::{assert_not_host_netns, privileged, Netns};
use std::net::UdpSocket;

const RULES: &str = "*filter\n:OUTPUT ACCEPT [0:0]\n\
-A OUTPUT -p udp -m udp --dport 9999 -m hashlimit --hashlimit-upto 1/min --hashlimit-burst 2 --hashlimit-mode srcip --hashlimit-srcmask 24 --hashlimit-name per24 -j ACCEPT\n\
-A OUTPUT -p udp -m udp --dport 9999\n\
COMMIT\n";

/// Two datagrams from 127.0.0.1, then two from 127.0.0.2.
fn send() {
    assert_not_host_netns();
    for src in ["127.0.0.1:0", "127.0.0.2:0"] {
        let s = UdpSocket::bind(src).expect("bind");
        for _ in 0..2 {
            // A datagram the rules let through has no listener; only the counters matter.
            let _ = s.send_to(b"x", "127.0.0.1:9999");
        }
    }
}

#[test]
fn hashlimit_srcmask_shares_one_bucket_per_prefix_as_in_iptables() {
    let test = "hashlimit_srcmask_shares_one_bucket_per_prefix_as_in_iptables";
    if !privileged(test) {
        return;
    }
    let legacy = Netns::new("hlmask-legacy").expect("namespace");
    let fwnet = Netns::new("hlmask-fwnet").expect("namespace");
    let state = load(&legacy, &fwnet, "iptables-legacy-restore", "hlmask", RULES);
    legacy.run_in(send);
    fwnet.run_in(send);
    let want = legacy_counts(&legacy, "iptables-legacy");
    // The bucket of 127.0.0.0/24 passes the first two datagrams; the two from 127.0.0.2 find
    // it empty and reach the counting rule.
    assert_eq!(want, vec![2, 2], "legacy");
    assert_eq!(
        fwnet_counts(&fwnet, &state, "ip"),
        want,
        "fwnet against legacy"
    );
}
