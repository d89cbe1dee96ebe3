//! `nat` (net/netfilter/nft_nat.c): NFTA_NAT_TYPE be32 (NFT_NAT_SNAT / NFT_NAT_DNAT),
//! NFTA_NAT_FAMILY be32 (NFPROTO_*), then the source registers NFTA_NAT_REG_ADDR_MIN,
//! NFTA_NAT_REG_ADDR_MAX, NFTA_NAT_REG_PROTO_MIN, NFTA_NAT_REG_PROTO_MAX (be32 each) and
//! NFTA_NAT_FLAGS be32 (NF_NAT_RANGE_*), each only when present, in the order nft 1.0.6 sends
//! them.
//!
//! nft sends a `max` register only for a real range and leaves NF_NAT_RANGE_MAP_IPS to the
//! kernel, which adds it (and always dumps both registers of a pair); this module keeps what
//! it is given and does not normalise either form into the other.

use super::{attrs_of, Expr, Reg};
use crate::attr;
use crate::consts::*;
use std::fmt;

/// The registers and flags of a `nat` expression, each `None` when the attribute is absent.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct NatRegs {
    pub addr_min: Option<Reg>,
    pub addr_max: Option<Reg>,
    pub proto_min: Option<Reg>,
    pub proto_max: Option<Reg>,
    pub flags: Option<u32>,
}

pub(super) fn put(out: &mut Vec<u8>, kind: u32, family: u32, r: &NatRegs) {
    attr::put_be32(out, NFTA_NAT_TYPE, kind);
    attr::put_be32(out, NFTA_NAT_FAMILY, family);
    for (ty, v) in [
        (NFTA_NAT_REG_ADDR_MIN, r.addr_min),
        (NFTA_NAT_REG_ADDR_MAX, r.addr_max),
        (NFTA_NAT_REG_PROTO_MIN, r.proto_min),
        (NFTA_NAT_REG_PROTO_MAX, r.proto_max),
        (NFTA_NAT_FLAGS, r.flags),
    ] {
        if let Some(v) = v {
            attr::put_be32(out, ty, v);
        }
    }
}

pub(super) fn read(data: &[u8]) -> Option<Expr> {
    let (mut kind, mut family, mut regs) = (None, None, NatRegs::default());
    for a in attrs_of(data)? {
        let v = Some(a.be32("NFTA_NAT_*").ok()?);
        match a.kind() {
            NFTA_NAT_TYPE => kind = v,
            NFTA_NAT_FAMILY => family = v,
            NFTA_NAT_REG_ADDR_MIN => regs.addr_min = v,
            NFTA_NAT_REG_ADDR_MAX => regs.addr_max = v,
            NFTA_NAT_REG_PROTO_MIN => regs.proto_min = v,
            NFTA_NAT_REG_PROTO_MAX => regs.proto_max = v,
            NFTA_NAT_FLAGS => regs.flags = v,
            _ => return None,
        }
    }
    Some(Expr::Nat {
        kind: kind?,
        family: family?,
        regs,
    })
}

/// libnftnl's form: `snat ip addr_min reg 1 addr_max reg 1 proto_min reg 2 ... flags 0x3 `.
pub(super) fn fmt(f: &mut fmt::Formatter<'_>, kind: u32, family: u32, r: &NatRegs) -> fmt::Result {
    let kind = match kind {
        NFT_NAT_SNAT => "snat",
        NFT_NAT_DNAT => "dnat",
        _ => "unknown",
    };
    let family = match u8::try_from(family) {
        Ok(NFPROTO_IPV4) => "ip",
        Ok(NFPROTO_IPV6) => "ip6",
        Ok(NFPROTO_INET) => "inet",
        _ => "unknown",
    };
    write!(f, "{kind} {family} ")?;
    for (name, v) in [
        ("addr_min", r.addr_min),
        ("addr_max", r.addr_max),
        ("proto_min", r.proto_min),
        ("proto_max", r.proto_max),
    ] {
        if let Some(v) = v {
            write!(f, "{name} reg {v} ")?;
        }
    }
    if let Some(flags) = r.flags {
        write!(f, "flags 0x{flags:x} ")?;
    }
    Ok(())
}
