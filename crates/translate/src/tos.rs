//! `-m tos --tos VALUE[/MASK] | NAME` (the match), and the refusal of `-j TOS`.
//!
//! The match, from the kernel's xt_tos (revision 1): `(tos & MASK) == VALUE`, `!` inverting
//! it, where tos is the IPv4 TOS byte or the IPv6 traffic class. nft has no `ip tos`; for IPv4
//! the raw `@nh,8,8` loads the same byte, so the test is `@nh,8,8 & MASK == VALUE` (`!=` for
//! `!`), and `@nh,8,8 VALUE` when the mask is 0xff (nft then emits no bitwise). IPv6's
//! traffic class straddles two header bytes; it is translated only where it splits into nft's
//! own fields: MASK 0xfc is `ip6 dscp VALUE>>2`, MASK 0x03 is `ip6 ecn VALUE`, and MASK 0xff
//! without `!` is both tests; other IPv6 masks are refused. A test that cannot depend on the
//! packet (MASK 0, or VALUE bits outside MASK) is refused as a mistake.
//!
//! Values are read as libxt_tos reads them: a number (strtoul base 0) up to 0xff, optionally
//! `/MASK`, the mask defaulting to 0xff; or a name, case-insensitive, with mask 0x3f:
//! Minimize-Delay 0x10, Maximize-Throughput 0x08, Maximize-Reliability 0x04, Minimize-Cost
//! 0x02, Normal-Service 0x00. Checked with iptables-legacy 1.8.9 in a namespace:
//! `--tos Minimize-Delay` is saved as `--tos 0x10/0x3f`, `--tos 16` as `--tos 0x10/0xff`. The
//! IPv4 match is checked against the legacy kernel with crafted packets by
//! `test_data/kernel-check/dsfield.py`.
//!
//! `-j TOS` is refused ([`target`]): xt_TOS sets tos = (tos & ~MASK) ^ VALUE and fixes the
//! IPv4 header checksum, and nft has no such statement on the whole byte (a raw payload write
//! does not fix the checksum). When MASK covers exactly the DSCP bits (0xfc) and VALUE only
//! sets DSCP bits, the target is `-j DSCP --set-dscp VALUE>>2`, which fwnet translates; the
//! help says so.

use crate::rule::Cx;
use crate::IpFamily;
use fwnet_iptables::diag::Loc;
use fwnet_iptables::Opt;
use fwnet_nft::{CmpOp, Expr, Field, Match, Stmt, Value};

pub(crate) const OPTIONS: &[&[&str]] = &[&["--tos"]];

pub(crate) const TARGET_OPTIONS: &[&str] = &["--set-tos", "--and-tos", "--or-tos", "--xor-tos"];

/// The mask libxt_tos gives a symbolic value.
const NAME_MASK: u8 = 0x3f;

/// The DSCP bits of the TOS byte.
const DSCP_MASK: u8 = 0xfc;

/// `VALUE[/MASK]` or a name, as libxt_tos reads it: (value, mask).
pub(crate) fn value_mask(arg: &str) -> Option<(u8, u8)> {
    let byte = |s: &str| {
        crate::ip::c_number(s)
            .filter(|n| *n <= 0xff)
            .map(|n| n as u8)
    };
    if let Some((v, m)) = arg.split_once('/') {
        return Some((byte(v)?, byte(m)?));
    }
    if let Some(v) = byte(arg) {
        return Some((v, 0xff));
    }
    let names = [
        ("minimize-delay", 0x10),
        ("maximize-throughput", 0x08),
        ("maximize-reliability", 0x04),
        ("minimize-cost", 0x02),
        ("normal-service", 0x00),
    ];
    let lower = arg.to_ascii_lowercase();
    names
        .iter()
        .find(|(n, _)| *n == lower)
        .map(|(_, v)| (*v, NAME_MASK))
}

/// `-m tos`.
pub(crate) fn translate(opts: &[&Opt], loc: &Loc, cx: &mut Cx) -> Vec<Stmt> {
    let [opt] = opts else {
        cx.error(
            "translate/bad-value",
            loc,
            "`-m tos` needs `--tos` once",
            "iptables refuses the match otherwise",
        );
        return Vec::new();
    };
    let Some(arg) = cx.one_arg(opt) else {
        return Vec::new();
    };
    let Some((value, mask)) = value_mask(arg) else {
        cx.bad_value(
            opt,
            arg,
            "a TOS is VALUE[/MASK], numbers up to 0xff, or one of Minimize-Delay, Maximize-Throughput, Maximize-Reliability, Minimize-Cost, Normal-Service",
        );
        return Vec::new();
    };
    if mask == 0 || value & !mask != 0 {
        cx.error(
            "translate/bad-value",
            &opt.loc,
            format!("`--tos {arg}` does not depend on the packet"),
            "with mask 0, or value bits outside the mask, the match is always or never true; remove it or fix the mask",
        );
        return Vec::new();
    }
    let negated = opt.negated.is_negated();
    let op = if negated { CmpOp::Ne } else { CmpOp::Eq };
    let cmp = |field, n: u8| {
        Stmt::Match(Match::Cmp {
            left: Expr::Payload(field),
            op,
            right: Value::Num(u64::from(n)),
        })
    };
    match (cx.family, mask) {
        (IpFamily::V4, 0xff) => vec![cmp(Field::IpTos, value)],
        (IpFamily::V4, _) => vec![Stmt::Match(Match::Masked {
            left: Expr::Payload(Field::IpTos),
            mask: Box::new(Value::Num(u64::from(mask))),
            op,
            value: Value::Num(u64::from(value)),
        })],
        (IpFamily::V6, DSCP_MASK) => vec![cmp(Field::Ip6Dscp, value >> 2)],
        (IpFamily::V6, 0x03) => vec![cmp(Field::Ip6Ecn, value)],
        (IpFamily::V6, 0xff) if !negated => {
            vec![
                cmp(Field::Ip6Dscp, value >> 2),
                cmp(Field::Ip6Ecn, value & 3),
            ]
        }
        (IpFamily::V6, _) => {
            cx.error(
                "translate/inexact",
                &opt.loc,
                format!("`{}--tos {arg}` has no exact nft translation for IPv6", if negated { "! " } else { "" }),
                "the traffic class spans two header bytes and nft tests it only as `ip6 dscp` and `ip6 ecn`; use mask 0xfc (`-m dscp --dscp VALUE>>2`), mask 0x03 (`-m ecn --ecn-ip-ect VALUE`), or mask 0xff without `!`",
            );
            Vec::new()
        }
    }
}

/// `-j TOS`: always refused, with the `-j DSCP` equivalent when there is one.
pub(crate) fn target(opts: &[&Opt], loc: &Loc, cx: &mut Cx) -> Vec<Stmt> {
    // (value, mask) of the new tos = (tos & ~mask) ^ value, as libxt_TOS builds it.
    let change = match opts {
        [opt] => opt.args.first().and_then(|arg| {
            let bits = || value_mask(arg).filter(|(_, m)| *m == 0xff).map(|(v, _)| v);
            match opt.name.as_str() {
                "--set-tos" => value_mask(arg),
                "--and-tos" => bits().map(|b| (0, !b)),
                "--or-tos" => bits().map(|b| (b, b)),
                "--xor-tos" => bits().map(|b| (b, 0)),
                _ => None,
            }
        }),
        _ => None,
    };
    let help = match change {
        Some((value, DSCP_MASK)) if value & !DSCP_MASK == 0 => format!(
            "this TOS change sets only the DSCP bits and keeps ECN: write it as `-j DSCP --set-dscp {}`, which fwnet translates exactly",
            value >> 2
        ),
        _ => "xt_TOS rewrites the TOS byte as (tos & ~MASK) ^ VALUE and fixes the IPv4 header checksum; nft's raw payload write does not fix the checksum, so there is no exact form; if only the DSCP bits must change, use `-j DSCP --set-dscp N`".to_string(),
    };
    cx.error(
        "translate/unsupported-target",
        loc,
        "target `-j TOS` is not supported",
        help,
    );
    Vec::new()
}

#[cfg(test)]
mod tests {
    use super::value_mask;

    #[test]
    fn values_read_as_libxt_tos_reads_them() {
        let cases = [
            ("0x10", Some((0x10, 0xff))),
            ("16", Some((0x10, 0xff))),
            ("020", Some((0x10, 0xff))),
            ("0x10/0x3f", Some((0x10, 0x3f))),
            ("Minimize-Delay", Some((0x10, 0x3f))),
            ("minimize-cost", Some((0x02, 0x3f))),
            ("Normal-Service", Some((0x00, 0x3f))),
            ("Maximize-Throughput", Some((0x08, 0x3f))),
            ("Maximize-Reliability", Some((0x04, 0x3f))),
            ("0x100", None),
            ("0x10/0x100", None),
            ("Fast", None),
        ];
        for (arg, want) in cases {
            assert_eq!(value_mask(arg), want, "{arg}");
        }
    }
}
