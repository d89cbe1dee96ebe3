//! `byteorder` (net/netfilter/nft_byteorder.c): converts a register between host and network
//! order. NFTA_BYTEORDER_SREG be32, NFTA_BYTEORDER_DREG be32, NFTA_BYTEORDER_OP be32
//! (NFT_BYTEORDER_NTOH / HTON), NFTA_BYTEORDER_LEN be32, NFTA_BYTEORDER_SIZE be32 (2, 4 or 8),
//! sent in that order by nft 1.0.6, which puts one before an ordering comparison on a
//! host-order value (`numgen random mod 2147483648 < 10`).
//!
//! This module encodes and decodes only.

use super::{attrs_of, Expr, Reg};
use crate::attr;
use crate::consts::*;
use std::fmt;

pub(super) fn put(out: &mut Vec<u8>, sreg: Reg, dreg: Reg, op: u32, len: u32, size: u32) {
    attr::put_be32(out, NFTA_BYTEORDER_SREG, sreg);
    attr::put_be32(out, NFTA_BYTEORDER_DREG, dreg);
    attr::put_be32(out, NFTA_BYTEORDER_OP, op);
    attr::put_be32(out, NFTA_BYTEORDER_LEN, len);
    attr::put_be32(out, NFTA_BYTEORDER_SIZE, size);
}

pub(super) fn read(data: &[u8]) -> Option<Expr> {
    let (mut sreg, mut dreg, mut op, mut len, mut size) = (None, None, None, None, None);
    for a in attrs_of(data)? {
        match a.kind() {
            NFTA_BYTEORDER_SREG => sreg = Some(a.be32("NFTA_BYTEORDER_SREG").ok()?),
            NFTA_BYTEORDER_DREG => dreg = Some(a.be32("NFTA_BYTEORDER_DREG").ok()?),
            NFTA_BYTEORDER_OP => op = Some(a.be32("NFTA_BYTEORDER_OP").ok()?),
            NFTA_BYTEORDER_LEN => len = Some(a.be32("NFTA_BYTEORDER_LEN").ok()?),
            NFTA_BYTEORDER_SIZE => size = Some(a.be32("NFTA_BYTEORDER_SIZE").ok()?),
            _ => return None,
        }
    }
    Some(Expr::Byteorder {
        sreg: sreg?,
        dreg: dreg?,
        op: op?,
        len: len?,
        size: size?,
    })
}

/// As libnftnl prints it: `reg 1 = hton(reg 1, 4, 4) ` (size, then length).
pub(super) fn fmt(
    f: &mut fmt::Formatter<'_>,
    sreg: Reg,
    dreg: Reg,
    op: u32,
    len: u32,
    size: u32,
) -> fmt::Result {
    let op = match op {
        NFT_BYTEORDER_NTOH => "ntoh",
        NFT_BYTEORDER_HTON => "hton",
        _ => "unknown",
    };
    write!(f, "reg {dreg} = {op}(reg {sreg}, {size}, {len}) ")
}
