//! `cargo xtask <task>`: the project's development tasks, in Rust so they run wherever cargo
//! does. Tasks that need system packages install them when run as root on Debian (the CI
//! machine and the README's set-up path); otherwise they say what is missing.
//!
//! This is not product code: it may call `apt-get`, `nft` and `iptables-legacy` freely.

mod bench;
mod corpus;
mod fuzz;
mod vm;

use anyhow::{bail, Context, Result};
use std::process::Command;

const USAGE: &str = "\
usage: cargo xtask <task>

tasks:
  test      install test dependencies (Debian, as root), then run the whole test suite
  deps      only install the Debian packages the tests need
  lints     cargo fmt --check, then cargo clippy and cargo doc with warnings as errors
  corpus    import every file of ../shared/corpus and print a coverage table
            (--apply: load each into a private namespace; --verify: fwnet verify each)
  bench     load-time benchmarks against iptables-restore-translate, nft -f and
            iptables-legacy-restore (--runs N, --sizes 1000,10000,100000, --out FILE;
            --idle S: S seconds of idle before each import, as a first run);
            --packets: packets per second against iptables-legacy (--seconds S);
            --instructions: import instruction counts under callgrind (needs valgrind)
  memory    peak memory of import and apply at 100k rules against nft -f's: at most a
            quarter (as root; --fwnet PATH: that binary instead of a release build)
  fuzz      mutation-fuzz parse/translate/print/lower for --seconds N (default 600)
  vm-test   boot Debian's 5.10, 6.1 and 6.12 kernels under QEMU and run fwnet in each
            (as root; optional kernel lines to run, e.g. `vm-test 5.10`)
  vagrant-test  run the vagrant/ boxes (CentOS 6 source, CentOS 7, Rocky 9, Debian 12)";

/// Debian packages the kernel-side tests use as oracles and plumbing.
const PACKAGES: &[(&str, &str)] = &[
    ("nft", "nftables"),
    ("iptables-legacy-restore", "iptables"),
    ("ip", "iproute2"),
    ("systemd-analyze", "systemd"),
    ("ipset", "ipset"),
];

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    // `cargo xtask TASK --help` shows the task list rather than an option error.
    if args.len() > 1 && args[1..].iter().any(|a| a == "--help" || a == "-h") {
        println!("{USAGE}");
        return Ok(());
    }
    match args.first().map(String::as_str) {
        Some("test") => {
            deps()?;
            test(&args[1..])
        }
        Some("deps") => deps(),
        Some("lints") => lints().map(|line| println!("lints: {line}")),
        Some("corpus") => corpus::run(&args[1..]),
        Some("fuzz") => fuzz::run(&args[1..]),
        Some("vm-test") => vm::run(&args[1..]),
        Some("vagrant-test") => vm::vagrant(&args[1..]),
        Some("bench") => bench::run(&args[1..]),
        Some("memory") => {
            let line = match args.get(1).map(String::as_str) {
                Some("--fwnet") => {
                    let path = args.get(2).context("--fwnet needs the binary's path")?;
                    bench::memory_check(std::path::Path::new(path))?
                }
                Some(other) => bail!("unknown memory option {other:?} (option: --fwnet PATH)"),
                None => memory()?,
            };
            println!("{line}");
            Ok(())
        }
        Some("help" | "--help" | "-h") | None => {
            println!("{USAGE}");
            Ok(())
        }
        Some(other) => bail!("unknown task {other:?}\n\n{USAGE}"),
    }
}

fn have(cmd: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|p| std::env::split_paths(&p).any(|d| d.join(cmd).is_file()))
        || ["/usr/sbin", "/sbin"]
            .iter()
            .any(|d| std::path::Path::new(d).join(cmd).is_file())
}

fn deps() -> Result<()> {
    let missing: Vec<&str> = PACKAGES
        .iter()
        .filter(|(c, _)| !have(c))
        .map(|(_, p)| *p)
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    if !effective_root() {
        bail!(
            "missing test dependencies: {} (install them: apt-get install {})",
            missing.join(" "),
            missing.join(" ")
        );
    }
    println!("xtask: installing {}", missing.join(" "));
    run(Command::new("apt-get").args(["update", "-qq"]))?;
    run(Command::new("apt-get")
        .args(["install", "-y", "-qq", "--no-install-recommends"])
        .args(&missing)
        .env("DEBIAN_FRONTEND", "noninteractive"))
}

/// Runs the whole suite and closes with one plain summary line (`tests: N passed, N failed`),
/// summed over every test binary, so that the last line a reader or CI sees is the total.
fn test(extra: &[String]) -> Result<()> {
    use std::io::{BufRead, BufReader, Write};
    let mut child = Command::new(env!("CARGO"))
        .args(["test", "--workspace", "--all-targets"])
        .args(extra)
        .stdout(std::process::Stdio::piped())
        .spawn()
        .context("cannot run cargo test")?;
    let (mut passed, mut failed) = (0u64, 0u64);
    let stdout = child.stdout.take().context("cargo test has no stdout")?;
    for line in BufReader::new(stdout).lines() {
        let line = line?;
        println!("{line}");
        let _ = std::io::stdout().flush();
        if let Some(rest) = line.strip_prefix("test result: ") {
            passed += count(rest, " passed");
            failed += count(rest, " failed");
        }
    }
    let status = child.wait()?;
    // The corpus sweep: every corpus file imported, loaded into the kernel and verified against
    // the legacy kernel (issue: zero verdict mismatches). It needs root like the kernel tests.
    let sweep = || {
        println!("corpus sweep: cargo xtask corpus --apply --verify");
        corpus::run(&["--apply".into(), "--verify".into()]).map(|()| "ok".to_string())
    };
    for ok in [
        Some(step("lints", lints())),
        root_step("corpus sweep", "cargo xtask corpus --apply --verify", sweep),
        // The performance issue's memory bound at 100k rules (apply and nft -f need a
        // namespace).
        root_step("memory", "cargo xtask memory", memory),
    ]
    .into_iter()
    .flatten()
    {
        if ok {
            passed += 1;
        } else {
            failed += 1;
        }
    }
    println!("tests: {passed} passed, {failed} failed");
    if !status.success() || failed > 0 {
        bail!("the test suite failed");
    }
    if passed == 0 {
        bail!("no test ran");
    }
    Ok(())
}

/// Prints a step's outcome as `NAME: ...`; whether it passed.
fn step(name: &str, outcome: Result<String>) -> bool {
    match outcome {
        Ok(line) => {
            println!("{name}: {line}");
            true
        }
        Err(e) => {
            println!("{name}: FAILED: {e:#}");
            false
        }
    }
}

/// The code as the project keeps it: formatted by rustfmt, and no warning from clippy or
/// rustdoc (a doc link to a private item, say).
fn lints() -> Result<String> {
    println!("lints: cargo fmt --check, cargo clippy, cargo doc");
    let cargo = env!("CARGO");
    for tool in ["fmt", "clippy"] {
        let there = Command::new(cargo)
            .args([tool, "--version"])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if !there {
            bail!("`cargo {tool}` is not installed (rustup component add rustfmt clippy)");
        }
    }
    run(Command::new(cargo).args(["fmt", "--all", "--check"]))?;
    run(Command::new(cargo).args([
        "clippy",
        "--workspace",
        "--all-targets",
        "--quiet",
        "--",
        "-D",
        "warnings",
    ]))?;
    run(Command::new(cargo)
        .args(["doc", "--workspace", "--no-deps", "--quiet"])
        .env("RUSTDOCFLAGS", "-D warnings"))?;
    Ok("ok (rustfmt, clippy and rustdoc without warnings)".into())
}

/// A step of the suite that needs root, run after the cargo tests and printed as `NAME: ...`:
/// whether it passed, or `None` when it could not run outside CI (under `CI=true` that is a
/// failure).
fn root_step(name: &str, alone: &str, work: impl FnOnce() -> Result<String>) -> Option<bool> {
    if effective_root() {
        Some(step(name, work()))
    } else if std::env::var("CI").as_deref() == Ok("true") {
        println!("{name}: FAILED: needs root under CI");
        Some(false)
    } else {
        println!("{name}: not run (needs root; run `{alone}` as root)");
        None
    }
}

/// The memory bound of [`bench::memory_check`] on a release build of fwnet.
fn memory() -> Result<String> {
    bench::memory_check(&corpus::build_fwnet()?)
}

/// Whether this process runs as root.
fn effective_root() -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() == 0 }
}

/// The number before `what` in a libtest summary such as `ok. 19 passed; 0 failed; ...`.
fn count(summary: &str, what: &str) -> u64 {
    summary
        .split(';')
        .find(|part| part.ends_with(what))
        .and_then(|part| part.trim_end_matches(what).split_whitespace().last())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

fn run(cmd: &mut Command) -> Result<()> {
    let status = cmd
        .status()
        .with_context(|| format!("cannot run {cmd:?}"))?;
    if !status.success() {
        bail!("{cmd:?} failed: {status}");
    }
    Ok(())
}
