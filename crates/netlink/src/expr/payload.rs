//! `payload` loads and writes (net/netfilter/nft_payload.c). A load is NFTA_PAYLOAD_DREG,
//! NFTA_PAYLOAD_BASE (NFT_PAYLOAD_*_HEADER), NFTA_PAYLOAD_OFFSET, NFTA_PAYLOAD_LEN, all be32,
//! in that order. A write is NFTA_PAYLOAD_SREG, BASE, OFFSET, LEN, then the optional
//! NFTA_PAYLOAD_CSUM_TYPE, NFTA_PAYLOAD_CSUM_OFFSET and NFTA_PAYLOAD_CSUM_FLAGS, all be32.
//!
//! An expression with both registers or neither decodes to `Expr::Other`.

use super::{attrs_of, Expr, PayloadWrite, Reg};
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
    let (mut dreg, mut sreg, mut base, mut offset, mut len) = (None, None, None, None, None);
    let (mut csum_type, mut csum_offset, mut csum_flags) = (None, None, None);
    for a in attrs_of(data)? {
        match a.kind() {
            NFTA_PAYLOAD_DREG => dreg = Some(a.be32("NFTA_PAYLOAD_DREG").ok()?),
            NFTA_PAYLOAD_SREG => sreg = Some(a.be32("NFTA_PAYLOAD_SREG").ok()?),
            NFTA_PAYLOAD_BASE => base = Some(a.be32("NFTA_PAYLOAD_BASE").ok()?),
            NFTA_PAYLOAD_OFFSET => offset = Some(a.be32("NFTA_PAYLOAD_OFFSET").ok()?),
            NFTA_PAYLOAD_LEN => len = Some(a.be32("NFTA_PAYLOAD_LEN").ok()?),
            NFTA_PAYLOAD_CSUM_TYPE => csum_type = Some(a.be32("NFTA_PAYLOAD_CSUM_TYPE").ok()?),
            NFTA_PAYLOAD_CSUM_OFFSET => {
                csum_offset = Some(a.be32("NFTA_PAYLOAD_CSUM_OFFSET").ok()?)
            }
            NFTA_PAYLOAD_CSUM_FLAGS => csum_flags = Some(a.be32("NFTA_PAYLOAD_CSUM_FLAGS").ok()?),
            _ => return None,
        }
    }
    let checksum = csum_type.is_some() || csum_offset.is_some() || csum_flags.is_some();
    match (dreg, sreg) {
        (Some(dreg), None) if !checksum => Some(Expr::Payload {
            base: base?,
            offset: offset?,
            len: len?,
            dreg,
        }),
        (None, Some(sreg)) => Some(Expr::PayloadSet(PayloadWrite {
            base: base?,
            offset: offset?,
            len: len?,
            sreg,
            csum_type,
            csum_offset,
            csum_flags,
        })),
        _ => None,
    }
}

/// A payload write: source register, location, then the checksum attributes that are set.
pub(super) fn put_set(out: &mut Vec<u8>, w: &PayloadWrite) {
    attr::put_be32(out, NFTA_PAYLOAD_SREG, w.sreg);
    attr::put_be32(out, NFTA_PAYLOAD_BASE, w.base);
    attr::put_be32(out, NFTA_PAYLOAD_OFFSET, w.offset);
    attr::put_be32(out, NFTA_PAYLOAD_LEN, w.len);
    if let Some(t) = w.csum_type {
        attr::put_be32(out, NFTA_PAYLOAD_CSUM_TYPE, t);
    }
    if let Some(o) = w.csum_offset {
        attr::put_be32(out, NFTA_PAYLOAD_CSUM_OFFSET, o);
    }
    if let Some(f) = w.csum_flags {
        attr::put_be32(out, NFTA_PAYLOAD_CSUM_FLAGS, f);
    }
}

/// As libnftnl prints a write: every checksum field, 0 when absent.
pub(super) fn fmt_set(f: &mut fmt::Formatter<'_>, w: &PayloadWrite) -> fmt::Result {
    write!(
        f,
        "write reg {} => {}b @ {} header + {} csum_type {} csum_off {} csum_flags {:#x} ",
        w.sreg,
        w.len,
        base_name(w.base),
        w.offset,
        w.csum_type.unwrap_or(0),
        w.csum_offset.unwrap_or(0),
        w.csum_flags.unwrap_or(0)
    )
}

pub(super) fn fmt(
    f: &mut fmt::Formatter<'_>,
    base: u32,
    offset: u32,
    len: u32,
    dreg: Reg,
) -> fmt::Result {
    let base = base_name(base);
    write!(f, "load {len}b @ {base} header + {offset} => reg {dreg} ")
}

fn base_name(base: u32) -> &'static str {
    match base {
        NFT_PAYLOAD_LL_HEADER => "link",
        NFT_PAYLOAD_NETWORK_HEADER => "network",
        NFT_PAYLOAD_TRANSPORT_HEADER => "transport",
        NFT_PAYLOAD_INNER_HEADER => "inner",
        _ => "unknown",
    }
}
