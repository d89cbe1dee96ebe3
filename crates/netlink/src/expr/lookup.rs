//! `lookup` (net/netfilter/nft_lookup.c): NFTA_LOOKUP_SREG be32, NFTA_LOOKUP_SET string,
//! NFTA_LOOKUP_SET_ID be32, NFTA_LOOKUP_DREG be32 (a map lookup: where the element's data
//! goes, register 0 for a verdict map), NFTA_LOOKUP_FLAGS be32 (NFT_LOOKUP_F_INV, only when
//! non-zero). nft 1.0.6 sends SREG, DREG, SET, SET_ID, FLAGS; so does this encoder.

use super::{attrs_of, Expr, Reg};
use crate::attr;
use crate::consts::*;
use std::fmt;

pub(super) fn put(
    out: &mut Vec<u8>,
    sreg: Reg,
    set: &str,
    set_id: Option<u32>,
    dreg: Option<Reg>,
    flags: u32,
) {
    attr::put_be32(out, NFTA_LOOKUP_SREG, sreg);
    if let Some(d) = dreg {
        attr::put_be32(out, NFTA_LOOKUP_DREG, d);
    }
    attr::put_str(out, NFTA_LOOKUP_SET, set);
    if let Some(id) = set_id {
        attr::put_be32(out, NFTA_LOOKUP_SET_ID, id);
    }
    if flags != 0 {
        attr::put_be32(out, NFTA_LOOKUP_FLAGS, flags);
    }
}

pub(super) fn read(data: &[u8]) -> Option<Expr> {
    let (mut sreg, mut set, mut set_id, mut dreg, mut flags) = (None, None, None, None, 0);
    for a in attrs_of(data)? {
        match a.kind() {
            NFTA_LOOKUP_SREG => sreg = Some(a.be32("NFTA_LOOKUP_SREG").ok()?),
            NFTA_LOOKUP_SET => set = Some(a.str("NFTA_LOOKUP_SET").ok()?),
            NFTA_LOOKUP_SET_ID => set_id = Some(a.be32("NFTA_LOOKUP_SET_ID").ok()?),
            NFTA_LOOKUP_DREG => dreg = Some(a.be32("NFTA_LOOKUP_DREG").ok()?),
            NFTA_LOOKUP_FLAGS => flags = a.be32("NFTA_LOOKUP_FLAGS").ok()?,
            _ => return None,
        }
    }
    Some(Expr::Lookup {
        sreg: sreg?,
        set: set?,
        set_id,
        dreg,
        flags,
    })
}

pub(super) fn fmt(
    f: &mut fmt::Formatter<'_>,
    sreg: Reg,
    set: &str,
    dreg: Option<Reg>,
    flags: u32,
) -> fmt::Result {
    write!(f, "reg {sreg} set {set} ")?;
    if let Some(d) = dreg {
        write!(f, "dreg {d} ")?;
    }
    write!(f, "0x{flags:x} ")
}
