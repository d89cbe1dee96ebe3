//! Applying safely, against the real kernel: rollback restores exactly, `--confirm` rolls back
//! by itself at the deadline (checked with packets) even when the applying process group is
//! killed, confirming keeps the new rules, one apply at a time, and `kill -9` mid-apply
//! leaves the old or the new ruleset, never a mix.

use crate::apply::{fwnet, fwnet_in, kernel_dump, scratch, seed, StateDir};
use crate::netns::{privileged, Netns};
use crate::recent::{run_steps, s};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn ok(o: std::process::Output) -> String {
    assert!(
        o.status.success(),
        "fwnet failed: {:?}\n{}\n{}",
        o.status,
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn import(rules: &Path, state: &StateDir) {
    let mut args = vec![
        "import",
        "--state-dir",
        state.arg(),
        rules.to_str().unwrap(),
    ];
    // A fixture's `ipset save` file, if any, sits beside it as NAME.ipset.
    let ipset = rules.with_extension("ipset");
    if ipset.exists() {
        args.push(ipset.to_str().unwrap());
    }
    ok(fwnet(&args));
}

/// A ruleset that drops TCP to port 8080, even over loopback (the seed accepts all of lo).
fn blocker(state: &StateDir) -> std::path::PathBuf {
    std::fs::create_dir_all(&state.0).unwrap();
    let p = state.0.join("blocker.rules");
    std::fs::write(
        &p,
        "*filter\n:INPUT ACCEPT [0:0]\n-A INPUT -p tcp --dport 8080 -j DROP\nCOMMIT\n",
    )
    .unwrap();
    p
}

/// Whether a TCP connection to 127.0.0.1:8080 inside `ns` gets through (a listener is there).
fn port_8080_open(ns: &Netns) -> bool {
    ns.run_in(|| {
        let listener = TcpListener::bind("127.0.0.1:8080").expect("listen on 8080");
        let addr: SocketAddr = listener.local_addr().unwrap();
        TcpStream::connect_timeout(&addr, Duration::from_millis(150)).is_ok()
    })
}

#[test]
fn rollback_restores_what_ran_before_exactly() {
    if !privileged("rollback_restores_what_ran_before_exactly") {
        return;
    }
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../translate/test_data/translate/ok");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "rules"))
        .filter(|p| !p.file_name().unwrap().to_string_lossy().starts_with("v6-"))
        .collect();
    files.sort();
    files.push(seed());
    for f in &files {
        let ns = Netns::new("rb").expect("namespace");
        let state = StateDir::new("rb");
        import(f, &state);
        ok(fwnet_in(&ns, &["apply", "--state-dir", state.arg()], None));
        let before = kernel_dump(&ns);
        let other_dir = StateDir::new("rb-other");
        import(&blocker(&other_dir), &state);
        ok(fwnet_in(&ns, &["apply", "--state-dir", state.arg()], None));
        assert_ne!(kernel_dump(&ns), before);
        let out = ok(fwnet_in(
            &ns,
            &["rollback", "--state-dir", state.arg()],
            None,
        ));
        assert!(out.contains("rolled back"), "{out}");
        assert_eq!(
            kernel_dump(&ns),
            before,
            "rollback of {} is not exact",
            f.display()
        );
    }
}

/// Rollback puts back the addresses rules added to a set (a `recent` list) and leaves out the
/// elements that hold state of their own (a hashlimit bucket, which restored without its limit
/// would let its address through unlimited): after it, the listed source is still dropped and
/// the bucket set is empty.
#[test]
fn rollback_brings_back_listed_addresses_and_no_rate_buckets() {
    if !privileged("rollback_brings_back_listed_addresses_and_no_rate_buckets") {
        return;
    }
    let ns = Netns::new("rb-sets").expect("namespace");
    let state = StateDir::new("rb-sets");
    let rules = scratch(
        "sets.rules",
        "*filter\n:OUTPUT ACCEPT [0:0]\n\
         -A OUTPUT -p udp -m udp --dport 1000 -m recent --set --name L\n\
         -A OUTPUT -p udp -m udp --dport 1000 -m hashlimit --hashlimit-upto 1/min --hashlimit-burst 1 --hashlimit-mode srcip --hashlimit-name H -j ACCEPT\n\
         -A OUTPUT -p udp -m udp --dport 1001 -m recent --rcheck --seconds 60 --name L -j DROP\n\
         COMMIT\n",
    );
    import(&rules, &state);
    ok(fwnet_in(&ns, &["apply", "--state-dir", state.arg()], None));
    let steps = [
        s(0, 2, 1, 1000, true),  // listed in L, and a bucket in H
        s(0, 2, 1, 1001, false), // listed: dropped
    ];
    assert_eq!(run_steps(&ns, &steps, false), [true, false]);
    let set = |name: &str| {
        ns.exec("nft", &["list", "set", "ip", "fwnet_filter", name])
            .expect("nft list set")
    };
    assert!(set("recent_L").contains("127.0.0.2"), "{}", set("recent_L"));
    assert!(set("H").contains("127.0.0.2 limit rate"), "{}", set("H"));

    import(&blocker(&StateDir::new("rb-sets-b")), &state);
    ok(fwnet_in(&ns, &["apply", "--state-dir", state.arg()], None));
    let out = ok(fwnet_in(
        &ns,
        &["rollback", "--state-dir", state.arg()],
        None,
    ));
    assert!(out.contains("rolled back"), "{out}");
    assert!(set("recent_L").contains("127.0.0.2"), "{}", set("recent_L"));
    assert!(!set("H").contains("127.0.0.2"), "{}", set("H"));
    assert_eq!(
        run_steps(&ns, &[s(0, 2, 1, 1001, false)], false),
        [false],
        "the source listed before the rollback is listed after it"
    );
}

#[test]
fn unconfirmed_apply_comes_back_at_the_deadline_even_if_its_session_dies() {
    if !privileged("unconfirmed_apply_comes_back_at_the_deadline_even_if_its_session_dies") {
        return;
    }
    let ns = Netns::new("confirm").expect("namespace");
    let state = StateDir::new("confirm");
    import(&seed(), &state);
    ok(fwnet_in(&ns, &["apply", "--state-dir", state.arg()], None));
    let before = kernel_dump(&ns);
    assert!(port_8080_open(&ns), "the seed accepts everything on lo");
    import(&blocker(&StateDir::new("confirm-b")), &state);

    // Run the apply in a process group of its own, as an SSH session would, and kill that
    // whole group right after it returns: the watchdog must not care.
    let started = Instant::now();
    let child = Command::new("ip")
        .args(["netns", "exec", ns.name(), env!("CARGO_BIN_EXE_fwnet")])
        .args(["apply", "--confirm", "2", "--state-dir", state.arg()])
        .process_group(0)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let pgid = child.id() as i32;
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("comes back by itself at"));
    // SAFETY: a process group we created; it may already be empty.
    unsafe {
        libc::kill(-pgid, libc::SIGKILL);
    }
    assert!(
        !port_8080_open(&ns),
        "the new ruleset drops 8080 until the deadline"
    );
    let deadline = started + Duration::from_secs(2);
    while Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    let back = loop {
        if port_8080_open(&ns) {
            break Instant::now();
        }
        assert!(
            Instant::now() < deadline + Duration::from_secs(3),
            "the old ruleset never came back"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    let late = back.saturating_duration_since(deadline);
    eprintln!("old ruleset back {late:?} after the deadline");
    assert!(
        late <= Duration::from_secs(1),
        "back {late:?} after the deadline"
    );
    assert_eq!(
        kernel_dump(&ns).replace(char::is_numeric, ""),
        before.replace(char::is_numeric, "")
    );
}

#[test]
fn confirmed_apply_stays() {
    if !privileged("confirmed_apply_stays") {
        return;
    }
    let ns = Netns::new("confirmed").expect("namespace");
    let state = StateDir::new("confirmed");
    import(&seed(), &state);
    ok(fwnet_in(&ns, &["apply", "--state-dir", state.arg()], None));
    import(&blocker(&StateDir::new("confirmed-b")), &state);
    ok(fwnet_in(
        &ns,
        &["apply", "--confirm", "2", "--state-dir", state.arg()],
        None,
    ));
    // A second apply while one waits for confirmation is refused, clearly.
    let again = fwnet_in(&ns, &["apply", "--state-dir", state.arg()], None);
    assert_eq!(again.status.code(), Some(4));
    assert!(String::from_utf8_lossy(&again.stderr).contains("still waiting"));
    let out = ok(fwnet_in(
        &ns,
        &["confirm", "--state-dir", state.arg()],
        None,
    ));
    assert!(out.contains("confirmed"), "{out}");
    let after = kernel_dump(&ns);
    std::thread::sleep(Duration::from_millis(2500));
    assert_eq!(kernel_dump(&ns), after, "a confirmed apply was rolled back");
    assert!(!port_8080_open(&ns));
}

#[test]
fn a_second_apply_waits_for_the_first() {
    if !privileged("a_second_apply_waits_for_the_first") {
        return;
    }
    let ns = Netns::new("lock").expect("namespace");
    let state = StateDir::new("lock");
    import(&seed(), &state);
    // Hold the lock as a running apply would, release it after 600 ms.
    let lock = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(state.0.join("lock"))
        .unwrap();
    use std::os::fd::AsRawFd;
    // SAFETY: flock on a file we opened.
    assert_eq!(unsafe { libc::flock(lock.as_raw_fd(), libc::LOCK_EX) }, 0);
    let releaser = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(600));
        drop(lock);
    });
    let started = Instant::now();
    let out = fwnet_in(&ns, &["apply", "--state-dir", state.arg()], None);
    releaser.join().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("waiting for another fwnet"));
    assert!(
        started.elapsed() >= Duration::from_millis(600),
        "apply did not wait for the lock"
    );
}

#[test]
fn kill_9_during_a_large_apply_leaves_old_or_new_never_a_mix() {
    if !privileged("kill_9_during_a_large_apply_leaves_old_or_new_never_a_mix") {
        return;
    }
    let ns = Netns::new("kill9").expect("namespace");
    let state = StateDir::new("kill9");
    std::fs::create_dir_all(&state.0).unwrap();
    // 50,000 rules, each a distinct address.
    let big = state.0.join("big.rules");
    let mut text = String::from("*filter\n:INPUT ACCEPT [0:0]\n");
    for i in 0..50_000u32 {
        text.push_str(&format!(
            "-A INPUT -s 10.{}.{}.{} -j DROP\n",
            i >> 16,
            (i >> 8) & 255,
            i & 255
        ));
    }
    text.push_str("COMMIT\n");
    std::fs::write(&big, text).unwrap();
    let small = StateDir::new("kill9-small");
    import(&seed(), &small);
    // One rule per line, so that a torn apply would show as a rule count in between.
    ok(fwnet(&[
        "import",
        "--no-optimize",
        "--state-dir",
        state.arg(),
        big.to_str().unwrap(),
    ]));
    let count = || {
        let out = ns.exec("nft", &["list", "ruleset"]).unwrap();
        out.lines()
            .filter(|l| l.trim_end().ends_with("drop") || l.trim_end().ends_with("accept"))
            .count()
    };
    ok(fwnet_in(&ns, &["apply", "--state-dir", state.arg()], None));
    let big = count();
    assert_eq!(
        big, 50_000,
        "the large ruleset is applied rule by rule (--no-optimize)"
    );
    ok(fwnet_in(&ns, &["apply", "--state-dir", small.arg()], None));
    let old = count();
    let mut outcomes = Vec::new();
    for i in 0..6u64 {
        // Alternate between the two rulesets so that every kill interrupts a real change.
        let (from, to) = if i % 2 == 0 {
            (&small, &state)
        } else {
            (&state, &small)
        };
        ok(fwnet_in(&ns, &["apply", "--state-dir", from.arg()], None));
        let before = count();
        let mut child = Command::new("ip")
            .args(["netns", "exec", ns.name(), env!("CARGO_BIN_EXE_fwnet")])
            .args(["apply", "--state-dir", to.arg()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        // Kill moments spread over import-to-commit (deterministic, not random).
        std::thread::sleep(Duration::from_millis(40 + i * 90));
        let _ = Command::new("pkill")
            .args(["-9", "-f", &format!("apply --state-dir {}", to.arg())])
            .status();
        let _ = child.kill();
        let _ = child.wait();
        let after = count();
        let new = if to.arg() == small.arg() { old } else { big };
        assert!(
            after == before || after == new,
            "round {i}: {after} rules: neither the old ({before}) nor the new ({new}) ruleset"
        );
        outcomes.push(if after == before { "old" } else { "new" });
    }
    eprintln!("kill -9 outcomes: {outcomes:?}");
}

/// Sends three UDP datagrams over loopback inside `ns` (the seed's `iif lo` rule counts them,
/// plus the ICMP errors they cause).
fn loopback_traffic(ns: &Netns) {
    ns.run_in(|| {
        let s = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        for _ in 0..3 {
            s.send_to(b"x", "127.0.0.1:9").unwrap();
        }
    });
}

fn lo_packets(ns: &Netns, state: &StateDir) -> u64 {
    let json = ok(fwnet_in(
        ns,
        &["status", "--json", "--state-dir", state.arg()],
        None,
    ));
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    v["tables"][0]["chains"][0]["rules"][0]["packets"]
        .as_u64()
        .unwrap()
}

#[test]
fn keep_counters_carries_counters_over_a_reapply() {
    if !privileged("keep_counters_carries_counters_over_a_reapply") {
        return;
    }
    let ns = Netns::new("keep").expect("namespace");
    let state = StateDir::new("keep");
    import(&seed(), &state);
    ok(fwnet_in(&ns, &["apply", "--state-dir", state.arg()], None));
    loopback_traffic(&ns);
    let counted = lo_packets(&ns, &state);
    assert!(counted >= 3, "lo traffic was not counted: {counted}");
    ok(fwnet_in(
        &ns,
        &["apply", "--keep-counters", "--state-dir", state.arg()],
        None,
    ));
    assert_eq!(
        lo_packets(&ns, &state),
        counted,
        "--keep-counters lost the counters"
    );
    ok(fwnet_in(&ns, &["apply", "--state-dir", state.arg()], None));
    assert_eq!(
        lo_packets(&ns, &state),
        0,
        "a plain apply loads the imported counters"
    );
}

#[test]
fn save_then_boot_restores_the_saved_ruleset_until_the_next_import() {
    if !privileged("save_then_boot_restores_the_saved_ruleset_until_the_next_import") {
        return;
    }
    let ns = Netns::new("boot").expect("namespace");
    let state = StateDir::new("boot");
    import(&seed(), &state);
    ok(fwnet_in(&ns, &["apply", "--state-dir", state.arg()], None));
    ns.exec(
        "nft",
        &[
            "add",
            "rule",
            "ip",
            "fwnet_filter",
            "INPUT",
            "tcp",
            "dport",
            "23",
            "accept",
        ],
    )
    .unwrap();
    let hand_made = kernel_dump(&ns);
    ok(fwnet_in(&ns, &["save", "--state-dir", state.arg()], None));
    ok(fwnet_in(&ns, &["apply", "--state-dir", state.arg()], None));
    assert_ne!(kernel_dump(&ns), hand_made);
    let out = ok(fwnet_in(
        &ns,
        &["apply", "--boot", "--state-dir", state.arg()],
        None,
    ));
    assert!(out.contains("restored the saved ruleset"), "{out}");
    assert_eq!(
        kernel_dump(&ns),
        hand_made,
        "boot did not restore what was saved"
    );
    std::thread::sleep(Duration::from_millis(20));
    import(&seed(), &state);
    let out = ok(fwnet_in(
        &ns,
        &["apply", "--boot", "--state-dir", state.arg()],
        None,
    ));
    assert!(
        out.contains("applied table ip fwnet_filter"),
        "a newer import wins at boot: {out}"
    );
}

#[test]
fn installed_unit_passes_systemd_analyze_verify() {
    let state = StateDir::new("unit");
    let units = StateDir::new("units");
    ok(fwnet(&[
        "install-service",
        "--state-dir",
        state.arg(),
        "--unit-dir",
        units.arg(),
    ]));
    let unit = units.0.join("fwnet.service");
    let text = std::fs::read_to_string(&unit).unwrap();
    assert!(text.contains("Before=network-pre.target"), "{text}");
    assert!(
        text.contains(&format!("apply --boot --state-dir {}", state.arg())),
        "{text}"
    );
    let analyze = Command::new("systemd-analyze")
        .arg("verify")
        .arg(&unit)
        .output();
    match analyze {
        Ok(out) => assert!(
            out.status.success() && out.stderr.is_empty(),
            "systemd-analyze verify: {}",
            String::from_utf8_lossy(&out.stderr)
        ),
        Err(e) if std::env::var_os("CI").is_some() => {
            panic!("systemd-analyze is needed under CI: {e}")
        }
        Err(e) => {
            eprintln!("SKIP installed_unit_passes_systemd_analyze_verify: no systemd-analyze ({e})")
        }
    }
}
