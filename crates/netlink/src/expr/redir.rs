//! `redir` (net/netfilter/nft_redir.c): NFTA_REDIR_REG_PROTO_MIN be32,
//! NFTA_REDIR_REG_PROTO_MAX be32, NFTA_REDIR_FLAGS be32 (NF_NAT_RANGE_*), each only when
//! present, in the order nft 1.0.6 sends them (flags last, unlike `masq`).
//!
//! The registers and the printer are `masq`'s ([`super::masq::PortRegs`]); only the attribute
//! numbers and their order differ.

use super::masq::PortRegs;
use super::{attrs_of, Expr};
use crate::attr;
use crate::consts::*;

pub(super) fn put(out: &mut Vec<u8>, r: &PortRegs) {
    for (ty, v) in [
        (NFTA_REDIR_REG_PROTO_MIN, r.proto_min),
        (NFTA_REDIR_REG_PROTO_MAX, r.proto_max),
        (NFTA_REDIR_FLAGS, r.flags),
    ] {
        if let Some(v) = v {
            attr::put_be32(out, ty, v);
        }
    }
}

pub(super) fn read(data: &[u8]) -> Option<Expr> {
    let mut r = PortRegs::default();
    for a in attrs_of(data)? {
        let v = Some(a.be32("NFTA_REDIR_*").ok()?);
        match a.kind() {
            NFTA_REDIR_REG_PROTO_MIN => r.proto_min = v,
            NFTA_REDIR_REG_PROTO_MAX => r.proto_max = v,
            NFTA_REDIR_FLAGS => r.flags = v,
            _ => return None,
        }
    }
    Some(Expr::Redir(r))
}
