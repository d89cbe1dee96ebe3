//! The optimizer: an IR-to-IR pass that compiles runs of consecutive rules into set lookups.
//!
//! A run is two or more rules next to each other in one chain that are the same rule except
//! for one `==` match on an address, port, protocol, ICMP type or code, or interface name,
//! each with a single value (an address, a prefix, a port, a port range, a protocol or ICMP
//! number, an exact interface name, or an anonymous set of those, as multiport gives). The run
//! becomes its first rule with that match's value replaced by the anonymous set of every
//! value; [`crate::lower`] turns it into a constant (interval) set exactly as nft does for
//! `ip saddr { 1.2.3.4, 10.0.0.0/8 }`, so the kernel does one lookup instead of one compare
//! per rule.
//!
//! The merge keeps the meaning exactly, which is why it is narrow:
//! - a rule joins a run from further down the chain only if it can move up past every rule in
//!   between: no packet can match both. The proof is a pair of `==` tests on one header field
//!   that the two rules hold with values that share no point (`tcp dport 80` against `tcp
//!   dport 22`, `meta l4proto udp` against `meta l4proto tcp`, `iifname "eth0"` against
//!   `iifname "eth1"`), where the rule in between has that test before any statement with an
//!   effect (a counter, a limit, a log...), so a packet of the moved rule never gets that far
//!   in it. The fields are those no statement can change: addresses, ports, protocols, ICMP
//!   type and code, interface names. A run looks at most [`REACH`] rules past its last member,
//!   moves past at most [`HARD_BLOCKERS`] rules that it must check member by member, and ends
//!   at a rule of its own form that cannot move up;
//!   runs that jump never move (the packet comes back and meets the rules in between);
//! - every other statement must be equal, and so must the comment;
//! - `!=` never merges (`!= a` or `!= b` is not `!= { a, b }`);
//! - the rule must end with a verdict, `reject` or a NAT statement (`dnat`, `snat`,
//!   `masquerade`, `redirect`: it ends the rule like an accept, so runs of port forwards or of
//!   masquerades with one target merge like runs of accepts; a NAT chain only sees the first
//!   packet of a connection, so this speeds up setting connections up, not their packets);
//!   statements with effects other than the counter (log, limit, mark, set updates) make a
//!   rule stay as it is;
//! - a run that jumps to another chain, after which the packet comes back and meets the next
//!   rule, merges only single addresses, ports or interface names that are all different, so
//!   no packet could have matched two of its rules (`oifname { "br-1", "docker0" } jump
//!   DOCKER`).
//!
//! The price: the merged rule has one counter (the sum of the run's counters, of every verdict
//! for a verdict map), so per-line counters are gone; `fwnet import --no-optimize` keeps the
//! one-to-one form. The other lines
//! a merged rule came from are kept in [`Rule::merged`] and printed in its trailing comment.
//!
//! Then runs of at least [`VMAP_MIN_RULES`] consecutive rules that are the same but for that
//! one value and their verdict (`tcp dport 22 jump ssh`, `tcp dport { 80, 443 } jump web`,
//! `tcp dport 8000-8080 drop`, ...) become one rule: the value test widened to every value,
//! so its one counter counts only the run's packets, then a verdict map, `tcp dport vmap { 22 :
//! jump ssh, 80 : jump web, ... }` ([`Stmt::Vmap`]). Only where no two values share a point: a
//! packet matches at most one rule of the run, so which comes first does not matter, and after
//! a `jump` it comes back to the rule after the run, as before it came back to the next member,
//! which it could not match. A packet that matches none now makes two lookups instead of one
//! test per rule.
//!
//! Then long chains are split by protocol ([`crate::dispatch`]). This pass reorders rules only
//! as above and does not touch named sets; it does no I/O and never fails.

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
    /// Runs with different verdicts compiled into one rule with a verdict map each.
    pub maps: usize,
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

/// How many rules (not yet merged) a run looks past its last member for more members.
pub const REACH: usize = 8;
/// How many rules a run's later members may move past that have to be checked member by
/// member (rules that only the merged field tells apart from the run).
pub const HARD_BLOCKERS: usize = 8;

fn rules_of_chain(rules: Vec<Rule>, stats: &mut Stats) -> Vec<Rule> {
    let plan = plan(&rules);
    let mut slots: Vec<Option<Rule>> = rules.into_iter().map(Some).collect();
    let mut out = Vec::with_capacity(plan.len());
    for step in plan {
        match step {
            Step::Keep(i) => out.extend(slots[i].take()),
            Step::Merge(k, members) => {
                let run: Vec<&Rule> = members.iter().filter_map(|&m| slots[m].as_ref()).collect();
                out.push(merge(&run, k));
                stats.runs += 1;
            }
        }
    }
    verdict_maps(out, stats)
}

/// The most entries a verdict map is built with (the disjointness check compares every pair).
pub const VMAP_MAX: usize = 256;
/// The fewest rules a verdict map is built from. The map's rule makes two lookups (the
/// counted test, then the map) and counts the packets of every verdict together, so a run of
/// two or three rules gains next to nothing for what its counters lose.
pub const VMAP_MIN_RULES: usize = 4;

/// Compiles each run of at least [`VMAP_MIN_RULES`] consecutive rules that are the same but
/// for the value of one mergeable test and their verdict, with at least two different
/// verdicts, into one rule: the test widened to every value (so the rule's one counter counts
/// only the run's packets), then a verdict map from each value to its rule's verdict. Exact when no two
/// values share a point: a packet then matches at most one rule of the run, gets that rule's
/// verdict, and after a `jump` comes back to the rule after the run, as it came back to the
/// next member before, which it could not match.
fn verdict_maps(rules: Vec<Rule>, stats: &mut Stats) -> Vec<Rule> {
    // (start, statement index, length) of each run, found on the rules in place.
    let mut runs: Vec<(usize, usize, usize)> = Vec::new();
    let mut spans = Vec::new();
    let mut i = 0;
    while i < rules.len() {
        match map_run(&rules[i..], &mut spans) {
            MapRun::Map(k, len) => {
                runs.push((i, k, len));
                i += len;
            }
            // A run starting inside a stretch that failed would be part of it: this misses
            // few maps, and keeps the scan linear in the number of rules.
            MapRun::No(stretch) => i += stretch.max(1),
        }
    }
    if runs.is_empty() {
        return rules;
    }
    stats.maps += runs.len();
    let mut out = Vec::with_capacity(rules.len());
    let mut runs = runs.into_iter().peekable();
    let mut pending: Vec<Rule> = Vec::new();
    for (i, rule) in rules.into_iter().enumerate() {
        match runs.peek() {
            Some(&(start, k, len)) if i >= start => {
                pending.push(rule);
                if pending.len() == len {
                    let run: Vec<&Rule> = pending.iter().collect();
                    out.push(map_merge(&run, k));
                    pending.clear();
                    runs.next();
                }
            }
            _ => out.push(rule),
        }
    }
    out
}

/// What [`map_run`] found at the head of the rules.
enum MapRun {
    /// A run: the statement index of its value test and its length.
    Map(usize, usize),
    /// None; the longest stretch of rules that fit together, though too few or of one verdict.
    No(usize),
}

/// The longest verdict-map run at the head of `rules`; `spans` is scratch space.
fn map_run(rules: &[Rule], spans: &mut Vec<(u128, u128)>) -> MapRun {
    let Some(first) = rules.first() else {
        return MapRun::No(0);
    };
    let Some(Stmt::Verdict(first_verdict)) = first.stmts.last() else {
        return MapRun::No(1);
    };
    // Most rules fail here, cheaply: the next few rules do not even have their shape.
    let shaped = |r: &Rule| {
        r.stmts.len() == first.stmts.len()
            && r.comment == first.comment
            && matches!(r.stmts.last(), Some(Stmt::Verdict(_)))
    };
    if rules.len() < VMAP_MIN_RULES || !rules[1..VMAP_MIN_RULES].iter().all(shaped) {
        return MapRun::No(1);
    }
    let body = &first.stmts[..first.stmts.len() - 1];
    if !mergeable_body(body) {
        return MapRun::No(1);
    }
    let mut best: Option<(usize, usize)> = None;
    let mut stretch = 1;
    for (k, s) in body.iter().enumerate() {
        let Some(field) = candidate(s) else { continue };
        spans.clear();
        // Whether a member's verdict differs from the first's.
        let mut two_verdicts = false;
        let mut len = 0;
        for r in rules {
            let Some(Stmt::Verdict(v)) = r.stmts.last() else {
                break;
            };
            if len > 0 && !same_body_but(first, r, k, field) {
                break;
            }
            let Stmt::Match(Match::Cmp { right, .. }) = &r.stmts[k] else {
                break;
            };
            let values = elements(right);
            let before = spans.len();
            spans.extend(values.iter().map_while(span));
            if spans.len() != before + values.len()
                || spans.len() > VMAP_MAX
                || !all_apart(&spans[..before], &spans[before..])
            {
                break;
            }
            two_verdicts |= v != first_verdict;
            len += 1;
        }
        if two_verdicts && len >= VMAP_MIN_RULES && best.is_none_or(|(_, l)| len > l) {
            best = Some((k, len));
        }
        stretch = stretch.max(len);
    }
    match best {
        Some((k, len)) => MapRun::Map(k, len),
        None => MapRun::No(stretch),
    }
}

/// Whether the statements of a rule before its verdict are only tests and counters, none a
/// `numgen inc` test (which advances the rule's own counter: merged rules would share one).
fn mergeable_body(body: &[Stmt]) -> bool {
    body.iter().all(|s| match s {
        Stmt::Match(Match::Numgen {
            kind: NumgenKind::Inc,
            ..
        }) => false,
        Stmt::Match(_) | Stmt::Counter(_) => true,
        _ => false,
    })
}

/// Whether no span of `new` shares a point with another of `new` or with one of `old`.
fn all_apart(old: &[(u128, u128)], new: &[(u128, u128)]) -> bool {
    let apart = |a: &(u128, u128), b: &(u128, u128)| a.1 < b.0 || b.1 < a.0;
    new.iter()
        .enumerate()
        .all(|(i, n)| old.iter().all(|o| apart(o, n)) && new[..i].iter().all(|m| apart(m, n)))
}

/// What [`same_body_but`] compares, but for the values of `==` tests and of counters, folded
/// into a number: two rules of different shapes are never the same but for one value, and
/// most rules a run looks at are told from its first by their shapes alone.
fn shape(r: &Rule) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = crate::Fold::default();
    r.stmts.len().hash(&mut h);
    r.comment.is_some().hash(&mut h);
    for s in r.stmts.iter().take(r.stmts.len().saturating_sub(1)) {
        std::mem::discriminant(s).hash(&mut h);
        if let Stmt::Match(m) = s {
            std::mem::discriminant(m).hash(&mut h);
            if let Match::Cmp { left, op, .. } = m {
                left.hash(&mut h);
                std::mem::discriminant(op).hash(&mut h);
            }
        }
    }
    h.finish()
}

/// Whether `b` is `a` except for the value of the mergeable match at `k` (on `field`), the
/// counter values and the last statement (the verdict).
fn same_body_but(a: &Rule, b: &Rule, k: usize, field: &Expr) -> bool {
    let Some(n) = a.stmts.len().checked_sub(1) else {
        return false;
    };
    a.comment == b.comment
        && a.stmts.len() == b.stmts.len()
        && candidate(&b.stmts[k]) == Some(field)
        && a.stmts[..n]
            .iter()
            .zip(&b.stmts[..n])
            .enumerate()
            .all(|(i, (x, y))| {
                i == k || x == y || matches!((x, y), (Stmt::Counter(_), Stmt::Counter(_)))
            })
}

/// A verdict-map run as one rule: [`merge`]'s rule (the test at `k` widened to every value,
/// counters summed, origins recorded) ending in a verdict map of each value to its rule's
/// verdict.
fn map_merge(run: &[&Rule], k: usize) -> Rule {
    let Stmt::Match(Match::Cmp { left: key, .. }) = run[0].stmts[k] else {
        unreachable!("map_run admits only runs whose statement k is an `==` test (candidate)");
    };
    let mut out = merge(run, k);
    let mut map: Vec<VmapEntry> = Vec::new();
    for r in run {
        let (Stmt::Match(Match::Cmp { right, .. }), Some(Stmt::Verdict(v))) =
            (&r.stmts[k], r.stmts.last())
        else {
            continue;
        };
        let values = elements(right);
        map.extend(values.iter().map(|value| VmapEntry {
            value: value.clone(),
            verdict: v.clone(),
        }));
    }
    map.sort_by(|a, b| order(&a.value).cmp(&order(&b.value)));
    if let Some(last) = out.stmts.last_mut() {
        *last = Stmt::Vmap { key, map };
    }
    out
}

/// What becomes of the rules of a chain, in the order of the output.
enum Step {
    /// The rule at this index, as it is.
    Keep(usize),
    /// The rules at these indices (the first where the merged rule goes), merged on their
    /// test at the statement index.
    Merge(usize, Vec<usize>),
}

/// A chain's rules and, computed once each when first asked for, their tests.
struct Scan<'a> {
    rules: &'a [Rule],
    /// Each rule's [`shape`].
    shapes: Vec<u64>,
    /// Rules already merged into an earlier run (moved up), or already out.
    taken: Vec<bool>,
    early: Vec<std::cell::OnceCell<Tests<'a>>>,
    all: Vec<std::cell::OnceCell<Tests<'a>>>,
}

/// [`fixed_eq`] tests with their values.
type Tests<'a> = Vec<(&'a Expr, &'a Value)>;

impl<'a> Scan<'a> {
    fn early(&self, r: usize) -> &Tests<'a> {
        self.early[r].get_or_init(|| early_tests(&self.rules[r]))
    }

    fn all(&self, r: usize) -> &Tests<'a> {
        self.all[r].get_or_init(|| fixed_tests(self.rules[r].stmts.iter()))
    }
}

fn plan(rules: &[Rule]) -> Vec<Step> {
    let mut chain = Scan {
        rules,
        shapes: rules.iter().map(shape).collect(),
        taken: vec![false; rules.len()],
        early: std::iter::repeat_with(Default::default)
            .take(rules.len())
            .collect(),
        all: std::iter::repeat_with(Default::default)
            .take(rules.len())
            .collect(),
    };
    let mut plan = Vec::with_capacity(rules.len());
    let mut scratch = Scratch::default();
    for i in 0..rules.len() {
        if chain.taken[i] {
            continue;
        }
        chain.taken[i] = true;
        match longest_run(&chain, i, &mut scratch) {
            Some((k, members)) => {
                for &m in &members {
                    chain.taken[m] = true;
                }
                plan.push(Step::Merge(k, members));
            }
            // Runs are only looked for from `i` on: the rule goes out as it is.
            None => plan.push(Step::Keep(i)),
        }
    }
    plan
}

/// Lists [`longest_run`] reuses from one rule to the next.
#[derive(Default)]
struct Scratch {
    /// Rules passed since the last member, not yet looked at (most scans find no further
    /// member, and then nothing needs proving).
    pending: Vec<usize>,
    /// Rules the members pass that only the merged field may tell apart from them.
    hard: Vec<usize>,
}

/// The statement index and the members (indices into the chain's rules, `start` first) of
/// the largest run starting at `start`, if it has at least two rules.
fn longest_run(
    chain: &Scan<'_>,
    start: usize,
    scratch: &mut Scratch,
) -> Option<(usize, Vec<usize>)> {
    let rules = chain.rules;
    let first = &rules[start];
    let returns = match first.stmts.last() {
        Some(Stmt::Verdict(Verdict::Jump(_))) => true,
        Some(Stmt::Verdict(_) | Stmt::Reject(_) | Stmt::Nat(_)) => false,
        _ => return None,
    };
    let body = &first.stmts[..first.stmts.len() - 1];
    if !mergeable_body(body) {
        return None;
    }
    let mut best: Option<(usize, Vec<usize>)> = None;
    for (k, s) in first.stmts.iter().enumerate() {
        let Some(left) = candidate(s) else { continue };
        let mut seen = HashSet::new();
        if returns && !single_point(&first.stmts[k], &mut seen) {
            continue;
        }
        // `start` and the rules found to join it (empty until one does).
        let mut members = Vec::new();
        let join = |members: &mut Vec<usize>, r: usize| {
            if members.is_empty() {
                members.push(start);
            }
            members.push(r);
        };
        // The tests every member has: the first rule's, but the merged one (when needed).
        let mut common: Option<Tests<'_>> = None;
        let Scratch { pending, hard } = scratch;
        pending.clear();
        hard.clear();
        for (r, rule) in rules.iter().enumerate().skip(start + 1) {
            if chain.taken[r] {
                continue;
            }
            let fits = chain.shapes[r] == chain.shapes[start] && same_but(first, rule, k, left);
            if returns {
                // The packet comes back from the jump and meets the next rule: only
                // consecutive rules, each a single new point.
                if fits && single_point(&rule.stmts[k], &mut seen) {
                    join(&mut members, r);
                    continue;
                }
                break;
            }
            if fits {
                // The rules in between stay where they are; this one moves up past them only
                // if no packet can match both. Most differ from the run in a field the run
                // does not merge (another protocol, another port): then they differ from
                // every member and need no further look.
                let common = common.get_or_insert_with(|| {
                    fixed_tests(
                        first
                            .stmts
                            .iter()
                            .enumerate()
                            .filter(|(i, _)| *i != k)
                            .map(|(_, s)| s),
                    )
                });
                for b in pending.drain(..) {
                    if !apart(chain.early(b), common) {
                        hard.push(b);
                    }
                }
                if hard.len() > HARD_BLOCKERS
                    || !hard.iter().all(|&b| apart(chain.early(b), chain.all(r)))
                {
                    // A rule of the run that cannot move up is where the run ends: later ones
                    // would have to move past it as well, and seldom can.
                    break;
                }
                join(&mut members, r);
                continue;
            }
            pending.push(r);
            if pending.len() > REACH {
                break;
            }
        }
        if members.len() >= 2 && best.as_ref().is_none_or(|(_, m)| members.len() > m.len()) {
            best = Some((k, members));
        }
    }
    best
}

/// Whether no packet can match both a rule that stays (`early`: its [`early_tests`]) and one
/// that moves up past it (`tests`: its [`fixed_tests`]): two tests on the same field whose
/// values share no point. A packet of the moving rule then fails the staying rule's test
/// before anything in that rule has an effect.
fn apart(early: &[(&Expr, &Value)], tests: &[(&Expr, &Value)]) -> bool {
    early
        .iter()
        .any(|(l, a)| tests.iter().any(|(m, b)| l == m && disjoint(a, b)))
}

/// The [`fixed_eq`] tests a rule makes before any statement with an effect: a packet that
/// fails one of them leaves the rule untouched.
fn early_tests(r: &Rule) -> Tests<'_> {
    fixed_tests(r.stmts.iter().take_while(|s| match s {
        Stmt::Match(m) => !matches!(m, Match::Numgen { .. }),
        _ => false,
    }))
}

fn fixed_tests<'a>(stmts: impl Iterator<Item = &'a Stmt>) -> Tests<'a> {
    stmts.filter_map(fixed_eq).collect()
}

/// An `==` test on a field no statement changes, with its value.
fn fixed_eq(s: &Stmt) -> Option<(&Expr, &Value)> {
    let Stmt::Match(Match::Cmp {
        left,
        op: CmpOp::Eq,
        right,
    }) = s
    else {
        return None;
    };
    let fixed = match left {
        Expr::Payload(f) => matches!(
            f,
            Field::IpProtocol
                | Field::IpSaddr
                | Field::IpDaddr
                | Field::Ip6Nexthdr
                | Field::Ip6Saddr
                | Field::Ip6Daddr
                | Field::TcpSport
                | Field::TcpDport
                | Field::UdpSport
                | Field::UdpDport
                | Field::IcmpType
                | Field::IcmpCode
                | Field::Icmpv6Type
                | Field::Icmpv6Code
        ),
        Expr::Meta(m) => matches!(
            m,
            MetaKey::L4proto | MetaKey::Nfproto | MetaKey::Iifname | MetaKey::Oifname
        ),
        _ => false,
    };
    fixed.then_some((left, right))
}

/// The values of a test's right-hand side: an anonymous set's elements, or the one value.
fn elements(v: &Value) -> &[Value] {
    match v {
        Value::Set(vs) => vs,
        v => std::slice::from_ref(v),
    }
}

/// Whether no value is in both `a` and `b` (each a value or an anonymous set of values).
/// Unknown kinds, and sets too large to compare cheaply, count as sharing a point.
fn disjoint(a: &Value, b: &Value) -> bool {
    let (a, b) = (elements(a), elements(b));
    a.len() * b.len() <= 1024 && a.iter().all(|x| b.iter().all(|y| apart_values(x, y)))
}

fn apart_values(a: &Value, b: &Value) -> bool {
    if let (Some((a0, a1)), Some((b0, b1))) = (span(a), span(b)) {
        return a1 < b0 || b1 < a0;
    }
    match (a, b) {
        (
            Value::Iface {
                name: n,
                wildcard: nw,
            },
            Value::Iface {
                name: m,
                wildcard: mw,
            },
        ) => match (nw, mw) {
            (false, false) => n != m,
            (true, false) => !m.starts_with(&**n),
            (false, true) => !n.starts_with(&**m),
            (true, true) => !n.starts_with(&**m) && !m.starts_with(&**n),
        },
        _ => false,
    }
}

/// The points of an address, prefix, address range, number or number range, as an inclusive
/// interval (an address as a number: 32 bits for IPv4, 128 for IPv6; one field never mixes
/// the two).
fn span(v: &Value) -> Option<(u128, u128)> {
    let num = |a: &IpAddr| match a {
        IpAddr::V4(a) => (u128::from(u32::from(*a)), 32u32),
        IpAddr::V6(a) => (u128::from(*a), 128u32),
    };
    match v {
        Value::Addr(a) => {
            let (n, _) = num(a);
            Some((n, n))
        }
        Value::Prefix { addr, len } => {
            let (n, bits) = num(addr);
            let host = bits.checked_sub(u32::from(*len))?;
            let mask = if host >= 128 {
                u128::MAX
            } else {
                (1u128 << host) - 1
            };
            Some((n & !mask, n | mask))
        }
        Value::AddrRange(a, b) => Some((num(a).0, num(b.as_ref()).0)),
        Value::Num(n) => Some((u128::from(*n), u128::from(*n))),
        Value::Range(a, b) => Some((u128::from(*a), u128::from(*b))),
        _ => None,
    }
}

/// What a mergeable match tests: `==` on an address, a port, a protocol number, an ICMP type
/// or code, or an interface name, with values a set can hold.
fn candidate(s: &Stmt) -> Option<&Expr> {
    let Stmt::Match(Match::Cmp {
        left,
        op: CmpOp::Eq,
        right,
    }) = s
    else {
        return None;
    };
    let f = match left {
        Expr::Payload(f) => f,
        // `iifname { "eth0", "wlan0" }`: exact names only (nft 1.0.6 has no wildcard
        // elements in a set).
        Expr::Meta(MetaKey::Iifname | MetaKey::Oifname) => {
            let name = |v: &Value| {
                matches!(
                    v,
                    Value::Iface {
                        wildcard: false,
                        ..
                    }
                )
            };
            let fits = match right {
                Value::Set(elems) => !elems.is_empty() && elems.iter().all(name),
                v => name(v),
            };
            return fits.then_some(left);
        }
        _ => return None,
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
        // One-byte fields: `icmpv6 type { nd-neighbor-solicit, nd-neighbor-advert }`,
        // `ip protocol { tcp, udp }`.
        Field::IpProtocol
        | Field::IcmpType
        | Field::IcmpCode
        | Field::Icmpv6Type
        | Field::Icmpv6Code => matches!(v, Value::Num(n) if *n <= 0xff),
        _ => false,
    };
    let fits = match right {
        Value::Set(elems) => !elems.is_empty() && elems.iter().all(ok),
        v => ok(v),
    };
    fits.then_some(left)
}

/// Whether `b` is `a` except for the value of the mergeable match at `k` (on `field`) and the
/// counter values.
fn same_but(a: &Rule, b: &Rule, k: usize, field: &Expr) -> bool {
    same_body_but(a, b, k, field) && a.stmts.last() == b.stmts.last()
}

/// For runs that jump: whether the match at `s` has one address, number or exact interface
/// name, not seen before in the run (then records it).
fn single_point(s: &Stmt, seen: &mut HashSet<(u128, u8)>) -> bool {
    let Stmt::Match(Match::Cmp { right, .. }) = s else {
        return false;
    };
    let point = match right {
        Value::Addr(IpAddr::V4(a)) => (u128::from(u32::from(*a)), 0),
        Value::Addr(IpAddr::V6(a)) => (u128::from(*a), 1),
        Value::Num(n) => (u128::from(*n), 0),
        // A name has at most 15 bytes: its zero-padded bytes are the point.
        Value::Iface {
            name,
            wildcard: false,
        } if name.len() < 16 => {
            let mut b = [0u8; 16];
            b[..name.len()].copy_from_slice(name.as_bytes());
            (u128::from_be_bytes(b), 2)
        }
        _ => return false,
    };
    seen.insert(point)
}

/// The run as one rule: the first rule, its match at `k` widened to every value of the run
/// (duplicates once, in ascending order), counters summed, the other origins recorded.
fn merge(run: &[&Rule], k: usize) -> Rule {
    let mut out = run[0].clone();
    // Each element with its key, computed once: [`order`] puts them in the order the lowering
    // inserts them, so `fwnet show` prints them as they are sent and `nft -f` of it sends the
    // same (a hash set lists them in an order seeded per set, so only the insertion can be
    // compared); equal keys are the same element.
    let values = || {
        run.iter().flat_map(move |r| match &r.stmts[k] {
            Stmt::Match(Match::Cmp { right, .. }) => elements(right),
            _ => &[],
        })
    };
    fn in_order<K: Ord + Copy>(mut keyed: Vec<(K, &Value)>) -> Vec<Value> {
        keyed.sort_unstable_by_key(|(key, _)| *key);
        keyed.dedup_by_key(|(key, _)| *key);
        keyed.into_iter().map(|(_, v)| v.clone()).collect()
    }
    let mut elems = match values().map(packed).collect::<Option<Vec<u128>>>() {
        // Nearly every large run (a blocklist's addresses, ports): each key in one integer,
        // which sorts twice as fast as the general key (v4/045.rules: 42 M -> 20 M
        // instructions).
        Some(keys) => in_order(keys.into_iter().zip(values()).collect()),
        None => in_order(values().map(|v| (order(v), v)).collect()),
    };
    if let Stmt::Match(Match::Cmp { right, .. }) = &mut out.stmts[k] {
        *right = if elems.len() == 1 {
            elems.remove(0)
        } else {
            Value::Set(elems.into())
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

/// Where an element goes in a merged set, and which elements are the same: numbers and
/// addresses by start, then kind (address, prefix, number, range), then length or end;
/// interface names by name, which is also the order of their zero-padded bytes (the order
/// the lowering inserts a hash set's keys in).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Order<'a> {
    Span { start: u128, kind: u8, end: u128 },
    Name(&'a str),
}

/// [`order`]'s key in one integer, when its start and end fit in 56 bits (IPv4 addresses and
/// prefixes, numbers, ranges of them): start, then kind, then end, as `Order::Span` compares.
fn packed(v: &Value) -> Option<u128> {
    const FIT: u128 = 1 << 56;
    match order(v) {
        Order::Span { start, kind, end } if start < FIT && end < FIT => {
            Some(start << 64 | u128::from(kind) << 56 | end)
        }
        _ => None,
    }
}

fn order(v: &Value) -> Order<'_> {
    let addr = |a: &IpAddr| match a {
        IpAddr::V4(a) => u128::from(u32::from(*a)),
        IpAddr::V6(a) => u128::from(*a),
    };
    let span = |kind, start, end| Order::Span { start, kind, end };
    match v {
        Value::Addr(a) => span(0, addr(a), 0),
        Value::Prefix { addr: a, len } => span(1, addr(a), u128::from(*len)),
        Value::Num(n) => span(2, u128::from(*n), 0),
        Value::Range(a, b) => span(3, u128::from(*a), u128::from(*b)),
        Value::Iface { name, .. } => Order::Name(name),
        _ => unreachable!("candidate admits no other value"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::print;

    /// The one-integer key sorts and tells apart values as the general key does, and is
    /// refused where a start or end does not fit (IPv6, interface names).
    #[test]
    fn packed_keys_order_values_as_the_general_key_does() {
        let v4 = |s: &str| IpAddr::V4(s.parse().unwrap());
        let values = [
            Value::Num(80),
            Value::Addr(v4("10.0.0.2")),
            Value::Prefix {
                addr: v4("10.0.0.0"),
                len: 24,
            },
            Value::Prefix {
                addr: v4("10.0.0.0"),
                len: 8,
            },
            Value::Addr(v4("10.0.0.0")),
            Value::Range(10, 20),
            Value::Range(10, 15),
            Value::Num(10),
            Value::Addr(v4("0.0.0.10")),
            Value::Addr(v4("255.255.255.255")),
            Value::Range(0, (1 << 56) - 1),
            Value::Num(80),
        ];
        let mut general: Vec<&Value> = values.iter().collect();
        general.sort_by_key(|v| order(v));
        let mut packed_order: Vec<&Value> = values.iter().collect();
        packed_order.sort_by_key(|v| packed(v).expect("fits"));
        assert_eq!(general, packed_order);
        for a in &values {
            for b in &values {
                assert_eq!(order(a) == order(b), packed(a) == packed(b), "{a:?} {b:?}");
            }
        }
        let v6 = IpAddr::V6("2001:db8::1".parse().unwrap());
        assert_eq!(packed(&Value::Addr(v6)), None);
        assert_eq!(packed(&Value::Range(0, 1 << 56)), None);
        let eth0 = Value::Iface {
            name: "eth0".into(),
            wildcard: false,
        };
        assert_eq!(packed(&eth0), None);
    }

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

    fn udp() -> Stmt {
        Stmt::Match(Match::Cmp {
            left: Expr::Meta(MetaKey::L4proto),
            op: CmpOp::Eq,
            right: Value::Num(17),
        })
    }

    fn udp_dport(port: u64) -> Stmt {
        cmp(Field::UdpDport, CmpOp::Eq, Value::Num(port))
    }

    fn iif(name: &str, wildcard: bool) -> Stmt {
        Stmt::Match(Match::Cmp {
            left: Expr::Meta(MetaKey::Iifname),
            op: CmpOp::Eq,
            right: Value::Iface {
                name: name.into(),
                wildcard,
            },
        })
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

    /// A ruleset of one table with one chain, INPUT, of `rules`.
    fn one_chain(rules: Vec<Rule>) -> Ruleset {
        Ruleset {
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
        }
    }

    /// Optimizes one chain of `rules` and prints it as `fwnet show` does, one rule a line.
    fn check(rules: Vec<Rule>, want: &[&str]) {
        let mut rs = one_chain(rules);
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

    /// The shape is a necessary condition of `same_body_but`: rules it holds for have one
    /// shape, whatever their values, counters and verdicts; rules that differ in anything else
    /// (fields, operators, statements, a comment) have different ones.
    #[test]
    fn rules_the_same_but_for_values_have_one_shape() {
        let base = rule(
            1,
            vec![
                tcp(),
                saddr("192.0.2.1"),
                dport(Value::Num(22)),
                counter(0),
                ACCEPT,
            ],
        );
        let same = [
            rule(
                2,
                vec![
                    udp(),
                    saddr("198.51.100.0/24"),
                    dport(Value::Range(1, 9)),
                    counter(7),
                    DROP,
                ],
            ),
            rule(
                3,
                vec![
                    tcp(),
                    saddr("192.0.2.9"),
                    dport(Value::Num(80)),
                    counter(0),
                    jump("X"),
                ],
            ),
        ];
        for r in &same {
            assert_eq!(shape(r), shape(&base), "{r:?}");
        }
        let mut commented = base.clone();
        commented.comment = Some("c".into());
        let different = [
            rule(
                4,
                vec![tcp(), saddr("192.0.2.1"), udp_dport(22), counter(0), ACCEPT],
            ),
            rule(
                5,
                vec![
                    tcp(),
                    cmp(Field::IpSaddr, CmpOp::Ne, addr_value("192.0.2.1")),
                    dport(Value::Num(22)),
                    counter(0),
                    ACCEPT,
                ],
            ),
            rule(
                6,
                vec![tcp(), saddr("192.0.2.1"), dport(Value::Num(22)), ACCEPT],
            ),
            rule(
                7,
                vec![
                    tcp(),
                    saddr("192.0.2.1"),
                    counter(0),
                    dport(Value::Num(22)),
                    ACCEPT,
                ],
            ),
            rule(
                8,
                vec![
                    tcp(),
                    iif("eth0", false),
                    dport(Value::Num(22)),
                    counter(0),
                    ACCEPT,
                ],
            ),
            commented,
        ];
        for r in &different {
            assert_ne!(shape(r), shape(&base), "{r:?}");
        }
        // Where `same_body_but` holds, the shapes agree.
        let mut pairs = 0;
        for a in same.iter().chain(&different).chain([&base]) {
            for b in same.iter().chain(&different).chain([&base]) {
                for (k, s) in a.stmts.iter().enumerate() {
                    if let Some(field) = candidate(s) {
                        if same_body_but(a, b, k, field) {
                            pairs += 1;
                            assert_eq!(shape(a), shape(b), "{a:?} {b:?}");
                        }
                    }
                }
            }
        }
        assert!(pairs > 9, "{pairs}");
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
    fn a_rule_in_between_that_a_packet_could_match_too_breaks_the_run() {
        // 1.1.1.4 is in 1.1.0.0/16: moving line 4 above line 3 would drop what 3 accepts.
        check(
            vec![
                rule(1, vec![saddr("1.1.1.1"), DROP]),
                rule(2, vec![saddr("1.1.1.2"), DROP]),
                rule(3, vec![saddr("1.1.0.0/16"), ACCEPT]),
                rule(4, vec![saddr("1.1.1.4"), DROP]),
                rule(5, vec![saddr("1.1.1.5"), DROP]),
            ],
            &[
                "ip saddr { 1.1.1.1, 1.1.1.2 } drop # t:1-2",
                "ip saddr 1.1.0.0/16 accept # t:3",
                "ip saddr { 1.1.1.4, 1.1.1.5 } drop # t:4-5",
            ],
        );
    }

    #[test]
    fn a_rule_in_between_that_no_packet_of_the_run_matches_is_moved_past() {
        // Line 3 holds only 1.1.1.3, which no dropped address is: 4 and 5 join 1 and 2.
        check(
            vec![
                rule(1, vec![saddr("1.1.1.1"), DROP]),
                rule(2, vec![saddr("1.1.1.2"), DROP]),
                rule(3, vec![saddr("1.1.1.3"), ACCEPT]),
                rule(4, vec![saddr("1.1.1.4"), DROP]),
                rule(5, vec![saddr("1.1.1.5"), DROP]),
            ],
            &[
                "ip saddr { 1.1.1.1, 1.1.1.2, 1.1.1.4, 1.1.1.5 } drop # t:1-2,4-5",
                "ip saddr 1.1.1.3 accept # t:3",
            ],
        );
    }

    #[test]
    fn services_of_another_protocol_in_between_are_moved_past() {
        check(
            vec![
                rule(1, vec![tcp(), dport(Value::Num(22)), ACCEPT]),
                rule(2, vec![tcp(), dport(Value::Num(80)), ACCEPT]),
                rule(3, vec![udp(), udp_dport(53), ACCEPT]),
                rule(4, vec![tcp(), dport(Value::Num(443)), ACCEPT]),
                rule(5, vec![iif("eth1", false), udp(), udp_dport(123), ACCEPT]),
                rule(6, vec![udp(), udp_dport(161), DROP]),
                rule(7, vec![udp(), udp_dport(514), ACCEPT]),
            ],
            &[
                "meta l4proto tcp tcp dport { 22, 80, 443 } accept # t:1-2,4",
                // 514 moves past 123 and 161 too: other ports.
                "meta l4proto udp udp dport { 53, 514 } accept # t:3,7",
                "iifname \"eth1\" meta l4proto udp udp dport 123 accept # t:5",
                "meta l4proto udp udp dport 161 drop # t:6",
            ],
        );
    }

    #[test]
    fn a_test_after_an_effect_proves_nothing() {
        // Line 2 counts every packet before it tests the protocol: a TCP packet to port 80
        // must still reach its counter first, so line 3 stays below it.
        check(
            vec![
                rule(1, vec![tcp(), dport(Value::Num(22)), ACCEPT]),
                rule(2, vec![counter(0), udp(), udp_dport(53), ACCEPT]),
                rule(3, vec![tcp(), dport(Value::Num(80)), ACCEPT]),
            ],
            &[
                "meta l4proto tcp tcp dport 22 accept # t:1",
                "counter packets 0 bytes 0 meta l4proto udp udp dport 53 accept # t:2",
                "meta l4proto tcp tcp dport 80 accept # t:3",
            ],
        );
    }

    #[test]
    fn interface_names_tell_rules_apart_unless_a_wildcard_covers_both() {
        check(
            vec![
                rule(1, vec![iif("eth1", false), saddr("10.0.0.1"), DROP]),
                rule(2, vec![iif("lo", false), ACCEPT]),
                rule(3, vec![iif("eth1", false), saddr("10.0.0.2"), DROP]),
                rule(4, vec![iif("eth", true), ACCEPT]),
                rule(5, vec![iif("eth1", false), saddr("10.0.0.3"), DROP]),
            ],
            &[
                "iifname \"eth1\" ip saddr { 10.0.0.1, 10.0.0.2 } drop # t:1,3",
                "iifname \"lo\" accept # t:2",
                "iifname \"eth*\" accept # t:4",
                "iifname \"eth1\" ip saddr 10.0.0.3 drop # t:5",
            ],
        );
    }

    #[test]
    fn icmp_types_and_protocol_numbers_merge_like_ports() {
        let icmp6 = |t: u64| cmp(Field::Icmpv6Type, CmpOp::Eq, Value::Num(t));
        let proto = |p: u64| cmp(Field::IpProtocol, CmpOp::Eq, Value::Num(p));
        check(
            vec![
                rule(1, vec![icmp6(135), ACCEPT]),
                rule(2, vec![icmp6(136), ACCEPT]),
                // Another shape, and a type the run does not have: line 4 moves past it.
                rule(3, vec![saddr("fe80::1"), icmp6(130), ACCEPT]),
                rule(4, vec![icmp6(133), ACCEPT]),
                rule(5, vec![proto(47), ACCEPT]),
                rule(6, vec![proto(50), ACCEPT]),
            ],
            &[
                "icmpv6 type { nd-router-solicit, nd-neighbor-solicit, nd-neighbor-advert } \
                 accept # t:1-2,4",
                "ip6 saddr fe80::1 icmpv6 type mld-listener-query accept # t:3",
                "ip protocol { gre, esp } accept # t:5-6",
            ],
        );
    }

    #[test]
    fn interface_names_merge_in_name_order_and_stop_at_a_wildcard_they_fall_under() {
        check(
            vec![
                rule(1, vec![iif("wlan0", false), ACCEPT]),
                rule(2, vec![iif("eth0", false), ACCEPT]),
                // `ppp0` moves up past `eth*`; `eth1` cannot (a packet from eth1 matches it).
                rule(3, vec![iif("eth", true), DROP]),
                rule(4, vec![iif("ppp0", false), ACCEPT]),
                rule(5, vec![iif("eth1", false), ACCEPT]),
                rule(6, vec![iif("eth1", false), ACCEPT]),
                // Wildcards never join a list.
                rule(7, vec![iif("tun", true), ACCEPT]),
                rule(8, vec![iif("vpn", true), ACCEPT]),
            ],
            &[
                "iifname { \"eth0\", \"ppp0\", \"wlan0\" } accept # t:1-2,4",
                "iifname \"eth*\" drop # t:3",
                "iifname \"eth1\" accept # t:5-6",
                "iifname \"tun*\" accept # t:7",
                "iifname \"vpn*\" accept # t:8",
            ],
        );
        // Jumps merge distinct names (`-o docker0 -j DOCKER`, `-o br-1 -j DOCKER`), but not a
        // name twice: a packet that returns would meet the second rule again.
        let oif = |name: &str| {
            Stmt::Match(Match::Cmp {
                left: Expr::Meta(MetaKey::Oifname),
                op: CmpOp::Eq,
                right: Value::Iface {
                    name: name.into(),
                    wildcard: false,
                },
            })
        };
        check(
            vec![
                rule(1, vec![oif("docker0"), jump("DOCKER")]),
                rule(2, vec![oif("br-1"), jump("DOCKER")]),
                rule(3, vec![oif("br-1"), jump("DOCKER")]),
            ],
            &[
                "oifname { \"br-1\", \"docker0\" } jump DOCKER # t:1-2",
                "oifname \"br-1\" jump DOCKER # t:3",
            ],
        );
    }

    #[test]
    fn runs_with_different_verdicts_become_a_verdict_map_behind_one_counted_test() {
        // Jumps by port (a list among them), a range that drops, a port that accepts.
        let ports = Value::Set(Box::new([Value::Num(80), Value::Num(443)]));
        check(
            vec![
                rule(
                    1,
                    vec![tcp(), dport(Value::Num(22)), counter(1), jump("ssh")],
                ),
                rule(2, vec![tcp(), dport(ports), counter(2), jump("web")]),
                rule(
                    3,
                    vec![tcp(), dport(Value::Range(8000, 8080)), counter(4), DROP],
                ),
                rule(4, vec![tcp(), dport(Value::Num(3306)), counter(8), ACCEPT]),
                rule(5, vec![udp(), udp_dport(53), counter(16), ACCEPT]),
            ],
            &[
                "meta l4proto tcp tcp dport { 22, 80, 443, 3306, 8000-8080 } counter packets 15 \
                 bytes 1500 tcp dport vmap { 22 : jump ssh, 80 : jump web, 443 : jump web, \
                 3306 : accept, 8000-8080 : drop } # t:1-4",
                "meta l4proto udp udp dport 53 counter packets 16 bytes 1600 accept # t:5",
            ],
        );
    }

    #[test]
    fn a_verdict_map_run_stops_at_a_shared_point_and_needs_four_rules() {
        // Line 4's /16 holds line 1's /24, and line 5's address is in both: every run would
        // be three rules at most.
        let rules = vec![
            rule(1, vec![saddr("10.1.1.0/24"), jump("a")]),
            rule(2, vec![saddr("10.2.0.0/16"), DROP]),
            rule(3, vec![saddr("10.3.0.1"), jump("b")]),
            rule(4, vec![saddr("10.1.0.0/16"), jump("c")]),
            rule(5, vec![saddr("10.1.1.5"), ACCEPT]),
        ];
        let mut rs = one_chain(rules.clone());
        assert_eq!(ruleset(&mut rs).maps, 0);
        assert_eq!(rs.tables[0].chains[0].rules, rules);
        // Without line 4's overlap, lines 1-4 are one map; line 5 stays.
        let mut apart = rules.clone();
        apart[3] = rule(4, vec![saddr("10.5.0.0/16"), jump("c")]);
        let mut rs = one_chain(apart);
        let stats = ruleset(&mut rs);
        assert_eq!((stats.maps, stats.rules_out), (1, 2));
        // Equal values in two rules share every point: no map either.
        let mut twice = rules;
        twice[3] = rule(4, vec![saddr("10.3.0.1"), jump("c")]);
        assert_eq!(ruleset(&mut one_chain(twice)).maps, 0);
    }

    #[test]
    fn verdict_maps_need_two_verdicts_and_nothing_but_tests_before_them() {
        let five = |verdict: fn(u64) -> Stmt, extra: Option<Stmt>| -> Vec<Rule> {
            (0..5u64)
                .map(|i| {
                    let mut stmts = vec![tcp(), dport(Value::Num(100 + i))];
                    stmts.extend(extra.clone());
                    stmts.push(verdict(i));
                    rule(i as u32 + 1, stmts)
                })
                .collect()
        };
        let chains = |i: u64| jump(&format!("c{i}"));
        assert_eq!(ruleset(&mut one_chain(five(chains, None))).maps, 1);
        // One verdict: a plain set test would do (a run that jumps merges into one only if
        // its values are single ports; these are ranges, and stay apart).
        let ranges: Vec<Rule> = (0..5u64)
            .map(|i| {
                let ports = Value::Range(100 * i, 100 * i + 50);
                rule(i as u32 + 1, vec![tcp(), dport(ports), jump("c")])
            })
            .collect();
        let stats = ruleset(&mut one_chain(ranges));
        assert_eq!((stats.maps, stats.runs, stats.rules_out), (0, 0, 5));
        // A log before the verdict is an effect of each rule's own.
        let log = Stmt::Log(Box::default());
        assert_eq!(ruleset(&mut one_chain(five(chains, Some(log)))).maps, 0);
        // A reject is not a verdict a map can give.
        let mut rejects = five(chains, None);
        *rejects[2].stmts.last_mut().expect("verdict") = Stmt::Reject(Reject::TcpReset);
        assert_eq!(ruleset(&mut one_chain(rejects)).maps, 0);
    }

    #[test]
    fn runs_that_jump_do_not_move() {
        check(
            vec![
                rule(1, vec![saddr("1.1.1.1"), jump("LOG_DROP")]),
                rule(2, vec![saddr("1.1.1.3"), ACCEPT]),
                rule(3, vec![saddr("1.1.1.2"), jump("LOG_DROP")]),
            ],
            &[
                "ip saddr 1.1.1.1 jump LOG_DROP # t:1",
                "ip saddr 1.1.1.3 accept # t:2",
                "ip saddr 1.1.1.2 jump LOG_DROP # t:3",
            ],
        );
    }

    #[test]
    fn a_run_looks_only_so_far_down() {
        let mut rules = vec![rule(1, vec![tcp(), dport(Value::Num(1)), ACCEPT])];
        for i in 0..=REACH as u32 {
            // Each jumps to a chain of its own: no run among them.
            let chain = format!("C{i}");
            rules.push(rule(2 + i, vec![udp(), udp_dport(1000), jump(&chain)]));
        }
        rules.push(rule(100, vec![tcp(), dport(Value::Num(2)), ACCEPT]));
        // REACH + 1 rules in between: line 100 stays where it is.
        assert_eq!(ruleset(&mut one_chain(rules.clone())).runs, 0);
        // One fewer: it is found.
        rules.remove(1);
        assert_eq!(ruleset(&mut one_chain(rules)).runs, 1);
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
                        dport(Value::Set(Box::new([Value::Num(80), Value::Num(443)]))),
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
        let log = Stmt::Log(Box::default());
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
    fn nat_rules_with_one_target_merge_and_different_targets_stay_apart() {
        let masquerade = Stmt::Nat(Box::new(Nat {
            kind: NatKind::Masquerade,
            addr: None,
            ports: None,
            flags: Default::default(),
        }));
        let dnat = |to: &str, port: u16| {
            let a: IpAddr = to.parse().unwrap();
            Stmt::Nat(Box::new(Nat {
                kind: NatKind::Dnat,
                addr: Some(NatAddr::Range(a, a)),
                ports: Some((port, port)),
                flags: Default::default(),
            }))
        };
        let net = |a: &str| saddr(&format!("{a}/24"));
        // Masquerades of three networks, one with a different target between them: the first
        // two merge, the one after the other target cannot move up past it (a packet of
        // 10.0.3.0/24 to port 80 matches both).
        check(
            vec![
                rule(1, vec![net("10.0.1.0"), counter(1), masquerade.clone()]),
                rule(2, vec![net("10.0.2.0"), counter(2), masquerade.clone()]),
                rule(3, vec![dport(Value::Num(80)), counter(0), dnat("192.0.2.9", 8080)]),
                rule(4, vec![net("10.0.3.0"), counter(4), masquerade.clone()]),
            ],
            &[
                "ip saddr { 10.0.1.0/24, 10.0.2.0/24 } counter packets 3 bytes 300 masquerade # t:1-2",
                "tcp dport 80 counter packets 0 bytes 0 dnat to 192.0.2.9:8080 # t:3",
                "ip saddr 10.0.3.0/24 counter packets 4 bytes 400 masquerade # t:4",
            ],
        );
        // Port forwards to one backend merge; to another backend they stay.
        check(
            vec![
                rule(
                    1,
                    vec![dport(Value::Num(80)), counter(0), dnat("192.0.2.5", 80)],
                ),
                rule(
                    2,
                    vec![dport(Value::Num(81)), counter(0), dnat("192.0.2.5", 80)],
                ),
                rule(
                    3,
                    vec![dport(Value::Num(82)), counter(0), dnat("192.0.2.6", 80)],
                ),
            ],
            &[
                "tcp dport { 80, 81 } counter packets 0 bytes 0 dnat to 192.0.2.5:80 # t:1-2",
                "tcp dport 82 counter packets 0 bytes 0 dnat to 192.0.2.6:80 # t:3",
            ],
        );
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
            Value::Set(Box::new([addr_value("1.1.1.1"), addr_value("1.1.1.2")])),
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
