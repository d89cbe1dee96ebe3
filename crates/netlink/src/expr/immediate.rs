//! `immediate` (net/netfilter/nft_immediate.c): NFTA_IMMEDIATE_DREG be32, NFTA_IMMEDIATE_DATA
//! nested nft_data (a value, or a verdict when the register is NFT_REG_VERDICT).
//!
//! Verdicts with NFTA_VERDICT_CHAIN_ID or codes outside `Verdict` decode to `Expr::Other`.

use super::{attrs_of, Expr, ImmData, Reg};
use crate::attr;
use crate::consts::*;
use crate::data::{self, Words};
use std::fmt;

pub(super) fn put(out: &mut Vec<u8>, dreg: Reg, value: &ImmData) {
    attr::put_be32(out, NFTA_IMMEDIATE_DREG, dreg);
    data::put_data(out, NFTA_IMMEDIATE_DATA, value);
}

pub(super) fn read(payload: &[u8]) -> Option<Expr> {
    let (mut dreg, mut value) = (None, None);
    for a in attrs_of(payload)? {
        match a.kind() {
            NFTA_IMMEDIATE_DREG => dreg = Some(a.be32("NFTA_IMMEDIATE_DREG").ok()?),
            NFTA_IMMEDIATE_DATA => value = Some(data::data(a.payload)?),
            _ => return None,
        }
    }
    Some(Expr::Immediate {
        dreg: dreg?,
        data: value?,
    })
}

pub(super) fn fmt(f: &mut fmt::Formatter<'_>, dreg: Reg, value: &ImmData) -> fmt::Result {
    match value {
        ImmData::Value(v) => write!(f, "reg {dreg} {}", Words(v)),
        ImmData::Verdict(v) => write!(f, "reg {dreg} {v} "),
    }
}
