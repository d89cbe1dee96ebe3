//! `-m iprange --src-range A-B --dst-range C-D`: nft `ip saddr A-B ip daddr C-D` (`ip6` in
//! an ip6tables ruleset), `!=` when negated; a one-address range is a plain address test.
//!
//! Exactness: xt_iprange compares the address numerically with both ends, inclusive, source
//! before destination; nft's `a-b` is two unsigned big-endian compares (or one `range neq`),
//! the same order on the same bytes. A reversed range is refused (nft cannot write it; it would
//! never match). Addresses are numeric only, as libxt_iprange reads them.

use crate::rule::Cx;
use crate::IpFamily;
use fwnet_iptables::diag::Loc;
use fwnet_iptables::Opt;
use fwnet_nft::{CmpOp, Expr, Field, Match, Stmt, Value};
use std::net::IpAddr;

pub(crate) const OPTIONS: &[&[&str]] = &[&["--src-range"], &["--dst-range"]];

pub(crate) fn translate(opts: &[&Opt], loc: &Loc, cx: &mut Cx) -> Vec<Stmt> {
    if opts.is_empty() {
        cx.error(
            "translate/bad-value",
            loc,
            "`-m iprange` needs `--src-range` or `--dst-range`",
            "iptables refuses the match without one; add the range",
        );
    }
    let mut stmts = Vec::new();
    // Source first, as xt_iprange tests it.
    for name in ["--src-range", "--dst-range"] {
        for opt in opts.iter().filter(|o| o.name == name) {
            stmts.extend(range(opt, name == "--src-range", cx));
        }
    }
    stmts
}

fn range(opt: &Opt, source: bool, cx: &mut Cx) -> Option<Stmt> {
    let arg = cx.one_arg(opt)?;
    let parse = |s: &str| -> Option<IpAddr> {
        match cx.family {
            IpFamily::V4 => crate::ip::parse_v4(s).map(IpAddr::V4),
            IpFamily::V6 => s.parse().ok().map(IpAddr::V6),
        }
    };
    let parsed = match arg.split_once('-') {
        Some((a, b)) => parse(a).zip(parse(b)),
        None => parse(arg).map(|a| (a, a)),
    };
    let Some((lo, hi)) = parsed else {
        cx.bad_value(
            opt,
            arg,
            format!(
                "expected FROM-TO with two numeric {} addresses",
                if cx.family == IpFamily::V6 {
                    "IPv6"
                } else {
                    "IPv4"
                }
            ),
        );
        return None;
    };
    if lo > hi {
        cx.bad_value(
            opt,
            arg,
            "the range is reversed and never matches; write the lower address first",
        );
        return None;
    }
    let field = match (cx.family, source) {
        (IpFamily::V4, true) => Field::IpSaddr,
        (IpFamily::V4, false) => Field::IpDaddr,
        (IpFamily::V6, true) => Field::Ip6Saddr,
        (IpFamily::V6, false) => Field::Ip6Daddr,
    };
    Some(Stmt::Match(Match::Cmp {
        left: Expr::Payload(field),
        op: if opt.negated.is_negated() {
            CmpOp::Ne
        } else {
            CmpOp::Eq
        },
        right: if lo == hi {
            Value::Addr(lo)
        } else {
            Value::AddrRange(Box::new(lo), Box::new(hi))
        },
    }))
}
