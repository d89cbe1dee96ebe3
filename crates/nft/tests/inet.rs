//! The inet merge (`fwnet_nft::inet`) on translated iptables + ip6tables files: names,
//! renames where the families collide, rewritten references, the first rule of each base chain
//! and the policies, read from `fwnet show`'s text. It does not load anything into a kernel
//! (tests/integration/inet.rs does).
use expect_test::{expect, Expect};
use fwnet_nft::{inet::merge, BaseChain, Family, Policy, Ruleset};
use fwnet_translate::{Input, IpFamily, Options};

/// An iptables file and an ip6tables file with the names the two families share (a user
/// chain, a hashlimit set, a ct helper object), a policy with counters, and a nat table in
/// IPv4 only.
const V4: &str = "\
*raw
:PREROUTING ACCEPT [0:0]
-A PREROUTING -p tcp --dport 21 -j CT --helper ftp
COMMIT
*nat
:POSTROUTING ACCEPT [0:0]
-A POSTROUTING -o eth0 -j SNAT --to-source 192.0.2.1
COMMIT
*filter
:INPUT DROP [7:420]
:LOGDROP - [0:0]
-A INPUT -m state --state ESTABLISHED,RELATED -j ACCEPT
-A INPUT -p tcp --dport 22 -m hashlimit --hashlimit-upto 5/min --hashlimit-mode srcip --hashlimit-name ssh -j ACCEPT
-A INPUT -j LOGDROP
-A LOGDROP -j LOG --log-prefix \"v4 \"
-A LOGDROP -j DROP
COMMIT
";
const V6: &str = "\
*raw
:PREROUTING ACCEPT [0:0]
-A PREROUTING -p tcp --dport 21 -j CT --helper ftp
COMMIT
*filter
:INPUT ACCEPT [3:240]
:LOGDROP - [0:0]
-A INPUT -m state --state ESTABLISHED,RELATED -j ACCEPT
-A INPUT -p tcp --dport 22 -m hashlimit --hashlimit-upto 5/min --hashlimit-mode srcip --hashlimit-name ssh -j ACCEPT
-A INPUT -p ipv6-icmp -j ACCEPT
-A INPUT -j LOGDROP
-A LOGDROP -j LOG --log-prefix \"v6 \"
-A LOGDROP -j DROP
COMMIT
";

fn translated(files: &[(&str, IpFamily)]) -> Ruleset {
    translated_with(files, &Options::default())
}

fn translated_with(files: &[(&str, IpFamily)], options: &Options) -> Ruleset {
    let parsed: Vec<_> = files
        .iter()
        .enumerate()
        .map(|(i, (text, _))| fwnet_iptables::parse(&format!("f{i}"), text).0)
        .collect();
    let inputs: Vec<Input> = parsed
        .iter()
        .zip(files)
        .map(|(ruleset, (_, family))| Input {
            ruleset,
            family: *family,
        })
        .collect();
    let t = fwnet_translate::translate(&inputs, options);
    assert!(!t.has_errors(), "{:?}", t.diagnostics);
    t.ruleset
}

fn check(files: &[(&str, IpFamily)], expect: Expect) {
    let mut rs = translated(files);
    merge(&mut rs.tables);
    expect.assert_eq(&fwnet_nft::print::ruleset(&rs));
}

#[test]
fn pairs_become_one_inet_table_with_per_family_chains_and_renamed_collisions() {
    check(
        &[(V4, IpFamily::V4), (V6, IpFamily::V6)],
        expect![[r#"
            table inet fwnet_raw {
            	ct helper ftp-tcp_ip { type "ftp" protocol tcp; l3proto ip; }
            	ct helper ftp-tcp_ip6 { type "ftp" protocol tcp; l3proto ip6; }
            	chain PREROUTING_ip { type filter hook prerouting priority -300; policy accept;
            		meta nfproto ipv6 accept
            	}
            	chain PREROUTING_HELPER_ip { type filter hook prerouting priority -150; policy accept;
            		meta nfproto ipv6 accept
            		ip protocol tcp tcp dport 21 counter packets 0 bytes 0 ct status & expected == 0x0 ct helper set "ftp-tcp_ip" # f0:3
            	}
            	chain PREROUTING_ip6 { type filter hook prerouting priority -300; policy accept;
            		meta nfproto ipv4 accept
            	}
            	chain PREROUTING_HELPER_ip6 { type filter hook prerouting priority -150; policy accept;
            		meta nfproto ipv4 accept
            		meta l4proto tcp tcp dport 21 counter packets 0 bytes 0 ct status & expected == 0x0 ct helper set "ftp-tcp_ip6" # f1:3
            	}
            }
            table inet fwnet_nat {
            	chain POSTROUTING_ip { type nat hook postrouting priority 100; policy accept;
            		meta nfproto ipv6 accept
            		oifname "eth0" counter packets 0 bytes 0 snat ip to 192.0.2.1 # f0:7
            	}
            }
            table inet fwnet_filter {
            	set ssh_ip { type ipv4_addr; size 65535; flags dynamic,timeout; timeout 10000ms; }
            	set ssh_ip6 { type ipv6_addr; size 65535; flags dynamic,timeout; timeout 10000ms; }
            	chain INPUT_ip { type filter hook input priority 0; policy drop;
            		meta nfproto ipv6 accept
            		ct state established,related counter packets 0 bytes 0 accept # f0:12
            		ip protocol tcp tcp dport 22 update @ssh_ip { ip saddr limit rate 5/minute burst 5 packets } counter packets 0 bytes 0 accept # f0:13
            		counter packets 0 bytes 0 jump LOGDROP_ip # f0:14
            	}
            	chain LOGDROP_ip {
            		counter packets 0 bytes 0 log prefix "v4 " # f0:15
            		counter packets 0 bytes 0 drop # f0:16
            	}
            	chain INPUT_ip6 { type filter hook input priority 0; policy accept;
            		meta nfproto ipv4 accept
            		ct state established,related counter packets 0 bytes 0 accept # f1:8
            		meta l4proto tcp tcp dport 22 update @ssh_ip6 { ip6 saddr limit rate 5/minute burst 5 packets } counter packets 0 bytes 0 accept # f1:9
            		meta l4proto ipv6-icmp counter packets 0 bytes 0 accept # f1:10
            		counter packets 0 bytes 0 jump LOGDROP_ip6 # f1:11
            	}
            	chain LOGDROP_ip6 {
            		counter packets 0 bytes 0 log prefix "v6 " # f1:12
            		counter packets 0 bytes 0 drop # f1:13
            	}
            }
        "#]],
    );
}

/// Every base chain keeps its type, hook, priority, policy and the input's policy counters,
/// and records its family; the merged table keeps no ip or ip6 table behind.
#[test]
fn base_chains_keep_policies_and_counters() {
    let mut rs = translated(&[(V4, IpFamily::V4), (V6, IpFamily::V6)]);
    let before: Vec<(String, Family, BaseChain)> = rs
        .tables
        .iter()
        .flat_map(|t| {
            t.chains
                .iter()
                .filter_map(move |c| Some((c.name.clone(), t.family, c.base.clone()?)))
        })
        .collect();
    merge(&mut rs.tables);
    assert!(rs.tables.iter().all(|t| t.family == Family::Inet));
    let filter = rs
        .tables
        .iter()
        .find(|t| t.name == "fwnet_filter")
        .expect("filter table");
    for (name, family, base) in before {
        let suffix = if family == Family::Ip { "_ip" } else { "_ip6" };
        let merged = rs
            .tables
            .iter()
            .flat_map(|t| &t.chains)
            .find(|c| c.name == format!("{name}{suffix}"))
            .expect("renamed base chain");
        assert_eq!(merged.base.as_ref(), Some(&base), "{name}");
        assert_eq!(merged.family, Some(family), "{name}");
    }
    let input = |n: &str| filter.chains.iter().find(|c| c.name == n).expect(n);
    let counters = |n: &str| input(n).base.as_ref().and_then(|b| b.counters);
    assert_eq!(counters("INPUT_ip").map(|c| c.packets), Some(7));
    assert_eq!(counters("INPUT_ip6").map(|c| c.packets), Some(3));
    assert_eq!(
        input("INPUT_ip").base.as_ref().map(|b| b.policy),
        Some(Policy::Drop)
    );
    // Regular chains record their family too, and get no first rule.
    assert_eq!(input("LOGDROP_ip6").family, Some(Family::Ip6));
    assert_eq!(input("LOGDROP_ip6").rules.len(), 2);
}

/// A renamed set whose new name another set already has gets `_2`; references follow.
#[test]
fn renames_avoid_names_already_taken() {
    let v4 = "*filter\n:INPUT ACCEPT [0:0]\n\
-A INPUT -p tcp --dport 22 -m hashlimit --hashlimit-upto 5/min --hashlimit-mode srcip --hashlimit-name a -j ACCEPT\n\
COMMIT\n";
    let v6 = "*filter\n:INPUT ACCEPT [0:0]\n\
-A INPUT -p tcp --dport 22 -m hashlimit --hashlimit-upto 5/min --hashlimit-mode srcip --hashlimit-name a -j ACCEPT\n\
-A INPUT -p tcp --dport 23 -m hashlimit --hashlimit-upto 5/min --hashlimit-mode srcip --hashlimit-name a_ip -j ACCEPT\n\
COMMIT\n";
    check(
        &[(v4, IpFamily::V4), (v6, IpFamily::V6)],
        expect![[r#"
            table inet fwnet_filter {
            	set a_ip_2 { type ipv4_addr; size 65535; flags dynamic,timeout; timeout 10000ms; }
            	set a_ip6 { type ipv6_addr; size 65535; flags dynamic,timeout; timeout 10000ms; }
            	set a_ip { type ipv6_addr; size 65535; flags dynamic,timeout; timeout 10000ms; }
            	chain INPUT_ip { type filter hook input priority 0; policy accept;
            		meta nfproto ipv6 accept
            		ip protocol tcp tcp dport 22 update @a_ip_2 { ip saddr limit rate 5/minute burst 5 packets } counter packets 0 bytes 0 accept # f0:3
            	}
            	chain INPUT_ip6 { type filter hook input priority 0; policy accept;
            		meta nfproto ipv4 accept
            		frag frag-off != 0 return
            		meta l4proto tcp tcp dport 22 update @a_ip6 { ip6 saddr limit rate 5/minute burst 5 packets } counter packets 0 bytes 0 accept # f1:3
            		meta l4proto tcp tcp dport 23 update @a_ip { ip6 saddr limit rate 5/minute burst 5 packets } counter packets 0 bytes 0 accept # f1:4
            	}
            }
        "#]],
    );
}

/// The lockout guard's interpreter gives the merged table the per-family tables' verdicts: SSH
/// and other TCP from an IPv4 and an IPv6 client, new and established (the IPv4 policy drops,
/// the IPv6 one accepts, so a family leaking into the other's chain would show).
#[test]
fn eval_gives_the_merged_table_the_per_family_verdicts() {
    use fwnet_nft::eval::{hook, Packet};
    use fwnet_nft::{ct_state, tcp_flag, Hook};
    let per_family = translated(&[(V4, IpFamily::V4), (V6, IpFamily::V6)]);
    let mut merged = per_family.clone();
    merge(&mut merged.tables);
    let addrs = [
        ("198.51.100.7", "192.0.2.1"),
        ("2001:db8:9::7", "2001:db8::1"),
    ];
    let mut seen = Vec::new();
    for (src, dst) in addrs {
        for dport in [22, 80] {
            for ct in [ct_state::NEW, ct_state::ESTABLISHED] {
                let p = Packet::tcp(
                    src.parse().unwrap(),
                    40000,
                    dst.parse().unwrap(),
                    dport,
                    tcp_flag::SYN as u8,
                    ct,
                );
                let want = hook(&per_family, Hook::Input, &p).verdict;
                assert_eq!(hook(&merged, Hook::Input, &p).verdict, want, "{p:?}");
                seen.push(want);
            }
        }
    }
    // Not all one verdict: the comparison can tell the families apart.
    assert!(seen.windows(2).any(|w| w[0] != w[1]), "{seen:?}");
}

/// Every statement that names a set (a lookup, an update, a delete, a per-key connection
/// count; an add is renamed by the same arm as an update) names the renamed set of its own
/// family once both families had a set of that name.
#[test]
fn every_reference_to_a_renamed_set_follows_it() {
    use fwnet_nft::{Match, Stmt};
    const RULES: &str = "\
*filter
:INPUT ACCEPT [0:0]
-A INPUT -p tcp --dport 22 -m recent --name ssh --rcheck --seconds 60 -j DROP
-A INPUT -p tcp --dport 22 -m recent --name ssh --set -j ACCEPT
-A INPUT -p tcp --dport 23 -m recent --name ssh --remove -j ACCEPT
-A INPUT -p tcp --syn --dport 80 -m connlimit --connlimit-above 10 -j REJECT
COMMIT
";
    // `--remove` (the delete) is only approximated.
    let options = Options {
        allow_approximate: true,
        ..Options::default()
    };
    let mut rs = translated_with(&[(RULES, IpFamily::V4), (RULES, IpFamily::V6)], &options);
    merge(&mut rs.tables);
    let t = &rs.tables[0];
    let sets: Vec<&str> = t.sets.iter().map(|s| s.name.as_str()).collect();
    let mut kinds = std::collections::BTreeSet::new();
    for c in &t.chains {
        let family = if c.name.ends_with("_ip6") {
            "_ip6"
        } else {
            "_ip"
        };
        for s in c.rules.iter().flat_map(|r| &r.stmts) {
            let (kind, set): (&str, &str) = match s {
                Stmt::Match(Match::Lookup { set, .. }) => ("lookup", &**set),
                Stmt::SetUpdate { set, .. } => ("update", &**set),
                Stmt::SetAdd { set, .. } => ("add", &**set),
                Stmt::SetDelete { set, .. } => ("delete", &**set),
                Stmt::CtCount(c) => match &c.per_key {
                    Some(k) => ("ct count", &k.set),
                    None => continue,
                },
                _ => continue,
            };
            assert!(
                set.ends_with(family) && sets.contains(&set),
                "{kind} @{set} in {} (sets {sets:?})",
                c.name
            );
            kinds.insert(kind);
        }
    }
    assert_eq!(
        kinds.into_iter().collect::<Vec<_>>(),
        ["ct count", "delete", "lookup", "update"],
    );
}
