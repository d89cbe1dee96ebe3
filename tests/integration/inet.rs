//! `fwnet import --inet` and `fwnet verify --inet` against the real kernel: one inet table per
//! iptables table, each family with its own base chains, gives every probe the legacy verdict;
//! switching between the per-family and the inet form replaces the old tables in one apply.
//!
//! It does not measure the packet cost (`cargo xtask bench --packets` does).

use crate::apply::{fwnet, fwnet_in, scratch, seed, text, StateDir};
use crate::netns::{privileged, Netns};
use crate::verify::WEB_V6;
use std::path::PathBuf;
use std::process::Output;

fn ok(o: Output) -> String {
    assert!(o.status.success(), "fwnet failed: {}", text(&o));
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn mismatches(o: &Output) -> u64 {
    let v: serde_json::Value =
        serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("{e}: {}", text(o)));
    v["mismatches"].as_u64().expect("mismatches")
}

/// The founding ruleset and its IPv6 companion, merged into one inet table, give every probe
/// of both families the legacy kernel's verdict. Without the first `meta nfproto` rule of each
/// base chain (the test hook), each family's packets meet the other family's rules and policy,
/// and verification finds it.
#[test]
fn inet_verify_of_seed_and_ipv6_matches_legacy_and_needs_the_family_dispatch() {
    if !privileged("inet_verify_of_seed_and_ipv6_matches_legacy_and_needs_the_family_dispatch") {
        return;
    }
    let seed = seed();
    let v6 = scratch("web.v6", WEB_V6);
    let args = [
        "verify",
        "--inet",
        "--json",
        seed.to_str().unwrap(),
        v6.to_str().unwrap(),
    ];
    let out = fwnet(&args);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(mismatches(&out), 0);
    let broken = std::process::Command::new(env!("CARGO_BIN_EXE_fwnet"))
        .args(args)
        .env("FWNET_VERIFY_MUTATE", "no-family-dispatch")
        .output()
        .expect("run fwnet verify");
    assert_eq!(broken.status.code(), Some(1), "{}", text(&broken));
    assert!(mismatches(&broken) > 0);
}

/// The tables fwnet owns in the namespace, sorted (`ip fwnet_filter`, `inet fwnet_nat` ...).
fn owned_tables(ns: &Netns) -> Vec<String> {
    let listing = ns
        .exec("nft", &["list", "tables"])
        .expect("nft list tables");
    let mut tables: Vec<String> = listing
        .lines()
        .filter_map(|l| l.strip_prefix("table "))
        .filter(|t| t.contains(" fwnet_"))
        .map(str::to_string)
        .collect();
    tables.sort();
    tables
}

/// `import --inet` + `apply` gives one inet table per iptables table (filter from both files,
/// nat from the IPv4 one only); `status` and `diff` read it without drift; a per-family import
/// applied next removes it in the same transaction, `--inet` again removes the per-family
/// tables, and `rollback` brings back what ran before.
#[test]
fn inet_apply_gives_one_table_per_iptables_table_and_switching_replaces_the_old_tables() {
    let test =
        "inet_apply_gives_one_table_per_iptables_table_and_switching_replaces_the_old_tables";
    if !privileged(test) {
        return;
    }
    let v4 = format!(
        "{}*nat\n:PREROUTING ACCEPT [0:0]\n:POSTROUTING ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n\
         -A POSTROUTING -o eth0 -j MASQUERADE\n\
         -A PREROUTING -i eth0 -p tcp --dport 8080 -j DNAT --to-destination 10.0.0.2:80\nCOMMIT\n",
        std::fs::read_to_string(seed()).unwrap()
    );
    let v4 = scratch("nat.v4", &v4);
    let v6 = scratch("switch.v6", WEB_V6);
    let files = [v4.to_str().unwrap(), v6.to_str().unwrap()];
    let state = StateDir::new("inet");
    let import = |inet: bool| {
        let mut args = vec!["import", "--state-dir", state.arg()];
        if inet {
            args.push("--inet");
        }
        args.extend(files);
        ok(fwnet(&args));
    };
    let ns = Netns::new("inet").expect("namespace");
    let apply = || ok(fwnet_in(&ns, &["apply", "--state-dir", state.arg()], None));
    let inet = ["inet fwnet_filter", "inet fwnet_nat"];
    let per_family = ["ip fwnet_filter", "ip fwnet_nat", "ip6 fwnet_filter"];

    import(true);
    apply();
    assert_eq!(owned_tables(&ns), inet);
    let status = ok(fwnet_in(&ns, &["status", "--state-dir", state.arg()], None));
    assert!(status.contains("inet fwnet_filter"), "{status}");
    assert!(!status.to_lowercase().contains("drift"), "{status}");
    let diff = fwnet_in(&ns, &["diff", "--state-dir", state.arg()], None);
    assert_eq!(diff.status.code(), Some(0), "{}", text(&diff));

    import(false);
    apply();
    assert_eq!(owned_tables(&ns), per_family);

    import(true);
    apply();
    assert_eq!(owned_tables(&ns), inet);

    ok(fwnet_in(
        &ns,
        &["rollback", "--state-dir", state.arg()],
        None,
    ));
    assert_eq!(owned_tables(&ns), per_family);
}

/// `--inet` warns when one family tracks connections and the other does not: in one inet
/// table the kernel tracks both. Two stateful files give no such warning.
#[test]
fn inet_warns_when_only_one_family_tracks_connections() {
    let stateless = scratch(
        "stateless.v6",
        "*filter\n:INPUT DROP [0:0]\n:FORWARD DROP [0:0]\n:OUTPUT ACCEPT [0:0]\n\
         -A INPUT -p tcp --dport 22 -j ACCEPT\nCOMMIT\n",
    );
    let stateful = scratch("stateful.v6", WEB_V6);
    let seed = seed();
    let import = |v6: &PathBuf, tag: &str| {
        let state = StateDir::new(tag);
        let o = fwnet(&[
            "import",
            "--inet",
            "--state-dir",
            state.arg(),
            seed.to_str().unwrap(),
            v6.to_str().unwrap(),
        ]);
        assert!(o.status.success(), "import: {}", text(&o));
        text(&o)
    };
    let out = import(&stateless, "inet-warn");
    assert!(
        out.contains("stateless.v6:1:1: warning[import/inet-conntrack]")
            && out.contains("the ip6tables rules track no connections"),
        "{out}"
    );
    let out = import(&stateful, "inet-nowarn");
    assert!(!out.contains("import/inet-conntrack"), "{out}");
}

/// NAT in merged chains (DNAT, SNAT, MASQUERADE, REDIRECT of both families): the kernel holds
/// what `nft -f` of `fwnet show` gives it, apart from the `meta nfproto` tests nft adds of its
/// own. (Their lowering does not depend on the chain's family being kept in the state file;
/// TPROXY's does, which `tproxy_in_an_inet_table_applies_as_nft_loads_its_text` checks.)
#[test]
fn inet_nat_applies_as_nft_loads_its_text() {
    if !privileged("inet_nat_applies_as_nft_loads_its_text") {
        return;
    }
    let v4 = scratch(
        "both-nat.v4",
        "*nat\n:PREROUTING ACCEPT [0:0]\n:INPUT ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n:POSTROUTING ACCEPT [0:0]\n\
         -A PREROUTING -d 192.0.2.1/32 -p tcp -m tcp --dport 80 -j DNAT --to-destination 10.0.0.2:8080\n\
         -A PREROUTING -i eth1 -p tcp -m tcp --dport 3128 -j REDIRECT --to-ports 3129\n\
         -A POSTROUTING -s 10.0.0.0/8 -o eth0 -j MASQUERADE\n\
         -A POSTROUTING -s 10.1.0.0/16 -o eth0 -j SNAT --to-source 192.0.2.1\nCOMMIT\n",
    );
    let v6 = scratch(
        "both-nat.v6",
        "*nat\n:PREROUTING ACCEPT [0:0]\n:INPUT ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n:POSTROUTING ACCEPT [0:0]\n\
         -A PREROUTING -i eth1 -p tcp -m tcp --dport 3128 -j REDIRECT --to-ports 3129\n\
         -A POSTROUTING -s fd00::/8 -o eth0 -j MASQUERADE\n\
         -A POSTROUTING -s fd01::/16 -o eth0 -j SNAT --to-source 2001:db8::1\nCOMMIT\n",
    );
    let (a, b, shown) = crate::tproxy::inet_apply_and_nft(&v4, &v6, "inet-nat");
    assert!(
        a.iter().any(|l| l.contains("masq")) && a.iter().any(|l| l.contains("nat snat ip6")),
        "{a:#?}"
    );
    assert_eq!(a, b, "--- show:\n{shown}");
}
