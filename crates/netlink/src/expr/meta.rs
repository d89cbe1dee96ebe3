//! `meta` loads and stores (net/netfilter/nft_meta.c): NFTA_META_KEY be32, then
//! NFTA_META_DREG be32 for a load (`meta load mark => reg 1`) or NFTA_META_SREG be32 for a
//! store (`meta set mark with reg 1`), sent in that order by nft 1.0.6.
//!
//! This module does not know which keys the kernel lets a rule set; an expression with both
//! registers or neither decodes to `Expr::Other`.

use super::{attrs_of, Expr, Reg};
use crate::attr;
use crate::consts::*;
use std::fmt;

pub(super) fn put(out: &mut Vec<u8>, key: u32, dreg: Reg) {
    attr::put_be32(out, NFTA_META_KEY, key);
    attr::put_be32(out, NFTA_META_DREG, dreg);
}

/// `meta set KEY with reg SREG`: key, then source register.
pub(super) fn put_set(out: &mut Vec<u8>, key: u32, sreg: Reg) {
    attr::put_be32(out, NFTA_META_KEY, key);
    attr::put_be32(out, NFTA_META_SREG, sreg);
}

pub(super) fn read(data: &[u8]) -> Option<Expr> {
    let (mut key, mut dreg, mut sreg) = (None, None, None);
    for a in attrs_of(data)? {
        match a.kind() {
            NFTA_META_KEY => key = Some(a.be32("NFTA_META_KEY").ok()?),
            NFTA_META_DREG => dreg = Some(a.be32("NFTA_META_DREG").ok()?),
            NFTA_META_SREG => sreg = Some(a.be32("NFTA_META_SREG").ok()?),
            _ => return None,
        }
    }
    match (dreg, sreg) {
        (Some(dreg), None) => Some(Expr::Meta { key: key?, dreg }),
        (None, Some(sreg)) => Some(Expr::MetaSet { key: key?, sreg }),
        _ => None,
    }
}

/// libnftnl's names for NFT_META_* keys, indexed by key.
const KEYS: [&str; 36] = [
    "len",
    "protocol",
    "priority",
    "mark",
    "iif",
    "oif",
    "iifname",
    "oifname",
    "iiftype",
    "oiftype",
    "skuid",
    "skgid",
    "nftrace",
    "rtclassid",
    "secmark",
    "nfproto",
    "l4proto",
    "bri_iifname",
    "bri_oifname",
    "pkttype",
    "cpu",
    "iifgroup",
    "oifgroup",
    "cgroup",
    "prandom",
    "secpath",
    "iifkind",
    "oifkind",
    "bri_iifpvid",
    "bri_iifvproto",
    "time",
    "day",
    "hour",
    "sdif",
    "sdifname",
    "bri_broute",
];

fn key_name(key: u32) -> &'static str {
    usize::try_from(key)
        .ok()
        .and_then(|k| KEYS.get(k))
        .unwrap_or(&"unknown")
}

pub(super) fn fmt(f: &mut fmt::Formatter<'_>, key: u32, dreg: Reg) -> fmt::Result {
    write!(f, "load {} => reg {dreg} ", key_name(key))
}

pub(super) fn fmt_set(f: &mut fmt::Formatter<'_>, key: u32, sreg: Reg) -> fmt::Result {
    write!(f, "set {} with reg {sreg} ", key_name(key))
}
