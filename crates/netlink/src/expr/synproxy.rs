//! `synproxy` (net/netfilter/nft_synproxy.c): NFTA_SYNPROXY_MSS be16, NFTA_SYNPROXY_WSCALE u8,
//! NFTA_SYNPROXY_FLAGS be32 (NF_SYNPROXY_OPT_*: which of the MSS, window scale, SACK-permitted,
//! timestamp and ECN options the SYN/ACK cookie may carry). nft 1.0.6 sends all three, zeros
//! included, and the kernel dumps all three.
//!
//! The handshake itself is the kernel's business (nf_synproxy_core.c); this module only carries
//! the three values. A missing attribute decodes as 0, which is what the kernel assumes.

use super::{attrs_of, Expr};
use crate::attr;
use crate::consts::*;
use std::fmt;

pub(super) fn put(out: &mut Vec<u8>, mss: u16, wscale: u8, flags: u32) {
    attr::put_be16(out, NFTA_SYNPROXY_MSS, mss);
    attr::put_u8(out, NFTA_SYNPROXY_WSCALE, wscale);
    attr::put_be32(out, NFTA_SYNPROXY_FLAGS, flags);
}

pub(super) fn read(data: &[u8]) -> Option<Expr> {
    let (mut mss, mut wscale, mut flags) = (0, 0, 0);
    for a in attrs_of(data)? {
        match a.kind() {
            NFTA_SYNPROXY_MSS => mss = a.be16("NFTA_SYNPROXY_MSS").ok()?,
            NFTA_SYNPROXY_WSCALE => wscale = a.u8("NFTA_SYNPROXY_WSCALE").ok()?,
            NFTA_SYNPROXY_FLAGS => flags = a.be32("NFTA_SYNPROXY_FLAGS").ok()?,
            _ => return None,
        }
    }
    Some(Expr::Synproxy { mss, wscale, flags })
}

/// libnftnl prints the MSS and window scale only, never the flags: `mss 1460 wscale 7 `.
pub(super) fn fmt(f: &mut fmt::Formatter<'_>, mss: u16, wscale: u8) -> fmt::Result {
    write!(f, "mss {mss} wscale {wscale} ")
}
