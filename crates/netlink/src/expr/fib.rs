//! `fib` (net/netfilter/nft_fib.c, nft_fib_ipv4.c, nft_fib_ipv6.c): a routing lookup on the
//! packet's addresses. NFTA_FIB_FLAGS be32 (NFTA_FIB_F_*: which address, which interface),
//! NFTA_FIB_RESULT be32 (NFT_FIB_RESULT_*: oif, oifname or address type), NFTA_FIB_DREG be32,
//! sent in that order by nft 1.0.6 (`fib daddr . iif type local`).
//!
//! This module encodes and decodes only; it does not know what an address type means.

use super::{attrs_of, Expr, Reg};
use crate::attr;
use crate::consts::*;
use std::fmt;

pub(super) fn put(out: &mut Vec<u8>, flags: u32, result: u32, dreg: Reg) {
    attr::put_be32(out, NFTA_FIB_FLAGS, flags);
    attr::put_be32(out, NFTA_FIB_RESULT, result);
    attr::put_be32(out, NFTA_FIB_DREG, dreg);
}

pub(super) fn read(data: &[u8]) -> Option<Expr> {
    let (mut flags, mut result, mut dreg) = (None, None, None);
    for a in attrs_of(data)? {
        match a.kind() {
            NFTA_FIB_FLAGS => flags = Some(a.be32("NFTA_FIB_FLAGS").ok()?),
            NFTA_FIB_RESULT => result = Some(a.be32("NFTA_FIB_RESULT").ok()?),
            NFTA_FIB_DREG => dreg = Some(a.be32("NFTA_FIB_DREG").ok()?),
            _ => return None,
        }
    }
    Some(Expr::Fib {
        flags: flags?,
        result: result?,
        dreg: dreg?,
    })
}

/// As libnftnl prints it: the inputs joined by ` . `, then the result:
/// `daddr . iif type => reg 1 `.
pub(super) fn fmt(f: &mut fmt::Formatter<'_>, flags: u32, result: u32, dreg: Reg) -> fmt::Result {
    let inputs = [
        (NFTA_FIB_F_SADDR, "saddr"),
        (NFTA_FIB_F_DADDR, "daddr"),
        (NFTA_FIB_F_MARK, "mark"),
        (NFTA_FIB_F_IIF, "iif"),
        (NFTA_FIB_F_OIF, "oif"),
    ];
    let mut rest = flags & !NFTA_FIB_F_PRESENT;
    for (bit, name) in inputs {
        if rest & bit == 0 {
            continue;
        }
        write!(f, "{name} ")?;
        rest &= !bit;
        if rest != 0 {
            f.write_str(". ")?;
        }
    }
    if rest != 0 {
        write!(f, "unknown {rest:#x}")?;
    }
    let result = match result {
        NFT_FIB_RESULT_OIF => "oif",
        NFT_FIB_RESULT_OIFNAME => "oifname",
        NFT_FIB_RESULT_ADDRTYPE => "type",
        _ => "unknown",
    };
    let present = if flags & NFTA_FIB_F_PRESENT != 0 {
        " present"
    } else {
        ""
    };
    write!(f, "{result}{present} => reg {dreg} ")
}
