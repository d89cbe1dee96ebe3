//! `limit` (net/netfilter/nft_limit.c): NFTA_LIMIT_RATE be64, NFTA_LIMIT_UNIT be64 (seconds),
//! NFTA_LIMIT_BURST be32, NFTA_LIMIT_TYPE be32 (NFT_LIMIT_PKTS / PKT_BYTES),
//! NFTA_LIMIT_FLAGS be32 (NFT_LIMIT_F_INV), all always sent, in that order.
//!
//! No token-bucket arithmetic here: that is the lowering's business.

use super::{attrs_of, Expr};
use crate::attr;
use crate::consts::*;
use std::fmt;

pub(super) fn put(out: &mut Vec<u8>, rate: u64, unit: u64, burst: u32, kind: u32, flags: u32) {
    attr::put_be64(out, NFTA_LIMIT_RATE, rate);
    attr::put_be64(out, NFTA_LIMIT_UNIT, unit);
    attr::put_be32(out, NFTA_LIMIT_BURST, burst);
    attr::put_be32(out, NFTA_LIMIT_TYPE, kind);
    attr::put_be32(out, NFTA_LIMIT_FLAGS, flags);
}

pub(super) fn read(data: &[u8]) -> Option<Expr> {
    let (mut rate, mut unit, mut burst, mut kind, mut flags) = (None, None, 0, 0, 0);
    for a in attrs_of(data)? {
        match a.kind() {
            NFTA_LIMIT_RATE => rate = Some(a.be64("NFTA_LIMIT_RATE").ok()?),
            NFTA_LIMIT_UNIT => unit = Some(a.be64("NFTA_LIMIT_UNIT").ok()?),
            NFTA_LIMIT_BURST => burst = a.be32("NFTA_LIMIT_BURST").ok()?,
            NFTA_LIMIT_TYPE => kind = a.be32("NFTA_LIMIT_TYPE").ok()?,
            NFTA_LIMIT_FLAGS => flags = a.be32("NFTA_LIMIT_FLAGS").ok()?,
            _ => return None,
        }
    }
    Some(Expr::Limit {
        rate: rate?,
        unit: unit?,
        burst,
        kind,
        flags,
    })
}

pub(super) fn fmt(
    f: &mut fmt::Formatter<'_>,
    rate: u64,
    unit: u64,
    burst: u32,
    kind: u32,
    flags: u32,
) -> fmt::Result {
    let unit = match unit {
        1 => "second",
        60 => "minute",
        3600 => "hour",
        86400 => "day",
        604800 => "week",
        _ => "error",
    };
    let kind = match kind {
        NFT_LIMIT_PKTS => "packets",
        NFT_LIMIT_PKT_BYTES => "bytes",
        _ => "unknown",
    };
    write!(
        f,
        "rate {rate}/{unit} burst {burst} type {kind} flags 0x{flags:x} "
    )
}
