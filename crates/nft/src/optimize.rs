//! The optimizer: an IR-to-IR pass that compiles runs of consecutive rules into set lookups.
//!
//! A run is two or more rules next to each other in one chain that are the same rule except
//! for one `==` match on an address or port field, each with a single value (an address, a
//! prefix, a port, a port range, or an anonymous set of those, as multiport gives). The run
//! becomes its first rule with that match's value replaced by the anonymous set of every
//! value; [`crate::lower`] turns it into a constant (interval) set exactly as nft does for
//! `ip saddr { 1.2.3.4, 10.0.0.0/8 }`, so the kernel does one lookup instead of one compare
//! per rule.
//!
//! The merge keeps the meaning exactly, which is why it is narrow:
//! - only consecutive rules merge (a rule in between may decide first);
//! - every other statement must be equal, and so must the comment;
//! - `!=` never merges (`!= a` or `!= b` is not `!= { a, b }`);
//! - the rule must end with a verdict or `reject`; statements with effects other than the
//!   counter (log, limit, mark, nat, set updates) make a rule stay as it is;
//! - a run that jumps to another chain, after which the packet comes back and meets the next
//!   rule, merges only single addresses or ports that are all different, so no packet could
//!   have matched two of its rules.
//!
//! The price: the merged rule has one counter (the sum of the run's counters), so per-line
//! counters are gone; `fwnet import --no-optimize` keeps the one-to-one form. The other lines
//! a merged rule came from are kept in [`Rule::merged`] and printed in its trailing comment.
//!
//! Then long chains are split by protocol ([`crate::dispatch`]). This pass does not reorder
//! rules, build verdict maps, or touch named sets; it does no I/O and never fails.

use crate::ir::*;
use std::collections::HashSet;
use std::net::IpAddr;

/// What [`ruleset`] did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    pub rules_in: usize,
    pub rules_out: usize,
    /// Runs compiled into one rule each.
    pub runs: usize,
    /// Chains split by protocol ([`crate::dispatch`]).
    pub split_chains: usize,
}

/// Compiles every run of mergeable rules in every chain; see the module documentation.
pub fn ruleset(rs: &mut Ruleset) -> Stats {
    let mut stats = Stats::default();
    for chain in rs.tables.iter_mut().flat_map(|t| t.chains.iter_mut()) {
        stats.rules_in += chain.rules.len();
        let rules = std::mem::take(&mut chain.rules);
        chain.rules = rules_of_chain(rules, &mut stats);
        stats.rules_out += chain.rules.len();
    }
    stats.split_chains = crate::dispatch::split_by_protocol(&mut rs.tables);
    stats
}

fn rules_of_chain(mut rules: Vec<Rule>, stats: &mut Stats) -> Vec<Rule> {
    let mut out = Vec::with_capacity(rules.len());
    let mut i = 0;
    while i < rules.len() {
        match longest_run(&rules, i) {
            Some((k, end)) => {
                out.push(merge(&rules[i..end], k));
                stats.runs += 1;
                i = end;
            }
            None => {
                // Runs are only looked for from `i` on: the rule can be moved out.
                out.push(std::mem::take(&mut rules[i]));
                i += 1;
            }
        }
    }
    out
}

/// The statement index and end (exclusive) of the longest run starting at `start`, if it has
/// at least two rules.
fn longest_run(rules: &[Rule], start: usize) -> Option<(usize, usize)> {
    let first = &rules[start];
    let returns = match first.stmts.last() {
        Some(Stmt::Verdict(Verdict::Jump(_))) => true,
        Some(Stmt::Verdict(_) | Stmt::Reject(_)) => false,
        _ => return None,
    };
    let body = &first.stmts[..first.stmts.len() - 1];
    // A `numgen inc` test advances the rule's own counter: merged rules would share one.
    if body.iter().any(|s| {
        !matches!(s, Stmt::Match(_) | Stmt::Counter(_))
            || matches!(
                s,
                Stmt::Match(Match::Numgen {
                    kind: NumgenKind::Inc,
                    ..
                })
            )
    }) {
        return None;
    }
    let mut best: Option<(usize, usize)> = None;
    for (k, s) in first.stmts.iter().enumerate() {
        let Some(left) = candidate(s) else { continue };
        let mut seen = HashSet::new();
        if returns && !single_point(&first.stmts[k], &mut seen) {
            continue;
        }
        let mut end = start + 1;
        while end < rules.len()
            && same_but(first, &rules[end], k, left)
            && (!returns || single_point(&rules[end].stmts[k], &mut seen))
        {
            end += 1;
        }
        if end - start >= 2 && best.is_none_or(|(_, e)| end > e) {
            best = Some((k, end));
        }
    }
    best
}

/// The field of a mergeable match: `==` on an address or port with values a set can hold.
fn candidate(s: &Stmt) -> Option<Field> {
    let Stmt::Match(Match::Cmp {
        left: Expr::Payload(f),
        op: CmpOp::Eq,
        right,
    }) = s
    else {
        return None;
    };
    let ok = |v: &Value| match f {
        Field::IpSaddr | Field::IpDaddr => match v {
            Value::Addr(a) | Value::Prefix { addr: a, .. } => a.is_ipv4(),
            _ => false,
        },
        Field::Ip6Saddr | Field::Ip6Daddr => match v {
            Value::Addr(a) | Value::Prefix { addr: a, .. } => a.is_ipv6(),
            _ => false,
        },
        Field::TcpSport | Field::TcpDport | Field::UdpSport | Field::UdpDport => match v {
            Value::Num(n) => *n <= 0xffff,
            Value::Range(a, b) => a <= b && *b <= 0xffff,
            _ => false,
        },
        _ => false,
    };
    let fits = match right {
        Value::Set(elems) => !elems.is_empty() && elems.iter().all(ok),
        v => ok(v),
    };
    fits.then_some(*f)
}

/// Whether `b` is `a` except for the value of the mergeable match at `k` (on `field`) and the
/// counter values.
fn same_but(a: &Rule, b: &Rule, k: usize, field: Field) -> bool {
    a.comment == b.comment
        && a.stmts.len() == b.stmts.len()
        && candidate(&b.stmts[k]) == Some(field)
        && a.stmts.iter().zip(&b.stmts).enumerate().all(|(i, (x, y))| {
            i == k || x == y || matches!((x, y), (Stmt::Counter(_), Stmt::Counter(_)))
        })
}

/// For runs that jump: whether the match at `s` has one address or port, not seen before in
/// the run (then records it).
fn single_point(s: &Stmt, seen: &mut HashSet<(u128, bool)>) -> bool {
    let Stmt::Match(Match::Cmp { right, .. }) = s else {
        return false;
    };
    let point = match right {
        Value::Addr(IpAddr::V4(a)) => (u128::from(u32::from(*a)), false),
        Value::Addr(IpAddr::V6(a)) => (u128::from(*a), true),
        Value::Num(n) => (u128::from(*n), false),
        _ => return false,
    };
    seen.insert(point)
}

/// The run as one rule: the first rule, its match at `k` widened to every value of the run
/// (duplicates once, in ascending order), counters summed, the other origins recorded.
fn merge(run: &[Rule], k: usize) -> Rule {
    let mut out = run[0].clone();
    // Each element with its key, computed once: (start, kind, end) orders them the way the
    // lowering inserts them (the kernel lists a hash set's elements in insertion order, and
    // `nft -f` of the printed text must give the same set); equal keys are the same element.
    let mut keyed: Vec<((u128, u8, u128), &Value)> = Vec::new();
    for r in run {
        if let Stmt::Match(Match::Cmp { right, .. }) = &r.stmts[k] {
            let values = match right {
                Value::Set(vs) => vs.as_slice(),
                v => std::slice::from_ref(v),
            };
            keyed.extend(values.iter().map(|v| {
                let (kind, start, end) = element_key(v);
                ((start, kind, end), v)
            }));
        }
    }
    keyed.sort_unstable_by_key(|(key, _)| *key);
    keyed.dedup_by_key(|(key, _)| *key);
    let mut elems: Vec<Value> = keyed.into_iter().map(|(_, v)| v.clone()).collect();
    if let Stmt::Match(Match::Cmp { right, .. }) = &mut out.stmts[k] {
        *right = if elems.len() == 1 {
            elems.remove(0)
        } else {
            Value::Set(elems)
        };
    }
    for (i, s) in out.stmts.iter_mut().enumerate() {
        if let Stmt::Counter(sum) = s {
            for r in &run[1..] {
                if let Some(Stmt::Counter(c)) = r.stmts.get(i) {
                    sum.packets = sum.packets.saturating_add(c.packets);
                    sum.bytes = sum.bytes.saturating_add(c.bytes);
                }
            }
        }
    }
    for r in &run[1..] {
        out.merged.extend(r.origin.iter().cloned());
        out.merged.extend(r.merged.iter().cloned());
    }
    out
}

/// Identifies an element for de-duplication: kind, start, and length or end.
fn element_key(v: &Value) -> (u8, u128, u128) {
    let addr = |a: &IpAddr| match a {
        IpAddr::V4(a) => u128::from(u32::from(*a)),
        IpAddr::V6(a) => u128::from(*a),
    };
    match v {
        Value::Addr(a) => (0, addr(a), 0),
        Value::Prefix { addr: a, len } => (1, addr(a), u128::from(*len)),
        Value::Num(n) => (2, u128::from(*n), 0),
        Value::Range(a, b) => (3, u128::from(*a), u128::from(*b)),
        // `candidate` admits nothing else.
        _ => (255, 0, 0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::print;

    fn rule(line: u32, stmts: Vec<Stmt>) -> Rule {
        Rule {
            stmts,
            comment: None,
            origin: Some(Origin {
                file: "t".into(),
                line,
            }),
            merged: Vec::new(),
        }
    }

    fn addr_value(text: &str) -> Value {
        match text.split_once('/') {
            Some((a, len)) => Value::Prefix {
                addr: a.parse().expect("test address"),
                len: len.parse().expect("test prefix length"),
            },
            None => Value::Addr(text.parse().expect("test address")),
        }
    }

    fn cmp(field: Field, op: CmpOp, right: Value) -> Stmt {
        Stmt::Match(Match::Cmp {
            left: Expr::Payload(field),
            op,
            right,
        })
    }

    fn saddr(text: &str) -> Stmt {
        let field = if text.contains(':') {
            Field::Ip6Saddr
        } else {
            Field::IpSaddr
        };
        cmp(field, CmpOp::Eq, addr_value(text))
    }

    fn dport(right: Value) -> Stmt {
        cmp(Field::TcpDport, CmpOp::Eq, right)
    }

    fn tcp() -> Stmt {
        Stmt::Match(Match::Cmp {
            left: Expr::Meta(MetaKey::L4proto),
            op: CmpOp::Eq,
            right: Value::Num(6),
        })
    }

    fn counter(packets: u64) -> Stmt {
        Stmt::Counter(Counters {
            packets,
            bytes: packets * 100,
        })
    }

    const DROP: Stmt = Stmt::Verdict(Verdict::Drop);
    const ACCEPT: Stmt = Stmt::Verdict(Verdict::Accept);

    fn jump(chain: &str) -> Stmt {
        Stmt::Verdict(Verdict::Jump(chain.into()))
    }

    /// Optimizes one chain of `rules` and prints it as `fwnet show` does, one rule a line.
    fn check(rules: Vec<Rule>, want: &[&str]) {
        let mut rs = Ruleset {
            tables: vec![Table {
                family: Family::Ip,
                name: "fwnet_filter".into(),
                sets: Vec::new(),
                ct_helpers: Vec::new(),
                chains: vec![Chain {
                    name: "INPUT".into(),
                    base: None,
                    rules,
                    family: None,
                }],
            }],
        };
        let before = rs.tables[0].chains[0].rules.len();
        let stats = ruleset(&mut rs);
        let got: Vec<String> = rs.tables[0].chains[0]
            .rules
            .iter()
            .map(|r| {
                let origin = r.origin.as_ref().expect("test rules have an origin");
                format!(
                    "{} # {}",
                    print::rule_text(r),
                    print::origins(origin, &r.merged)
                )
            })
            .collect();
        assert_eq!(got, want);
        assert_eq!((stats.rules_in, stats.rules_out), (before, want.len()));
    }

    #[test]
    fn addresses_with_the_same_verdict_merge_and_counters_add_up() {
        check(
            vec![
                rule(5, vec![saddr("1.2.3.4"), counter(1), DROP]),
                rule(6, vec![saddr("10.0.0.0/8"), counter(2), DROP]),
                rule(7, vec![saddr("1.2.3.5"), counter(3), DROP]),
            ],
            &["ip saddr { 1.2.3.4, 1.2.3.5, 10.0.0.0/8 } counter packets 6 bytes 600 drop # t:5-7"],
        );
    }

    #[test]
    fn ipv6_addresses_and_prefixes_merge() {
        check(
            vec![
                rule(1, vec![saddr("2001:db8::1"), DROP]),
                rule(2, vec![saddr("2001:db8:1::/48"), DROP]),
            ],
            &["ip6 saddr { 2001:db8::1, 2001:db8:1::/48 } drop # t:1-2"],
        );
    }

    #[test]
    fn overlapping_and_adjacent_prefixes_are_kept_as_elements() {
        // The lowering merges them into intervals as nft does; the text keeps every line's value.
        check(
            vec![
                rule(1, vec![saddr("10.0.0.0/8"), DROP]),
                rule(2, vec![saddr("10.1.0.0/16"), DROP]),
                rule(3, vec![saddr("11.0.0.0/8"), DROP]),
                rule(4, vec![saddr("10.1.0.0/16"), DROP]),
            ],
            &["ip saddr { 10.0.0.0/8, 10.1.0.0/16, 11.0.0.0/8 } drop # t:1-4"],
        );
    }

    #[test]
    fn a_different_rule_in_between_breaks_the_run() {
        check(
            vec![
                rule(1, vec![saddr("1.1.1.1"), DROP]),
                rule(2, vec![saddr("1.1.1.2"), DROP]),
                rule(3, vec![saddr("1.1.1.3"), ACCEPT]),
                rule(4, vec![saddr("1.1.1.4"), DROP]),
                rule(5, vec![saddr("1.1.1.5"), DROP]),
            ],
            &[
                "ip saddr { 1.1.1.1, 1.1.1.2 } drop # t:1-2",
                "ip saddr 1.1.1.3 accept # t:3",
                "ip saddr { 1.1.1.4, 1.1.1.5 } drop # t:4-5",
            ],
        );
    }

    #[test]
    fn ports_and_multiport_lists_merge_into_one_set() {
        check(
            vec![
                rule(1, vec![tcp(), dport(Value::Num(22)), ACCEPT]),
                rule(2, vec![tcp(), dport(Value::Range(8000, 8080)), ACCEPT]),
                rule(
                    3,
                    vec![
                        tcp(),
                        dport(Value::Set(vec![Value::Num(80), Value::Num(443)])),
                        ACCEPT,
                    ],
                ),
                rule(4, vec![tcp(), dport(Value::Num(22)), ACCEPT]),
            ],
            &["meta l4proto tcp tcp dport { 22, 80, 443, 8000-8080 } accept # t:1-4"],
        );
    }

    #[test]
    fn negated_matches_do_not_merge() {
        let ne = |a: &str| cmp(Field::IpSaddr, CmpOp::Ne, addr_value(a));
        check(
            vec![
                rule(1, vec![ne("1.1.1.1"), DROP]),
                rule(2, vec![ne("1.1.1.2"), DROP]),
            ],
            &[
                "ip saddr != 1.1.1.1 drop # t:1",
                "ip saddr != 1.1.1.2 drop # t:2",
            ],
        );
    }

    #[test]
    fn different_comments_do_not_merge_equal_ones_do() {
        let with = |line, a: &str, c: &str| Rule {
            comment: Some(c.into()),
            ..rule(line, vec![saddr(a), DROP])
        };
        check(
            vec![
                with(1, "1.1.1.1", "x"),
                with(2, "1.1.1.2", "y"),
                with(3, "1.1.1.3", "y"),
            ],
            &[
                "ip saddr 1.1.1.1 drop comment \"x\" # t:1",
                "ip saddr { 1.1.1.2, 1.1.1.3 } drop comment \"y\" # t:2-3",
            ],
        );
    }

    #[test]
    fn statements_with_side_effects_do_not_merge() {
        let log = Stmt::Log(Log::default());
        let limit = Stmt::Limit(Limit {
            rate: 5,
            unit: TimeUnit::Second,
            burst: 5,
            over: false,
        });
        let mark = Stmt::MarkSet(MarkSet {
            dest: MarkKey::Meta,
            src: MarkKey::Meta,
            mask: 0,
            xor: 1,
        });
        for effect in [log, limit, mark] {
            check(
                vec![
                    rule(1, vec![saddr("1.1.1.1"), effect.clone(), ACCEPT]),
                    rule(2, vec![saddr("1.1.1.2"), effect.clone(), ACCEPT]),
                ],
                &[
                    &format!(
                        "ip saddr 1.1.1.1 {} accept # t:1",
                        print::rule_text(&rule(0, vec![effect.clone()]))
                    ),
                    &format!(
                        "ip saddr 1.1.1.2 {} accept # t:2",
                        print::rule_text(&rule(0, vec![effect.clone()]))
                    ),
                ],
            );
        }
    }

    #[test]
    fn rules_without_a_verdict_do_not_merge() {
        // Counting rules: their counters are their point.
        check(
            vec![
                rule(1, vec![saddr("1.1.1.1"), counter(0)]),
                rule(2, vec![saddr("1.1.1.2"), counter(0)]),
            ],
            &[
                "ip saddr 1.1.1.1 counter packets 0 bytes 0 # t:1",
                "ip saddr 1.1.1.2 counter packets 0 bytes 0 # t:2",
            ],
        );
    }

    #[test]
    fn jumps_merge_only_distinct_single_values() {
        // After the jump returns, a packet in 10.0.0.0/8 would meet the next rule too.
        check(
            vec![
                rule(1, vec![saddr("1.1.1.1"), jump("LOGDROP")]),
                rule(2, vec![saddr("1.1.1.2"), jump("LOGDROP")]),
                rule(3, vec![saddr("1.1.1.1"), jump("LOGDROP")]),
                rule(4, vec![saddr("10.0.0.0/8"), jump("LOGDROP")]),
                rule(5, vec![saddr("10.1.0.0/16"), jump("LOGDROP")]),
            ],
            &[
                "ip saddr { 1.1.1.1, 1.1.1.2 } jump LOGDROP # t:1-2",
                "ip saddr 1.1.1.1 jump LOGDROP # t:3",
                "ip saddr 10.0.0.0/8 jump LOGDROP # t:4",
                "ip saddr 10.1.0.0/16 jump LOGDROP # t:5",
            ],
        );
    }

    #[test]
    fn other_matches_must_be_equal_and_the_longest_run_wins() {
        let daddr = |a: &str| cmp(Field::IpDaddr, CmpOp::Eq, addr_value(a));
        check(
            vec![
                rule(1, vec![saddr("1.1.1.1"), daddr("9.9.9.9"), DROP]),
                rule(2, vec![saddr("1.1.1.1"), daddr("9.9.9.8"), DROP]),
                rule(3, vec![saddr("1.1.1.1"), daddr("9.9.9.7"), DROP]),
                rule(4, vec![saddr("1.1.1.2"), daddr("9.9.9.7"), DROP]),
            ],
            &[
                "ip saddr 1.1.1.1 ip daddr { 9.9.9.7, 9.9.9.8, 9.9.9.9 } drop # t:1-3",
                "ip saddr 1.1.1.2 ip daddr 9.9.9.7 drop # t:4",
            ],
        );
    }

    #[test]
    fn merging_twice_keeps_every_origin() {
        let mut first = rule(1, vec![saddr("1.1.1.1"), DROP]);
        first.stmts[0] = cmp(
            Field::IpSaddr,
            CmpOp::Eq,
            Value::Set(vec![addr_value("1.1.1.1"), addr_value("1.1.1.2")]),
        );
        first.merged = vec![Origin {
            file: "t".into(),
            line: 2,
        }];
        check(
            vec![first, rule(3, vec![saddr("1.1.1.3"), DROP])],
            &["ip saddr { 1.1.1.1, 1.1.1.2, 1.1.1.3 } drop # t:1-3"],
        );
    }
}
