//! `exthdr` loads (net/netfilter/nft_exthdr.c): a field of an IPv6 extension header, a TCP
//! option or an IPv4 option, or whether it is present at all (NFT_EXTHDR_F_PRESENT).
//!
//! Attributes, in the order nft 1.0.6 sends them: NFTA_EXTHDR_DREG be32, NFTA_EXTHDR_TYPE u8
//! (the header number, e.g. 43 for routing, or the TCP option kind), NFTA_EXTHDR_OFFSET be32,
//! NFTA_EXTHDR_LEN be32, NFTA_EXTHDR_OP be32 (NFT_EXTHDR_OP_*), NFTA_EXTHDR_FLAGS be32, all
//! always sent. The kernel dumps FLAGS before OP; both orders decode to the same value. A
//! load without OP or FLAGS decodes to `Expr::Other`, so re-encoding never adds bytes.
//!
//! Writes (NFTA_EXTHDR_SREG: `tcp option maxseg size set`) are not modelled and decode to
//! `Expr::Other`; this module does not know what a header number means.

use super::{attrs_of, Expr, Reg};
use crate::attr;
use crate::consts::*;
use std::fmt;

/// The fields of an `exthdr` load, as `Expr::Exthdr` holds them.
pub(super) struct Load {
    pub op: u32,
    pub kind: u8,
    pub offset: u32,
    pub len: u32,
    pub flags: u32,
    pub dreg: Reg,
}

pub(super) fn put(out: &mut Vec<u8>, l: &Load) {
    attr::put_be32(out, NFTA_EXTHDR_DREG, l.dreg);
    attr::put_u8(out, NFTA_EXTHDR_TYPE, l.kind);
    attr::put_be32(out, NFTA_EXTHDR_OFFSET, l.offset);
    attr::put_be32(out, NFTA_EXTHDR_LEN, l.len);
    attr::put_be32(out, NFTA_EXTHDR_OP, l.op);
    attr::put_be32(out, NFTA_EXTHDR_FLAGS, l.flags);
}

pub(super) fn read(data: &[u8]) -> Option<Expr> {
    let (mut dreg, mut kind, mut offset, mut len) = (None, None, None, None);
    let (mut op, mut flags) = (None, None);
    for a in attrs_of(data)? {
        match a.kind() {
            NFTA_EXTHDR_DREG => dreg = Some(a.be32("NFTA_EXTHDR_DREG").ok()?),
            NFTA_EXTHDR_TYPE => kind = Some(a.u8("NFTA_EXTHDR_TYPE").ok()?),
            NFTA_EXTHDR_OFFSET => offset = Some(a.be32("NFTA_EXTHDR_OFFSET").ok()?),
            NFTA_EXTHDR_LEN => len = Some(a.be32("NFTA_EXTHDR_LEN").ok()?),
            NFTA_EXTHDR_OP => op = Some(a.be32("NFTA_EXTHDR_OP").ok()?),
            NFTA_EXTHDR_FLAGS => flags = Some(a.be32("NFTA_EXTHDR_FLAGS").ok()?),
            _ => return None,
        }
    }
    Some(Expr::Exthdr {
        op: op?,
        kind: kind?,
        offset: offset?,
        len: len?,
        flags: flags?,
        dreg: dreg?,
    })
}

/// As libnftnl prints a load: `load ipv6 1b @ 43 + 2 present => reg 1 `.
pub(super) fn fmt(f: &mut fmt::Formatter<'_>, l: &Load) -> fmt::Result {
    let op = match l.op {
        NFT_EXTHDR_OP_IPV6 => " ipv6",
        NFT_EXTHDR_OP_TCPOPT => " tcpopt",
        NFT_EXTHDR_OP_IPV4 => " ipv4",
        _ => "",
    };
    let present = if l.flags & NFT_EXTHDR_F_PRESENT != 0 {
        " present"
    } else {
        ""
    };
    write!(
        f,
        "load{op} {}b @ {} + {}{present} => reg {} ",
        l.len, l.kind, l.offset, l.dreg
    )
}
