//! `-m tcp` (also loaded implicitly by `-p tcp`): `--sport`, `--dport`, `--tcp-flags`, `--syn`.
//!
//! `--syn` is `--tcp-flags FIN,SYN,RST,ACK SYN`; `ALL` is FIN,SYN,RST,PSH,ACK,URG (not ECE or
//! CWR). A test the kernel can never satisfy (compared flags outside the mask) is refused
//! rather than emitted. `--tcp-option` is refused for now.

use crate::port;
use crate::rule::Cx;
use fwnet_iptables::diag::Loc;
use fwnet_iptables::Opt;
use fwnet_nft::{tcp_flag as f, CmpOp, Expr, Field, Match, Stmt, Value};

pub(crate) const OPTIONS: &[&[&str]] = &[
    &["--sport", "--source-port"],
    &["--dport", "--destination-port"],
    &["--tcp-flags"],
    &["--syn"],
    &["--tcp-option"],
];

const ALL: u64 = f::FIN | f::SYN | f::RST | f::PSH | f::ACK | f::URG;

pub(crate) fn translate(opts: &[&Opt], loc: &Loc, cx: &mut Cx) -> Vec<Stmt> {
    if cx.require_protocol("the tcp match", loc, &[6]).is_none() {
        return Vec::new();
    }
    let mut out = Vec::new();
    for opt in opts {
        let op = if opt.negated.is_negated() {
            CmpOp::Ne
        } else {
            CmpOp::Eq
        };
        match opt.name.as_str() {
            "--sport" | "--source-port" => out.extend(port_match(opt, Field::TcpSport, cx)),
            "--dport" | "--destination-port" => out.extend(port_match(opt, Field::TcpDport, cx)),
            "--syn" => {
                if cx.no_arg(opt) {
                    out.push(flags_match(f::FIN | f::SYN | f::RST | f::ACK, f::SYN, op));
                }
            }
            "--tcp-flags" => {
                let [mask, comp] = opt.args.as_slice() else {
                    cx.error(
                        "translate/bad-value",
                        &opt.loc,
                        format!(
                            "`--tcp-flags` takes two arguments (mask and compare), found {}",
                            opt.args.len()
                        ),
                        "write it as `--tcp-flags SYN,ACK SYN`",
                    );
                    continue;
                };
                let (Some(mask_bits), Some(comp_bits)) = (flag_list(mask), flag_list(comp)) else {
                    let bad = if flag_list(mask).is_none() {
                        mask
                    } else {
                        comp
                    };
                    cx.bad_value(
                        opt,
                        bad,
                        "flags are SYN, ACK, FIN, RST, URG, PSH, ALL or NONE, separated by commas",
                    );
                    continue;
                };
                if comp_bits & !mask_bits != 0 {
                    if op == CmpOp::Eq {
                        cx.error(
                            "translate/never-matches",
                            &opt.loc,
                            format!("`--tcp-flags {mask} {comp}` compares flags outside the mask, so it matches no packet"),
                            "add the compared flags to the mask, or delete the rule",
                        );
                    }
                    continue;
                }
                if mask_bits == 0 {
                    if op == CmpOp::Ne {
                        cx.error(
                            "translate/never-matches",
                            &opt.loc,
                            "`! --tcp-flags NONE NONE` matches no packet",
                            "delete the rule",
                        );
                    }
                    continue;
                }
                out.push(flags_match(mask_bits, comp_bits, op));
            }
            _ => cx.unsupported_option(
                opt,
                "tcp options are not translated yet; remove the option or the rule",
            ),
        }
    }
    out
}

fn flags_match(mask: u64, value: u64, op: CmpOp) -> Stmt {
    Stmt::Match(Match::Masked {
        left: Expr::Payload(Field::TcpFlags),
        mask: Value::Num(mask),
        op,
        value: Value::Num(value),
    })
}

fn flag_list(s: &str) -> Option<u64> {
    s.split(',').try_fold(0, |acc, word| {
        let bit = match word.to_ascii_uppercase().as_str() {
            "FIN" => f::FIN,
            "SYN" => f::SYN,
            "RST" => f::RST,
            "PSH" => f::PSH,
            "ACK" => f::ACK,
            "URG" => f::URG,
            "ALL" => ALL,
            "NONE" => 0,
            _ => return None,
        };
        Some(acc | bit)
    })
}

/// `--sport`/`--dport` of tcp or udp: one port or a range, possibly negated.
pub(crate) fn port_match(opt: &Opt, field: Field, cx: &mut Cx) -> Option<Stmt> {
    let arg = cx.one_arg(opt)?;
    match port::port_or_range(arg) {
        Ok(v) => {
            let op = if opt.negated.is_negated() {
                CmpOp::Ne
            } else {
                CmpOp::Eq
            };
            Some(Stmt::Match(Match::Cmp {
                left: Expr::Payload(field),
                op,
                right: v,
            }))
        }
        Err(help) => {
            cx.bad_value(opt, arg, help);
            None
        }
    }
}
