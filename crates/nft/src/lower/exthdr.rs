//! Bytecode for `exthdr` loads: IPv6 extension header fields and presence, TCP option
//! presence, exactly as nft 1.0.6 linearizes the text [`crate::print`] writes for them
//! (`rt type 0` is `exthdr load ipv6 1b @ 43 + 2`, `exthdr rt exists` and `tcp option 64
//! exists` load one byte with NFT_EXTHDR_F_PRESENT at offset 0). Bit fields (`frag frag-off`,
//! `frag more-fragments`, `frag reserved2`) load their bytes and mask them, as nft does, and
//! compare with the value moved to the field's bit position ([`in_place`]).
//!
//! `tcp option maxseg size` loads the option's 2 value bytes (`exthdr load tcpopt 2b @ 2 + 2`);
//! its write [`maxseg_set`] puts the new value in a register (an `immediate` in network order,
//! or `rt load tcpmss` turned to network order by a `byteorder`) and stores it with
//! `exthdr write tcpopt reg 1 => 2b @ 2 + 2`, as nft 1.0.6 does.
//!
//! This module builds kernel expressions only; it does not decide what a packet without the
//! header does (the kernel ends the rule) and does no I/O.

use crate::ir::*;
use fwnet_netlink::consts::*;
use fwnet_netlink::Expr as K;

/// Loads `x` into `dreg`: the `exthdr` load, then the mask of a bit field.
pub(super) fn load(x: Exthdr, dreg: u32, out: &mut Vec<K>) {
    let (op, kind, offset, len, flags) = match x {
        Exthdr::Field(f) => {
            let (hdr, offset) = f.location();
            (NFT_EXTHDR_OP_IPV6, hdr.number(), offset, field_len(f), 0)
        }
        Exthdr::Present(hdr) => (NFT_EXTHDR_OP_IPV6, hdr.number(), 0, 1, NFT_EXTHDR_F_PRESENT),
        Exthdr::TcpOption(kind) => (NFT_EXTHDR_OP_TCPOPT, kind, 0, 1, NFT_EXTHDR_F_PRESENT),
        Exthdr::MaxsegSize => (NFT_EXTHDR_OP_TCPOPT, TCPOPT_MAXSEG, 2, 2, 0),
    };
    out.push(K::Exthdr {
        op,
        kind,
        offset,
        len,
        flags,
        dreg,
    });
    if let Exthdr::Field(f) = x {
        if let Some((mask, _)) = bits(f) {
            let mask = mask.to_be_bytes()[4 - len as usize..].to_vec();
            out.push(K::Bitwise {
                sreg: dreg,
                dreg,
                len,
                xor: vec![0; mask.len()],
                mask,
                op: Some(NFT_BITWISE_BOOL),
            });
        }
    }
}

/// Bytes loaded for a field.
fn field_len(f: ExthdrField) -> u32 {
    match f {
        ExthdrField::FragId => 4,
        ExthdrField::FragOff => 2,
        _ => 1,
    }
}

/// The mask over the loaded bytes and the shift of a bit field's value.
fn bits(f: ExthdrField) -> Option<(u32, u32)> {
    match f {
        ExthdrField::FragOff => Some((0xfff8, 3)),
        ExthdrField::FragReserved2 => Some((0x06, 1)),
        ExthdrField::FragMoreFragments => Some((0x01, 0)),
        _ => None,
    }
}

/// The constant compared with `left` as the register holds it: a bit field's value moved to
/// its bit position (`frag frag-off 1` compares with 8); any other value unchanged.
pub(super) fn in_place(left: Expr, right: &Value) -> Value {
    match (left, right) {
        (Expr::Exthdr(Exthdr::Field(f)), Value::Num(n)) => match bits(f) {
            Some((_, shift)) => Value::Num(n << shift),
            None => right.clone(),
        },
        _ => right.clone(),
    }
}

/// TCPOPT_MAXSEG, the MSS option's kind (include/net/tcp.h).
const TCPOPT_MAXSEG: u8 = 2;

/// `tcp option maxseg size set N` / `set rt mtu`: the new value into reg 1, then the write.
pub(super) fn maxseg_set(m: Maxseg, out: &mut Vec<K>) {
    match m {
        Maxseg::Size(n) => out.push(K::Immediate {
            dreg: NFT_REG_1,
            data: fwnet_netlink::ImmData::Value(n.to_be_bytes().to_vec()),
        }),
        Maxseg::RtMtu => {
            out.push(K::Rt {
                key: NFT_RT_TCPMSS,
                dreg: NFT_REG_1,
            });
            out.push(K::Byteorder {
                sreg: NFT_REG_1,
                dreg: NFT_REG_1,
                op: NFT_BYTEORDER_HTON,
                len: 2,
                size: 2,
            });
        }
    }
    out.push(K::ExthdrSet(fwnet_netlink::ExthdrWrite {
        op: NFT_EXTHDR_OP_TCPOPT,
        kind: TCPOPT_MAXSEG,
        offset: 2,
        len: 2,
        sreg: NFT_REG_1,
        flags: None,
    }));
}
