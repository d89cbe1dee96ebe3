//! `masq` (net/netfilter/nft_masq.c): NFTA_MASQ_FLAGS be32 (NF_NAT_RANGE_*),
//! NFTA_MASQ_REG_PROTO_MIN be32, NFTA_MASQ_REG_PROTO_MAX be32, each only when present, in the
//! order nft 1.0.6 sends them (flags first).
//!
//! nft sends the `max` register only for a port range; the kernel dumps both. Nothing here
//! fills in one form from the other.

use super::{attrs_of, Expr, Reg};
use crate::attr;
use crate::consts::*;
use std::fmt;

/// Port registers and flags shared by `masq` and `redir`, each `None` when absent.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PortRegs {
    pub proto_min: Option<Reg>,
    pub proto_max: Option<Reg>,
    pub flags: Option<u32>,
}

pub(super) fn put(out: &mut Vec<u8>, r: &PortRegs) {
    for (ty, v) in [
        (NFTA_MASQ_FLAGS, r.flags),
        (NFTA_MASQ_REG_PROTO_MIN, r.proto_min),
        (NFTA_MASQ_REG_PROTO_MAX, r.proto_max),
    ] {
        if let Some(v) = v {
            attr::put_be32(out, ty, v);
        }
    }
}

pub(super) fn read(data: &[u8]) -> Option<Expr> {
    let mut r = PortRegs::default();
    for a in attrs_of(data)? {
        let v = Some(a.be32("NFTA_MASQ_*").ok()?);
        match a.kind() {
            NFTA_MASQ_FLAGS => r.flags = v,
            NFTA_MASQ_REG_PROTO_MIN => r.proto_min = v,
            NFTA_MASQ_REG_PROTO_MAX => r.proto_max = v,
            _ => return None,
        }
    }
    Some(Expr::Masq(r))
}

/// libnftnl's form, shared with `redir`: `proto_min reg 1 proto_max reg 2 flags 0x6 `.
pub(super) fn fmt(f: &mut fmt::Formatter<'_>, r: &PortRegs) -> fmt::Result {
    if let Some(v) = r.proto_min {
        write!(f, "proto_min reg {v} ")?;
    }
    if let Some(v) = r.proto_max {
        write!(f, "proto_max reg {v} ")?;
    }
    if let Some(flags) = r.flags {
        write!(f, "flags 0x{flags:x} ")?;
    }
    Ok(())
}
