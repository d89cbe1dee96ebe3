//! `-m dscp --dscp N | --dscp-class NAME` (the match) and `-j DSCP --set-dscp N |
//! --set-dscp-class NAME` (the target), as nft `ip dscp N` / `ip6 dscp N` and `ip dscp set N` /
//! `ip6 dscp set N`.
//!
//! Exactness, from the kernel's xt_dscp and xt_DSCP: the match compares the DiffServ field's
//! top 6 bits (the IPv4 TOS byte, the IPv6 traffic class, shifted right by 2) with N, `!`
//! inverting the result; nft loads the same bits and compares them the same way, so a `!` is
//! `!=`. Both read the fixed IP header, present in every packet the hooks see. The target
//! rewrites those 6 bits, keeps the 2 ECN bits, fixes the IPv4 header checksum and lets the
//! rule go on; nft's `dscp set` does the same (a two-byte load, clear-and-xor, and a write
//! with the inet checksum fix for IPv4; xt_DSCP drops the packet when it cannot make the
//! header writable, where nft ends the rule, which happens only when memory runs out). The
//! kernel refuses DSCP outside the mangle table and values above 63; so does this module. The
//! table's family picks `ip` or `ip6`: an IPv4 rule never writes `ip6 dscp` (a bug of the
//! reference translator, which wrote it for `-j TOS`).
//!
//! Numbers are read as libxt_dscp reads them (strtoul base 0: decimal, `0x` hex, leading-`0`
//! octal), at most 63. Class names are case-insensitive, as libxt_dscp compares them: `CS0` to
//! `CS7` are 8n, `AFxy` (x 1-4, y 1-3) is 8x+2y, `EF` 46 and `BE` 0. Checked with
//! iptables-legacy 1.8.9 in a namespace: `--dscp-class AF41` is saved as `--dscp 0x22`, `BE` as
//! `0x00`, `ef` as `0x2e`, and `-j DSCP --set-dscp-class af11` as `--set-dscp 0x0a`.
//! The match is checked against the legacy kernel with crafted IPv4 packets by
//! `test_data/kernel-check/dsfield.py`. This module does not translate `-j TOS` (see
//! [`crate::tos`]).

use crate::rule::Cx;
use crate::IpFamily;
use fwnet_iptables::diag::Loc;
use fwnet_iptables::Opt;
use fwnet_nft::{CmpOp, Expr, Field, Match, Stmt, Value};

pub(crate) const OPTIONS: &[&[&str]] = &[&["--dscp"], &["--dscp-class"]];

pub(crate) const TARGET_OPTIONS: &[&str] = &["--set-dscp", "--set-dscp-class"];

/// XT_DSCP_MAX: the largest codepoint.
const MAX: u32 = 0x3f;

/// The DSCP field of the table's family.
fn field(family: IpFamily) -> Field {
    match family {
        IpFamily::V4 => Field::IpDscp,
        IpFamily::V6 => Field::Ip6Dscp,
    }
}

/// A DiffServ class name's codepoint, as libxt_dscp knows them (case-insensitive).
pub(crate) fn class(name: &str) -> Option<u8> {
    let upper = name.to_ascii_uppercase();
    match upper.as_str() {
        "BE" => return Some(0),
        "EF" => return Some(46),
        _ => {}
    }
    let digits = |s: &str| -> Option<Vec<u8>> {
        s.bytes()
            .map(|b| b.is_ascii_digit().then(|| b - b'0'))
            .collect()
    };
    if let Some(rest) = upper.strip_prefix("CS") {
        if let Some([n @ 0..=7]) = digits(rest).as_deref() {
            return Some(8 * n);
        }
    }
    if let Some(rest) = upper.strip_prefix("AF") {
        if let Some([x @ 1..=4, y @ 1..=3]) = digits(rest).as_deref() {
            return Some(8 * x + 2 * y);
        }
    }
    None
}

/// A codepoint given as a number (`numeric`) or a class name.
fn codepoint(opt: &Opt, numeric: bool, cx: &mut Cx) -> Option<u8> {
    let arg = cx.one_arg(opt)?;
    let value = if numeric {
        crate::ip::c_number(arg)
            .filter(|n| *n <= MAX)
            .map(|n| n as u8)
    } else {
        class(arg)
    };
    if value.is_none() {
        let help = if numeric {
            "a DSCP is a number from 0 to 63 (decimal or 0x hex)"
        } else {
            "a class is BE, EF, CS0 to CS7, or AF11 to AF43 (AFxy with x 1-4, y 1-3)"
        };
        cx.bad_value(opt, arg, help);
    }
    value
}

/// Exactly one of the two options, as libxt_dscp requires.
fn one<'o>(
    opts: &[&'o Opt],
    loc: &Loc,
    what: &str,
    names: [&str; 2],
    cx: &mut Cx,
) -> Option<&'o Opt> {
    match opts {
        [opt] => Some(*opt),
        _ => {
            cx.error(
                "translate/bad-value",
                loc,
                format!(
                    "{what} needs exactly one of `{}` and `{}`",
                    names[0], names[1]
                ),
                "iptables refuses it otherwise; keep one",
            );
            None
        }
    }
}

/// `-m dscp`.
pub(crate) fn translate(opts: &[&Opt], loc: &Loc, cx: &mut Cx) -> Vec<Stmt> {
    let Some(opt) = one(opts, loc, "`-m dscp`", ["--dscp", "--dscp-class"], cx) else {
        return Vec::new();
    };
    let Some(n) = codepoint(opt, opt.name == "--dscp", cx) else {
        return Vec::new();
    };
    let op = if opt.negated.is_negated() {
        CmpOp::Ne
    } else {
        CmpOp::Eq
    };
    vec![Stmt::Match(Match::Cmp {
        left: Expr::Payload(field(cx.family)),
        op,
        right: Value::Num(u64::from(n)),
    })]
}

/// `-j DSCP` (mangle table only).
pub(crate) fn target(opts: &[&Opt], loc: &Loc, cx: &mut Cx) -> Vec<Stmt> {
    if cx.table != "mangle" {
        cx.error(
            "translate/bad-value",
            loc,
            format!("`-j DSCP` cannot be used in table {}", cx.table),
            "the kernel allows DSCP in the mangle table only; move the rule there",
        );
        return Vec::new();
    }
    let Some(opt) = one(
        opts,
        loc,
        "`-j DSCP`",
        ["--set-dscp", "--set-dscp-class"],
        cx,
    ) else {
        return Vec::new();
    };
    if !cx.not_negated(opt) {
        return Vec::new();
    }
    let Some(value) = codepoint(opt, opt.name == "--set-dscp", cx) else {
        return Vec::new();
    };
    vec![Stmt::DscpSet {
        field: field(cx.family),
        value,
    }]
}

#[cfg(test)]
mod tests {
    use super::class;

    #[test]
    fn class_names_are_the_libxt_dscp_codepoints() {
        let cases = [
            ("BE", Some(0)),
            ("be", Some(0)),
            ("CS0", Some(0)),
            ("cs1", Some(8)),
            ("CS7", Some(56)),
            ("CS8", None),
            ("AF11", Some(10)),
            ("af12", Some(12)),
            ("AF13", Some(14)),
            ("AF21", Some(18)),
            ("AF41", Some(34)),
            ("AF43", Some(38)),
            ("AF44", None),
            ("AF51", None),
            ("AF1", None),
            ("EF", Some(46)),
            ("ef", Some(46)),
            ("CS", None),
            ("", None),
        ];
        for (name, want) in cases {
            assert_eq!(class(name), want, "{name}");
        }
    }
}
