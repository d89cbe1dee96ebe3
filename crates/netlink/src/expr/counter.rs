//! `counter` (net/netfilter/nft_counter.c): NFTA_COUNTER_BYTES be64, NFTA_COUNTER_PACKETS be64.
//!
//! nft 1.0.6 sends an empty NFTA_EXPR_DATA for a fresh `counter` and both attributes when
//! values are given (`counter packets 3 bytes 4`); the encoder does the same (both zero means
//! none sent). The printer is in `expr.rs` (`pkts P bytes B`).

use super::{attrs_of, Expr};
use crate::attr;
use crate::consts::*;

pub(super) fn put(out: &mut Vec<u8>, packets: u64, bytes: u64) {
    if packets != 0 || bytes != 0 {
        attr::put_be64(out, NFTA_COUNTER_BYTES, bytes);
        attr::put_be64(out, NFTA_COUNTER_PACKETS, packets);
    }
}

pub(super) fn read(data: &[u8]) -> Option<Expr> {
    let (mut packets, mut bytes) = (0, 0);
    for a in attrs_of(data)? {
        match a.kind() {
            NFTA_COUNTER_BYTES => bytes = a.be64("NFTA_COUNTER_BYTES").ok()?,
            NFTA_COUNTER_PACKETS => packets = a.be64("NFTA_COUNTER_PACKETS").ok()?,
            _ => return None,
        }
    }
    Some(Expr::Counter { packets, bytes })
}
