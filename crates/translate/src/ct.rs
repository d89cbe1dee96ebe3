//! `-j CT --notrack` (raw table): nft `notrack`; `-j CT --zone N`: `ct state != untracked ct
//! zone set N`, and `--zone-orig N`/`--zone-reply N` the same with `ct original zone set
//! N`/`ct reply zone set N`; `-j CT --helper NAME`: `ct helper set` of a `ct helper` object, in
//! a chain of its own (see `ct_helper.rs`); every other CT option is refused with the reason.
//!
//! Exactness, `--notrack`: with it, xt_CT's check installs no template and its target then
//! behaves as NOTRACK (see `notrack.rs`): a packet with a conntrack entry or already untracked
//! is left alone, any other one becomes untracked; nft `notrack` skips and stores the same.
//!
//! Exactness, `--zone N`: xt_CT leaves a packet alone when `skb->_nfct` is set (it has a
//! conntrack entry or is untracked) and otherwise attaches a template in zone N for both
//! directions, with no other extension; nft_ct.c's `nft_ct_set_zone_eval` attaches the same
//! kind of template (`NF_CT_DEFAULT_ZONE_DIR`) but skips only packets with an entry, so an
//! untracked packet would be tracked again. The `ct state != untracked` test before it (which
//! never ends the rule for any other packet) closes that gap; it comes after the counter, so the
//! counter still counts every packet the matches let through, as iptables does.
//!
//! Exactness, `--zone-orig N`/`--zone-reply N`: xt_CT gives the template's zone the direction
//! NF_CT_ZONE_DIR_ORIG or _REPL (`xt_ct_flags_to_dir`), and nft_ct's zone set with
//! NFTA_CT_DIRECTION original or reply does the same; the rest is as for `--zone`.
//! iptables-save writes one of the three options, never two: two are refused.
//!
//! Not translated, with an error:
//! - zones taken from the packet mark (`--zone mark`, `--zone-orig mark` ...): xt_CT reads the
//!   mark when conntrack looks the packet up, nft when the rule runs;
//! - `--timeout`: it needs a named `ct timeout` object, which fwnet does not create yet;
//! - `--ctevents`, `--expevents`: nft has `ct event set` but no expectation events;
//! - `--notrack` together with any other option, and `-j CT` without options.

use crate::notrack::raw_table;
use crate::rule::Cx;
use fwnet_iptables::diag::Loc;
use fwnet_iptables::Opt;
use fwnet_nft::{ct_state, CmpOp, CtKey, Expr, Match, Stmt, Value};

pub(crate) const OPTIONS: &[&str] = &[
    "--notrack",
    "--helper",
    "--ctevents",
    "--expevents",
    "--zone",
    "--zone-orig",
    "--zone-reply",
    "--timeout",
];

pub(crate) fn translate(opts: &[&Opt], loc: &Loc, cx: &mut Cx) -> Vec<Stmt> {
    if !raw_table("-j CT", loc, cx) {
        return Vec::new();
    }
    let mut notrack = false;
    // The zone, its direction (None: both, Some(true): reply only) and its option.
    let mut zone: Option<(u16, Option<bool>, &Opt)> = None;
    let mut helper: Option<(String, &Opt)> = None;
    for opt in opts {
        if !cx.not_negated(opt) {
            return Vec::new();
        }
        match opt.name.as_str() {
            "--notrack" => {
                if !cx.no_arg(opt) {
                    return Vec::new();
                }
                notrack = true;
            }
            "--zone" | "--zone-orig" | "--zone-reply" => {
                let Some(arg) = cx.one_arg(opt) else {
                    return Vec::new();
                };
                if let Some((_, _, first)) = zone {
                    cx.error(
                        "translate/bad-value",
                        &opt.loc,
                        format!("`{}` after `{}`", opt.name, first.name),
                        "give one of --zone (both directions), --zone-orig and --zone-reply, as iptables-save writes them",
                    );
                    return Vec::new();
                }
                let dir = match opt.name.as_str() {
                    "--zone-orig" => Some(false),
                    "--zone-reply" => Some(true),
                    _ => None,
                };
                match parse_u16(arg) {
                    Some(n) => zone = Some((n, dir, *opt)),
                    None if arg == "mark" => cx.unsupported_value(
                        opt,
                        "the zone `mark`",
                        "a zone taken from the packet mark has no exact nft form (xt_CT reads the mark when conntrack looks the packet up, nft when the rule runs); give a number",
                    ),
                    None => cx.bad_value(opt, arg, "zones are numbers from 0 to 65535"),
                }
            }
            "--helper" => {
                let Some(arg) = cx.one_arg(opt) else {
                    return Vec::new();
                };
                helper = Some((arg.to_string(), *opt));
            }
            "--timeout" => cx.unsupported_option(
                opt,
                "it needs a named nft `ct timeout` object, which fwnet does not create yet; declare one in nft and assign it with `ct timeout set`",
            ),
            _ => cx.unsupported_option(
                opt,
                "nft has `ct event set` for connection events but nothing for expectation events; remove the option if the default events will do",
            ),
        }
    }
    if cx.has_errors() {
        return Vec::new();
    }
    if let Some((name, opt)) = helper {
        if notrack || zone.is_some() {
            cx.error(
                "translate/bad-value",
                &opt.loc,
                "`--helper` together with `--notrack` or `--zone` is not translated",
                "an untracked packet gets no helper; for a zone and a helper, fwnet would need one template in nft: split the rule",
            );
            return Vec::new();
        }
        return match crate::ct_helper::helper_target(&name, cx.protocol, cx.family) {
            Ok(stmts) => stmts,
            Err((msg, help)) => {
                cx.error("translate/bad-value", &opt.loc, msg, help);
                Vec::new()
            }
        };
    }
    match (notrack, zone) {
        (true, Some((_, _, opt))) => {
            cx.error(
                "translate/bad-value",
                &opt.loc,
                "`--notrack` cannot be combined with `--zone`",
                "an untracked packet has no zone; keep one of them",
            );
            return Vec::new();
        }
        (false, Some((n, dir, _))) => {
            return vec![
                Stmt::Match(Match::Cmp {
                    left: Expr::Ct(CtKey::State),
                    op: CmpOp::Ne,
                    right: Value::Num(ct_state::UNTRACKED),
                }),
                match dir {
                    None => Stmt::CtZoneSet(n),
                    Some(reply) => Stmt::CtDirZoneSet { zone: n, reply },
                },
            ]
        }
        _ => {}
    }
    if !notrack {
        cx.error(
            "translate/bad-value",
            loc,
            "`-j CT` without options does nothing fwnet can translate",
            "add `--notrack`, or remove the rule",
        );
        return Vec::new();
    }
    vec![Stmt::Notrack]
}

/// A 16-bit number as libxt_CT reads zone ids (`strtoul` base 0): `0x` hexadecimal, a leading
/// `0` octal, else decimal.
fn parse_u16(s: &str) -> Option<u16> {
    if let Some(hex) = s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        return u16::from_str_radix(hex, 16).ok();
    }
    match s.strip_prefix('0') {
        Some(octal) if !octal.is_empty() => u16::from_str_radix(octal, 8).ok(),
        _ => s.parse().ok(),
    }
}
