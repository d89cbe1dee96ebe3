//! `tproxy` (net/netfilter/nft_tproxy.c): NFTA_TPROXY_FAMILY be32 (NFPROTO_IPV4, NFPROTO_IPV6,
//! or 0 for a port alone in an inet table), NFTA_TPROXY_REG_ADDR be32 and NFTA_TPROXY_REG_PORT
//! be32, the registers holding the address and the port to look for a listener on, each only
//! when present. nft 1.0.6 always sends the family, and the kernel always dumps it.
//!
//! The socket lookup itself is the kernel's (nf_tproxy_ipv4.c, nf_tproxy_ipv6.c); this module
//! only carries the three values.

use super::{attrs_of, Expr, Reg};
use crate::attr;
use crate::consts::*;
use std::fmt;

pub(super) fn put(out: &mut Vec<u8>, family: u32, addr: Option<Reg>, port: Option<Reg>) {
    attr::put_be32(out, NFTA_TPROXY_FAMILY, family);
    for (ty, reg) in [(NFTA_TPROXY_REG_ADDR, addr), (NFTA_TPROXY_REG_PORT, port)] {
        if let Some(reg) = reg {
            attr::put_be32(out, ty, reg);
        }
    }
}

pub(super) fn read(data: &[u8]) -> Option<Expr> {
    let (mut family, mut addr, mut port) = (0, None, None);
    for a in attrs_of(data)? {
        let v = a.be32("NFTA_TPROXY_*").ok()?;
        match a.kind() {
            NFTA_TPROXY_FAMILY => family = v,
            NFTA_TPROXY_REG_ADDR => addr = Some(v),
            NFTA_TPROXY_REG_PORT => port = Some(v),
            _ => return None,
        }
    }
    Some(Expr::Tproxy { family, addr, port })
}

/// libnftnl's form: `ip addr reg 1 port reg 2 `; no family word for 0.
pub(super) fn fmt(
    f: &mut fmt::Formatter<'_>,
    family: u32,
    addr: Option<Reg>,
    port: Option<Reg>,
) -> fmt::Result {
    match family {
        0 => {}
        2 => write!(f, "ip ")?,
        10 => write!(f, "ip6 ")?,
        _ => write!(f, "unknown ")?,
    }
    if let Some(r) = addr {
        write!(f, "addr reg {r} ")?;
    }
    if let Some(r) = port {
        write!(f, "port reg {r} ")?;
    }
    Ok(())
}
