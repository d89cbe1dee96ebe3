//! `fwnet verify`: import the files in-process, then prove the translation against the legacy
//! kernel with `fwnet_apply::verify` and print the comparison.
//!
//! Exit codes are this command's own: 0 every verdict and NAT mapping matches, 1 at least one
//! mismatch, 2 verification could not run (files that do not translate, not root, legacy
//! iptables missing, the legacy kernel rejecting the file, a bad probe file). It does not store
//! anything in the state directory and never touches the host's firewall: everything happens in
//! scratch network namespaces. The `FWNET_VERIFY_MUTATE` environment variable is a test hook (see
//! `fwnet_apply::verify`), deliberately left out of `--help`.

use crate::output;
use anyhow::Result;
use fwnet_apply::verify::{self as v, Report, UNFILTERED_WHY};
use fwnet_iptables::Diagnostic;
use fwnet_translate::{Input, IpFamily, Options};
use std::path::PathBuf;

pub const MATCH: u8 = 0;
pub const MISMATCH: u8 = 1;
pub const COULD_NOT_RUN: u8 = 2;

#[derive(clap::Args)]
pub struct Args {
    /// Print the whole report as JSON
    #[arg(long)]
    json: bool,
    /// Show every probe, not only the mismatches
    #[arg(long, short)]
    verbose: bool,
    /// Add the probes of FILE (one per line, see README.md: `tcp 10.0.0.5:40000 -> 22 flags S`)
    #[arg(long, value_name = "FILE")]
    probes: Option<PathBuf>,
    /// Leave the scratch namespaces in place and print the commands that remove them
    #[arg(long)]
    keep: bool,
    /// Also exercise expiries with real waits: after a burst empties a source's hashlimit
    /// bucket, or a source was put on a `-m recent --seconds` list, wait for the entry to expire
    /// and send from that source again
    #[arg(long)]
    slow: bool,
    /// With --slow, skip expiries longer than this (reported as not verified)
    #[arg(long, value_name = "SECONDS", default_value_t = 300)]
    slow_max: u64,
    /// At most N probes derived from the rules of each address family (user probes from
    /// --probes come on top). Every rule gets its first probe before any rule gets a second;
    /// lines the cap leaves without one are listed as not verified. A probe reads both sides'
    /// counters, so its cost grows with the ruleset (measured on 2-core machines: 600 probes of
    /// a 1,000-rule file in 2-4 s, 5,000 of a 10,000-rule file in 125-145 s)
    #[arg(long, value_name = "N", default_value_t = v::probes::DEFAULT_CAP as u64,
          value_parser = clap::value_parser!(u64).range(1..=1_000_000))]
    max_probes: u64,
    /// Treat every file as IPv4 (iptables) or IPv6 (ip6tables) instead of detecting it per file
    #[arg(long, value_parser = ["4", "6"], value_name = "4|6")]
    family: Option<String>,
    /// Verify the one-rule-per-line translation (`fwnet import --no-optimize`) instead of
    /// the optimized one
    #[arg(long)]
    no_optimize: bool,
    /// Verify the one-inet-table-per-iptables-table translation (`fwnet import --inet`)
    #[arg(long)]
    inet: bool,
    /// Verify the translation `fwnet import --allow-approximate` makes, approximations
    /// included: where they differ from the legacy kernel only for packets the probes do not
    /// send (a SYN without an MSS option, a list of more than 100 addresses), the verdicts
    /// still match, so a pass here is evidence, not proof
    #[arg(long)]
    allow_approximate: bool,
    /// iptables-save files to verify, and `ipset save` files whose sets `-m set` names (the
    /// legacy side loads them with `ipset restore`); `-` reads standard input
    #[arg(required = true, value_name = "FILE")]
    pub files: Vec<PathBuf>,
}

pub fn run(args: &Args) -> Result<u8> {
    let mut texts = Vec::new();
    let mut ipset_texts = Vec::new();
    let mut ipsets = Vec::new();
    let mut diags: Vec<Diagnostic> = Vec::new();
    for f in &args.files {
        let (name, bytes) = match crate::cmd::read_input(f) {
            Ok(read) => read,
            Err(e) => {
                eprintln!("fwnet: cannot read {}: {e}", f.display());
                return Ok(COULD_NOT_RUN);
            }
        };
        let text = String::from_utf8_lossy(&bytes).into_owned();
        // `ipset save` output, as `fwnet import` takes it.
        if fwnet_iptables::ipset::looks_like_ipset(&text) {
            let (sets, d) = fwnet_iptables::ipset::parse_ipset(&name, &text);
            diags.extend(d);
            ipsets.push(sets);
            ipset_texts.push(text);
            continue;
        }
        texts.push((name, text));
    }
    let parsed: Vec<_> = texts
        .iter()
        .map(|(name, text)| {
            let (rs, d) = fwnet_iptables::parse(name, text);
            diags.extend(d);
            rs
        })
        .collect();
    if diags.iter().any(Diagnostic::is_error) {
        return refuse(&diags);
    }
    let inputs: Vec<Input> = parsed
        .iter()
        .map(|rs| Input {
            ruleset: rs,
            family: match args.family.as_deref() {
                Some("6") => IpFamily::V6,
                Some(_) => IpFamily::V4,
                None => {
                    let (f, warning) = fwnet_translate::family_of(rs);
                    diags.extend(warning);
                    f
                }
            },
        })
        .collect();
    // The family decides which legacy tool loads each file, so a guess is worth saying.
    for d in diags
        .iter()
        .filter(|d| d.code == "translate/family-guessed")
    {
        eprintln!("{d}");
    }
    let families: Vec<fwnet_nft::Family> = inputs
        .iter()
        .map(|i| match i.family {
            IpFamily::V6 => fwnet_nft::Family::Ip6,
            _ => fwnet_nft::Family::Ip,
        })
        .collect();
    // Names resolve here as iptables-legacy-restore resolves them on the other side.
    let opts = Options {
        names: Some(std::sync::Arc::new(crate::cmd::HostNames::new(false))),
        allow_approximate: args.allow_approximate,
        ..Options::default()
    };
    let mut t = fwnet_translate::translate_with_sets(&inputs, &ipsets, &opts);
    if t.has_errors() {
        return refuse(&t.diagnostics);
    }
    let approximated = fwnet_translate::approximations(&t.diagnostics);
    if approximated > 0 {
        eprintln!(
            "fwnet: {approximated} rule(s) are APPROXIMATED (--allow-approximate); their differences from the legacy kernel show only where a probe reaches them (`fwnet import --allow-approximate` lists each)"
        );
    }
    // Verify what `fwnet import` stores, the optimized form unless told otherwise; the rules
    // in their written order give the probes for what the optimizer reorders.
    let mut order = None;
    if !args.no_optimize {
        let plain = t.ruleset.clone();
        let stats = fwnet_nft::optimize::ruleset(&mut t.ruleset);
        if stats.runs + stats.maps > 0 {
            order = Some(plain);
        }
    }
    fwnet_nft::shared_sets::name_literals(&mut t.ruleset.tables, !args.no_optimize);
    fwnet_nft::fast_path::tune(&mut t.ruleset.tables);
    let mut options = v::Options::default();
    if let Some(p) = &args.probes {
        let text = match std::fs::read_to_string(p) {
            Ok(t) => t,
            Err(e) => {
                eprintln!("fwnet: cannot read {}: {e}", p.display());
                return Ok(COULD_NOT_RUN);
            }
        };
        match v::parse_file(&p.display().to_string(), &text) {
            Ok(mut probes) => {
                v::probes::fill_ports(&mut probes, &mut v::probes::user_port_alloc());
                options.extra = probes;
            }
            Err(errors) => {
                for e in &errors {
                    eprintln!("{e}");
                }
                eprintln!(
                    "fwnet: {} bad line(s) in the probe file; nothing was verified",
                    errors.len()
                );
                return Ok(COULD_NOT_RUN);
            }
        }
    }
    options.order = order;
    options.cap = args.max_probes as usize;
    options.progress = Some(progress);
    options.keep = args.keep;
    options.inet = args.inet;
    options.ipsets = ipset_texts;
    if args.slow {
        options.slow_max = Some(std::time::Duration::from_secs(args.slow_max));
    }
    if let Ok(m) = std::env::var("FWNET_VERIFY_MUTATE") {
        match v::Mutation::parse(&m) {
            Some(m) => options.mutation = Some(m),
            None => {
                eprintln!("fwnet: unknown FWNET_VERIFY_MUTATE value `{m}`");
                return Ok(COULD_NOT_RUN);
            }
        }
    }
    let originals: Vec<v::Original> = texts
        .into_iter()
        .zip(families)
        .map(|((name, text), family)| v::Original { name, family, text })
        .collect();
    let waits = v::run::expiry_waits(&t.ruleset, &options);
    if !waits.is_empty() {
        let total: std::time::Duration = waits.iter().sum();
        eprintln!(
            "fwnet: {} expiry probe(s) will wait {:.1} s in all (the longest {:.1} s)",
            waits.len(),
            total.as_secs_f64(),
            waits
                .iter()
                .max()
                .copied()
                .unwrap_or_default()
                .as_secs_f64()
        );
    }
    let report = match v::verify(&t.ruleset, &originals, &options) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("fwnet: {e}");
            return Ok(COULD_NOT_RUN);
        }
    };
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print_report(&report, args);
    }
    Ok(if report.mismatches == 0 {
        MATCH
    } else {
        MISMATCH
    })
}

fn refuse(diags: &[Diagnostic]) -> Result<u8> {
    crate::output::to_stderr(diags);
    eprintln!("fwnet: the files do not translate (errors above), so there is nothing to verify; `fwnet import` lists the same problems");
    Ok(COULD_NOT_RUN)
}

/// The report's line on the lines the probe cap left without a probe: how many, and which
/// ([`some_of`]).
fn capped_line(capped: &[String], cap: usize, verbose: bool) -> String {
    format!(
        "no probe for {} line(s): the probe cap ({cap}) was reached first; `--max-probes N` raises it: {}",
        capped.len(),
        some_of(capped, verbose)
    )
}

/// The report's line on the nat rules whose mapping no probe showed: how many, and which
/// ([`some_of`]).
fn nat_unseen_line(unseen: &[&String], verbose: bool) -> String {
    format!(
        "the NAT mapping of {} rule(s), which no probe showed, even with the filter tables emptied: {}",
        unseen.len(),
        some_of(unseen, verbose)
    )
}

/// `a.rules:13 (a repeat of line 12)`, or of `b.rules:12` when the earlier rule is in another
/// file.
fn repeat_of(origin: &str, earlier: &str) -> String {
    format!("{origin} (a repeat of {})", seen_from(origin, earlier))
}

/// `other` (`file:line`) as read next to `origin`: `line 12` in the same file, whole otherwise;
/// anything else (`the policy of INPUT`) as it is.
fn seen_from(origin: &str, other: &str) -> String {
    match (origin.rsplit_once(':'), other.rsplit_once(':')) {
        (Some((file, _)), Some((other_file, line))) if file == other_file => format!("line {line}"),
        _ => other.to_string(),
    }
}

/// `a.rules:13 (decided by line 8)`: a rule no probe reached, and what decided its probes.
fn unreached_of(u: &fwnet_apply::verify::Unreached) -> String {
    let by: Vec<String> = u
        .decided_by
        .iter()
        .map(|d| seen_from(&u.origin, d))
        .collect();
    format!("{} (decided by {})", u.origin, by.join(", "))
}

/// The first [`SHOWN`] of `lines`, or with `--verbose` every one (`--json` has them all).
fn some_of<S: AsRef<str>>(lines: &[S], verbose: bool) -> String {
    let shown = if verbose {
        lines.len()
    } else {
        SHOWN.min(lines.len())
    };
    let more = match lines.len() - shown {
        0 => String::new(),
        n => format!(" and {n} more (--verbose lists them)"),
    };
    let shown: Vec<&str> = lines[..shown].iter().map(AsRef::as_ref).collect();
    format!("{}{more}", shown.join(", "))
}

/// How many lines of a long list the report names without `--verbose`.
const SHOWN: usize = 10;

/// Says on stderr how far the probes are, every [`PROGRESS_EVERY`] (so a run shorter than that
/// says nothing).
fn progress(done: usize, total: usize) {
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::sync::OnceLock;
    static STARTED: OnceLock<std::time::Instant> = OnceLock::new();
    static LAST_SECS: AtomicU64 = AtomicU64::new(0);
    let elapsed = STARTED.get_or_init(std::time::Instant::now).elapsed();
    let secs = elapsed.as_secs();
    if secs >= LAST_SECS.load(Ordering::Relaxed) + PROGRESS_EVERY.as_secs() {
        LAST_SECS.store(secs, Ordering::Relaxed);
        eprintln!("fwnet: verify: {done} of {total} probes played ({secs} s)");
    }
}

/// How often [`progress`] speaks.
const PROGRESS_EVERY: std::time::Duration = std::time::Duration::from_secs(5);

fn print_report(r: &Report, args: &Args) {
    let files: Vec<String> = args
        .files
        .iter()
        .map(|f| crate::cmd::input_name(f))
        .collect();
    let mut rows = vec![vec![
        "probe".to_string(),
        "legacy".into(),
        "fwnet".into(),
        String::new(),
    ]];
    for res in r.results.iter().filter(|res| args.verbose || !res.same) {
        rows.push(vec![
            res.text.clone(),
            res.legacy.outcome(),
            res.fwnet.outcome(),
            if res.same {
                String::new()
            } else {
                "MISMATCH".into()
            },
        ]);
    }
    if rows.len() > 1 {
        print!("{}", output::table(&rows, &[]));
        println!();
    }
    for res in r.results.iter().filter(|res| !res.same) {
        let from = res
            .probe
            .origin
            .as_deref()
            .map_or(String::new(), |o| format!(" (for {o}: {})", res.probe.why));
        println!("mismatch: {}{from}", res.text);
        // Where the mappings differ, the nat rules that gave them are named too.
        let nat_differs = res.legacy.rewritten != res.fwnet.rewritten;
        for (name, side) in [("legacy:", &res.legacy), ("fwnet: ", &res.fwnet)] {
            println!(
                "  {name} {:<14} decided by {}",
                side.outcome(),
                side.decided_by(res.probe.path.chain())
            );
            if let Some(m) = side.mapped_by().filter(|_| nat_differs) {
                println!("          mapped by {m}");
            }
        }
    }
    for u in &r.uncovered {
        println!("no probe for {u}");
    }
    if !r.capped.is_empty() {
        println!("{}", capped_line(&r.capped, r.cap, args.verbose));
    }
    for n in &r.not_verified {
        println!("not verified: {n}");
    }
    let (repeats, unseen): (Vec<&String>, Vec<&String>) = r
        .nat_unseen
        .iter()
        .partition(|o| r.nat_repeats.contains_key(*o));
    if !unseen.is_empty() {
        println!("not verified: {}", nat_unseen_line(&unseen, args.verbose));
    }
    if !repeats.is_empty() {
        let named: Vec<String> = repeats
            .iter()
            .map(|o| repeat_of(o, &r.nat_repeats[*o]))
            .collect();
        println!(
            "not verified: the NAT mapping of {} rule(s) that repeat an earlier rule of their chain word for word, which maps their packets first: {}",
            named.len(),
            some_of(&named, args.verbose)
        );
    }
    if !r.unreached.is_empty() {
        let named: Vec<String> = r.unreached.iter().map(unreached_of).collect();
        println!(
            "not verified: {} rule(s) whose probes never reached them, something before them deciding every one: {}",
            named.len(),
            some_of(&named, args.verbose)
        );
    }
    for why in &r.reruns {
        println!("rerun: {why}");
    }
    if let Some(m) = &r.mutation {
        println!("test hook: fwnet's side was deliberately broken ({m})");
    }
    let loose = r
        .tcp_loose
        .map_or("-".to_string(), |l| u8::from(l).to_string());
    let again = r
        .results
        .iter()
        .filter(|p| p.probe.why.ends_with(UNFILTERED_WHY))
        .count();
    let again = match again {
        0 => String::new(),
        n => format!(" ({n} of them again with the filter tables emptied, to see NAT mappings)"),
    };
    println!(
        "verified {}: {} probes{again}, {} mismatch(es); nf_conntrack_tcp_loose={loose}; setup {} ms, probes {} ms, total {} ms",
        files.join(", "),
        r.results.len(),
        r.mismatches,
        r.timings.setup_ms,
        r.timings.probes_ms,
        r.timings.total_ms
    );
    if !r.kept.is_empty() {
        println!("the namespaces were kept; remove them with:");
        for k in &r.kept {
            println!("  {k}");
        }
    }
}
