//! `rt` (net/netfilter/nft_rt.c): loads a property of the packet's route (skb_dst).
//! NFTA_RT_KEY be32 (NFT_RT_*), then NFTA_RT_DREG be32, in that order as nft 1.0.6 sends them
//! (`rt ipsec missing`).
//!
//! This module encodes and decodes only; it does not know in which hooks a key is valid.

use super::{attrs_of, Expr, Reg};
use crate::attr;
use crate::consts::*;
use std::fmt;

pub(super) fn put(out: &mut Vec<u8>, key: u32, dreg: Reg) {
    attr::put_be32(out, NFTA_RT_KEY, key);
    attr::put_be32(out, NFTA_RT_DREG, dreg);
}

pub(super) fn read(data: &[u8]) -> Option<Expr> {
    let (mut key, mut dreg) = (None, None);
    for a in attrs_of(data)? {
        match a.kind() {
            NFTA_RT_KEY => key = Some(a.be32("NFTA_RT_KEY").ok()?),
            NFTA_RT_DREG => dreg = Some(a.be32("NFTA_RT_DREG").ok()?),
            _ => return None,
        }
    }
    Some(Expr::Rt {
        key: key?,
        dreg: dreg?,
    })
}

/// As libnftnl prints it: `load ipsec => reg 1 `.
pub(super) fn fmt(f: &mut fmt::Formatter<'_>, key: u32, dreg: Reg) -> fmt::Result {
    let key = match key {
        NFT_RT_CLASSID => "classid",
        NFT_RT_NEXTHOP4 => "nexthop4",
        NFT_RT_NEXTHOP6 => "nexthop6",
        NFT_RT_TCPMSS => "tcpmss",
        NFT_RT_XFRM => "ipsec",
        _ => "unknown",
    };
    write!(f, "load {key} => reg {dreg} ")
}
