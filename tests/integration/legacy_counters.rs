//! `fwnet verify` reads the legacy side's counters from the kernel's ip_tables blobs
//! (`fwnet_apply::verify::legacy`): they must be the figures `iptables-legacy-save -c` prints,
//! chain by chain, for every table and both families.
//!
//! The ruleset is loaded with `iptables-legacy-restore -c` (the oracle), each rule and policy
//! with a counter of its own, so a rule read from the wrong entry shows.

use crate::netns::{privileged, Netns};
use fwnet_apply::verify::legacy::{self, Chain};
use fwnet_nft::Family;
use std::collections::BTreeMap;

/// An iptables-save file with counters: per table, built-in chains with and without rules,
/// user chains with rules, with an explicit RETURN as their last rule, and with none; rules
/// with matches and targets of every size. Every counter is distinct.
fn ruleset(v6: bool) -> String {
    let (host, net) = match v6 {
        true => ("2001:db8::1/128", "2001:db8:1::/64"),
        false => ("192.0.2.1/32", "198.51.100.0/24"),
    };
    let mut n = 0u64;
    let mut count = || {
        n += 1;
        format!("[{n}:{}]", n * 100)
    };
    let mut s = String::new();
    let tables: [(&str, &[&str]); 4] = [
        ("raw", &["PREROUTING", "OUTPUT"]),
        (
            "mangle",
            &["PREROUTING", "INPUT", "FORWARD", "OUTPUT", "POSTROUTING"],
        ),
        ("nat", &["PREROUTING", "INPUT", "OUTPUT", "POSTROUTING"]),
        ("filter", &["INPUT", "FORWARD", "OUTPUT"]),
    ];
    for (table, builtins) in tables {
        s.push_str(&format!("*{table}\n"));
        for chain in builtins {
            s.push_str(&format!(":{chain} ACCEPT {}\n", count()));
        }
        s.push_str(":SVC - [0:0]\n:EMPTY - [0:0]\n");
        // The first built-in chain gets rules; the others stay empty.
        let first = builtins[0];
        for rule in [
            format!("-A {first} -s {host} -j SVC"),
            format!("-A {first} -d {net} -p tcp -m tcp --dport 22 -m comment --comment \"ssh\" -j ACCEPT"),
            format!("-A {first} -p udp -m multiport --dports 53,123 -j EMPTY"),
            "-A SVC -m limit --limit 5/min -j LOG --log-prefix \"svc: \"".to_string(),
            "-A SVC -p tcp -j RETURN".to_string(),
        ] {
            s.push_str(&format!("{} {rule}\n", count()));
        }
        s.push_str("COMMIT\n");
    }
    s
}

/// Per table and chain: the policy's packet counter (None for a user chain) and each rule's.
type Tables = BTreeMap<String, BTreeMap<String, (Option<u64>, Vec<u64>)>>;

/// What `iptables-legacy-save -c` says of each table: its chains' policy counters (None for a
/// user chain's `-`) and each rule's packet counter.
fn saved(text: &str) -> Tables {
    let packets = |c: &str| {
        c.trim_matches(['[', ']'])
            .split(':')
            .next()
            .unwrap()
            .parse()
            .unwrap()
    };
    let mut tables: Tables = BTreeMap::new();
    let mut table = String::new();
    for line in text.lines() {
        if let Some(name) = line.strip_prefix('*') {
            table = name.to_string();
        } else if let Some(rest) = line.strip_prefix(':') {
            let w: Vec<&str> = rest.split_whitespace().collect();
            let policy = (w[1] != "-").then(|| packets(w[2]));
            tables
                .entry(table.clone())
                .or_default()
                .insert(w[0].to_string(), (policy, vec![]));
        } else if line.starts_with('[') {
            let w: Vec<&str> = line.split_whitespace().collect();
            let chain = tables.get_mut(&table).unwrap().get_mut(w[2]).unwrap();
            chain.1.push(packets(w[0]));
        }
    }
    tables
}

fn read_back_as_saved(test: &str, v6: bool) {
    if !privileged(test) {
        return;
    }
    let (restore, save, family) = match v6 {
        true => (
            "ip6tables-legacy-restore",
            "ip6tables-legacy-save",
            Family::Ip6,
        ),
        false => (
            "iptables-legacy-restore",
            "iptables-legacy-save",
            Family::Ip,
        ),
    };
    let ns = Netns::new("legacyctr").unwrap_or_else(|e| panic!("{e}"));
    ns.exec_stdin(restore, &["-c"], &ruleset(v6))
        .unwrap_or_else(|e| panic!("{e}"));
    let read = ns
        .try_run_in(|| legacy::read(family))
        .unwrap_or_else(|e| panic!("{e}"))
        .unwrap_or_else(|e| panic!("{e}"));
    let text = ns.exec(save, &["-c"]).unwrap_or_else(|e| panic!("{e}"));
    let want = saved(&text);
    let got: Tables = read
        .into_iter()
        .map(|(table, chains)| {
            let chains = chains
                .into_iter()
                .map(
                    |Chain {
                         name,
                         policy,
                         rules,
                     }| (name, (policy, rules)),
                )
                .collect();
            (table, chains)
        })
        .collect();
    assert_eq!(got, want, "{save} -c printed:\n{text}");
    // The counters were loaded: a reading of zeros would not tell entries apart.
    assert_eq!(got["filter"]["INPUT"].1.len(), 3);
    assert_eq!(got["filter"]["SVC"].1.len(), 2);
    assert!(got["filter"]["EMPTY"].1.is_empty());
    assert_eq!(got.len(), 4, "every table loaded");
}

#[test]
fn legacy_counters_read_from_the_kernel_are_those_iptables_save_prints() {
    read_back_as_saved(
        "legacy_counters_read_from_the_kernel_are_those_iptables_save_prints",
        false,
    );
}

#[test]
fn legacy_ip6_counters_read_from_the_kernel_are_those_ip6tables_save_prints() {
    read_back_as_saved(
        "legacy_ip6_counters_read_from_the_kernel_are_those_ip6tables_save_prints",
        true,
    );
}

#[test]
fn a_namespace_without_legacy_tables_reads_as_none() {
    let test = "a_namespace_without_legacy_tables_reads_as_none";
    if !privileged(test) {
        return;
    }
    let ns = Netns::new("legacynone").unwrap_or_else(|e| panic!("{e}"));
    for family in [Family::Ip, Family::Ip6] {
        let read = ns
            .try_run_in(|| legacy::read(family))
            .unwrap_or_else(|e| panic!("{e}"))
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(read, vec![], "{family:?}");
    }
}
