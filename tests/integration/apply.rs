//! `fwnet apply`, `show` and `status` against the real kernel, in namespaces of our own.
//!
//! - what fwnet programs equals what `nft -f` makes of `fwnet show` (bytecode and listing);
//! - a batch the kernel refuses changes nothing and names the rule's source line;
//! - apply works with neither `nft` nor `iptables` on PATH;
//! - status decodes the kernel's tables with counters and source lines;
//! - a foreign table survives apply unchanged; re-applying replaces rather than duplicates.

use crate::netns::{privileged, Netns};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const FWNET: &str = env!("CARGO_BIN_EXE_fwnet");

pub fn seed() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/seed/centos6-web.rules")
}

/// Writes `text` to the file `name` in a directory of the current test's own
/// (`$TMPDIR/fwt-PID/TEST/`): tests run at once, and two that shared a scratch directory once
/// wrote the same file name, so that one applied the other's rules. The file name is kept as
/// given, since outputs name it (`expiry.rules:6`).
pub fn scratch(name: &str, text: &str) -> PathBuf {
    static SWEPT: std::sync::Once = std::sync::Once::new();
    SWEPT.call_once(remove_stale_scratch);
    let test = std::thread::current()
        .name()
        .unwrap_or("main")
        .replace("::", "-");
    let dir = std::env::temp_dir()
        .join(format!("fwt-{}", std::process::id()))
        .join(test);
    std::fs::create_dir_all(&dir).expect("scratch dir");
    let p = dir.join(name);
    std::fs::write(&p, text).expect("write scratch file");
    p
}

/// Removes the scratch directories of earlier test runs (`$TMPDIR/fwt-PID` whose process is
/// gone): each run's files stay for a look after a failure, until the next run.
fn remove_stale_scratch() {
    let Ok(entries) = std::fs::read_dir(std::env::temp_dir()) else {
        return;
    };
    for e in entries.flatten() {
        let name = e.file_name();
        let Some(pid) = name.to_str().and_then(|n| n.strip_prefix("fwt-")) else {
            continue;
        };
        if pid.parse::<u32>().is_ok() && !Path::new("/proc").join(pid).exists() {
            let _ = std::fs::remove_dir_all(e.path());
        }
    }
}

/// A scratch state directory, removed on drop.
pub struct StateDir(pub PathBuf);

impl StateDir {
    pub fn new(tag: &str) -> StateDir {
        static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let p = std::env::temp_dir().join(format!("fwt-{tag}-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        StateDir(p)
    }

    pub fn arg(&self) -> &str {
        self.0.to_str().expect("temp dir paths are UTF-8")
    }
}

impl Drop for StateDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Runs fwnet outside any namespace (import and show do no netlink I/O).
pub fn fwnet(args: &[&str]) -> Output {
    Command::new(FWNET).args(args).output().expect("run fwnet")
}

/// Runs fwnet inside `ns`, with `path` as PATH when given.
pub fn fwnet_in(ns: &Netns, args: &[&str], path: Option<&str>) -> Output {
    ns.run_in(crate::netns::assert_not_host_netns);
    // An absolute path: `path` may hide `ip` itself.
    let ip = ["/usr/sbin/ip", "/sbin/ip", "/usr/bin/ip", "/bin/ip"]
        .into_iter()
        .find(|p| Path::new(p).exists())
        .expect("iproute2's ip");
    let mut c = Command::new(ip);
    c.args(["netns", "exec", ns.name(), FWNET]).args(args);
    if let Some(p) = path {
        c.env("PATH", p);
    }
    c.output().expect("run fwnet in namespace")
}

/// The two sides of a kernel test against legacy iptables: [`legacy_with`] and [`fwnet_with`]
/// of the same `rules`. Returns the legacy namespace, fwnet's, and the import's output.
pub fn legacy_and_fwnet(
    tag: &str,
    rules: &str,
    v6: bool,
    prepare: impl Fn(&Netns),
) -> (Netns, Netns, Output) {
    let legacy = legacy_with(tag, rules, v6, &prepare);
    let (ours, import) = fwnet_with(tag, rules, v6, &prepare);
    (legacy, ours, import)
}

/// A new namespace, passed to `prepare`, then loaded with `rules` by iptables-legacy-restore
/// (ip6tables-legacy-restore when `v6`).
pub fn legacy_with(tag: &str, rules: &str, v6: bool, prepare: impl Fn(&Netns)) -> Netns {
    let restore = if v6 {
        "ip6tables-legacy-restore"
    } else {
        "iptables-legacy-restore"
    };
    let legacy = Netns::new(&format!("{tag}-legacy")).expect("namespace");
    prepare(&legacy);
    legacy
        .exec_stdin(restore, &[], rules)
        .unwrap_or_else(|e| panic!("{restore}: {e}"));
    legacy
}

/// A new namespace, passed to `prepare`, then loaded with `rules` by `fwnet import --family`
/// and `fwnet apply`; returns it and the import's output (its warnings).
pub fn fwnet_with(tag: &str, rules: &str, v6: bool, prepare: impl Fn(&Netns)) -> (Netns, Output) {
    let state = StateDir::new(tag);
    let file = scratch(&format!("{tag}.rules"), rules);
    let import = fwnet(&[
        "import",
        "--family",
        if v6 { "6" } else { "4" },
        "--state-dir",
        state.arg(),
        file.to_str().expect("utf-8 path"),
    ]);
    assert!(import.status.success(), "import: {}", text(&import));
    let ours = Netns::new(&format!("{tag}-fwnet")).expect("namespace");
    prepare(&ours);
    let o = fwnet_in(&ours, &["apply", "--state-dir", state.arg()], None);
    assert!(o.status.success(), "apply: {}", text(&o));
    (ours, import)
}

pub fn text(o: &Output) -> String {
    format!(
        "status {:?}\nstdout:\n{}\nstderr:\n{}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn ok(o: Output) -> String {
    assert!(o.status.success(), "fwnet failed: {}", text(&o));
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// `nft --debug=netlink list ruleset` with rule handles stripped, plus `nft list ruleset`.
pub fn kernel_dump(ns: &Netns) -> String {
    let debug = ns
        .exec("nft", &["--debug=netlink", "list", "ruleset"])
        .expect("nft debug dump");
    let plain = ns.exec("nft", &["list", "ruleset"]).expect("nft list");
    let debug: Vec<String> = debug
        .lines()
        .map(|l| {
            // Rule headers read `ip fwnet_filter INPUT 4 3` (handle, position): drop the numbers.
            if !l.starts_with(' ') && !l.starts_with('\t') && !l.is_empty() {
                l.split_whitespace()
                    .filter(|w| !w.chars().all(|c| c.is_ascii_digit()))
                    .collect::<Vec<_>>()
                    .join(" ")
            } else {
                l.to_string()
            }
        })
        .collect();
    let plain: Vec<String> = plain.lines().map(sorted_braces).collect();
    format!(
        "{}\n----\n{}",
        sorted_sets(&debug.join("\n")),
        plain.join("\n")
    )
}

/// The element lines of each set sorted: hash sets list their elements in an order seeded per
/// set, so two loads of the same set list them differently.
pub fn sorted_sets(dump: &str) -> String {
    let mut out: Vec<String> = Vec::new();
    let mut elements: Vec<&str> = Vec::new();
    for line in dump.lines() {
        if line.trim_start().starts_with("element ") {
            elements.push(line);
            continue;
        }
        elements.sort_unstable();
        out.extend(elements.drain(..).map(str::to_string));
        out.push(line.to_string());
    }
    elements.sort_unstable();
    out.extend(elements.drain(..).map(str::to_string));
    out.join("\n")
}

/// A listing line with one `{ a, b, c }` group (an inline anonymous set or `elements = {..}`)
/// with its items sorted, for the same reason as [`sorted_sets`].
fn sorted_braces(line: &str) -> String {
    let (Some(open), Some(close)) = (line.find('{'), line.rfind('}')) else {
        return line.to_string();
    };
    if open > close || line[open + 1..close].contains('{') {
        return line.to_string();
    }
    let mut items: Vec<&str> = line[open + 1..close].split(',').map(str::trim).collect();
    items.sort_unstable();
    format!(
        "{}{{ {} }}{}",
        &line[..open],
        items.join(", "),
        &line[close + 1..]
    )
}

pub fn import(rules: &Path, state: &StateDir) {
    // The translator's fixtures name ip6tables files `v6-*` (`approx-v6-*`) and fixtures
    // translated with --allow-approximate `approx-*`, as its own tests do.
    let name = rules
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let approx = name.starts_with("approx-");
    let v6 = name.trim_start_matches("approx-").starts_with("v6-");
    let mut args = vec!["import", "--state-dir", state.arg()];
    if v6 {
        args.extend(["--family", "6"]);
    }
    if approx {
        args.push("--allow-approximate");
    }
    args.push(rules.to_str().unwrap());
    // A fixture's `ipset save` file, if any, sits beside it as NAME.ipset.
    let ipset = rules.with_extension("ipset");
    if ipset.exists() {
        args.push(ipset.to_str().unwrap());
    }
    // And its CentOS 6 iptables-config, if any, as NAME.iptables-config.
    let config = rules.with_extension("iptables-config");
    if config.exists() {
        args.extend(["--iptables-config", config.to_str().unwrap()]);
    }
    ok(fwnet(&args));
}

/// The strongest structural check: fwnet's own lowering and netlink encoding give the kernel
/// exactly what nft 1.0.6 gives it for `fwnet show` output.
pub fn assert_apply_equals_nft(rules: &Path, tag: &str) {
    let state = StateDir::new(tag);
    import(rules, &state);
    let shown = ok(fwnet(&["show", "--state-dir", state.arg()]));
    let ours = Netns::new(&format!("{tag}-fw")).expect("namespace");
    let theirs = Netns::new(&format!("{tag}-nft")).expect("namespace");
    ok(fwnet_in(
        &ours,
        &["apply", "--state-dir", state.arg()],
        None,
    ));
    theirs
        .exec_stdin("nft", &["-f", "-"], &shown)
        .expect("nft -f of fwnet show output");
    let (a, b) = (kernel_dump(&ours), kernel_dump(&theirs));
    assert_eq!(
        a,
        b,
        "fwnet apply and nft -f of `fwnet show` differ for {}\n--- show:\n{shown}",
        rules.display()
    );
    // fwnet's own decoder reads back what it applied as exactly the stored rules: no drift.
    let json = ok(fwnet_in(
        &ours,
        &["status", "--json", "--state-dir", state.arg()],
        None,
    ));
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    for t in v["tables"].as_array().unwrap() {
        assert_eq!(
            t["drift"],
            false,
            "status reports drift right after apply for {}: {json}",
            rules.display()
        );
    }
}

#[test]
fn founding_ruleset_apply_equals_nft_of_show() {
    if !privileged("founding_ruleset_apply_equals_nft_of_show") {
        return;
    }
    assert_apply_equals_nft(&seed(), "eq");
}

#[test]
fn translate_fixtures_apply_equals_nft_of_show() {
    if !privileged("translate_fixtures_apply_equals_nft_of_show") {
        return;
    }
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../translate/test_data/translate/ok");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("read {}: {e}", dir.display()))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "rules"))
        .collect();
    files.sort();
    assert!(
        files.len() >= 10,
        "expected the translator's ok fixtures in {}",
        dir.display()
    );
    let mut failures = Vec::new();
    for f in &files {
        // Fixtures whose text nft 1.0.6 cannot load (quoted chain names) are only applied.
        let r = std::panic::catch_unwind(|| assert_apply_equals_nft(f, "fx"));
        if let Err(e) = r {
            let msg = e.downcast_ref::<String>().cloned().unwrap_or_default();
            failures.push(format!("{}: {msg}", f.display()));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} fixtures differ:\n{}",
        failures.len(),
        files.len(),
        failures.join("\n\n")
    );
}

/// A table with more set literals than `shared_sets::THRESHOLD` gets named constant sets (one per
/// distinct list, `!=` kept) for its lists longer than `shared_sets::EXPAND_MAX`; the kernel
/// holds the same as `nft -f` of `fwnet show`, and the lookups still decide: the probe table
/// below is checked by the verdict tests' harness too.
#[test]
fn many_set_literals_become_named_sets_the_kernel_holds_like_nft() {
    let test = "many_set_literals_become_named_sets_the_kernel_holds_like_nft";
    if !privileged(test) {
        return;
    }
    let (rules, stdout, shown) = import_lists("named-sets", 5);
    // 600 port lists and the five interface names the optimizer merged (the protocol split
    // copies that rule into two chains, which share the set).
    assert!(stdout.contains("named sets: 601"), "{stdout}");
    assert!(!stdout.contains("short lists"), "{stdout}");
    assert!(
        shown.contains(r#"set lit600 { type ifname; flags constant; elements = { "eth0", "eth1", "eth2", "eth3", "eth4" }; }"#),
        "{shown}"
    );
    assert!(shown.contains("iifname @lit600 "), "{shown}");
    // In the chain the protocol dispatch made for TCP, ports are read as `th` ports.
    assert!(shown.contains("th dport != @lit0 "), "{shown}");
    assert!(shown.contains("th sport @lit0 "), "{shown}");
    assert!(!shown.contains("__set"), "{shown}");
    assert_apply_equals_nft(&rules, "named");
}

/// The same table with lists of two ports: each becomes one rule per port (`!=`: one test per
/// port), no set at all; the kernel holds the same as `nft -f` of `fwnet show`, and every
/// probe gets the verdict legacy iptables gives the original.
#[test]
fn many_short_lists_become_one_rule_per_port_and_keep_their_verdicts() {
    let test = "many_short_lists_become_one_rule_per_port_and_keep_their_verdicts";
    if !privileged(test) {
        return;
    }
    let (rules, stdout, shown) = import_lists("short-lists", 2);
    // 602 port lists and the two interface names the optimizer merged, in both chains of the
    // protocol split.
    assert!(stdout.contains("short lists: 604 "), "{stdout}");
    assert!(!stdout.contains("named sets:"), "{stdout}");
    let file = rules.to_str().unwrap();
    let shown_plain = shown.replace(" counter packets 0 bytes 0", "");
    for want in [
        format!("th dport 1000 accept # {file}:3"),
        format!("th dport 1002 accept # {file}:3"),
        format!("th dport != 1000 th dport != 1002 drop # {file}:603"),
        format!("th sport 1000 accept # {file}:604"),
        format!("th sport 1002 accept # {file}:604"),
        format!("iifname \"eth1\" accept # {file}:605-606"),
    ] {
        assert!(shown_plain.contains(&want), "{want}\n{shown}");
    }
    assert!(!shown.contains('@') && !shown.contains("port {"), "{shown}");
    assert_apply_equals_nft(&rules, "short");
    let out = Command::new(FWNET)
        .args(["verify", file])
        .output()
        .expect("run fwnet verify");
    let report = text(&out);
    assert_eq!(out.status.code(), Some(0), "{report}");
    assert!(report.contains(" 0 mismatch"), "{report}");
}

/// [`many_lists`] of `ports` ports written to a file and imported: the file, what the import
/// printed and what `fwnet show` prints of the state.
fn import_lists(tag: &str, ports: u32) -> (PathBuf, String, String) {
    let rules = scratch(&format!("{tag}.rules"), &many_lists(ports));
    let state = StateDir::new(tag);
    let out = fwnet(&[
        "import",
        "--state-dir",
        state.arg(),
        rules.to_str().unwrap(),
    ]);
    let stdout = ok(out);
    let shown = ok(fwnet(&["show", "--state-dir", state.arg()]));
    (rules, stdout, shown)
}

/// 600 multiport rules of `ports` ports each, their targets alternating; then the first list
/// negated, the first list as source ports, in another order, and `ports` rules accepting
/// `eth0`, `eth1` ... one each.
fn many_lists(ports: u32) -> String {
    let mut text = String::from("*filter\n:INPUT DROP [0:0]\n");
    for i in 0..600u32 {
        // A gap between ports: a list without one is a range, not a set. Each list shares a
        // port with the next one, and the targets alternate, so that the optimizer merges no
        // run of these rules (a rule moves up past another only if no packet matches both).
        let list: Vec<String> = (0..ports)
            .map(|k| (1000 + 2 * i + 2 * k).to_string())
            .collect();
        let target = if i % 2 == 0 { "ACCEPT" } else { "REJECT" };
        text.push_str(&format!(
            "-A INPUT -p tcp -m multiport --dports {} -j {target}\n",
            list.join(",")
        ));
    }
    let first: Vec<String> = (0..ports).map(|k| (1000 + 2 * k).to_string()).collect();
    let reversed: Vec<String> = first.iter().rev().cloned().collect();
    text.push_str(&format!(
        "-A INPUT -p tcp -m multiport ! --dports {} -j DROP\n",
        first.join(",")
    ));
    text.push_str(&format!(
        "-A INPUT -p tcp -m multiport --sports {} -j ACCEPT\n",
        reversed.join(",")
    ));
    // As many interface names, one rule each: the optimizer merges them into one list.
    for k in 0..ports {
        text.push_str(&format!("-A INPUT -i eth{k} -j ACCEPT\n"));
    }
    text.push_str("COMMIT\n");
    text
}

#[test]
fn rejected_batch_changes_nothing_and_names_the_line() {
    if !privileged("rejected_batch_changes_nothing_and_names_the_line") {
        return;
    }
    let ns = Netns::new("atomic").expect("namespace");
    let state = StateDir::new("atomic");
    import(&seed(), &state);
    ok(fwnet_in(&ns, &["apply", "--state-dir", state.arg()], None));
    let before = kernel_dump(&ns);

    // A state the translator would never write: line 8's rule jumps to a chain that does not
    // exist, so the kernel refuses that one message (ENOENT) and must commit nothing. It is
    // edited as the JSON `show --json` prints and stored as `ruleset.json`, the form earlier
    // fwnet wrote, which is read when there is no `ruleset.bin`.
    let json = ok(fwnet(&["show", "--json", "--state-dir", state.arg()]));
    std::fs::remove_file(state.0.join("ruleset.bin")).unwrap();
    let p = state.0.join("ruleset.json");
    let mut v: serde_json::Value = serde_json::from_str(&json).unwrap();
    let rules = v["ruleset"]["tables"][0]["chains"][0]["rules"]
        .as_array_mut()
        .unwrap();
    let rule = rules
        .iter_mut()
        .find(|r| r["origin"]["line"] == 8)
        .expect("rule from line 8");
    let stmts = rule["stmts"].as_array_mut().unwrap();
    *stmts.last_mut().unwrap() = serde_json::json!({"verdict": {"jump": "NO_SUCH_CHAIN"}});
    std::fs::write(&p, serde_json::to_string_pretty(&v).unwrap()).unwrap();

    let out = fwnet_in(&ns, &["apply", "--state-dir", state.arg()], None);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("centos6-web.rules:8"),
        "error should name the source line: {err}"
    );
    assert!(err.contains("ENOENT"), "error should name the errno: {err}");
    assert_eq!(
        kernel_dump(&ns),
        before,
        "a refused batch changed the kernel's ruleset"
    );

    // --check of the same state: refused the same way, and nothing committed either.
    let out = fwnet_in(&ns, &["apply", "--check", "--state-dir", state.arg()], None);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    assert_eq!(kernel_dump(&ns), before);
}

#[test]
fn check_validates_without_committing() {
    if !privileged("check_validates_without_committing") {
        return;
    }
    let ns = Netns::new("check").expect("namespace");
    let state = StateDir::new("check");
    import(&seed(), &state);
    let before = kernel_dump(&ns);
    let out = ok(fwnet_in(
        &ns,
        &["apply", "--check", "--state-dir", state.arg()],
        None,
    ));
    assert!(out.contains("nothing was committed"), "{out}");
    assert_eq!(kernel_dump(&ns), before, "--check committed something");
}

#[test]
fn apply_needs_neither_nft_nor_iptables_on_path() {
    if !privileged("apply_needs_neither_nft_nor_iptables_on_path") {
        return;
    }
    let ns = Netns::new("nopath").expect("namespace");
    let state = StateDir::new("nopath");
    import(&seed(), &state);
    let empty = StateDir::new("emptypath");
    std::fs::create_dir_all(&empty.0).unwrap();
    ok(fwnet_in(
        &ns,
        &["apply", "--state-dir", state.arg()],
        Some(empty.arg()),
    ));
    let status = ok(fwnet_in(
        &ns,
        &["status", "--state-dir", state.arg()],
        Some(empty.arg()),
    ));
    assert!(status.contains("table ip fwnet_filter"), "{status}");
    let listing = ns
        .exec("nft", &["list", "table", "ip", "fwnet_filter"])
        .unwrap();
    assert!(listing.contains("policy drop"), "{listing}");
}

#[test]
fn status_shows_counters_and_source_lines() {
    if !privileged("status_shows_counters_and_source_lines") {
        return;
    }
    let ns = Netns::new("status").expect("namespace");
    let state = StateDir::new("status");
    import(&seed(), &state);
    ok(fwnet_in(&ns, &["apply", "--state-dir", state.arg()], None));
    // Three datagrams over lo to a bound socket: rule 1 (line 5, iif lo accept) counts 3.
    ns.run_in(|| {
        let rx = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let tx = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        for _ in 0..3 {
            tx.send_to(b"x", rx.local_addr().unwrap()).unwrap();
        }
        let mut buf = [0u8; 8];
        for _ in 0..3 {
            rx.recv(&mut buf).unwrap();
        }
    });
    let out = ok(fwnet_in(&ns, &["status", "--state-dir", state.arg()], None));
    let lo = out
        .lines()
        .find(|l| l.contains("iifname \"lo\""))
        .unwrap_or_else(|| panic!("{out}"));
    let cols: Vec<&str> = lo.split_whitespace().collect();
    assert_eq!(cols[0], "3", "three packets over lo: {lo}");
    assert!(lo.contains("centos6-web.rules:5"), "{lo}");
    assert!(
        out.contains("Chain INPUT (type filter hook input priority 0; policy drop)"),
        "{out}"
    );
    assert!(!out.contains("drift"), "{out}");
    let json = ok(fwnet_in(
        &ns,
        &["status", "--json", "--state-dir", state.arg()],
        None,
    ));
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(v["tables"][0]["name"], "fwnet_filter");
    assert_eq!(v["tables"][0]["drift"], false);
}

#[test]
fn foreign_tables_survive_and_reapply_replaces() {
    if !privileged("foreign_tables_survive_and_reapply_replaces") {
        return;
    }
    let ns = Netns::new("coexist").expect("namespace");
    ns.exec_stdin(
        "nft",
        &["-f", "-"],
        "table inet docker_like {\n chain in { type filter hook input priority -10; policy accept; tcp dport 2375 drop; }\n}\n",
    )
    .unwrap();
    let foreign = || {
        ns.exec(
            "nft",
            &["--debug=netlink", "list", "table", "inet", "docker_like"],
        )
        .unwrap()
    };
    let before = foreign();
    let state = StateDir::new("coexist");
    import(&seed(), &state);
    ok(fwnet_in(&ns, &["apply", "--state-dir", state.arg()], None));
    let once = kernel_dump(&ns);
    ok(fwnet_in(&ns, &["apply", "--state-dir", state.arg()], None));
    assert_eq!(
        kernel_dump(&ns),
        once,
        "re-applying the same state must give the same ruleset"
    );
    assert_eq!(
        foreign(),
        before,
        "apply touched a table fwnet does not own"
    );
    // status names the neighbour and says that its drop rule is final for fwnet's traffic;
    // a legacy iptables table in the same namespace is reported too.
    ns.exec_stdin(
        "iptables-legacy-restore",
        &[],
        "*filter\n:INPUT ACCEPT [0:0]\nCOMMIT\n",
    )
    .unwrap();
    let out = ok(fwnet_in(&ns, &["status", "--state-dir", state.arg()], None));
    assert!(out.contains("inet docker_like"), "{out}");
    assert!(out.contains("drops packets (1 drop rule(s))"), "{out}");
    assert!(
        out.contains("legacy iptables tables are loaded (ip filter)"),
        "{out}"
    );
    let json = ok(fwnet_in(
        &ns,
        &["status", "--json", "--state-dir", state.arg()],
        None,
    ));
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(v["others"]["chains"][0]["table"], "docker_like");
    assert_eq!(v["others"]["chains"][0]["drop_rules"], 1);
}

#[test]
fn not_root_gets_one_clear_sentence() {
    if !privileged("not_root_gets_one_clear_sentence") {
        return;
    }
    let ns = Netns::new("noroot").expect("namespace");
    let state = StateDir::new("noroot");
    import(&seed(), &state);
    // World-readable so that the unprivileged user can load it.
    let _ = Command::new("chmod")
        .args(["-R", "a+rX", state.arg()])
        .status();
    ns.run_in(crate::netns::assert_not_host_netns);
    let out = Command::new("ip")
        .args([
            "netns",
            "exec",
            ns.name(),
            "setpriv",
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            FWNET,
        ])
        .args(["apply", "--state-dir", state.arg()])
        .output()
        .expect("setpriv");
    assert_eq!(out.status.code(), Some(4), "{}", text(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("needs root (CAP_NET_ADMIN)"), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "one sentence: {err}");
}

#[test]
fn counters_from_the_file_are_loaded_into_the_kernel() {
    if !privileged("counters_from_the_file_are_loaded_into_the_kernel") {
        return;
    }
    let ns = Netns::new("counters").expect("namespace");
    let state = StateDir::new("counters");
    std::fs::create_dir_all(&state.0).unwrap();
    let rules = state.0.join("counted.rules");
    std::fs::write(
        &rules,
        "*filter\n:INPUT DROP [71:13002]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [133:14624]\n\
         [5:300] -A INPUT -i lo -j ACCEPT\n-A INPUT -p tcp --dport 22 -c 7 420 -j ACCEPT\nCOMMIT\n",
    )
    .unwrap();
    import(&rules, &state);
    ok(fwnet_in(&ns, &["apply", "--state-dir", state.arg()], None));
    let json = ok(fwnet_in(
        &ns,
        &["status", "--json", "--state-dir", state.arg()],
        None,
    ));
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    let input = &v["tables"][0]["chains"][0];
    assert_eq!(input["name"], "INPUT");
    assert_eq!(
        (
            input["hook"]["packets"].as_u64(),
            input["hook"]["bytes"].as_u64()
        ),
        (Some(71), Some(13002))
    );
    let rules = input["rules"].as_array().unwrap();
    assert_eq!(
        (rules[0]["packets"].as_u64(), rules[0]["bytes"].as_u64()),
        (Some(5), Some(300))
    );
    assert_eq!(
        (rules[1]["packets"].as_u64(), rules[1]["bytes"].as_u64()),
        (Some(7), Some(420))
    );
    let output = &v["tables"][0]["chains"][2];
    assert_eq!(output["hook"]["packets"].as_u64(), Some(133));
}

/// `iptables-save | fwnet import -`: standard input is a file named `<stdin>`, stored as the
/// file would be; given twice it is a usage error (the second would read nothing).
#[test]
fn import_reads_standard_input() {
    use std::io::Write;
    let (from_file, from_stdin) = (StateDir::new("file"), StateDir::new("stdin"));
    ok(fwnet(&[
        "import",
        "--state-dir",
        from_file.arg(),
        seed().to_str().unwrap(),
    ]));
    let mut child = Command::new(FWNET)
        .args(["import", "--state-dir", from_stdin.arg(), "-"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("run fwnet");
    let rules = std::fs::read(seed()).unwrap();
    child.stdin.take().unwrap().write_all(&rules).unwrap();
    let out = ok(child.wait_with_output().unwrap());
    assert!(out.starts_with("imported <stdin>\n"), "{out}");
    let show = |s: &StateDir| ok(fwnet(&["show", "--state-dir", s.arg()]));
    let (file_show, stdin_show) = (show(&from_file), show(&from_stdin));
    assert!(stdin_show.contains("accept # <stdin>:5\n"), "{stdin_show}");
    let file_name = seed().display().to_string();
    assert_eq!(stdin_show, file_show.replace(&file_name, "<stdin>"));

    let twice = fwnet(&["import", "--state-dir", from_stdin.arg(), "-", "-"]);
    assert_eq!(twice.status.code(), Some(2), "{}", text(&twice));
    assert!(
        text(&twice).contains("can be given only once"),
        "{}",
        text(&twice)
    );
}
