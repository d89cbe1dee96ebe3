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
//! [`name_literals`] replaces, in every table with at least [`THRESHOLD`] literals, or with so
//! many rules that its literals' walks would add up to [`WALK_BUDGET`] steps, each literal
//! set of single values (`tcp dport { 80, 443 }`) by a lookup in a named constant set
//! (`tcp dport @lit3`), one set per distinct list and key type. The test is the same: a lookup
//! in a constant set matches exactly the values a literal lists (`!=` stays `!=`).
//!
//! Left as literals: lists with ranges or prefixes (nft 1.0.6 merges overlapping and adjacent
//! intervals of an anonymous set, but refuses them in a named one), interface wildcards (which
//! need an interval set), and key types other than ports, addresses, interface names,
//! protocols and ICMP types. Smaller tables keep their literals, which read better in
//! `fwnet show`.
//!
//! Named sets are not cheap either: the kernel finds a set by walking the table's list of sets
//! by name, once when the set is added and once for every rule that looks it up, so a batch
//! with N named sets costs N² steps of that walk. Measured (kernel 6.18, `fwnet apply` of the
//! generated 100k-rule file in a namespace, `--no-optimize`): its 11,875 three-port lists as
//! 7,500 named sets load in 9.7 s, the same lists written as one rule per port (118,750 rules,
//! no set) in 0.93 s. So where `expand` is asked for, short lists ([`EXPAND_MAX`] values or
//! fewer) go first: `tcp dport { 80, 443 } accept` becomes `tcp dport 80 accept` and `tcp
//! dport 443 accept`, and `tcp dport != { 80, 443 }` becomes `tcp dport != 80 tcp dport !=
//! 443` in the one rule. The copies are exact where `expand` makes them: the values are
//! distinct, so a packet matches at most one copy; the rule has no effect before the list
//! and keeps no state after it (`crate::dispatch::copyable`), so a copy that fails does
//! nothing and the one that matches does what the rule did; the counters the input gave stay
//! on the first copy, so their sum is the input's. Longer lists still become named sets.

use crate::ir::{CmpOp, Counters, DataType, Expr, Match, Rule, Set, SetFlags, Stmt, Table, Value};
use std::collections::HashMap;

/// Literals in one table from which they become named sets.
pub const THRESHOLD: usize = 500;

/// Literals times rules in one table from which they become named sets (or rules) even when
/// they are fewer than [`THRESHOLD`]: each literal's bind walks the batch, which is about as
/// long as the table, at 10-15 ns a step (kernel 6.18, `fwnet apply` in a namespace: 450
/// three-port lists cost a 10k-rule table 41 ms, a 50k-rule table 337 ms; a million steps is
/// about 10-15 ms).
pub const WALK_BUDGET: usize = 1_000_000;

/// Whether a table of `rules` rules with `literals` set literals gets named sets (and, where
/// asked, its short lists written out): [`THRESHOLD`] literals, or [`WALK_BUDGET`] steps of
/// the kernel's walk.
pub fn shares(literals: usize, rules: usize) -> bool {
    literals > 0 && (literals >= THRESHOLD || literals.saturating_mul(rules) >= WALK_BUDGET)
}

/// The longest list that [`name_literals`] writes as one rule (or one test) per value when
/// asked to expand: a few rule evaluations per packet cost about what a set lookup does.
pub const EXPAND_MAX: usize = 4;

/// What [`name_literals`] did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Shared {
    /// Named sets made.
    pub named: usize,
    /// Lists written as one rule or one test per value instead.
    pub expanded: usize,
}

/// In every table that [`shares`] its literals: with `expand`, writes the lists of
/// at most [`EXPAND_MAX`] values as one rule or one test per value where that keeps the
/// meaning (see the module documentation); then names the remaining literals.
/// `expand` is off for `--no-optimize`, which keeps one rule per input line.
pub fn name_literals(tables: &mut [Table], expand: bool) -> Shared {
    let mut done = Shared::default();
    for t in tables {
        let d = table(t, expand);
        done.named += d.named;
        done.expanded += d.expanded;
    }
    done
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
    (plain && nameable && !elems.is_empty()).then_some((*left, *op, &**elems))
}

/// The operator of a list `expand` can write one value at a time: a literal of at most
/// [`EXPAND_MAX`] values.
fn short_list(stmt: &Stmt) -> Option<CmpOp> {
    literal(stmt)
        .filter(|(_, _, elems)| elems.len() <= EXPAND_MAX)
        .map(|(_, op, _)| op)
}

/// The key and the distinct values of the literal `stmt` (a [`short_list`]), taking them out
/// of it.
fn take_values(stmt: &mut Stmt) -> (Expr, Vec<Value>) {
    let Stmt::Match(Match::Cmp {
        left,
        right: Value::Set(elems),
        ..
    }) = stmt
    else {
        unreachable!("a short list is a set literal")
    };
    let mut values = std::mem::take(elems).into_vec();
    values.sort();
    values.dedup();
    (*left, values)
}

fn zero_counters(rule: &mut Rule) {
    for s in &mut rule.stmts {
        if let Stmt::Counter(c) = s {
            *c = Counters::default();
        }
    }
}

fn test(left: Expr, op: CmpOp, right: Value) -> Stmt {
    Stmt::Match(Match::Cmp { left, op, right })
}

/// `rule` with its short `!=` lists written as one test per value, and then, when its first
/// short `==` list comes before any statement with an effect and the rule keeps no state, one
/// copy of it per value of that list; pushed onto `out`. Returns how many lists it wrote out.
fn expand(mut rule: Rule, out: &mut Vec<Rule>) -> usize {
    let mut done = 0;
    let mut i = 0;
    while i < rule.stmts.len() {
        if short_list(&rule.stmts[i]) == Some(CmpOp::Ne) {
            let (left, values) = take_values(&mut rule.stmts[i]);
            let n = values.len();
            let tests = values.into_iter().map(|v| test(left, CmpOp::Ne, v));
            rule.stmts.splice(i..=i, tests);
            done += 1;
            i += n;
        } else {
            i += 1;
        }
    }
    let first = rule
        .stmts
        .iter()
        .position(|s| !crate::fast_path::is_plain_test(s) || short_list(s) == Some(CmpOp::Eq));
    let Some(at) = first.filter(|&at| {
        short_list(&rule.stmts[at]) == Some(CmpOp::Eq) && crate::dispatch::copyable(&rule)
    }) else {
        out.push(rule);
        return done;
    };
    let (left, mut values) = take_values(&mut rule.stmts[at]);
    let last = values.pop().expect("a literal has a value");
    // The input's counters stay on the first copy; the last value takes the rule itself.
    let mut fresh = false;
    for v in values {
        let mut copy = rule.clone();
        copy.stmts[at] = test(left, CmpOp::Eq, v);
        if fresh {
            zero_counters(&mut copy);
        }
        fresh = true;
        out.push(copy);
    }
    rule.stmts[at] = test(left, CmpOp::Eq, last);
    if fresh {
        zero_counters(&mut rule);
    }
    out.push(rule);
    done + 1
}

fn table(t: &mut Table, expand_short: bool) -> Shared {
    // One look at every statement: how many literals, and which chains have any, and any
    // short one. Then one more pass over the chains that have them, which writes out the
    // short lists and names the rest rule by rule. (Four passes, each reading every rule's
    // statements from memory, were 6% of a 100k-rule import's time.)
    let mut count = 0;
    let mut has: Vec<(bool, bool)> = Vec::with_capacity(t.chains.len());
    for c in &t.chains {
        let (mut any, mut short) = (false, false);
        for (_, _, elems) in c.rules.iter().flat_map(|r| &r.stmts).filter_map(literal) {
            count += 1;
            any = true;
            short |= elems.len() <= EXPAND_MAX;
        }
        has.push((any, short));
    }
    let rules = t.chains.iter().map(|c| c.rules.len()).sum();
    if !shares(count, rules) {
        return Shared::default();
    }
    let mut namer = Namer {
        named: HashMap::new(),
        new_sets: Vec::new(),
        next: 0,
        taken: t.sets.iter().map(|s| s.name.clone()).collect(),
    };
    let mut expanded = 0;
    for (c, (any, short)) in t.chains.iter_mut().zip(has) {
        if expand_short && short {
            let rules = std::mem::take(&mut c.rules);
            let mut out = Vec::with_capacity(rules.len());
            for r in rules {
                let from = out.len();
                expanded += expand(r, &mut out);
                for rule in &mut out[from..] {
                    namer.rule(rule);
                }
            }
            c.rules = out;
        } else if any {
            for rule in &mut c.rules {
                namer.rule(rule);
            }
        }
    }
    let named = namer.new_sets.len();
    t.sets.extend(namer.new_sets);
    Shared { named, expanded }
}

/// The named sets of one table, one per key type and distinct list, in the order the rules
/// first use them.
struct Namer {
    named: HashMap<(DataType, Vec<Value>), String>,
    new_sets: Vec<Set>,
    next: usize,
    /// The names of the table's own sets.
    taken: Vec<String>,
}

impl Namer {
    /// Replaces each literal of `rule` by a lookup in its named set.
    fn rule(&mut self, rule: &mut Rule) {
        for stmt in &mut rule.stmts {
            let Some((left, op, elems)) = literal(stmt) else {
                continue;
            };
            let mut elements = elems.to_vec();
            elements.sort();
            elements.dedup();
            let key = (left.datatype(), elements);
            let name = match self.named.get(&key) {
                Some(name) => name.clone(),
                None => {
                    let name = loop {
                        let candidate = format!("lit{}", self.next);
                        self.next += 1;
                        if !self.taken.contains(&candidate) {
                            break candidate;
                        }
                    };
                    self.new_sets.push(Set {
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
                    self.named.insert(key, name.clone());
                    name
                }
            };
            *stmt = Stmt::Match(Match::Lookup {
                key: Box::new([left]),
                set: name.into(),
                op,
            });
        }
    }
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
        assert_eq!(table(&mut t, true), Shared::default());
        assert_eq!(t, before);
    }

    /// Fewer literals than [`THRESHOLD`] are shared too when the table is long enough for
    /// their walks to reach [`WALK_BUDGET`]: 100 lists among 9,900 other rules (1,000,000
    /// steps) are written out, among 9,899 (999,900) they stay literals.
    #[test]
    fn a_few_literals_in_a_long_table_are_shared_too() {
        let long = |others: u64| {
            let mut rules: Vec<Rule> = (0..100u64)
                .map(|i| rule(vec![ports(CmpOp::Eq, &[1000 + 3 * i, 1002 + 3 * i])]))
                .collect();
            let addr =
                |i: u64| Value::Addr(std::net::Ipv4Addr::from(0x0a00_0000 + i as u32).into());
            rules.extend((0..others).map(|i| {
                rule(vec![Stmt::Match(Match::Cmp {
                    left: Expr::Payload(Field::IpSaddr),
                    op: CmpOp::Eq,
                    right: addr(i),
                })])
            }));
            table_with(rules)
        };
        let mut t = long(9_900);
        assert_eq!(
            table(&mut t, true),
            Shared {
                named: 0,
                expanded: 100
            }
        );
        assert_eq!(t.chains[0].rules.len(), 10_100);
        let mut t = long(9_899);
        let before = t.clone();
        assert_eq!(table(&mut t, true), Shared::default());
        assert_eq!(t, before);
        assert!(!shares(0, usize::MAX), "no literal, nothing to share");
        assert!(shares(THRESHOLD, 1));
    }

    #[test]
    fn many_literals_become_shared_named_sets_without_expansion() {
        let mut rules: Vec<Rule> = (0..THRESHOLD as u64)
            .map(|i| rule(vec![ports(CmpOp::Eq, &[1000 + i, 2000 + i])]))
            .collect();
        // The same list in another order, negated, and a range that stays a literal.
        rules.push(rule(vec![ports(CmpOp::Ne, &[2000, 1000])]));
        let range = Stmt::Match(Match::Cmp {
            left: Expr::Payload(Field::TcpDport),
            op: CmpOp::Eq,
            right: Value::Set(Box::new([Value::Num(1), Value::Range(5, 9)])),
        });
        rules.push(rule(vec![range.clone()]));
        let mut t = table_with(rules);
        assert_eq!(
            table(&mut t, false),
            Shared {
                named: THRESHOLD,
                expanded: 0
            }
        );
        let stmts: Vec<&Stmt> = t.chains[0].rules.iter().map(|r| &r.stmts[0]).collect();
        let lookup = |set: &str, op| {
            Stmt::Match(Match::Lookup {
                key: Box::new([Expr::Payload(Field::TcpDport)]),
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

    #[test]
    fn short_lists_become_one_rule_or_one_test_per_value_where_that_is_exact() {
        use crate::ir::{Limit, Log, LogFlags, TimeUnit, Verdict};
        let counted = |mut r: Rule, packets: u64| {
            r.stmts.push(Stmt::Counter(Counters { packets, bytes: 9 }));
            r.stmts.push(Stmt::Verdict(Verdict::Accept));
            r
        };
        // Enough two-value lists to reach the threshold.
        let mut rules: Vec<Rule> = (0..THRESHOLD as u64)
            .map(|i| counted(rule(vec![ports(CmpOp::Eq, &[1000 + i, 2000 + i])]), 0))
            .collect();
        let at = rules.len();
        // A repeated value; input counters; `!=`; five values; a limit (state); a log before
        // the list (an effect the failing copies would repeat).
        rules.push(counted(rule(vec![ports(CmpOp::Eq, &[443, 80, 443])]), 7));
        rules.push(counted(rule(vec![ports(CmpOp::Ne, &[22, 25])]), 0));
        rules.push(counted(rule(vec![ports(CmpOp::Eq, &[1, 2, 3, 4, 5])]), 0));
        let limit = Stmt::Limit(Limit {
            rate: 1,
            unit: TimeUnit::Second,
            burst: 5,
            over: false,
        });
        rules.push(counted(rule(vec![ports(CmpOp::Eq, &[6, 7]), limit]), 0));
        let log = Stmt::Log(Box::new(Log {
            prefix: None,
            level: None,
            flags: LogFlags::default(),
            group: None,
            snaplen: None,
            queue_threshold: None,
        }));
        rules.push(counted(rule(vec![log, ports(CmpOp::Eq, &[8, 9])]), 0));
        let mut t = table_with(rules);
        let done = table(&mut t, true);
        // Every two-value list, the repeated one and the `!=` one are written out; the five
        // values, the limited rule and the logged one are named: three sets.
        assert_eq!(
            done,
            Shared {
                named: 3,
                expanded: THRESHOLD + 2
            }
        );
        let rules = &t.chains[0].rules;
        assert_eq!(rules.len(), 2 * THRESHOLD + 2 + 1 + 3);
        let first = |r: &Rule| r.stmts[0].clone();
        let counter = |r: &Rule| {
            r.stmts.iter().find_map(|s| match s {
                Stmt::Counter(c) => Some(c.packets),
                _ => None,
            })
        };
        let eq = |p: u64| test(Expr::Payload(Field::TcpDport), CmpOp::Eq, Value::Num(p));
        let ne = |p: u64| test(Expr::Payload(Field::TcpDport), CmpOp::Ne, Value::Num(p));
        assert_eq!((first(&rules[0]), first(&rules[1])), (eq(1000), eq(2000)));
        let x = 2 * at;
        assert_eq!((first(&rules[x]), first(&rules[x + 1])), (eq(80), eq(443)));
        assert_eq!(
            (counter(&rules[x]), counter(&rules[x + 1])),
            (Some(7), Some(0))
        );
        assert_eq!(&rules[x + 2].stmts[..2], &[ne(22), ne(25)]);
        for r in &rules[x + 3..] {
            assert!(
                r.stmts
                    .iter()
                    .any(|s| matches!(s, Stmt::Match(Match::Lookup { .. }))),
                "{r:?}"
            );
        }
        // Without expansion (`--no-optimize`) every list is named instead.
        let mut t = table_with(vec![
            counted(rule(vec![ports(CmpOp::Eq, &[80, 443])]), 0);
            THRESHOLD
        ]);
        assert_eq!(table(&mut t, false).expanded, 0);
        assert_eq!(t.chains[0].rules.len(), THRESHOLD);
    }
}
