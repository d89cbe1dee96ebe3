//! `payload` loads (net/netfilter/nft_payload.c): NFTA_PAYLOAD_DREG, NFTA_PAYLOAD_BASE
//! (NFT_PAYLOAD_*_HEADER), NFTA_PAYLOAD_OFFSET, NFTA_PAYLOAD_LEN, all be32, in that order.
//!
//! Payload writes (NFTA_PAYLOAD_SREG, checksum attributes) are not modelled: `Expr::Other`.

use super::{attrs_of, Expr, Reg};
use crate::attr;
use crate::consts::*;
use std::fmt;

pub(super) fn put(out: &mut Vec<u8>, base: u32, offset: u32, len: u32, dreg: Reg) {
    attr::put_be32(out, NFTA_PAYLOAD_DREG, dreg);
    attr::put_be32(out, NFTA_PAYLOAD_BASE, base);
    attr::put_be32(out, NFTA_PAYLOAD_OFFSET, offset);
    attr::put_be32(out, NFTA_PAYLOAD_LEN, len);
}

pub(super) fn read(data: &[u8]) -> Option<Expr> {
    let (mut dreg, mut base, mut offset, mut len) = (None, None, None, None);
    for a in attrs_of(data)? {
        match a.kind() {
            NFTA_PAYLOAD_DREG => dreg = Some(a.be32("NFTA_PAYLOAD_DREG").ok()?),
            NFTA_PAYLOAD_BASE => base = Some(a.be32("NFTA_PAYLOAD_BASE").ok()?),
            NFTA_PAYLOAD_OFFSET => offset = Some(a.be32("NFTA_PAYLOAD_OFFSET").ok()?),
            NFTA_PAYLOAD_LEN => len = Some(a.be32("NFTA_PAYLOAD_LEN").ok()?),
            _ => return None,
        }
    }
    Some(Expr::Payload {
        base: base?,
        offset: offset?,
        len: len?,
        dreg: dreg?,
    })
}

pub(super) fn fmt(
    f: &mut fmt::Formatter<'_>,
    base: u32,
    offset: u32,
    len: u32,
    dreg: Reg,
) -> fmt::Result {
    let base = match base {
        NFT_PAYLOAD_LL_HEADER => "link",
        NFT_PAYLOAD_NETWORK_HEADER => "network",
        NFT_PAYLOAD_TRANSPORT_HEADER => "transport",
        NFT_PAYLOAD_INNER_HEADER => "inner",
        _ => "unknown",
    };
    write!(f, "load {len}b @ {base} header + {offset} => reg {dreg} ")
}
