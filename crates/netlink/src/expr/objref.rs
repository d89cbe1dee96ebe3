//! `objref` (net/netfilter/nft_objref.c): attaches a named stateful object to the packet,
//! here a ct helper (`ct helper set "ftp-21"`). NFTA_OBJREF_IMM_TYPE be32 (NFT_OBJECT_*), then
//! NFTA_OBJREF_IMM_NAME; nft 1.0.6 sends the name without a terminating NUL, the kernel dumps
//! it with one and before the type.
//!
//! Only the immediate form is modelled; the map form (NFTA_OBJREF_SET_*) decodes to
//! `Expr::Other`, keeping the bytes.

use super::{attrs_of, Expr};
use crate::attr;
use crate::consts::*;
use std::fmt;

pub(super) fn put(out: &mut Vec<u8>, kind: u32, name: &str) {
    attr::put_be32(out, NFTA_OBJREF_IMM_TYPE, kind);
    attr::put(out, NFTA_OBJREF_IMM_NAME, name.as_bytes());
}

pub(super) fn read(data: &[u8]) -> Option<Expr> {
    let (mut kind, mut name) = (None, None);
    for a in attrs_of(data)? {
        match a.kind() {
            NFTA_OBJREF_IMM_TYPE => kind = Some(a.be32("NFTA_OBJREF_IMM_TYPE").ok()?),
            NFTA_OBJREF_IMM_NAME => name = Some(a.str("NFTA_OBJREF_IMM_NAME").ok()?),
            _ => return None,
        }
    }
    Some(Expr::Objref {
        kind: kind?,
        name: name?,
    })
}

/// As libnftnl prints it: `type 3 name ftp-21 `.
pub(super) fn fmt(f: &mut fmt::Formatter<'_>, kind: u32, name: &str) -> fmt::Result {
    write!(f, "type {kind} name {name} ")
}
