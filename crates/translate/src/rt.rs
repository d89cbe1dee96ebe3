//! `-m rt` (ip6tables only): `--rt-type`, `--rt-segsleft`, `--rt-len`, to nft `rt type`,
//! `rt seg-left`, `rt hdrlength` and `exthdr rt exists`. Also the shared byte-field logic of
//! the IPv6 extension header matches ([`byte_field`]), which `hbh.rs` uses.
//!
//! Exactness. xt_rt finds the routing header with `ipv6_find_hdr`; when the packet has none the
//! match is false whatever the `!`s say, because `!` inverts one field test, never the header
//! search. nft's `exthdr` uses the same search and ends the rule when the header is absent, for
//! `!=` too, so `! --rt-type 0` is exactly `rt type != 0` and a bare `-m rt` is `exthdr rt
//! exists` (the reference translator drops it and matches every packet). `--rt-len` is the
//! header's total length in bytes, `(hdrlength + 1) * 8`, not the raw field the reference
//! translator compares it with. Values outside a byte (`--rt-segsleft 5:4294967295`, the
//! default) are cut to what one byte can hold; a test no packet can pass is refused, one every
//! packet with the header passes becomes `exthdr rt exists`.
//!
//! Where the two differ, on malformed packets only: a routing header whose length field runs
//! past the end of the packet, and an extension header chain cut short before the routing
//! header, make `-m rt` drop the packet whatever the rule's target (checked on kernel 6.18 with
//! crafted packets in a scratch namespace by `test_data/kernel-check/exthdr.py`: the legacy
//! rule and the chain policy count nothing), while nft's rule ends for the cut chain and tests
//! the fields of the truncated header as usual. fwnet accepts that, as it does for the
//! truncated TCP headers of `--dport`, which xt_tcp drops and nft's rule skips.
//!
//! The type 0 options (`--rt-0-res`, `--rt-0-addrs`, `--rt-0-not-strict`) are refused.

use crate::rule::Cx;
use fwnet_iptables::diag::Loc;
use fwnet_iptables::Opt;
use fwnet_nft::{CmpOp, Expr, Exthdr, ExthdrField, Ipv6Ext, Match, Stmt, Value};

pub(crate) const OPTIONS: &[&[&str]] = &[
    &["--rt-type"],
    &["--rt-segsleft"],
    &["--rt-len"],
    &["--rt-0-res"],
    &["--rt-0-addrs"],
    &["--rt-0-not-strict"],
];

pub(crate) fn translate(opts: &[&Opt], _loc: &Loc, cx: &mut Cx) -> Vec<Stmt> {
    let mut out = Vec::new();
    for opt in opts {
        let field = match opt.name.as_str() {
            "--rt-type" => ExthdrField::RtType,
            "--rt-segsleft" => ExthdrField::RtSegLeft,
            "--rt-len" => ExthdrField::RtHdrlength,
            _ => {
                cx.unsupported_option(
                    opt,
                    "the type 0 routing header options compare the reserved word and the address list, which fwnet does not translate; type 0 headers are deprecated (RFC 5095), so `-m rt --rt-type 0 -j DROP` alone usually does what was meant",
                );
                continue;
            }
        };
        let Some(arg) = cx.one_arg(opt) else {
            continue;
        };
        let span = if field == ExthdrField::RtHdrlength {
            total_length(arg)
        } else if field == ExthdrField::RtSegLeft {
            u32_range(arg)
        } else {
            arg.parse::<u32>().ok().map(|n| (n, n))
        };
        let Some((lo, hi)) = span else {
            cx.bad_value(opt, arg, value_help(field));
            continue;
        };
        out.extend(byte_field(opt, field, lo, hi, cx));
    }
    if out.is_empty() && !cx.has_errors() {
        out.push(present(Ipv6Ext::Rt));
    }
    out
}

fn value_help(field: ExthdrField) -> &'static str {
    match field {
        ExthdrField::RtSegLeft => "segments left is a number from 0 to 4294967295, or MIN:MAX",
        ExthdrField::RtType => "a routing type is a number from 0 to 255",
        _ => "a header length is a number of bytes from 8 to 2048",
    }
}

/// `exthdr HDR exists`.
pub(crate) fn present(hdr: Ipv6Ext) -> Stmt {
    Stmt::Match(Match::Cmp {
        left: Expr::Exthdr(Exthdr::Present(hdr)),
        op: CmpOp::Eq,
        right: Value::Num(1),
    })
}

/// A test of an extension header field (one byte, or the 32-bit `frag id`) against the
/// kernel's `lo..=hi` (32-bit, as the xt match stores it; `lo > hi` holds no value), inverted
/// by the option's `!`. `None` when it
/// is no test at all (every present header passes: the caller adds `exthdr X exists` if the
/// match has no other test) or, with an error, when no packet can pass it.
pub(crate) fn byte_field(
    opt: &Opt,
    field: ExthdrField,
    lo: u32,
    hi: u32,
    cx: &mut Cx,
) -> Option<Stmt> {
    let inverted_range = lo > hi;
    let max = if field == ExthdrField::FragId {
        u32::MAX
    } else {
        255
    };
    let hi = hi.min(max);
    // The byte values that pass before `!`: empty, all 256, or lo..=hi.
    let empty = lo > hi;
    let full = !empty && lo == 0 && hi == max;
    let negated = opt.negated.is_negated();
    let (hdr, _) = field.location();
    match (negated, empty, full) {
        (false, true, _) | (true, _, true) => {
            let why = match (negated, field) {
                (true, _) => "the range holds every value of the field",
                (
                    false,
                    ExthdrField::RtHdrlength
                    | ExthdrField::HbhHdrlength
                    | ExthdrField::DstHdrlength,
                ) => "a header's total length is a multiple of 8 bytes from 8 to 2048",
                (false, _) if inverted_range => "the range is empty (MIN is above MAX)",
                (false, _) => "the header field is one byte, 0 to 255",
            };
            cx.error(
                "translate/never-matches",
                &opt.loc,
                format!(
                    "`{}{} {}` matches no packet: {why}",
                    if negated { "! " } else { "" },
                    opt.name,
                    opt.args.join(" ")
                ),
                "correct the value, or delete the rule",
            );
            None
        }
        (false, _, true) | (true, true, _) => {
            if negated {
                Some(present(hdr))
            } else {
                None
            }
        }
        _ => Some(Stmt::Match(Match::Cmp {
            left: Expr::Exthdr(Exthdr::Field(field)),
            op: if negated { CmpOp::Ne } else { CmpOp::Eq },
            right: if lo == hi {
                Value::Num(lo.into())
            } else {
                Value::Range(lo.into(), hi.into())
            },
        })),
    }
}

/// `N`, `MIN:MAX`, `MIN:` or `:MAX` as xtables reads a 32-bit range (open ends are 0 and
/// 4294967295); `MIN > MAX` is kept, it holds no value.
pub(crate) fn u32_range(arg: &str) -> Option<(u32, u32)> {
    let num = |s: &str, default: u32| {
        if s.is_empty() {
            Some(default)
        } else {
            s.parse::<u32>().ok()
        }
    };
    match arg.split_once(':') {
        Some((a, b)) => Some((num(a, 0)?, num(b, u32::MAX)?)),
        None => arg.parse::<u32>().ok().map(|n| (n, n)),
    }
}

/// A total header length in bytes (`--rt-len`, `--hbh-len`) as the values of the one-byte
/// length field that have it: `(field + 1) * 8 == bytes`. A length no header can have yields
/// an empty span (1, 0).
pub(crate) fn total_length(arg: &str) -> Option<(u32, u32)> {
    let bytes = arg.parse::<u32>().ok()?;
    if bytes % 8 == 0 && (8..=2048).contains(&bytes) {
        let field = bytes / 8 - 1;
        Some((field, field))
    } else {
        Some((1, 0))
    }
}
