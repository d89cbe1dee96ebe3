//! `-m mark --mark VALUE[/MASK]`: nft `meta mark VALUE`, or `meta mark & MASK == VALUE` with a
//! mask, `!=` when negated; the value/mask reader shared with `-m connmark`.
//!
//! Exactness: xt_mark matches `(skb->mark & mask) == value`, inverted by `!`, with mask
//! 0xffffffff by default; nft compares the loaded mark the same way. A value with bits outside
//! its mask never matches in either. This module does not handle `-j MARK` (a target).

use crate::rule::Cx;
use fwnet_iptables::diag::Loc;
use fwnet_iptables::Opt;
use fwnet_nft::{CmpOp, Expr, Match, Stmt, Value};

pub(crate) const OPTIONS: &[&[&str]] = &[&["--mark"]];

pub(crate) fn translate(opts: &[&Opt], loc: &Loc, cx: &mut Cx) -> Vec<Stmt> {
    if opts.is_empty() {
        cx.error(
            "translate/bad-value",
            loc,
            "`-m mark` needs `--mark`",
            "iptables refuses the match without it; add `--mark VALUE[/MASK]`",
        );
    }
    opts.iter()
        .filter_map(|opt| test(Expr::Meta(fwnet_nft::MetaKey::Mark), opt, cx))
        .collect()
}

/// `--mark VALUE[/MASK]` on `left` (`meta mark` or `ct mark`).
pub(crate) fn test(left: Expr, opt: &Opt, cx: &mut Cx) -> Option<Stmt> {
    let arg = cx.one_arg(opt)?;
    let Some((value, mask)) = value_mask(arg) else {
        cx.bad_value(
            opt,
            arg,
            "a mark is a 32-bit number (decimal, 0x hex or 0 octal), optionally /MASK",
        );
        return None;
    };
    let op = if opt.negated.is_negated() {
        CmpOp::Ne
    } else {
        CmpOp::Eq
    };
    Some(Stmt::Match(match mask {
        None | Some(0xffff_ffff) => Match::Cmp {
            left,
            op,
            right: Value::Num(value),
        },
        Some(mask) => Match::Masked {
            left,
            mask: Value::Num(mask),
            op,
            value: Value::Num(value),
        },
    }))
}

/// `VALUE[/MASK]`, each a 32-bit number as strtoul reads it with base 0.
pub(crate) fn value_mask(arg: &str) -> Option<(u64, Option<u64>)> {
    match arg.split_once('/') {
        Some((v, m)) => Some((number(v)?, Some(number(m)?))),
        None => Some((number(arg)?, None)),
    }
}

/// A 32-bit number: `0x` hex, leading-`0` octal, or decimal.
pub(crate) fn number(s: &str) -> Option<u64> {
    let n = if let Some(hex) = s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        u32::from_str_radix(hex, 16).ok()?
    } else if s.len() > 1 && s.starts_with('0') {
        u32::from_str_radix(&s[1..], 8).ok()?
    } else {
        s.parse::<u32>().ok()?
    };
    Some(u64::from(n))
}
