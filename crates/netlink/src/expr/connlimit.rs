//! `connlimit` (net/netfilter/nft_connlimit.c): NFTA_CONNLIMIT_COUNT be32 (the limit),
//! NFTA_CONNLIMIT_FLAGS be32 (NFT_CONNLIMIT_F_INV: match above the limit rather than at or
//! below it). nft 1.0.6 sends both, FLAGS 0 included; the kernel's dump leaves FLAGS out when
//! it is 0, which decodes to the same value.
//!
//! Counting is the kernel's business (nf_conncount); this module only carries the two numbers.

use super::{attrs_of, Expr};
use crate::attr;
use crate::consts::*;
use std::fmt;

pub(super) fn put(out: &mut Vec<u8>, count: u32, flags: u32) {
    attr::put_be32(out, NFTA_CONNLIMIT_COUNT, count);
    attr::put_be32(out, NFTA_CONNLIMIT_FLAGS, flags);
}

pub(super) fn read(data: &[u8]) -> Option<Expr> {
    let (mut count, mut flags) = (None, 0);
    for a in attrs_of(data)? {
        match a.kind() {
            NFTA_CONNLIMIT_COUNT => count = Some(a.be32("NFTA_CONNLIMIT_COUNT").ok()?),
            NFTA_CONNLIMIT_FLAGS => flags = a.be32("NFTA_CONNLIMIT_FLAGS").ok()?,
            _ => return None,
        }
    }
    Some(Expr::Connlimit {
        count: count?,
        flags,
    })
}

pub(super) fn fmt(f: &mut fmt::Formatter<'_>, count: u32, flags: u32) -> fmt::Result {
    write!(f, "count {count} flags {flags:x} ")
}
