//! `range` (net/netfilter/nft_range.c): NFTA_RANGE_SREG be32, NFTA_RANGE_OP be32
//! (NFT_RANGE_EQ/NEQ), NFTA_RANGE_FROM_DATA and NFTA_RANGE_TO_DATA nested nft_data values.
//!
//! Bounds are raw bytes in the order the kernel compares them (memcmp, so network order).

use super::{attrs_of, Expr, Reg};
use crate::attr;
use crate::consts::*;
use crate::data::{self, Words};
use std::fmt;

pub(super) fn put(out: &mut Vec<u8>, sreg: Reg, op: u32, from: &[u8], to: &[u8]) {
    attr::put_be32(out, NFTA_RANGE_SREG, sreg);
    attr::put_be32(out, NFTA_RANGE_OP, op);
    data::put_value(out, NFTA_RANGE_FROM_DATA, from);
    data::put_value(out, NFTA_RANGE_TO_DATA, to);
}

pub(super) fn read(payload: &[u8]) -> Option<Expr> {
    let (mut sreg, mut op, mut from, mut to) = (None, None, None, None);
    for a in attrs_of(payload)? {
        match a.kind() {
            NFTA_RANGE_SREG => sreg = Some(a.be32("NFTA_RANGE_SREG").ok()?),
            NFTA_RANGE_OP => op = Some(a.be32("NFTA_RANGE_OP").ok()?),
            NFTA_RANGE_FROM_DATA => from = Some(data::value(a.payload)?),
            NFTA_RANGE_TO_DATA => to = Some(data::value(a.payload)?),
            _ => return None,
        }
    }
    Some(Expr::Range {
        sreg: sreg?,
        op: op?,
        from: from?,
        to: to?,
    })
}

pub(super) fn fmt(
    f: &mut fmt::Formatter<'_>,
    sreg: Reg,
    op: u32,
    from: &[u8],
    to: &[u8],
) -> fmt::Result {
    let op = match op {
        NFT_RANGE_EQ => "eq",
        NFT_RANGE_NEQ => "neq",
        _ => "unknown",
    };
    write!(f, "{op} reg {sreg} {}{}", Words(from), Words(to))
}
