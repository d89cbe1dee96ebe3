//! `-j SET` on a `hash:net` ipset of single addresses against the kernel: the same datagrams
//! through legacy iptables with a real ipset (`ipset restore`, iptables-legacy-restore) and
//! through fwnet's translation (a plain dynamic nft set), each in a namespace of its own, must
//! get the same verdicts, over IPv4 and IPv6.
//!
//! The sets: `scanners`, empty, filled from the packet path (`--add-set`); `watched`, holding
//! one address, emptied from it (`--del-set`). It does not test a hash:net set holding
//! prefixes, which fwnet refuses for `--add-set` (the kernel would add prefixes).

use crate::apply::{fwnet, fwnet_in, scratch, text, StateDir};
use crate::netns::{privileged, Netns};
use crate::recent::{add_ipv6_loopbacks, run_steps, s, Step};

const RULES: &str = "*filter
:INPUT ACCEPT [0:0]
:FORWARD ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
-A OUTPUT -m set --match-set scanners src -j DROP
-A OUTPUT -p udp -m udp --dport 1023 -j SET --add-set scanners src
-A OUTPUT -p udp -m udp --dport 1001 -m set --match-set watched src -j DROP
-A OUTPUT -p udp -m udp --dport 1024 -j SET --del-set watched src
COMMIT
";

/// `ipset save` of the sets, for the family: `watched` holds source 3.
fn ipsets(v6: bool) -> String {
    let (family, watched) = if v6 {
        ("inet6", "fd00::3")
    } else {
        ("inet", "127.0.0.3")
    };
    format!(
        "create scanners hash:net family {family} hashsize 1024 maxelem 65536\n\
         create watched hash:net family {family} hashsize 1024 maxelem 65536\n\
         add watched {watched}\n"
    )
}

const STEPS: &[Step] = &[
    s(0, 2, 1, 1000, true),  // not a scanner yet
    s(0, 2, 1, 1023, true),  // the trap port: added to scanners, goes on
    s(0, 2, 1, 1000, false), // a scanner now, whatever the port
    s(0, 3, 1, 1000, true),  // another source is not
    s(0, 3, 1, 1001, false), // watched
    s(0, 4, 1, 1001, true),  // not watched
    s(0, 3, 1, 1024, true),  // removed from watched, goes on
    s(0, 3, 1, 1001, true),  // no longer watched
    s(0, 3, 1, 1023, true),  // added to scanners
    s(0, 3, 1, 1001, false), // a scanner now
];

fn same_verdicts_as_legacy(v6: bool) {
    let want: Vec<bool> = STEPS.iter().map(|st| st.passes).collect();
    let tag = if v6 { "ipset6" } else { "ipset4" };
    let restore = if v6 {
        "ip6tables-legacy-restore"
    } else {
        "iptables-legacy-restore"
    };

    let legacy = Netns::new(&format!("{tag}-legacy")).expect("namespace");
    if v6 {
        add_ipv6_loopbacks(&legacy, STEPS);
    }
    legacy
        .exec_stdin("ipset", &["restore"], &ipsets(v6))
        .expect("ipset restore");
    legacy
        .exec_stdin(restore, &[], RULES)
        .expect("iptables-legacy-restore");
    let got_legacy = run_steps(&legacy, STEPS, v6);
    assert_eq!(
        got_legacy, want,
        "the legacy kernel disagrees with the test's expectations"
    );

    let state = StateDir::new(tag);
    let rules = scratch(&format!("{tag}.rules"), RULES);
    let sets = scratch(&format!("{tag}.ipset"), &ipsets(v6));
    let mut args = vec!["import", "--state-dir", state.arg()];
    if v6 {
        args.extend(["--family", "6"]);
    }
    args.extend([rules.to_str().unwrap(), sets.to_str().unwrap()]);
    let o = fwnet(&args);
    assert!(o.status.success(), "import: {}", text(&o));
    let ours = Netns::new(&format!("{tag}-fwnet")).expect("namespace");
    if v6 {
        add_ipv6_loopbacks(&ours, STEPS);
    }
    let o = fwnet_in(&ours, &["apply", "--state-dir", state.arg()], None);
    assert!(o.status.success(), "apply: {}", text(&o));
    assert_eq!(
        run_steps(&ours, STEPS, v6),
        got_legacy,
        "fwnet's verdicts differ from legacy iptables with ipset"
    );
}

#[test]
fn hash_net_of_addresses_grows_and_shrinks_as_the_ipset_does() {
    if !privileged("hash_net_of_addresses_grows_and_shrinks_as_the_ipset_does") {
        return;
    }
    same_verdicts_as_legacy(false);
}

#[test]
fn hash_net_of_addresses_grows_and_shrinks_as_the_ipset_does_over_ipv6() {
    if !privileged("hash_net_of_addresses_grows_and_shrinks_as_the_ipset_does_over_ipv6") {
        return;
    }
    same_verdicts_as_legacy(true);
}
