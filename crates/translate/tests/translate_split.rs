//! Translating a table on two threads gives what one thread gives: the same ruleset, the same
//! diagnostics in the same order and the same statistics, on every fixture split before each of
//! its rules and on every corpus file split at a few places (`translate_owned_split` starts the
//! helper thread for every table with a rule, however small).

use fwnet_iptables::ipset::IpsetFile;
use fwnet_iptables::{parse, Diagnostic};
use fwnet_translate::{translate_owned, translate_owned_split, IpFamily, Options, OwnedInput};
use std::path::{Path, PathBuf};

fn crate_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn rules_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("cannot list {}: {e}", dir.display()))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "rules"))
        .collect();
    files.sort();
    files
}

/// Translates `text` on one thread, then split before each rule index of `at` and the middle
/// one (`None`: before every rule), and says where the two differ. Returns whether the
/// translation had more than one rule (a file of fewer proves little).
fn same_split(
    name: &str,
    text: &str,
    family: IpFamily,
    ipsets: &[IpsetFile],
    opts: &Options,
    at: Option<&[usize]>,
) -> bool {
    let (ast, parse_diags) = parse(name, text);
    if parse_diags.iter().any(Diagnostic::is_error) {
        return false;
    }
    let input = || {
        vec![OwnedInput {
            ruleset: ast.clone(),
            family,
        }]
    };
    let one = translate_owned(input(), ipsets, opts);
    let places: Vec<usize> = match at {
        Some(at) => at.iter().copied().chain([one.stats.rules_in / 2]).collect(),
        None => (0..one.stats.rules_in).collect(),
    };
    for at in places {
        let two = translate_owned_split(input(), ipsets, opts, at);
        assert_eq!(
            one.diagnostics, two.diagnostics,
            "{name}: diagnostics differ split before rule {at}"
        );
        assert_eq!(
            one.stats, two.stats,
            "{name}: statistics differ split at {at}"
        );
        assert!(
            one.ruleset == two.ruleset,
            "{name}: rulesets differ split before rule {at}:\none thread:\n{}\ntwo threads:\n{}",
            fwnet_nft::print::ruleset(&one.ruleset),
            fwnet_nft::print::ruleset(&two.ruleset)
        );
    }
    one.stats.rules_in > 1
}

#[test]
fn fixtures_translate_the_same_on_two_threads() {
    let root = crate_dir().join("test_data/translate");
    let mut compared = 0;
    for kind in ["ok", "warn", "err"] {
        for path in rules_files(&root.join(kind)) {
            let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("?");
            let text = std::fs::read_to_string(&path).expect("fixture readable");
            let ipsets: Vec<IpsetFile> = std::fs::read_to_string(path.with_extension("ipset"))
                .map(|sets| vec![fwnet_iptables::ipset::parse_ipset("sets.ipset", &sets).0])
                .unwrap_or_default();
            let iptables_config = std::fs::read_to_string(path.with_extension("iptables-config"))
                .ok()
                .map(|t| fwnet_translate::parse_iptables_config("iptables-config", &t));
            let opts = Options {
                allow_approximate: name.starts_with("approx-"),
                iptables_config,
                names: None,
            };
            let family = if name.starts_with("v6-") || name.starts_with("approx-v6-") {
                IpFamily::V6
            } else {
                IpFamily::V4
            };
            if same_split(name, &text, family, &ipsets, &opts, None) {
                compared += 1;
            }
        }
    }
    assert!(compared >= 100, "only {compared} fixtures with rules");
}

#[test]
fn corpus_translates_the_same_on_two_threads() {
    let corpus = crate_dir().join("../../../shared/corpus");
    let mut compared = 0;
    for (dir, family) in [("v4", IpFamily::V4), ("v6", IpFamily::V6)] {
        for path in rules_files(&corpus.join(dir)) {
            let name = format!(
                "{dir}/{}",
                path.file_name().and_then(|n| n.to_str()).unwrap_or("?")
            );
            let bytes = std::fs::read(&path).expect("corpus file readable");
            let text = String::from_utf8_lossy(&bytes);
            for allow_approximate in [false, true] {
                let opts = Options {
                    allow_approximate,
                    ..Options::default()
                };
                if same_split(
                    &name,
                    &text,
                    family,
                    &[],
                    &opts,
                    Some(&[0, 1, 2, 5, 20, 100]),
                ) && !allow_approximate
                {
                    compared += 1;
                }
            }
        }
    }
    assert!(compared >= 400, "only {compared} corpus files with rules");
}
