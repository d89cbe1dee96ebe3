//! `-m connmark --mark VALUE[/MASK]`: nft `ct mark VALUE` / `ct mark & MASK == VALUE`, `!=`
//! when negated.
//!
//! Exactness: xt_connmark matches `(ct->mark & mask) == value`, inverted by `!`, and fails
//! for a packet without a conntrack entry even when negated; nft's `ct mark` ends the rule for
//! such packets too. This module does not handle `-j CONNMARK` (a target).

use crate::rule::Cx;
use fwnet_iptables::diag::Loc;
use fwnet_iptables::Opt;
use fwnet_nft::{CtKey, Expr, Stmt};

pub(crate) const OPTIONS: &[&[&str]] = &[&["--mark"]];

pub(crate) fn translate(opts: &[&Opt], loc: &Loc, cx: &mut Cx) -> Vec<Stmt> {
    if opts.is_empty() {
        cx.error(
            "translate/bad-value",
            loc,
            "`-m connmark` needs `--mark`",
            "iptables refuses the match without it; add `--mark VALUE[/MASK]`",
        );
    }
    opts.iter()
        .filter_map(|opt| crate::mark::test(Expr::Ct(CtKey::Mark), opt, cx))
        .collect()
}
