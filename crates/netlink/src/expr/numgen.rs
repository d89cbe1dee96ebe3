//! `numgen` (net/netfilter/nft_numgen.c): a number generator, `inc` (a per-expression counter
//! that wraps at the modulus) or `random`. NFTA_NG_DREG be32, NFTA_NG_MODULUS be32,
//! NFTA_NG_TYPE be32 (NFT_NG_*), NFTA_NG_OFFSET be32, sent in that order by nft 1.0.6
//! (`numgen inc mod 2 0`), the offset always, 0 when not given.
//!
//! This module encodes and decodes only. The deprecated map attributes (NFTA_NG_SET_NAME,
//! NFTA_NG_SET_ID) are not modelled: such an expression decodes to `Expr::Other`.

use super::{attrs_of, Expr, Reg};
use crate::attr;
use crate::consts::*;
use std::fmt;

pub(super) fn put(out: &mut Vec<u8>, dreg: Reg, modulus: u32, kind: u32, offset: u32) {
    attr::put_be32(out, NFTA_NG_DREG, dreg);
    attr::put_be32(out, NFTA_NG_MODULUS, modulus);
    attr::put_be32(out, NFTA_NG_TYPE, kind);
    attr::put_be32(out, NFTA_NG_OFFSET, offset);
}

pub(super) fn read(data: &[u8]) -> Option<Expr> {
    let (mut dreg, mut modulus, mut kind, mut offset) = (None, None, None, 0);
    for a in attrs_of(data)? {
        match a.kind() {
            NFTA_NG_DREG => dreg = Some(a.be32("NFTA_NG_DREG").ok()?),
            NFTA_NG_MODULUS => modulus = Some(a.be32("NFTA_NG_MODULUS").ok()?),
            NFTA_NG_TYPE => kind = Some(a.be32("NFTA_NG_TYPE").ok()?),
            NFTA_NG_OFFSET => offset = a.be32("NFTA_NG_OFFSET").ok()?,
            _ => return None,
        }
    }
    Some(Expr::Numgen {
        dreg: dreg?,
        modulus: modulus?,
        kind: kind?,
        offset,
    })
}

/// As libnftnl prints it: `reg 1 = inc mod 2 `, with ` offset N` when the offset is not 0.
pub(super) fn fmt(
    f: &mut fmt::Formatter<'_>,
    dreg: Reg,
    modulus: u32,
    kind: u32,
    offset: u32,
) -> fmt::Result {
    let kind = match kind {
        NFT_NG_INCREMENTAL => "inc",
        NFT_NG_RANDOM => "random",
        _ => "unknown",
    };
    write!(f, "reg {dreg} = {kind} mod {modulus} ")?;
    if offset != 0 {
        write!(f, "offset {offset} ")?;
    }
    Ok(())
}
