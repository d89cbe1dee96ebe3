//! `bitwise` boolean ops (net/netfilter/nft_bitwise.c): NFTA_BITWISE_SREG, NFTA_BITWISE_DREG,
//! optional NFTA_BITWISE_OP (be32, NFT_BITWISE_BOOL), NFTA_BITWISE_LEN, NFTA_BITWISE_MASK and
//! NFTA_BITWISE_XOR (nested nft_data values), in the order nft 1.0.6 sends them.
//!
//! Shifts (NFT_BITWISE_LSHIFT/RSHIFT with NFTA_BITWISE_DATA) decode to `Expr::Other`.

use super::{attrs_of, Expr, Reg};
use crate::attr;
use crate::consts::*;
use crate::data::{self, Words};
use std::fmt;

pub(super) fn put(
    out: &mut Vec<u8>,
    sreg: Reg,
    dreg: Reg,
    len: u32,
    mask: &[u8],
    xor: &[u8],
    op: Option<u32>,
) {
    attr::put_be32(out, NFTA_BITWISE_SREG, sreg);
    attr::put_be32(out, NFTA_BITWISE_DREG, dreg);
    if let Some(op) = op {
        attr::put_be32(out, NFTA_BITWISE_OP, op);
    }
    attr::put_be32(out, NFTA_BITWISE_LEN, len);
    data::put_value(out, NFTA_BITWISE_MASK, mask);
    data::put_value(out, NFTA_BITWISE_XOR, xor);
}

pub(super) fn read(payload: &[u8]) -> Option<Expr> {
    let (mut sreg, mut dreg, mut len, mut mask, mut xor, mut op) =
        (None, None, None, None, None, None);
    for a in attrs_of(payload)? {
        match a.kind() {
            NFTA_BITWISE_SREG => sreg = Some(a.be32("NFTA_BITWISE_SREG").ok()?),
            NFTA_BITWISE_DREG => dreg = Some(a.be32("NFTA_BITWISE_DREG").ok()?),
            NFTA_BITWISE_LEN => len = Some(a.be32("NFTA_BITWISE_LEN").ok()?),
            NFTA_BITWISE_MASK => mask = Some(data::value(a.payload)?),
            NFTA_BITWISE_XOR => xor = Some(data::value(a.payload)?),
            NFTA_BITWISE_OP => op = Some(a.be32("NFTA_BITWISE_OP").ok()?),
            _ => return None,
        }
    }
    if op.is_some_and(|op| op != NFT_BITWISE_BOOL) {
        return None;
    }
    Some(Expr::Bitwise {
        sreg: sreg?,
        dreg: dreg?,
        len: len?,
        mask: mask?,
        xor: xor?,
        op,
    })
}

pub(super) fn fmt(
    f: &mut fmt::Formatter<'_>,
    sreg: Reg,
    dreg: Reg,
    mask: &[u8],
    xor: &[u8],
) -> fmt::Result {
    write!(
        f,
        "reg {dreg} = ( reg {sreg} & {}) ^ {}",
        Words(mask),
        Words(xor)
    )
}
