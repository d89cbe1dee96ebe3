//! The founding ruleset, packet by packet, through the product's verifier: legacy iptables and
//! fwnet's translation must give every probe the same verdict, and the verdicts must be what
//! `shared/seed/README.md` says the ruleset does.
//!
//! [`FOUNDING_PROBES`] is a `--probes` file (one probe per line, the expected legacy verdict in
//! the trailing comment); [`founding`] runs `fwnet_apply::verify::verify` with those probes and
//! the derived ones. Verification itself is kept honest by [`broken_translations_are_caught`]:
//! each deliberately broken translation ([`Mutation`]) must produce a mismatch naming the rule
//! it broke. This file does not test the translator's text output; only the kernel's verdicts.

use std::path::{Path, PathBuf};

use crate::netns;
use fwnet_apply::verify::{self as v, Mutation, Report, Verdict};
use fwnet_translate::{Input, IpFamily};

/// The seed ruleset, found from the package that owns the integration binary (`crates/fwnet`).
pub fn seed_rules() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/seed/centos6-web.rules")
}

/// The founding probes, in playing order, each with the verdict legacy must give it
/// (`loose` marks the one that depends on nf_conntrack_tcp_loose: drop when 1, accept when 0).
pub const FOUNDING_PROBES: &str = "\
# rule 2: the server talking to itself arrives on lo; the UDP one only rule 2 accepts
icmp 10.77.0.1 -> 10.77.0.1 type 8 iif lo        # accept
udp 10.77.0.1:40000 -> 10.77.0.1:9 iif lo         # accept
# rule 6: a token bucket of 10 per source; nothing refills within the test (1/minute)
icmp 10.77.0.2 -> 10.77.0.1 type 8 x 15           # accept 10/15
icmp 10.77.0.3 -> 10.77.0.1 type 8 x 3            # accept
# rule 9: the same for new SSH connections (each SYN its own source port)
tcp 10.77.0.2:41001 -> 22 flags S x 12            # accept 10/12
tcp 10.77.0.3:41100 -> 22 flags S                 # accept
# rules 3 and 5: scans
tcp 10.77.0.2:42001 -> 80 flags none              # drop
tcp 10.77.0.2:42002 -> 80 flags FSRPAU            # drop
# rule 4: a lone ACK is NEW with tcp_loose=1 (dropped), INVALID with 0 (port 80 takes it)
tcp 10.77.0.2:42003 -> 22 flags A                 # drop
tcp 10.77.0.2:42004 -> 80 flags A                 # loose
# the README's oddities: INVALID, so rule 4 skips them and rule 10 accepts them on port 80
tcp 10.77.0.2:42005 -> 80 flags F                 # accept
tcp 10.77.0.2:42006 -> 80 flags R                 # accept
tcp 10.77.0.2:42007 -> 80 flags SA                # accept
tcp 10.77.0.2:42008 -> 80 flags FS                # accept
# rule 10 and the policy
tcp 10.77.0.2:42010 -> 80 flags S                 # accept
tcp 10.77.0.2:42011 -> 443 flags S                # accept
tcp 10.77.0.2:42012 -> 8080 flags S               # drop
# rule 8: UDP replies from port 53 only
udp 10.77.0.2:53 -> 33333                         # accept
udp 10.77.0.2:54 -> 33334                         # drop
# ICMP other than echo-request falls to the policy, errors included
icmp 10.77.0.2 -> 10.77.0.1 type 3 code 3         # drop
icmp 10.77.0.2 -> 10.77.0.1 type 13               # drop
# real connections: after the SYN everything rides on rule 7 (ESTABLISHED)
connect 10.77.0.2:45080 -> 80                     # accept
connect 10.77.0.4:45022 -> 22                     # accept
connect 10.77.0.2:45808 -> 8080                   # drop
";

/// The expected legacy verdict of each founding probe.
fn expected(tcp_loose: bool) -> Vec<Verdict> {
    FOUNDING_PROBES
        .lines()
        .filter(|l| !l.trim_start().starts_with('#') && !l.trim().is_empty())
        .map(|l| match l.split('#').nth(1).map(str::trim) {
            Some("accept") => Verdict::Accept,
            Some("drop") => Verdict::Drop,
            Some("loose") if tcp_loose => Verdict::Drop,
            Some("loose") => Verdict::Accept,
            Some(other) => {
                let (a, s) = other
                    .trim_start_matches("accept ")
                    .split_once('/')
                    .unwrap_or_else(|| panic!("bad expectation `{other}`"));
                Verdict::Partial {
                    accepted: a.parse().unwrap(),
                    sent: s.parse().unwrap(),
                }
            }
            None => panic!("no expectation on `{l}`"),
        })
        .collect()
}

/// fwnet's translation of `files`, which must translate without errors.
pub fn translate(files: &[PathBuf]) -> (fwnet_nft::Ruleset, Vec<v::Original>) {
    let texts: Vec<(String, String)> = files
        .iter()
        .map(|f| {
            let text =
                std::fs::read_to_string(f).unwrap_or_else(|e| panic!("read {}: {e}", f.display()));
            (f.display().to_string(), text)
        })
        .collect();
    let parsed: Vec<_> = texts
        .iter()
        .map(|(name, text)| {
            let (rs, d) = fwnet_iptables::parse(name, text);
            assert!(!d.iter().any(|d| d.is_error()), "{name}: {d:?}");
            rs
        })
        .collect();
    let inputs: Vec<Input> = parsed
        .iter()
        .map(|rs| Input {
            ruleset: rs,
            family: IpFamily::V4,
        })
        .collect();
    let t = fwnet_translate::translate(&inputs, &Default::default());
    assert!(!t.has_errors(), "{:?}", t.diagnostics);
    let originals = texts
        .into_iter()
        .map(|(name, text)| v::Original {
            name,
            family: fwnet_nft::Family::Ip,
            text,
        })
        .collect();
    (t.ruleset, originals)
}

/// Verifies the seed with the founding probes (played after the derived ones).
fn founding(tcp_loose: Option<bool>, mutation: Option<Mutation>) -> Report {
    let (ir, originals) = translate(&[seed_rules()]);
    let mut probes = v::parse_file("founding", FOUNDING_PROBES).unwrap_or_else(|e| panic!("{e:?}"));
    v::probes::fill_ports(&mut probes, &mut v::probes::user_port_alloc());
    let options = v::Options {
        extra: probes,
        tcp_loose,
        mutation,
        ..v::Options::default()
    };
    v::verify(&ir, &originals, &options).unwrap_or_else(|e| panic!("{e}"))
}

fn table(r: &Report) -> String {
    r.results
        .iter()
        .map(|x| {
            format!(
                "{:60} {:14} {:14}{}\n",
                x.text,
                x.legacy.verdict.to_string(),
                x.fwnet.verdict.to_string(),
                if x.same { "" } else { "  <-- MISMATCH" }
            )
        })
        .collect()
}

/// Every verdict identical, and the founding probes get the verdicts the seed README states.
fn assert_founding(test: &str, tcp_loose: Option<bool>) {
    if !netns::privileged(test) {
        return;
    }
    let r = founding(tcp_loose, None);
    let loose = r.tcp_loose.unwrap_or(true);
    eprintln!(
        "{test}: {} probes, tcp_loose={loose}, {:?}\n{}",
        r.results.len(),
        r.timings,
        table(&r)
    );
    assert_eq!(r.mismatches, 0, "{}", table(&r));
    let want = expected(loose);
    let founding: Vec<_> = r
        .results
        .iter()
        .filter(|x| {
            x.probe
                .origin
                .as_deref()
                .is_some_and(|o| o.starts_with("founding:"))
        })
        .collect();
    assert_eq!(founding.len(), want.len());
    for (x, w) in founding.iter().zip(want) {
        assert_eq!(x.legacy.verdict, w, "{} ({:?})", x.text, x.probe.origin);
    }
}

#[test]
fn founding_ruleset_verdicts_match_legacy() {
    assert_founding("founding_ruleset_verdicts_match_legacy", None);
}

/// With `nf_conntrack_tcp_loose=0` a lone ACK is INVALID instead of NEW, so port 80 takes it:
/// the translation must follow the kernel setting exactly as legacy does.
#[test]
fn founding_ruleset_verdicts_match_legacy_with_tcp_loose_off() {
    assert_founding(
        "founding_ruleset_verdicts_match_legacy_with_tcp_loose_off",
        Some(false),
    );
}

/// Verification can fail: each deliberately broken translation of the founding ruleset is
/// caught, and a mismatch names the broken rule's line on one side.
#[test]
fn broken_translations_are_caught() {
    let test = "broken_translations_are_caught";
    if !netns::privileged(test) {
        return;
    }
    // (mutation, the seed lines one of which a mismatch must name)
    let cases = [
        (Mutation::GlobalLimit, &[9, 12][..]),
        (Mutation::Burst5, &[9, 12][..]),
        (Mutation::NoCtNew, &[7][..]),
        (Mutation::NoIifLo, &[5][..]),
    ];
    for (m, lines) in cases {
        let r = founding(None, Some(m));
        assert!(
            r.mismatches > 0,
            "{} was not caught:\n{}",
            m.name(),
            table(&r)
        );
        let named = r.results.iter().filter(|x| !x.same).any(|x| {
            let chain = x.probe.path.chain();
            let d = format!(
                "{} | {}",
                x.legacy.decided_by(chain),
                x.fwnet.decided_by(chain)
            );
            lines
                .iter()
                .any(|l| d.contains(&format!("centos6-web.rules:{l}:")))
        });
        assert!(
            named,
            "{}: no mismatch names line {lines:?}:\n{}",
            m.name(),
            table(&r)
        );
    }
}
