//! Named sets instead of set literals, in tables with so many literals that the kernel's load
//! time suffers.
//!
//! Every anonymous set a rule binds makes the kernel walk the whole transaction list of the
//! batch (`__nft_set_trans_bind` marks the set's transactions bound, and does not stop at the
//! first one), so a batch with N anonymous sets and T transactions costs N × T: in a 100k-rule
//! table with 12k multiport lists that walk was most of a 100 s load. The kernel skips the walk
//! for a named set. Measured with `nft -f` in a namespace (kernel 6.18): 8,000 rules each with a
//! two-port literal load in 20.6 s; the same rules looking up 8,000 named constant sets, in
//! 5.4 s.
//!
//! [`name_literals`] replaces, in every table with at least [`THRESHOLD`] literals, each literal
//! set of single values (`tcp dport { 80, 443 }`) by a lookup in a named constant set
//! (`tcp dport @lit3`), one set per distinct list and key type. The test is the same: a lookup
//! in a constant set matches exactly the values a literal lists (`!=` stays `!=`).
//!
//! Left as literals: lists with ranges or prefixes (nft 1.0.6 merges overlapping and adjacent
//! intervals of an anonymous set, but refuses them in a named one), interface wildcards (which
//! need an interval set), and key types other than ports, addresses, interface names,
//! protocols and ICMP types. Smaller tables keep their literals, which read better in
//! `fwnet show`.

use crate::ir::{CmpOp, DataType, Expr, Match, Set, SetFlags, Stmt, Table, Value};
use std::collections::HashMap;

/// Literals in one table from which they become named sets.
pub const THRESHOLD: usize = 500;

/// Names the literals of every table that has at least [`THRESHOLD`] of them; returns how many
/// named sets were made.
pub fn name_literals(tables: &mut [Table]) -> usize {
    tables.iter_mut().map(table).sum()
}

/// A literal this pass names: its key, operator and elements.
fn literal(stmt: &Stmt) -> Option<(Expr, CmpOp, &[Value])> {
    let Stmt::Match(Match::Cmp {
        left,
        op,
        right: Value::Set(elems),
    }) = stmt
    else {
        return None;
    };
    let plain = elems.iter().all(|e| match e {
        Value::Num(_) | Value::Addr(_) => true,
        Value::Iface { wildcard, .. } => !wildcard,
        _ => false,
    });
    let nameable = matches!(
        left.datatype(),
        DataType::InetService
            | DataType::Ipv4Addr
            | DataType::Ipv6Addr
            | DataType::Ifname
            | DataType::InetProto
            | DataType::IcmpType
            | DataType::Icmpv6Type
    );
    (plain && nameable && !elems.is_empty()).then_some((*left, *op, elems.as_slice()))
}

fn table(t: &mut Table) -> usize {
    let count = t
        .chains
        .iter()
        .flat_map(|c| &c.rules)
        .flat_map(|r| &r.stmts)
        .filter(|s| literal(s).is_some())
        .count();
    if count < THRESHOLD {
        return 0;
    }
    // One set per key type and distinct list.
    let mut named: HashMap<(DataType, Vec<Value>), String> = HashMap::new();
    let mut new_sets: Vec<Set> = Vec::new();
    let mut next = 0usize;
    let taken: Vec<String> = t.sets.iter().map(|s| s.name.clone()).collect();
    for rule in t.chains.iter_mut().flat_map(|c| c.rules.iter_mut()) {
        for stmt in &mut rule.stmts {
            let Some((left, op, elems)) = literal(stmt) else {
                continue;
            };
            let mut elements = elems.to_vec();
            elements.sort();
            elements.dedup();
            let key = (left.datatype(), elements);
            let name = match named.get(&key) {
                Some(name) => name.clone(),
                None => {
                    let name = loop {
                        let candidate = format!("lit{next}");
                        next += 1;
                        if !taken.contains(&candidate) {
                            break candidate;
                        }
                    };
                    new_sets.push(Set {
                        name: name.clone(),
                        key: vec![left.datatype()],
                        flags: SetFlags {
                            constant: true,
                            ..SetFlags::default()
                        },
                        timeout_ms: None,
                        size: None,
                        elements: key.1.clone(),
                        typeof_key: Vec::new(),
                    });
                    named.insert(key, name.clone());
                    name
                }
            };
            *stmt = Stmt::Match(Match::Lookup {
                key: vec![left],
                set: name,
                op,
            });
        }
    }
    let made = new_sets.len();
    t.sets.extend(new_sets);
    made
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ir::{Chain, Family, Field, Rule};

    fn rule(stmts: Vec<Stmt>) -> Rule {
        Rule {
            stmts,
            comment: None,
            origin: None,
            merged: Vec::new(),
        }
    }

    fn ports(op: CmpOp, ps: &[u64]) -> Stmt {
        Stmt::Match(Match::Cmp {
            left: Expr::Payload(Field::TcpDport),
            op,
            right: Value::Set(ps.iter().map(|p| Value::Num(*p)).collect()),
        })
    }

    fn table_with(rules: Vec<Rule>) -> Table {
        Table {
            family: Family::Ip,
            name: "fwnet_filter".into(),
            chains: vec![Chain {
                name: "INPUT".into(),
                base: None,
                rules,
                family: None,
            }],
            sets: Vec::new(),
            ct_helpers: Vec::new(),
        }
    }

    #[test]
    fn small_tables_keep_their_literals() {
        let mut t = table_with(vec![rule(vec![ports(CmpOp::Eq, &[80, 443])])]);
        let before = t.clone();
        assert_eq!(table(&mut t), 0);
        assert_eq!(t, before);
    }

    #[test]
    fn many_literals_become_shared_named_sets() {
        let mut rules: Vec<Rule> = (0..THRESHOLD as u64)
            .map(|i| rule(vec![ports(CmpOp::Eq, &[1000 + i, 2000 + i])]))
            .collect();
        // The same list in another order, negated, and a range that stays a literal.
        rules.push(rule(vec![ports(CmpOp::Ne, &[2000, 1000])]));
        let range = Stmt::Match(Match::Cmp {
            left: Expr::Payload(Field::TcpDport),
            op: CmpOp::Eq,
            right: Value::Set(vec![Value::Num(1), Value::Range(5, 9)]),
        });
        rules.push(rule(vec![range.clone()]));
        let mut t = table_with(rules);
        assert_eq!(table(&mut t), THRESHOLD);
        let stmts: Vec<&Stmt> = t.chains[0].rules.iter().map(|r| &r.stmts[0]).collect();
        let lookup = |set: &str, op| {
            Stmt::Match(Match::Lookup {
                key: vec![Expr::Payload(Field::TcpDport)],
                set: set.into(),
                op,
            })
        };
        assert_eq!(stmts[0], &lookup("lit0", CmpOp::Eq));
        assert_eq!(stmts[THRESHOLD], &lookup("lit0", CmpOp::Ne));
        assert_eq!(stmts[THRESHOLD + 1], &range);
        assert_eq!(t.sets[0].elements, vec![Value::Num(1000), Value::Num(2000)]);
        assert!(t.sets[0].flags.constant && !t.sets[0].flags.interval);
        assert_eq!(t.sets[0].key, vec![DataType::InetService]);
    }
}
