//! `cargo xtask bench --readback`: the commands that read the kernel back, against nft in the
//! same run.
//!
//! - `fwnet status` (which dumps fwnet's tables, rule by rule with counters, and compares them
//!   with the stored ruleset) against `nft list ruleset`, on the same kernel state: each mixed
//!   ruleset of `--sizes`, applied once in a scratch namespace.
//! - Re-applying over a full hashlimit table: one `-m hashlimit` rule, its set filled with
//!   [`BUCKETS`] buckets (`nft -f` of `add element`, not timed) before every run, then `fwnet
//!   apply` again, against `nft -f` of `delete table` and `fwnet show`'s text, the way to
//!   replace one table with nft. fwnet takes a rollback snapshot of its tables before every
//!   apply; the snapshot skips the elements of sets that rules update with an expression (the
//!   buckets), which is what this figure watches.
//!
//! Every figure is the median of `runs` runs, with the peak RSS of the largest run. Commands
//! run under `nsenter --net` in a namespace made here (`fwnet_apply::verify::netns`), removed
//! afterwards; nothing touches the host's firewall.

use super::{measure, median, Sample};
use anyhow::{anyhow, Context, Result};
use fwnet_apply::verify::netns::Netns;
use std::fmt::Write as _;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

/// Hashlimit buckets in the full table (the order of a busy SSH port's day).
const BUCKETS: u32 = 65_000;

const HASHLIMIT_RULES: &str = "*filter
:INPUT ACCEPT [0:0]
:FORWARD ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
-A INPUT -p tcp -m tcp --dport 22 -m hashlimit --hashlimit-above 10/sec --hashlimit-mode srcip --hashlimit-name ssh -j DROP
COMMIT
";

struct Row {
    what: String,
    fwnet: Duration,
    peer: Duration,
    fwnet_rss: i64,
    peer_rss: i64,
}

/// `cmd args` inside `ns`, for [`measure`].
fn inside(ns: &Netns, cmd: &Path, args: &[&str]) -> Command {
    let mut c = Command::new("nsenter");
    c.arg(format!("--net=/run/netns/{}", ns.name()))
        .arg(cmd)
        .args(args);
    c
}

fn path_str(p: &Path) -> Result<&str> {
    p.to_str().context("a non-UTF-8 path")
}

/// Runs `runs` times each of `ours` and `peer` (interleaved, so background load hits both
/// alike), with `before` run untimed ahead of each.
fn compare(
    runs: usize,
    mut before: impl FnMut() -> Result<()>,
    mut ours: impl FnMut() -> Command,
    mut peer: impl FnMut() -> Command,
) -> Result<(Duration, i64, Duration, i64)> {
    let (mut a, mut b) = (Vec::new(), Vec::new());
    let (mut a_rss, mut b_rss) = (0, 0);
    for _ in 0..runs {
        before()?;
        let Sample {
            wall, max_rss_kb, ..
        } = measure(&mut ours())?;
        a.push(wall);
        a_rss = a_rss.max(max_rss_kb);
        before()?;
        let Sample {
            wall, max_rss_kb, ..
        } = measure(&mut peer())?;
        b.push(wall);
        b_rss = b_rss.max(max_rss_kb);
    }
    Ok((median(a), a_rss, median(b), b_rss))
}

pub fn run(fwnet: &Path, work: &Path, runs: usize, sizes: &[usize]) -> Result<String> {
    fwnet_apply::verify::netns::cleanup_on_signals().map_err(|e| anyhow!(e))?;
    let fw = path_str(fwnet)?;
    let mut rows = Vec::new();
    for &n in sizes {
        let rules = work.join(format!("mixed-{n}.rules"));
        std::fs::write(&rules, super::generate_mixed(n))?;
        let state = work.join(format!("state-readback-{n}"));
        let st = path_str(&state)?.to_string();
        let o = Command::new(fwnet)
            .args(["import", "--state-dir", &st, path_str(&rules)?])
            .output()?;
        anyhow::ensure!(o.status.success(), "fwnet import of {}", rules.display());
        let ns = Netns::new("bench-readback").map_err(|e| anyhow!(e))?;
        ns.exec(fw, &["apply", "--state-dir", &st])
            .map_err(|e| anyhow!(e))?;
        eprintln!("bench --readback: status of mixed {n}, {runs} runs each");
        let (fwnet_t, fwnet_rss, peer_t, peer_rss) = compare(
            runs,
            || Ok(()),
            || inside(&ns, fwnet, &["status", "--state-dir", &st]),
            || inside(&ns, Path::new("nft"), &["list", "ruleset"]),
        )?;
        rows.push(Row {
            what: format!("`fwnet status` / `nft list ruleset`, mixed {n}"),
            fwnet: fwnet_t,
            peer: peer_t,
            fwnet_rss,
            peer_rss,
        });
    }
    rows.push(reapply_over_buckets(fwnet, work, runs)?);
    render(&rows, runs)
}

/// [`BUCKETS`] elements for the hashlimit set `set`, as `nft -f` input.
fn buckets(table: &str, set: &str, rate: &str) -> String {
    let mut s = String::new();
    for start in (0..BUCKETS).step_by(5000) {
        let _ = write!(s, "add element ip {table} {set} {{ ");
        for n in start..(start + 5000).min(BUCKETS) {
            let sep = if n == start { "" } else { ", " };
            let _ = write!(
                s,
                "{sep}10.{}.{}.{} {rate}",
                n >> 16,
                (n >> 8) & 255,
                n & 255
            );
        }
        s.push_str(" }\n");
    }
    s
}

fn reapply_over_buckets(fwnet: &Path, work: &Path, runs: usize) -> Result<Row> {
    let fw = path_str(fwnet)?;
    let rules = work.join("hashlimit.rules");
    std::fs::write(&rules, HASHLIMIT_RULES)?;
    let state = work.join("state-readback-hashlimit");
    let st = path_str(&state)?.to_string();
    let o = Command::new(fwnet)
        .args(["import", "--state-dir", &st, path_str(&rules)?])
        .output()?;
    anyhow::ensure!(o.status.success(), "fwnet import of the hashlimit rule");
    let shown = String::from_utf8(
        Command::new(fwnet)
            .args(["show", "--state-dir", &st])
            .output()?
            .stdout,
    )?;
    // The set and the limit its elements carry, as `fwnet show` writes them.
    let set_line = shown
        .lines()
        .map(str::trim)
        .find(|l| l.starts_with("set "))
        .context("no set in the hashlimit translation")?;
    let set = set_line
        .split_whitespace()
        .nth(1)
        .context("set name")?
        .to_string();
    let rate = shown
        .split("limit rate ")
        .nth(1)
        .and_then(|r| r.split(" packets").next())
        .map(|r| format!("limit rate {r} packets"))
        .context("no `limit rate` in the hashlimit translation")?;
    let fill = work.join("hashlimit-buckets.nft");
    std::fs::write(&fill, buckets("fwnet_filter", &set, &rate))?;
    let replace = work.join("hashlimit-replace.nft");
    std::fs::write(&replace, format!("delete table ip fwnet_filter\n{shown}"))?;
    let ns = Netns::new("bench-reapply").map_err(|e| anyhow!(e))?;
    ns.exec(fw, &["apply", "--state-dir", &st])
        .map_err(|e| anyhow!(e))?;
    let fill_s = path_str(&fill)?.to_string();
    let replace_s = path_str(&replace)?.to_string();
    eprintln!("bench --readback: re-apply over {BUCKETS} hashlimit buckets, {runs} runs each");
    let (fwnet_t, fwnet_rss, peer_t, peer_rss) = compare(
        runs,
        || {
            ns.exec("nft", &["-f", &fill_s])
                .map(drop)
                .map_err(|e| anyhow!(e))
        },
        || inside(&ns, fwnet, &["apply", "--state-dir", &st]),
        || inside(&ns, Path::new("nft"), &["-f", &replace_s]),
    )?;
    Ok(Row {
        what: format!(
            "`fwnet apply` / `nft -f` (delete table + show), over {BUCKETS} hashlimit buckets"
        ),
        fwnet: fwnet_t,
        peer: peer_t,
        fwnet_rss,
        peer_rss,
    })
}

fn render(rows: &[Row], runs: usize) -> Result<String> {
    let mut s = super::header("read-back")?;
    writeln!(
        s,
        "- median of {runs} runs; ratio = peer time / fwnet time (above 1: fwnet is faster)\n"
    )?;
    writeln!(
        s,
        "| what | fwnet ms | peer ms | ratio | fwnet MB | peer MB |\n|---|---:|---:|---:|---:|---:|"
    )?;
    for r in rows {
        let ms = |d: Duration| d.as_secs_f64() * 1000.0;
        writeln!(
            s,
            "| {} | {:.1} | {:.1} | {:.2} | {:.1} | {:.1} |",
            r.what,
            ms(r.fwnet),
            ms(r.peer),
            r.peer.as_secs_f64() / r.fwnet.as_secs_f64().max(1e-9),
            r.fwnet_rss as f64 / 1024.0,
            r.peer_rss as f64 / 1024.0
        )?;
    }
    Ok(s)
}
