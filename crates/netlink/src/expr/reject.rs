//! `reject` (net/netfilter/nft_reject.c): NFTA_REJECT_TYPE be32 (NFT_REJECT_*),
//! NFTA_REJECT_ICMP_CODE u8. nft 1.0.6 always sends both; the kernel dumps the code only for
//! ICMP types. The printer is in `expr.rs` (`type T code C`).
//!
//! Codes are not named here (ICMP vs ICMPX tables are the lowering's business).

use super::{attrs_of, Expr};
use crate::attr;
use crate::consts::*;

pub(super) fn put(out: &mut Vec<u8>, kind: u32, code: u8) {
    attr::put_be32(out, NFTA_REJECT_TYPE, kind);
    attr::put_u8(out, NFTA_REJECT_ICMP_CODE, code);
}

pub(super) fn read(data: &[u8]) -> Option<Expr> {
    let (mut kind, mut code) = (None, 0);
    for a in attrs_of(data)? {
        match a.kind() {
            NFTA_REJECT_TYPE => kind = Some(a.be32("NFTA_REJECT_TYPE").ok()?),
            NFTA_REJECT_ICMP_CODE => code = a.u8("NFTA_REJECT_ICMP_CODE").ok()?,
            _ => return None,
        }
    }
    Some(Expr::Reject { kind: kind?, code })
}
