//! Non-first IPv4 fragments and transport-header tests.
//!
//! xt_tcp, xt_udp, xt_icmp and xt_multiport never match a non-first fragment (its payload has
//! no transport header); nf_tables' transport-header loads read whatever bytes the fragment
//! carries there. Measured on kernel 6.18 in a namespace without conntrack: a TCP fragment at
//! offset 24 was counted by `tcp dport 80` and not by `-p tcp --dport 80`.
//!
//! Such fragments only reach the filter rules when nothing in the network namespace uses
//! conntrack: conntrack reassembles every packet first. So when the ruleset itself uses
//! conntrack (`ct` tests or statements, NAT, NOTRACK, CT), nothing is added; otherwise every
//! IPv4 rule that tests a port, TCP flags, an ICMP type or code, or a TCP option gets
//! `ip frag-off & 8191 == 0` before its first such test, and then matches what the xt rule
//! matched.
//!
//! Not handled: IPv6 (a non-first fragment's upper-layer header is found through the
//! fragment header, and no single nft test says "not a non-first fragment" there; see the
//! README's known differences), and the packet xt_tcp drops outright (a fragment at offset 8,
//! which could overwrite the TCP header of the first).

use fwnet_nft::{CmpOp, Expr, Exthdr, Family, Field, MarkKey, Match, Ruleset, Stmt, Table, Value};

/// Adds the guard where it is needed; see the module documentation.
pub(crate) fn guard_transport_tests(rs: &mut Ruleset) {
    if rs.tables.iter().any(uses_conntrack) {
        return;
    }
    for t in rs.tables.iter_mut().filter(|t| t.family == Family::Ip) {
        for rule in t.chains.iter_mut().flat_map(|c| c.rules.iter_mut()) {
            if rule.stmts.iter().any(is_first_fragment_test) {
                continue;
            }
            if let Some(i) = rule.stmts.iter().position(tests_transport_header) {
                rule.stmts.insert(i, first_fragment_test());
            }
        }
    }
}

/// `ip frag-off & 8191 == 0`: not a non-first fragment.
fn first_fragment_test() -> Stmt {
    Stmt::Match(Match::Masked {
        left: Expr::Payload(Field::IpFragOff),
        mask: Value::Num(0x1fff),
        op: CmpOp::Eq,
        value: Value::Num(0),
    })
}

fn is_first_fragment_test(s: &Stmt) -> bool {
    *s == first_fragment_test()
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
        ) | Expr::Exthdr(Exthdr::TcpOption(_) | Exthdr::MaxsegSize)
    )
}

fn tests_transport_header(s: &Stmt) -> bool {
    match s {
        Stmt::Match(
            Match::Cmp { left, .. }
            | Match::Masked { left, .. }
            | Match::Flags { left, .. }
            | Match::Order { left, .. },
        ) => is_transport(left),
        Stmt::Match(Match::Lookup { key, .. }) => key.iter().any(is_transport),
        _ => false,
    }
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
                Stmt::Match(
                    Match::Cmp { left, .. }
                    | Match::Masked { left, .. }
                    | Match::Flags { left, .. }
                    | Match::Order { left, .. },
                ) => ct(left),
                Stmt::Match(Match::Lookup { key, .. }) => key.iter().any(ct),
                Stmt::SetUpdate { key, .. }
                | Stmt::SetAdd { key, .. }
                | Stmt::SetDelete { key, .. } => key.iter().any(ct),
                Stmt::MarkSet(m) => m.dest == MarkKey::Ct || m.src == MarkKey::Ct,
                Stmt::Nat(_) | Stmt::Notrack | Stmt::CtZoneSet(_) | Stmt::CtHelperSet(_) => true,
                _ => false,
            })
}
