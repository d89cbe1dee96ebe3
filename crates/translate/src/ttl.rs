//! `-m ttl` (IPv4) and `-m hl` (IPv6): `--ttl-eq`, `--ttl-lt`, `--ttl-gt` and `--hl-eq`,
//! `--hl-lt`, `--hl-gt` as nft `ip ttl N`, `ip ttl < N`, `ip ttl > N` (`ip6 hoplimit` for hl);
//! `! --ttl-eq N` is `!=`.
//!
//! Exactness: xt_ttl and ip6t_hl compare the header byte with the value, unsigned, in one of
//! the four modes (eq, ne, lt, gt); nft loads the same byte and compares it the same way. This
//! module also serves `-m hl`, whose kernel module is the IPv6 half of the same logic; it does
//! not check that the ruleset's family fits (the match table does).

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
