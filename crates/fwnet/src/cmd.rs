//! The subcommands. Each returns the process exit code; `Err` is reserved for environment
//! failures (unreadable files, no state, no privileges) that main turns into exit code 4.

use crate::exit;
use crate::output;
use crate::state::{self, Source, State};
use anyhow::{Context, Result};
use fwnet_iptables::{Diagnostic, Severity};
use fwnet_translate::{IpFamily, Options, OwnedInput};
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Reads `--iptables-config FILE` (IPTABLES_MODULES) for [`import`].
pub fn iptables_config(path: Option<&Path>) -> Result<Option<fwnet_translate::IptablesConfig>> {
    let Some(p) = path else { return Ok(None) };
    let text =
        std::fs::read_to_string(p).with_context(|| format!("cannot read {}", p.display()))?;
    Ok(Some(fwnet_translate::parse_iptables_config(
        &p.display().to_string(),
        &text,
    )))
}

/// The name `-` stands for in messages and in each rule's `# file:line`.
pub const STDIN_NAME: &str = "<stdin>";

/// Reads an input file given on the command line, `-` meaning standard input (`iptables-save |
/// fwnet import -`); returns the name messages use for it and its bytes.
pub fn read_input(path: &Path) -> std::io::Result<(String, Vec<u8>)> {
    let bytes = if path.as_os_str() == "-" {
        let mut bytes = Vec::new();
        std::io::Read::read_to_end(&mut std::io::stdin().lock(), &mut bytes)?;
        bytes
    } else {
        std::fs::read(path)?
    };
    Ok((input_name(path), bytes))
}

/// The name of an input file given on the command line, as messages give it.
pub fn input_name(path: &Path) -> String {
    if path.as_os_str() == "-" {
        STDIN_NAME.to_string()
    } else {
        path.display().to_string()
    }
}

/// `fwnet import`'s switches that are not translation options.
#[derive(Clone, Copy, Debug)]
pub struct ImportHow {
    /// Without `--no-optimize`.
    pub optimize: bool,
    /// `--inet`.
    pub inet: bool,
    /// Without `--no-resolve`.
    pub resolve: bool,
}

/// Answers for the user, group and host names of the rules from this host, as
/// iptables-restore gets them when it loads a file (`fwnet_apply::names`), each name asked
/// once. With `tell`, says on stderr that it is asking before the first question (a name
/// service that does not answer makes each one wait for its timeout, as it does for
/// iptables-restore).
/// Per name (and family, for hosts), the answer given: a name is asked once.
type Answers<K, V> = std::sync::Mutex<BTreeMap<K, Result<V, String>>>;

#[derive(Debug, Default)]
pub struct HostNames {
    tell: bool,
    told: std::sync::atomic::AtomicBool,
    users: Answers<String, Option<u32>>,
    groups: Answers<String, Option<u32>>,
    hosts: Answers<(String, IpFamily), Vec<std::net::IpAddr>>,
    services: Answers<(String, Option<String>), Option<u16>>,
}

impl HostNames {
    pub fn new(tell: bool) -> HostNames {
        HostNames {
            tell,
            ..HostNames::default()
        }
    }

    fn asking(&self) {
        use std::sync::atomic::Ordering;
        if self.tell && !self.told.swap(true, Ordering::Relaxed) {
            eprintln!(
                "looking up user, group and host names on this host, as iptables-restore would (--no-resolve: refuse names)"
            );
        }
    }
}

/// `key`'s answer from `cache`, asking `ask` the first time.
fn cached<K: Ord + Clone, V: Clone>(
    cache: &std::sync::Mutex<BTreeMap<K, V>>,
    key: &K,
    ask: impl FnOnce() -> V,
) -> V {
    let mut c = cache.lock().unwrap_or_else(|p| p.into_inner());
    c.entry(key.clone()).or_insert_with(ask).clone()
}

impl fwnet_translate::Resolve for HostNames {
    fn user(&self, name: &str) -> Result<Option<u32>, String> {
        cached(&self.users, &name.to_string(), || {
            self.asking();
            fwnet_apply::names::user_id(name).map_err(|e| e.to_string())
        })
    }

    fn group(&self, name: &str) -> Result<Option<u32>, String> {
        cached(&self.groups, &name.to_string(), || {
            self.asking();
            fwnet_apply::names::group_id(name).map_err(|e| e.to_string())
        })
    }

    fn host(&self, name: &str, family: IpFamily) -> Result<Vec<std::net::IpAddr>, String> {
        cached(&self.hosts, &(name.to_string(), family), || {
            self.asking();
            fwnet_apply::names::host_addrs(name, family == IpFamily::V6).map_err(|e| e.to_string())
        })
    }

    fn service(&self, name: &str, proto: Option<&str>) -> Result<Option<u16>, String> {
        let key = (name.to_string(), proto.map(str::to_string));
        cached(&self.services, &key, || {
            self.asking();
            fwnet_apply::names::service_port(name, proto).map_err(|e| e.to_string())
        })
    }
}

/// What import carves from its arena (small blocks, `fwnet_apply::arena`): 2.4 MB for the
/// pages of the classes a small file uses, and per byte of input 4.4 to 5.7 more on the bench
/// inputs of 1 MB and more (`fwnet_apply::arena::taken` at the end: 5.7 for the 100k mixed
/// rules, 4.4 to 4.6 for the blocklists; 5.7 to 6.5 when statements were 72 bytes, 7.1 to 8.0
/// when they were 88). 6 rather than 5: with 5, interleaved runs were 1-2% slower on the mixed
/// rules and 5% faster on a blocklist, within the noise (`docs/bench/2026-11-29d.md`).
const ARENA_BASE: usize = 2 << 20;
const ARENA_PER_INPUT_BYTE: usize = 6;

/// What import takes from glibc's heap (large blocks: the input's text, long vectors), per byte
/// of input: 4.6 to 7.9 on the same inputs (the program break's growth).
const HEAP_PER_INPUT_BYTE: usize = 4;

/// Inputs smaller than this are not populated ahead (the heap is still grown, so its large
/// blocks are reused rather than mapped afresh): below it, the thread's start and the arena's
/// base populated for nothing cost more than the input's own faults. Median import times,
/// populated ahead and not, over 40 to 80 interleaved runs (`docs/bench/2026-11-29c.md`): 72
/// bytes 2.44 and 1.61 ms; the seed (2 KB) 2.41 and 1.59; 63 KB (1k rules) 4.23 and 3.65;
/// 190 KB 7.63 and 7.27; 320 KB 11.66 and 11.64; 640 KB (10k rules) 18.97 and 19.30; 2.5 MB
/// (the 50k blocklist) 39.0 and 44.4; 6.6 MB (100k rules) 176 and 203.
const POPULATE_FROM_INPUT_BYTES: usize = 256 << 10;

/// How much of the arena's start to populate ahead for an input of `input_bytes`: none for a
/// small input.
fn arena_ahead(input_bytes: usize) -> Option<usize> {
    (input_bytes >= POPULATE_FROM_INPUT_BYTES)
        .then(|| ARENA_BASE.saturating_add(input_bytes.saturating_mul(ARENA_PER_INPUT_BYTE)))
}

pub fn import(
    dir: &Path,
    family: Option<&str>,
    json: bool,
    files: &[PathBuf],
    opts: &Options,
    how: ImportHow,
) -> Result<u8> {
    let ImportHow {
        optimize,
        inet,
        resolve,
    } = how;
    // Small blocks from the arena (`fwnet_apply::arena`); for a large input, the memory import
    // will write, in the arena and in the heap, faulted in on the other core meanwhile
    // (`fwnet_apply::prefault`). Standard input has no size to go by: it is faulted as it comes.
    let input_bytes: usize = files
        .iter()
        .filter(|f| f.as_os_str() != "-")
        .filter_map(|f| std::fs::metadata(f).ok())
        .map(|m| usize::try_from(m.len()).unwrap_or(usize::MAX))
        .fold(0, usize::saturating_add);
    let arena = fwnet_apply::arena::enable();
    let heap = fwnet_apply::prefault::grow_heap(input_bytes.saturating_mul(HEAP_PER_INPUT_BYTE));
    if let Some(ahead) = arena_ahead(input_bytes) {
        let ranges = arena
            .map(|a| a.start..a.start.saturating_add(ahead).min(a.end))
            .into_iter()
            .chain(heap);
        // Dropped at once: the thread goes on populating on its own.
        let _ = fwnet_apply::prefault::populate(ranges);
    }
    let mut diags: Vec<Diagnostic> = Vec::new();
    let mut parsed = Vec::new();
    let mut ipsets = Vec::new();
    let mut names = Vec::new();
    for f in files {
        let (name, bytes) =
            read_input(f).with_context(|| format!("cannot read {}", f.display()))?;
        names.push(name.clone());
        let text = match String::from_utf8(bytes) {
            Ok(t) => t,
            Err(e) => {
                // Comments in old files are sometimes Latin-1: keep going, say where.
                let (line, col) = line_col(e.as_bytes(), e.utf8_error().valid_up_to());
                diags.push(Diagnostic {
                    severity: Severity::Warning,
                    code: "import/not-utf8",
                    file: name.clone(),
                    line,
                    column: col,
                    message: "the file is not valid UTF-8; invalid bytes were replaced with U+FFFD"
                        .into(),
                    help: Some("check comments and log prefixes for non-ASCII characters".into()),
                });
                String::from_utf8_lossy(e.as_bytes()).into_owned()
            }
        };
        // `ipset save` output goes with the rules whose `-m set` names its sets.
        if fwnet_iptables::ipset::looks_like_ipset(&text) {
            let (sets, d) = fwnet_iptables::ipset::parse_ipset(&name, &text);
            diags.extend(d);
            ipsets.push(sets);
            continue;
        }
        let (rs, d) = fwnet_iptables::parse(&name, &text);
        diags.extend(d);
        parsed.push(rs);
    }
    let parse_failed = diags.iter().any(Diagnostic::is_error);
    let mut sources = Vec::new();
    let mut translation = None;
    let mut optimized = None;
    let mut shared = fwnet_nft::shared_sets::Shared::default();
    if !parse_failed {
        // Each file's syntax tree goes to the translator, which frees it rule by rule.
        let inputs: Vec<OwnedInput> = std::mem::take(&mut parsed)
            .into_iter()
            .map(|rs| {
                let family = match family {
                    Some("6") => IpFamily::V6,
                    Some(_) => IpFamily::V4,
                    None => {
                        let (f, warning) = fwnet_translate::family_of(&rs);
                        diags.extend(warning);
                        f
                    }
                };
                OwnedInput {
                    ruleset: rs,
                    family,
                }
            })
            .collect();
        for i in &inputs {
            sources.push(Source {
                file: i.ruleset.file.clone(),
                family: match i.family {
                    IpFamily::V4 => "ipv4".into(),
                    IpFamily::V6 => "ipv6".into(),
                },
                rules: i.ruleset.tables.iter().map(rule_count).sum(),
            });
        }
        let mut opts = opts.clone();
        if resolve {
            opts.names = Some(std::sync::Arc::new(HostNames::new(!json)));
        }
        let mut t = fwnet_translate::translate_owned(inputs, &ipsets, &opts);
        if optimize && !t.has_errors() {
            optimized = Some(fwnet_nft::optimize::ruleset(&mut t.ruleset));
        }
        if !t.has_errors() {
            shared = fwnet_nft::shared_sets::name_literals(&mut t.ruleset.tables, optimize);
            fwnet_nft::fast_path::tune(&mut t.ruleset.tables);
            if inet {
                diags.extend(inet_conntrack_warning(&t.ruleset, &sources));
                // Last: the passes above work on single-family tables.
                fwnet_nft::inet::merge(&mut t.ruleset.tables);
            }
        }
        diags.extend(t.diagnostics.iter().cloned());
        translation = Some(t);
    }
    diags.sort_by(|a, b| (&a.file, a.line, a.column).cmp(&(&b.file, b.line, b.column)));
    let errors = diags.iter().filter(|d| d.is_error()).count();
    let warnings = diags.len() - errors;
    let approximations = fwnet_translate::approximations(&diags);
    let summary = translation
        .as_ref()
        .map(|t| summarize(&t.ruleset))
        .unwrap_or_default();
    let stored = match (&mut translation, errors) {
        (Some(t), 0) => {
            let state = State::new(sources, std::mem::take(&mut t.ruleset));
            state::store(dir, &state)?;
            // The process ends right after: freeing a large ruleset rule by rule only costs time.
            std::mem::forget(state);
            true
        }
        _ => false,
    };
    if json {
        #[derive(Serialize)]
        struct Report<'a> {
            ok: bool,
            stored: Option<String>,
            errors: usize,
            warnings: usize,
            /// Rules emitted as approximations (`--allow-approximate`), also among the warnings.
            approximations: usize,
            diagnostics: &'a [Diagnostic],
            tables: Vec<TableSummary>,
        }
        let report = Report {
            ok: stored,
            stored: stored.then(|| state::path(dir).display().to_string()),
            errors,
            warnings,
            approximations,
            diagnostics: &diags,
            tables: summary,
        };
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        output::to_stderr(&diags);
        if stored {
            let rows: Vec<Vec<String>> = summary
                .iter()
                .map(|s| {
                    vec![
                        format!("table {} {}", s.family, s.name),
                        format!("{} chains", s.chains),
                        format!("{} rules", s.rules),
                        format!("{} sets", s.sets),
                    ]
                })
                .collect();
            println!("imported {}", names.join(", "));
            print!("{}", indent(&output::table(&rows, &[])));
            if let Some(o) = optimized.filter(|o| o.runs + o.maps > 0) {
                let mut done = Vec::new();
                match o.runs {
                    0 => {}
                    1 => done.push("1 run became a set lookup".to_string()),
                    n => done.push(format!("{n} runs became set lookups")),
                }
                match o.maps {
                    0 => {}
                    1 => {
                        done.push("1 run with different verdicts became a verdict map".to_string())
                    }
                    n => done.push(format!(
                        "{n} runs with different verdicts became verdict maps"
                    )),
                }
                let runs = done.join(", ");
                println!(
                    "optimized: {} rules compiled into {} ({runs}, each with one counter; --no-optimize keeps one rule per line)",
                    o.rules_in, o.rules_out
                );
            }
            if let Some(o) = optimized.filter(|o| o.split_chains > 0) {
                println!(
                    "dispatched: {} long chain(s) split into one chain per protocol, so a packet \
                     walks only the rules that could match it (--no-optimize keeps them whole)",
                    o.split_chains
                );
            }
            if shared.expanded > 0 {
                println!(
                    "short lists: {} lists of at most {} values written as one rule (or one `!=` \
                     test) per value, which the kernel loads much faster than set literals or \
                     named sets in a table with {} or more literals or with many rules \
                     (--no-optimize keeps the lists)",
                    shared.expanded,
                    fwnet_nft::shared_sets::EXPAND_MAX,
                    fwnet_nft::shared_sets::THRESHOLD
                );
            }
            if shared.named > 0 {
                println!(
                    "named sets: {} (a table with {} or more set literals, or with fewer in \
                     very many rules, gets named sets instead, which the kernel loads faster)",
                    shared.named,
                    fwnet_nft::shared_sets::THRESHOLD
                );
            }
            if approximations > 0 {
                println!("{approximations} rule(s) APPROXIMATED (--allow-approximate): their comments say `fwnet approximate`; the kernel will not behave exactly as the legacy firewall did");
            }
            if warnings > approximations {
                println!(
                    "{} warning(s) above: behaviour is kept, but read them",
                    warnings - approximations
                );
            }
            println!("stored in {}", state::path(dir).display());
            println!("next: `fwnet show` to review, `fwnet apply --check`, then `fwnet apply`");
        } else {
            eprintln!(
                "fwnet: {errors} error(s), {warnings} warning(s): nothing was stored{}",
                if state::path(dir).exists() {
                    " (the previous import is unchanged)"
                } else {
                    ""
                }
            );
        }
    }
    Ok(if stored { exit::OK } else { exit::INPUT })
}

fn rule_count(t: &fwnet_iptables::Table) -> usize {
    t.commands
        .iter()
        .filter(|c| {
            matches!(
                c,
                fwnet_iptables::Command::Append(_) | fwnet_iptables::Command::Insert { .. }
            )
        })
        .count()
}

fn indent(s: &str) -> String {
    s.lines().map(|l| format!("  {l}\n")).collect()
}

fn line_col(bytes: &[u8], offset: usize) -> (u32, u32) {
    let before = &bytes[..offset.min(bytes.len())];
    let line = before.iter().filter(|b| **b == b'\n').count() + 1;
    let col = before.iter().rev().take_while(|b| **b != b'\n').count() + 1;
    (line as u32, col as u32)
}

#[derive(Serialize, Default)]
struct TableSummary {
    family: String,
    name: String,
    chains: usize,
    rules: usize,
    sets: usize,
}

fn summarize(rs: &fwnet_nft::Ruleset) -> Vec<TableSummary> {
    rs.tables
        .iter()
        .map(|t| TableSummary {
            family: family_name(t.family).into(),
            name: t.name.clone(),
            chains: t.chains.len(),
            rules: t.chains.iter().map(|c| c.rules.len()).sum(),
            sets: t.sets.len(),
        })
        .collect()
}

pub fn family_name(f: fwnet_nft::Family) -> &'static str {
    match f {
        fwnet_nft::Family::Ip => "ip",
        fwnet_nft::Family::Ip6 => "ip6",
        fwnet_nft::Family::Inet => "inet",
    }
}

pub fn show(dir: &Path, json: bool) -> Result<u8> {
    let st = state::load(dir)?;
    if json {
        let mut out = std::io::BufWriter::with_capacity(1 << 16, std::io::stdout().lock());
        state::write_json(&st, &mut out)?;
        std::io::Write::flush(&mut out)?;
    } else {
        print!("{}", fwnet_nft::print::ruleset(&st.ruleset));
    }
    Ok(exit::OK)
}

pub struct ApplyOpts {
    pub check: bool,
    pub confirm: Option<u64>,
    pub keep_counters: bool,
    pub boot: bool,
    /// Apply even if it cuts the SSH session fwnet runs over.
    pub force: bool,
    pub json: bool,
}

pub fn apply(dir: &Path, opts: &ApplyOpts) -> Result<u8> {
    // Small blocks from the arena, as for import: at 100k rules 10% fewer instructions and 4 MB
    // less peak memory than glibc's allocator (`docs/bench/2026-11-28b.md`). The process ends
    // when the batch is done (the `--confirm` watchdog is a process of its own).
    let _ = fwnet_apply::arena::enable();
    // glibc raises its mmap threshold to the size of each large block freed: after the state
    // file's bytes (13.5 MB at 100k rules) the batch's growing buffer came from the heap, whose
    // left-behind copies raised apply's peak from 95.5 to 100.9 MB. A threshold set explicitly
    // stays where it is (94.9 MB).
    // SAFETY: mallopt changes glibc's malloc settings, nothing Rust owns.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 128 * 1024);
    }
    let (check, confirm, json) = (opts.check, opts.confirm, opts.json);
    let mode = if check {
        fwnet_apply::Mode::Check
    } else {
        fwnet_apply::Mode::Commit
    };
    // Privileges first: without them nothing else (the lock, the snapshot) matters.
    if let Err(e) = fwnet_apply::check_access() {
        eprintln!("fwnet: {e}");
        return Ok(exit::ENV);
    }
    let _lock = crate::safe::lock(dir)?;
    if opts.boot {
        if let Some(what) = crate::safe::restore_saved_if_newer(dir)? {
            println!("restored the saved ruleset ({what})");
            return Ok(exit::OK);
        }
    }
    let mut st = state::load(dir)?;
    if let Some(p) = crate::safe::pending(dir).filter(|_| !check) {
        anyhow::bail!(
            "an earlier `fwnet apply --confirm` is still waiting (its watchdog restores the previous ruleset at {}): run `fwnet confirm` or `fwnet rollback` first",
            crate::safe::describe_deadline(p.deadline_ms)
        );
    }
    if let Some(code) = crate::lockout::guard(&st.ruleset, opts) {
        return Ok(code);
    }
    if opts.keep_counters {
        let kept = fwnet_apply::diff::carry_counters(&mut st.ruleset)
            .map_err(|e| anyhow::anyhow!("cannot read the kernel's counters: {e}"))?;
        eprintln!("keeping the kernel's counters of {kept} unchanged rule(s)");
    }
    if !check {
        // What runs now, for `fwnet rollback` and the watchdog.
        crate::safe::save_snapshot(dir)?;
    }
    let applied = fwnet_apply::apply(&st.ruleset, mode);
    // The process ends right after: freeing the ruleset rule by rule only costs time (25 M
    // instructions at 100k rules, 2% of apply's own).
    std::mem::forget(st);
    match applied {
        Ok(done) => {
            let armed = match confirm {
                Some(secs) => Some(crate::safe::arm(dir, secs)?),
                None => None,
            };
            if json {
                println!("{}", serde_json::to_string_pretty(&done)?);
            } else {
                let verb = if check { "would apply" } else { "applied" };
                for t in &done.tables {
                    println!(
                        "{verb} table {} {}: {} chains, {} sets, {} rules",
                        t.family, t.name, t.chains, t.sets, t.rules
                    );
                }
                for t in &done.removed {
                    println!(
                        "{} table {} (no longer in the stored ruleset)",
                        if check { "would remove" } else { "removed" },
                        t
                    );
                }
                if check {
                    println!("the kernel accepted the whole batch; nothing was committed");
                } else {
                    println!(
                        "one transaction, {} messages; other tables untouched",
                        done.messages
                    );
                }
            }
            if let Some(p) = &armed {
                // On stderr too under --json: a person must see it.
                eprintln!(
                    "unless you run `fwnet confirm` within {} s, the previous ruleset comes back by itself at {} (watchdog pid {}, independent of this session)",
                    confirm.unwrap_or(0),
                    crate::safe::describe_deadline(p.deadline_ms),
                    p.pid
                );
            }
            Ok(exit::OK)
        }
        Err(fwnet_apply::Error::Rejected(rejections)) => {
            if json {
                println!("{}", serde_json::to_string_pretty(&rejections)?);
            }
            output::to_stderr(&rejections);
            eprintln!(
                "fwnet: the kernel refused the ruleset; nothing was {} (the previous ruleset is unchanged)",
                if check { "committed" } else { "changed" }
            );
            Ok(exit::KERNEL)
        }
        Err(e) => {
            eprintln!("fwnet: {e}");
            Ok(exit::ENV)
        }
    }
}

pub fn status(dir: &Path, json: bool) -> Result<u8> {
    // The stored state is optional here: without it, rules are shown undecoded.
    let stored = state::load(dir).ok();
    let read = fwnet_apply::status(stored.as_ref().map(|s| &s.ruleset))
        .and_then(|t| fwnet_apply::coexist::neighbours().map(|n| (t, n)));
    let (tables, others) = match read {
        Ok(x) => x,
        Err(e) => {
            eprintln!("fwnet: {e}");
            return Ok(exit::ENV);
        }
    };
    if json {
        #[derive(Serialize)]
        struct Status<'a> {
            tables: &'a [fwnet_apply::TableStatus],
            others: &'a fwnet_apply::coexist::Neighbours,
        }
        let out = Status {
            tables: &tables,
            others: &others,
        };
        println!("{}", serde_json::to_string_pretty(&out)?);
        return Ok(exit::OK);
    }
    if tables.is_empty() {
        println!("the kernel holds no fwnet tables: run `fwnet apply`");
        print_neighbours(&others);
        return Ok(exit::OK);
    }
    for t in &tables {
        println!("table {} {}", t.family, t.name);
        for c in &t.chains {
            match &c.hook {
                Some(h) => println!(
                    "Chain {} (type {} hook {} priority {}; policy {}{})",
                    c.name,
                    h.kind,
                    h.hook,
                    h.priority,
                    h.policy,
                    match (h.packets, h.bytes) {
                        (Some(p), Some(b)) => format!(" {} packets, {} bytes", human(p), human(b)),
                        _ => String::new(),
                    }
                ),
                None => println!("Chain {}", c.name),
            }
            if c.rules.is_empty() {
                println!("  (no rules)\n");
                continue;
            }
            let mut rows = vec![vec![
                "pkts".to_string(),
                "bytes".to_string(),
                "origin".to_string(),
                "rule".to_string(),
            ]];
            for r in &c.rules {
                rows.push(vec![
                    r.packets.map_or("-".into(), human),
                    r.bytes.map_or("-".into(), human),
                    r.origin.clone().unwrap_or_else(|| {
                        if r.drift {
                            "drift".into()
                        } else {
                            "-".into()
                        }
                    }),
                    r.text.clone(),
                ]);
            }
            print!("{}", output::table(&rows, &[0, 1]));
            println!();
        }
        if t.drift {
            println!("warning: this table differs from the stored ruleset (changed by hand, or a different import): `fwnet apply` restores the stored one");
        }
    }
    print_neighbours(&others);
    Ok(exit::OK)
}

/// iptables -nvL style abbreviations: 1234 -> 1234, 123456 -> 123K, 123456789 -> 123M.
fn human(n: u64) -> String {
    const UNITS: [(u64, &str); 3] = [(1_000_000_000, "G"), (1_000_000, "M"), (1_000, "K")];
    if n < 100_000 {
        return n.to_string();
    }
    for (div, unit) in UNITS {
        if n >= div * 100 || (div == 1_000 && n >= 100_000) {
            return format!("{}{unit}", n / div);
        }
    }
    n.to_string()
}

pub fn diff(dir: &Path, json: bool) -> Result<u8> {
    let st = state::load(dir)?;
    let tables = match fwnet_apply::diff::diff(&st.ruleset) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("fwnet: {e}");
            return Ok(exit::ENV);
        }
    };
    if json {
        println!("{}", serde_json::to_string_pretty(&tables)?);
    } else if tables.is_empty() {
        println!("no differences: the kernel holds exactly the stored ruleset");
    } else {
        for t in &tables {
            println!("table {} {} ({})", t.family, t.name, t.change);
            for c in &t.chains {
                println!("  chain {} ({})", c.name, c.change);
                if let Some(b) = &c.base {
                    println!("    {b}");
                }
                for r in &c.rules {
                    let note = match (&r.origin, r.handle) {
                        (Some(o), _) => format!("  # {o}"),
                        (None, Some(h)) => format!("  # kernel handle {h}"),
                        (None, None) => String::new(),
                    };
                    println!("    {} {}{note}", r.op, r.text);
                }
            }
        }
    }
    Ok(if tables.is_empty() {
        exit::OK
    } else {
        exit::INPUT
    })
}

/// The unit `install-service` writes. Ordered before network-pre.target, so the firewall is
/// in place before any interface is configured; a oneshot that stays "active" so `systemctl
/// status fwnet` shows whether it worked.
pub fn unit_text(exe: &Path, state_dir: &Path) -> String {
    format!(
        "[Unit]
Description=fwnet firewall (native nftables from {state})
DefaultDependencies=no
Wants=network-pre.target
Before=network-pre.target shutdown.target
After=local-fs.target
Conflicts=shutdown.target

[Service]
Type=oneshot
RemainAfterExit=yes
ExecStart={exe} apply --boot --state-dir {state}
ExecReload={exe} apply --state-dir {state}

[Install]
WantedBy=sysinit.target
",
        exe = exe.display(),
        state = state_dir.display()
    )
}

pub fn install_service(dir: &Path, unit_dir: &Path) -> Result<u8> {
    let exe = std::env::current_exe().context("cannot find the fwnet binary")?;
    let exe = exe.canonicalize().unwrap_or(exe);
    let state_dir = if dir.is_absolute() {
        dir.to_path_buf()
    } else {
        std::env::current_dir()?.join(dir)
    };
    std::fs::create_dir_all(unit_dir)
        .with_context(|| format!("cannot create {}", unit_dir.display()))?;
    let path = unit_dir.join("fwnet.service");
    std::fs::write(&path, unit_text(&exe, &state_dir))
        .with_context(|| format!("cannot write {}", path.display()))?;
    println!("wrote {}", path.display());
    println!(
        "it runs `{} apply --boot --state-dir {}` before the network comes up",
        exe.display(),
        state_dir.display()
    );
    println!("enable it with: systemctl daemon-reload && systemctl enable fwnet.service");
    Ok(exit::OK)
}

/// Other firewalls on the same hooks, and what they mean for fwnet's rules (printed after
/// fwnet's own tables).
fn print_neighbours(n: &fwnet_apply::coexist::Neighbours) {
    if n.chains.is_empty() && n.legacy.is_empty() {
        return;
    }
    let mut rows = vec![vec![
        "other table".to_string(),
        "chain".into(),
        "hook".into(),
        "priority".into(),
        "policy".into(),
        "rules".into(),
        "drop rules".into(),
    ]];
    for c in &n.chains {
        rows.push(vec![
            format!("{} {}", c.family, c.table),
            c.chain.clone(),
            c.hook.to_string(),
            c.priority.to_string(),
            c.policy.to_string(),
            c.rules.to_string(),
            c.drop_rules.to_string(),
        ]);
    }
    for l in &n.legacy {
        rows.push(vec![
            format!("legacy iptables {l}"),
            "-".into(),
            "-".into(),
            "-".into(),
            "-".into(),
            "-".into(),
            "-".into(),
        ]);
    }
    println!("other firewalls in this network namespace (fwnet never touches them):");
    print!("{}", indent(&output::table(&rows, &[3, 5, 6])));
    for w in &n.warnings {
        println!("warning: {w}");
    }
    println!();
}

/// `--inet` with one family tracking connections and the other not: in one inet table the
/// kernel tracks (and reassembles) both, which the stateless side did not ask for.
fn inet_conntrack_warning(rs: &fwnet_nft::Ruleset, sources: &[Source]) -> Option<Diagnostic> {
    use fwnet_nft::Family;
    let has = |f: Family| rs.tables.iter().any(|t| t.family == f);
    if !(has(Family::Ip) && has(Family::Ip6)) {
        return None;
    }
    let tracked = |f: Family| fwnet_translate::tracks_connections(rs, f);
    let (stateless, name, other) = match (tracked(Family::Ip), tracked(Family::Ip6)) {
        (true, false) => ("ipv6", "ip6tables", "iptables"),
        (false, true) => ("ipv4", "iptables", "ip6tables"),
        _ => return None,
    };
    let file = sources.iter().find(|s| s.family == stateless)?.file.clone();
    Some(Diagnostic {
        severity: Severity::Warning,
        code: "import/inet-conntrack",
        file,
        line: 1,
        column: 1,
        message: format!(
            "the {name} rules track no connections and the {other} rules do; in one inet table the kernel tracks both families, so these rules see reassembled packets instead of fragments (`-f` and other fragment tests no longer match) and every connection of this family takes a conntrack entry"
        ),
        help: Some(
            "import without --inet to keep per-family tables, which track connections per family as iptables and ip6tables did".into(),
        ),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_an_input_of_a_quarter_megabyte_or_more_is_populated_ahead() {
        assert_eq!(arena_ahead(0), None);
        assert_eq!(arena_ahead(63_253), None, "the 1k-rule bench input");
        assert_eq!(arena_ahead((256 << 10) - 1), None);
        assert_eq!(arena_ahead(256 << 10), Some((2 << 20) + 6 * (256 << 10)));
        assert_eq!(
            arena_ahead(642_704),
            Some((2 << 20) + 6 * 642_704),
            "the 10k one"
        );
        assert_eq!(
            arena_ahead(usize::MAX),
            Some(usize::MAX),
            "sizes saturate; `prefault` caps what it populates"
        );
    }
}
