//! xt_mark: the `-m mark --mark VALUE[/MASK]` match, nft `meta mark VALUE`, or
//! `meta mark & MASK == VALUE` with a mask, `!=` when negated; the `-j MARK` target, nft
//! `meta mark set ...`; and the value/mask reader and xmark arithmetic shared with connmark.
//!
//! Exactness: xt_mark matches `(skb->mark & mask) == value`, inverted by `!`, with mask
//! 0xffffffff by default; nft compares the loaded mark the same way. A value with bits outside
//! its mask never matches in either.
//!
//! The target computes `mark = (mark & ~M) ^ V` and lets the packet go on to the next rule.
//! Every option is that formula (libxt_MARK): `--set-xmark V/M`; `--set-mark V/M` is
//! `V/(V|M)`; `--and-mark B` is `0/~B`; `--or-mark B` is `B/B`; `--xor-mark B` is `B/0`; a
//! missing mask is 0xffffffff. nft's `meta mark set meta mark & ~M ^ V` is one bitwise with
//! exactly that mask and xor, and the rule has no verdict, so it goes on too. This module does
//! not check the table (xt_MARK revision 2 has no table restriction).

use crate::rule::Cx;
use fwnet_iptables::diag::Loc;
use fwnet_iptables::Opt;
use fwnet_nft::{CmpOp, Expr, MarkKey, MarkSet, Match, Stmt, Value};

pub(crate) const OPTIONS: &[&[&str]] = &[&["--mark"]];

/// The operations both `-j MARK` and `-j CONNMARK` have.
pub(crate) const XMARK_OPTIONS: &[&str] = &[
    "--set-xmark",
    "--set-mark",
    "--and-mark",
    "--or-mark",
    "--xor-mark",
];

/// `-j MARK`: exactly one of [`XMARK_OPTIONS`].
pub(crate) fn target(opts: &[&Opt], loc: &Loc, cx: &mut Cx) -> Vec<Stmt> {
    let Some(op) = one_operation("MARK", XMARK_OPTIONS, opts, loc, cx) else {
        return Vec::new();
    };
    xmark(op, cx)
        .map(|(value, mask)| vec![Stmt::MarkSet(xmark_set(MarkKey::Meta, value, mask))])
        .unwrap_or_default()
}

/// The single operation among `ops` (a target's options other than its masks), or an
/// error: iptables refuses a MARK or CONNMARK target with none or with two. `names` lists the
/// target's operations for the help text.
pub(crate) fn one_operation<'o>(
    target: &str,
    names: &[&str],
    ops: &[&'o Opt],
    loc: &Loc,
    cx: &mut Cx,
) -> Option<&'o Opt> {
    match ops {
        [] => {
            cx.error(
                "translate/bad-value",
                loc,
                format!("`-j {target}` needs an operation"),
                format!(
                    "iptables refuses the target without one; add one of {}",
                    names.join(", ")
                ),
            );
            None
        }
        [op] => cx.not_negated(op).then_some(*op),
        [_, second, ..] => {
            cx.error(
                "translate/bad-value",
                &second.loc,
                format!(
                    "`-j {target}` takes one operation, `{}` is a second",
                    second.name
                ),
                "iptables refuses this; split the rule in two",
            );
            None
        }
    }
}

/// One of [`XMARK_OPTIONS`] as libxt_MARK stores it: the new mark is `(mark & ~mask) ^ value`;
/// returns `(value, mask)`.
pub(crate) fn xmark(opt: &Opt, cx: &mut Cx) -> Option<(u32, u32)> {
    let arg = cx.one_arg(opt)?;
    let with_mask = matches!(opt.name.as_str(), "--set-xmark" | "--set-mark");
    let parsed = if with_mask {
        value_mask(arg).map(|(v, m)| (v, m.unwrap_or(0xffff_ffff)))
    } else {
        number(arg).map(|b| (b, 0))
    };
    let Some((v, m)) = parsed else {
        let help = if with_mask {
            "a mark is a 32-bit number (decimal, 0x hex or 0 octal), optionally /MASK"
        } else {
            "the bits are a 32-bit number (decimal, 0x hex or 0 octal), without a mask"
        };
        cx.bad_value(opt, arg, help);
        return None;
    };
    // `number` reads at most 32 bits.
    let (v, m) = (v as u32, m as u32);
    Some(match opt.name.as_str() {
        "--set-mark" => (v, v | m),
        "--and-mark" => (0, !v),
        "--or-mark" => (v, v),
        "--xor-mark" => (v, 0),
        _ => (v, m),
    })
}

/// `dest = (dest & ~mask) ^ value`, a constant when the mask covers every bit.
pub(crate) fn xmark_set(dest: MarkKey, value: u32, mask: u32) -> MarkSet {
    MarkSet {
        dest,
        src: dest,
        mask: !mask,
        xor: value,
    }
}

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
            mask: Box::new(Value::Num(mask)),
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
