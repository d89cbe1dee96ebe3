//! Protocol dispatch: a long chain whose rules mostly test one L4 protocol each is split into
//! one chain per protocol, so that a packet walks only the rules that could match it.
//!
//! nf_tables walks a chain rule by rule, and a rule costs a few nanoseconds more than the same
//! rule costs iptables (measured on the 10k mixed packet benchmark, kernel 6.18: fwnet's
//! translation walked 10k rules at 0.66 of iptables-legacy's packets per second). Most rules of
//! a large ruleset begin with `-p tcp` or `-p udp`, which a packet of another protocol fails
//! anyway; after the split it does not meet them at all.
//!
//! For a chain `C` the pass makes, for each protocol P that at least [`MIN_RULES`] of its rules
//! test (`ip protocol P` / `meta l4proto P` among the plain tests at the head of the rule), a
//! regular chain `C_P` holding, in their order, the rules that test P and the rules that test
//! no protocol; and a chain `C_other` holding the rules that test no protocol or a protocol
//! without a chain of its own. `C` keeps only `ip protocol P goto C_P` for each P, then
//! `goto C_other`.
//!
//! In `C_P` for TCP and UDP, a rule's own `== P` test always passes. Where the rule needs the
//! protocol only for its ports, the test is dropped and the ports read as `th sport` / `th
//! dport` (`drop_protocol_test`): one load and compare fewer for every packet that walks the
//! rule (TCP through the 10k mixed benchmark: 1.03 -> 1.35 times iptables-legacy's packets per
//! second).
//!
//! Why this is exact: a packet of protocol P meets, in the original order, every rule that
//! could match it; the rules it skips test another protocol and could not. `goto` does not
//! come back: when `C_P` ends, or a rule in it returns, control goes where the end of `C` or a
//! `return` in `C` would have sent it (the caller, or the base chain's policy). Only rules
//! without state are copied into several chains; a chain in which a rule that tests no
//! protocol has state (a limit, a set update, a `numgen` counter) is left alone, since two
//! copies would keep two states. Copies keep their origin, and the `[packets:bytes]` the input
//! gave (only the first copy keeps them, so the sum is still the input's).
//!
//! Not split: chains under [`MIN_CHAIN`] rules, chains where more than half of the rules test
//! no protocol (they would be copied into every protocol chain), and chains that test the
//! protocol with different expressions.

use crate::fresh_name;
use crate::ir::{
    Chain, CmpOp, Counters, Expr, Field, Match, MetaKey, Rule, Stmt, Table, Value, Verdict,
};

/// Chains shorter than this stay as they are.
pub const MIN_CHAIN: usize = 64;
/// A protocol gets its own chain when at least this many rules test it.
pub const MIN_RULES: usize = 8;

/// Splits every chain of `tables` that qualifies; returns how many were split.
pub fn split_by_protocol(tables: &mut [Table]) -> usize {
    let mut split = 0;
    for t in tables {
        let mut added: Vec<Chain> = Vec::new();
        let mut names: Vec<String> = t.chains.iter().map(|c| c.name.clone()).collect();
        for c in &mut t.chains {
            if let Some(new) = split_chain(c, &mut names) {
                added.extend(new);
                split += 1;
            }
        }
        t.chains.extend(added);
    }
    split
}

/// The protocol test a rule's head makes: the expression and the protocol number.
fn protocol_of(rule: &Rule) -> Option<(Expr, u64)> {
    rule.stmts
        .iter()
        .take_while(|s| crate::fast_path::is_plain_test(s))
        .find_map(|s| match s {
            Stmt::Match(Match::Cmp {
                left: left @ (Expr::Payload(Field::IpProtocol) | Expr::Meta(MetaKey::L4proto)),
                op: CmpOp::Eq,
                right: Value::Num(p),
            }) => Some((*left, *p)),
            _ => None,
        })
}

/// A rule two copies of which behave as the one did: no statement keeps state between
/// packets.
pub(crate) fn copyable(rule: &Rule) -> bool {
    rule.stmts.iter().all(|s| match s {
        Stmt::Match(Match::Numgen { .. }) => false,
        Stmt::Match(_)
        | Stmt::Counter(_)
        | Stmt::Log(_)
        | Stmt::Reject(_)
        | Stmt::Verdict(_)
        | Stmt::MarkSet(_)
        | Stmt::PrioritySet(_)
        | Stmt::DscpSet { .. }
        | Stmt::Nat(_) => true,
        _ => false,
    })
}

fn split_chain(c: &mut Chain, names: &mut Vec<String>) -> Option<Vec<Chain>> {
    if c.rules.len() < MIN_CHAIN {
        return None;
    }
    let protos: Vec<Option<(Expr, u64)>> = c.rules.iter().map(protocol_of).collect();
    let agnostic = protos.iter().filter(|p| p.is_none()).count();
    if agnostic * 2 > c.rules.len() {
        return None;
    }
    let field = protos.iter().flatten().next()?.0;
    if protos.iter().flatten().any(|(e, _)| *e != field) {
        return None;
    }
    if c.rules
        .iter()
        .zip(&protos)
        .any(|(r, p)| p.is_none() && !copyable(r))
    {
        return None;
    }
    // Protocols with enough rules, the most tested first (the dispatch tests them in order).
    let mut counts: Vec<(u64, usize)> = Vec::new();
    for (_, p) in protos.iter().flatten() {
        match counts.iter_mut().find(|(q, _)| q == p) {
            Some((_, n)) => *n += 1,
            None => counts.push((*p, 1)),
        }
    }
    counts.retain(|(_, n)| *n >= MIN_RULES);
    counts.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    if counts.is_empty() {
        return None;
    }
    let own: Vec<u64> = counts.iter().map(|(p, _)| *p).collect();
    let in_own = |i: usize, p: u64| protos[i].is_none_or(|(_, q)| q == p);
    let in_other = |i: usize| protos[i].is_none_or(|(_, q)| !own.contains(&q));
    // How many chains each rule goes to: its last copy is moved, not cloned.
    let mut uses: Vec<usize> = (0..c.rules.len())
        .map(|i| own.iter().filter(|&&p| in_own(i, p)).count() + usize::from(in_other(i)))
        .collect();
    let mut rules = std::mem::take(&mut c.rules);
    let n = rules.len();
    // A rule copied into several chains keeps the input's counters in its first copy only.
    let mut copied = vec![false; n];
    let mut copy = |i: usize| {
        uses[i] = uses[i].saturating_sub(1);
        let mut r = if uses[i] == 0 {
            std::mem::take(&mut rules[i])
        } else {
            rules[i].clone()
        };
        if std::mem::replace(&mut copied[i], true) {
            for s in &mut r.stmts {
                if let Stmt::Counter(counters) = s {
                    *counters = Counters::default();
                }
            }
        }
        r
    };
    let mut chains = Vec::with_capacity(own.len() + 1);
    let mut dispatch = Vec::with_capacity(own.len() + 1);
    for p in &own {
        let name = fresh_name(names, &format!("{}_{}", c.name, protocol_name(*p)));
        let kept: Vec<usize> = (0..n).filter(|&i| in_own(i, *p)).collect();
        let rules = kept
            .into_iter()
            .map(|i| {
                let mut r = copy(i);
                if protos[i].is_some() {
                    drop_protocol_test(&mut r, field, *p);
                }
                r
            })
            .collect();
        chains.push(Chain {
            name: name.clone(),
            base: None,
            rules,
            family: c.family,
        });
        dispatch.push(goto_rule(
            vec![Stmt::Match(Match::Cmp {
                left: field,
                op: CmpOp::Eq,
                right: Value::Num(*p),
            })],
            name,
        ));
    }
    let other = fresh_name(names, &format!("{}_other", c.name));
    let kept: Vec<usize> = (0..n).filter(|&i| in_other(i)).collect();
    chains.push(Chain {
        name: other.clone(),
        base: None,
        rules: kept.into_iter().map(&mut copy).collect(),
        family: c.family,
    });
    dispatch.push(goto_rule(Vec::new(), other));
    c.rules = dispatch;
    Some(chains)
}

/// In the chain of protocol `p` (TCP or UDP), which only the dispatch's `field == p` test
/// leads to, a rule's own `field == p` test always passes: it is dropped, and the rule's port
/// tests read the transport header as `th sport` / `th dport`, for which nft adds no protocol
/// test of its own (as it does for `tcp dport`, so `fwnet show` still loads as the same
/// bytecode). A packet then fails a rule that tests only a port after one load and compare
/// instead of two of each. A rule that needs the protocol for anything else (TCP flags or
/// options, ICMP fields, `reject with tcp reset`, NAT to a port, set updates ...) keeps its
/// test.
fn drop_protocol_test(rule: &mut Rule, field: Expr, p: u64) {
    let ports = |f: Field| match (p, f) {
        (6, Field::TcpSport) | (17, Field::UdpSport) => Some(Field::ThSport),
        (6, Field::TcpDport) | (17, Field::UdpDport) => Some(Field::ThDport),
        _ => None,
    };
    // Loads the protocol does not matter to: the network header, meta, conntrack, routing.
    let plain = |e: &Expr| match e {
        Expr::Payload(f) => {
            ports(*f).is_some()
                || matches!(
                    f,
                    Field::IpProtocol
                        | Field::IpSaddr
                        | Field::IpDaddr
                        | Field::IpFragOff
                        | Field::Ip6Nexthdr
                        | Field::Ip6Saddr
                        | Field::Ip6Daddr
                        | Field::IpTtl
                        | Field::Ip6Hoplimit
                        | Field::IpLength
                        | Field::Ip6Length
                        | Field::IpDscp
                        | Field::Ip6Dscp
                        | Field::IpEcn
                        | Field::Ip6Ecn
                        | Field::IpTos
                )
        }
        Expr::Meta(_) | Expr::Ct(_) | Expr::Fib(_) | Expr::Rt(_) | Expr::FibOif(_) => true,
        Expr::NhWord(_) => true,
        Expr::Exthdr(_) => false,
    };
    let fits = rule.stmts.iter().all(|s| match s {
        Stmt::Match(m) => m.loads().iter().all(plain),
        Stmt::Reject(r) => !matches!(r, crate::ir::Reject::TcpReset),
        Stmt::Counter(_) | Stmt::Log(_) | Stmt::Verdict(_) | Stmt::Limit(_) => true,
        _ => false,
    });
    if !fits || !matches!(p, 6 | 17) {
        return;
    }
    let test = |s: &Stmt| {
        matches!(s, Stmt::Match(Match::Cmp { left, op: CmpOp::Eq, right: Value::Num(q) })
            if *left == field && *q == p)
    };
    rule.stmts.retain(|s| !test(s));
    let port = |e: &mut Expr| {
        if let Expr::Payload(f) = e {
            if let Some(th) = ports(*f) {
                *f = th;
            }
        }
    };
    for s in &mut rule.stmts {
        if let Stmt::Match(m) = s {
            m.loads_mut().iter_mut().for_each(port);
        }
    }
}

fn goto_rule(mut stmts: Vec<Stmt>, chain: String) -> Rule {
    stmts.push(Stmt::Verdict(Verdict::Goto(chain)));
    Rule {
        stmts,
        comment: None,
        origin: None,
        merged: Vec::new(),
    }
}

fn protocol_name(p: u64) -> String {
    match p {
        1 => "icmp".into(),
        6 => "tcp".into(),
        17 => "udp".into(),
        58 => "icmpv6".into(),
        132 => "sctp".into(),
        _ => format!("p{p}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::eval::{self, Packet};
    use crate::ir::{BaseChain, ChainKind, Family, Hook, Origin, Policy};
    use std::net::IpAddr;

    fn cmp(left: Expr, right: Value) -> Stmt {
        Stmt::Match(Match::Cmp {
            left,
            op: CmpOp::Eq,
            right,
        })
    }

    /// A chain of 120 rules, the kinds a large ruleset has: tcp and udp ports, icmp, address
    /// rules without a protocol, a jump and returns, with accept, drop and fall-through.
    fn input() -> Table {
        let file: std::sync::Arc<str> = "t.rules".into();
        let mut rules = Vec::new();
        for i in 0..120u64 {
            let mut stmts = Vec::new();
            let proto = match i % 5 {
                0 | 1 => Some(6),
                2 => Some(17),
                3 => Some(1),
                _ => None,
            };
            if let Some(p) = proto {
                stmts.push(cmp(Expr::Payload(Field::IpProtocol), Value::Num(p)));
            }
            match proto {
                Some(6) => stmts.push(cmp(Expr::Payload(Field::TcpDport), Value::Num(i % 7))),
                Some(17) => stmts.push(cmp(Expr::Payload(Field::UdpDport), Value::Num(i % 7))),
                _ => {
                    let a: IpAddr = format!("10.0.0.{}", i % 9).parse().unwrap();
                    stmts.push(cmp(Expr::Payload(Field::IpSaddr), Value::Addr(a)));
                }
            }
            stmts.push(Stmt::Counter(Counters {
                packets: i,
                bytes: 10 * i,
            }));
            stmts.push(Stmt::Verdict(match i % 4 {
                0 => Verdict::Accept,
                1 => Verdict::Drop,
                2 if i % 3 == 0 => Verdict::Jump("sub".into()),
                _ => Verdict::Return,
            }));
            // Some rules have no verdict at all: the packet goes on.
            if i % 11 == 0 {
                stmts.pop();
            }
            rules.push(Rule {
                stmts,
                comment: None,
                origin: Some(Origin {
                    file: file.clone(),
                    line: i as u32 + 1,
                }),
                merged: Vec::new(),
            });
        }
        let sub = Chain {
            name: "sub".into(),
            base: None,
            rules: vec![Rule {
                stmts: vec![
                    cmp(
                        Expr::Payload(Field::IpSaddr),
                        Value::Addr("10.0.0.4".parse().unwrap()),
                    ),
                    Stmt::Verdict(Verdict::Drop),
                ],
                comment: None,
                origin: None,
                merged: Vec::new(),
            }],
            family: None,
        };
        Table {
            family: Family::Ip,
            name: "fwnet_filter".into(),
            chains: vec![
                Chain {
                    name: "INPUT".into(),
                    base: Some(BaseChain {
                        kind: ChainKind::Filter,
                        hook: Hook::Input,
                        priority: 0,
                        policy: Policy::Accept,
                        counters: None,
                    }),
                    rules,
                    family: None,
                },
                sub,
            ],
            sets: Vec::new(),
            ct_helpers: Vec::new(),
        }
    }

    fn packets() -> Vec<Packet> {
        let mut out = Vec::new();
        for proto in [6u8, 17, 1, 47] {
            for src in 0..10 {
                for dport in 0..8 {
                    let saddr: IpAddr = format!("10.0.0.{src}").parse().unwrap();
                    let mut p = Packet::tcp(saddr, 1000, "10.9.9.9".parse().unwrap(), dport, 2, 0);
                    p.l4proto = proto;
                    out.push(p);
                }
            }
        }
        out
    }

    #[test]
    fn every_packet_gets_the_same_verdict_from_the_same_line_after_the_split() {
        let before = input();
        let mut after = vec![before.clone()];
        assert_eq!(split_by_protocol(&mut after), 1);
        let after = &after[0];
        let names: Vec<&str> = after.chains.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "INPUT",
                "sub",
                "INPUT_tcp",
                "INPUT_icmp",
                "INPUT_udp",
                "INPUT_other"
            ]
        );
        for p in packets() {
            let a = eval::chain(&before, "INPUT", &p);
            let b = eval::chain(after, "INPUT", &p);
            let line = |o: &eval::Outcome| {
                o.decided_by
                    .as_ref()
                    .map(|d| (d.rule.is_none(), d.origin.clone()))
            };
            assert_eq!((a.verdict, line(&a)), (b.verdict, line(&b)), "{p:?}");
        }
    }

    /// A nat prerouting chain of 70 DNAT rules: tcp and udp ports each to their own address,
    /// and every tenth a rule without a protocol (a source address), which the split copies
    /// into every protocol's chain.
    fn nat_prerouting() -> Table {
        use crate::ir::{Nat, NatAddr, NatKind};
        let rules = (0..70u64)
            .map(|i| {
                let mut stmts = Vec::new();
                match i % 10 {
                    9 => {
                        let a: IpAddr = format!("10.0.0.{}", i % 4).parse().unwrap();
                        stmts.push(cmp(Expr::Payload(Field::IpSaddr), Value::Addr(a)));
                    }
                    p => {
                        let (proto, port) = if p < 6 {
                            (6, Field::TcpDport)
                        } else {
                            (17, Field::UdpDport)
                        };
                        stmts.push(cmp(Expr::Payload(Field::IpProtocol), Value::Num(proto)));
                        stmts.push(cmp(Expr::Payload(port), Value::Num(i % 8)));
                    }
                }
                let to: IpAddr = format!("192.0.2.{i}").parse().unwrap();
                stmts.push(Stmt::Nat(Box::new(Nat {
                    kind: NatKind::Dnat,
                    addr: Some(NatAddr::Range(to, to)),
                    ports: None,
                    flags: Default::default(),
                })));
                Rule {
                    stmts,
                    comment: None,
                    origin: None,
                    merged: Vec::new(),
                }
            })
            .collect();
        Table {
            family: Family::Ip,
            name: "fwnet_nat".into(),
            chains: vec![Chain {
                name: "PREROUTING".into(),
                base: Some(BaseChain {
                    kind: ChainKind::Nat,
                    hook: Hook::Prerouting,
                    priority: -100,
                    policy: Policy::Accept,
                    counters: None,
                }),
                rules,
                family: None,
            }],
            sets: Vec::new(),
            ct_helpers: Vec::new(),
        }
    }

    #[test]
    fn every_new_connection_gets_the_same_mapping_after_a_nat_chain_is_split() {
        let before = nat_prerouting();
        let mut after = vec![before.clone()];
        assert_eq!(split_by_protocol(&mut after), 1);
        let names: Vec<&str> = after[0].chains.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "PREROUTING",
                "PREROUTING_tcp",
                "PREROUTING_udp",
                "PREROUTING_other"
            ]
        );
        let (mut mapped, mut by_address) = (0, 0);
        for p in packets() {
            let a = eval::chain(&before, "PREROUTING", &p);
            let b = eval::chain(&after[0], "PREROUTING", &p);
            assert_eq!((a.verdict, &a.nat), (b.verdict, &b.nat), "{p:?}");
            mapped += usize::from(a.nat.is_some());
            // A tcp or udp packet mapped by a rule without a protocol: the copies matter.
            by_address += usize::from(
                a.decided_by
                    .and_then(|d| d.rule)
                    .is_some_and(|r| r % 10 == 9 && matches!(p.l4proto, 6 | 17)),
            );
        }
        assert!(
            mapped > 100 && by_address >= 8,
            "{mapped} mapped, {by_address} by address"
        );
    }

    #[test]
    fn copies_keep_the_input_counters_once() {
        let mut t = vec![input()];
        split_by_protocol(&mut t);
        let total: u64 = t[0]
            .chains
            .iter()
            .flat_map(|c| &c.rules)
            .flat_map(|r| &r.stmts)
            .filter_map(|s| match s {
                Stmt::Counter(c) => Some(c.packets),
                _ => None,
            })
            .sum();
        assert_eq!(total, (0..120).sum::<u64>());
    }

    #[test]
    fn a_stateful_rule_without_protocol_keeps_the_chain_whole() {
        let mut t = input();
        let limit = Stmt::Limit(crate::ir::Limit {
            rate: 1,
            unit: crate::ir::TimeUnit::Second,
            burst: 5,
            over: false,
        });
        t.chains[0].rules[4].stmts.insert(1, limit);
        let before = t.clone();
        let mut tables = vec![t];
        assert_eq!(split_by_protocol(&mut tables), 0);
        assert_eq!(tables[0], before);
    }

    /// A rule of `stmts` then `accept`.
    fn rule(mut stmts: Vec<Stmt>) -> Rule {
        stmts.push(Stmt::Verdict(Verdict::Accept));
        Rule {
            stmts,
            comment: None,
            origin: None,
            merged: Vec::new(),
        }
    }

    #[test]
    fn rules_of_a_protocol_chain_lose_their_protocol_test_where_only_ports_need_it() {
        let proto = |p: u64| cmp(Expr::Payload(Field::IpProtocol), Value::Num(p));
        let port = |f: Field, n: u64| cmp(Expr::Payload(f), Value::Num(n));
        let saddr = cmp(
            Expr::Payload(Field::IpSaddr),
            Value::Addr("10.0.0.1".parse().unwrap()),
        );
        let strip = |p: u64, stmts: Vec<Stmt>| {
            let mut r = rule(stmts);
            drop_protocol_test(&mut r, Expr::Payload(Field::IpProtocol), p);
            r.stmts
        };
        // Ports of TCP and UDP, compared or looked up, become transport header ports.
        assert_eq!(
            strip(6, vec![saddr.clone(), proto(6), port(Field::TcpDport, 22)]),
            rule(vec![saddr.clone(), port(Field::ThDport, 22)]).stmts
        );
        assert_eq!(
            strip(
                17,
                vec![
                    proto(17),
                    port(Field::UdpSport, 53),
                    port(Field::UdpDport, 1024)
                ]
            ),
            rule(vec![port(Field::ThSport, 53), port(Field::ThDport, 1024)]).stmts
        );
        let lookup = |f: Field| {
            Stmt::Match(Match::Lookup {
                key: Box::new([Expr::Payload(Field::IpSaddr), Expr::Payload(f)]),
                set: "s".into(),
                op: CmpOp::Ne,
            })
        };
        assert_eq!(
            strip(6, vec![proto(6), lookup(Field::TcpDport)]),
            rule(vec![lookup(Field::ThDport)]).stmts
        );
        // A rule that needs the protocol for more than its ports keeps it, as does one whose
        // chain is not TCP's or UDP's, and one whose protocol test is for another protocol
        // (it would not be in this chain; nothing is guessed).
        let flags = Stmt::Match(Match::Masked {
            left: Expr::Payload(Field::TcpFlags),
            mask: Box::new(Value::Num(0x06)),
            op: CmpOp::Eq,
            value: Value::Num(0x02),
        });
        let reset = Stmt::Reject(crate::ir::Reject::TcpReset);
        let icmp = cmp(Expr::Payload(Field::IcmpType), Value::Num(8));
        let kept = [
            (6, vec![proto(6), port(Field::TcpDport, 22), flags]),
            (6, vec![proto(6), port(Field::TcpDport, 22), reset]),
            (1, vec![proto(1), icmp]),
            (6, vec![proto(17), port(Field::UdpDport, 53)]),
        ];
        for (p, stmts) in kept {
            let want = rule(stmts.clone()).stmts;
            assert_eq!(strip(p, stmts), want);
        }
    }
}
