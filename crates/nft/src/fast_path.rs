//! Rewrites that make the kernel evaluate the same tests faster, without changing what any
//! rule matches.
//!
//! nf_tables evaluates a rule's expressions in order and stops at the first test that fails,
//! and a few kinds of expression are evaluated inline by the rule loop (payload loads of 1, 2
//! or 4 aligned bytes, `cmp`, `bitwise`), while the others are function calls. Measured with
//! `perf` on the 10k mixed packet benchmark (kernel 6.18): loading an interface name (a 16-byte
//! string copy per rule) and the 3-byte load nft makes for an IPv4 /17../24 prefix (a call
//! into `skb_copy_bits`) were a quarter of the time spent in the rules. So:
//! - an IPv4 prefix test of length 17 to 24 becomes the masked test nft writes as
//!   `ip saddr & 255.255.255.0 == 172.16.5.0` (a 4-byte load and a `bitwise`, both inline;
//!   `nft list` prints it as the prefix again);
//! - interface name tests move after the other plain tests at the head of the rule, so a
//!   packet of another protocol or address fails before its interface name is copied.
//!
//! Exactness: a conjunction of tests that read the packet and change nothing is the same in
//! any order. Only the leading run of such tests is reordered: statements with side effects
//! (`numgen inc` counters, limits, set updates, counters, verdicts) and everything after the
//! first of them keep their places.

use crate::ir::{CmpOp, Expr, Field, Match, MetaKey, Stmt, Table, Value};
use std::net::{IpAddr, Ipv4Addr};

/// Applies both rewrites to every rule of `tables`.
pub fn tune(tables: &mut [Table]) {
    for rule in tables
        .iter_mut()
        .flat_map(|t| t.chains.iter_mut())
        .flat_map(|c| c.rules.iter_mut())
    {
        for stmt in &mut rule.stmts {
            if let Some(masked) = inline_prefix(stmt) {
                *stmt = masked;
            }
        }
        interfaces_last(&mut rule.stmts);
    }
}

/// `ip saddr|daddr [!=] A/L` with 17 <= L <= 24 as the masked test.
fn inline_prefix(stmt: &Stmt) -> Option<Stmt> {
    let Stmt::Match(Match::Cmp {
        left: left @ Expr::Payload(Field::IpSaddr | Field::IpDaddr),
        op,
        right: Value::Prefix {
            addr: IpAddr::V4(addr),
            len,
        },
    }) = stmt
    else {
        return None;
    };
    if !(17..=24).contains(len) {
        return None;
    }
    let mask = u32::MAX << (32 - u32::from(*len));
    Some(Stmt::Match(Match::Masked {
        left: *left,
        mask: Box::new(Value::Addr(IpAddr::V4(Ipv4Addr::from(mask)))),
        op: *op,
        value: Value::Addr(IpAddr::V4(Ipv4Addr::from(u32::from(*addr) & mask))),
    }))
}

/// A test that only reads the packet or its conntrack entry.
pub(crate) fn is_plain_test(stmt: &Stmt) -> bool {
    matches!(
        stmt,
        Stmt::Match(
            Match::Cmp { .. }
                | Match::Masked { .. }
                | Match::Flags { .. }
                | Match::Order { .. }
                | Match::Lookup { .. }
        )
    )
}

fn is_interface_test(stmt: &Stmt) -> bool {
    matches!(
        stmt,
        Stmt::Match(Match::Cmp {
            left: Expr::Meta(MetaKey::Iifname | MetaKey::Oifname),
            op: CmpOp::Eq | CmpOp::Ne,
            ..
        })
    )
}

/// Moves the interface tests of the leading run of plain tests to the end of that run,
/// keeping the order within each group.
fn interfaces_last(stmts: &mut [Stmt]) {
    let head = stmts.iter().take_while(|s| is_plain_test(s)).count();
    let run = &mut stmts[..head];
    if !run.iter().any(is_interface_test) || run.iter().all(is_interface_test) {
        return;
    }
    // A stable sort on "is an interface test" keeps each group's order.
    run.sort_by_key(is_interface_test);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ir::{Counters, Verdict};

    fn cmp(left: Expr, right: Value) -> Stmt {
        Stmt::Match(Match::Cmp {
            left,
            op: CmpOp::Eq,
            right,
        })
    }

    fn iif(name: &str) -> Stmt {
        cmp(
            Expr::Meta(MetaKey::Iifname),
            Value::Iface {
                name: name.into(),
                wildcard: false,
            },
        )
    }

    fn v4(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn prefixes_of_17_to_24_bits_become_masked_tests() {
        let prefix = |len| {
            cmp(
                Expr::Payload(Field::IpSaddr),
                Value::Prefix {
                    addr: v4("172.16.5.0"),
                    len,
                },
            )
        };
        assert_eq!(
            inline_prefix(&prefix(24)),
            Some(Stmt::Match(Match::Masked {
                left: Expr::Payload(Field::IpSaddr),
                mask: Box::new(Value::Addr(v4("255.255.255.0"))),
                op: CmpOp::Eq,
                value: Value::Addr(v4("172.16.5.0")),
            }))
        );
        assert!(inline_prefix(&prefix(20)).is_some());
        for len in [8, 16, 25, 32] {
            assert_eq!(inline_prefix(&prefix(len)), None, "/{len}");
        }
    }

    #[test]
    fn interface_tests_move_behind_the_other_tests_of_the_head() {
        let proto = cmp(Expr::Payload(Field::IpProtocol), Value::Num(6));
        let dport = cmp(Expr::Payload(Field::TcpDport), Value::Num(22));
        let counter = Stmt::Counter(Counters::default());
        let accept = Stmt::Verdict(Verdict::Accept);
        let mut stmts = vec![
            iif("eth1"),
            proto.clone(),
            dport.clone(),
            counter.clone(),
            accept.clone(),
        ];
        interfaces_last(&mut stmts);
        assert_eq!(
            stmts,
            vec![proto.clone(), dport, iif("eth1"), counter.clone(), accept]
        );
        // Nothing moves across a statement with a side effect.
        let mut stmts = vec![iif("eth1"), counter.clone(), proto.clone()];
        interfaces_last(&mut stmts);
        assert_eq!(stmts, vec![iif("eth1"), counter, proto]);
    }
}
