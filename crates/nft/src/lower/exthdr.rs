//! Bytecode for `exthdr` loads: IPv6 extension header fields and presence, TCP option
//! presence, exactly as nft 1.0.6 linearizes the text [`crate::print`] writes for them
//! (`rt type 0` is `exthdr load ipv6 1b @ 43 + 2`, `exthdr rt exists` and `tcp option 64
//! exists` load one byte with NFT_EXTHDR_F_PRESENT at offset 0).
//!
//! This module builds kernel expressions only; it does not decide what a packet without the
//! header does (the kernel ends the rule) and does no I/O.

use crate::ir::*;
use fwnet_netlink::consts::*;
use fwnet_netlink::Expr as K;

/// The `exthdr` load of `x` into `dreg`.
pub(super) fn load(x: Exthdr, dreg: u32) -> K {
    let (op, kind, offset, flags) = match x {
        Exthdr::Field(f) => {
            let (hdr, offset) = f.location();
            (NFT_EXTHDR_OP_IPV6, hdr.number(), offset, 0)
        }
        Exthdr::Present(hdr) => (NFT_EXTHDR_OP_IPV6, hdr.number(), 0, NFT_EXTHDR_F_PRESENT),
        Exthdr::TcpOption(kind) => (NFT_EXTHDR_OP_TCPOPT, kind, 0, NFT_EXTHDR_F_PRESENT),
    };
    K::Exthdr {
        op,
        kind,
        offset,
        len: 1,
        flags,
        dreg,
    }
}
