//! Translator tests: fixture directories, the founding ruleset, nft as the oracle for the
//! printed text, and a sweep over the real-world corpus.
//!
//! `test_data/translate/ok/NAME.rules` must translate without any diagnostic; `NAME.nft` holds
//! the printed ruleset. `warn/NAME.rules` must give warnings only; `NAME.out` holds the
//! diagnostics, then the printed ruleset. `err/NAME.rules` must give at least one error;
//! `NAME.diag` holds every diagnostic. An optional `NAME.ipset` beside a fixture holds the
//! `ipset save` output its `-m set` matches name. A fixture whose name starts with `v6-` (or `approx-v6-`) is an ip6tables
//! file. `UPDATE_EXPECT=1 cargo test` rewrites the expectation files, which are then reviewed
//! like code. The nft tests run `nft -c` inside a fresh network namespace (`unshare -n`); they
//! are skipped when nft is missing, except under `CI`, where that fails.

use expect_test::expect_file;
use fwnet_iptables::{parse, Diagnostic};
use fwnet_translate::{
    detect_family, translate, translate_with_sets, Input, IpFamily, Options, Translation,
};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

fn crate_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// `shared/` of the project, beside the repository.
fn shared_dir() -> PathBuf {
    crate_dir().join("../../../shared")
}

fn fixture_dir(kind: &str) -> PathBuf {
    crate_dir().join("test_data/translate").join(kind)
}

/// The fixture file `name` in whichever of ok, warn and err holds it.
fn fixture_path(name: &str) -> PathBuf {
    ["ok", "warn", "err"]
        .iter()
        .map(|k| fixture_dir(k).join(name))
        .find(|p| p.exists())
        .unwrap_or_else(|| PathBuf::from(name))
}

fn rules_files(dir: &Path) -> Vec<PathBuf> {
    let entries = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("cannot read fixture dir {}: {e}", dir.display()));
    let mut files: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "rules"))
        .collect();
    files.sort();
    files
}

fn render(diags: &[Diagnostic]) -> String {
    diags.iter().map(|d| format!("{d}\n")).collect()
}

/// Parses and translates one file; parse errors fail the test (fixtures must be valid input).
/// A fixture whose name starts with `approx-` is translated with `allow_approximate`.
fn run(name: &str, text: &str, family: IpFamily) -> (Translation, Vec<Diagnostic>) {
    let (ast, parse_diags) = parse(name, text);
    assert!(
        !parse_diags.iter().any(Diagnostic::is_error),
        "{name}: parse errors:\n{}",
        render(&parse_diags)
    );
    // An optional `NAME.iptables-config` beside the fixture is read as `--iptables-config`.
    let config = std::fs::read_to_string(fixture_path(name).with_extension("iptables-config"))
        .ok()
        .map(|text| {
            fwnet_translate::parse_iptables_config(
                &name.replace(".rules", ".iptables-config"),
                &text,
            )
        });
    let t = translate(
        &[Input {
            ruleset: &ast,
            family,
        }],
        &Options {
            allow_approximate: name.starts_with("approx-"),
            iptables_config: config,
            names: None,
        },
    );
    let mut all = parse_diags;
    all.extend(t.diagnostics.iter().cloned());
    (t, all)
}

/// [`run`] with an `ipset save` file; its parse errors are reported like the rules' own.
fn run_with_sets(
    name: &str,
    text: &str,
    sets: &str,
    family: IpFamily,
) -> (Translation, Vec<Diagnostic>) {
    let (ast, mut all) = parse(name, text);
    let set_name = name.replace(".rules", ".ipset");
    let (ipsets, set_diags) = fwnet_iptables::ipset::parse_ipset(&set_name, sets);
    all.extend(set_diags);
    let t = translate_with_sets(
        &[Input {
            ruleset: &ast,
            family,
        }],
        &[ipsets],
        &Options::default(),
    );
    all.extend(t.diagnostics.iter().cloned());
    (t, all)
}

fn family_of(name: &str) -> IpFamily {
    if name.starts_with("v6-") || name.starts_with("approx-v6-") {
        IpFamily::V6
    } else {
        IpFamily::V4
    }
}

/// Translates one fixture and compares with its expectation file.
fn check(rules: &Path, kind: &str) {
    let name = rules.file_name().and_then(|n| n.to_str()).unwrap_or("?");
    let text = std::fs::read_to_string(rules)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", rules.display()));
    let (t, diags) = match std::fs::read_to_string(rules.with_extension("ipset")) {
        Ok(sets) => run_with_sets(name, &text, &sets, family_of(name)),
        Err(_) => run(name, &text, family_of(name)),
    };
    let printed = fwnet_nft::print::ruleset(&t.ruleset);
    let errors = diags.iter().filter(|d| d.is_error()).count();
    match kind {
        "ok" => {
            assert!(
                diags.is_empty(),
                "{name}: unexpected diagnostics:\n{}",
                render(&diags)
            );
            expect_file![rules.with_extension("nft")].assert_eq(&printed);
        }
        "warn" => {
            assert_eq!(errors, 0, "{name}: unexpected errors:\n{}", render(&diags));
            assert!(!diags.is_empty(), "{name}: expected warnings, got none");
            expect_file![rules.with_extension("out")]
                .assert_eq(&format!("{}---\n{printed}", render(&diags)));
        }
        _ => {
            assert!(errors > 0, "{name}: expected at least one error, got none");
            expect_file![rules.with_extension("diag")].assert_eq(&render(&diags));
        }
    }
}

#[test]
fn fixtures() {
    let mut count = 0;
    for kind in ["ok", "warn", "err"] {
        for rules in rules_files(&fixture_dir(kind)) {
            check(&rules, kind);
            count += 1;
        }
    }
    assert!(count >= 30, "only {count} fixtures");
}

/// The founding ruleset translates without a diagnostic, to the reviewed text, and loads.
#[test]
fn seed_ruleset() {
    let path = shared_dir().join("seed/centos6-web.rules");
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read the seed ruleset {}: {e}", path.display()));
    let (t, diags) = run("centos6-web.rules", &text, IpFamily::V4);
    assert!(
        diags.is_empty(),
        "seed: unexpected diagnostics:\n{}",
        render(&diags)
    );
    assert_eq!(
        (t.stats.rules_in, t.stats.rules_out, t.stats.rules_refused),
        (10, 10, 0)
    );
    let printed = fwnet_nft::print::ruleset(&t.ruleset);
    expect_file![crate_dir().join("test_data/translate/seed/centos6-web.nft")].assert_eq(&printed);
    if let Err(e) = nft_check(&printed) {
        panic!("nft rejects the seed translation:\n{e}\n{printed}");
    }
}

#[test]
fn detect_family_looks_at_content() {
    let cases = [
        (
            "*filter\n-A INPUT -s 10.0.0.1 -j ACCEPT\nCOMMIT\n",
            IpFamily::V4,
        ),
        (
            "*filter\n-A INPUT -s 2001:db8::1/128 -j ACCEPT\nCOMMIT\n",
            IpFamily::V6,
        ),
        (
            "*filter\n-A INPUT -p ipv6-icmp -j ACCEPT\nCOMMIT\n",
            IpFamily::V6,
        ),
        (
            "*filter\n-A INPUT -p icmpv6 --icmpv6-type 128 -j ACCEPT\nCOMMIT\n",
            IpFamily::V6,
        ),
        (
            "*filter\n-A INPUT -j REJECT --reject-with icmp6-adm-prohibited\nCOMMIT\n",
            IpFamily::V6,
        ),
        ("*filter\n:INPUT ACCEPT [0:0]\nCOMMIT\n", IpFamily::V4),
        (
            "# Generated by ip6tables-save v1.4.7 on Mon\n*filter\n-A INPUT -p tcp --dport 22 -j ACCEPT\nCOMMIT\n",
            IpFamily::V6,
        ),
        (
            "# Generated by iptables-save v1.4.7 on Mon\n*filter\n-A INPUT -p tcp --dport 22 -j ACCEPT\nCOMMIT\n",
            IpFamily::V4,
        ),
    ];
    for (text, want) in cases {
        let (ast, _) = parse("t.rules", text);
        assert_eq!(detect_family(&ast), want, "{text}");
    }
}

/// An ip6tables file with nothing family-specific in it is told by its name; failing that, it
/// is read as IPv4 with a warning that says how to say otherwise.
#[test]
fn family_of_a_file_without_evidence_comes_from_its_name_or_is_warned_about() {
    let text = "*filter\n:INPUT DROP [0:0]\n-A INPUT -p tcp --dport 22 -j ACCEPT\nCOMMIT\n";
    for (name, want) in [
        ("/etc/sysconfig/ip6tables", IpFamily::V6),
        ("/etc/iptables/rules.v6", IpFamily::V6),
        ("/etc/sysconfig/iptables", IpFamily::V4),
        ("/etc/iptables/rules.v4", IpFamily::V4),
    ] {
        let (ast, _) = parse(name, text);
        let (family, warning) = fwnet_translate::family_of(&ast);
        assert_eq!((family, warning.is_none()), (want, true), "{name}");
    }
    let (ast, _) = parse("firewall.save", text);
    let (family, warning) = fwnet_translate::family_of(&ast);
    assert_eq!(family, IpFamily::V4);
    let warning = warning.expect("a guess is warned about");
    assert_eq!(warning.code, "translate/family-guessed");
    assert!(warning.help.unwrap().contains("--family 6"));
}

/// Every `ok` and `warn` output loads with the real nft, except where a warning says nft
/// 1.0.6 cannot load it (quoted chain names).
#[test]
fn printed_fixtures_load_with_nft() {
    let mut checked = 0;
    for kind in ["ok", "warn"] {
        for rules in rules_files(&fixture_dir(kind)) {
            let name = rules
                .file_name()
                .and_then(|n| n.to_str())
                .unwrap_or("?")
                .to_string();
            let text = std::fs::read_to_string(&rules).unwrap_or_default();
            let (t, diags) = run(&name, &text, family_of(&name));
            if diags
                .iter()
                .any(|d| d.code == "translate/chain-name-quoted")
            {
                continue;
            }
            let printed = fwnet_nft::print::ruleset(&t.ruleset);
            if let Err(e) = nft_check(&printed) {
                panic!("{name}: nft rejects the output:\n{e}\n{printed}");
            }
            checked += 1;
        }
    }
    assert!(checked >= 20, "only {checked} outputs checked");
}

/// Every real-world file either translates completely or is refused with errors; nothing
/// panics. Prints the counts and the most common reasons for refusal.
#[test]
fn corpus_sweep() {
    let corpus = shared_dir().join("corpus");
    assert!(corpus.is_dir(), "corpus missing at {}", corpus.display());
    let mut report = String::new();
    let mut reasons: BTreeMap<String, (usize, usize)> = BTreeMap::new();
    let mut total_files = 0;
    for (dir, family) in [("v4", IpFamily::V4), ("v6", IpFamily::V6)] {
        let (mut ok, mut parse_refused, mut refused, mut rules_in, mut rules_out) = (0, 0, 0, 0, 0);
        let mut nft_failures = Vec::new();
        for path in rules_files(&corpus.join(dir)) {
            total_files += 1;
            let name = format!(
                "{dir}/{}",
                path.file_name().and_then(|n| n.to_str()).unwrap_or("?")
            );
            let bytes = std::fs::read(&path).unwrap_or_default();
            let text = String::from_utf8_lossy(&bytes);
            let (ast, parse_diags) = parse(&name, &text);
            if parse_diags.iter().any(Diagnostic::is_error) {
                parse_refused += 1;
                continue;
            }
            let t = translate(
                &[Input {
                    ruleset: &ast,
                    family,
                }],
                &Options::default(),
            );
            rules_in += t.stats.rules_in;
            if t.has_errors() {
                refused += 1;
                let mut seen = std::collections::BTreeSet::new();
                for d in t.diagnostics.iter().filter(|d| d.is_error()) {
                    let key = format!("{} {}", d.code, construct(&d.message));
                    let entry = reasons.entry(key.clone()).or_default();
                    entry.0 += 1;
                    if seen.insert(key) {
                        entry.1 += 1;
                    }
                }
                continue;
            }
            ok += 1;
            rules_out += t.stats.rules_out;
            // The state file's encoding reads the translation back equal, and its optimized
            // form too.
            let mut optimized = t.ruleset.clone();
            fwnet_nft::optimize::ruleset(&mut optimized);
            for rs in [&t.ruleset, &optimized] {
                let mut packed = Vec::new();
                fwnet_nft::packed::write(&mut packed, rs).expect("a ruleset packs");
                let back: fwnet_nft::Ruleset = fwnet_nft::packed::read(&packed)
                    .unwrap_or_else(|e| panic!("{name}: packed state unreadable: {e}"));
                assert!(&back == rs, "{name}: the packed state reads back different");
            }
            let quoted = t
                .diagnostics
                .iter()
                .any(|d| d.code == "translate/chain-name-quoted");
            if !quoted {
                if let Err(e) = nft_check(&fwnet_nft::print::ruleset(&t.ruleset)) {
                    nft_failures.push(format!("{name}: {}", e.lines().next().unwrap_or("")));
                }
            }
        }
        report.push_str(&format!(
            "{dir}: translated {ok}, refused by the translator {refused}, refused by the parser {parse_refused}; rules in {rules_in}, rules out {rules_out}; nft -c failures {}\n",
            nft_failures.len()
        ));
        for f in &nft_failures {
            report.push_str(&format!("  nft: {f}\n"));
        }
        assert!(
            nft_failures.is_empty(),
            "translated output that nft rejects:\n{report}"
        );
    }
    let mut top: Vec<_> = reasons.into_iter().collect();
    top.sort_by(|a, b| b.1 .1.cmp(&a.1 .1).then(b.1 .0.cmp(&a.1 .0)));
    report.push_str("top refused constructs (files, errors):\n");
    for (key, (errors, files)) in top.iter().take(25) {
        report.push_str(&format!("  {files:4} {errors:6}  {key}\n"));
    }
    println!("{report}");
    assert!(total_files >= 400, "corpus has only {total_files} files");
}

/// The part of an error message that names the construct (`-m recent`, `-j MASQUERADE`).
fn construct(message: &str) -> String {
    let mut parts = message.split('`');
    match (parts.next(), parts.next()) {
        (Some(_), Some(inner)) => {
            let word: Vec<&str> = inner.split_whitespace().take(2).collect();
            if word
                .first()
                .is_some_and(|w| w.starts_with("-m") || w.starts_with("-j"))
            {
                word.join(" ")
            } else {
                word.first().copied().unwrap_or("").to_string()
            }
        }
        _ => message.split(':').next().unwrap_or(message).to_string(),
    }
}

/// Loads `text` with `nft -c -f` in a fresh network namespace. Ok without checking when nft
/// is missing, unless `CI` is set.
fn nft_check(text: &str) -> Result<(), String> {
    let have_nft = Command::new("nft")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !have_nft {
        assert!(std::env::var_os("CI").is_none(), "nft is required under CI");
        eprintln!("nft not found: skipping the nft check");
        return Ok(());
    }
    let path = std::env::temp_dir().join(format!(
        "fwnet-translate-{}-{:?}.nft",
        std::process::id(),
        std::thread::current().id()
    ));
    std::fs::write(&path, text).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    let out = Command::new("unshare")
        .args(["-n", "nft", "-c", "-f"])
        .arg(&path)
        .output()
        .map_err(|e| format!("cannot run unshare: {e}"))?;
    let _ = std::fs::remove_file(&path);
    if out.status.success() {
        Ok(())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}

/// Translates ip6tables `text`, plus an IPv4 file when `v4` is given, with no diagnostics.
fn translate_v6_v4(v6: &str, v4: Option<&str>) -> fwnet_nft::Ruleset {
    let (ast6, d6) = parse("v6.rules", v6);
    let ast4 = v4.map(|t| parse("v4.rules", t));
    let mut inputs = vec![Input {
        ruleset: &ast6,
        family: IpFamily::V6,
    }];
    if let Some((ast, _)) = &ast4 {
        inputs.push(Input {
            ruleset: ast,
            family: IpFamily::V4,
        });
    }
    let t = translate(&inputs, &Options::default());
    assert!(d6.is_empty() && t.diagnostics.is_empty(), "{t:?}");
    t.ruleset
}

/// Conntrack, and with it reassembly, is enabled per family: a `ct state` in the ip6 table does
/// not keep non-first IPv4 fragments from the ip table's port tests, nor the other way round.
#[test]
fn fragment_guards_depend_on_the_conntrack_of_their_own_family_only() {
    let stateless = "*filter\n-A FORWARD -p tcp --dport 22 -j ACCEPT\nCOMMIT\n";
    let stateful = "*filter\n-A FORWARD -m state --state ESTABLISHED -j ACCEPT\n\
                    -A FORWARD -p tcp --dport 22 -j ACCEPT\nCOMMIT\n";
    for (v6, v4) in [
        (stateless, stateful),
        (stateful, stateless),
        (stateless, stateless),
        (stateful, stateful),
    ] {
        let rs = translate_v6_v4(v6, Some(v4));
        let printed = |family: fwnet_nft::Family| {
            let tables = rs.tables.iter().filter(|t| t.family == family).cloned();
            fwnet_nft::print::ruleset(&fwnet_nft::Ruleset {
                tables: tables.collect(),
            })
        };
        let guarded = (
            printed(fwnet_nft::Family::Ip6).contains("frag frag-off != 0"),
            printed(fwnet_nft::Family::Ip).contains("ip frag-off & 8191 == 0"),
        );
        assert_eq!(guarded, (v6 == stateless, v4 == stateless), "{v6}{v4}");
    }
}

/// IPv4 reassembles a datagram before INPUT, always (`ip_local_deliver`), so a chain reached only
/// from INPUT never meets a non-first fragment and gets no guard; a chain FORWARD reaches too
/// keeps it. IPv6 reassembles after INPUT: its INPUT chain is guarded.
#[test]
fn ipv4_chains_reached_only_from_input_carry_no_fragment_guard() {
    let rules = "*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n\
                 :IN_ONLY - [0:0]\n:BOTH - [0:0]\n\
                 -A INPUT -p tcp --dport 22 -j ACCEPT\n-A INPUT -j IN_ONLY\n-A INPUT -j BOTH\n\
                 -A FORWARD -j BOTH\n-A OUTPUT -p udp --sport 53 -j ACCEPT\n\
                 -A IN_ONLY -p udp --dport 53 -j ACCEPT\n-A BOTH -p tcp --dport 80 -j ACCEPT\n\
                 COMMIT\n";
    let v6 = "*filter\n-A INPUT -p tcp --dport 22 -j ACCEPT\nCOMMIT\n";
    let rs = translate_v6_v4(v6, Some(rules));
    let guarded = |family: fwnet_nft::Family, chain: &str| {
        let t = rs.tables.iter().find(|t| t.family == family).unwrap();
        let c = t.chains.iter().find(|c| c.name == chain).unwrap();
        let printed = fwnet_nft::print::ruleset(&fwnet_nft::Ruleset {
            tables: vec![fwnet_nft::Table {
                chains: vec![c.clone()],
                ..t.clone()
            }],
        });
        printed.contains("frag-off")
    };
    use fwnet_nft::Family::{Ip, Ip6};
    assert!(!guarded(Ip, "INPUT"));
    assert!(!guarded(Ip, "IN_ONLY"));
    assert!(guarded(Ip, "BOTH"));
    assert!(guarded(Ip, "OUTPUT"));
    assert!(guarded(Ip6, "INPUT"));
}

/// `ct count` (`-m connlimit`) makes the kernel track connections of its family like
/// `ct state` does, so its table's port tests need no fragment guard.
#[test]
fn a_connection_count_keeps_fragments_away_like_ct_state() {
    let rules = "*filter\n-A INPUT -p tcp --dport 22 -m connlimit --connlimit-above 3 -j DROP\n\
                 -A INPUT -p tcp --dport 80 -j ACCEPT\nCOMMIT\n";
    let (ast, d) = parse("v4.rules", rules);
    assert!(d.is_empty(), "{d:?}");
    let t = translate(
        &[Input {
            ruleset: &ast,
            family: IpFamily::V4,
        }],
        &Options::default(),
    );
    assert!(!t.has_errors(), "{:?}", t.diagnostics);
    let printed = fwnet_nft::print::ruleset(&t.ruleset);
    assert!(printed.contains("ct count over 3"), "{printed}");
    assert!(!printed.contains("frag-off"), "{printed}");
}

/// The IPv6 guard changes nothing for packets without a fragment header: the evaluator gives
/// every such packet the same verdict from the same input line with and without it. (An ip6
/// NOTRACK table makes the family use conntrack, which leaves the filter table unguarded.)
#[test]
fn ipv6_fragment_guard_lets_whole_packets_through_to_the_same_rules() {
    let path = fixture_dir("ok").join("v6-non-first-fragments-skip-transport-rules.rules");
    let text = std::fs::read_to_string(&path).expect("fixture");
    let guarded = translate_v6_v4(&text, None);
    let notrack =
        format!("{text}*raw\n:PREROUTING ACCEPT [0:0]\n-A PREROUTING -j NOTRACK\nCOMMIT\n");
    let plain = translate_v6_v4(&notrack, None);
    let filter = |rs: &fwnet_nft::Ruleset| {
        rs.tables
            .iter()
            .find(|t| t.name == "fwnet_filter")
            .cloned()
            .expect("filter table")
    };
    let (guarded, plain) = (filter(&guarded), filter(&plain));
    assert!(guarded.chains.len() > plain.chains.len());
    let (mut compared, mut verdicts) = (0, Vec::new());
    for saddr in ["2001:db8::1", "2001:db8:1::1", "2001:db9::1"] {
        for (proto, port) in [
            (6, 22),
            (6, 80),
            (6, 443),
            (6, 25),
            (17, 53),
            (17, 99),
            (58, 0),
        ] {
            for (flags, icmp) in [(0x02, 128), (0x10, 135), (0x12, 1)] {
                for (chain, iif) in [("INPUT", "lo"), ("INPUT", "eth0"), ("OUTPUT", "")] {
                    let mut p = fwnet_nft::eval::Packet::tcp(
                        saddr.parse().unwrap(),
                        22,
                        "2001:db8::2".parse().unwrap(),
                        port,
                        flags,
                        0,
                    );
                    p.l4proto = proto;
                    p.icmp_type = icmp;
                    if !iif.is_empty() {
                        p.iifname = fwnet_nft::eval::Device::Name(iif.into());
                    }
                    let a = fwnet_nft::eval::chain(&plain, chain, &p);
                    let b = fwnet_nft::eval::chain(&guarded, chain, &p);
                    let line = |o: &fwnet_nft::eval::Outcome| {
                        o.decided_by.as_ref().map(|d| d.origin.clone())
                    };
                    assert_eq!((a.verdict, line(&a)), (b.verdict, line(&b)), "{p:?}");
                    compared += 1;
                    if !verdicts.contains(&a.verdict) {
                        verdicts.push(a.verdict);
                    }
                }
            }
        }
    }
    assert_eq!(compared, 189);
    use fwnet_nft::eval::Verdict::{Accept, Drop};
    assert!(
        verdicts.contains(&Accept) && verdicts.contains(&Drop),
        "{verdicts:?}"
    );
}

/// User, group and host names, with the answers a host gave (`fwnet_translate::Names`): a
/// host name is an address list of what it resolved to, masked, in the resolver's order; `!`
/// works with one address and is refused with several, as iptables refuses it; without
/// answers, or for a name the host does not know, the rule is refused with the reason.
#[test]
fn names_become_what_the_host_resolved_them_to() {
    use std::net::IpAddr;
    let text = "*filter\n:INPUT ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n\
        -A INPUT -s web/24 -d db,10.0.0.1 -j ACCEPT\n\
        -A INPUT ! -s db -j DROP\n\
        -A OUTPUT -m owner --uid-owner postfix --gid-owner mail -j ACCEPT\nCOMMIT\n";
    let (ast, _) = parse("names.rules", text);
    let input = [Input {
        ruleset: &ast,
        family: IpFamily::V4,
    }];
    let addr = |s: &str| s.parse::<IpAddr>().unwrap();
    let mut names = fwnet_translate::Names::default();
    names.hosts.insert(
        ("web".into(), IpFamily::V4),
        vec![addr("192.0.2.7"), addr("198.51.100.9")],
    );
    names
        .hosts
        .insert(("db".into(), IpFamily::V4), vec![addr("10.1.1.1")]);
    names.users.insert("postfix".into(), 105);
    names.groups.insert("mail".into(), 8);
    let opts = Options {
        names: Some(std::sync::Arc::new(names.clone())),
        ..Options::default()
    };
    let t = translate(&input, &opts);
    assert!(!t.has_errors(), "{}", render(&t.diagnostics));
    let printed = fwnet_nft::print::ruleset(&t.ruleset);
    let rules: Vec<&str> = printed
        .lines()
        .filter(|l| l.contains("# names.rules"))
        .map(|l| l.trim().split(" counter").next().unwrap())
        .collect();
    assert_eq!(
        rules,
        [
            "ip saddr 192.0.2.0/24 ip daddr 10.1.1.1",
            "ip saddr 192.0.2.0/24 ip daddr 10.0.0.1",
            "ip saddr 198.51.100.0/24 ip daddr 10.1.1.1",
            "ip saddr 198.51.100.0/24 ip daddr 10.0.0.1",
            "ip saddr != 10.1.1.1",
            "meta skuid 105 meta skgid 8",
        ],
        "{printed}"
    );
    // Each name is reported with what it became; no host-bits warning for the masked ones.
    let codes: Vec<&str> = t.diagnostics.iter().map(|d| d.code).collect();
    assert_eq!(
        codes
            .iter()
            .filter(|c| **c == "translate/resolved-name")
            .count(),
        5
    );
    assert!(!codes.contains(&"translate/host-bits"), "{codes:?}");

    // `!` with a name of several addresses, and names the host does not know.
    let refused = "*filter\n:INPUT ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n\
        -A INPUT ! -s web -j DROP\n-A INPUT -s gone -j DROP\n\
        -A OUTPUT -m owner --uid-owner nobody-here -j ACCEPT\nCOMMIT\n";
    let (ast, _) = parse("names.rules", refused);
    let input = [Input {
        ruleset: &ast,
        family: IpFamily::V4,
    }];
    let t = translate(
        &input,
        &Options {
            names: Some(std::sync::Arc::new(names)),
            ..Options::default()
        },
    );
    let errors: Vec<String> = t
        .diagnostics
        .iter()
        .filter(|d| d.is_error())
        .map(|d| format!("{}: {}", d.line, d.message))
        .collect();
    assert_eq!(
        errors,
        [
            "4: `! -s` in a rule with several addresses",
            "5: host/network `gone` not found on this host",
            "6: no user `nobody-here` on this host (`--uid-owner`)",
        ]
    );
    // Without answers (`--no-resolve`) names are refused, saying so.
    let t = translate(&input, &Options::default());
    assert!(t.diagnostics.iter().any(|d| d.is_error()
        && d.help
            .as_deref()
            .unwrap_or("")
            .contains("`web` is a host name")));
}

/// Service names fwnet's own table does not know are asked of the resolver, for the protocol
/// libxtables 1.8.9 asks with: tcp for `-m tcp`, the `-p` protocol for multiport, and any
/// protocol (`None`) for `-m udp` and conntrack's ports.
#[test]
fn unknown_service_names_are_asked_for_the_protocol_iptables_asks_for() {
    let text = "*filter\n:INPUT ACCEPT [0:0]\n\
        -A INPUT -p tcp --dport svc -j ACCEPT\n\
        -A INPUT -p udp --sport svc -j ACCEPT\n\
        -A INPUT -p udp -m multiport --dports svc,53 -j ACCEPT\n\
        -A INPUT -p tcp --dport ssh -j ACCEPT\nCOMMIT\n";
    let (ast, _) = parse("services.rules", text);
    let input = [Input {
        ruleset: &ast,
        family: IpFamily::V4,
    }];
    let mut names = fwnet_translate::Names::default();
    for (proto, port) in [(Some("tcp"), 4242), (None, 4040), (Some("udp"), 4343)] {
        names
            .services
            .insert(("svc".into(), proto.map(str::to_string)), port);
    }
    let t = translate(
        &input,
        &Options {
            names: Some(std::sync::Arc::new(names)),
            ..Options::default()
        },
    );
    assert!(!t.has_errors(), "{}", render(&t.diagnostics));
    let printed = fwnet_nft::print::ruleset(&t.ruleset);
    for want in [
        "tcp dport 4242",
        "udp sport 4040",
        "udp dport { 4343, 53 }",
        "tcp dport 22",
    ] {
        assert!(printed.contains(want), "{want} in\n{printed}");
    }
    // `ssh` is fwnet's own: only the three `svc` are reported.
    let resolved = t
        .diagnostics
        .iter()
        .filter(|d| d.code == "translate/resolved-name")
        .count();
    assert_eq!(resolved, 3);
    // Without a resolver the unknown name is refused.
    let t = translate(&input, &Options::default());
    assert!(t.has_errors());
}
