//! `ct` loads and stores (net/netfilter/nft_ct.c): NFTA_CT_KEY be32, then NFTA_CT_DREG be32
//! for a load or NFTA_CT_SREG be32 for a store (`ct set mark with reg 1`), then the optional
//! NFTA_CT_DIRECTION u8 (IP_CT_DIR_ORIGINAL 0 / REPLY 1), in the order nft 1.0.6 sends them.
//!
//! This module does not know which keys the kernel lets a rule set; an expression with both
//! registers or neither decodes to `Expr::Other`.

use super::{attrs_of, Expr, Reg};
use crate::attr;
use crate::consts::*;
use std::fmt;

pub(super) fn put(out: &mut Vec<u8>, key: u32, dreg: Reg, dir: Option<u8>) {
    attr::put_be32(out, NFTA_CT_KEY, key);
    attr::put_be32(out, NFTA_CT_DREG, dreg);
    if let Some(dir) = dir {
        attr::put_u8(out, NFTA_CT_DIRECTION, dir);
    }
}

/// `ct set KEY with reg SREG`: key, source register, direction if any.
pub(super) fn put_set(out: &mut Vec<u8>, key: u32, sreg: Reg, dir: Option<u8>) {
    attr::put_be32(out, NFTA_CT_KEY, key);
    attr::put_be32(out, NFTA_CT_SREG, sreg);
    if let Some(dir) = dir {
        attr::put_u8(out, NFTA_CT_DIRECTION, dir);
    }
}

pub(super) fn read(data: &[u8]) -> Option<Expr> {
    let (mut key, mut dreg, mut sreg, mut dir) = (None, None, None, None);
    for a in attrs_of(data)? {
        match a.kind() {
            NFTA_CT_KEY => key = Some(a.be32("NFTA_CT_KEY").ok()?),
            NFTA_CT_DREG => dreg = Some(a.be32("NFTA_CT_DREG").ok()?),
            NFTA_CT_SREG => sreg = Some(a.be32("NFTA_CT_SREG").ok()?),
            NFTA_CT_DIRECTION => dir = Some(a.u8("NFTA_CT_DIRECTION").ok()?),
            _ => return None,
        }
    }
    match (dreg, sreg) {
        (Some(dreg), None) => Some(Expr::Ct {
            key: key?,
            dreg,
            dir,
        }),
        (None, Some(sreg)) => Some(Expr::CtSet {
            key: key?,
            sreg,
            dir,
        }),
        _ => None,
    }
}

/// libnftnl's names for NFT_CT_* keys, indexed by key.
const KEYS: [&str; 24] = [
    "state",
    "direction",
    "status",
    "mark",
    "secmark",
    "expiration",
    "helper",
    "l3protocol",
    "src",
    "dst",
    "protocol",
    "proto_src",
    "proto_dst",
    "label",
    "packets",
    "bytes",
    "avgpkt",
    "zone",
    "event",
    "src_ip",
    "dst_ip",
    "src_ip6",
    "dst_ip6",
    "ct_id",
];

fn key_name(key: u32) -> &'static str {
    usize::try_from(key)
        .ok()
        .and_then(|k| KEYS.get(k))
        .unwrap_or(&"unknown")
}

pub(super) fn fmt(f: &mut fmt::Formatter<'_>, key: u32, dreg: Reg, dir: Option<u8>) -> fmt::Result {
    write!(f, "load {} => reg {dreg} ", key_name(key))?;
    fmt_dir(f, dir)
}

pub(super) fn fmt_set(
    f: &mut fmt::Formatter<'_>,
    key: u32,
    sreg: Reg,
    dir: Option<u8>,
) -> fmt::Result {
    write!(f, "set {} with reg {sreg} ", key_name(key))?;
    fmt_dir(f, dir)
}

fn fmt_dir(f: &mut fmt::Formatter<'_>, dir: Option<u8>) -> fmt::Result {
    match dir {
        Some(0) => f.write_str(", dir original "),
        Some(1) => f.write_str(", dir reply "),
        Some(_) => f.write_str(", dir unknown "),
        None => Ok(()),
    }
}
