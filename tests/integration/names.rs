//! User, group, host and service names in rules (`fwnet_translate::names`): `fwnet import` looks them
//! up as iptables-legacy-restore does when it loads the same file, on the same host.
//!
//! The host names come from a private /etc/hosts, bind-mounted in a mount namespace of the
//! test's own (`unshare --mount --net`), so nothing asks DNS and the host's file is untouched. In
//! that namespace: fwnet imports the file, iptables-legacy-restore loads it in a nested network
//! namespace (`unshare --net`) and `iptables-legacy-save` dumps it, and `fwnet verify` sends
//! both the same probes. The kernel rules must match address for address, in order, and every
//! verdict must be the same.

use crate::apply::{scratch, text};
use crate::netns::privileged;
use std::process::Command;

const FWNET: &str = env!("CARGO_BIN_EXE_fwnet");

/// A name with four answers (one twice, one link-local, which getaddrinfo sorts first), a
/// name with one, an IPv6 name, and names from /etc/networks and the passwd and group files.
const HOSTS: &str = "127.0.0.1 localhost\n10.9.9.9 fwnet-multi\n169.254.1.1 fwnet-multi\n\
    10.1.1.1 fwnet-multi\n10.9.9.9 fwnet-multi\n10.5.5.5 fwnet-single\nfd00::9 fwnet-multi\n\
    fe80::1 fwnet-six\nfd00::1 fwnet-six\n";

/// Services fwnet's own table does not know, one per protocol, so the host is asked.
const SERVICES: &str = "fwnet-svc 4242/tcp\nfwnet-svc 4343/udp\n";

const RULES_V4: &str = "*filter\n:INPUT DROP [0:0]\n:FORWARD DROP [0:0]\n:OUTPUT ACCEPT [0:0]\n\
    -A INPUT -p tcp --dport fwnet-svc -j ACCEPT\n\
    -A INPUT -p udp -m udp --sport fwnet-svc -j ACCEPT\n\
    -A INPUT -s fwnet-multi -p tcp --dport 22 -j ACCEPT\n\
    -A INPUT -s fwnet-multi/16 -d fwnet-multi,10.0.0.1 -p udp -j ACCEPT\n\
    -A INPUT ! -s fwnet-single -p tcp --dport 80 -j DROP\n\
    -A INPUT -s loopback/8 -j ACCEPT\n\
    -A OUTPUT -m owner --uid-owner daemon -j ACCEPT\n\
    -A OUTPUT -m owner --gid-owner nogroup -j DROP\nCOMMIT\n";

const RULES_V6: &str = "*filter\n:INPUT DROP [0:0]\n:FORWARD DROP [0:0]\n:OUTPUT ACCEPT [0:0]\n\
    -A INPUT -s fwnet-six -p tcp --dport 22 -j ACCEPT\n\
    -A INPUT -d fwnet-multi -j ACCEPT\nCOMMIT\n";

/// Runs `script` (sh) with `hosts` bind-mounted on /etc/hosts, and [`SERVICES`] added to
/// /etc/services, in a new mount namespace, and in
/// a new network namespace: getaddrinfo orders its answers by the routes it finds (RFC 6724),
/// so fwnet and iptables must ask from the same place (the order changes no verdict, only
/// which of the identical-but-for-an-address rules counts a packet; see `names.rs`).
fn with_hosts(hosts: &std::path::Path, script: &str) -> std::process::Output {
    let system = std::fs::read_to_string("/etc/services").unwrap_or_default();
    let services = scratch("services", &format!("{system}{SERVICES}"));
    Command::new("unshare")
        .args(["--mount", "--propagation", "private", "--net", "sh", "-ec"])
        .arg(format!(
            "mount --bind '{}' /etc/hosts\nmount --bind '{}' /etc/services\n{script}",
            hosts.display(),
            services.display()
        ))
        .output()
        .expect("run unshare")
}

/// The addresses, users, groups and ports of each kernel rule in order: from `iptables-save` lines
/// (`-s 10.9.9.9/32 -d ...`) or `fwnet show` lines (`ip saddr 10.9.9.9 ip daddr ...`),
/// written the same way (`/32`, `/128` dropped). fwnet's chains of its own (the IPv6
/// fragment guard `INPUT_frag`) are left out.
fn rule_keys(text: &str, fwnet: bool) -> Vec<String> {
    let mut chain = "";
    let keys: &[&str] = if fwnet {
        &["saddr", "daddr", "skuid", "skgid", "dport", "sport"]
    } else {
        &[
            "-s",
            "-d",
            "--uid-owner",
            "--gid-owner",
            "--dport",
            "--sport",
        ]
    };
    text.lines()
        .filter(|l| {
            if let Some(rest) = l.trim().strip_prefix("chain ") {
                chain = rest.split_whitespace().next().unwrap_or("");
            }
            if fwnet {
                l.contains(" # ") && ["INPUT", "FORWARD", "OUTPUT"].contains(&chain)
            } else {
                l.starts_with("-A ")
            }
        })
        .map(|l| {
            let words: Vec<&str> = l.split_whitespace().collect();
            let mut out = Vec::new();
            for (i, w) in words.iter().enumerate() {
                if keys.contains(w) {
                    let mut v = words.get(i + 1).copied().unwrap_or("");
                    if v == "!=" {
                        out.push("!".to_string());
                        v = words.get(i + 2).copied().unwrap_or("");
                    } else if i > 0 && words[i - 1] == "!" {
                        out.push("!".to_string());
                    }
                    out.push(
                        v.trim_end_matches("/32")
                            .trim_end_matches("/128")
                            .to_string(),
                    );
                }
            }
            out.join(" ")
        })
        .collect()
}

#[test]
fn names_load_as_iptables_legacy_restore_loads_them() {
    let test = "names_load_as_iptables_legacy_restore_loads_them";
    if !privileged(test) {
        return;
    }
    let hosts = scratch("hosts", HOSTS);
    for (family, rules, save) in [
        ("4", RULES_V4, "iptables-legacy"),
        ("6", RULES_V6, "ip6tables-legacy"),
    ] {
        let file = scratch(&format!("names.v{family}"), rules);
        let state = file.with_extension(format!("state{family}"));
        let out = with_hosts(
            &hosts,
            &format!(
                "{FWNET} import --no-optimize --family {family} --state-dir '{s}' '{f}'\n\
                 {FWNET} show --state-dir '{s}'\n\
                 echo '=== legacy'\n\
                 unshare --net sh -ec '{save}-restore < \"{f}\" && {save}-save'",
                s = state.display(),
                f = file.display(),
            ),
        );
        assert!(out.status.success(), "v{family}: {}", text(&out));
        let stdout = String::from_utf8_lossy(&out.stdout);
        let (shown, legacy) = stdout.split_once("=== legacy").expect("both outputs");
        let ours = rule_keys(shown, true);
        let theirs = rule_keys(legacy, false);
        assert_eq!(ours, theirs, "v{family}: fwnet\n{shown}\nlegacy\n{legacy}");
        // The file's rules really did fan out: a list that did not would match 1:1.
        let expected = if family == "4" {
            2 + 4 + 4 * 5 + 1 + 1 + 2
        } else {
            2 + 1
        };
        assert_eq!(ours.len(), expected, "v{family}: {shown}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            stderr.contains("warning[translate/resolved-name]"),
            "v{family}: {stderr}"
        );

        let out = with_hosts(
            &hosts,
            &format!("{FWNET} verify --family {family} '{}'", file.display()),
        );
        assert_eq!(
            out.status.code(),
            Some(0),
            "v{family} verify: {}",
            text(&out)
        );
        assert!(
            String::from_utf8_lossy(&out.stdout).contains(" 0 mismatch(es)"),
            "v{family} verify: {}",
            text(&out)
        );
    }

    // `--no-resolve` refuses the names, and stores nothing.
    let file = scratch("names.v4", RULES_V4);
    let state = file.with_extension("state-no-resolve");
    let out = Command::new(FWNET)
        .args(["import", "--no-resolve", "--state-dir"])
        .arg(&state)
        .arg(&file)
        .output()
        .expect("run fwnet");
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("`fwnet-multi` is a host name"),
        "{}",
        text(&out)
    );
    assert!(!state.join("ruleset.bin").exists() && !state.join("ruleset.json").exists());
}

/// The corpus files the legacy kernel loads only where their names exist (DNS names, users
/// such as `postfix`), whose other rules fwnet translates.
const ENVIRONMENT_FILES: &[&str] = &[
    "v4/168", "v4/298", "v4/331", "v4/385", "v4/436", "v6/157", "v6/330", "v6/435", "v6/437",
];

/// Every word after `-s`, `-d`, `--uid-owner` or `--gid-owner` in `text` that has a letter.
fn names_in(text: &str, options: &[&str]) -> Vec<String> {
    let mut out = Vec::new();
    for line in text.lines() {
        let words: Vec<&str> = line.split_whitespace().collect();
        for pair in words.windows(2) {
            if options.contains(&pair[0]) && pair[1].bytes().any(|b| b.is_ascii_alphabetic()) {
                out.push(pair[1].to_string());
            }
        }
    }
    out.sort();
    out.dedup();
    out
}

/// With their host names in /etc/hosts and their users in /etc/passwd and /etc/group (private
/// copies), the corpus' environment-dependent files import, and `fwnet verify` finds the same
/// verdicts as iptables-legacy-restore, which looks the same names up.
#[test]
fn corpus_files_with_names_verify_where_the_names_exist() {
    let test = "corpus_files_with_names_verify_where_the_names_exist";
    if !privileged(test) {
        return;
    }
    let corpus = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/corpus");
    let mut passwd = std::fs::read_to_string("/etc/passwd").expect("passwd");
    let mut group = std::fs::read_to_string("/etc/group").expect("group");
    let (mut host_names, mut users) = (Vec::new(), Vec::new());
    let mut files = Vec::new();
    for f in ENVIRONMENT_FILES {
        let path = corpus.join(format!("{f}.rules"));
        let text =
            std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        host_names.extend(names_in(&text, &["-s", "-d"]));
        users.extend(names_in(&text, &["--uid-owner", "--gid-owner"]));
        files.push((f.starts_with("v6"), path));
    }
    host_names.sort();
    host_names.dedup();
    users.sort();
    users.dedup();
    // One address per name and family, as a name with several would make `! -s NAME` an
    // error for both tools.
    let mut hosts = String::from("127.0.0.1 localhost\n");
    for (i, host) in host_names.iter().enumerate() {
        hosts.push_str(&format!(
            "192.0.2.{} {host}\n2001:db8::{} {host}\n",
            i + 1,
            i + 1
        ));
    }
    for (i, user) in users.iter().enumerate() {
        let id = 4000 + i;
        passwd.push_str(&format!(
            "{user}:x:{id}:{id}::/nonexistent:/usr/sbin/nologin\n"
        ));
        group.push_str(&format!("{user}:x:{id}:\n"));
    }
    let (hosts, passwd, group) = (
        scratch("hosts", &hosts),
        scratch("passwd", &passwd),
        scratch("group", &group),
    );
    let mut script = format!(
        "mount --bind '{}' /etc/hosts\nmount --bind '{}' /etc/passwd\nmount --bind '{}' /etc/group\n",
        hosts.display(),
        passwd.display(),
        group.display()
    );
    for (v6, path) in &files {
        let family = if *v6 { "6" } else { "4" };
        script.push_str(&format!(
            "echo '=== {p}'\n{FWNET} verify --family {family} '{p}' || echo \"exit $?\"\n",
            p = path.display()
        ));
    }
    let out = Command::new("unshare")
        .args(["--mount", "--propagation", "private", "sh", "-ec", &script])
        .output()
        .expect("run unshare");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{}", text(&out));
    for (_, path) in &files {
        let section = stdout
            .split("=== ")
            .find(|s| s.starts_with(&path.display().to_string()))
            .unwrap_or_else(|| panic!("no output for {}: {}", path.display(), text(&out)));
        assert!(
            section.contains(" 0 mismatch(es)") && !section.contains("exit "),
            "{}: {section}\n{}",
            path.display(),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}
