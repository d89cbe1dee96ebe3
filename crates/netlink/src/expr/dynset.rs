//! `dynset` (net/netfilter/nft_dynset.c): NFTA_DYNSET_SREG_KEY be32, NFTA_DYNSET_OP be32
//! (NFT_DYNSET_OP_*), NFTA_DYNSET_TIMEOUT be64 ms, NFTA_DYNSET_SET_NAME string,
//! NFTA_DYNSET_SET_ID be32, then NFTA_DYNSET_EXPR (one expression) or NFTA_DYNSET_EXPRESSIONS
//! (a list, for two or more), in the order nft 1.0.6 sends them. NFTA_DYNSET_FLAGS only comes
//! back in dumps.
//!
//! Map updates (NFTA_DYNSET_SREG_DATA) and non-zero flags decode to `Expr::Other`.

use super::{attrs_of, put_expr, put_list, read_expr, read_list, Expr, Reg};
use crate::attr;
use crate::consts::*;
use std::fmt;

pub(super) fn put(
    out: &mut Vec<u8>,
    op: u32,
    sreg_key: Reg,
    set: &str,
    set_id: Option<u32>,
    timeout_ms: Option<u64>,
    exprs: &[Expr],
) {
    attr::put_be32(out, NFTA_DYNSET_SREG_KEY, sreg_key);
    attr::put_be32(out, NFTA_DYNSET_OP, op);
    if let Some(t) = timeout_ms {
        attr::put_be64(out, NFTA_DYNSET_TIMEOUT, t);
    }
    attr::put_str(out, NFTA_DYNSET_SET_NAME, set);
    if let Some(id) = set_id {
        attr::put_be32(out, NFTA_DYNSET_SET_ID, id);
    }
    match exprs {
        [] => {}
        [one] => put_expr(out, NFTA_DYNSET_EXPR, one),
        many => put_list(out, NFTA_DYNSET_EXPRESSIONS, many),
    }
}

pub(super) fn read(data: &[u8]) -> Option<Expr> {
    let (mut op, mut sreg_key, mut set, mut set_id, mut timeout_ms) =
        (None, None, None, None, None);
    let mut exprs = Vec::new();
    for a in attrs_of(data)? {
        match a.kind() {
            NFTA_DYNSET_SREG_KEY => sreg_key = Some(a.be32("NFTA_DYNSET_SREG_KEY").ok()?),
            NFTA_DYNSET_OP => op = Some(a.be32("NFTA_DYNSET_OP").ok()?),
            NFTA_DYNSET_TIMEOUT => timeout_ms = Some(a.be64("NFTA_DYNSET_TIMEOUT").ok()?),
            NFTA_DYNSET_SET_NAME => set = Some(a.str("NFTA_DYNSET_SET_NAME").ok()?),
            NFTA_DYNSET_SET_ID => set_id = Some(a.be32("NFTA_DYNSET_SET_ID").ok()?),
            NFTA_DYNSET_EXPR => exprs.push(read_expr(a.payload).ok()?),
            NFTA_DYNSET_EXPRESSIONS => exprs.extend(read_list(a.payload).ok()?),
            NFTA_DYNSET_FLAGS if a.be32("NFTA_DYNSET_FLAGS").ok()? == 0 => {}
            _ => return None,
        }
    }
    Some(Expr::Dynset {
        op: op?,
        sreg_key: sreg_key?,
        set: set?,
        set_id,
        timeout_ms,
        exprs,
    })
}

pub(super) fn fmt(
    f: &mut fmt::Formatter<'_>,
    op: u32,
    sreg_key: Reg,
    set: &str,
    timeout_ms: Option<u64>,
    exprs: &[Expr],
) -> fmt::Result {
    let op = match op {
        NFT_DYNSET_OP_ADD => "add",
        NFT_DYNSET_OP_UPDATE => "update",
        NFT_DYNSET_OP_DELETE => "delete",
        _ => "unknown",
    };
    write!(
        f,
        "{op} reg_key {sreg_key} set {set} timeout {}ms ",
        timeout_ms.unwrap_or(0)
    )?;
    for e in exprs {
        write!(f, "expr [ {} ", e.name())?;
        e.fmt_body(f)?;
        f.write_str("] ")?;
    }
    Ok(())
}
