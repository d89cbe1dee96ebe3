//! `cmp` (net/netfilter/nft_cmp.c): NFTA_CMP_SREG be32, NFTA_CMP_OP be32 (NFT_CMP_*),
//! NFTA_CMP_DATA nested nft_data value.
//!
//! The data is raw bytes; this module does not interpret it.

use super::{attrs_of, Expr, Reg};
use crate::attr;
use crate::consts::*;
use crate::data::{self, Words};
use std::fmt;

pub(super) fn put(out: &mut Vec<u8>, sreg: Reg, op: u32, value: &[u8]) {
    attr::put_be32(out, NFTA_CMP_SREG, sreg);
    attr::put_be32(out, NFTA_CMP_OP, op);
    data::put_value(out, NFTA_CMP_DATA, value);
}

pub(super) fn read(payload: &[u8]) -> Option<Expr> {
    let (mut sreg, mut op, mut value) = (None, None, None);
    for a in attrs_of(payload)? {
        match a.kind() {
            NFTA_CMP_SREG => sreg = Some(a.be32("NFTA_CMP_SREG").ok()?),
            NFTA_CMP_OP => op = Some(a.be32("NFTA_CMP_OP").ok()?),
            NFTA_CMP_DATA => value = Some(data::value(a.payload)?),
            _ => return None,
        }
    }
    Some(Expr::Cmp {
        sreg: sreg?,
        op: op?,
        data: value?,
    })
}

/// nft's names for NFT_CMP_* (also used by `range`).
pub(super) fn op_name(op: u32) -> &'static str {
    match op {
        NFT_CMP_EQ => "eq",
        NFT_CMP_NEQ => "neq",
        NFT_CMP_LT => "lt",
        NFT_CMP_LTE => "lte",
        NFT_CMP_GT => "gt",
        NFT_CMP_GTE => "gte",
        _ => "unknown",
    }
}

pub(super) fn fmt(f: &mut fmt::Formatter<'_>, sreg: Reg, op: u32, value: &[u8]) -> fmt::Result {
    write!(f, "{} reg {sreg} {}", op_name(op), Words(value))
}
