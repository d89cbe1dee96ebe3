//! `-m icmp` (also loaded implicitly by `-p icmp`, IPv4 only): `--icmp-type`.
//!
//! A type name without a code matches every code of that type; a name that implies a code
//! (`port-unreachable` is 3/3) or `TYPE/CODE` matches both. Names are case-insensitive and may
//! be abbreviated when unambiguous, as in iptables. `any` matches every ICMP packet and emits
//! nothing beyond the protocol test. The negation of a type-and-code pair has no single-match
//! nft form here and is refused for now.

use crate::rule::Cx;
use fwnet_iptables::diag::Loc;
use fwnet_iptables::Opt;
use fwnet_nft::{CmpOp, Expr, Field, Match, Stmt, Value};

pub(crate) const OPTIONS: &[&[&str]] = &[&["--icmp-type"]];

/// Name, type, code (`None`: any code). From iptables' `-p icmp -h` list.
const TYPES: &[(&str, u8, Option<u8>)] = &[
    ("any", 255, None),
    ("echo-reply", 0, None),
    ("pong", 0, None),
    ("destination-unreachable", 3, None),
    ("network-unreachable", 3, Some(0)),
    ("host-unreachable", 3, Some(1)),
    ("protocol-unreachable", 3, Some(2)),
    ("port-unreachable", 3, Some(3)),
    ("fragmentation-needed", 3, Some(4)),
    ("source-route-failed", 3, Some(5)),
    ("network-unknown", 3, Some(6)),
    ("host-unknown", 3, Some(7)),
    ("network-prohibited", 3, Some(9)),
    ("host-prohibited", 3, Some(10)),
    ("TOS-network-unreachable", 3, Some(11)),
    ("TOS-host-unreachable", 3, Some(12)),
    ("communication-prohibited", 3, Some(13)),
    ("host-precedence-violation", 3, Some(14)),
    ("precedence-cutoff", 3, Some(15)),
    ("source-quench", 4, None),
    ("redirect", 5, None),
    ("network-redirect", 5, Some(0)),
    ("host-redirect", 5, Some(1)),
    ("TOS-network-redirect", 5, Some(2)),
    ("TOS-host-redirect", 5, Some(3)),
    ("echo-request", 8, None),
    ("ping", 8, None),
    ("router-advertisement", 9, None),
    ("router-solicitation", 10, None),
    ("time-exceeded", 11, None),
    ("ttl-exceeded", 11, None),
    ("ttl-zero-during-transit", 11, Some(0)),
    ("ttl-zero-during-reassembly", 11, Some(1)),
    ("parameter-problem", 12, None),
    ("ip-header-bad", 12, Some(0)),
    ("required-option-missing", 12, Some(1)),
    ("timestamp-request", 13, None),
    ("timestamp-reply", 14, None),
    ("address-mask-request", 17, None),
    ("address-mask-reply", 18, None),
];

pub(crate) fn translate(opts: &[&Opt], loc: &Loc, cx: &mut Cx) -> Vec<Stmt> {
    if cx.require_protocol("the icmp match", loc, &[1]).is_none() {
        return Vec::new();
    }
    opts.iter()
        .flat_map(|opt| type_match(opt, TYPES, Some(255), Field::IcmpType, Field::IcmpCode, cx))
        .collect()
}

/// The matches for one `--icmp-type`/`--icmpv6-type` option. `any` is the type number that
/// means "every type" (IPv4 only).
pub(crate) fn type_match(
    opt: &Opt,
    table: &[(&str, u8, Option<u8>)],
    any: Option<u8>,
    type_field: Field,
    code_field: Field,
    cx: &mut Cx,
) -> Vec<Stmt> {
    let Some(arg) = cx.one_arg(opt) else {
        return Vec::new();
    };
    let Some((ty, code)) = parse_type(arg, table) else {
        cx.bad_value(
            opt,
            arg,
            "use a type name from `iptables -p icmp -h`, a number, or TYPE/CODE",
        );
        return Vec::new();
    };
    let negated = opt.negated.is_negated();
    // The kernel's "any" type ignores the code.
    if Some(ty) == any {
        if negated {
            cx.error(
                "translate/never-matches",
                &opt.loc,
                format!("`! {} {arg}` matches no packet", opt.name),
                "delete the rule",
            );
        }
        return Vec::new();
    }
    let op = if negated { CmpOp::Ne } else { CmpOp::Eq };
    let ty_match = Stmt::Match(Match::Cmp {
        left: Expr::Payload(type_field),
        op,
        right: Value::Num(u64::from(ty)),
    });
    match code {
        None => vec![ty_match],
        Some(_) if negated => {
            cx.unsupported_value(
                opt,
                &format!("negated type and code `{arg}`"),
                "negate the type only, or list the wanted codes in separate rules",
            );
            Vec::new()
        }
        Some(c) => vec![
            ty_match,
            Stmt::Match(Match::Cmp {
                left: Expr::Payload(code_field),
                op,
                right: Value::Num(u64::from(c)),
            }),
        ],
    }
}

/// `NAME`, `TYPE` or `TYPE/CODE`: the type and, if restricted, the code.
fn parse_type(s: &str, table: &[(&str, u8, Option<u8>)]) -> Option<(u8, Option<u8>)> {
    if s.starts_with(|c: char| c.is_ascii_digit()) {
        return match s.split_once('/') {
            Some((t, c)) => Some((t.parse().ok()?, Some(c.parse().ok()?))),
            None => Some((s.parse().ok()?, None)),
        };
    }
    if let Some((_, t, c)) = table.iter().find(|(name, ..)| name.eq_ignore_ascii_case(s)) {
        return Some((*t, *c));
    }
    let lower = s.to_ascii_lowercase();
    let mut hits = table
        .iter()
        .filter(|(name, ..)| name.to_ascii_lowercase().starts_with(&lower));
    match (hits.next(), hits.next()) {
        (Some((_, t, c)), None) => Some((*t, *c)),
        _ => None,
    }
}
