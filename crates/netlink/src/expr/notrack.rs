//! `notrack` (net/netfilter/nft_ct.c, `nft_notrack_eval`): marks the packet untracked so that
//! conntrack leaves it alone. The expression has no attributes: nft 1.0.6 sends it without an
//! NFTA_EXPR_DATA nest and the kernel dumps it the same way; the encoder in `expr.rs` omits
//! the nest for it.
//!
//! This module decodes only; any attribute at all decodes to `Expr::Other`, keeping the bytes.

use super::{attrs_of, Expr};

pub(super) fn read(data: &[u8]) -> Option<Expr> {
    attrs_of(data)?.is_empty().then_some(Expr::Notrack)
}
