//! `-m length --length MIN[:MAX]`: for IPv4 nft `ip length MIN-MAX`; `!=` when negated.
//!
//! Exactness: xt_length tests the length the IP header states, not the buffer's: IPv4's total
//! length field, which `ip length` loads, and for IPv6 the payload length plus the 40-byte
//! header, computed in 16 bits. So IPv6 is `ip6 length` with the bounds lowered by 40; the
//! lengths below 40 are reachable only through that 16-bit wrap, from payload lengths 65496 and
//! up, and a range on both sides of 40 becomes the complement of the payload lengths between
//! the two pieces (`ip6 length != 261-65497` for `--length 2:300`). `meta length` (the buffer)
//! would differ for aggregated and jumbo packets. An open end (`MIN:`, `:MAX`) is 0 or 65535, as libxt_length
//! reads it. This module does not check the ruleset's protocol.

use crate::rule::Cx;
use crate::IpFamily;
use fwnet_iptables::diag::Loc;
use fwnet_iptables::Opt;
use fwnet_nft::{CmpOp, Expr, Field, Match, Stmt, Value};

pub(crate) const OPTIONS: &[&[&str]] = &[&["--length"]];

/// The IPv6 header that xt_length adds to the payload length.
const IPV6_HEADER: u64 = 40;

pub(crate) fn translate(opts: &[&Opt], loc: &Loc, cx: &mut Cx) -> Vec<Stmt> {
    let Some(opt) = opts.first() else {
        cx.error(
            "translate/bad-value",
            loc,
            "`-m length` needs `--length`",
            "iptables refuses the match without it; add `--length MIN[:MAX]`",
        );
        return Vec::new();
    };
    let Some(arg) = cx.one_arg(opt) else {
        return Vec::new();
    };
    let Some((min, max)) = bounds(arg) else {
        cx.bad_value(
            opt,
            arg,
            "a length is a number from 0 to 65535, or MIN:MAX with MIN <= MAX",
        );
        return Vec::new();
    };
    let op = if opt.negated.is_negated() {
        CmpOp::Ne
    } else {
        CmpOp::Eq
    };
    let (field, op, right) = match cx.family {
        IpFamily::V4 => (Field::IpLength, op, span(min, max)),
        IpFamily::V6 => match ipv6_payload(min, max) {
            Payload::In(v) => (Field::Ip6Length, op, v),
            Payload::NotIn(v) => (Field::Ip6Length, flip(op), v),
            Payload::Any if op == CmpOp::Eq => return Vec::new(),
            Payload::Any => {
                cx.bad_value(opt, arg, "every IPv6 packet has such a length, so the negated test never matches; remove the rule");
                return Vec::new();
            }
        },
    };
    vec![Stmt::Match(Match::Cmp {
        left: Expr::Payload(field),
        op,
        right,
    })]
}

/// `MIN`, `MIN:MAX`, `MIN:` or `:MAX`, 16-bit each, MIN <= MAX.
fn bounds(arg: &str) -> Option<(u64, u64)> {
    let num = |s: &str, default: u16| {
        if s.is_empty() {
            Some(default)
        } else {
            s.parse::<u16>().ok()
        }
    };
    let (min, max) = match arg.split_once(':') {
        Some((a, b)) => (num(a, 0)?, num(b, u16::MAX)?),
        None => {
            let n = arg.parse::<u16>().ok()?;
            (n, n)
        }
    };
    (min <= max).then_some((u64::from(min), u64::from(max)))
}

fn span(min: u64, max: u64) -> Value {
    if min == max {
        Value::Num(min)
    } else {
        Value::Range(min, max)
    }
}

/// Which IPv6 payload lengths give a length in the range.
#[derive(Debug, PartialEq)]
enum Payload {
    In(Value),
    NotIn(Value),
    /// Every one.
    Any,
}

/// The payload lengths p with `(p + 40) mod 65536` in `[min, max]`: one interval above 40 or
/// below it (shifted by the wrap), or, for a range across 40, all but the gap between them.
fn ipv6_payload(min: u64, max: u64) -> Payload {
    let wrap = 65536 - IPV6_HEADER;
    if max < IPV6_HEADER {
        return Payload::In(span(min + wrap, max + wrap));
    }
    if min >= IPV6_HEADER {
        return Payload::In(span(min - IPV6_HEADER, max - IPV6_HEADER));
    }
    // [0, max - 40] and [min + wrap, 65535]: everything but [max - 39, min + wrap - 1].
    let (gap_lo, gap_hi) = (max - IPV6_HEADER + 1, min + wrap - 1);
    if gap_lo > gap_hi {
        Payload::Any
    } else {
        Payload::NotIn(span(gap_lo, gap_hi))
    }
}

fn flip(op: CmpOp) -> CmpOp {
    match op {
        CmpOp::Eq => CmpOp::Ne,
        CmpOp::Ne => CmpOp::Eq,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ipv6_lengths_below_the_header_come_from_the_16_bit_wrap() {
        assert_eq!(ipv6_payload(40, 100), Payload::In(Value::Range(0, 60)));
        assert_eq!(ipv6_payload(2, 39), Payload::In(Value::Range(65498, 65535)));
        assert_eq!(
            ipv6_payload(2, 300),
            Payload::NotIn(Value::Range(261, 65497))
        );
        assert_eq!(ipv6_payload(39, 40), Payload::NotIn(Value::Range(1, 65534)));
        assert_eq!(ipv6_payload(40, 40), Payload::In(Value::Num(0)));
        assert_eq!(ipv6_payload(0, 65535), Payload::Any);
        assert_eq!(ipv6_payload(1, 65535), Payload::NotIn(Value::Num(65496)));
    }

    #[test]
    fn open_ends_and_reversed_bounds() {
        assert_eq!(bounds("40:"), Some((40, 65535)));
        assert_eq!(bounds(":68"), Some((0, 68)));
        assert_eq!(bounds("68:40"), None);
        assert_eq!(bounds("65536"), None);
    }
}
