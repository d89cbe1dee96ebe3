//! `-m tcp` (also loaded implicitly by `-p tcp`): `--sport`, `--dport`, `--tcp-flags`, `--syn`.
//!
//! `--syn` is `--tcp-flags FIN,SYN,RST,ACK SYN`; `ALL` is FIN,SYN,RST,PSH,ACK,URG (not ECE or
//! CWR). A test the kernel can never satisfy (compared flags outside the mask) is refused
//! rather than emitted.
//!
//! `--tcp-option N` is `tcp option N exists`. xt_tcp and nft_exthdr walk the options the same
//! way (kinds 0 and 1 are one byte, any other kind skips its length byte, a zero length counts
//! as one) and stop at the first option of kind N, so they agree on every well-formed header
//! for kinds 2 to 255. They differ where fwnet refuses: xt_tcp also reads the last byte of the
//! option space, which nft's walk never reaches, so a final EOL or NOP (kinds 0 and 1) is found
//! only by iptables; and `! --tcp-option` is false for non-first fragments, which nft's
//! `tcp option N missing` matches. Left as for `--dport`, malformed headers: an option whose
//! length runs past the header, or a kind N alone in the last byte, is found by xt_tcp and not
//! by nft, and a truncated header is dropped by xt_tcp and fails nft's test (checked on kernel
//! 6.18 with crafted packets by `test_data/kernel-check/exthdr.py`, which also shows both
//! agreeing on well-formed option lists, on options after an EOL and on non-first fragments).

use crate::port;
use crate::rule::Cx;
use fwnet_iptables::diag::Loc;
use fwnet_iptables::Opt;
use fwnet_nft::{tcp_flag as f, CmpOp, Expr, Exthdr, Field, Match, Stmt, Value};

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
    if opts.is_empty() {
        return vec![crate::fragments::transport_placeholder(Field::TcpSport)];
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
            _ => out.extend(option_match(opt, cx)),
        }
    }
    out
}

/// `--tcp-option N`: `tcp option N exists`, for the kinds and polarity that are exact.
fn option_match(opt: &Opt, cx: &mut Cx) -> Option<Stmt> {
    let arg = cx.one_arg(opt)?;
    let Ok(kind) = arg.parse::<u8>() else {
        cx.bad_value(opt, arg, "a TCP option kind is a number from 0 to 255");
        return None;
    };
    if opt.negated.is_negated() {
        cx.unsupported_value(
            opt,
            "`!`",
            "xt_tcp's `! --tcp-option` is false for non-first fragments, which nft's `tcp option N missing` matches, and no nft test tells those fragments apart here; rewrite the rule without `!` or remove it",
        );
        return None;
    }
    if kind < 2 {
        cx.unsupported_value(
            opt,
            &format!("kind {kind} ({})", if kind == 0 { "end of options" } else { "no-operation" }),
            "xt_tcp also finds this one-byte option in the last byte of the option space, where nft's option walk stops early; no nft test gives the same answer, so remove the option or the rule",
        );
        return None;
    }
    Some(Stmt::Match(Match::Cmp {
        left: Expr::Exthdr(Exthdr::TcpOption(kind)),
        op: CmpOp::Eq,
        right: Value::Num(1),
    }))
}

fn flags_match(mask: u64, value: u64, op: CmpOp) -> Stmt {
    Stmt::Match(Match::Masked {
        left: Expr::Payload(Field::TcpFlags),
        mask: Box::new(Value::Num(mask)),
        op,
        value: Value::Num(value),
    })
}

pub(crate) fn flag_list(s: &str) -> Option<u64> {
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
    // libxt_tcp asks the services database for tcp; libxt_udp (1.8.9) takes the first answer
    // for any protocol, the tcp port when the name has one.
    let proto = match field {
        Field::UdpSport | Field::UdpDport => None,
        _ => Some("tcp"),
    };
    match port::port_or_range_in(arg, proto, opt, cx) {
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
