//! `-j NOTRACK` (raw table): nft `notrack`.
//!
//! Exactness: xt_CT's `notrack_tg` leaves a packet that already has a conntrack entry or is
//! already untracked (`skb->_nfct != 0`) alone and otherwise marks it untracked
//! (`nf_ct_set(skb, NULL, IP_CT_UNTRACKED)`); nft_ct.c's `nft_notrack_eval` skips exactly the
//! same packets (a conntrack entry, or IP_CT_UNTRACKED, the only state set without an entry)
//! and does the same store. Neither ends the rule traversal. iptables accepts the target only
//! in the raw table, whose chains fwnet hooks at priority raw (-300), before conntrack, as
//! iptables does.
//!
//! This module does not translate `-j CT` (see `ct.rs`).

use crate::rule::Cx;
use fwnet_iptables::diag::Loc;
use fwnet_iptables::Opt;
use fwnet_nft::Stmt;

pub(crate) fn translate(opts: &[&Opt], loc: &Loc, cx: &mut Cx) -> Vec<Stmt> {
    if !opts.is_empty() {
        return Vec::new();
    }
    if !raw_table("-j NOTRACK", loc, cx) {
        return Vec::new();
    }
    vec![Stmt::Notrack]
}

/// The kernel accepts NOTRACK and CT only in the raw table.
pub(crate) fn raw_table(what: &str, loc: &Loc, cx: &mut Cx) -> bool {
    if cx.table == "raw" {
        return true;
    }
    cx.error(
        "translate/bad-value",
        loc,
        format!(
            "`{what}` is only valid in the raw table, not in {}",
            cx.table
        ),
        "iptables refuses this rule; move it to the raw table (`*raw`)",
    );
    false
}
