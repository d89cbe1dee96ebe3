//! Parser tests: fixture directories, the founding ruleset and the real-world corpus.
//!
//! `test_data/parse/ok/NAME.rules` must parse without errors; `NAME.ast` holds a readable dump
//! of the AST followed by any warnings. `test_data/parse/err/NAME.rules` must give at least one
//! error; `NAME.diag` holds every diagnostic as rendered. `UPDATE_EXPECT=1 cargo test` rewrites
//! the expectation files, which are then reviewed like code. These tests do not check what
//! options mean: that is the translator's suite.

use expect_test::expect_file;
use fwnet_iptables::{
    parse, parse_without_shortcut, Command, Counters, Diagnostic, Negation, Opt, Rule, Ruleset,
};
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::Instant;

fn crate_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// `shared/` of the project, beside the repository.
fn shared_dir() -> PathBuf {
    crate_dir().join("../../../shared")
}

#[test]
fn fixtures() {
    let root = crate_dir().join("test_data/parse");
    let mut count = 0;
    for (dir, want_errors) in [("ok", false), ("err", true)] {
        for rules in rules_files(&root.join(dir)) {
            check(&rules, want_errors);
            count += 1;
        }
    }
    assert!(
        count >= 25,
        "only {count} fixtures under {}",
        root.display()
    );
}

/// Parses one fixture and compares with its expectation file (`.ast` or `.diag`).
fn check(rules: &Path, want_errors: bool) {
    let name = rules.file_name().and_then(|n| n.to_str()).unwrap_or("?");
    let text = std::fs::read_to_string(rules)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", rules.display()));
    let (ruleset, diags) = parse(name, &text);
    same_without_shortcut(name, &text, (&ruleset, &diags));
    let errors = diags.iter().filter(|d| d.is_error()).count();
    if want_errors {
        assert!(errors > 0, "{name}: expected at least one error, got none");
        expect_file![rules.with_extension("diag")].assert_eq(&render_diags(&diags));
    } else {
        assert_eq!(
            errors,
            0,
            "{name}: unexpected errors:\n{}",
            render_diags(&diags)
        );
        let mut out = dump(&ruleset);
        out.push_str(&render_diags(&diags));
        expect_file![rules.with_extension("ast")].assert_eq(&out);
    }
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

fn render_diags(diags: &[Diagnostic]) -> String {
    diags.iter().map(|d| format!("{d}\n")).collect()
}

/// One line per table, chain, command and option, each with `@line:column`.
fn dump(ruleset: &Ruleset) -> String {
    let mut out = format!("file {}\n", ruleset.file);
    for table in &ruleset.tables {
        let _ = writeln!(
            out,
            "table {} @{}:{}",
            table.name, table.loc.line, table.loc.column
        );
        for chain in &table.chains {
            let policy = chain.policy.as_deref().unwrap_or("-");
            let _ = writeln!(
                out,
                "  chain {} {policy}{} @{}:{}",
                chain.name,
                counters(chain.counters),
                chain.loc.line,
                chain.loc.column
            );
        }
        for command in &table.commands {
            match command {
                Command::Append(rule) => dump_rule(&mut out, "append", None, rule),
                Command::Insert { index, rule } => dump_rule(&mut out, "insert", *index, rule),
                Command::NewChain { name, loc } => {
                    let _ = writeln!(out, "  new-chain {name} @{}:{}", loc.line, loc.column);
                }
                Command::Policy {
                    chain,
                    policy,
                    counters: c,
                    loc,
                } => {
                    let _ = writeln!(
                        out,
                        "  policy {chain} {policy}{} @{}:{}",
                        counters(*c),
                        loc.line,
                        loc.column
                    );
                }
            }
        }
    }
    out
}

fn dump_rule(out: &mut String, verb: &str, index: Option<u32>, rule: &Rule) {
    let index = index.map(|i| format!(" #{i}")).unwrap_or_default();
    let _ = writeln!(
        out,
        "  {verb} {}{index}{} @{}:{}",
        rule.chain,
        counters(rule.counters),
        rule.loc.line,
        rule.loc.column
    );
    for opt in &rule.opts {
        let _ = writeln!(out, "    {}", dump_opt(opt));
    }
}

/// `! --dport "22" @3:20`; the old form prints as written: `--dport ! "22"`.
fn dump_opt(opt: &Opt) -> String {
    let args: String = opt.args.iter().map(|a| format!(" {a:?}")).collect();
    let at = format!("@{}:{}", opt.loc.line, opt.loc.column);
    match opt.negated {
        Negation::None => format!("{}{args} {at}", opt.name),
        Negation::Before => format!("! {}{args} {at}", opt.name),
        Negation::After => format!("{} !{args} {at}", opt.name),
    }
}

fn counters(c: Option<Counters>) -> String {
    c.map(|c| format!(" [{}:{}]", c.packets, c.bytes))
        .unwrap_or_default()
}

/// The founding ruleset (shared/seed) parses cleanly; its AST is pinned.
#[test]
fn seed_ruleset() {
    let path = shared_dir().join("seed/centos6-web.rules");
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read the seed ruleset {}: {e}", path.display()));
    let (ruleset, diags) = parse("centos6-web.rules", &text);
    assert!(
        diags.is_empty(),
        "seed ruleset gave diagnostics:\n{}",
        render_diags(&diags)
    );
    expect_file![crate_dir().join("test_data/parse/seed/centos6-web.ast")]
        .assert_eq(&dump(&ruleset));
}

/// Files of the corpus that `iptables-legacy-restore --test` accepted but fwnet's parser
/// rejects, each with the reason the problem is genuinely in the file.
const OK_FILES_REJECTED: &[(&str, &str)] = &[(
    "v4/149.rules",
    "`:LOGGING - DROP [0:0]` has a stray word after the policy; legacy iptables-restore \
     ignores the rest of a chain line unless restoring counters, fwnet does not guess",
)];

/// The general reader (tokens, then options) reads the text as the parse does, which reads
/// common rule lines in one pass: the same ruleset, the same diagnostics.
fn same_without_shortcut(name: &str, text: &str, one: (&Ruleset, &Vec<Diagnostic>)) {
    let (ruleset, diags) = parse_without_shortcut(name, text);
    assert!(
        &ruleset == one.0,
        "{name}: the general reader gives another ruleset"
    );
    assert_eq!(
        render_diags(&diags),
        render_diags(one.1),
        "{name}: the general reader"
    );
    assert_eq!(&diags, one.1, "{name}: the general reader");
}

/// Rule lines at the edges of the one-pass reader's shape read as the general reader reads
/// them, each in a table of its own: those it takes and those it leaves (quotes, `=`, negations
/// out of place, other commands, counters, characters beyond ASCII).
#[test]
fn rule_lines_read_in_one_pass_read_as_the_general_reader_reads_them() {
    for line in [
        "-A INPUT -s 10.0.0.1/32 -p tcp -m tcp --dport 22 -j ACCEPT",
        "[12:345] -A INPUT -j DROP",
        "[12:345]  -A INPUT -j DROP -c 1 2",
        "\t-A  INPUT\t! -i lo -j ACCEPT ",
        "--append INPUT -m multiport --dports 1,2 -j RETURN",
        "-A INPUT -m comment --comment \"a b\" -j ACCEPT",
        "-A INPUT -m comment --comment a\"b c\" -j ACCEPT",
        "-A INPUT --dport=22 -j ACCEPT",
        "-A INPUT --log-prefix a=b -j LOG",
        "-A INPUT -i ! eth0 -j ACCEPT",
        "-A INPUT -i eth0 ! eth1 -j ACCEPT",
        "-A INPUT ! ! -s 1.2.3.4 -j ACCEPT",
        "-A INPUT ! -s 1.2.3.4 ! -j ACCEPT",
        "-A INPUT -j ACCEPT !",
        "-A INPUT ! ! -j ACCEPT",
        "-I INPUT 1 -j ACCEPT",
        "-A INPUT 2 -j ACCEPT",
        "-A INPUT extra -j ACCEPT",
        "-A -j ACCEPT",
        "-A ! -j ACCEPT",
        "-A",
        "-A -5 -j ACCEPT",
        "-A INPUT -j ACCEPT -5",
        "-A INPUT -c 1 2 -j ACCEPT",
        "-A INPUT --set-counters 1 2",
        "-A INPUT -A OUTPUT",
        "-A INPUT -D INPUT",
        "-A INPUT - -- -j",
        "[1:x] -A INPUT",
        "[1:2]",
        "[1:2] INPUT -j ACCEPT",
        "-A [1:2] -j ACCEPT",
        "-A INPUT -m comment --comment é",
        "-A INPUT -m comment --comment x\ry",
        "! -A INPUT",
        "-N X",
        "-F INPUT",
        "-P INPUT DROP",
    ] {
        let text = format!("*filter\n:INPUT ACCEPT [0:0]\n{line}\nCOMMIT\n");
        let (ruleset, diags) = parse("edge.rules", &text);
        let (general, general_diags) = parse_without_shortcut("edge.rules", &text);
        assert!(
            ruleset == general,
            "{line:?}: the general reader gives another ruleset"
        );
        assert_eq!(diags, general_diags, "{line:?}: the general reader");
    }
}

/// Every corpus file parses without panicking, and every file the reference iptables-restore
/// accepted parses without errors; with the general reader as with the one-pass reader of
/// common rule lines.
#[test]
fn corpus() {
    let corpus = shared_dir().join("corpus");
    let results = std::fs::read_to_string(corpus.join("RESULTS.tsv")).unwrap_or_else(|e| {
        panic!(
            "the corpus is missing ({}): {e}; it is part of shared/ beside the repository",
            corpus.display()
        )
    });
    let restore_ok: BTreeMap<&str, bool> = results
        .lines()
        .skip(1)
        .filter_map(|line| {
            let cols: Vec<&str> = line.split('\t').collect();
            Some((*cols.first()?, *cols.get(4)? == "ok"))
        })
        .collect();

    let mut files = Vec::new();
    for family in ["v4", "v6"] {
        files.extend(rules_files(&corpus.join(family)));
    }
    assert!(files.len() >= 400, "corpus has only {} files", files.len());

    let mut with_errors = 0;
    let mut codes: BTreeMap<&'static str, usize> = BTreeMap::new();
    let mut unexpected = Vec::new();
    let mut largest = (0usize, String::new(), 0.0f64);
    for path in &files {
        let name = path
            .strip_prefix(&corpus)
            .ok()
            .and_then(|p| p.to_str())
            .unwrap_or("?")
            .to_string();
        let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("cannot read {name}: {e}"));
        let text = String::from_utf8_lossy(&bytes);
        let start = Instant::now();
        let (ruleset, diags) = parse(&name, &text);
        let seconds = start.elapsed().as_secs_f64();
        same_without_shortcut(&name, &text, (&ruleset, &diags));
        let rules: usize = ruleset.tables.iter().map(|t| t.commands.len()).sum();
        if rules > largest.0 {
            largest = (rules, name.clone(), seconds);
        }
        for d in &diags {
            *codes.entry(d.code).or_default() += 1;
        }
        let errors: Vec<&Diagnostic> = diags.iter().filter(|d| d.is_error()).collect();
        if !errors.is_empty() {
            with_errors += 1;
            let known = OK_FILES_REJECTED.iter().any(|(f, _)| *f == name);
            if restore_ok.get(name.as_str()) == Some(&true) && !known {
                unexpected.push(format!("{name}: {}", errors[0]));
            }
        }
    }
    println!(
        "corpus: {} files, {with_errors} with parse errors",
        files.len()
    );
    for (code, n) in &codes {
        println!("  {code}: {n}");
    }
    println!(
        "largest: {} ({} commands) parsed in {:.3} s",
        largest.1, largest.0, largest.2
    );
    assert!(
        unexpected.is_empty(),
        "files iptables-restore accepts but the parser rejects:\n{}",
        unexpected.join("\n")
    );
}

/// Arbitrary lines built from the format's own pieces never panic, every diagnostic points
/// inside the input, and the general reader reads them as the parse does.
#[test]
fn garbage_never_panics_and_locations_stay_in_the_input() {
    const PIECES: &[&str] = &[
        "*",
        "*filter",
        ":",
        ":INPUT",
        "COMMIT",
        "-A",
        "-I",
        "-N",
        "-P",
        "-F",
        "-D",
        "-c",
        "INPUT",
        "1",
        "0",
        "-1",
        "!",
        "\"",
        "'",
        "\\",
        "\\\"",
        "[",
        "]",
        ":",
        "[1:2]",
        "[x",
        "-s",
        "--dport",
        " ",
        "  ",
        "\t",
        "\n",
        "\r\n",
        "\r",
        "#",
        "é",
        "ACCEPT",
        "-",
        "--",
        "x\"y z\"",
        "=",
        "--dport=",
        "-j",
        "-m",
        "tcp",
        "\n-A INPUT ",
    ];
    // A fixed linear congruential generator: the same cases on every run.
    let mut state: u64 = 0x2545_f491_4f6c_dd1d;
    let mut next = move || {
        state = state
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (state >> 33) as usize
    };
    for case in 0..3000 {
        let len = next() % 40;
        // Half the cases inside a table, where rule lines are read rather than refused.
        let table = if case % 2 == 0 { "*filter\n" } else { "" };
        let text: String = std::iter::once(table)
            .chain((0..len).map(|_| PIECES[next() % PIECES.len()]))
            .collect();
        let (ruleset, diags) = parse("fuzz.rules", &text);
        same_without_shortcut("fuzz.rules", &text, (&ruleset, &diags));
        let lines = u32::try_from(text.split('\n').count()).unwrap_or(u32::MAX);
        for d in &diags {
            assert!(
                d.line >= 1 && d.line <= lines && d.column >= 1,
                "case {case}: {d} is outside {text:?}"
            );
            assert!(d.code.starts_with("parse/"), "case {case}: {d}");
        }
    }
}
