//! The optimizer against the real kernel: runs of rules compiled into set lookups keep every
//! verdict (`fwnet verify` against the legacy kernel), and what fwnet programs for them equals
//! what `nft -f` makes of `fwnet show`.
//!
//! The inputs are generated: a 2,000-address blocklist broken into runs by accept rules, one
//! of which accepts an address that a later run drops, so merging across a break would change
//! that address's verdict and `fwnet verify` would see it. The merge rules themselves are
//! unit-tested in `fwnet_nft::optimize`.

use crate::apply::{fwnet, fwnet_in, kernel_dump, scratch, text, StateDir};
use crate::netns::{privileged, Netns};

const FWNET: &str = env!("CARGO_BIN_EXE_fwnet");

/// 2,000 blocked addresses in four runs; between runs, an accept of an address the next run
/// blocks and an accept of a port; then overlapping and adjacent prefixes.
fn blocklist_with_breaks() -> String {
    let mut s =
        String::from("*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n");
    for i in 0..2000u32 {
        if i % 500 == 0 && i > 0 {
            let next = i + 3;
            s.push_str(&format!(
                "-A INPUT -s 11.0.{}.{}/32 -j ACCEPT\n-A INPUT -p tcp -m tcp --dport {} -j ACCEPT\n",
                next >> 8,
                next & 255,
                8000 + i / 500
            ));
        }
        s.push_str(&format!(
            "-A INPUT -s 11.0.{}.{}/32 -j DROP\n",
            i >> 8,
            i & 255
        ));
    }
    s.push_str("-A INPUT -s 12.0.0.0/16 -j DROP\n-A INPUT -s 12.0.0.0/24 -j DROP\n-A INPUT -s 12.1.0.0/16 -j DROP\n");
    s.push_str("COMMIT\n");
    s
}

/// The same shape over IPv6: single addresses and prefixes.
fn blocklist_v6() -> String {
    let mut s =
        String::from("*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n");
    for i in 0..300u32 {
        s.push_str(&format!("-A INPUT -s 2001:db8::{i:x}/128 -j DROP\n"));
    }
    s.push_str("-A INPUT -p tcp -m tcp --dport 22 -j ACCEPT\n");
    s.push_str("-A INPUT -s 2001:db8:1::/48 -j DROP\n-A INPUT -s 2001:db8:1:2::/64 -j DROP\n-A INPUT -s 2001:db8:2::/48 -j DROP\n");
    s.push_str("COMMIT\n");
    s
}

/// Services of two protocols interleaved: TCP 80 moves up past UDP 53 to join TCP 22, UDP 514
/// past two other UDP ports to join 53; TCP 443 must stay below the reject of 10.9.0.0/16,
/// which its packets can match too.
const SERVICES: &str = "*filter
:INPUT DROP [0:0]
:FORWARD DROP [0:0]
:OUTPUT ACCEPT [0:0]
-A INPUT -p tcp -m tcp --dport 22 -j ACCEPT
-A INPUT -p udp -m udp --dport 53 -j ACCEPT
-A INPUT -p tcp -m tcp --dport 80 -j ACCEPT
-A INPUT -s 10.9.0.0/16 -p tcp -j REJECT --reject-with tcp-reset
-A INPUT -p tcp -m tcp --dport 443 -j ACCEPT
-A INPUT -i eth1 -p udp -m udp --dport 123 -j ACCEPT
-A INPUT -p udp -m udp --dport 161 -j DROP
-A INPUT -p udp -m udp --dport 514 -j ACCEPT
COMMIT
";

/// Rule lines of `fwnet show`.
fn shown_rules(state: &StateDir) -> Vec<String> {
    let o = fwnet(&["show", "--state-dir", state.arg()]);
    assert!(o.status.success(), "{}", text(&o));
    String::from_utf8_lossy(&o.stdout)
        .lines()
        .filter(|l| l.starts_with("\t\t"))
        .map(str::to_string)
        .collect()
}

#[test]
fn blocklist_runs_become_set_lookups_and_show_names_every_line() {
    let rules = scratch("blocklist.rules", &blocklist_with_breaks());
    let file = rules.to_str().expect("utf-8 temp path");
    let (opt, plain) = (StateDir::new("opt"), StateDir::new("noopt"));
    let o = fwnet(&["import", "--state-dir", opt.arg(), file]);
    assert!(o.status.success(), "{}", text(&o));
    let o = fwnet(&["import", "--no-optimize", "--state-dir", plain.arg(), file]);
    assert!(o.status.success(), "{}", text(&o));
    // Four runs (the prefixes join the last one), three accept pairs between them.
    let merged = shown_rules(&opt);
    assert_eq!(merged.len(), 4 + 3 * 2, "{merged:#?}");
    assert_eq!(shown_rules(&plain).len(), 2000 + 3 * 2 + 3);
    // Line 5 is the first blocked address, line 504 the last of the first run.
    assert!(
        merged[0].starts_with("\t\tip saddr { 11.0.0.0, 11.0.0.1, ")
            && merged[0].ends_with(&format!("drop # {file}:5-504")),
        "{}",
        &merged[0][merged[0].len().saturating_sub(120)..]
    );
    assert!(
        merged[9].contains(", 12.0.0.0/16, 12.0.0.0/24, 12.1.0.0/16 } counter")
            && merged[9].ends_with(&format!("drop # {file}:1511-2013")),
        "{}",
        &merged[9][merged[9].len().saturating_sub(120)..]
    );
}

#[test]
fn interleaved_services_merge_and_verify_against_the_legacy_kernel() {
    let rules = scratch("services.rules", SERVICES);
    let file = rules.to_str().expect("utf-8 temp path");
    let state = StateDir::new("services");
    let o = fwnet(&["import", "--state-dir", state.arg(), file]);
    assert!(o.status.success(), "{}", text(&o));
    // No fragment guard (`fragments::guard_transport_tests`): INPUT sees only whole datagrams.
    let shown: Vec<String> = shown_rules(&state)
        .iter()
        .map(|l| l.trim().replace(" counter packets 0 bytes 0", ""))
        .collect();
    let want = [
        format!("ip protocol tcp tcp dport {{ 22, 80 }} accept # {file}:5,7"),
        format!("ip protocol udp udp dport {{ 53, 514 }} accept # {file}:6,12"),
        format!("ip saddr 10.9.0.0/16 ip protocol tcp reject with tcp reset # {file}:8"),
        format!("ip protocol tcp tcp dport 443 accept # {file}:9"),
        format!("ip protocol udp udp dport 123 iifname \"eth1\" accept # {file}:10"),
        format!("ip protocol udp udp dport 161 drop # {file}:11"),
    ];
    assert_eq!(shown, want);
    if !privileged("interleaved_services_merge_and_verify_against_the_legacy_kernel") {
        return;
    }
    assert_verifies(&rules);
}

#[test]
fn optimized_blocklist_verifies_against_the_legacy_kernel() {
    if !privileged("optimized_blocklist_verifies_against_the_legacy_kernel") {
        return;
    }
    let rules = scratch("verify-blocklist.rules", &blocklist_with_breaks());
    assert_verifies(&rules);
}

/// `fwnet verify FILE` exits 0 and reports no mismatch.
/// Imports `rules` into `state`, which must succeed and say `said`.
fn import_saying(rules: &std::path::Path, state: &StateDir, said: &str) {
    let o = fwnet(&[
        "import",
        "--state-dir",
        state.arg(),
        rules.to_str().expect("utf-8 temp path"),
    ]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains(said), "want `{said}`: {}", text(&o));
}

fn assert_verifies(rules: &std::path::Path) {
    let out = std::process::Command::new(FWNET)
        .args(["verify", rules.to_str().expect("utf-8 temp path")])
        .output()
        .expect("run fwnet verify");
    let report = text(&out);
    assert_eq!(out.status.code(), Some(0), "{report}");
    assert!(report.contains(" 0 mismatch"), "{report}");
}

#[test]
fn optimized_apply_equals_nft_of_show() {
    if !privileged("optimized_apply_equals_nft_of_show") {
        return;
    }
    for (name, rules, family) in [
        ("v4", blocklist_with_breaks(), "4"),
        ("v6", blocklist_v6(), "6"),
    ] {
        let path = scratch(&format!("eq-{name}.rules"), &rules);
        let state = StateDir::new(&format!("opt-eq-{name}"));
        let o = fwnet(&[
            "import",
            "--family",
            family,
            "--state-dir",
            state.arg(),
            path.to_str().expect("utf-8 temp path"),
        ]);
        assert!(o.status.success(), "{}", text(&o));
        let o = fwnet(&["show", "--state-dir", state.arg()]);
        let shown = String::from_utf8_lossy(&o.stdout).into_owned();
        assert!(shown.contains("saddr {"), "{name}: nothing was merged");
        let ours = Netns::new(&format!("opt-{name}-fw")).expect("namespace");
        let theirs = Netns::new(&format!("opt-{name}-nft")).expect("namespace");
        let o = fwnet_in(&ours, &["apply", "--state-dir", state.arg()], None);
        assert!(o.status.success(), "{}", text(&o));
        theirs
            .exec_stdin("nft", &["-f", "-"], &shown)
            .expect("nft -f of fwnet show output");
        let (a, b) = (kernel_dump(&ours), kernel_dump(&theirs));
        assert!(
            a == b,
            "{name}: fwnet apply and nft -f of `fwnet show` differ"
        );
    }
}

/// 120 rules over tcp, udp and icmp with protocol-less address rules between them, where the
/// order decides: an address dropped early is accepted by a later port rule, and a port rule
/// accepts what a later address rule drops.
fn mixed_protocols() -> String {
    let mut s = String::from("*filter\n:INPUT DROP [0:0]\n:OUTPUT ACCEPT [0:0]\n");
    s.push_str("-A INPUT -m state --state ESTABLISHED,RELATED -j ACCEPT\n");
    for i in 0..120u32 {
        let (a, port) = (i % 9, 1000 + i);
        let line = match i % 10 {
            0 | 1 => format!("-A INPUT -p tcp --dport {port} -j ACCEPT"),
            2 => format!("-A INPUT -p udp --dport {port} -j ACCEPT"),
            3 => format!("-A INPUT -p icmp --icmp-type {} -j ACCEPT", i % 17),
            4 => format!("-A INPUT -s 10.20.{a}.0/24 -j DROP"),
            5 => format!("-A INPUT -p tcp -s 10.20.{a}.0/24 --dport {port} -j ACCEPT"),
            6 => format!("-A INPUT -p tcp --sport 1024:65535 --dport {port} -j REJECT"),
            7 => format!(
                "-A INPUT -p udp ! --sport 53 -m multiport --dports {port},{},{} -j ACCEPT",
                port + 2,
                port + 5
            ),
            8 => format!("-A INPUT -p tcp --syn --dport {port} -j ACCEPT"),
            _ => format!("-A INPUT -p tcp --dport {port} -j REJECT --reject-with tcp-reset"),
        };
        s.push_str(&line);
        s.push('\n');
    }
    s.push_str("COMMIT\n");
    s
}

/// A long chain of TCP, UDP, ICMP and address rules is split by protocol. In the TCP and UDP
/// chains, rules that need the protocol only for their ports read them as `th` ports without a
/// protocol test of their own; a SYN test and `reject with tcp reset` keep theirs. The kernel
/// holds what `nft -f` makes of `fwnet show`, and every probe gets the legacy kernel's verdict.
#[test]
fn a_chain_split_by_protocol_verifies_against_the_legacy_kernel() {
    if !privileged("a_chain_split_by_protocol_verifies_against_the_legacy_kernel") {
        return;
    }
    let rules = scratch("split.rules", &mixed_protocols());
    let state = StateDir::new("split");
    import_saying(&rules, &state, "dispatched: 1 long chain");
    let shown = shown_rules(&state);
    assert!(
        shown.iter().any(|r| r.contains("goto INPUT_tcp")),
        "{shown:#?}"
    );
    let line_of = |n: u32| {
        shown
            .iter()
            .filter(|r| r.ends_with(&format!(":{n}")) || r.contains(&format!(":{n}-")))
            .cloned()
            .collect::<Vec<_>>()
    };
    // Input lines 5, 11, 12, 13, 14: the 1st, 7th, 8th, 9th and 10th rules of the loop.
    let plain = line_of(5);
    let ranged = line_of(11);
    let listed = line_of(12);
    let syn = line_of(13);
    let reset = line_of(14);
    for (what, got, want) in [
        (
            "a port (merged with the next)",
            &plain,
            "th dport { 1000, 1001 } ",
        ),
        (
            "a port range",
            &ranged,
            "th sport 1024-65535 th dport 1006 ",
        ),
        (
            "a port list",
            &listed,
            "th sport != 53 th dport { 1007, 1009, 1012 } ",
        ),
        ("a SYN test", &syn, "ip protocol tcp tcp flags "),
        ("a TCP reset", &reset, "ip protocol tcp tcp dport 1009 "),
    ] {
        assert!(
            got.len() == 1 && got[0].contains(want),
            "{what}: want `{want}` in {got:#?}"
        );
    }
    assert!(!plain[0].contains("ip protocol"), "{plain:#?}");
    crate::apply::assert_apply_equals_nft(&rules, "split");
    assert_verifies(&rules);
}

/// fail2ban-style jumps by port, then address rules with different verdicts, among them
/// adjacent prefixes (the interval map must keep each its own verdict) and an overlapping
/// prefix (a run stops before a value that shares a point with it).
const DISPATCH: &str = "*filter
:INPUT DROP [0:0]
:FORWARD DROP [0:0]
:OUTPUT ACCEPT [0:0]
:f2b-sshd - [0:0]
:f2b-web - [0:0]
:f2b-mail - [0:0]
-A INPUT -m state --state RELATED,ESTABLISHED -j ACCEPT
-A INPUT -p tcp -m multiport --dports 22 -j f2b-sshd
-A INPUT -p tcp -m multiport --dports 80,443 -j f2b-web
-A INPUT -p tcp -m multiport --dports 25,587 -j f2b-mail
-A INPUT -p tcp -m tcp --dport 8000:8080 -j DROP
-A INPUT -p tcp -m tcp --dport 3306 -j ACCEPT
-A INPUT -s 192.168.0.0/24 -j ACCEPT
-A INPUT -s 192.168.1.0/24 -j DROP
-A INPUT -s 192.168.2.0/23 -j f2b-web
-A INPUT -s 192.168.4.1/32 -j f2b-sshd
-A INPUT -s 192.168.4.2/32 -j ACCEPT
-A INPUT -s 192.168.0.0/16 -j DROP
-A INPUT -s 10.0.0.0/8 -j ACCEPT
-A INPUT -p udp -m udp --dport 53 -j ACCEPT
-A f2b-sshd -s 1.2.3.4/32 -j ACCEPT
-A f2b-sshd -s 192.168.4.1/32 -j ACCEPT
-A f2b-sshd -j RETURN
-A f2b-web -s 5.6.7.8/32 -j ACCEPT
-A f2b-web -s 192.168.3.9/32 -p tcp -j REJECT --reject-with tcp-reset
-A f2b-web -j RETURN
-A f2b-mail -s 9.9.9.9/32 -j ACCEPT
-A f2b-mail -j RETURN
COMMIT
";

/// Runs of rules that differ in one value and their verdict become one rule each: a counted
/// set test of every value, then a verdict map (`vmap`) of each value to its line's verdict,
/// jumps included. The kernel holds what `nft -f` makes of `fwnet show`, status reads it back
/// without drift, and every probe gets the legacy kernel's verdict.
#[test]
fn runs_with_different_verdicts_become_verdict_maps_that_verify_against_legacy() {
    let test = "runs_with_different_verdicts_become_verdict_maps_that_verify_against_legacy";
    if !privileged(test) {
        return;
    }
    let rules = scratch("vmap.rules", DISPATCH);
    let state = StateDir::new("vmap");
    import_saying(
        &rules,
        &state,
        "2 runs with different verdicts became verdict maps",
    );
    let shown = shown_rules(&state);
    let ports = "tcp dport { 22, 25, 80, 443, 587, 3306, 8000-8080 } counter packets 0 bytes 0 \
                 tcp dport vmap { 22 : jump f2b-sshd, 25 : jump f2b-mail, 80 : jump f2b-web, \
                 443 : jump f2b-web, 587 : jump f2b-mail, 3306 : accept, 8000-8080 : drop } \
                 # ";
    // The accepts of lines 18 and 20 move up to line 14 first (nothing between shares an
    // address with them), then lines 15-17 join as entries with their own verdicts.
    let addrs = "ip saddr { 10.0.0.0/8, 192.168.0.0/24, 192.168.1.0/24, 192.168.2.0/23, \
                 192.168.4.1, 192.168.4.2 } counter packets 0 bytes 0 ip saddr vmap { \
                 10.0.0.0/8 : accept, 192.168.0.0/24 : accept, 192.168.1.0/24 : drop, \
                 192.168.2.0/23 : jump f2b-web, 192.168.4.1 : jump f2b-sshd, 192.168.4.2 : \
                 accept } # ";
    for (what, want, lines) in [
        ("ports", ports, ":9-13"),
        ("addresses", addrs, ":14,18,20,15-17"),
    ] {
        assert!(
            shown.iter().any(|r| r.contains(want) && r.ends_with(lines)),
            "{what}: want `{want}...{lines}` in {shown:#?}"
        );
    }
    // The overlapping /16 and what follows it stay rules of their own.
    assert!(
        shown.iter().any(|r| r.contains("ip saddr 192.168.0.0/16 ")),
        "{shown:#?}"
    );
    crate::apply::assert_apply_equals_nft(&rules, "vmap");
    assert_verifies(&rules);
}

/// A rule moved up too far: `FWNET_VERIFY_MUTATE=last-first` moves the last rule of each base
/// chain to its top, as a wrong optimizer would, and `fwnet verify` must play the packet the
/// two rules' order decides. In each file the earlier rule is 21 rules up (beyond the pairs
/// each rule is probed with in any case); in the second an interface name keeps the two apart
/// for some packets only; the third is a router's FORWARD chain.
#[test]
fn verify_sees_a_rule_moved_up_too_far_past_an_interface_or_in_forward() {
    let test = "verify_sees_a_rule_moved_up_too_far_past_an_interface_or_in_forward";
    if !privileged(test) {
        return;
    }
    for (name, chain, first, last, packet) in [
        (
            "far",
            "INPUT",
            "-s 10.9.0.0/16 -p tcp -j REJECT --reject-with tcp-reset",
            "-p tcp --dport 443 -j ACCEPT",
            ["tcp 10.9.0.0:", ":443 flags S"],
        ),
        (
            "iface",
            "INPUT",
            "-i eth+ -s 10.9.0.0/16 -j DROP",
            "-i eth0 -p tcp --dport 22 -j ACCEPT",
            ["tcp 10.9.0.0:", ":22 flags S iif eth0"],
        ),
        (
            "forward",
            "FORWARD",
            "-s 10.9.0.0/16 -j DROP",
            "-o eth1 -p tcp --dport 22 -j ACCEPT",
            ["tcp 10.9.0.0:", ":22 flags S forward oif eth1"],
        ),
    ] {
        let mut s = format!(
            "*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n\
             -A {chain} {first}\n"
        );
        for i in 0..20 {
            s.push_str(&format!(
                "-A {chain} -p udp --dport {} -j ACCEPT\n",
                1000 + i
            ));
        }
        s.push_str(&format!("-A {chain} {last}\nCOMMIT\n"));
        let rules = scratch(&format!("moved-{name}.rules"), &s);
        assert_verifies(&rules);
        let out = std::process::Command::new(FWNET)
            .args(["verify", rules.to_str().expect("utf-8 temp path")])
            .env("FWNET_VERIFY_MUTATE", "last-first")
            .output()
            .expect("run fwnet verify");
        let report = text(&out);
        assert_eq!(out.status.code(), Some(1), "{name}: {report}");
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            stdout.lines().any(|l| packet.iter().all(|p| l.contains(p))),
            "{name}: {stdout}"
        );
    }
}
