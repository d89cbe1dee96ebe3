//! `-j CHECKSUM --checksum-fill`: dropped with a warning; the rule keeps its matches and its
//! counter and has no statement for the target.
//!
//! xt_CHECKSUM computes a checksum the kernel left to the network card (CHECKSUM_PARTIAL), a
//! workaround for old DHCP clients on virtual machines; nftables has no such statement and
//! current DHCP clients do not need it. Like the target, the rule does not end the packet's
//! way through the chain, so dropping the statement changes no verdict. This module does not
//! translate anything.

use crate::rule::Cx;
use fwnet_iptables::diag::Loc;
use fwnet_iptables::Opt;
use fwnet_nft::Stmt;

pub(crate) const OPTIONS: &[&str] = &["--checksum-fill"];

pub(crate) fn translate(opts: &[&Opt], loc: &Loc, cx: &mut Cx) -> Vec<Stmt> {
    if opts.is_empty() {
        cx.error(
            "translate/bad-value",
            loc,
            "`-j CHECKSUM` needs `--checksum-fill`",
            "iptables refuses the target without it",
        );
        return Vec::new();
    }
    for opt in opts {
        if !cx.not_negated(opt) || !cx.no_arg(opt) {
            return Vec::new();
        }
    }
    cx.warn(
        "translate/dropped-target",
        loc,
        "`-j CHECKSUM --checksum-fill` is dropped: nftables has no checksum-fill statement",
        "the rule keeps its matches and counter; remove the rule to silence this (it only helped old DHCP clients on virtual machines)",
    );
    Vec::new()
}
