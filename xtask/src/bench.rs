//! `cargo xtask bench [--runs N] [--sizes 1000,10000,100000] [--out FILE]`: load-time
//! benchmarks of fwnet against the tools it replaces, measured in the same run, as ratios.
//!
//! - import: `fwnet import` against `iptables-restore-translate -f` of the same file;
//! - apply: `fwnet apply` against `nft -f` of `fwnet show` output and against
//!   `iptables-legacy-restore` of the original, each in a fresh private network namespace;
//! - peak memory (max RSS, from wait4's rusage) of each;
//! - where apply's time goes: the user-space CPU time of fwnet and of nft, and the floor (fwnet's
//!   apply time less its user time), which bounds the apply ratio any user-space work could
//!   reach.
//!
//! Inputs: generated rulesets shaped like the corpus (mixed matches, user chains, NAT) at each
//! size, a 50k-address blocklist, 450 three-port lists among 50k single-address rules (a table
//! under `shared_sets::THRESHOLD` whose lists still cost the kernel's walk), and the largest
//! corpus file. Every figure is the median of
//! `--runs` runs (default 5). Results are printed and written as Markdown with the machine,
//! kernel and commit. `--idle S` sleeps S seconds before each import and each
//! `iptables-restore-translate` run: a first run, as an admin makes one, on a machine whose
//! caches have gone cold (and, in a VM that reports free memory to its host, whose freed memory
//! has gone back to the host); back to back, the runs find everything warm.
//!
//! `--packets` measures the packet path instead (see [`packets`]): packets per second through
//! the 10k and 50k blocklists and the 10k mixed ruleset (under UDP and under TCP) under
//! iptables-legacy and fwnet.
//! `--instructions` counts the instructions of each import under callgrind instead of timing
//! it (needs valgrind): the figure a noisy 2-core machine cannot blur. `--readback` times the
//! commands that read the kernel back (see [`readback`]): `fwnet status` against `nft list
//! ruleset`, and a re-apply over a full hashlimit table against `nft -f`.

use anyhow::{bail, Context, Result};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

mod packets;
mod readback;

struct Sample {
    wall: Duration,
    /// CPU time in user space (wait4's rusage): the part of `wall` the tool's own code spends.
    user: Duration,
    max_rss_kb: i64,
}

/// Runs `cmd`, returning wall time and the child's peak RSS; fails on a non-zero exit.
fn measure(cmd: &mut Command) -> Result<Sample> {
    let started = Instant::now();
    let mut child = cmd
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .with_context(|| format!("cannot run {cmd:?}"))?;
    let pid = child.id() as i32;
    let mut status = 0;
    // SAFETY: rusage is plain data; wait4 on our own child.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let rc = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    let wall = started.elapsed();
    if rc < 0 {
        bail!("wait4 failed for {cmd:?}");
    }
    let mut err = String::new();
    if let Some(mut e) = child.stderr.take() {
        use std::io::Read;
        let _ = e.read_to_string(&mut err);
    }
    if !(libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0) {
        bail!(
            "{cmd:?} failed: {}",
            err.lines().take(5).collect::<Vec<_>>().join("\n")
        );
    }
    let tv = |t: libc::timeval| {
        Duration::from_secs(t.tv_sec as u64) + Duration::from_micros(t.tv_usec as u64)
    };
    Ok(Sample {
        wall,
        user: tv(usage.ru_utime),
        max_rss_kb: usage.ru_maxrss,
    })
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

/// A ruleset shaped like the corpus: a few user chains, state/tcp/udp/icmp/multiport/limit
/// rules, LOG and REJECT, and a nat table with MASQUERADE, DNAT and REDIRECT rules.
pub fn generate_mixed(rules: usize) -> String {
    let mut s = String::from("*nat\n:PREROUTING ACCEPT [0:0]\n:INPUT ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n:POSTROUTING ACCEPT [0:0]\n");
    let nat = rules / 20;
    for i in 0..nat {
        let (a, b) = ((i >> 8) & 255, i & 255);
        match i % 3 {
            0 => writeln!(s, "-A PREROUTING -d 203.0.{a}.{b}/32 -p tcp -m tcp --dport {} -j DNAT --to-destination 10.{a}.{b}.1:80", 1024 + i % 60000),
            1 => writeln!(s, "-A PREROUTING -i eth1 -p tcp -m tcp --dport {} -j REDIRECT --to-ports 3128", 1 + i % 65000),
            _ => writeln!(s, "-A POSTROUTING -s 10.{a}.{b}.0/24 -o eth0 -j MASQUERADE"),
        }
        .ok();
    }
    s.push_str("COMMIT\n*filter\n:INPUT DROP [0:0]\n:FORWARD DROP [0:0]\n:OUTPUT ACCEPT [0:0]\n:LOGDROP - [0:0]\n:SVC - [0:0]\n");
    s.push_str("-A INPUT -i lo -j ACCEPT\n-A INPUT -m state --state ESTABLISHED,RELATED -j ACCEPT\n-A INPUT -j SVC\n");
    s.push_str(
        "-A LOGDROP -m limit --limit 5/min -j LOG --log-prefix \"drop: \"\n-A LOGDROP -j DROP\n",
    );
    for i in 0..rules.saturating_sub(nat + 5) {
        let (a, b, c) = ((i >> 16) & 255, (i >> 8) & 255, i & 255);
        let chain = if i % 2 == 0 { "SVC" } else { "INPUT" };
        match i % 8 {
            0 => writeln!(s, "-A {chain} -s 10.{a}.{b}.{c}/32 -p tcp -m tcp --dport {} -j ACCEPT", 1 + i % 65000),
            1 => writeln!(s, "-A {chain} -s 172.16.{b}.0/24 -p udp -m udp --dport {} -j ACCEPT", 1 + i % 65000),
            // Lists with gaps, as 147 of the corpus' 160 lists of two or more ports are (a list
            // without a gap is one range for fwnet, with no set to load).
            2 => writeln!(s, "-A {chain} -p tcp -m multiport --dports {},{},{} -j ACCEPT", 1 + i % 60000, 3 + i % 60000, 6 + i % 60000),
            3 => writeln!(s, "-A {chain} -s 192.168.{b}.{c}/32 -j LOGDROP"),
            4 => writeln!(s, "-A {chain} -p icmp -m icmp --icmp-type 8 -m limit --limit 10/sec -j ACCEPT"),
            5 => writeln!(s, "-A {chain} -i eth{} -p tcp -m tcp --tcp-flags SYN,RST SYN -m state --state NEW -j ACCEPT", i % 4),
            6 => writeln!(s, "-A {chain} -d 10.{a}.{b}.{c}/32 -p tcp -m tcp --sport 1024:65535 -j REJECT --reject-with tcp-reset"),
            _ => writeln!(s, "-A {chain} -s 100.{a}.{b}.{c}/32 -j DROP"),
        }
        .ok();
    }
    s.push_str("COMMIT\n");
    s
}

pub fn generate_blocklist(addresses: usize) -> String {
    let mut s =
        String::from("*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n");
    for i in 0..addresses {
        writeln!(
            s,
            "-A INPUT -s {}.{}.{}.{}/32 -j DROP",
            11 + (i >> 24) % 200,
            (i >> 16) & 255,
            (i >> 8) & 255,
            i & 255
        )
        .ok();
    }
    s.push_str("COMMIT\n");
    s
}

/// `rules` rules of which `lists` are three-port multiport lists, spread evenly; the others
/// single-address UDP rules that nothing merges. Fewer lists than `shared_sets::THRESHOLD`, in
/// a table long enough for their anonymous sets' walks to reach `shared_sets::WALK_BUDGET`.
pub fn generate_few_lists(rules: usize, lists: usize) -> String {
    let mut s =
        String::from("*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n");
    let step = rules / lists.max(1);
    for i in 0..rules {
        if lists > 0 && i % step == 0 && i / step < lists {
            let p = 1 + (i / step) * 10 % 60_000;
            writeln!(
                s,
                "-A INPUT -p tcp -m multiport --dports {p},{},{} -j ACCEPT",
                p + 2,
                p + 5
            )
        } else {
            let (a, b, c) = ((i >> 16) & 255, (i >> 8) & 255, i & 255);
            writeln!(
                s,
                "-A INPUT -s 10.{a}.{b}.{c}/32 -p udp --dport {} -j DROP",
                1 + i % 60_000
            )
        }
        .ok();
    }
    s.push_str("COMMIT\n");
    s
}

/// A router's dispatch by source subnet: `subnets` /24 networks in 172.16.0.0/12, each sent
/// to one of eight zone chains (one in eight dropped instead), then ACCEPT. Neighbouring rules
/// differ in their network and their target: runs with different verdicts, which fwnet
/// compiles into verdict maps ([`fwnet_nft::optimize`]). The benchmark's client (10.77.0.0/24)
/// is in none of them, so its packets walk every rule.
pub fn generate_dispatch(subnets: usize) -> String {
    let mut s =
        String::from("*filter\n:INPUT DROP [0:0]\n:FORWARD DROP [0:0]\n:OUTPUT ACCEPT [0:0]\n");
    for z in 0..8 {
        writeln!(s, ":zone{z} - [0:0]").ok();
    }
    for i in 0..subnets {
        let target = match i % 9 {
            8 => "DROP".to_string(),
            z => format!("zone{z}"),
        };
        writeln!(
            s,
            "-A INPUT -s 172.{}.{}.0/24 -j {target}",
            16 + (i >> 8) % 16,
            i & 255
        )
        .ok();
    }
    for z in 0..8 {
        writeln!(s, "-A zone{z} -p tcp -m tcp --dport {} -j ACCEPT", 8000 + z).ok();
    }
    s.push_str("COMMIT\n");
    s
}

struct Row {
    name: String,
    rules: usize,
    import: Duration,
    xlate: Duration,
    apply: Duration,
    /// fwnet apply's and nft's user-space CPU time.
    apply_user: Duration,
    nft_user: Duration,
    /// fwnet apply's wall time less its user time: what an apply would take if fwnet's own
    /// code cost nothing (the kernel's work on the batch, system calls, waits).
    apply_floor: Duration,
    nft: Duration,
    legacy: Duration,
    import_rss: i64,
    apply_rss: i64,
    nft_rss: i64,
}

fn in_netns(args: &[&str], input: Option<&Path>) -> Command {
    let mut c = Command::new("unshare");
    c.arg("-n").args(args);
    if let Some(f) = input {
        c.stdin(std::fs::File::open(f).expect("bench input exists"));
    }
    c
}

pub fn run(args: &[String]) -> Result<()> {
    let mut runs = 5usize;
    let mut sizes = vec![1_000usize, 10_000, 100_000];
    let mut out = PathBuf::from("target/bench.md");
    let mut packet_path = false;
    let mut instructions = false;
    let mut readback = false;
    let mut seconds = 2.0f64;
    let mut idle = Duration::ZERO;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--runs" => runs = it.next().context("--runs needs a number")?.parse()?,
            "--sizes" => {
                sizes = it
                    .next()
                    .context("--sizes needs a list")?
                    .split(',')
                    .map(|x| x.parse())
                    .collect::<Result<_, _>>()?
            }
            "--out" => out = PathBuf::from(it.next().context("--out needs a file")?),
            "--packets" => packet_path = true,
            "--instructions" => instructions = true,
            "--readback" => readback = true,
            "--seconds" => seconds = it.next().context("--seconds needs a number")?.parse()?,
            "--idle" => {
                let s: f64 = it.next().context("--idle needs seconds")?.parse()?;
                idle = Duration::try_from_secs_f64(s).context("--idle needs seconds, 0 or more")?;
            }
            other => bail!(
                "unknown bench option {other:?} (options: --runs N, --sizes A,B,C, --out FILE, \
                 --idle S, --packets [--seconds S], --instructions, --readback)"
            ),
        }
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let status = Command::new(env!("CARGO"))
        .args(["build", "--release", "-q", "-p", "fwnet"])
        .status()?;
    if !status.success() {
        bail!("cannot build fwnet");
    }
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("target"));
    let fwnet = target.join("release/fwnet");
    let work = target.join("bench");
    std::fs::create_dir_all(&work)?;
    if readback {
        let report = readback::run(&fwnet, &work, runs, &sizes)?;
        return write_report(&out, &report);
    }
    if packet_path {
        let rows = packets::run(&fwnet, &work, runs, seconds)?;
        let inet = packets::run_inet(&fwnet, &work, runs, seconds)?;
        let mut report = header("packet-path")?;
        report.push_str(&packets::render(&rows, runs, seconds)?);
        report.push_str(&packets::render_inet(&inet, runs, seconds)?);
        return write_report(&out, &report);
    }
    let mut inputs: Vec<(String, PathBuf)> = Vec::new();
    for n in &sizes {
        let p = work.join(format!("mixed-{n}.rules"));
        std::fs::write(&p, generate_mixed(*n))?;
        inputs.push((format!("mixed {n}"), p));
    }
    let p = work.join("blocklist-50000.rules");
    std::fs::write(&p, generate_blocklist(50_000))?;
    inputs.push(("blocklist 50k".into(), p));
    let p = work.join("few-lists-50000.rules");
    std::fs::write(&p, generate_few_lists(50_000, 450))?;
    inputs.push(("450 lists in 50k".into(), p));
    // The corpus' largest file (a 60,840-rule blocklist).
    let largest = root.join("../shared/corpus/v4/045.rules");
    if largest.exists() {
        inputs.push(("corpus v4/045.rules".into(), largest));
    }
    if instructions {
        let mut report = header("import instruction counts")?;
        report.push_str(&import_instructions(&fwnet, &work, &inputs)?);
        return write_report(&out, &report);
    }
    let mut rows = Vec::new();
    for (name, path) in &inputs {
        let state = work.join(format!(
            "state-{}",
            name.replace(' ', "-").replace('/', "_")
        ));
        let rules = std::fs::read_to_string(path)?
            .lines()
            .filter(|l| l.starts_with("-A"))
            .count();
        eprintln!("bench: {name} ({rules} rules), {runs} runs each");
        let (mut imp, mut xl, mut ap, mut nf, mut lg) = (vec![], vec![], vec![], vec![], vec![]);
        let (mut ap_user, mut nf_user, mut floor) = (vec![], vec![], vec![]);
        let (mut imp_rss, mut ap_rss, mut nft_rss) = (0, 0, 0);
        let shown = work.join("shown.nft");
        for _ in 0..runs {
            std::thread::sleep(idle);
            let s = measure(
                Command::new(&fwnet)
                    .arg("import")
                    .arg("--state-dir")
                    .arg(&state)
                    .arg(path),
            )?;
            imp.push(s.wall);
            imp_rss = imp_rss.max(s.max_rss_kb);
            std::thread::sleep(idle);
            xl.push(
                measure(
                    Command::new("iptables-restore-translate")
                        .arg("-f")
                        .arg(path),
                )?
                .wall,
            );
        }
        write_shown(&fwnet, &state, &shown)?;
        let fw = fwnet.to_str().context("utf-8 path")?;
        let st = state.to_str().context("utf-8 path")?;
        for _ in 0..runs {
            let s = measure(&mut in_netns(&[fw, "apply", "--state-dir", st], None))?;
            ap.push(s.wall);
            ap_user.push(s.user);
            floor.push(s.wall.saturating_sub(s.user));
            ap_rss = ap_rss.max(s.max_rss_kb);
            let s = measure(&mut in_netns(
                &["nft", "-f", shown.to_str().context("utf-8")?],
                None,
            ))?;
            nf.push(s.wall);
            nf_user.push(s.user);
            nft_rss = nft_rss.max(s.max_rss_kb);
            lg.push(measure(&mut in_netns(&["iptables-legacy-restore"], Some(path)))?.wall);
        }
        rows.push(Row {
            name: name.clone(),
            rules,
            import: median(imp),
            xlate: median(xl),
            apply: median(ap),
            apply_user: median(ap_user),
            nft_user: median(nf_user),
            apply_floor: median(floor),
            nft: median(nf),
            legacy: median(lg),
            import_rss: imp_rss,
            apply_rss: ap_rss,
            nft_rss,
        });
    }
    let report = render(&rows, runs, idle)?;
    write_report(&out, &report)
}

/// The performance issue's bound on memory: at 100k generated rules, the peak of `fwnet
/// import` and of `fwnet apply` (in a namespace of its own) is at most a quarter of the peak of
/// `nft -f` loading `fwnet show`'s text of the same ruleset, all three measured here, once
/// each (wait4's max RSS; peaks move by a percent or two between runs). `cargo xtask test` runs
/// it after the corpus sweep; `cargo xtask memory` alone. The message gives the three peaks.
pub fn memory_check(fwnet: &Path) -> Result<String> {
    const RULES: usize = 100_000;
    let work = std::env::temp_dir().join(format!("fwnet-memory-{}", std::process::id()));
    std::fs::create_dir_all(&work)?;
    let result = memory_in(fwnet, &work, RULES);
    let _ = std::fs::remove_dir_all(&work);
    let (import, apply, nft) = result?;
    let mb = |kb: i64| kb as f64 / 1024.0;
    let line = format!(
        "peak memory at {RULES} rules: import {:.1} MB ({:.2} of nft's), apply {:.1} MB ({:.2}), nft -f {:.1} MB",
        mb(import),
        import as f64 / nft as f64,
        mb(apply),
        apply as f64 / nft as f64,
        mb(nft)
    );
    if import * 4 > nft || apply * 4 > nft {
        bail!("{line}: over a quarter of nft's");
    }
    Ok(line)
}

/// Import, apply and `nft -f` peaks in KiB, with `work` for the files.
fn memory_in(fwnet: &Path, work: &Path, rules: usize) -> Result<(i64, i64, i64)> {
    let input = work.join("mixed.rules");
    std::fs::write(&input, generate_mixed(rules))?;
    let state = work.join("state");
    let import = measure(
        Command::new(fwnet)
            .arg("import")
            .arg("--state-dir")
            .arg(&state)
            .arg(&input),
    )?;
    let shown = work.join("shown.nft");
    write_shown(fwnet, &state, &shown)?;
    let fw = fwnet.to_str().context("utf-8 path")?;
    let st = state.to_str().context("utf-8 path")?;
    // Each in a network namespace of its own that ends with it.
    let apply = measure(&mut in_netns(&[fw, "apply", "--state-dir", st], None))?;
    let nft = measure(&mut in_netns(
        &["nft", "-f", shown.to_str().context("utf-8 path")?],
        None,
    ))?;
    Ok((import.max_rss_kb, apply.max_rss_kb, nft.max_rss_kb))
}

/// `fwnet show` of the state in `state`, written to `to`: what `nft -f` loads as fwnet's peer.
fn write_shown(fwnet: &Path, state: &Path, to: &Path) -> Result<()> {
    let show = Command::new(fwnet)
        .arg("show")
        .arg("--state-dir")
        .arg(state)
        .output()?;
    if !show.status.success() {
        bail!(
            "fwnet show failed: {}",
            String::from_utf8_lossy(&show.stderr)
        );
    }
    std::fs::write(to, &show.stdout)?;
    Ok(())
}

fn write_report(out: &Path, report: &str) -> Result<()> {
    print!("{report}");
    if let Some(d) = out.parent() {
        std::fs::create_dir_all(d)?;
    }
    std::fs::write(out, report)?;
    println!("written to {}", out.display());
    Ok(())
}

fn cmd_line(cmd: &str, args: &[&str]) -> String {
    Command::new(cmd)
        .args(args)
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default()
}

/// The report's title and the machine, kernel, commit and peer versions it was measured on.
fn header(what: &str) -> Result<String> {
    let mut s = String::new();
    writeln!(s, "# fwnet {what} benchmark\n")?;
    writeln!(
        s,
        "- commit: {}",
        cmd_line("git", &["rev-parse", "--short", "HEAD"])
    )?;
    writeln!(s, "- kernel: {}", cmd_line("uname", &["-r"]))?;
    writeln!(
        s,
        "- machine: {} cores, {}",
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(0),
        cmd_line(
            "sh",
            &["-c", "grep -m1 'model name' /proc/cpuinfo | cut -d: -f2"]
        )
    )?;
    writeln!(
        s,
        "- peers: {}, {}",
        cmd_line("nft", &["--version"]),
        cmd_line("iptables-legacy", &["--version"])
    )?;
    Ok(s)
}

fn render(rows: &[Row], runs: usize, idle: Duration) -> Result<String> {
    let ms = |d: Duration| format!("{:.1}", d.as_secs_f64() * 1000.0);
    let ratio =
        |a: Duration, b: Duration| format!("{:.2}", b.as_secs_f64() / a.as_secs_f64().max(1e-9));
    let mut s = header("load-time")?;
    writeln!(
        s,
        "- median of {runs} runs; ratio = peer time / fwnet time (above 1: fwnet is faster)"
    )?;
    if !idle.is_zero() {
        writeln!(
            s,
            "- {:.1} s of idle before each import and each iptables-restore-translate run (`--idle`)",
            idle.as_secs_f64()
        )?;
    }
    writeln!(s)?;
    writeln!(s, "| input | rules | fwnet import ms | iptables-restore-translate ms | import ratio | fwnet apply ms | nft -f ms | ratio vs nft | iptables-legacy-restore ms | ratio vs legacy | import MB | apply MB | nft MB |")?;
    writeln!(
        s,
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
    )?;
    for r in rows {
        writeln!(
            s,
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {:.1} | {:.1} | {:.1} |",
            r.name,
            r.rules,
            ms(r.import),
            ms(r.xlate),
            ratio(r.import, r.xlate),
            ms(r.apply),
            ms(r.nft),
            ratio(r.apply, r.nft),
            ms(r.legacy),
            ratio(r.apply, r.legacy),
            r.import_rss as f64 / 1024.0,
            r.apply_rss as f64 / 1024.0,
            r.nft_rss as f64 / 1024.0
        )?;
    }
    writeln!(
        s,
        "\nWhere apply's time goes (user = CPU time in the tool's own code, from rusage). \
         \"floor\" is fwnet's apply time less its user time: the kernel's work on the same \
         batch, system calls and waits, which no user-space speed-up removes. \"best ratio\" \
         is nft's time over that floor, the highest apply ratio a fwnet whose own code cost \
         nothing could reach.\n"
    )?;
    writeln!(s, "| input | fwnet apply ms | fwnet user ms | floor ms | nft -f ms | nft user ms | ratio vs nft | best ratio |")?;
    writeln!(s, "|---|---:|---:|---:|---:|---:|---:|---:|")?;
    for r in rows {
        writeln!(
            s,
            "| {} | {} | {} | {} | {} | {} | {} | {} |",
            r.name,
            ms(r.apply),
            ms(r.apply_user),
            ms(r.apply_floor),
            ms(r.nft),
            ms(r.nft_user),
            ratio(r.apply, r.nft),
            ratio(r.apply_floor, r.nft)
        )?;
    }
    Ok(s)
}

/// `--instructions`: instructions executed (callgrind, which does not depend on the machine's
/// load) by `fwnet import` and by `iptables-restore-translate -f` of each input.
fn import_instructions(fwnet: &Path, work: &Path, inputs: &[(String, PathBuf)]) -> Result<String> {
    fn count(cmd: &mut Command) -> Result<u64> {
        let out = cmd
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .output()
            .context("cannot run valgrind (apt-get install valgrind)")?;
        let text = String::from_utf8_lossy(&out.stderr);
        text.lines()
            .find_map(|l| l.split("Collected :").nth(1))
            .and_then(|n| n.trim().parse().ok())
            .with_context(|| format!("no callgrind total in: {text}"))
    }
    let callgrind = |args: &[&std::ffi::OsStr]| {
        let mut c = Command::new("valgrind");
        c.args(["--tool=callgrind", "--callgrind-out-file=/dev/null"])
            .args(args);
        c
    };
    let mut md = String::from(
        "| input | fwnet import instructions | iptables-restore-translate instructions | ratio |\n\
         |---|---:|---:|---:|\n",
    );
    for (name, path) in inputs {
        eprintln!("bench --instructions: {name}");
        let state = work.join("state-instructions");
        let fw = count(&mut callgrind(&[
            fwnet.as_os_str(),
            "import".as_ref(),
            "--state-dir".as_ref(),
            state.as_os_str(),
            path.as_os_str(),
        ]))?;
        let xl = count(&mut callgrind(&[
            "iptables-restore-translate".as_ref(),
            "-f".as_ref(),
            path.as_os_str(),
        ]))?;
        writeln!(
            md,
            "| {name} | {fw} | {xl} | {:.2} |",
            xl as f64 / fw.max(1) as f64
        )?;
    }
    md.push_str("\nRatio = iptables-restore-translate's instructions / fwnet's (above 1: fwnet does less).\n");
    Ok(md)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A report measured with `--idle` says so under the number of runs; one without does not.
    #[test]
    fn the_report_says_how_long_each_import_waited() {
        let ms = Duration::from_millis;
        let row = Row {
            name: "mixed 10".into(),
            rules: 10,
            import: ms(2),
            xlate: ms(10),
            apply: ms(4),
            apply_user: ms(1),
            nft_user: ms(3),
            apply_floor: ms(3),
            nft: ms(8),
            legacy: ms(5),
            import_rss: 1024,
            apply_rss: 1024,
            nft_rss: 4096,
        };
        let idle = render(std::slice::from_ref(&row), 3, Duration::from_secs(3)).unwrap();
        assert!(
            idle.contains("- median of 3 runs; ratio")
                && idle.contains(
                    "- 3.0 s of idle before each import and each iptables-restore-translate run"
                ),
            "{idle}"
        );
        assert!(
            idle.contains("| mixed 10 | 10 | 2.0 | 10.0 | 5.00 |"),
            "{idle}"
        );
        let warm = render(&[row], 3, Duration::ZERO).unwrap();
        assert!(!warm.contains("idle"), "{warm}");
        assert!(warm.contains("fwnet is faster)\n\n| input |"), "{warm}");
    }
}
