//! `-m pkttype --pkt-type unicast|broadcast|multicast`: nft `meta pkttype host|broadcast|
//! multicast`, `!=` when negated.
//!
//! Exactness: xt_pkttype compares `skb->pkt_type`, except that a looped-back packet
//! (PACKET_LOOPBACK) counts as multicast when IPv4 with a multicast destination or IPv6, and
//! as broadcast otherwise; nft_meta's `pkttype` load classifies looped-back packets the same
//! way for the ip and ip6 families, so the comparison is the same for every packet. The names
//! are libxt_pkttype's, matched case-insensitively (`bcast`, `mcast` and `host` are aliases).
//! This module does not translate the unlisted types (`otherhost`, `outgoing`).

use crate::rule::Cx;
use fwnet_iptables::diag::Loc;
use fwnet_iptables::Opt;
use fwnet_nft::{CmpOp, Expr, Match, MetaKey, Stmt, Value};

pub(crate) const OPTIONS: &[&[&str]] = &[&["--pkt-type"]];

/// libxt_pkttype's names and PACKET_* values.
const TYPES: &[(&str, u64)] = &[
    ("unicast", 0),
    ("broadcast", 1),
    ("multicast", 2),
    ("bcast", 1),
    ("mcast", 2),
    ("host", 0),
];

pub(crate) fn translate(opts: &[&Opt], loc: &Loc, cx: &mut Cx) -> Vec<Stmt> {
    let Some(opt) = opts.first() else {
        cx.error(
            "translate/bad-value",
            loc,
            "`-m pkttype` needs `--pkt-type`",
            "iptables refuses the match without it; add `--pkt-type unicast|broadcast|multicast`",
        );
        return Vec::new();
    };
    let Some(arg) = cx.one_arg(opt) else {
        return Vec::new();
    };
    let Some((_, value)) = TYPES.iter().find(|(n, _)| n.eq_ignore_ascii_case(arg)) else {
        cx.bad_value(
            opt,
            arg,
            "packet types are unicast, broadcast and multicast",
        );
        return Vec::new();
    };
    vec![Stmt::Match(Match::Cmp {
        left: Expr::Meta(MetaKey::Pkttype),
        op: if opt.negated.is_negated() {
            CmpOp::Ne
        } else {
            CmpOp::Eq
        },
        right: Value::Num(*value),
    })]
}
