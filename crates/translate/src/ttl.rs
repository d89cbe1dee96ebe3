//! `-m ttl` (IPv4) and `-m hl` (IPv6): `--ttl-eq`, `--ttl-lt`, `--ttl-gt` and `--hl-eq`,
//! `--hl-lt`, `--hl-gt` as nft `ip ttl N`, `ip ttl < N`, `ip ttl > N` (`ip6 hoplimit` for hl);
//! `! --ttl-eq N` is `!=`.
//!
//! Exactness: xt_ttl and ip6t_hl compare the header byte with the value, unsigned, in one of
//! the four modes (eq, ne, lt, gt); nft loads the same byte and compares it the same way. This
//! module also serves `-m hl`, whose kernel module is the IPv6 half of the same logic; it does
//! not check that the ruleset's family fits (the match table does).
//!
//! The targets `-j TTL` and `-j HL` (mangle table only, as the kernel requires) are here too:
//! `--ttl-set N` is `ip ttl set N` and `--hl-set N` is `ip6 hoplimit set N`, the header byte
//! written and the IPv4 header checksum fixed by both, the rule going on. `--ttl-dec`/`--ttl-inc`
//! (and the hl ones) stop at 0 and 255, and nft's arithmetic on a header byte cannot saturate,
//! so they are refused. (xt_TTL drops the packet when it cannot make the header writable,
//! where nft skips the rest of the rule; that happens only when memory runs out.)

use crate::rule::Cx;
use fwnet_iptables::diag::Loc;
use fwnet_iptables::Opt;
use fwnet_nft::{CmpOp, Expr, Field, Match, OrderOp, Stmt, Value};

pub(crate) const TTL_OPTIONS: &[&[&str]] = &[&["--ttl-eq"], &["--ttl-lt"], &["--ttl-gt"]];
pub(crate) const HL_OPTIONS: &[&[&str]] = &[&["--hl-eq"], &["--hl-lt"], &["--hl-gt"]];

/// `-m ttl` (`hl` false) or `-m hl` (`hl` true): exactly one option.
pub(crate) fn translate(opts: &[&Opt], loc: &Loc, hl: bool, cx: &mut Cx) -> Vec<Stmt> {
    let (name, field) = if hl {
        ("hl", Field::Ip6Hoplimit)
    } else {
        ("ttl", Field::IpTtl)
    };
    let opt = match opts {
        [opt] => opt,
        [] => {
            cx.error(
                "translate/bad-value",
                loc,
                format!("`-m {name}` needs `--{name}-eq`, `--{name}-lt` or `--{name}-gt`"),
                "iptables refuses the match without one; add the comparison",
            );
            return Vec::new();
        }
        [_, second, ..] => {
            cx.error(
                "translate/bad-value",
                &second.loc,
                format!(
                    "`-m {name}` takes one comparison, `{}` is a second",
                    second.name
                ),
                "iptables refuses this; use a second `-m` match for a range",
            );
            return Vec::new();
        }
    };
    let Some(arg) = cx.one_arg(opt) else {
        return Vec::new();
    };
    let Some(n) = arg.parse::<u8>().ok() else {
        cx.bad_value(opt, arg, "the value is a number from 0 to 255");
        return Vec::new();
    };
    let left = Expr::Payload(field);
    let right = u64::from(n);
    let m = match opt.name.rsplit('-').next() {
        Some("eq") => Match::Cmp {
            left,
            op: if opt.negated.is_negated() {
                CmpOp::Ne
            } else {
                CmpOp::Eq
            },
            right: Value::Num(right),
        },
        kind => {
            if !cx.not_negated(opt) {
                return Vec::new();
            }
            let op = if kind == Some("lt") {
                OrderOp::Lt
            } else {
                OrderOp::Gt
            };
            Match::Order { left, op, right }
        }
    };
    vec![Stmt::Match(m)]
}

pub(crate) const TTL_TARGET_OPTIONS: &[&str] = &["--ttl-set", "--ttl-dec", "--ttl-inc"];
pub(crate) const HL_TARGET_OPTIONS: &[&str] = &["--hl-set", "--hl-dec", "--hl-inc"];

/// `-j TTL` (`hl` false) or `-j HL` (`hl` true).
pub(crate) fn target(opts: &[&Opt], loc: &Loc, hl: bool, cx: &mut Cx) -> Vec<Stmt> {
    let (name, field, header) = if hl {
        ("HL", Field::Ip6Hoplimit, "hop limit")
    } else {
        ("TTL", Field::IpTtl, "TTL")
    };
    if cx.table != "mangle" {
        cx.error(
            "translate/bad-value",
            loc,
            format!("`-j {name}` cannot be used in table {}", cx.table),
            format!("the kernel allows {name} in the mangle table only; move the rule there"),
        );
        return Vec::new();
    }
    let opt = match opts {
        [opt] => *opt,
        _ => {
            let lower = name.to_ascii_lowercase();
            cx.error(
                "translate/bad-value",
                loc,
                format!("`-j {name}` needs exactly one of `--{lower}-set`, `--{lower}-dec`, `--{lower}-inc`"),
                "iptables refuses the target otherwise",
            );
            return Vec::new();
        }
    };
    if !cx.not_negated(opt) {
        return Vec::new();
    }
    let Some(arg) = cx.one_arg(opt) else {
        return Vec::new();
    };
    let Ok(value) = arg.parse::<u8>() else {
        cx.bad_value(opt, arg, "a value from 0 to 255");
        return Vec::new();
    };
    let lower = name.to_ascii_lowercase();
    if !opt.name.ends_with("-set") {
        cx.unsupported_value(
            opt,
            &format!("`{arg}`"),
            format!(
                "{} changes the {header} but stops at 0 and 255, and nft cannot compute a saturating value in a header; nearest exact form: one rule per starting value, `-m {lower} --{lower}-eq V -j {name} --{lower}-set W`",
                opt.name
            ),
        );
        return Vec::new();
    }
    vec![Stmt::HeaderSet { field, value }]
}
