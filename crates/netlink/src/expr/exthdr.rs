//! `exthdr` loads (net/netfilter/nft_exthdr.c): a field of an IPv6 extension header, a TCP
//! option or an IPv4 option, or whether it is present at all (NFT_EXTHDR_F_PRESENT).
//!
//! Attributes, in the order nft 1.0.6 sends them: NFTA_EXTHDR_DREG be32, NFTA_EXTHDR_TYPE u8
//! (the header number, e.g. 43 for routing, or the TCP option kind), NFTA_EXTHDR_OFFSET be32,
//! NFTA_EXTHDR_LEN be32, NFTA_EXTHDR_OP be32 (NFT_EXTHDR_OP_*), NFTA_EXTHDR_FLAGS be32, all
//! always sent. The kernel dumps FLAGS before OP; both orders decode to the same value. A
//! load without OP or FLAGS decodes to `Expr::Other`, so re-encoding never adds bytes.
//!
//! Writes (`tcp option maxseg size set`, [`ExthdrWrite`]): NFTA_EXTHDR_SREG be32, TYPE u8,
//! OFFSET be32, LEN be32, then OP be32, as nft 1.0.6 sends them, without FLAGS; the kernel
//! dumps FLAGS 0 between LEN and OP, kept as `Some(0)` and re-encoded in that place. A write
//! with a destination register too, or without SREG or OP, decodes to `Expr::Other`.
//!
//! This module does not know what a header number means.

use super::{attrs_of, Expr, ExthdrWrite, Reg};
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
    let (mut op, mut flags, mut sreg) = (None, None, None);
    for a in attrs_of(data)? {
        match a.kind() {
            NFTA_EXTHDR_DREG => dreg = Some(a.be32("NFTA_EXTHDR_DREG").ok()?),
            NFTA_EXTHDR_SREG => sreg = Some(a.be32("NFTA_EXTHDR_SREG").ok()?),
            NFTA_EXTHDR_TYPE => kind = Some(a.u8("NFTA_EXTHDR_TYPE").ok()?),
            NFTA_EXTHDR_OFFSET => offset = Some(a.be32("NFTA_EXTHDR_OFFSET").ok()?),
            NFTA_EXTHDR_LEN => len = Some(a.be32("NFTA_EXTHDR_LEN").ok()?),
            NFTA_EXTHDR_OP => op = Some(a.be32("NFTA_EXTHDR_OP").ok()?),
            NFTA_EXTHDR_FLAGS => flags = Some(a.be32("NFTA_EXTHDR_FLAGS").ok()?),
            _ => return None,
        }
    }
    if let Some(sreg) = sreg {
        if dreg.is_some() {
            return None;
        }
        return Some(Expr::ExthdrSet(ExthdrWrite {
            op: op?,
            kind: kind?,
            offset: offset?,
            len: len?,
            sreg,
            flags,
        }));
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

pub(super) fn put_set(out: &mut Vec<u8>, w: &ExthdrWrite) {
    attr::put_be32(out, NFTA_EXTHDR_SREG, w.sreg);
    attr::put_u8(out, NFTA_EXTHDR_TYPE, w.kind);
    attr::put_be32(out, NFTA_EXTHDR_OFFSET, w.offset);
    attr::put_be32(out, NFTA_EXTHDR_LEN, w.len);
    if let Some(flags) = w.flags {
        attr::put_be32(out, NFTA_EXTHDR_FLAGS, flags);
    }
    attr::put_be32(out, NFTA_EXTHDR_OP, w.op);
}

/// As libnftnl prints a write: `write tcpopt reg 1 => 2b @ 2 + 2 `.
pub(super) fn fmt_set(f: &mut fmt::Formatter<'_>, w: &ExthdrWrite) -> fmt::Result {
    write!(
        f,
        "write{} reg {} => {}b @ {} + {} ",
        op_name(w.op),
        w.sreg,
        w.len,
        w.kind,
        w.offset
    )
}

/// The op as libnftnl prints it, with its leading space; nothing for an unknown one.
fn op_name(op: u32) -> &'static str {
    match op {
        NFT_EXTHDR_OP_IPV6 => " ipv6",
        NFT_EXTHDR_OP_TCPOPT => " tcpopt",
        NFT_EXTHDR_OP_IPV4 => " ipv4",
        _ => "",
    }
}

/// As libnftnl prints a load: `load ipv6 1b @ 43 + 2 present => reg 1 `.
pub(super) fn fmt(f: &mut fmt::Formatter<'_>, l: &Load) -> fmt::Result {
    let op = op_name(l.op);
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
