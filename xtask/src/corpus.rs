//! `cargo xtask corpus [--apply] [--verify] [--allow-approximate] [--jobs N] [--only PREFIX]
//! [--out FILE] [--reports DIR]`: import every file of ../shared/corpus with fwnet's parser and
//! translator, (with `--apply`, as root) load each imported file into the kernel through `fwnet apply` in a
//! private network namespace (`unshare -n`), and (with `--verify`, as root) run `fwnet verify`
//! on every imported file the legacy kernel accepts, `--jobs` files at a time (default: the
//! number of CPUs; each verification has namespaces of its own). `--allow-approximate` does all
//! of it as `fwnet import --allow-approximate` and `fwnet verify --allow-approximate` would: the
//! figures a decision to accept approximations needs (CI runs without it). `--reports DIR`
//! keeps each file's `fwnet verify --json` report there (`v4_023.json`), to look into.
//!
//! Prints a table split by the legacy kernel's own verdict on the file (RESULTS.tsv's
//! `restore_class`: ok / invalid / env-*), the reference translator's figures beside fwnet's, the
//! constructs fwnet refuses most, and writes the per-file results as TSV.
//!
//! The corpus has rules but no `ipset save` output. The baseline (`measure.sh`) gave the legacy
//! kernel an empty `hash:net` set for every name a file gives to `--match-set`, `--add-set`,
//! `--del-set` or `--map-set`; fwnet gets the same sets, as an `ipset save` file beside the
//! rules (and `fwnet verify` loads it on the legacy side with `ipset restore`).

use anyhow::{bail, Context, Result};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

struct FileResult {
    file: String,
    restore: String,
    ref_complete_ok: bool,
    imported: bool,
    applied: Option<bool>,
    /// `fwnet verify` exit code: 0 match, 1 mismatch, 2 could not run.
    verified: Option<i32>,
    /// What `fwnet verify --json` played, when it ran.
    probes: Option<ProbeCounts>,
    first_error: String,
    codes: Vec<String>,
    /// Warning codes of an imported file (the quirks fwnet tolerates).
    warnings: Vec<&'static str>,
}

pub fn run(args: &[String]) -> Result<()> {
    let mut apply = false;
    let mut verify = false;
    let mut approximate = false;
    let mut only: Option<String> = None;
    let mut jobs = std::thread::available_parallelism().map_or(1, |n| n.get());
    let mut out = PathBuf::from("target/corpus.tsv");
    let mut reports: Option<PathBuf> = None;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--apply" => apply = true,
            "--verify" => verify = true,
            "--allow-approximate" => approximate = true,
            "--only" => {
                only = Some(
                    it.next()
                        .context("--only needs a path prefix such as v6/")?
                        .clone(),
                )
            }
            "--out" => out = PathBuf::from(it.next().context("--out needs a file")?),
            "--reports" => {
                let dir = PathBuf::from(it.next().context("--reports needs a directory")?);
                std::fs::create_dir_all(&dir)
                    .with_context(|| format!("cannot create {}", dir.display()))?;
                reports = Some(dir);
            }
            "--jobs" => {
                jobs = it
                    .next()
                    .and_then(|n| n.parse().ok())
                    .filter(|n| *n > 0)
                    .context("--jobs needs a positive number")?
            }
            other => {
                bail!("unknown corpus option {other:?} (options: --apply, --verify, --allow-approximate, --jobs N, --only PREFIX, --out FILE, --reports DIR)")
            }
        }
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/corpus");
    let results_tsv = std::fs::read_to_string(root.join("RESULTS.tsv")).with_context(|| {
        format!(
            "cannot read {}: is ../shared beside the checkout?",
            root.display()
        )
    })?;
    let fwnet = if apply || verify {
        Some(build_fwnet()?)
    } else {
        None
    };
    let mut results = Vec::new();
    let mut to_verify: Vec<(usize, Vec<PathBuf>, bool)> = Vec::new();
    let scratch = std::env::temp_dir().join(format!("fwnet-corpus-sets-{}", std::process::id()));
    std::fs::create_dir_all(&scratch)?;
    let rows: Vec<&str> = results_tsv.lines().skip(1).collect();
    for (n, line) in rows.iter().enumerate() {
        let cols: Vec<&str> = line.split('\t').collect();
        let (file, restore) = (cols[0], cols[5]);
        if only.as_ref().is_some_and(|p| !file.starts_with(p.as_str())) {
            continue;
        }
        let ref_complete_ok = cols.get(8) == Some(&"yes") && cols.get(12) == Some(&"ok");
        let path = root.join(file);
        let text = String::from_utf8_lossy(&std::fs::read(&path)?).into_owned();
        let v6 = file.starts_with("v6/");
        let ipset_text = baseline_ipsets(&text, v6);
        let mut files = vec![path.clone()];
        if let Some(t) = &ipset_text {
            let ipset_path = scratch.join(format!("{}.ipset", file.replace('/', "-")));
            std::fs::write(&ipset_path, t)?;
            files.push(ipset_path);
        }
        let (rs, mut diags) = fwnet_iptables::parse(file, &text);
        if !diags.iter().any(|d| d.is_error()) {
            let sets: Vec<_> = ipset_text
                .iter()
                .map(|t| fwnet_iptables::ipset::parse_ipset("baseline.ipset", t).0)
                .collect();
            // The corpus says which tool each file is for (its directory), as the baseline
            // did (ip6tables-legacy-restore for v6/).
            let input = fwnet_translate::Input {
                ruleset: &rs,
                family: if v6 {
                    fwnet_translate::IpFamily::V6
                } else {
                    fwnet_translate::IpFamily::V4
                },
            };
            let opts = fwnet_translate::Options {
                allow_approximate: approximate,
                ..fwnet_translate::Options::default()
            };
            let t = fwnet_translate::translate_with_sets(&[input], &sets, &opts);
            diags.extend(t.diagnostics);
        }
        let errors: Vec<_> = diags.iter().filter(|d| d.is_error()).collect();
        let imported = errors.is_empty();
        let applied = match (&fwnet, imported && apply) {
            (Some(bin), true) => Some(apply_in_namespace(bin, &files, v6, approximate)?),
            _ => None,
        };
        // Verification needs a file the legacy kernel itself accepts; it runs below.
        if imported && verify && restore == "ok" {
            to_verify.push((results.len(), files, v6));
        }
        results.push(FileResult {
            file: file.to_string(),
            restore: restore.to_string(),
            ref_complete_ok,
            imported,
            applied,
            verified: None,
            probes: None,
            first_error: errors
                .first()
                .map(|d| d.to_string().lines().next().unwrap_or("").to_string())
                .unwrap_or_default(),
            warnings: diags
                .iter()
                .filter(|d| !d.is_error())
                .map(|d| d.code)
                .collect(),
            codes: errors
                .iter()
                .map(|d| format!("{}: {}", d.code, construct(&d.message)))
                .collect(),
        });
        if (n + 1) % 50 == 0 {
            eprintln!("corpus: {}/{} files", n + 1, rows.len());
        }
    }
    if let Some(bin) = &fwnet {
        for (i, code, counts) in verify_all(bin, &to_verify, jobs, approximate, reports.as_deref())?
        {
            results[i].verified = Some(code);
            results[i].probes = counts;
        }
    }
    let _ = std::fs::remove_dir_all(&scratch);
    if approximate {
        println!("translated with --allow-approximate: a file whose only refusals had an approximation counts as imported");
    }
    print_summary(&results, apply);
    write_tsv(&out, &results)?;
    println!("per-file results: {}", out.display());
    let mismatches = results.iter().filter(|r| r.verified == Some(1)).count();
    let not_run = results
        .iter()
        .filter(|r| r.verified.is_some_and(|c| c != 0 && c != 1))
        .count();
    let unloaded = results.iter().filter(|r| r.applied == Some(false)).count();
    if mismatches > 0 || unloaded > 0 || not_run > 0 {
        bail!("{mismatches} file(s) with verdict mismatches, {not_run} whose verification could not run, {unloaded} imported file(s) the kernel did not load");
    }
    Ok(())
}

/// What one `fwnet verify --json` report played: all of it, and the kinds of probes that
/// cover what earlier versions left out.
#[derive(Clone, Copy, Debug, Default)]
struct ProbeCounts {
    probes: usize,
    /// ESTABLISHED or RELATED packets routed through the server or sent by it (their
    /// connections written into conntrack).
    routed_state: usize,
    /// Played again with the filter tables emptied, to see a NAT mapping.
    replayed: usize,
    /// Routed through or sent by the server to an address the INPUT probes had it own, played
    /// after them.
    given_up: usize,
    /// Rewritten by NAT (on the legacy side; a difference is a mismatch).
    rewritten: usize,
    /// Carrying a packet mark when they got through (on the legacy side).
    marked: usize,
    /// With a TOS byte or TTL the ruleset changed when they got through (legacy side).
    headers: usize,
    /// Sent as two fragments, and of those, the ones whose first fragment alone got through
    /// (legacy side).
    fragmented: usize,
    half_through: usize,
    /// Showing their conntrack entry (legacy side): every probe that got through has it
    /// compared, but where no rule writes into entries, none on both sides is not shown.
    entries: usize,
    /// Dropped on the legacy side with no rule or filter policy counting them, in any table:
    /// the kernel itself dropped them.
    unexplained: usize,
    /// Rules with probes of their own, none of which reached them (something before them
    /// decided every one).
    unreached: usize,
    /// Nat rules whose mapping no probe showed.
    nat_unseen: usize,
    /// Those of them that repeat an earlier rule of their chain (which maps their packets).
    nat_repeats: usize,
    /// Rules without a probe (a reason each).
    uncovered: usize,
}

impl ProbeCounts {
    fn of(report: &serde_json::Value) -> ProbeCounts {
        let results = report["results"]
            .as_array()
            .map(Vec::as_slice)
            .unwrap_or(&[]);
        let count =
            |f: &dyn Fn(&serde_json::Value) -> bool| results.iter().filter(|r| f(r)).count();
        let len = |key: &str| report[key].as_array().map_or(0, Vec::len);
        ProbeCounts {
            probes: results.len(),
            routed_state: count(&|r| {
                r["probe"]["path"] != "input"
                    && matches!(
                        r["probe"]["spec"]["probe"].as_str(),
                        Some("established" | "related")
                    )
            }),
            replayed: count(&|r| {
                r["probe"]["why"]
                    .as_str()
                    .is_some_and(|w| w.ends_with(fwnet_apply::verify::UNFILTERED_WHY))
            }),
            given_up: count(&|r| {
                r["probe"]["why"]
                    .as_str()
                    .is_some_and(|w| w.contains(fwnet_apply::verify::GIVEN_UP_WHY))
            }),
            rewritten: count(&|r| r["legacy"]["rewritten"].is_string()),
            marked: count(&|r| r["legacy"]["mark"].is_u64()),
            headers: count(&|r| r["legacy"]["tos"].is_u64() || r["legacy"]["ttl"].is_u64()),
            fragmented: count(&|r| r["probe"]["fragmented"] == true),
            half_through: count(&|r| {
                r["probe"]["fragmented"] == true && r["legacy"]["verdict"]["verdict"] == "partial"
            }),
            entries: count(&|r| !r["legacy"]["conntrack"].is_null()),
            unexplained: count(&|r| {
                r["legacy"]["verdict"]["verdict"] == "drop"
                    && r["legacy"]["hits"].as_array().is_some_and(Vec::is_empty)
            }),
            unreached: len("unreached"),
            nat_unseen: len("nat_unseen"),
            nat_repeats: report["nat_repeats"].as_object().map_or(0, |m| m.len()),
            uncovered: len("uncovered"),
        }
    }

    fn add(&mut self, o: &ProbeCounts) {
        self.probes += o.probes;
        self.routed_state += o.routed_state;
        self.replayed += o.replayed;
        self.given_up += o.given_up;
        self.rewritten += o.rewritten;
        self.marked += o.marked;
        self.headers += o.headers;
        self.fragmented += o.fragmented;
        self.half_through += o.half_through;
        self.entries += o.entries;
        self.unexplained += o.unexplained;
        self.unreached += o.unreached;
        self.nat_unseen += o.nat_unseen;
        self.nat_repeats += o.nat_repeats;
        self.uncovered += o.uncovered;
    }
}

/// Verifies `files` (result index, path), `jobs` at a time; returns each index's exit code and
/// what its report counted.
fn verify_all(
    fwnet: &Path,
    files: &[(usize, Vec<PathBuf>, bool)],
    jobs: usize,
    approximate: bool,
    reports: Option<&Path>,
) -> Result<Vec<(usize, i32, Option<ProbeCounts>)>> {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Mutex;
    let next = AtomicUsize::new(0);
    let done = Mutex::new(Vec::with_capacity(files.len()));
    let started = std::time::Instant::now();
    eprintln!("corpus: verifying {} files, {jobs} at a time", files.len());
    std::thread::scope(|s| -> Result<()> {
        let workers: Vec<_> = (0..jobs.min(files.len()).max(1))
            .map(|_| {
                s.spawn(|| -> Result<()> {
                    while let Some((i, paths, v6)) = files.get(next.fetch_add(1, Ordering::Relaxed))
                    {
                        let (code, counts) = verify_file(fwnet, paths, *v6, approximate, reports)?;
                        let mut d = done.lock().unwrap_or_else(|p| p.into_inner());
                        d.push((*i, code, counts));
                        if d.len() % 25 == 0 || d.len() == files.len() {
                            let bad = d.iter().filter(|(_, c, _)| *c != 0).count();
                            eprintln!(
                                "corpus: verified {}/{} files ({bad} not matching) in {:.0} s",
                                d.len(),
                                files.len(),
                                started.elapsed().as_secs_f64()
                            );
                        }
                    }
                    Ok(())
                })
            })
            .collect();
        for w in workers {
            w.join()
                .map_err(|_| anyhow::anyhow!("a verify worker panicked"))??;
        }
        Ok(())
    })?;
    Ok(done.into_inner().unwrap_or_else(|p| p.into_inner()))
}

/// The construct a diagnostic names: its message up to the first colon or semicolon (what
/// follows is the reason, which may name a list or chain), so that similar refusals group
/// together.
fn construct(message: &str) -> String {
    message
        .split([':', ';'])
        .next()
        .unwrap_or(message)
        .trim()
        .to_string()
}

/// `cargo build --release -p fwnet`, and the binary's path.
pub fn build_fwnet() -> Result<PathBuf> {
    let status = Command::new(env!("CARGO"))
        .args(["build", "--release", "-q", "-p", "fwnet"])
        .status()?;
    if !status.success() {
        bail!("cannot build fwnet");
    }
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../target"));
    Ok(target.join("release/fwnet"))
}

/// The `ipset save` text of the empty `hash:net` sets the corpus baseline created for the set
/// names `rules` uses, or `None` if it names none.
fn baseline_ipsets(rules: &str, v6: bool) -> Option<String> {
    let mut names = std::collections::BTreeSet::new();
    for line in rules.lines() {
        let mut words = line.split_whitespace();
        while let Some(w) = words.next() {
            if matches!(w, "--match-set" | "--add-set" | "--del-set" | "--map-set") {
                if let Some(name) = words.next() {
                    names.insert(name.trim_matches('"').to_string());
                }
            }
        }
    }
    let family = if v6 { "inet6" } else { "inet" };
    (!names.is_empty()).then(|| {
        names
            .iter()
            .map(|n| format!("create {n} hash:net family {family} hashsize 1024 maxelem 65536\n"))
            .collect()
    })
}

/// `--family 4` or `--family 6`, as the file's corpus directory says.
fn family_args(v6: bool) -> [&'static str; 2] {
    ["--family", if v6 { "6" } else { "4" }]
}

fn apply_in_namespace(
    fwnet: &Path,
    files: &[PathBuf],
    v6: bool,
    approximate: bool,
) -> Result<bool> {
    let dir = std::env::temp_dir().join(format!("fwnet-corpus-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let import = Command::new(fwnet)
        .args(["import", "--state-dir"])
        .arg(&dir)
        .args(approximate.then_some("--allow-approximate"))
        .args(family_args(v6))
        .args(files)
        .output()?;
    if !import.status.success() {
        return Ok(false);
    }
    // A private network namespace: nothing reaches the host's firewall.
    let apply = Command::new("unshare")
        .arg("-n")
        .arg(fwnet)
        .args(["apply", "--state-dir"])
        .arg(&dir)
        .output()?;
    let _ = std::fs::remove_dir_all(&dir);
    Ok(apply.status.success())
}

/// Seconds one file's verification may take before it counts as "could not run".
const VERIFY_SECONDS: &str = "180";

fn verify_file(
    fwnet: &Path,
    files: &[PathBuf],
    v6: bool,
    approximate: bool,
    reports: Option<&Path>,
) -> Result<(i32, Option<ProbeCounts>)> {
    let rules = &files[0];
    // timeout(1) sends SIGTERM, on which verify removes its namespaces.
    let out = Command::new("timeout")
        .arg(VERIFY_SECONDS)
        .arg(fwnet)
        .arg("verify")
        .arg("--json")
        .args(approximate.then_some("--allow-approximate"))
        .args(family_args(v6))
        .args(files)
        .output()?;
    let code = out.status.code().unwrap_or(2);
    if code == 124 {
        eprintln!(
            "corpus: {} not verified within {VERIFY_SECONDS} s",
            rules.display()
        );
    } else if code == 2 {
        eprintln!(
            "corpus: {} could not be verified: {}",
            rules.display(),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    if let Some(dir) = reports.filter(|_| !out.stdout.is_empty()) {
        // `.../corpus/v4/023.rules` is kept as `v4_023.json`.
        let parts: Vec<String> = rules
            .iter()
            .map(|p| p.to_string_lossy().trim_end_matches(".rules").to_string())
            .collect();
        let name = parts[parts.len().saturating_sub(2)..].join("_");
        let path = dir.join(format!("{name}.json"));
        std::fs::write(&path, &out.stdout)
            .with_context(|| format!("cannot write {}", path.display()))?;
    }
    let report: Option<serde_json::Value> = match code {
        0 | 1 => serde_json::from_slice(&out.stdout).ok(),
        _ => None,
    };
    if code == 1 {
        let mismatches: Vec<String> = report
            .iter()
            .flat_map(|r| r["results"].as_array().cloned().unwrap_or_default())
            .filter(|r| r["same"] == false)
            .take(20)
            .map(|r| {
                let side = |s: &str| {
                    let v = &r[s];
                    match v["rewritten"].as_str() {
                        Some(m) => format!("{}, {m}", v["verdict"]["verdict"]),
                        None => v["verdict"]["verdict"].to_string(),
                    }
                };
                format!(
                    "  {} (for {}: {}): legacy {}, fwnet {}",
                    r["text"].as_str().unwrap_or("?"),
                    r["probe"]["origin"].as_str().unwrap_or("policy"),
                    r["probe"]["why"].as_str().unwrap_or(""),
                    side("legacy"),
                    side("fwnet"),
                )
            })
            .collect();
        eprintln!(
            "corpus: {} MISMATCH (fwnet verify {} names the deciding rules)\n{}",
            rules.display(),
            rules.display(),
            mismatches.join("\n")
        );
    }
    let counts = report.as_ref().map(ProbeCounts::of);
    Ok((if code == 124 { 2 } else { code }, counts))
}

fn print_summary(results: &[FileResult], apply: bool) {
    let mut groups: BTreeMap<&str, Vec<&FileResult>> = BTreeMap::new();
    for r in results {
        let g = match r.restore.as_str() {
            "ok" => "legacy kernel accepts",
            "invalid" => "legacy kernel rejects",
            _ => "environment-dependent",
        };
        groups.entry(g).or_default().push(r);
    }
    println!(
        "{:<24} {:>6} {:>14} {:>14} {:>14}",
        "files",
        "count",
        "fwnet imports",
        if apply { "fwnet loads" } else { "(no --apply)" },
        "reference ok"
    );
    for (g, rs) in &groups {
        let imported = rs.iter().filter(|r| r.imported).count();
        let applied = rs.iter().filter(|r| r.applied == Some(true)).count();
        let reference = rs.iter().filter(|r| r.ref_complete_ok).count();
        println!(
            "{:<24} {:>6} {:>14} {:>14} {:>14}",
            g,
            rs.len(),
            imported,
            if apply {
                applied.to_string()
            } else {
                "-".into()
            },
            reference
        );
    }
    let total_imported = results.iter().filter(|r| r.imported).count();
    println!("{:<24} {:>6} {:>14}", "all", results.len(), total_imported);
    let mut refused: BTreeMap<String, usize> = BTreeMap::new();
    for r in results.iter().filter(|r| !r.imported) {
        let mut seen: Vec<&String> = r.codes.iter().collect();
        seen.sort();
        seen.dedup();
        for c in seen {
            *refused.entry(c.clone()).or_default() += 1;
        }
    }
    let mut refused: Vec<_> = refused.into_iter().collect();
    refused.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    println!("\nmost common reasons for refusal (files):");
    for (c, n) in refused.iter().take(25) {
        println!("{n:>6}  {c}");
    }
    let tolerated: Vec<_> = results
        .iter()
        .filter(|r| r.restore == "invalid" && r.imported)
        .collect();
    if !tolerated.is_empty() {
        println!(
            "\nfiles the legacy kernel rejects that fwnet imports, and the quirk it warns about:"
        );
        for r in &tolerated {
            let mut w = r.warnings.clone();
            w.sort();
            w.dedup();
            println!(
                "  {}  {}",
                r.file,
                if w.is_empty() {
                    "NO WARNING".to_string()
                } else {
                    w.join(", ")
                }
            );
        }
    }
    let verified: Vec<_> = results
        .iter()
        .filter_map(|r| r.verified.map(|v| (r, v)))
        .collect();
    if !verified.is_empty() {
        let count = |code| verified.iter().filter(|(_, v)| *v == code).count();
        println!(
            "\nfwnet verify over {} imported files the legacy kernel accepts: {} match, {} MISMATCH, {} could not run",
            verified.len(),
            count(0),
            count(1),
            verified.len() - count(0) - count(1)
        );
        let mut all = ProbeCounts::default();
        for c in results.iter().filter_map(|r| r.probes.as_ref()) {
            all.add(c);
        }
        println!(
            "probes: {} played; {} ESTABLISHED or RELATED through or from the server (connections written into conntrack); {} played again with the filter tables emptied, to see a NAT mapping; {} routed or sent to an address or group the INPUT probes had the server own or join, played after them; {} rewritten by NAT; {} with a packet mark; {} with a TOS byte or TTL the rules changed; {} sent in two fragments ({} of them routed with only the first let through); {} showing their conntrack entry; {} dropped with no rule or policy counting them (by the kernel); {} nat rule(s) whose mapping no probe showed ({} of them repeats of an earlier rule, which maps their packets first); {} rule(s) without a probe; {} rule(s) whose probes never reached them",
            all.probes, all.routed_state, all.replayed, all.given_up, all.rewritten, all.marked, all.headers, all.fragmented, all.half_through, all.entries, all.unexplained, all.nat_unseen, all.nat_repeats, all.uncovered, all.unreached
        );
        for (r, v) in verified.iter().filter(|(_, v)| *v != 0).take(30) {
            println!(
                "  {} {}",
                if *v == 1 { "mismatch" } else { "not run " },
                r.file
            );
        }
    }
    if apply {
        let failed: Vec<_> = results
            .iter()
            .filter(|r| r.applied == Some(false))
            .collect();
        println!("\nimported but not loaded by the kernel: {}", failed.len());
        for r in failed.iter().take(20) {
            println!("  {}", r.file);
        }
    }
}

fn write_tsv(out: &Path, results: &[FileResult]) -> Result<()> {
    let mut s = String::from(
        "file\trestore_class\treference_complete_ok\tfwnet_imported\tfwnet_applied\tfwnet_verify\tfirst_error\n",
    );
    for r in results {
        s.push_str(&format!(
            "{}\t{}\t{}\t{}\t{}\t{}\t{}\n",
            r.file,
            r.restore,
            r.ref_complete_ok,
            r.imported,
            r.applied.map_or("-".into(), |a| a.to_string()),
            r.verified
                .map_or("-".into(), |v| ["match", "mismatch", "not-run"]
                    [v.clamp(0, 2) as usize]
                    .to_string()),
            r.first_error.replace('\t', " ")
        ));
    }
    if let Some(dir) = out.parent() {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(out, s).with_context(|| format!("cannot write {}", out.display()))
}
