//! `-m recent --hitcount` against the kernel: the same packet sequence through legacy
//! xt_recent (iptables-legacy-restore) and through fwnet's translation (import + apply, slot
//! and pointer sets, see crates/translate/src/recent.rs), each in a namespace of its own, must
//! give the same verdict for every packet, and the legacy verdicts must be the ones written
//! here.
//!
//! Packets are UDP datagrams sent on loopback from 127.0.0.N, each from a fresh socket (a NEW
//! connection); the rules sit in OUTPUT, so a drop is the sender's `EPERM`. Two lists with a
//! window of 2 s and a count of 3: `L` in the classic order (`--set`, then `--update -j
//! DROP`), `U` in the other (`--update -j DROP`, then `--set`), plus a `--rcheck --hitcount 2`
//! on `U`, which depends on the position of the address's next slot. The sequence has bursts,
//! a pause longer than the window, and the block kept alive by the times `--update` records.
//! Ages are at least 300 ms away from the window's edge. A `hashlimit` before a counted
//! `--update` (list `V`) shows that the rule, split around the count, still spends one token of
//! the source's bucket per packet. List `N` is read only by negated counts (`! --rcheck
//! --hitcount`, 2 and 3): they match with no entry, or with fewer times within the window.
//! Not tested: the kernel's 100-entry eviction, which fwnet does not reproduce.

use crate::apply::legacy_and_fwnet;
use crate::netns::privileged;
use crate::recent::{add_ipv6_loopbacks, run_steps, Step};

const RULES: &str = "*filter
:INPUT ACCEPT [0:0]
:FORWARD ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
-A OUTPUT -p udp -m udp --dport 2000 -m state --state NEW -m recent --set --name L --rsource
-A OUTPUT -p udp -m udp --dport 2000 -m state --state NEW -m recent --update --seconds 2 --hitcount 3 --name L --rsource -j DROP
-A OUTPUT -p udp -m udp --dport 2002 -m state --state NEW -m recent --rcheck --seconds 2 --hitcount 2 --name U -j DROP
-A OUTPUT -p udp -m udp --dport 2001 -m state --state NEW -m recent --update --seconds 2 --hitcount 3 --name U -j DROP
-A OUTPUT -p udp -m udp --dport 2001 -m state --state NEW -m recent --set --name U
-A OUTPUT -p udp -m udp --dport 2003 -m recent --set --name V
-A OUTPUT -p udp -m udp --dport 2003 -m hashlimit --hashlimit-upto 1/hour --hashlimit-burst 3 --hashlimit-mode srcip --hashlimit-name V -m recent --update --seconds 2 --hitcount 2 --name V -j DROP
-A OUTPUT -p udp -m udp --dport 2004 -m recent --set --name N
-A OUTPUT -p udp -m udp --dport 2005 -m recent ! --rcheck --seconds 2 --hitcount 2 --name N -j DROP
-A OUTPUT -p udp -m udp --dport 2006 -m recent ! --rcheck --seconds 2 --hitcount 3 --name N -j DROP
COMMIT
";

/// A step to 127.0.0.1.
const fn s(sleep_ms: u64, src: u8, port: u16, passes: bool) -> Step {
    crate::recent::s(sleep_ms, src, 1, port, passes)
}

/// Comments: the time in ms since the start, the list's packet times after the step.
const STEPS: &[Step] = &[
    // t=0
    s(0, 2, 2000, true),  // L: 1 time
    s(0, 2, 2000, true),  // L: 2
    s(0, 2, 2000, false), // L: 3 within 2 s: dropped, and --update adds a 4th
    s(0, 2, 2000, false), // L: 6 (--set, then --update)
    s(0, 3, 2000, true),  // another source has its own times
    s(0, 4, 2002, true),  // U: no time
    s(0, 4, 2001, true),  // U: 0
    s(0, 4, 2002, true),  // U: one time, not two
    // t=1000
    s(1000, 4, 2001, true), // U: 0, 1000
    s(0, 4, 2002, false),   // U: two within 2 s
    // t=1500
    s(500, 2, 2000, false), // L: six at 0, then 1500 twice (--set, --update)
    // t=2600
    s(1100, 4, 2002, true), // U: 0 is out of the window, 1000 is in: one
    s(0, 4, 2001, true),    // U: --update sees one; --set: 0, 1000, 2600
    s(0, 4, 2002, false),   // U: 1000 and 2600
    // t=3000: the block outlives the first burst by the times --update recorded at 1500
    s(400, 2, 2000, false), // L: 1500, 1500, 3000 (--set) within: dropped, 3000 again
    // t=3300
    s(300, 4, 2001, true), // U: --update sees 2600 only; --set: 1000, 2600, 3300
    s(0, 4, 2002, false),  // U: 2600 and 3300
    s(0, 4, 2001, true),   // U: --update sees two; --set: 2600, 3300, 3300
    s(0, 4, 2001, false),  // U: three: dropped, --update adds a time
    s(0, 4, 2001, false),  // U: and again
    // t=5600: every time is older than 2 s
    s(2300, 2, 2000, true), // L: 1
    s(0, 2, 2000, true),    // L: 2
    s(0, 2, 2000, false),   // L: 3
    s(0, 4, 2002, true),    // U: nothing within 2 s
    s(0, 4, 2001, true),    // U: 1
    s(0, 4, 2002, true),    // U: 1
    s(0, 4, 2001, true),    // U: 2
    s(0, 4, 2002, false),   // U: 2
    // V: the hashlimit before the count spends one token per packet, matched or not
    s(0, 5, 2003, true),  // token 1; V: 1 time
    s(0, 5, 2003, false), // token 2; V: 2
    s(0, 5, 2003, false), // token 3
    s(0, 5, 2003, true),  // no token left: the rule does not match
    s(0, 5, 2003, true),  // nor here
    // N: `! --rcheck` with counts 2 (2005) and 3 (2006) drop while there are fewer times
    s(0, 6, 2005, false),    // no entry
    s(0, 6, 2006, false),    // no entry
    s(0, 6, 2004, true),     // N: 1 time (slot 1)
    s(0, 6, 2005, false),    // one is fewer than 2
    s(0, 6, 2004, true),     // N: 2 (slot 2)
    s(0, 6, 2005, true),     // two: the count holds, so the negation does not
    s(0, 6, 2006, false),    // two are fewer than 3
    s(0, 7, 2005, false),    // another source has no entry
    s(0, 6, 2004, true),     // N: 3 (slot 3)
    s(0, 6, 2006, true),     // three
    s(0, 6, 2004, true),     // N: 4 (slot 1 again: the position wrapped)
    s(0, 6, 2005, true),     // the last two are in slots 3 and 1
    s(0, 6, 2006, true),     // three
    s(2300, 6, 2005, false), // every time is older than 2 s
    s(0, 6, 2006, false),    // and for the count of 3
    s(0, 6, 2004, true),     // N: 1 (back at position 1)
    s(0, 6, 2005, false),    // one
];

/// The steps whose verdicts differ, for the failure message.
fn differences(a: &[bool], b: &[bool]) -> Vec<usize> {
    (0..a.len().min(b.len()))
        .filter(|&i| a[i] != b[i])
        .collect()
}

#[test]
fn recent_hitcount_verdicts_equal_legacy_xt_recent() {
    if privileged("recent_hitcount_verdicts_equal_legacy_xt_recent") {
        legacy_then_fwnet(false);
    }
}

/// The same rules and steps over IPv6 (ip6tables-legacy against fwnet's ip6 table): the slot
/// and pointer sets keyed by an IPv6 address give the verdicts xt_recent gives.
#[test]
fn recent_hitcount_verdicts_equal_legacy_xt_recent_over_ipv6() {
    if privileged("recent_hitcount_verdicts_equal_legacy_xt_recent_over_ipv6") {
        legacy_then_fwnet(true);
    }
}

/// [`STEPS`] under the legacy kernel (which must give the written verdicts), then under
/// fwnet's translation of [`RULES`] (which must give the legacy kernel's), over IPv4 or IPv6.
fn legacy_then_fwnet(v6: bool) {
    let (tag, restore) = if v6 {
        ("hitcount6", "ip6tables-legacy-restore")
    } else {
        ("hitcount", "iptables-legacy-restore")
    };
    let (legacy, ours, _) = legacy_and_fwnet(tag, RULES, v6, |ns| {
        if v6 {
            add_ipv6_loopbacks(ns, STEPS);
        }
    });
    let want: Vec<bool> = STEPS.iter().map(|st| st.passes).collect();
    let got_legacy = run_steps(&legacy, STEPS, v6);
    assert_eq!(
        got_legacy,
        want,
        "the legacy kernel disagrees with the test's expectations at steps {:?}",
        differences(&got_legacy, &want)
    );
    let got_fwnet = run_steps(&ours, STEPS, v6);
    assert_eq!(
        got_fwnet,
        got_legacy,
        "fwnet's verdicts differ from {restore}'s xt_recent at steps {:?}",
        differences(&got_fwnet, &got_legacy)
    );
}

/// `fwnet import --inet` of the counted-list fixtures of both families: the slot, pointer and
/// recording chains of the two families sit in one inet table, and the kernel holds what
/// `nft -f` of `fwnet show` gives it.
#[test]
fn inet_hitcount_applies_as_nft_loads_its_text() {
    if !privileged("inet_hitcount_applies_as_nft_loads_its_text") {
        return;
    }
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../translate/test_data/translate/ok");
    let (a, b, shown) = crate::tproxy::inet_apply_and_nft(
        &dir.join("recent-hitcount-update-before-set.rules"),
        &dir.join("v6-recent-hitcount-rdest.rules"),
        "inet-hitcount",
    );
    for chain in ["chain recent_ssh_stamp_ip {", "chain recent_MX_stamp_ip6 {"] {
        assert!(shown.contains(chain), "no `{chain}` in\n{shown}");
    }
    assert!(shown.contains("table inet fwnet_filter"), "{shown}");
    assert_eq!(a, b, "--- show:\n{shown}");
}
