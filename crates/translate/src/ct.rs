//! `-j CT --notrack` (raw table): nft `notrack`; every other CT option is refused with the
//! reason.
//!
//! Exactness: with `--notrack`, xt_CT's check installs no template and its target then
//! behaves as NOTRACK (see `notrack.rs`): a packet with a conntrack entry or already untracked
//! is left alone, any other one becomes untracked; nft `notrack` skips and stores the same.
//!
//! Not translated, with an error:
//! - `--zone`, `--zone-orig`, `--zone-reply`: xt_CT leaves an untracked packet alone, while nft's
//!   `ct zone set` (nft_ct.c, `nft_ct_set_zone_eval`) only skips packets that have an entry, so an
//!   earlier NOTRACK is undone; and `mark` zones have no nft form;
//! - `--helper`, `--timeout`: they need named `ct helper` / `ct timeout` objects, which fwnet does
//!   not create yet;
//! - `--ctevents`, `--expevents`: nft has `ct event set` but no expectation events;
//! - `--notrack` together with any of these.

use crate::notrack::raw_table;
use crate::rule::Cx;
use fwnet_iptables::diag::Loc;
use fwnet_iptables::Opt;
use fwnet_nft::Stmt;

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
            "--zone" | "--zone-orig" | "--zone-reply" => cx.unsupported_option(
                opt,
                "xt_CT leaves an already untracked packet alone, nft's `ct zone set` does not, and `mark` zones have no nft form; write `ct zone set N` in an nft raw chain yourself if no earlier rule untracks these packets",
            ),
            "--helper" | "--timeout" => cx.unsupported_option(
                opt,
                "it needs a named nft `ct helper` / `ct timeout` object, which fwnet does not create yet; declare one in nft and assign it with `ct helper set` / `ct timeout set`",
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
