//! Non-first fragments and transport-header tests.
//!
//! xt_tcp, xt_udp, xt_icmp, xt_icmp6 and xt_multiport never match a non-first fragment (its
//! payload has no transport header), in iptables and in ip6tables alike; nf_tables'
//! transport-header loads read something else there. Measured on kernel 6.18 in a namespace
//! without conntrack: an IPv4 TCP fragment at offset 24 was counted by `tcp dport 80` and not
//! by `-p tcp --dport 80` (nft reads the fragment's payload); an IPv6 one was counted by `tcp
//! dport 80` when its flow label's low 16 bits were 80 (for a non-first IPv6 fragment nft's
//! transport offset is 0, so `tcp sport` and `tcp dport` read the first four bytes of the IPv6
//! header), and by neither with another flow label.
//!
//! Such fragments only reach the filter rules when nothing in the network namespace tracks
//! connections of that family: conntrack reassembles every packet first, and it is enabled per
//! family (an ip6 table's `ct state` does not reassemble IPv4, nor the other way round). So a
//! family whose tables use conntrack (`ct` tests or statements, NAT, NOTRACK, CT, `ct count`)
//! or `tproxy` (which enables the same reassembly, as xt_TPROXY does) gets nothing;
//! otherwise:
//! - IPv4: every rule that tests a port, TCP flags, an ICMP type or code, or a TCP option gets
//!   `ip frag-off & 8191 == 0` before its first such test, and then matches what the xt rule
//!   matched. Rules in chains reached only from INPUT get none: the kernel reassembles an IPv4
//!   datagram before the INPUT hook, always (`ip_local_deliver`), so they never meet a
//!   fragment (OUTPUT can: a raw socket may send one).
//! - IPv6 has no single test meaning "not a non-first fragment" (`frag frag-off 0` fails on a
//!   packet without a fragment header). So each chain with a rule that tests a port, TCP flags,
//!   an ICMPv6 type or code or a TCP option (a *transport rule*) gets, just before its first
//!   one, the guard `frag frag-off != 0 goto C_frag`. The regular chain `C_frag` holds the rest
//!   of `C` without its transport rules, which xt never matches on such a fragment. `goto`
//!   keeps the frame: when `C_frag` ends, or a rule in it returns, control goes where the end
//!   of `C` or a `return` in `C` would have sent it (the caller, or the base chain's policy).
//!   A packet without a fragment header, or a first fragment, fails the guard and walks `C` as
//!   before. Jumps in `C_frag` go to the same chains as in `C`: every chain guards its own
//!   transport rules. When nothing but transport rules follows, the guard is `frag frag-off !=
//!   0 return`.
//!
//! A rule that keeps state of its own (`limit`, `numgen inc`) must not be copied into
//! `C_frag`: two copies would keep two states. So when one follows the guard, `C` is cut
//! before it: that rule and the rest move to a regular chain `C_tail`, which `C` and `C_frag`
//! both end with `goto C_tail` (again the same frame), and `C_tail` is guarded the same way.
//! Copies keep their origin and comment; their counters start at zero, so the sum over the
//! copies is still what the input gave. Names that would collide with a chain get `_2`, `_3`
//! ... as in [`fwnet_nft::dispatch`].
//!
//! `-m tcp` and `-m udp` without options have no test of their own in nft, yet xt_tcp and
//! xt_udp fail a non-first fragment all the same: they translate to a placeholder that counts
//! as a transport test here and is removed once the guards are placed
//! ([`transport_placeholder`]).
//!
//! Not handled: the packets the xt matches drop outright (an IPv4 fragment at offset 8, which
//! could overwrite the TCP header of the first; an IPv6 non-first fragment whose fragment
//! header is followed by another extension header, which ip6tables drops at its first `-p`
//! rule, measured on 6.18, where nft finds no transport protocol and goes on; a packet too
//! short for the TCP or UDP header); and ports in a hashlimit key, which xt_hashlimit takes as
//! 0 on such a fragment (read from the kernel source, not measured).

use fwnet_iptables::diag::{Diagnostic, Loc};
use fwnet_nft::fresh_name;
use fwnet_nft::{
    Chain, CmpOp, Counters, Expr, Exthdr, ExthdrField, Family, Field, Hook, MarkKey, Match,
    NumgenKind, Rule, Ruleset, Stmt, Table, Value, Verdict,
};

/// Adds the guards where they are needed; see the module documentation.
pub(crate) fn guard_transport_tests(rs: &mut Ruleset) {
    let (ipv4, ipv6) = (
        !tracks_connections(rs, Family::Ip),
        !tracks_connections(rs, Family::Ip6),
    );
    for t in &mut rs.tables {
        match t.family {
            Family::Ip if ipv4 => guard_ipv4_rules(t),
            Family::Ip6 if ipv6 => guard_ipv6_chains(t),
            _ => {}
        }
        // The placeholders of option-less tcp and udp matches have done their work.
        for rule in t.chains.iter_mut().flat_map(|c| c.rules.iter_mut()) {
            if rule.stmts.iter().any(is_transport_placeholder) {
                rule.stmts.retain(|s| !is_transport_placeholder(s));
            }
        }
    }
}

/// What `-m tcp` or `-m udp` without options translates to until the guards are placed: the
/// match has no test for nft to make, but xt_tcp and xt_udp still fail a non-first fragment, so
/// the rule needs the guard as if it tested a port. `tcp sport & 0 == 0` reads the header and
/// holds for every whole packet; no input option gives it, and [`guard_transport_tests`]
/// removes it once the guards are in place.
pub(crate) fn transport_placeholder(sport: Field) -> Stmt {
    Stmt::Match(Match::Masked {
        left: Expr::Payload(sport),
        mask: Box::new(Value::Num(0)),
        op: CmpOp::Eq,
        value: Value::Num(0),
    })
}

fn is_transport_placeholder(s: &Stmt) -> bool {
    matches!(
        s,
        Stmt::Match(Match::Masked {
            left: Expr::Payload(Field::TcpSport | Field::UdpSport),
            mask,
            op: CmpOp::Eq,
            value: Value::Num(0),
        }) if **mask == Value::Num(0)
    )
}

/// Warns about each IPv4 `-f` rule in a user chain reached only from INPUT (`locs`: where each
/// `-f` outside INPUT is): as in INPUT itself (warned about where it is read), the kernel
/// reassembles every datagram before INPUT, so the rule has never matched. The rule is kept.
pub(crate) fn warn_input_only(table: &Table, locs: &[Loc], diags: &mut Vec<Diagnostic>) {
    if locs.is_empty() {
        return;
    }
    let reach = crate::nat::reachability(table);
    let mut said = std::collections::HashSet::new();
    for chain in table
        .chains
        .iter()
        .filter(|c| c.base.is_none() && reach.get(&c.name).is_some_and(|h| h == &[Hook::Input]))
    {
        for origin in chain.rules.iter().filter_map(|r| r.origin.as_ref()) {
            let Some(loc) = locs
                .iter()
                .find(|l| l.line == origin.line && *l.file == *origin.file)
            else {
                continue;
            };
            if said.insert(origin) {
                diags.push(
                    Diagnostic::warning(
                        crate::ip::FRAGMENT_ON_INPUT,
                        loc,
                        format!(
                            "`-f` in chain {} never matches: only INPUT reaches the chain, and \
                             the kernel reassembles an IPv4 datagram before INPUT sees it (under \
                             iptables too), so this rule has never applied",
                            chain.name
                        ),
                    )
                    .with_help(crate::ip::FRAGMENT_ON_INPUT_HELP),
                );
            }
        }
    }
}

/// Guards every IPv4 rule that needs it, except in chains reached only from INPUT: the kernel
/// reassembles a datagram before the INPUT hook (`ip_local_deliver`), always, so no non-first
/// fragment meets those rules and a guard there would only cost every packet a test.
fn guard_ipv4_rules(t: &mut Table) {
    let reach = crate::nat::reachability(t);
    let input_only = |c: &Chain| reach.get(&c.name).is_some_and(|h| h == &[Hook::Input]);
    for rule in t
        .chains
        .iter_mut()
        .filter(|c| !input_only(c))
        .flat_map(|c| c.rules.iter_mut())
    {
        if rule.stmts.iter().any(is_first_fragment_test) {
            continue;
        }
        if let Some(i) = rule.stmts.iter().position(tests_transport_header) {
            rule.stmts.insert(i, first_fragment_test());
        }
    }
}

fn guard_ipv6_chains(t: &mut Table) {
    let mut names: Vec<String> = t.chains.iter().map(|c| c.name.clone()).collect();
    // Chains added here are visited too: a `C_tail` may need its own guard.
    let mut i = 0;
    while i < t.chains.len() {
        let added = guard_ipv6_chain(&mut t.chains[i], &mut names);
        t.chains.extend(added);
        i += 1;
    }
}

/// Guards the first transport rule of `c`; returns the chains this adds (`C_frag`, `C_tail`).
fn guard_ipv6_chain(c: &mut Chain, names: &mut Vec<String>) -> Vec<Chain> {
    let Some(first) = c.rules.iter().position(is_transport_rule) else {
        return Vec::new();
    };
    let mut added = Vec::new();
    let cut = c.rules[first..]
        .iter()
        .position(|r| keeps_state(r) && !is_transport_rule(r));
    if let Some(at) = cut {
        let name = fresh_name(names, &format!("{}_tail", c.name));
        let rest = c.rules.split_off(first + at);
        added.push(Chain {
            name: name.clone(),
            base: None,
            rules: rest,
            family: None,
        });
        c.rules.push(verdict_rule(Vec::new(), Verdict::Goto(name)));
    }
    let copies: Vec<Rule> = c.rules[first..]
        .iter()
        .filter(|r| !is_transport_rule(r))
        .map(counted_from_zero)
        .collect();
    let verdict = if copies.is_empty() {
        Verdict::Return
    } else {
        let name = fresh_name(names, &format!("{}_frag", c.name));
        added.insert(
            0,
            Chain {
                name: name.clone(),
                base: None,
                rules: copies,
                family: None,
            },
        );
        Verdict::Goto(name)
    };
    c.rules.insert(
        first,
        verdict_rule(vec![non_first_fragment_test()], verdict),
    );
    added
}

/// `frag frag-off != 0`: a non-first IPv6 fragment (a packet without a fragment header fails
/// it).
fn non_first_fragment_test() -> Stmt {
    Stmt::Match(Match::Cmp {
        left: Expr::Exthdr(Exthdr::Field(ExthdrField::FragOff)),
        op: CmpOp::Ne,
        right: Value::Num(0),
    })
}

fn verdict_rule(mut stmts: Vec<Stmt>, verdict: Verdict) -> Rule {
    stmts.push(Stmt::Verdict(verdict));
    Rule {
        stmts,
        comment: None,
        origin: None,
        merged: Vec::new(),
    }
}

/// A copy of `r` whose counters start at zero.
fn counted_from_zero(r: &Rule) -> Rule {
    let mut r = r.clone();
    for s in &mut r.stmts {
        if let Stmt::Counter(c) = s {
            *c = Counters::default();
        }
    }
    r
}

/// Whether the rule has state of its own that two copies would split: a `limit` bucket or a
/// `numgen inc` counter. (A set's elements, hashlimit buckets included, are shared.)
fn keeps_state(r: &Rule) -> bool {
    r.stmts.iter().any(|s| {
        matches!(
            s,
            Stmt::Limit(_)
                | Stmt::Match(Match::Numgen {
                    kind: NumgenKind::Inc,
                    ..
                })
        )
    })
}

fn is_transport_rule(r: &Rule) -> bool {
    r.stmts.iter().any(tests_transport_header)
}

/// `ip frag-off & 8191 == 0`: not a non-first fragment.
fn first_fragment_test() -> Stmt {
    Stmt::Match(Match::Masked {
        left: Expr::Payload(Field::IpFragOff),
        mask: Box::new(Value::Num(0x1fff)),
        op: CmpOp::Eq,
        value: Value::Num(0),
    })
}

fn is_first_fragment_test(s: &Stmt) -> bool {
    matches!(
        s,
        Stmt::Match(Match::Masked {
            left: Expr::Payload(Field::IpFragOff),
            mask,
            op: CmpOp::Eq,
            value: Value::Num(0),
        }) if **mask == Value::Num(0x1fff)
    )
}

fn is_transport(e: &Expr) -> bool {
    matches!(
        e,
        Expr::Payload(
            Field::TcpSport
                | Field::TcpDport
                | Field::UdpSport
                | Field::UdpDport
                | Field::TcpFlags
                | Field::IcmpType
                | Field::IcmpCode
                | Field::Icmpv6Type
                | Field::Icmpv6Code
        ) | Expr::Exthdr(Exthdr::TcpOption(_) | Exthdr::MaxsegSize)
    )
}

fn tests_transport_header(s: &Stmt) -> bool {
    match s {
        Stmt::Match(m) => m.loads().iter().any(is_transport),
        _ => false,
    }
}

/// Whether the kernel tracks connections of `family` (and so reassembles its fragments) once
/// the ruleset is loaded: some table of that family, or an inet table, uses conntrack.
pub fn tracks_connections(rs: &Ruleset, family: Family) -> bool {
    rs.tables
        .iter()
        .filter(|t| t.family == family || t.family == Family::Inet)
        .any(uses_conntrack)
}

/// Whether anything in the table makes the kernel track connections (and so reassemble
/// fragments before any rule sees them).
fn uses_conntrack(t: &Table) -> bool {
    let ct = |e: &Expr| matches!(e, Expr::Ct(_));
    t.name == "fwnet_nat"
        || t.chains
            .iter()
            .flat_map(|c| &c.rules)
            .flat_map(|r| &r.stmts)
            .any(|s| match s {
                Stmt::Match(m) => m.loads().iter().any(ct),
                Stmt::SetUpdate { key, .. }
                | Stmt::SetAdd { key, .. }
                | Stmt::SetDelete { key, .. } => key.iter().any(ct),
                Stmt::MarkSet(m) => m.dest == MarkKey::Ct || m.src == MarkKey::Ct,
                Stmt::Nat(_)
                | Stmt::Notrack
                | Stmt::CtZoneSet(_)
                | Stmt::CtDirZoneSet { .. }
                | Stmt::CtHelperSet(_)
                | Stmt::CtCount(_)
                | Stmt::Synproxy(_)
                | Stmt::Tproxy(_) => true,
                _ => false,
            })
}
