//! `fwnet verify` as a user runs it: exit codes, output, `--json`, `--probes`, the legacy
//! kernel refusing a file, interruption, and the time figures of issue 3.
//!
//! [`ruleset_500`] generates a deterministic 500-rule ruleset for the time figure. Probe
//! derivation and verdict comparison are tested in `fwnet-apply` and in `verdicts`; this file
//! tests the command around them.

use crate::apply::text;
use crate::netns::privileged;
use crate::verdicts::seed_rules;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

const FWNET: &str = env!("CARGO_BIN_EXE_fwnet");

fn scratch(name: &str, text: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("fwt-verify-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

fn verify(args: &[&str], env: &[(&str, &str)]) -> (Output, Duration) {
    let started = Instant::now();
    let out = Command::new(FWNET)
        .arg("verify")
        .args(args)
        .envs(env.iter().copied())
        .output()
        .expect("run fwnet verify");
    (out, started.elapsed())
}

/// 500 rules of the kinds the corpus is made of (sources, ports, ranges, interfaces, states,
/// icmp types, limits, a user chain), the same every time.
pub fn ruleset_500() -> String {
    let mut s = String::from(
        "*filter\n:INPUT DROP [0:0]\n:FORWARD DROP [0:0]\n:OUTPUT ACCEPT [0:0]\n:svc - [0:0]\n",
    );
    s.push_str("-A INPUT -i lo -j ACCEPT\n-A INPUT -m state --state ESTABLISHED,RELATED -j ACCEPT\n-A INPUT -p tcp -j svc\n");
    for i in 0..497u32 {
        let net = format!("10.{}.{}.0/24", 100 + i / 250, i % 250);
        let port = 1000 + i * 7;
        let rule = match i % 6 {
            0 => format!("-A INPUT -s {net} -p tcp --dport {port} -j ACCEPT"),
            1 => format!("-A INPUT -s {net} -p udp --dport {port} -j ACCEPT"),
            2 => format!("-A svc -p tcp --dport {port}:{} -m state --state NEW -j ACCEPT", port + 5),
            3 => format!("-A INPUT -i eth{} -d 192.0.2.{}/32 -p tcp --dport {port} -j REJECT --reject-with tcp-reset", i % 3, i % 250),
            4 => format!("-A INPUT -s {net} -p icmp --icmp-type {} -j DROP", i % 19),
            _ => format!("-A INPUT -s {net} -p tcp --sport {port} -m limit --limit 2/min --limit-burst 4 -j ACCEPT"),
        };
        s.push_str(&rule);
        s.push('\n');
    }
    s.push_str("COMMIT\n");
    s
}

#[test]
fn seed_verifies_with_every_verdict_identical_and_fast() {
    let test = "seed_verifies_with_every_verdict_identical_and_fast";
    if !privileged(test) {
        return;
    }
    let seed = seed_rules();
    let (out, took) = verify(&[seed.to_str().unwrap()], &[]);
    eprintln!(
        "{test}: `fwnet verify centos6-web.rules` took {took:?}\n{}",
        text(&out)
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains(" 0 mismatch(es)"), "{stdout}");
    // Issue 3 asks for under 10 s; the bound leaves room for a loaded debug build.
    assert!(took < Duration::from_secs(20), "took {took:?}");
}

#[test]
fn a_broken_translation_exits_1_and_names_the_line() {
    let test = "a_broken_translation_exits_1_and_names_the_line";
    if !privileged(test) {
        return;
    }
    let seed = seed_rules();
    let (out, _) = verify(
        &[seed.to_str().unwrap()],
        &[("FWNET_VERIFY_MUTATE", "no-iif-lo")],
    );
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let legacy = stdout
        .lines()
        .find(|l| l.trim_start().starts_with("legacy:") && l.contains("centos6-web.rules:5:"))
        .unwrap_or_else(|| panic!("no mismatch names line 5 on the legacy side:\n{stdout}"));
    assert!(legacy.contains("-i lo -j ACCEPT"), "{legacy}");
    assert!(stdout.contains("MISMATCH"), "{stdout}");
}

#[test]
fn json_report_parses_and_says_what_was_compared() {
    let test = "json_report_parses_and_says_what_was_compared";
    if !privileged(test) {
        return;
    }
    let seed = seed_rules();
    let (out, _) = verify(&["--json", seed.to_str().unwrap()], &[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let v: serde_json::Value =
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", text(&out)));
    assert_eq!(v["mismatches"], 0);
    let results = v["results"].as_array().unwrap();
    assert!(results.len() >= 20, "{} probes", results.len());
    let lo = results
        .iter()
        .find(|r| r["probe"]["iif"] == "lo")
        .unwrap_or_else(|| panic!("no probe over lo"));
    assert_eq!(lo["legacy"]["verdict"]["verdict"], "accept");
    assert!(
        lo["legacy"]["hits"][0]["origin"]
            .as_str()
            .unwrap()
            .ends_with("centos6-web.rules:5"),
        "{lo}"
    );
    assert!(
        lo["fwnet"]["hits"][0]["text"]
            .as_str()
            .unwrap()
            .contains("iifname \"lo\""),
        "{lo}"
    );
}

#[test]
fn user_probes_are_played_and_bad_lines_named() {
    let test = "user_probes_are_played_and_bad_lines_named";
    if !privileged(test) {
        return;
    }
    let seed = seed_rules();
    let good = scratch("good.probes", "# mine\ntcp 192.0.2.7:40000 -> 22 flags S\nudp 192.0.2.7:53 -> 40000\nconnect 192.0.2.8 -> 80\n");
    let (out, _) = verify(
        &[
            "--verbose",
            "--probes",
            good.to_str().unwrap(),
            seed.to_str().unwrap(),
        ],
        &[],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    for line in [
        "tcp 192.0.2.7:40000 -> 10.77.0.1:22 flags S",
        "udp 192.0.2.7:53 -> 10.77.0.1:40000",
    ] {
        assert!(
            stdout
                .lines()
                .any(|l| l.starts_with(line) && l.contains("accept")),
            "{line}:\n{stdout}"
        );
    }
    let bad = scratch(
        "bad.probes",
        "tcp 192.0.2.7 -> 22\n\ntcp 192.0.2.7 -> 70000\nping 1.2.3.4\n",
    );
    let (out, _) = verify(
        &["--probes", bad.to_str().unwrap(), seed.to_str().unwrap()],
        &[],
    );
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    let b = bad.display();
    assert!(
        stderr.contains(&format!("{b}:3: `70000` is not a valid destination port")),
        "{stderr}"
    );
    assert!(
        stderr.contains(&format!("{b}:4: unknown probe kind `ping`")),
        "{stderr}"
    );
}

#[test]
fn a_file_the_legacy_kernel_rejects_is_not_a_mismatch() {
    let test = "a_file_the_legacy_kernel_rejects_is_not_a_mismatch";
    if !privileged(test) {
        return;
    }
    // A jump loop: fwnet translates it, the legacy kernel refuses it (ELOOP) at restore.
    let looped = scratch(
        "loop.rules",
        "*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n:A - [0:0]\n:B - [0:0]\n-A INPUT -j A\n-A A -j B\n-A B -j A\nCOMMIT\n",
    );
    let (out, _) = verify(&[looped.to_str().unwrap()], &[]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr)
            .contains("the legacy kernel rejects this file itself; that is not a fwnet mismatch"),
        "{}",
        text(&out)
    );
}

fn namespaces_of(pid: u32) -> Vec<String> {
    let prefix = format!("fwv-{pid}-");
    std::fs::read_dir("/run/netns")
        .map(|d| {
            d.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n.starts_with(&prefix))
                .collect()
        })
        .unwrap_or_default()
}

fn host_veths() -> String {
    let out = Command::new("ip")
        .args(["-o", "link", "show", "type", "veth"])
        .output()
        .expect("ip link");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn interrupted_run_leaves_nothing_behind() {
    let test = "interrupted_run_leaves_nothing_behind";
    if !privileged(test) {
        return;
    }
    let rules = scratch("interrupt.rules", &ruleset_500());
    let veths = host_veths();
    let mut child = Command::new(FWNET)
        .args(["verify", rules.to_str().unwrap()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn fwnet verify");
    let pid = child.id();
    let deadline = Instant::now() + Duration::from_secs(20);
    while namespaces_of(pid).len() < 4 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(
        namespaces_of(pid).len(),
        4,
        "verify never made its namespaces"
    );
    // Into the probing phase, with sockets, listeners and children alive.
    std::thread::sleep(Duration::from_millis(1500));
    // SAFETY: kill(2) on our own child's pid.
    assert_eq!(unsafe { libc::kill(pid as i32, libc::SIGINT) }, 0);
    let status = child.wait().expect("wait for fwnet verify");
    use std::os::unix::process::ExitStatusExt;
    assert_eq!(status.signal(), Some(libc::SIGINT), "{status:?}");
    assert_eq!(
        namespaces_of(pid),
        Vec::<String>::new(),
        "namespaces left behind"
    );
    assert_eq!(host_veths(), veths, "veths appeared in the host namespace");
    let leftovers: Vec<String> = std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|e| std::fs::read(e.path().join("cmdline")).ok())
        .map(|c| String::from_utf8_lossy(&c).replace('\0', " "))
        .filter(|c| c.contains(&format!("fwv-{pid}-")) || c.contains(rules.to_str().unwrap()))
        .collect();
    assert!(leftovers.is_empty(), "processes left behind: {leftovers:?}");
}

/// Issue 3's figure for a large ruleset: 500 rules in under 60 s (printed for the record).
#[test]
fn five_hundred_rules_verify_in_under_a_minute() {
    let test = "five_hundred_rules_verify_in_under_a_minute";
    if !privileged(test) {
        return;
    }
    let rules = scratch("500.rules", &ruleset_500());
    let (out, took) = verify(&[rules.to_str().unwrap()], &[]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    eprintln!(
        "{test}: `fwnet verify` of 500 rules took {took:?}: {}",
        stdout.lines().last().unwrap_or("")
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(took < Duration::from_secs(60), "took {took:?}");
}
