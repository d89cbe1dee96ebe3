//! `-m state --state` and the state list shared with `-m conntrack --ctstate`.
//!
//! iptables matches when the packet's conntrack state is one of the listed states; `!` inverts
//! the mask, i.e. matches when it is none of them. A packet has exactly one state bit, so both
//! map exactly onto nft `ct state` flag tests (`Match::Flags` Eq and Ne).

use crate::rule::Cx;
use fwnet_iptables::diag::Loc;
use fwnet_iptables::Opt;
use fwnet_nft::{ct_state, CmpOp, CtKey, Expr, Match, Stmt};

pub(crate) const OPTIONS: &[&[&str]] = &[&["--state"]];

pub(crate) fn translate(opts: &[&Opt], _loc: &Loc, cx: &mut Cx) -> Vec<Stmt> {
    opts.iter()
        .filter_map(|opt| states(opt, false, cx))
        .collect()
}

/// One `--state`/`--ctstate` option. `conntrack` adds SNAT and DNAT to the vocabulary (they
/// are `ct status` bits and refused for now).
pub(crate) fn states(opt: &Opt, conntrack: bool, cx: &mut Cx) -> Option<Stmt> {
    let arg = cx.one_arg(opt)?;
    let mut bits = 0;
    for word in arg.split(',') {
        bits |= match word.to_ascii_uppercase().as_str() {
            "INVALID" => ct_state::INVALID,
            "ESTABLISHED" => ct_state::ESTABLISHED,
            "RELATED" => ct_state::RELATED,
            "NEW" => ct_state::NEW,
            "UNTRACKED" => ct_state::UNTRACKED,
            "SNAT" | "DNAT" if conntrack => {
                cx.unsupported_value(
                    opt,
                    &format!("state `{word}`"),
                    "SNAT and DNAT are conntrack status bits (`ct status snat`), OR-ed with the states; remove them or split the rule",
                );
                return None;
            }
            _ => {
                cx.bad_value(opt, word, "states are INVALID, ESTABLISHED, RELATED, NEW and UNTRACKED, separated by commas");
                return None;
            }
        };
    }
    let op = if opt.negated.is_negated() {
        CmpOp::Ne
    } else {
        CmpOp::Eq
    };
    Some(Stmt::Match(Match::Flags {
        left: Expr::Ct(CtKey::State),
        bits,
        op,
    }))
}
