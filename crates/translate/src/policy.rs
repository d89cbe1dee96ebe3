//! `-m policy --dir in|out --pol none`: nft `meta ipsec missing` (in) and `rt ipsec missing`
//! (out).
//!
//! Exactness: for `--pol none`, xt_policy's result depends only on whether there is any IPsec
//! state to look at: `--dir in` matches exactly when `skb_sec_path(skb)` is NULL (the packet was
//! not decapsulated by IPsec), `--dir out` exactly when `skb_dst(skb)->xfrm` is NULL (its route
//! does not lead into an IPsec transform); any policy element options are not consulted. nft's
//! `meta ipsec` loads `secpath_exists(skb)`, the same extension test, and `rt ipsec` loads
//! `!!skb_dst(skb)->xfrm`; iptables allows `--dir out` only in FORWARD, OUTPUT and POSTROUTING,
//! where every packet has a route, so `rt` never lacks one.
//!
//! Not translated, with an error: `--pol ipsec` and the element options (`--strict`, `--reqid`,
//! `--spi`, `--proto`, `--mode`, `--tunnel-src`, `--tunnel-dst`, `--next`), which match the
//! transforms themselves; nft's `ipsec in|out reqid|spi|saddr|daddr` tests one transform at a
//! fixed position and does not reproduce xt_policy's search or its strict sequence.

use crate::rule::Cx;
use fwnet_iptables::diag::Loc;
use fwnet_iptables::Opt;
use fwnet_nft::{CmpOp, Expr, Match, MetaKey, RtKey, Stmt, Value};

pub(crate) const OPTIONS: &[&[&str]] = &[
    &["--dir"],
    &["--pol"],
    &["--strict"],
    &["--reqid"],
    &["--spi"],
    &["--proto"],
    &["--mode"],
    &["--tunnel-src"],
    &["--tunnel-dst"],
    &["--next"],
];

pub(crate) fn translate(opts: &[&Opt], loc: &Loc, cx: &mut Cx) -> Vec<Stmt> {
    let (mut dir, mut pol) = (None, None);
    for opt in opts {
        match opt.name.as_str() {
            "--dir" | "--pol" => {
                if !cx.not_negated(opt) {
                    return Vec::new();
                }
                let Some(arg) = cx.one_arg(opt) else {
                    return Vec::new();
                };
                if opt.name == "--dir" {
                    match arg {
                        "in" | "out" => dir = Some((arg == "in", opt)),
                        _ => {
                            cx.bad_value(opt, arg, "directions are `in` and `out`");
                            return Vec::new();
                        }
                    }
                } else {
                    match arg {
                        "none" => pol = Some(opt),
                        "ipsec" => {
                            cx.unsupported_value(
                                opt,
                                "`ipsec`",
                                "xt_policy searches the packet's IPsec transforms, which nft's `ipsec in|out` tests do not reproduce; match `meta ipsec exists` (inbound) or `rt ipsec exists` (outbound) in nft yourself if any IPsec packet will do",
                            );
                            return Vec::new();
                        }
                        _ => {
                            cx.bad_value(opt, arg, "policies are `none` and `ipsec`");
                            return Vec::new();
                        }
                    }
                }
            }
            _ => {
                cx.unsupported_option(
                    opt,
                    "policy element options match IPsec transforms, which fwnet does not translate; with `--pol none` they are not needed",
                );
                return Vec::new();
            }
        }
    }
    let (Some((inbound, dir_opt)), Some(_)) = (dir, pol) else {
        cx.error(
            "translate/bad-value",
            loc,
            "`-m policy` needs `--dir in|out` and `--pol none|ipsec`",
            "iptables refuses the match without both",
        );
        return Vec::new();
    };
    if crate::rule::lacks_interface(cx.chain, inbound) {
        cx.error(
            "translate/bad-value",
            &dir_opt.loc,
            format!(
                "`--dir {}` cannot be used in chain {}",
                if inbound { "in" } else { "out" },
                cx.chain
            ),
            "iptables refuses this rule; use the other direction",
        );
        return Vec::new();
    }
    let left = if inbound {
        Expr::Meta(MetaKey::Secpath)
    } else {
        Expr::Rt(RtKey::Ipsec)
    };
    vec![Stmt::Match(Match::Cmp {
        left,
        op: CmpOp::Eq,
        right: Value::Num(0),
    })]
}
