//! `meta` loads (net/netfilter/nft_meta.c): NFTA_META_KEY be32, NFTA_META_DREG be32, sent in
//! that order by nft 1.0.6.
//!
//! `meta set` (NFTA_META_SREG) is not modelled and decodes to `Expr::Other`.

use super::{attrs_of, Expr, Reg};
use crate::attr;
use crate::consts::*;
use std::fmt;

pub(super) fn put(out: &mut Vec<u8>, key: u32, dreg: Reg) {
    attr::put_be32(out, NFTA_META_KEY, key);
    attr::put_be32(out, NFTA_META_DREG, dreg);
}

pub(super) fn read(data: &[u8]) -> Option<Expr> {
    let (mut key, mut dreg) = (None, None);
    for a in attrs_of(data)? {
        match a.kind() {
            NFTA_META_KEY => key = Some(a.be32("NFTA_META_KEY").ok()?),
            NFTA_META_DREG => dreg = Some(a.be32("NFTA_META_DREG").ok()?),
            _ => return None,
        }
    }
    Some(Expr::Meta {
        key: key?,
        dreg: dreg?,
    })
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

pub(super) fn fmt(f: &mut fmt::Formatter<'_>, key: u32, dreg: Reg) -> fmt::Result {
    let name = usize::try_from(key)
        .ok()
        .and_then(|k| KEYS.get(k))
        .unwrap_or(&"unknown");
    write!(f, "load {name} => reg {dreg} ")
}
