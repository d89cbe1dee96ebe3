//! `fwnet verify` as a user runs it: exit codes, output, `--json`, `--probes`, the legacy
//! kernel refusing a file, interruption, and the time figures of issue 3.
//!
//! [`ruleset_500`] generates a deterministic 500-rule ruleset for the time figure. Probe
//! derivation and verdict comparison are tested in `fwnet-apply` and in `verdicts`; this file
//! tests the command around them.

use crate::apply::{scratch, text};
use crate::netns::privileged;
use crate::verdicts::seed_rules;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

const FWNET: &str = env!("CARGO_BIN_EXE_fwnet");

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

/// A loaded machine delays packets (softirqs wait for CPU) but must never turn into a
/// mismatch: five runs of the seed beside busy loops, every verdict identical each time.
#[test]
fn seed_verifies_under_cpu_load_without_false_mismatches() {
    let test = "seed_verifies_under_cpu_load_without_false_mismatches";
    if !privileged(test) {
        return;
    }
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;
    let stop = Arc::new(AtomicBool::new(false));
    let busy: Vec<_> = (0..4)
        .map(|_| {
            let stop = Arc::clone(&stop);
            std::thread::spawn(move || {
                let mut n = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    n = std::hint::black_box(n.wrapping_add(1));
                }
            })
        })
        .collect();
    let seed = seed_rules();
    let runs: Vec<(Output, Duration)> = (0..5)
        .map(|_| verify(&[seed.to_str().unwrap()], &[]))
        .collect();
    stop.store(true, Ordering::Relaxed);
    for b in busy {
        b.join().unwrap();
    }
    for (i, (out, took)) in runs.iter().enumerate() {
        eprintln!("{test}: run {i} under load took {took:?}");
        assert_eq!(out.status.code(), Some(0), "run {i}: {}", text(out));
        assert!(
            String::from_utf8_lossy(&out.stdout).contains(" 0 mismatch(es)"),
            "run {i}: {}",
            text(out)
        );
    }
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
    // Sent by the server to itself, it crossed OUTPUT (its policy, on the legacy side) before
    // the INPUT rule for `lo` took it.
    let input_hit = |side: &str| {
        lo[side]["hits"]
            .as_array()
            .and_then(|h| h.iter().find(|h| h["chain"] == "INPUT"))
            .cloned()
            .unwrap_or_else(|| panic!("no INPUT hit: {lo}"))
    };
    assert_eq!(lo["legacy"]["hits"][0]["chain"], "OUTPUT", "{lo}");
    assert!(
        input_hit("legacy")["origin"]
            .as_str()
            .unwrap_or("")
            .ends_with("centos6-web.rules:5"),
        "{lo}"
    );
    assert!(
        input_hit("fwnet")["text"]
            .as_str()
            .unwrap_or("")
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

/// `--allow-approximate`: a file that translates only with approximations is refused (exit 2)
/// without it, and verified with it, the report saying how many rules are approximated.
#[test]
fn approximations_are_verified_only_when_allowed_and_said_so() {
    let test = "approximations_are_verified_only_when_allowed_and_said_so";
    if !privileged(test) {
        return;
    }
    // A check of any age: nft sets cannot forget as xt_recent's 100-entry list does.
    let file = scratch(
        "ageless.rules",
        "*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n-A INPUT -p tcp -m tcp --dport 23 -m recent --set --name BAD\n-A INPUT -p tcp -m tcp --dport 22 -m recent --rcheck --name BAD -j DROP\nCOMMIT\n",
    );
    let path = file.to_str().unwrap();
    let (out, _) = verify(&["--family", "4", path], &[]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("error[translate/approximate]"),
        "{}",
        text(&out)
    );
    let (out, _) = verify(&["--family", "4", "--allow-approximate", path], &[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("1 rule(s) are APPROXIMATED"),
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
    // Every derived probe (4,687, 7.7 s here): the run must still be probing when interrupted
    // (the default cap's 600 took 1.1 s once verify read the legacy counters from the kernel,
    // and ended before the signal).
    let mut child = Command::new(FWNET)
        .args(["verify", "--max-probes", "100000", rules.to_str().unwrap()])
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

/// An ip6tables ruleset of the founding kind: lo, states, a limited echo-request, neighbour
/// discovery from link-local sources only for router advertisements, a source prefix, a port
/// range reset, a reject.
pub const WEB_V6: &str = "\
*filter
:INPUT DROP [0:0]
:FORWARD DROP [0:0]
:OUTPUT ACCEPT [0:0]
-A INPUT -i lo -j ACCEPT
-A INPUT -m state --state RELATED,ESTABLISHED -j ACCEPT
-A INPUT -p ipv6-icmp -m icmp6 --icmpv6-type 128 -m limit --limit 1/min --limit-burst 5 -j ACCEPT
-A INPUT -p ipv6-icmp -m icmp6 --icmpv6-type 135 -j ACCEPT
-A INPUT -p ipv6-icmp -m icmp6 --icmpv6-type 136 -j ACCEPT
-A INPUT -s fe80::/10 -p ipv6-icmp -m icmp6 --icmpv6-type 134 -j ACCEPT
-A INPUT -s 2001:db8:1::/48 -p tcp -m tcp --dport 22 -m state --state NEW -j ACCEPT
-A INPUT -p tcp -m tcp --dport 80 -j ACCEPT
-A INPUT -p udp -m udp --sport 53 -j ACCEPT
-A INPUT -p tcp -m tcp --dport 8000:8010 -j REJECT --reject-with tcp-reset
-A INPUT -j REJECT --reject-with icmp6-adm-prohibited
COMMIT
";

fn results(out: &Output) -> Vec<serde_json::Value> {
    let v: serde_json::Value =
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", text(out)));
    v["results"].as_array().cloned().unwrap_or_default()
}

/// The verdict of the probe whose text starts with `start`, on (legacy, fwnet).
fn verdicts_of(results: &[serde_json::Value], start: &str) -> (String, String) {
    let r = results
        .iter()
        .find(|r| r["text"].as_str().unwrap_or("").starts_with(start))
        .unwrap_or_else(|| panic!("no probe `{start}`"));
    side_verdicts(r)
}

/// Checks that both sides gave each probe (a [`verdicts_like`] pattern) the verdict listed.
fn both_sides_give(results: &[serde_json::Value], expected: &[(&str, &str)]) {
    for (pattern, verdict) in expected {
        assert_eq!(
            verdicts_like(results, pattern),
            (verdict.to_string(), verdict.to_string()),
            "{pattern}"
        );
    }
}

/// The result of the probe whose text is `pattern`, where `*` stands for a source port.
fn probe_like<'a>(results: &'a [serde_json::Value], pattern: &str) -> &'a serde_json::Value {
    let (head, tail) = pattern.split_once('*').unwrap_or((pattern, ""));
    results
        .iter()
        .find(|r| {
            let t = r["text"].as_str().unwrap_or("");
            t.starts_with(head)
                && t[head.len()..].split_once(' ').is_some_and(|(port, rest)| {
                    port.bytes().all(|b| b.is_ascii_digit()) && tail.trim_start() == rest
                })
        })
        .unwrap_or_else(|| panic!("no probe like `{pattern}` in {results:#?}"))
}

/// The verdicts of the probe whose text is `pattern` ([`probe_like`]).
fn verdicts_like(results: &[serde_json::Value], pattern: &str) -> (String, String) {
    side_verdicts(probe_like(results, pattern))
}

/// A probe's verdicts, on (legacy, fwnet).
fn side_verdicts(r: &serde_json::Value) -> (String, String) {
    let v = |side: &str| {
        r[side]["verdict"]["verdict"]
            .as_str()
            .unwrap_or("")
            .to_string()
    };
    (v("legacy"), v("fwnet"))
}

#[test]
fn ipv6_file_verifies_over_ipv6_with_neighbour_discovery_probed() {
    let test = "ipv6_file_verifies_over_ipv6_with_neighbour_discovery_probed";
    if !privileged(test) {
        return;
    }
    let v6 = scratch("web.v6", WEB_V6);
    let (out, took) = verify(&["--json", v6.to_str().unwrap()], &[]);
    eprintln!("{test}: took {took:?}");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let r = results(&out);
    assert!(r.len() >= 40, "{} probes", r.len());
    let pair = |a: &str| (a.to_string(), a.to_string());
    // (probe, the verdict both sides must give)
    let cases = [
        ("icmpv6 fe80::77:0:2 -> fd77::1 type 133 ", pair("drop")),
        ("icmpv6 fe80::77:0:2 -> fd77::1 type 134 ", pair("accept")),
        (
            "icmpv6 2001:db8:198:18::1 -> fd77::1 type 134 ",
            pair("drop"),
        ),
        ("icmpv6 fe80::77:0:2 -> fd77::1 type 135 ", pair("accept")),
        ("icmpv6 fe80::77:0:2 -> fd77::1 type 136 ", pair("accept")),
        ("icmpv6 fe80::77:0:2 -> fd77::1 type 137 ", pair("drop")),
        (
            "icmpv6 fd77::1 -> fd77::1 type 128 code 0 iif lo",
            pair("accept"),
        ),
        ("tcp [2001:db8:1::]:", pair("accept")),
        ("tcp [2001:db8:2::]:", pair("drop")),
    ];
    for (probe, want) in cases {
        assert_eq!(verdicts_of(&r, probe), want, "{probe}");
    }
    let burst = r
        .iter()
        .find(|x| x["probe"]["count"] == 8)
        .unwrap_or_else(|| panic!("no echo-request burst"));
    assert_eq!(burst["legacy"]["verdict"]["accepted"], 5, "{burst}");
    let connect = verdicts_of(&r, "connect [2001:db8:198:18::");
    assert_eq!(connect.0, connect.1, "a real IPv6 connection");
    // A broken translation of the IPv6 file is caught too.
    let (out, _) = verify(
        &[v6.to_str().unwrap()],
        &[("FWNET_VERIFY_MUTATE", "no-iif-lo")],
    );
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
}

#[test]
fn both_families_verify_in_one_run_and_family_can_be_forced() {
    let test = "both_families_verify_in_one_run_and_family_can_be_forced";
    if !privileged(test) {
        return;
    }
    let seed = seed_rules();
    let v6 = scratch("both.v6", WEB_V6);
    let (out, took) = verify(
        &["--json", seed.to_str().unwrap(), v6.to_str().unwrap()],
        &[],
    );
    eprintln!("{test}: seed + IPv6 took {took:?}");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let r = results(&out);
    let v6_probes = r
        .iter()
        .filter(|x| x["text"].as_str().unwrap_or("").contains("fd77::1"))
        .count();
    assert!(v6_probes >= 30, "{v6_probes} IPv6 probes");
    assert!(
        r.len() - v6_probes >= 30,
        "{} IPv4 probes",
        r.len() - v6_probes
    );
    // Nothing here says IPv6 but `--family 6`: verified over IPv6 with ip6tables.
    let plain = scratch(
        "plain.rules",
        "*filter\n:INPUT DROP [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n-A INPUT -p tcp --dport 22 -j ACCEPT\nCOMMIT\n",
    );
    let (out, _) = verify(&["--json", "--family", "6", plain.to_str().unwrap()], &[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let r = results(&out);
    // The source port is left open: it numbers the probes, and a stateless IPv6 file gets a
    // fragment guard with a probe of its own.
    both_sides_give(
        &r,
        &[(
            "tcp [2001:db8:198:18::1]:* -> [fd77::1]:22 flags S",
            "accept",
        )],
    );
}

/// Two per-source hashlimits with slow rates: entries of `ssh` expire after 2 s, those of `ping`
/// after the default 10 s.
pub const HASHLIMIT_EXPIRY: &str = "\
*filter
:INPUT DROP [0:0]
:FORWARD DROP [0:0]
:OUTPUT ACCEPT [0:0]
-A INPUT -i lo -j ACCEPT
-A INPUT -p tcp --dport 22 -m hashlimit --hashlimit-upto 1/min --hashlimit-burst 3 --hashlimit-mode srcip --hashlimit-name ssh --hashlimit-htable-expire 2000 -j ACCEPT
-A INPUT -p icmp --icmp-type echo-request -m hashlimit --hashlimit-upto 1/hour --hashlimit-burst 2 --hashlimit-mode srcip --hashlimit-name ping -j ACCEPT
COMMIT
";

#[test]
fn slow_waits_for_expiry_and_catches_a_set_that_never_expires() {
    let test = "slow_waits_for_expiry_and_catches_a_set_that_never_expires";
    if !privileged(test) {
        return;
    }
    let rules = scratch("expiry.rules", HASHLIMIT_EXPIRY);
    let path = rules.to_str().unwrap();
    // Without --slow: listed, not played.
    let (out, _) = verify(&[path], &[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    for line in [
        "not verified: expiry of the set entries of ",
        "expiry.rules:6 after 2 s (use --slow)",
        "expiry.rules:7 after 10 s (use --slow)",
    ] {
        assert!(stdout.contains(line), "no `{line}` in\n{stdout}");
    }
    // With --slow: the 2 s expiry is played after its burst emptied the bucket, the 10 s one is
    // beyond --slow-max.
    let (out, took) = verify(&["--json", "--slow", "--slow-max", "5", path], &[]);
    eprintln!("{test}: --slow took {took:?}");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("1 expiry probe(s) will wait 4.5 s in all"),
        "{}",
        text(&out)
    );
    assert!(took >= Duration::from_millis(4500), "took {took:?}");
    let r = results(&out);
    let burst = verdicts_of(&r, "tcp 198.18.0.1:20001 -> 10.77.0.1:22 flags S x 6");
    assert_eq!(
        burst,
        ("partial".into(), "partial".into()),
        "the burst empties the bucket"
    );
    let expired = verdicts_of(&r, "tcp 198.18.0.1:20010 -> 10.77.0.1:22 flags S wait 4500");
    assert_eq!(expired, ("accept".into(), "accept".into()));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(
        v["not_verified"].as_array().unwrap().iter().any(|n| n
            .as_str()
            .unwrap()
            .contains("after 10 s: longer than --slow-max 5 s")),
        "{}",
        v["not_verified"]
    );
    // A translation whose buckets never expire is caught by the post-expiry probe.
    let (out, _) = verify(
        &["--slow", "--slow-max", "5", path],
        &[("FWNET_VERIFY_MUTATE", "no-expiry")],
    );
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("mismatch: tcp 198.18.0.1:20010 -> 10.77.0.1:22 flags S wait 4500 (for ")
            && stdout.contains("same source after the entry expired)"),
        "{stdout}"
    );
}

/// A small router: interfaces on both sides, a destination and port, a global rate limit, a
/// rejected source prefix and a DROP policy.
pub const ROUTER: &str = "\
*filter
:INPUT ACCEPT [0:0]
:FORWARD DROP [0:0]
:OUTPUT ACCEPT [0:0]
-A FORWARD -m state --state RELATED,ESTABLISHED -j ACCEPT
-A FORWARD -i eth1 -o eth0 -j ACCEPT
-A FORWARD -i eth0 -o eth1 -p tcp -d 192.168.1.10 --dport 80 -j ACCEPT
-A FORWARD -p icmp --icmp-type echo-request -m limit --limit 1/min --limit-burst 10 -j ACCEPT
-A FORWARD -s 10.9.0.0/16 -j REJECT --reject-with icmp-port-unreachable
-A FORWARD -d 127.0.0.1 -p tcp --dport 80 -j DROP
COMMIT
";

#[test]
fn forward_chain_is_verified_with_routed_probes() {
    let test = "forward_chain_is_verified_with_routed_probes";
    if !privileged(test) {
        return;
    }
    let rules = scratch("router.rules", ROUTER);
    let path = rules.to_str().unwrap();
    let (out, took) = verify(&["--json", path], &[]);
    eprintln!("{test}: took {took:?}");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let r = results(&out);
    // Forwarded both ways between the named interfaces, the rest by the policy.
    both_sides_give(
        &r,
        &[
            (
                "tcp 198.18.0.1:* -> 198.51.100.10:33434 flags S iif eth1 forward oif eth0",
                "accept",
            ),
            (
                "tcp 198.18.0.1:* -> 192.168.1.10:80 flags S iif eth0 forward oif eth1",
                "accept",
            ),
            (
                "tcp 198.18.0.1:* -> 192.168.1.9:80 flags S iif eth0 forward oif eth1",
                "drop",
            ),
            (
                "tcp 10.9.0.0:* -> 198.51.100.10:33434 flags S forward",
                "drop",
            ),
        ],
    );
    let burst = r
        .iter()
        .find(|p| p["text"].as_str().unwrap_or("").contains("forward x 13"))
        .unwrap_or_else(|| panic!("no forwarded burst in {r:#?}"));
    assert_eq!(burst["legacy"]["verdict"]["accepted"], 10, "{burst}");
    assert_eq!(burst["fwnet"]["verdict"]["accepted"], 10, "{burst}");
    // The FORWARD rule that decided is named on both sides.
    let decided_by = |pattern: &str, line: &str| {
        let hit = probe_like(&r, pattern);
        assert!(
            hit["legacy"]["hits"].to_string().contains(line)
                && hit["fwnet"]["hits"].to_string().contains(line),
            "{hit}"
        );
    };
    decided_by(
        "tcp 198.18.0.1:* -> 192.168.1.10:80 flags S iif eth0 forward oif eth1",
        "router.rules:7",
    );
    // ESTABLISHED and RELATED packets routed through the server, of connections written into
    // its conntrack table: the first rule lets them through.
    both_sides_give(
        &r,
        &[
            (
                "established tcp 198.18.0.1:* -> 198.51.100.10:33434 forward",
                "accept",
            ),
            (
                "established udp 198.18.0.1:* -> 198.51.100.10:33434 forward",
                "accept",
            ),
            (
                "related 198.18.0.1:* -> 198.51.100.10:33434 forward",
                "accept",
            ),
        ],
    );
    decided_by(
        "established tcp 198.18.0.1:* -> 198.51.100.10:33434 forward",
        "router.rules:5",
    );
    decided_by(
        "related 198.18.0.1:* -> 198.51.100.10:33434 forward",
        "router.rules:5",
    );
    // Nothing is left out but the rule whose packets could never leave the server: its
    // witness, edges, flag variants and the witness in two fragments (thirteen probes, one
    // destination) are named in one line.
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let uncovered = v["uncovered"].as_array().cloned().unwrap_or_default();
    assert_eq!(uncovered.len(), 1, "{uncovered:?}");
    let line = uncovered[0].as_str().unwrap_or("");
    assert!(
        line.contains("-> 127.0.0.1:80 flags S forward` and 12 more like it (")
            && line.contains("router.rules:10): ")
            && line.contains("the server cannot route 127.0.0.1 away (")
            && line.ends_with("so it would not leave the server"),
        "{line}"
    );
    assert!(
        !v["not_verified"].to_string().contains("FORWARD"),
        "{}",
        v["not_verified"]
    );
    // A broken translation of the forwarded limit is caught and named.
    let (out, _) = verify(&[path], &[("FWNET_VERIFY_MUTATE", "burst5")]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("forward x 13") && stdout.contains("router.rules:8"),
        "{stdout}"
    );
    // So is a translation that lost the rule for established connections.
    let (out, _) = verify(
        &["--json", path],
        &[("FWNET_VERIFY_MUTATE", "no-established")],
    );
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let r = results(&out);
    for pattern in [
        "established tcp 198.18.0.1:* -> 198.51.100.10:33434 forward",
        "related 198.18.0.1:* -> 198.51.100.10:33434 forward",
    ] {
        assert_eq!(
            verdicts_like(&r, pattern),
            ("accept".to_string(), "drop".to_string()),
            "{pattern}"
        );
    }
}

/// ESTABLISHED rules a real exchange cannot reach one packet at a time: on `lo`, and behind
/// rate limits (each packet of a burst is its own connection).
const ESTABLISHED_INPUT: &str = "\
*filter
:INPUT DROP [0:0]
:FORWARD DROP [0:0]
:OUTPUT ACCEPT [0:0]
-A INPUT -i lo -m state --state ESTABLISHED -j ACCEPT
-A INPUT -p tcp -m state --state ESTABLISHED -m limit --limit 2/min --limit-burst 3 -j ACCEPT
-A INPUT -p udp -m state --state ESTABLISHED -m limit --limit 2/min --limit-burst 3 -j ACCEPT
-A INPUT -p tcp --dport 22 -j ACCEPT
COMMIT
";

#[test]
fn established_packets_on_lo_and_in_bursts_ride_on_written_connections() {
    let test = "established_packets_on_lo_and_in_bursts_ride_on_written_connections";
    if !privileged(test) {
        return;
    }
    let rules = scratch("established.rules", ESTABLISHED_INPUT);
    let path = rules.to_str().unwrap();
    let (out, took) = verify(&["--json", "--family", "4", path], &[]);
    eprintln!("{test}: took {took:?}");
    // The `lo` rule's variant on the main link is a client's connection, not one from the
    // server's own address (which the client cannot bind: verification used to stop there).
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let r = results(&out);
    both_sides_give(
        &r,
        &[
            (
                "established tcp 10.77.0.1:* -> 10.77.0.1:33434 iif lo",
                "accept",
            ),
            (
                "established udp 10.77.0.1:* -> 10.77.0.1:33434 iif lo",
                "accept",
            ),
            ("connect 198.18.0.1:* -> 10.77.0.1:33434", "drop"),
        ],
    );
    for pattern in [
        "established tcp 198.18.0.1:* -> 10.77.0.1:33434 x 6",
        "established udp 198.18.0.1:* -> 10.77.0.1:33434 x 6",
    ] {
        let p = probe_like(&r, pattern);
        assert_eq!(p["legacy"]["verdict"]["accepted"], 3, "{p}");
        assert_eq!(p["fwnet"]["verdict"]["accepted"], 3, "{p}");
    }
    let (out, _) = verify(
        &["--json", "--family", "4", path],
        &[("FWNET_VERIFY_MUTATE", "no-established")],
    );
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let r = results(&out);
    let (legacy, fwnet) =
        verdicts_like(&r, "established tcp 10.77.0.1:* -> 10.77.0.1:33434 iif lo");
    assert_eq!((legacy.as_str(), fwnet.as_str()), ("accept", "drop"));
    let burst = probe_like(&r, "established udp 198.18.0.1:* -> 10.77.0.1:33434 x 6");
    assert_eq!(burst["legacy"]["verdict"]["accepted"], 3, "{burst}");
    assert_eq!(burst["fwnet"]["verdict"]["verdict"], "drop", "{burst}");
}

/// Marks of every kind the mangle table sets on each path, and one the filter acts on.
const MARKS: &str = "\
*mangle
:PREROUTING ACCEPT [0:0]
:INPUT ACCEPT [0:0]
:FORWARD ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
:POSTROUTING ACCEPT [0:0]
-A PREROUTING -p tcp -m tcp --dport 80 -j MARK --set-mark 0x10
-A PREROUTING -p tcp -m tcp --dport 443 -j MARK --set-xmark 0x20/0xf0
-A PREROUTING -s 10.9.0.0/16 -j MARK --set-mark 0x1
-A FORWARD -o eth1 -j MARK --or-mark 0x100
-A OUTPUT -p udp --dport 53 -j MARK --set-mark 0x53
COMMIT
*filter
:INPUT ACCEPT [0:0]
:FORWARD ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
-A INPUT -m mark --mark 0x1 -j DROP
COMMIT
";

#[test]
fn packet_marks_the_mangle_table_sets_are_compared() {
    let test = "packet_marks_the_mangle_table_sets_are_compared";
    if !privileged(test) {
        return;
    }
    let rules = scratch("marks.rules", MARKS);
    let path = rules.to_str().unwrap();
    let (out, took) = verify(&["--json", "--family", "4", path], &[]);
    eprintln!("{test}: took {took:?}");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let r = results(&out);
    // Each mangle rule gets a probe, and the mark its packet carried when it got through is
    // the same on both sides.
    for (pattern, mark) in [
        ("tcp 198.18.0.1:* -> 10.77.0.1:80 flags S", 0x10),
        ("tcp 198.18.0.1:* -> 10.77.0.1:443 flags S", 0x20),
        (
            "tcp 198.18.0.1:* -> 198.51.100.10:33434 flags S forward oif eth1",
            0x100,
        ),
        ("udp 10.77.0.1:* -> 198.51.100.10:53 output", 0x53),
    ] {
        let p = probe_like(&r, pattern);
        for side in ["legacy", "fwnet"] {
            assert_eq!(p[side]["verdict"]["verdict"], "accept", "{p}");
            assert_eq!(p[side]["mark"], mark, "{side}: {p}");
        }
    }
    // A mark the filter drops on is judged by the verdict, as before.
    both_sides_give(&r, &[("tcp 10.9.0.0:* -> 10.77.0.1:33434 flags S", "drop")]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(
        v["not_verified"]
            .to_string()
            .contains("the packet marks, TOS bytes and TTLs it sets are compared on the packets that get through"),
        "{}",
        v["not_verified"]
    );
    // A translation that sets other marks is caught, the marks named.
    let (out, _) = verify(
        &["--family", "4", path],
        &[("FWNET_VERIFY_MUTATE", "mark-xor")],
    );
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    for needle in [
        "accept, mark 0x10",
        "accept, mark 0x11",
        "accept, mark 0x101",
    ] {
        assert!(stdout.contains(needle), "{needle} in {stdout}");
    }
}

/// DSCP and TTL rewrites on each path (a TTL low enough for the filter to drop on), and the
/// same over IPv6.
const HEADERS_V4: &str = "\
*mangle
:PREROUTING ACCEPT [0:0]
:INPUT ACCEPT [0:0]
:FORWARD ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
:POSTROUTING ACCEPT [0:0]
-A PREROUTING -p tcp -m tcp --dport 22 -j DSCP --set-dscp-class EF
-A PREROUTING -p udp -m udp --dport 5060 -j TTL --ttl-set 5
-A PREROUTING -p udp -m udp --dport 5061 -j TTL --ttl-set 50
-A FORWARD -o eth1 -j TTL --ttl-set 65
-A OUTPUT -p udp -m udp --dport 53 -j DSCP --set-dscp 0x0a
COMMIT
*filter
:INPUT ACCEPT [0:0]
:FORWARD ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
-A INPUT -m ttl --ttl-lt 10 -j DROP
COMMIT
";

const HEADERS_V6: &str = "\
*mangle
:PREROUTING ACCEPT [0:0]
:INPUT ACCEPT [0:0]
:FORWARD ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
:POSTROUTING ACCEPT [0:0]
-A PREROUTING -p tcp -m tcp --dport 22 -j DSCP --set-dscp-class AF41
-A PREROUTING -p udp -m udp --dport 5060 -j HL --hl-set 7
-A POSTROUTING -o eth1 -j HL --hl-set 65
COMMIT
*filter
:INPUT ACCEPT [0:0]
:FORWARD ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
COMMIT
";

#[test]
fn header_fields_the_mangle_table_sets_are_compared() {
    let test = "header_fields_the_mangle_table_sets_are_compared";
    if !privileged(test) {
        return;
    }
    let v4 = scratch("headers.v4", HEADERS_V4);
    let v6 = scratch("headers.v6", HEADERS_V6);
    let files = [v4.to_str().unwrap(), v6.to_str().unwrap()];
    let (out, took) = verify(&["--json", files[0], files[1]], &[]);
    eprintln!("{test}: took {took:?}");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let r = results(&out);
    // Each rewriting rule gets a probe, and the field it set is the same on both sides: the
    // TOS byte a DSCP rule wrote (EF is 46, AF41 34, 0x0a 10, each shifted past the two ECN
    // bits), and a TTL other than the kernel's own (the probe's 64, 63 once routed).
    for (pattern, field, value) in [
        ("tcp 198.18.0.1:* -> 10.77.0.1:22 flags S", "tos", 0xb8),
        ("udp 198.18.0.1:* -> 10.77.0.1:5061", "ttl", 50),
        (
            "tcp 198.18.0.1:* -> 198.51.100.10:33434 flags S forward oif eth1",
            "ttl",
            65,
        ),
        ("udp 10.77.0.1:* -> 198.51.100.10:53 output", "tos", 0x28),
        (
            "tcp [2001:db8:198:18::1]:* -> [fd77::1]:22 flags S",
            "tos",
            0x88,
        ),
        ("udp [2001:db8:198:18::1]:* -> [fd77::1]:5060", "ttl", 7),
        (
            "udp [2001:db8:198:18::1]:* -> [2001:db8:51::10]:33434 forward oif eth1",
            "ttl",
            65,
        ),
    ] {
        let p = probe_like(&r, pattern);
        for side in ["legacy", "fwnet"] {
            assert_eq!(p[side]["verdict"]["verdict"], "accept", "{p}");
            assert_eq!(p[side][field], value, "{side}: {p}");
        }
    }
    // A packet the ruleset leaves alone shows neither field, routed or not.
    for pattern in [
        "udp 198.18.0.1:* -> 10.77.0.1:5062",
        "udp 198.18.0.1:* -> 198.51.100.10:33434 forward",
    ] {
        let p = probe_like(&r, pattern);
        for side in ["legacy", "fwnet"] {
            assert_eq!(p[side]["verdict"]["verdict"], "accept", "{p}");
            assert!(p[side]["tos"].is_null() && p[side]["ttl"].is_null(), "{p}");
        }
    }
    // A TTL the filter drops on is judged by the verdict.
    both_sides_give(&r, &[("udp 198.18.0.1:* -> 10.77.0.1:5060", "drop")]);
    // A translation that writes other values is caught, the values named.
    let (out, _) = verify(files.as_slice(), &[("FWNET_VERIFY_MUTATE", "header-xor")]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    for needle in [
        "legacy: accept, tos 0xb8 ",
        "fwnet:  accept, tos 0xbc ",
        "legacy: accept, ttl 50 ",
        "fwnet:  accept, ttl 51 ",
        "legacy: accept, ttl 65 ",
        "fwnet:  accept, ttl 64 ",
        "legacy: accept, tos 0x88 ",
        "fwnet:  accept, tos 0x8c ",
        "legacy: accept, ttl 7 ",
        "fwnet:  accept, ttl 6 ",
    ] {
        assert!(stdout.contains(needle), "{needle} in {stdout}");
    }
}

/// Rules that shape conntrack entries: no entry (raw NOTRACK and `CT --notrack`, on INPUT and
/// OUTPUT), a helper and a zone (raw `CT`, the zone from a user chain), connection marks
/// (mangle CONNMARK, set and saved).
const ENTRIES: &str = "\
*raw
:PREROUTING ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
:ZONES - [0:0]
-A PREROUTING -p udp -m udp --dport 53 -j NOTRACK
-A PREROUTING -p tcp -m tcp --dport 21 -j CT --helper ftp
-A ZONES -j CT --zone 1
-A OUTPUT -p udp -m udp --dport 123 -j CT --notrack
-A OUTPUT -d 198.51.100.7 -j ZONES
COMMIT
*mangle
:PREROUTING ACCEPT [0:0]
:INPUT ACCEPT [0:0]
:FORWARD ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
:POSTROUTING ACCEPT [0:0]
-A PREROUTING -p tcp -m tcp --dport 80 -j CONNMARK --set-mark 0x2
-A PREROUTING -p tcp -m tcp --dport 443 -j MARK --set-mark 0x5
-A PREROUTING -p tcp -m tcp --dport 443 -j CONNMARK --save-mark
COMMIT
*filter
:INPUT ACCEPT [0:0]
:FORWARD ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
-A INPUT -m state --state INVALID -j DROP
COMMIT
";

#[test]
fn conntrack_entries_the_rules_shape_are_compared() {
    let test = "conntrack_entries_the_rules_shape_are_compared";
    if !privileged(test) {
        return;
    }
    let rules = scratch("entries.v4", ENTRIES);
    let path = rules.to_str().unwrap();
    let (out, took) = verify(&["--json", path], &[]);
    eprintln!("{test}: took {took:?}");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let r = results(&out);
    // The raw and mangle rules get probes, and the entry each probe's connection has is the
    // same on both sides: none, or one with the zone, helper or mark a rule gave it (for a SYN
    // to a closed port, as it was before the server's RST ended it).
    let none = serde_json::json!("no_entry");
    let entry = |mark: u32, zone: u16, helper: Option<&str>| {
        let mut e = serde_json::json!({"entry": {"mark": mark, "zone": zone}});
        if let Some(h) = helper {
            e["entry"]["helper"] = h.into();
        }
        e
    };
    for (pattern, expected) in [
        ("udp 198.18.0.1:* -> 10.77.0.1:53", none.clone()),
        ("udp 10.77.0.1:* -> 198.51.100.10:123 output", none),
        (
            "tcp 198.18.0.1:* -> 10.77.0.1:21 flags S",
            entry(0, 0, Some("ftp")),
        ),
        (
            "tcp 10.77.0.1:* -> 198.51.100.7:33434 flags S output",
            entry(0, 1, None),
        ),
        (
            "tcp 198.18.0.1:* -> 10.77.0.1:80 flags S",
            entry(2, 0, None),
        ),
        (
            "tcp 198.18.0.1:* -> 10.77.0.1:443 flags S",
            entry(5, 0, None),
        ),
        ("udp 198.18.0.1:* -> 10.77.0.1:54", entry(0, 0, None)),
    ] {
        let p = probe_like(&r, pattern);
        for side in ["legacy", "fwnet"] {
            assert_eq!(p[side]["verdict"]["verdict"], "accept", "{p}");
            assert_eq!(p[side]["conntrack"], expected, "{side}: {p}");
        }
    }
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let not_verified = v["not_verified"].to_string();
    for needle in [
        "the conntrack entries of the packets that get through are compared",
        "and so are their connection marks",
    ] {
        assert!(not_verified.contains(needle), "{needle} in {not_verified}");
    }
    // A translation that writes other entries is caught, the entries named.
    let (out, _) = verify(&[path], &[("FWNET_VERIFY_MUTATE", "ct-xor")]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    for needle in [
        "legacy: accept, no ct entry decided",
        "legacy: accept, ct zone 1 decided",
        "legacy: accept, ct mark 0x2 decided",
        "fwnet:  accept, ct mark 0x3 decided",
        "legacy: accept, mark 0x5, ct mark 0x5 decided",
        "fwnet:  accept, mark 0x5, ct mark 0x4 decided",
    ] {
        assert!(stdout.contains(needle), "{needle} in {stdout}");
    }
}

/// No rule that needs conntrack, and the same with one that does.
const STATELESS: &str = "\
*filter
:INPUT ACCEPT [0:0]
:FORWARD ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
-A INPUT -p tcp -m tcp --dport 22 -j ACCEPT
-A INPUT -s 10.0.0.0/8 -j DROP
COMMIT
";

#[test]
fn whether_conntrack_tracks_a_packet_is_compared_in_every_file() {
    let test = "whether_conntrack_tracks_a_packet_is_compared_in_every_file";
    if !privileged(test) {
        return;
    }
    let stateless = scratch("stateless.v4", STATELESS);
    let stateful = scratch(
        "stateful.v4",
        &STATELESS.replace(
            "-A INPUT -s 10.0.0.0/8",
            "-A INPUT -m state --state INVALID -j DROP\n-A INPUT -s 10.0.0.0/8",
        ),
    );
    // Without conntrack on either side nothing is shown; with it, every packet that got through
    // has a plain entry on both sides.
    for (file, tracked) in [(&stateless, false), (&stateful, true)] {
        let (out, took) = verify(&["--json", file.to_str().unwrap()], &[]);
        eprintln!("{test}: took {took:?}");
        assert_eq!(out.status.code(), Some(0), "{}", text(&out));
        let r = results(&out);
        let p = probe_like(&r, "tcp 198.18.0.1:* -> 10.77.0.1:22 flags S");
        let expected = match tracked {
            true => serde_json::json!({"entry": {"mark": 0, "zone": 0}}),
            false => serde_json::Value::Null,
        };
        for side in ["legacy", "fwnet"] {
            assert_eq!(p[side]["conntrack"], expected, "{side}: {p}");
        }
    }
    // A translation that has conntrack track packets the legacy rules leave alone is caught.
    let (out, _) = verify(
        &[stateless.to_str().unwrap()],
        &[("FWNET_VERIFY_MUTATE", "track-all")],
    );
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("legacy: accept, no ct entry decided by"),
        "{stdout}"
    );
}

/// Docker's DNAT of the server's own connections to a container's address, which a raw rule
/// drops unless it comes from the bridge.
const OWN_DNAT: &str = "\
*raw
:PREROUTING ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
-A PREROUTING -d 172.18.0.2/32 ! -i br0 -j DROP
COMMIT
*nat
:PREROUTING ACCEPT [0:0]
:INPUT ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
:POSTROUTING ACCEPT [0:0]
-A OUTPUT -p tcp -m tcp --dport 8123 -j DNAT --to-destination 172.18.0.2:8123
COMMIT
";

#[test]
fn the_servers_own_packet_rewritten_before_it_reaches_lo_is_seen_arriving() {
    let test = "the_servers_own_packet_rewritten_before_it_reaches_lo_is_seen_arriving";
    if !privileged(test) {
        return;
    }
    let rules = scratch("own-dnat.v4", OWN_DNAT);
    // With the server owning the container's address (an INPUT probe goes there), its own
    // connection to 8123 is DNATed to it, goes over `lo` and meets the raw rule there: it
    // arrived, rewritten, and was dropped, which is a verdict, not a lost probe.
    let probes = scratch(
        "own-dnat.probes",
        "tcp 198.18.0.1 -> 172.18.0.2:80 flags S\ntcp 10.77.0.1 -> 8123 flags S iif lo\n",
    );
    let (out, took) = verify(
        &[
            "--json",
            "--probes",
            probes.to_str().unwrap(),
            rules.to_str().unwrap(),
        ],
        &[],
    );
    eprintln!("{test}: took {took:?}");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    both_sides_give(
        &results(&out),
        &[("tcp 10.77.0.1:* -> 10.77.0.1:8123 flags S iif lo", "drop")],
    );
}

/// A host with an OUTPUT policy of DROP: named destinations, a rejected port, a rate limit and
/// a user chain.
pub const OUTBOUND: &str = "\
*filter
:INPUT ACCEPT [0:0]
:FORWARD DROP [0:0]
:OUTPUT DROP [0:0]
:LOG_DROP - [0:0]
-A OUTPUT -o lo -j ACCEPT
-A OUTPUT -m state --state RELATED,ESTABLISHED -j ACCEPT
-A OUTPUT -p tcp --dport 25 -j REJECT --reject-with tcp-reset
-A OUTPUT -o eth0 -p tcp --dport 80 -d 192.168.1.10 -j ACCEPT
-A OUTPUT -p udp --dport 53 -j ACCEPT
-A OUTPUT -p icmp -m limit --limit 1/min --limit-burst 4 -j ACCEPT
-A OUTPUT -d 10.9.0.0/16 -j LOG_DROP
-A OUTPUT -p tcp -j ACCEPT
-A LOG_DROP -j DROP
COMMIT
";

#[test]
fn output_chain_is_verified_with_packets_the_server_sends() {
    let test = "output_chain_is_verified_with_packets_the_server_sends";
    if !privileged(test) {
        return;
    }
    let rules = scratch("outbound.rules", OUTBOUND);
    let path = rules.to_str().unwrap();
    let (out, took) = verify(&["--json", path], &[]);
    eprintln!("{test}: took {took:?}");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let r = results(&out);
    both_sides_give(
        &r,
        &[
            ("tcp 10.77.0.1:* -> 198.51.100.10:25 flags S output", "drop"),
            (
                "tcp 10.77.0.1:* -> 192.168.1.10:80 flags S output oif eth0",
                "accept",
            ),
            ("udp 10.77.0.1:* -> 198.51.100.10:53 output", "accept"),
            ("tcp 10.77.0.1:* -> 10.9.0.0:33434 flags S output", "drop"),
            ("udp 10.77.0.1:* -> 198.51.100.10:33434 output", "drop"),
        ],
    );
    // The user chain that dropped is named on both sides.
    let hit = probe_like(&r, "tcp 10.77.0.1:* -> 10.9.0.0:33434 flags S output");
    assert!(
        hit["legacy"]["hits"]
            .to_string()
            .contains("outbound.rules:14")
            && hit["fwnet"]["hits"]
                .to_string()
                .contains("outbound.rules:14"),
        "{hit}"
    );
    // Answers the server sends on connections it holds are ESTABLISHED or RELATED and let out
    // by the second rule.
    both_sides_give(
        &r,
        &[
            (
                "established tcp 10.77.0.1:* -> 198.51.100.10:33434 output",
                "accept",
            ),
            (
                "established udp 10.77.0.1:* -> 198.51.100.10:33434 output",
                "accept",
            ),
            (
                "related 10.77.0.1:* -> 198.51.100.10:33434 output",
                "accept",
            ),
        ],
    );
    let hit = probe_like(
        &r,
        "established tcp 10.77.0.1:* -> 198.51.100.10:33434 output",
    );
    assert!(
        hit["legacy"]["hits"]
            .to_string()
            .contains("outbound.rules:7")
            && hit["fwnet"]["hits"]
                .to_string()
                .contains("outbound.rules:7"),
        "{hit}"
    );
    // A broken burst on the server's own pings is caught.
    let (out, _) = verify(&[path], &[("FWNET_VERIFY_MUTATE", "burst5")]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("output x 7") && stdout.contains("outbound.rules:11"),
        "{stdout}"
    );
}

/// A router whose INPUT, FORWARD and OUTPUT rules name the same network: the INPUT probes need
/// the server to own addresses the FORWARD and OUTPUT probes go to.
pub const SHARED_NETWORK: &str = "\
*filter
:INPUT DROP [0:0]
:FORWARD DROP [0:0]
:OUTPUT DROP [0:0]
-A INPUT -d 10.0.0.0/16 -p icmp -m icmp --icmp-type 8 -j ACCEPT
-A FORWARD -d 10.0.0.0/16 -i eth0 -p tcp -m tcp --dport 80 -j ACCEPT
-A FORWARD -s 10.0.0.0/16 -i eth1 -j ACCEPT
-A OUTPUT -d 10.0.0.0/16 -p udp -m udp --dport 53 -j ACCEPT
-A FORWARD -d 10.0.0.0/16 -j DROP
COMMIT
";

#[test]
fn forwarded_and_sent_probes_to_addresses_input_probes_use_are_played_after_them() {
    let test = "forwarded_and_sent_probes_to_addresses_input_probes_use_are_played_after_them";
    if !privileged(test) {
        return;
    }
    let rules = scratch("shared.rules", SHARED_NETWORK);
    let path = rules.to_str().unwrap();
    let (out, took) = verify(&["--json", path], &[]);
    eprintln!("{test}: took {took:?}");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let r = results(&out);
    both_sides_give(
        &r,
        &[
            (
                "tcp 198.18.0.1:* -> 10.0.0.0:80 flags S iif eth0 forward",
                "accept",
            ),
            (
                "tcp 10.0.0.0:* -> 198.51.100.10:33434 flags S iif eth1 forward",
                "accept",
            ),
            ("udp 10.77.0.1:* -> 10.0.0.0:53 output", "accept"),
            ("udp 10.77.0.1:* -> 10.0.255.255:53 output", "accept"),
        ],
    );
    // The INPUT probe had the address first.
    assert_eq!(
        verdicts_exactly(&r, "icmp 198.18.0.1 -> 10.0.0.0 type 8 code 0"),
        ("accept".to_string(), "accept".to_string())
    );
    let later = probe_like(
        &r,
        "tcp 198.18.0.1:* -> 10.0.0.0:80 flags S iif eth0 forward",
    );
    assert!(
        later["probe"]["why"]
            .as_str()
            .unwrap_or("")
            .ends_with("once the server gave up the address they went to"),
        "{later}"
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["uncovered"], serde_json::json!([]), "{}", v["uncovered"]);
    // The network's drop moved first: the port 80 forward, played after the INPUT probes,
    // differs.
    let (out, _) = verify(&[path], &[("FWNET_VERIFY_MUTATE", "last-first")]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout
            .lines()
            .any(|l| l.contains("-> 10.0.0.0:80 flags S iif eth0 forward")
                && l.ends_with("MISMATCH")),
        "{stdout}"
    );
}

/// Loopback addresses: a database open to the server itself, the classic guard against
/// loopback addresses from the wire, and OUTPUT open on `lo`.
pub const LOOPBACK: &str = "\
*filter
:INPUT DROP [0:0]
:FORWARD DROP [0:0]
:OUTPUT DROP [0:0]
-A INPUT -s 127.0.0.1/32 -p tcp -m tcp --dport 3306 -j ACCEPT
-A INPUT -i lo -p udp -j ACCEPT
-A INPUT -d 127.0.0.0/8 ! -i lo -j REJECT --reject-with icmp-port-unreachable
-A OUTPUT -o lo -j ACCEPT
COMMIT
";

#[test]
fn loopback_addresses_reach_their_rules_from_the_server_and_from_the_wire() {
    let test = "loopback_addresses_reach_their_rules_from_the_server_and_from_the_wire";
    if !privileged(test) {
        return;
    }
    let rules = scratch("loopback.rules", LOOPBACK);
    let path = rules.to_str().unwrap();
    let (out, took) = verify(&["--json", path], &[]);
    eprintln!("{test}: took {took:?}");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let r = results(&out);
    // Named by the rules that decided them, on both sides: the database from the server
    // itself (OUTPUT on `lo`, then INPUT), the loopback address from the wire (the kernel
    // was told to route it, or it would drop it before INPUT).
    for (pattern, verdict, lines) in [
        (
            "tcp 127.0.0.1:* -> 10.77.0.1:3306 flags S iif lo",
            "accept",
            &["loopback.rules:8", "loopback.rules:5"][..],
        ),
        (
            "tcp 198.18.0.1:* -> 127.0.0.0:33434 flags S",
            "drop",
            &["loopback.rules:7"][..],
        ),
    ] {
        let p = probe_like(&r, pattern);
        for side in ["legacy", "fwnet"] {
            assert_eq!(p[side]["verdict"]["verdict"], verdict, "{p}");
            for line in lines {
                assert!(p[side]["hits"].to_string().contains(line), "{line}: {p}");
            }
        }
    }
}

/// The hardening rule that drops SYNs without a plausible MSS option, in front of an SSH rule.
pub const MSS_GUARD: &str = "\
*mangle
:PREROUTING ACCEPT [0:0]
-A PREROUTING -p tcp -m conntrack --ctstate NEW -m tcpmss ! --mss 536:65535 -j DROP
COMMIT
*filter
:INPUT DROP [0:0]
-A INPUT -p tcp -m tcp --dport 22 -j ACCEPT
COMMIT
";

#[test]
fn probe_syns_carry_an_mss_option_as_real_ones_do() {
    let test = "probe_syns_carry_an_mss_option_as_real_ones_do";
    if !privileged(test) {
        return;
    }
    let rules = scratch("mss.rules", MSS_GUARD);
    let path = rules.to_str().unwrap();
    let (out, took) = verify(&["--json", path], &[]);
    eprintln!("{test}: took {took:?}");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let r = results(&out);
    // The SYN gets past the mangle table and is accepted by the SSH rule, on both sides.
    let ssh = probe_like(&r, "tcp 198.18.0.1:* -> 10.77.0.1:22 flags S");
    for side in ["legacy", "fwnet"] {
        assert_eq!(ssh[side]["verdict"]["verdict"], "accept", "{ssh}");
        assert!(
            ssh[side]["hits"].to_string().contains("mss.rules:7"),
            "{ssh}"
        );
    }
}

/// Hardening rules of the mangle table in front of the filter table's: the INVALID drop takes
/// every packet without a connection, so the null-flags rule after it is never reached; the
/// second SSH rule is shadowed by the first (its packets all match the first).
pub const SHADOWED: &str = "\
*mangle
:PREROUTING ACCEPT [0:0]
-A PREROUTING -m conntrack --ctstate INVALID -j DROP
-A PREROUTING -p tcp -m tcp --tcp-flags FIN,SYN,RST,PSH,ACK,URG NONE -j DROP
COMMIT
*filter
:INPUT DROP [0:0]
-A INPUT -p tcp -m tcp --dport 22 -j ACCEPT
-A INPUT -s 198.18.0.0/16 -p tcp -m tcp --dport 22 -j DROP
COMMIT
";

#[test]
fn rules_of_every_table_are_named_among_hits_and_unreached_rules_are_listed() {
    let test = "rules_of_every_table_are_named_among_hits_and_unreached_rules_are_listed";
    if !privileged(test) {
        return;
    }
    let (path, report, r) = verified(test, "shadowed.rules", SHADOWED, &[]);
    // The null-flags probe is dropped by the mangle table's INVALID rule, on both sides, and
    // the hit says so.
    let null = aimed_at(&r, &format!("{path}:4"));
    assert!(
        null["text"].as_str().unwrap().ends_with("flags none"),
        "{null}"
    );
    for side in ["legacy", "fwnet"] {
        assert_eq!(null[side]["verdict"]["verdict"], "drop", "{null}");
        let hits = null[side]["hits"].as_array().unwrap();
        assert!(
            hits.iter().any(|h| h["chain"] == "mangle PREROUTING"
                && h["origin"] == format!("{path}:3")
                && h["terminal"] == true),
            "{null}"
        );
    }
    let unreached: Vec<(String, Vec<String>)> = report["unreached"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| {
            let by = u["decided_by"].as_array().unwrap();
            (
                u["origin"].as_str().unwrap().to_string(),
                by.iter().map(|b| b.as_str().unwrap().to_string()).collect(),
            )
        })
        .collect();
    assert_eq!(
        unreached,
        [
            (format!("{path}:4"), vec![format!("{path}:3")]),
            (format!("{path}:9"), vec![format!("{path}:8")]),
        ],
        "{report:#}"
    );
    let (out, _) = verify(&[&path], &[]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains(&format!(
            "not verified: 2 rule(s) whose probes never reached them, something before them deciding every one: {path}:4 (decided by line 3), {path}:9 (decided by line 8)"
        )),
        "{}",
        text(&out)
    );
}

/// A host that talks on `eth0` only: its answers must leave by `eth0` too.
pub const ONE_LINK: &str = "\
*filter
:INPUT DROP [0:0]
:FORWARD DROP [0:0]
:OUTPUT DROP [0:0]
-A INPUT -i eth0 -m state --state ESTABLISHED,RELATED -j ACCEPT
-A INPUT -i eth0 -p tcp -m tcp --dport 22 -m state --state NEW -j ACCEPT
-A OUTPUT -o eth0 -j ACCEPT
COMMIT
";

#[test]
fn a_connection_from_a_link_is_answered_over_that_link() {
    let test = "a_connection_from_a_link_is_answered_over_that_link";
    if !privileged(test) {
        return;
    }
    let (path, report, r) = verified(test, "one-link.rules", ONE_LINK, &["--family", "4"]);
    // The ESTABLISHED rule's connection: the SYN gets in by line 6, the server's answers leave
    // by eth0 (line 7), and the data is accepted by line 5, on both sides.
    let est = aimed_at(&r, &format!("{path}:5"));
    assert!(
        est["text"].as_str().unwrap().starts_with("connect ")
            && est["text"].as_str().unwrap().ends_with(":22 iif eth0"),
        "{est}"
    );
    for side in ["legacy", "fwnet"] {
        assert_eq!(est[side]["verdict"]["verdict"], "accept", "{est}");
        assert!(
            est[side]["hits"].to_string().contains(&format!("{path}:5")),
            "{est}"
        );
    }
    assert_eq!(report["unreached"], serde_json::json!([]), "{report:#}");
}

/// A Docker host's nat table, saved alone: a published port, reached from the wire and from the
/// host itself (`--dst-type LOCAL` on OUTPUT).
pub const DOCKER_NAT: &str = "\
*nat
:PREROUTING ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
:DOCKER - [0:0]
-A PREROUTING -m addrtype --dst-type LOCAL -j DOCKER
-A OUTPUT ! -d 127.0.0.0/8 -m addrtype --dst-type LOCAL -j DOCKER
-A DOCKER ! -i docker0 -p tcp -m tcp --dport 8080 -j DNAT --to-destination 172.17.0.2:80
COMMIT
";

#[test]
fn a_nat_table_alone_is_probed_and_the_host_reaches_its_own_published_port() {
    let test = "a_nat_table_alone_is_probed_and_the_host_reaches_its_own_published_port";
    if !privileged(test) {
        return;
    }
    let (path, report, r) = verified(test, "docker-nat.rules", DOCKER_NAT, &["--family", "4"]);
    // The host's own connection to its published port: OUTPUT's jump (line 6) and the DNAT
    // (line 7) map it to the container, on both sides.
    let own = r
        .iter()
        .find(|p| {
            p["text"]
                .as_str()
                .unwrap()
                .ends_with(":8080 flags S iif lo")
                && p["legacy"]["hits"]
                    .to_string()
                    .contains(&format!("{path}:6"))
        })
        .unwrap_or_else(|| panic!("no probe from the host to its own port 8080 in {r:#?}"));
    for side in ["legacy", "fwnet"] {
        assert_eq!(own[side]["rewritten"], "dst 172.17.0.2:80", "{own}");
    }
    assert_eq!(report["unreached"], serde_json::json!([]), "{report:#}");
    assert_eq!(report["nat_unseen"], serde_json::json!([]), "{report:#}");
    // The DNAT rule's `! -i docker0` holds on OUTPUT, where a packet has no input interface.
    assert_eq!(report["uncovered"], serde_json::json!([]), "{report:#}");
}

/// A VPN host's rules on protocols without ports: GRE (PPTP), ESP and AH (IPsec), VRRP, IGMP
/// (also the server's own reports to a multicast group), and mDNS to its multicast group; the
/// last INPUT rule is dead (GRE is accepted first).
pub const TUNNELS: &str = "\
*filter
:INPUT DROP [0:0]
:FORWARD DROP [0:0]
:OUTPUT DROP [0:0]
-A INPUT -p gre -j ACCEPT
-A INPUT -s 198.18.0.0/16 -p esp -j ACCEPT
-A INPUT -p 112 -j ACCEPT
-A INPUT -d 224.0.0.251/32 -p udp -m udp --dport 5353 -j ACCEPT
-A INPUT -p igmp -j DROP
-A FORWARD -p ah -j ACCEPT
-A OUTPUT -p gre -j ACCEPT
-A OUTPUT -p tcp -j ACCEPT
-A OUTPUT -d 224.0.0.22/32 -p igmp -j ACCEPT
-A INPUT -p gre -j DROP
COMMIT
";

/// The result of the probe whose text is exactly `text`, on (legacy, fwnet).
fn verdicts_exactly(results: &[serde_json::Value], text: &str) -> (String, String) {
    let r = results
        .iter()
        .find(|r| r["text"] == text)
        .unwrap_or_else(|| panic!("no probe `{text}` in {results:#?}"));
    side_verdicts(r)
}

/// `fwnet verify --json` of `rules` written to a scratch file `name` (`args` before the file),
/// which must pass: the file's path, the report and its results.
fn verified(
    test: &str,
    name: &str,
    rules: &str,
    args: &[&str],
) -> (String, serde_json::Value, Vec<serde_json::Value>) {
    let rules = scratch(name, rules);
    let path = rules.to_str().unwrap().to_string();
    let mut all = vec!["--json"];
    all.extend_from_slice(args);
    all.push(&path);
    let (out, took) = verify(&all, &[]);
    eprintln!("{test}: took {took:?}");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let r = results(&out);
    (path, report, r)
}

/// The probe made to match the rule at `origin` (`file:line`): its reason is "reaches the rule".
fn aimed_at<'a>(results: &'a [serde_json::Value], origin: &str) -> &'a serde_json::Value {
    results
        .iter()
        .find(|p| p["probe"]["why"] == "reaches the rule" && p["probe"]["origin"] == origin)
        .unwrap_or_else(|| panic!("no probe made for {origin} in {results:#?}"))
}

/// The probe made to match the rule at `origin` (its reason starting "reaches the rule"),
/// after checking that both sides gave it `verdict` and that the rule's counter moved on both.
fn reached_alike<'a>(
    results: &'a [serde_json::Value],
    origin: &str,
    verdict: &str,
) -> &'a serde_json::Value {
    let p = (results.iter())
        .find(|p| {
            p["probe"]["origin"] == origin
                && (p["probe"]["why"].as_str()).is_some_and(|w| w.starts_with("reaches the rule"))
        })
        .unwrap_or_else(|| panic!("no probe made for {origin} in {results:#?}"));
    assert_eq!(side_verdicts(p), (verdict.into(), verdict.into()), "{p:#}");
    for side in ["legacy", "fwnet"] {
        let hits = p[side]["hits"].to_string();
        assert!(hits.contains(&format!("{origin}\"")), "{side}: {p:#}");
    }
    p
}

#[test]
fn rules_on_gre_esp_and_other_protocols_get_packets_of_them() {
    let test = "rules_on_gre_esp_and_other_protocols_get_packets_of_them";
    if !privileged(test) {
        return;
    }
    let rules = scratch("tunnels.rules", TUNNELS);
    let path = rules.to_str().unwrap();
    let (out, took) = verify(&["--json", path], &[]);
    eprintln!("{test}: took {took:?}");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let r = results(&out);
    for (probe, verdict) in [
        ("proto gre 100.64.0.1 -> 10.77.0.1", "accept"),
        ("proto esp 198.18.0.0 -> 10.77.0.1", "accept"),
        ("proto esp 198.19.0.0 -> 10.77.0.1", "drop"),
        ("proto vrrp 100.64.0.1 -> 10.77.0.1", "accept"),
        ("proto igmp 100.64.0.1 -> 10.77.0.1", "drop"),
        ("proto 46 100.64.0.1 -> 10.77.0.1", "drop"),
        ("proto ah 100.64.0.1 -> 198.51.100.10 forward", "accept"),
        ("proto esp 100.64.0.1 -> 198.51.100.10 forward", "drop"),
        ("proto gre 10.77.0.1 -> 198.51.100.10 output", "accept"),
        ("proto 48 10.77.0.1 -> 198.51.100.10 output", "drop"),
        // IGMP reports to a multicast group leave the server like any other packet it sends.
        ("proto igmp 10.77.0.1 -> 224.0.0.22 output", "accept"),
        ("proto 3 10.77.0.1 -> 224.0.0.22 output", "drop"),
    ] {
        assert_eq!(
            verdicts_exactly(&r, probe),
            (verdict.to_string(), verdict.to_string()),
            "{probe}"
        );
    }
    // mDNS to its multicast group reaches INPUT (the server joined the group) and is
    // accepted by its rule on both sides.
    let mdns = probe_like(&r, "udp 100.64.0.1:* -> 224.0.0.251:5353");
    for side in ["legacy", "fwnet"] {
        assert_eq!(mdns[side]["verdict"]["verdict"], "accept", "{mdns}");
        assert!(
            mdns[side]["hits"].to_string().contains("tunnels.rules:8"),
            "{mdns}"
        );
    }
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["uncovered"], serde_json::json!([]), "{}", v["uncovered"]);
    // The dead GRE drop moved first (merged with the IGMP drop by the optimizer): the GRE
    // packet to the server is the one that differs.
    let (out, _) = verify(&[path], &[("FWNET_VERIFY_MUTATE", "last-first")]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let mismatched: Vec<&str> = stdout.lines().filter(|l| l.ends_with("MISMATCH")).collect();
    assert!(
        mismatched.len() == 1 && mismatched[0].starts_with("proto gre 100.64.0.1 -> 10.77.0.1 "),
        "{stdout}"
    );
}

/// A port-scan trap: a source that touched port 139 is dropped for 2 s (xt_recent `--seconds`).
pub const RECENT_EXPIRY: &str = "\
*filter
:INPUT ACCEPT [0:0]
:FORWARD DROP [0:0]
:OUTPUT ACCEPT [0:0]
-A INPUT -i lo -j ACCEPT
-A INPUT -m recent --rcheck --seconds 2 --name scan --rsource -j DROP
-A INPUT -p tcp --dport 139 -m recent --set --name scan --rsource -j DROP
COMMIT
";

#[test]
fn slow_waits_out_recent_seconds_and_catches_a_list_that_never_forgets() {
    let test = "slow_waits_out_recent_seconds_and_catches_a_list_that_never_forgets";
    if !privileged(test) {
        return;
    }
    let rules = scratch("recent.rules", RECENT_EXPIRY);
    let path = rules.to_str().unwrap();
    let (out, took) = verify(&["--json", "--slow", "--slow-max", "5", path], &[]);
    eprintln!("{test}: --slow took {took:?}");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let r = results(&out);
    let why = |w: &str| -> Vec<(String, String, String)> {
        r.iter()
            .filter(|p| p["probe"]["why"] == w)
            .map(|p| {
                let v = |side: &str| {
                    p[side]["verdict"]["verdict"]
                        .as_str()
                        .unwrap_or_default()
                        .to_string()
                };
                (
                    p["text"].as_str().unwrap_or_default().to_string(),
                    v("legacy"),
                    v("fwnet"),
                )
            })
            .collect()
    };
    let listed = why("source in the list");
    assert!(!listed.is_empty(), "no listed probe in {r:#?}");
    for (probe, legacy, fwnet) in &listed {
        assert_eq!(
            (legacy.as_str(), fwnet.as_str()),
            ("drop", "drop"),
            "{probe}"
        );
    }
    let expired = why("same source after the entry expired");
    assert!(!expired.is_empty(), "no expiry probe in {r:#?}");
    for (probe, legacy, fwnet) in &expired {
        assert_eq!(
            (legacy.as_str(), fwnet.as_str()),
            ("accept", "accept"),
            "{probe}"
        );
    }
    // A list that never forgets (no timeout) still drops after the window: caught.
    let (out, _) = verify(
        &["--slow", "--slow-max", "5", path],
        &[("FWNET_VERIFY_MUTATE", "no-expiry")],
    );
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("same source after the entry expired)"),
        "{stdout}"
    );
}

/// Corpus files that once made verification fail to run (exit 2) although nothing was wrong
/// with them: an OUTPUT policy of DROP (the server's own datagrams and `lo` probes refused with
/// EPERM, SYN-ACKs never leaving), an alias name that no interface can have (`venet0:0`),
/// connections from a fixed source port repeated (TIME_WAIT), and a connection source that is
/// also a probe destination. Every probe must get a verdict, quickly.
#[test]
fn output_drop_alias_names_and_repeated_connections_do_not_stop_verification() {
    let test = "output_drop_alias_names_and_repeated_connections_do_not_stop_verification";
    if !privileged(test) {
        return;
    }
    let rules = scratch(
        "regress.rules",
        "\
*filter
:INPUT DROP [0:0]
:FORWARD DROP [0:0]
:OUTPUT DROP [0:0]
-A INPUT -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT
-A INPUT -i lo -j ACCEPT
-A INPUT -i venet0:0 -p udp --dport 53 -j ACCEPT
-A INPUT -i eth0 -p tcp --sport 22 -m state --state ESTABLISHED -j ACCEPT
-A INPUT -s 192.168.2.0/24 -d 192.168.2.1 -p tcp --dport 80 -m state --state NEW -j ACCEPT
-A INPUT -p tcp --dport 22 -j ACCEPT
-A OUTPUT -p tcp --sport 22 -j ACCEPT
-A OUTPUT -p udp --dport 53 -j ACCEPT
COMMIT
",
    );
    let (out, took) = verify(&[rules.to_str().unwrap()], &[]);
    eprintln!("{test}: took {took:?}");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    for line in [
        "regress.rules:7: no interface can be named `venet0:0`, so no packet arrives on it",
        "the server also owns 192.168.2.0",
    ] {
        assert!(stdout.contains(line), "no `{line}` in\n{stdout}");
    }
    assert!(!stdout.contains("rerun:"), "{stdout}");
    // Each refused or unanswered probe is judged at once, not after a timeout.
    assert!(took < Duration::from_secs(15), "took {took:?}");
}

/// `ipset save` files go with the rules: the legacy side loads them with `ipset restore`, the
/// probes take their elements, and a translation whose sets lost their elements is caught.
#[test]
fn ipset_files_are_loaded_on_both_sides_and_their_elements_probed() {
    let test = "ipset_files_are_loaded_on_both_sides_and_their_elements_probed";
    if !privileged(test) {
        return;
    }
    let rules = scratch(
        "ipset.rules",
        "# Generated by iptables-save v1.4.7\n*filter\n:INPUT ACCEPT [0:0]\n\
         -A INPUT -m set --match-set blocked src -j DROP\n\
         -A INPUT -p tcp --dport 22 -m set ! --match-set office src -j REJECT\n\
         COMMIT\n",
    );
    let sets = scratch(
        "ipset.save",
        "create blocked hash:ip family inet hashsize 1024 maxelem 65536\n\
         add blocked 10.9.9.9\n\
         create office hash:net family inet hashsize 1024 maxelem 65536\n\
         add office 10.50.0.0/16\n",
    );
    let files = [rules.to_str().unwrap(), sets.to_str().unwrap()];
    let (out, _) = verify(&[files[0], files[1], "--json"], &[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let results = results(&out);
    both_sides_give(
        &results,
        &[
            ("tcp 10.9.9.9:* -> 10.77.0.1:33434 flags S", "drop"),
            ("tcp 10.50.0.0:* -> 10.77.0.1:22 flags S", "accept"),
        ],
    );
    let (out, _) = verify(&files, &[("FWNET_VERIFY_MUTATE", "empty-sets")]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("10.9.9.9"),
        "{}",
        text(&out)
    );
}

/// `--max-probes`: below what a file needs, the lines left without a probe are counted and
/// named in one line (in `--json` every one, with the cap); raised, they all get probes.
#[test]
fn the_probe_cap_names_what_it_leaves_out_and_max_probes_raises_it() {
    let test = "the_probe_cap_names_what_it_leaves_out_and_max_probes_raises_it";
    if !privileged(test) {
        return;
    }
    // 40 rules that differ in two fields each: the optimizer merges none of them.
    let mut body = String::from("*filter\n:INPUT DROP [0:0]\n");
    for i in 0..40u32 {
        body.push_str(&format!(
            "-A INPUT -s 10.0.{i}.0/24 -p tcp --dport {} -j ACCEPT\n",
            1000 + i
        ));
    }
    body.push_str("COMMIT\n");
    let rules = scratch("capped.rules", &body);
    let file = rules.to_str().unwrap();

    let (out, _) = verify(&["--max-probes", "10", "--json", file], &[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["cap"], 10);
    let capped = v["capped"].as_array().unwrap();
    assert!(capped.len() >= 25, "{capped:?}");
    assert!(
        capped.iter().any(|c| c == &format!("{file}:42")),
        "{capped:?}"
    );
    assert!(v["results"].as_array().unwrap().len() <= 10);

    let (out, _) = verify(&["--max-probes", "10", file], &[]);
    let human = String::from_utf8_lossy(&out.stdout);
    let line = human
        .lines()
        .find(|l| l.starts_with("no probe for "))
        .unwrap_or_else(|| panic!("{human}"));
    assert!(
        line.contains(&format!(
            "line(s): the probe cap (10) was reached first; `--max-probes N` raises it: {file}:"
        )) && line.ends_with(" more (--verbose lists them)"),
        "{line}"
    );

    let (out, _) = verify(&["--max-probes", "1000", "--json", file], &[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["capped"].as_array().unwrap().len(), 0, "{}", v["capped"]);
}

/// A host that redirects, port-forwards to itself and to a box behind it, masquerades and
/// source-NATs what it routes, and maps a port of the mail it sends. The next to last port
/// forward goes to a box its FORWARD chain never lets anything reach, the last one to an address
/// whose packets the raw table drops.
pub const NAT_HOST: &str = "\
*nat
:PREROUTING ACCEPT [0:0]
:INPUT ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
:POSTROUTING ACCEPT [0:0]
-A PREROUTING -p tcp -m tcp --dport 8080 -j REDIRECT --to-ports 80
-A PREROUTING -d 192.0.2.1/32 -p tcp -m tcp --dport 2222 -j DNAT --to-destination 192.0.2.1:22
-A PREROUTING -d 203.0.113.7/32 -p tcp -m tcp --dport 443 -j DNAT --to-destination 192.168.50.10:8443
-A OUTPUT -d 198.51.100.20/32 -p tcp -m tcp --dport 25 -j DNAT --to-destination 198.51.100.21:2525
-A POSTROUTING -s 192.168.50.0/24 -o eth1 -j MASQUERADE
-A POSTROUTING -s 10.10.0.0/16 -o eth1 -j SNAT --to-source 198.51.100.9
-A PREROUTING -d 203.0.113.8/32 -p tcp -m tcp --dport 25 -j DNAT --to-destination 192.168.60.1:25
-A PREROUTING -d 203.0.113.9/32 -p tcp -m tcp --dport 25 -j DNAT --to-destination 192.168.60.2:25
-A POSTROUTING -s 10.10.0.0/16 -o eth1 -j SNAT --to-source 198.51.100.9
COMMIT
*filter
:INPUT DROP [0:0]
:FORWARD DROP [0:0]
:OUTPUT ACCEPT [0:0]
-A INPUT -p tcp -m tcp --dport 80 -j ACCEPT
-A INPUT -p tcp -m tcp --dport 22 -j ACCEPT
-A FORWARD -d 192.168.50.10/32 -p tcp -m tcp --dport 8443 -j ACCEPT
-A FORWARD -o eth1 -j ACCEPT
COMMIT
*raw
:PREROUTING ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
-A PREROUTING -d 203.0.113.9/32 -j DROP
COMMIT
";

/// What NAT made of the probe whose text is `pattern` (`*` for a source port), on (legacy,
/// fwnet); empty where it changed nothing or the packet did not get through.
fn rewritten_like(results: &[serde_json::Value], pattern: &str) -> (String, String) {
    let r = probe_like(results, pattern);
    let v = |side: &str| r[side]["rewritten"].as_str().unwrap_or("").to_string();
    (v("legacy"), v("fwnet"))
}

/// The result of the probe whose text is `pattern` (`*` for a source port) played a second
/// time, with the filter tables emptied.
fn replayed(results: &[serde_json::Value], pattern: &str) -> serde_json::Value {
    let again: Vec<serde_json::Value> = results
        .iter()
        .filter(|r| {
            r["probe"]["why"]
                .as_str()
                .unwrap_or("")
                .ends_with("again with the filter tables emptied, to see its mapping")
        })
        .cloned()
        .collect();
    probe_like(&again, pattern).clone()
}

#[test]
fn nat_rules_get_probes_and_their_mappings_are_compared() {
    let test = "nat_rules_get_probes_and_their_mappings_are_compared";
    if !privileged(test) {
        return;
    }
    let rules = scratch("nat.rules", NAT_HOST);
    let path = rules.to_str().unwrap();
    let (out, took) = verify(&["--json", path], &[]);
    eprintln!("{test}: took {took:?}");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let r = results(&out);
    // Each NAT rule's witness got through on both sides, with the same mapping.
    for (pattern, mapping) in [
        (
            "tcp 198.18.0.1:* -> 10.77.0.1:8080 flags S",
            "dst 10.77.0.1:80",
        ),
        (
            "tcp 198.18.0.1:* -> 192.0.2.1:2222 flags S",
            "dst 192.0.2.1:22",
        ),
        (
            "tcp 198.18.0.1:* -> 203.0.113.7:443 flags S",
            "dst 192.168.50.10:8443",
        ),
        (
            "tcp 10.77.0.1:* -> 198.51.100.20:25 flags S output",
            "dst 198.51.100.21:2525",
        ),
        (
            "tcp 192.168.50.0:* -> 198.51.100.10:33434 flags S forward oif eth1",
            "src 10.77.1.1",
        ),
        (
            "tcp 10.10.0.0:* -> 198.51.100.10:33434 flags S forward oif eth1",
            "src 198.51.100.9",
        ),
    ] {
        assert_eq!(
            verdicts_like(&r, pattern),
            ("accept".into(), "accept".into()),
            "{pattern}"
        );
        assert_eq!(
            rewritten_like(&r, pattern),
            (mapping.to_string(), mapping.to_string()),
            "{pattern}"
        );
    }
    // The nat rule that mapped it is among each side's hits.
    let redirect = probe_like(&r, "tcp 198.18.0.1:* -> 10.77.0.1:8080 flags S");
    for side in ["legacy", "fwnet"] {
        let hits = redirect[side]["hits"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        assert!(
            hits.iter().any(|h| h["maps"] == true
                && h["chain"] == "nat PREROUTING"
                && h["origin"].as_str().unwrap_or("").ends_with("nat.rules:6")),
            "{side}: {redirect}"
        );
    }
    // The port forward to the box behind the server is decided in FORWARD, and named so.
    let forwarded = probe_like(&r, "tcp 198.18.0.1:* -> 203.0.113.7:443 flags S");
    for side in ["legacy", "fwnet"] {
        let hits = forwarded[side]["hits"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        assert!(
            hits.iter().any(|h| h["chain"] == "FORWARD"
                && h["terminal"] == true
                && h["origin"].as_str().unwrap_or("").ends_with("nat.rules:22")),
            "{side}: {forwarded}"
        );
    }
    // Just outside a rule, nothing is mapped.
    assert_eq!(
        rewritten_like(
            &r,
            "tcp 10.9.255.255:* -> 198.51.100.10:33434 flags S forward oif eth1"
        ),
        (String::new(), String::new())
    );
    // The port forward FORWARD drops is played again with the filter tables emptied, and
    // then shows its mapping, the same on both sides.
    let again = replayed(&r, "tcp 198.18.0.1:* -> 203.0.113.8:25 flags S");
    for side in ["legacy", "fwnet"] {
        assert_eq!(again[side]["verdict"]["verdict"], "accept", "{again}");
        assert_eq!(again[side]["rewritten"], "dst 192.168.60.1:25", "{again}");
    }
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    // The raw table is crossed, and the conntrack entries of what gets through compared.
    assert!(
        v["not_verified"].to_string().contains(
            "table ip fwnet_raw (1 rules): probes do cross it; the conntrack entries of the packets that get through are compared"
        ),
        "{}",
        v["not_verified"]
    );
    // Only the mapping no packet could show, the raw table dropping them all, is said not to
    // be verified, and the repeat of line 11, which line 11 takes every packet of.
    let unseen = v["nat_unseen"].as_array().cloned().unwrap_or_default();
    let unseen: Vec<&str> = unseen.iter().filter_map(|u| u.as_str()).collect();
    assert!(
        unseen.len() == 2
            && unseen[0].ends_with("nat.rules:13")
            && unseen[1].ends_with("nat.rules:14"),
        "{unseen:?}"
    );
    let repeats = v["nat_repeats"].as_object().cloned().unwrap_or_default();
    assert!(
        repeats.len() == 1
            && repeats[unseen[1]]
                .as_str()
                .unwrap_or("")
                .ends_with("nat.rules:11"),
        "{repeats:?}"
    );
    // Ports one off in the translation: caught on the redirect, the port forward and the
    // mapped mail, and named.
    let (out, _) = verify(&[path], &[("FWNET_VERIFY_MUTATE", "nat-port")]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    for needle in [
        "nat.rules:6: reaches the rule",
        "nat.rules:8: reaches the rule",
        "accept, dst 198.51.100.21:2525",
        "accept, dst 198.51.100.21:2526",
        "mapped by ",
        "-j REDIRECT --to-ports 80",
        "redirect to :81",
        "accept, dst 192.168.60.1:25",
        "accept, dst 192.168.60.1:26",
        "again with the filter tables emptied, to see its mapping",
        "not verified: the NAT mapping of 1 rule(s), which no probe showed, even with the filter tables emptied: ",
        "not verified: the NAT mapping of 1 rule(s) that repeat an earlier rule of their chain word for word, which maps their packets first: ",
        "nat.rules:14 (a repeat of line 11)",
    ] {
        assert!(stdout.contains(needle), "{needle} in {stdout}");
    }
}

/// A host whose OUTPUT rules test the sending socket's owner (`-m owner`): a user kept off DNS,
/// a group refused TCP, a range of users refused UDP, and everyone but one user refused NTP.
pub const OWNER: &str = "\
*filter
:INPUT ACCEPT [0:0]
:FORWARD ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
-A OUTPUT -p udp -m owner --uid-owner 4321 -m udp --dport 53 -j DROP
-A OUTPUT -p tcp -m owner --gid-owner 777 -j REJECT --reject-with tcp-reset
-A OUTPUT -p udp -m owner ! --uid-owner 4321 -m udp --dport 123 -j DROP
-A OUTPUT -p udp -m owner --uid-owner 1000-2000 -j DROP
COMMIT
";

#[test]
fn owner_rules_get_packets_from_sockets_of_their_owners() {
    let test = "owner_rules_get_packets_from_sockets_of_their_owners";
    if !privileged(test) {
        return;
    }
    let (path, report, r) = verified(test, "owner.rules", OWNER, &["--family", "4"]);
    // (line, the owner its probe is sent as): each rule's own probe reaches it on both sides.
    for (line, uid, gid) in [(5, 4321, 0), (6, 0, 777), (8, 1000, 0)] {
        let p = reached_alike(&r, &format!("{path}:{line}"), "drop");
        assert_eq!(
            p["probe"]["owner"],
            serde_json::json!({"uid": uid, "gid": gid}),
            "{p:#}"
        );
    }
    assert_eq!(report["unreached"], serde_json::json!([]), "{report:#}");
    assert_eq!(report["uncovered"], serde_json::json!([]), "{report:#}");
}

/// A LAN host's INPUT: broadcast and mDNS let in by link-layer kind (`-m pkttype`), other
/// multicast dropped by address type, and ufw's "not local" chain, which returns for the
/// server's own and broadcast addresses and drops the rest.
pub const BROADCAST: &str = "\
*filter
:INPUT DROP [0:0]
:FORWARD DROP [0:0]
:OUTPUT ACCEPT [0:0]
:not-local - [0:0]
-A INPUT -i lo -j ACCEPT
-A INPUT -p udp -m pkttype --pkt-type broadcast -m udp --dport 67 -j ACCEPT
-A INPUT -p udp -m pkttype --pkt-type multicast -m udp --dport 5353 -j ACCEPT
-A INPUT -m addrtype --dst-type MULTICAST -j DROP
-A INPUT -j not-local
-A not-local -m addrtype --dst-type LOCAL -j RETURN
-A not-local -p udp -m addrtype --dst-type BROADCAST -m udp --dport 138 -j RETURN
-A not-local -j DROP
-A INPUT -p udp -m udp --dport 138 -j ACCEPT
COMMIT
";

#[test]
fn broadcast_and_multicast_rules_get_broadcast_and_multicast_packets() {
    let test = "broadcast_and_multicast_rules_get_broadcast_and_multicast_packets";
    if !privileged(test) {
        return;
    }
    let (path, report, r) = verified(test, "broadcast.rules", BROADCAST, &["--family", "4"]);
    // (line, where its probe goes, the verdict both sides give it)
    for (line, to, verdict) in [
        (7, "255.255.255.255:67", "accept"),
        (8, "224.0.0.251:5353", "accept"),
        (9, "224.0.0.251:", "drop"),
        // Returned from not-local, accepted by line 14.
        (12, "255.255.255.255:138", "accept"),
    ] {
        let p = reached_alike(&r, &format!("{path}:{line}"), verdict);
        assert!(
            p["text"].as_str().unwrap().contains(&format!(" -> {to}")),
            "{p:#}"
        );
    }
    assert_eq!(report["unreached"], serde_json::json!([]), "{report:#}");
}

/// An ip6tables file that drops type 0 routing headers (RFC 5095) and lets Mobile IPv6's type
/// 2 in.
pub const ROUTING_HEADER: &str = "\
*filter
:INPUT DROP [0:0]
:FORWARD DROP [0:0]
:OUTPUT ACCEPT [0:0]
-A INPUT -m rt --rt-type 0 -j DROP
-A INPUT -m rt --rt-type 2 --rt-segsleft 0 -j ACCEPT
-A INPUT -p ipv6-icmp -j ACCEPT
-A INPUT -p tcp -m tcp --dport 22 -j ACCEPT
COMMIT
";

#[test]
fn routing_header_rules_get_packets_that_carry_one() {
    let test = "routing_header_rules_get_packets_that_carry_one";
    if !privileged(test) {
        return;
    }
    let (path, report, r) = verified(test, "rh.v6", ROUTING_HEADER, &["--family", "6"]);
    for (line, rt, verdict) in [(5, " rt 0", "drop"), (6, " rt 2", "accept")] {
        let p = reached_alike(&r, &format!("{path}:{line}"), verdict);
        assert!(p["text"].as_str().unwrap().ends_with(rt), "{p:#}");
    }
    // SSH with a type 0 header is dropped by line 5, without one let in by line 8.
    let ssh: Vec<_> = r
        .iter()
        .filter(|p| p["text"].as_str().unwrap().contains(":22 flags S"))
        .map(|p| {
            (
                p["text"].as_str().unwrap().ends_with(" rt 0"),
                side_verdicts(p),
            )
        })
        .collect();
    assert!(
        ssh.contains(&(true, ("drop".into(), "drop".into()))),
        "{ssh:?}"
    );
    assert!(
        ssh.contains(&(false, ("accept".into(), "accept".into()))),
        "{ssh:?}"
    );
    assert_eq!(report["unreached"], serde_json::json!([]), "{report:#}");
}

/// A host that answers mDNS but must not send it out of its second link.
pub const MDNS_OUT: &str = "\
*filter
:INPUT DROP [0:0]
:FORWARD DROP [0:0]
:OUTPUT ACCEPT [0:0]
-A INPUT -d 224.0.0.251/32 -p udp -m udp --dport 5353 -j ACCEPT
-A OUTPUT -o eth1 -d 224.0.0.251/32 -p udp -m udp --dport 5353 -j DROP
-A OUTPUT -d 224.0.0.251/32 -p udp -m udp --dport 5353 -j ACCEPT
COMMIT
";

#[test]
fn the_servers_own_packets_to_a_group_it_joined_leave_by_their_link() {
    let test = "the_servers_own_packets_to_a_group_it_joined_leave_by_their_link";
    if !privileged(test) {
        return;
    }
    let (path, report, r) = verified(test, "mdns-out.rules", MDNS_OUT, &["--family", "4"]);
    // The INPUT probe has the server join 224.0.0.251; its own mDNS is sent after it left
    // the group again, or it would go over `lo`, where `-o eth1` never holds.
    for (line, verdict) in [(5, "accept"), (6, "drop"), (7, "accept")] {
        reached_alike(&r, &format!("{path}:{line}"), verdict);
    }
    assert_eq!(report["unreached"], serde_json::json!([]), "{report:#}");
}

/// A host whose local DNS is redirected to a resolver on port 5353 (Tor's or dnsmasq's way),
/// whose OUTPUT lets it talk to itself over loopback and refuses one loopback port.
pub const LOOPBACK_OUT: &str = "\
*nat
:PREROUTING ACCEPT [0:0]
:INPUT ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
:POSTROUTING ACCEPT [0:0]
-A OUTPUT -d 127.0.0.1/32 -p udp -m udp --dport 53 -j REDIRECT --to-ports 5353
COMMIT
*filter
:INPUT DROP [0:0]
:FORWARD DROP [0:0]
:OUTPUT DROP [0:0]
-A INPUT -i lo -j ACCEPT
-A OUTPUT -d 127.0.0.1/32 -p tcp -m tcp --dport 9040 -j REJECT --reject-with tcp-reset
-A OUTPUT -s 127.0.0.1/32 -d 127.0.0.1/32 -j ACCEPT
COMMIT
";

#[test]
fn the_servers_own_packets_to_a_loopback_address_go_over_lo() {
    let test = "the_servers_own_packets_to_a_loopback_address_go_over_lo";
    if !privileged(test) {
        return;
    }
    let (path, report, r) = verified(test, "loopback-out.rules", LOOPBACK_OUT, &["--family", "4"]);
    // Each OUTPUT rule's probe is the server talking to itself: out through OUTPUT (and the
    // nat table's OUTPUT), back in through INPUT on `lo`.
    for (line, verdict) in [(6, "accept"), (13, "drop"), (14, "accept")] {
        let p = reached_alike(&r, &format!("{path}:{line}"), verdict);
        assert!(p["text"].as_str().unwrap().ends_with(" iif lo"), "{p:#}");
    }
    let dns = reached_alike(&r, &format!("{path}:6"), "accept");
    for side in ["legacy", "fwnet"] {
        assert_eq!(dns[side]["rewritten"], "dst 127.0.0.1:5353", "{dns:#}");
    }
    assert_eq!(report["uncovered"], serde_json::json!([]), "{report:#}");
    assert_eq!(report["unreached"], serde_json::json!([]), "{report:#}");
}

/// libvirt's default network: its multicast is not masqueraded, the rest of its traffic is.
pub const LIBVIRT_NAT: &str = "\
*nat
:PREROUTING ACCEPT [0:0]
:INPUT ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
:POSTROUTING ACCEPT [0:0]
-A POSTROUTING -s 192.168.122.0/24 -d 224.0.0.0/24 -j RETURN
-A POSTROUTING -s 192.168.122.0/24 ! -d 192.168.122.0/24 -j MASQUERADE
COMMIT
";

#[test]
fn a_postrouting_rule_for_multicast_gets_the_servers_own_multicast() {
    let test = "a_postrouting_rule_for_multicast_gets_the_servers_own_multicast";
    if !privileged(test) {
        return;
    }
    let (path, report, r) = verified(test, "libvirt-nat.rules", LIBVIRT_NAT, &["--family", "4"]);
    // No router forwards multicast: the packet the RETURN is for is one the server sends,
    // which crosses POSTROUTING too, and leaves unmasqueraded.
    let p = reached_alike(&r, &format!("{path}:6"), "accept");
    assert!(
        p["text"].as_str().unwrap().contains(" -> 224.0.0."),
        "{p:#}"
    );
    assert!(p["text"].as_str().unwrap().ends_with(" output"), "{p:#}");
    for side in ["legacy", "fwnet"] {
        assert_eq!(p[side]["rewritten"], serde_json::Value::Null, "{p:#}");
    }
    assert_eq!(report["uncovered"], serde_json::json!([]), "{report:#}");
}

/// Fragment tests and the transport tests fragments meet one by one: IPv4 in raw PREROUTING
/// and FORWARD (`-f` on INPUT, which sees a datagram only once it is reassembled), IPv6 on
/// INPUT and FORWARD (`-m frag`). No rule uses conntrack, which would reassemble first.
const FRAGMENTS_V4: &str = "\
# Generated by iptables-save v1.4.7
*raw
:PREROUTING ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
-A PREROUTING -p udp -m udp --dport 5353 -j DROP
COMMIT
*filter
:INPUT ACCEPT [0:0]
:FORWARD DROP [0:0]
:OUTPUT ACCEPT [0:0]
-A INPUT -f -j DROP
-A FORWARD -p icmp -f -j DROP
-A FORWARD -p icmp -j ACCEPT
-A FORWARD -p tcp -m tcp --dport 25 -j ACCEPT
COMMIT
";

const FRAGMENTS_V6: &str = "\
# Generated by ip6tables-save v1.4.7
*filter
:INPUT DROP [0:0]
:FORWARD DROP [0:0]
:OUTPUT ACCEPT [0:0]
-A INPUT -p tcp -m tcp --dport 22 -j ACCEPT
-A FORWARD -m frag --fraglast -j ACCEPT
-A FORWARD -p udp -m udp --dport 53 -j ACCEPT
COMMIT
";

#[test]
fn packets_in_two_fragments_meet_the_rules_as_under_iptables() {
    let test = "packets_in_two_fragments_meet_the_rules_as_under_iptables";
    if !privileged(test) {
        return;
    }
    let v4 = scratch("fragments.v4", FRAGMENTS_V4);
    let v6 = scratch("fragments.v6", FRAGMENTS_V6);
    let files = [v4.to_str().unwrap(), v6.to_str().unwrap()];
    let (out, took) = verify(&["--json", files[0], files[1]], &[]);
    eprintln!("{test}: took {took:?}");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let r = results(&out);
    // The second fragment meets `-p icmp -f -j DROP`, the first `-p icmp -j ACCEPT`.
    assert_eq!(
        verdicts_of(
            &r,
            "icmp 198.18.0.1 -> 198.51.100.10 type 8 code 0 forward frag"
        ),
        ("partial".into(), "partial".into())
    );
    both_sides_give(
        &r,
        &[
            // xt_tcp never matches a non-first fragment: the policy drops the second.
            (
                "tcp 198.18.0.1:* -> 198.51.100.10:25 flags S forward frag",
                "partial",
            ),
            (
                "tcp 198.18.0.1:* -> 198.51.100.10:25 flags S forward",
                "accept",
            ),
            // Raw PREROUTING drops the first, so nothing is reassembled.
            ("udp 198.18.0.1:* -> 10.77.0.1:5353 frag", "drop"),
            // The second fragment of IPv6 meets INPUT's rules too, and the port test fails it.
            (
                "tcp [2001:db8:198:18::1]:* -> [fd77::1]:22 flags S frag",
                "drop",
            ),
            (
                "tcp [2001:db8:198:18::1]:* -> [fd77::1]:22 flags S",
                "accept",
            ),
            // The first by its port, the last by `--fraglast`.
            (
                "udp [2001:db8:198:18::1]:* -> [2001:db8:51::10]:53 forward frag",
                "accept",
            ),
        ],
    );
    // `-A INPUT -f` has a packet in two fragments, which INPUT only sees reassembled: never
    // reached, on either side.
    let line = format!("{}:11", files[0]);
    let p = r
        .iter()
        .find(|p| p["probe"]["origin"] == line.as_str())
        .unwrap_or_else(|| panic!("no probe for {line}"));
    assert_eq!(p["probe"]["fragmented"], true, "{p:#}");
    assert_eq!(
        side_verdicts(p),
        ("accept".into(), "accept".into()),
        "{p:#}"
    );
    let unreached = report["unreached"].as_array().unwrap();
    let u = unreached
        .iter()
        .find(|u| u["origin"] == line.as_str())
        .unwrap_or_else(|| panic!("{line} not among {unreached:?}"));
    assert_eq!(
        u["decided_by"],
        serde_json::json!([
            "the kernel, which reassembles an IPv4 datagram before INPUT, where `-f` never matches"
        ]),
        "{u}"
    );
    // A translation whose transport tests read a non-first fragment's payload as its ports
    // (no guard before them) lets those second fragments through: caught, on both families.
    let (out, _) = verify(
        files.as_slice(),
        &[("FWNET_VERIFY_MUTATE", "unguard-fragments")],
    );
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let mismatched: Vec<&str> = stdout
        .lines()
        .filter(|l| l.starts_with("mismatch: "))
        .collect();
    for needle in [
        "-> 198.51.100.10:25 flags S forward frag",
        "-> [fd77::1]:22 flags S frag",
    ] {
        assert!(
            mismatched.iter().any(|l| l.contains(needle)),
            "{needle} in {stdout}"
        );
    }
}
