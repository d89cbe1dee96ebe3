//! The founding ruleset, packet by packet: legacy iptables and the translation under test must
//! give every probe the same verdict.
//!
//! Two fresh [`Pair`]s: server A loads `shared/seed/centos6-web.rules` with
//! `iptables-legacy-restore` (the oracle), server B gets the translation under test through
//! [`apply_translation`]. The same probe list ([`founding_probes`]) is played in the same order on
//! both, so conntrack and hashlimit state evolve alike; every verdict must agree between A and B
//! and match what `shared/seed/README.md` says the ruleset does.
//!
//! Server B gets `fwnet import && fwnet apply` ([`apply_with_fwnet`]). The harness itself is
//! kept honest by [`broken_translations_are_caught`]: deliberately wrong variants of a correct
//! hand translation ([`HAND_TRANSLATION`], loaded with `nft -f`) must each produce mismatches.
//! This file does not test the translator's text output; only the kernel's verdicts.

use std::path::{Path, PathBuf};
use std::time::Instant;

use crate::netns::{self, Netns, Pair, CLIENT, CLIENT_EXTRA, SERVER};
use crate::observe::Verdict::{self, Accepted, Dropped};
use crate::probe::{
    self, Origin, Packet, Probe, Step, ACK, ALL, FIN, ICMP_DEST_UNREACHABLE, ICMP_TIMESTAMP, RST,
    SYN,
};

/// The seed ruleset, found from the package that owns the integration binary (`crates/fwnet`).
fn seed_rules() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/seed/centos6-web.rules")
}

/// A faithful hand translation of `centos6-web.rules`, the base of the broken variants.
/// hashlimit `--hashlimit-mode srcip` becomes a dynamic set keyed by source address whose
/// elements carry a limit and expire after `--hashlimit-htable-expire` idle ms (`update`
/// refreshes the timeout on every packet, as hashlimit refreshes its entry).
pub const HAND_TRANSLATION: &str = r#"
table ip fwnet_filter {
    set t_icmp {
        type ipv4_addr; size 65535; flags dynamic,timeout; timeout 120000ms;
    }
    set t_sshd {
        type ipv4_addr; size 65535; flags dynamic,timeout; timeout 120000ms;
    }
    chain INPUT {
        type filter hook input priority 0; policy drop;
        iifname "lo" accept
        tcp flags & (fin | syn | rst | psh | ack | urg) == 0x0 drop
        tcp flags & (fin | syn | rst | ack) != syn ct state new drop
        tcp flags & (fin | syn | rst | psh | ack | urg) == fin | syn | rst | psh | ack | urg drop
        icmp type echo-request update @t_icmp { ip saddr limit rate 1/minute burst 10 packets } accept
        meta l4proto tcp ct state established,related accept
        udp sport 53 accept
        tcp flags & (fin | syn | rst | ack) == syn ct state new tcp dport 22 update @t_sshd { ip saddr limit rate 1/minute burst 10 packets } accept
        tcp dport 80 accept
        tcp dport 443 accept
    }
    chain FORWARD {
        type filter hook forward priority 0; policy drop;
    }
    chain OUTPUT {
        type filter hook output priority 0; policy accept;
    }
}
"#;

/// How server B gets the ruleset under test.
enum Translation<'a> {
    /// `fwnet import && fwnet apply`.
    Fwnet,
    /// An nft text loaded with `nft -f` (the harness self-test).
    Nft(&'a str),
}

fn apply_translation(server: &Netns, rules: &Path, how: &Translation) -> Result<(), String> {
    match how {
        Translation::Fwnet => apply_with_fwnet(env!("CARGO_BIN_EXE_fwnet"), server, rules),
        Translation::Nft(text) => server.exec_stdin("nft", &["-f", "-"], text).map(drop),
    }
}

/// `fwnet import RULES --state-dir D && fwnet apply --state-dir D`, inside `server`.
pub fn apply_with_fwnet(fwnet: &str, server: &Netns, rules: &Path) -> Result<(), String> {
    let state = std::env::temp_dir().join(format!("fwt-state-{}", server.name()));
    let _ = std::fs::remove_dir_all(&state);
    std::fs::create_dir_all(&state).map_err(|e| format!("create {}: {e}", state.display()))?;
    let (rules, dir) = (rules.to_string_lossy(), state.to_string_lossy());
    let result = server
        .exec(fwnet, &["import", &rules, "--state-dir", &dir])
        .and_then(|_| server.exec(fwnet, &["apply", "--state-dir", &dir]));
    let _ = std::fs::remove_dir_all(&state);
    result.map(drop)
}

/// The probe list, in playing order. `tcp_loose` is the server's
/// `net.netfilter.nf_conntrack_tcp_loose`: it decides whether a lone ACK is NEW or INVALID.
fn founding_probes(tcp_loose: bool) -> Vec<Probe> {
    let [source3, source4] = CLIENT_EXTRA;
    let mut probes = Vec::new();
    let mut crafted = |name: String, from: Origin, packet: Packet, expect: Verdict| {
        probes.push(Probe {
            name,
            step: Step::Crafted { from, packet },
            expect: Some(expect),
        });
    };
    // Rule 2: the server talking to itself arrives on lo.
    crafted(
        "lo: server pings itself".into(),
        Origin::Server,
        Packet::echo_request(SERVER, SERVER, 1),
        Accepted,
    );
    // Rule 2 again, with a packet no later rule accepts: only `iif lo` lets it in.
    crafted(
        "lo: server UDP to itself".into(),
        Origin::Server,
        Packet::udp(SERVER, 40000, 9),
        Accepted,
    );
    // Rule 6: a token bucket of 10 per source; nothing refills within the test (1/minute).
    for n in 1..=15 {
        let expect = if n <= 10 { Accepted } else { Dropped };
        crafted(
            format!("ping from .2 #{n:02}"),
            Origin::Client,
            Packet::echo_request(CLIENT, SERVER, n),
            expect,
        );
    }
    for n in 1..=3 {
        crafted(
            format!("ping from .3 #{n} (own bucket)"),
            Origin::Client,
            Packet::echo_request(source3, SERVER, n),
            Accepted,
        );
    }
    // Rule 9: the same bucket shape for new SSH connections; distinct source ports, so each SYN
    // is a NEW conntrack entry.
    for n in 1..=12u16 {
        let expect = if n <= 10 { Accepted } else { Dropped };
        crafted(
            format!("ssh SYN from .2 #{n:02}"),
            Origin::Client,
            Packet::tcp(CLIENT, 41000 + n, 22, SYN),
            expect,
        );
    }
    crafted(
        "ssh SYN from .3 (own bucket)".into(),
        Origin::Client,
        Packet::tcp(source3, 41100, 22, SYN),
        Accepted,
    );
    // Rules 3 and 5: scans.
    crafted(
        "null scan -> 80".into(),
        Origin::Client,
        Packet::tcp(CLIENT, 42001, 80, 0),
        Dropped,
    );
    crafted(
        "xmas scan (ALL) -> 80".into(),
        Origin::Client,
        Packet::tcp(CLIENT, 42002, 80, ALL),
        Dropped,
    );
    // Rule 4. A lone ACK with no connection: with nf_conntrack_tcp_loose=1 (the kernel default)
    // conntrack picks it up as a NEW connection, so rule 4 drops it even to port 80; with
    // tcp_loose=0 it is INVALID, rule 4 does not apply and port 80 accepts it (rule 10).
    crafted(
        "ACK alone -> 22 (NEW or INVALID)".into(),
        Origin::Client,
        Packet::tcp(CLIENT, 42003, 22, ACK),
        Dropped,
    );
    let ack_80 = if tcp_loose { Dropped } else { Accepted };
    crafted(
        "ACK alone -> 80".into(),
        Origin::Client,
        Packet::tcp(CLIENT, 42004, 80, ACK),
        ack_80,
    );
    // The README's oddities: conntrack finds these INVALID (FIN, RST and SYN+ACK cannot open a
    // connection; SYN+FIN is an invalid flag combination), so rule 4 skips them and rule 10
    // accepts them on port 80.
    for (n, (what, flags)) in [
        ("FIN", FIN),
        ("RST", RST),
        ("SYN+ACK", SYN | ACK),
        ("SYN+FIN", SYN | FIN),
    ]
    .into_iter()
    .enumerate()
    {
        crafted(
            format!("{what} -> 80 (INVALID)"),
            Origin::Client,
            Packet::tcp(CLIENT, 42005 + n as u16, 80, flags),
            Accepted,
        );
    }
    // Rule 10 and the policy.
    crafted(
        "SYN -> 80".into(),
        Origin::Client,
        Packet::tcp(CLIENT, 42010, 80, SYN),
        Accepted,
    );
    crafted(
        "SYN -> 443".into(),
        Origin::Client,
        Packet::tcp(CLIENT, 42011, 443, SYN),
        Accepted,
    );
    crafted(
        "SYN -> 8080".into(),
        Origin::Client,
        Packet::tcp(CLIENT, 42012, 8080, SYN),
        Dropped,
    );
    // Rule 8: UDP replies from port 53 only.
    crafted(
        "UDP sport 53".into(),
        Origin::Client,
        Packet::udp(CLIENT, 53, 33333),
        Accepted,
    );
    crafted(
        "UDP sport 54".into(),
        Origin::Client,
        Packet::udp(CLIENT, 54, 33334),
        Dropped,
    );
    // ICMP other than echo-request falls to the policy, errors included.
    let unreachable = Packet::icmp(CLIENT, ICMP_DEST_UNREACHABLE, 3);
    crafted(
        "ICMP port unreachable".into(),
        Origin::Client,
        unreachable,
        Dropped,
    );
    crafted(
        "ICMP timestamp request".into(),
        Origin::Client,
        Packet::icmp(CLIENT, ICMP_TIMESTAMP, 0),
        Dropped,
    );
    // Real connections: after the SYN, everything rides on rule 7 (ESTABLISHED). To 22 from .4,
    // whose SSH bucket is untouched; to 8080 nothing gets through.
    let connects = [
        ("connect .2 -> 80 + data", CLIENT, 45080, 80, Accepted),
        (
            "connect .4 -> 22 + data (ESTABLISHED)",
            source4,
            45022,
            22,
            Accepted,
        ),
        ("connect .2 -> 8080", CLIENT, 45808, 8080, Dropped),
    ];
    for (name, src, sport, dport, expect) in connects {
        probes.push(Probe {
            name: name.into(),
            step: Step::Connect { src, sport, dport },
            expect: Some(expect),
        });
    }
    probes
}

/// Conntrack must exist in the server namespace once the ruleset is loaded; returns tcp_loose.
fn conntrack_tcp_loose(server: &Netns) -> bool {
    match server.sysctl_read("net/netfilter/nf_conntrack_tcp_loose") {
        Ok(value) => value == "1",
        Err(e) => panic!(
            "no conntrack in {} after loading the ruleset: {e}",
            server.name()
        ),
    }
}

#[test]
fn founding_ruleset_verdicts_match_legacy() {
    let failures = founding_verdicts(
        "founding_ruleset_verdicts_match_legacy",
        None,
        &Translation::Fwnet,
    );
    assert!(
        failures.is_empty(),
        "{} failure(s):\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// The comparison can fail: each deliberately broken translation of the founding ruleset is
/// caught by at least one probe (and the correct hand translation passes).
#[test]
fn broken_translations_are_caught() {
    let test = "broken_translations_are_caught";
    if !netns::privileged(test) {
        return;
    }
    let per_source = "update @t_icmp { ip saddr limit rate 1/minute burst 10 packets }";
    let variants: [(&str, String); 5] = [
        ("the correct hand translation", HAND_TRANSLATION.to_string()),
        (
            "a global instead of a per-source limit",
            HAND_TRANSLATION.replace(per_source, "limit rate 1/minute burst 10 packets"),
        ),
        (
            "burst 5 instead of 10",
            HAND_TRANSLATION.replace("burst 10", "burst 5"),
        ),
        (
            "a missing ct state new",
            HAND_TRANSLATION.replace("!= syn ct state new drop", "!= syn drop"),
        ),
        (
            "a dropped iif lo",
            HAND_TRANSLATION.replace("iifname \"lo\" accept", ""),
        ),
    ];
    for (i, (what, text)) in variants.iter().enumerate() {
        assert_ne!(
            i > 0 && *text == HAND_TRANSLATION,
            true,
            "variant {what} changed nothing"
        );
        let failures = founding_verdicts(test, None, &Translation::Nft(text));
        if i == 0 {
            assert!(failures.is_empty(), "{what}: {}", failures.join("\n"));
        } else {
            assert!(!failures.is_empty(), "{what} was not caught by any probe");
        }
    }
}

/// With `nf_conntrack_tcp_loose=0` a lone ACK is INVALID instead of NEW, so port 80 takes it:
/// the translation must follow the kernel setting exactly as legacy does.
#[test]
fn founding_ruleset_verdicts_match_legacy_with_tcp_loose_off() {
    let test = "founding_ruleset_verdicts_match_legacy_with_tcp_loose_off";
    let failures = founding_verdicts(test, Some(false), &Translation::Fwnet);
    assert!(
        failures.is_empty(),
        "{} failure(s):\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// Loads both servers, optionally sets tcp_loose in both, plays the probes and compares;
/// returns the failures (verdicts that differ, or that contradict the seed README).
fn founding_verdicts(test: &str, tcp_loose: Option<bool>, how: &Translation) -> Vec<String> {
    if !netns::privileged(test) {
        return Vec::new();
    }
    let started = Instant::now();
    let rules_path = seed_rules();
    let rules = std::fs::read_to_string(&rules_path)
        .unwrap_or_else(|e| panic!("read {}: {e}", rules_path.display()));

    let legacy = Pair::new("legacy").unwrap_or_else(|e| panic!("{e}"));
    legacy
        .server
        .exec_stdin("iptables-legacy-restore", &[], &rules)
        .unwrap_or_else(|e| panic!("{e}"));
    let translation = Pair::new("xlat").unwrap_or_else(|e| panic!("{e}"));
    apply_translation(&translation.server, &rules_path, how).unwrap_or_else(|e| panic!("{e}"));

    if let Some(loose) = tcp_loose {
        for server in [&legacy.server, &translation.server] {
            let value = if loose { "1" } else { "0" };
            server
                .sysctl_write("net/netfilter/nf_conntrack_tcp_loose", value)
                .unwrap_or_else(|e| panic!("{e}"));
        }
    }
    let loose = conntrack_tcp_loose(&legacy.server);
    assert_eq!(
        loose,
        conntrack_tcp_loose(&translation.server),
        "tcp_loose differs between the namespaces"
    );
    let probes = founding_probes(loose);
    let setup = started.elapsed();

    let a = probe::run(&legacy, &probes).unwrap_or_else(|e| panic!("legacy run: {e}"));
    let b = probe::run(&translation, &probes).unwrap_or_else(|e| panic!("translation run: {e}"));
    let (table, failures) = probe::compare(&probes, "legacy", &a, "translation", &b);
    eprintln!(
        "{test}: {} probes, nf_conntrack_tcp_loose={}, setup {:?}, total {:?}\n{table}",
        probes.len(),
        u8::from(loose),
        setup,
        started.elapsed()
    );
    failures
}
