//! Lowering of conntrack helper objects and of `ct helper set`: the object's NFTA_OBJ_DATA
//! values (helper name, NFPROTO_* l3proto, IPPROTO_* l4proto) and the `objref` expression, as
//! nft 1.0.6 sends them for the text [`crate::print`] writes.
//!
//! This module builds no netlink messages (the apply crate does, from [`CtHelperCode`]).

use crate::ir::*;
use fwnet_netlink::consts::*;
use fwnet_netlink::Expr as K;

/// A ct helper object ready to be sent (NFT_OBJECT_CT_HELPER).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CtHelperCode {
    pub name: String,
    /// The kernel helper's name (NFTA_CT_HELPER_NAME).
    pub helper: String,
    /// NFPROTO_* (NFTA_CT_HELPER_L3PROTO).
    pub l3proto: u16,
    /// IPPROTO_TCP or IPPROTO_UDP (NFTA_CT_HELPER_L4PROTO).
    pub l4proto: u8,
}

pub(super) fn object(h: &CtHelper) -> CtHelperCode {
    CtHelperCode {
        name: h.name.clone(),
        helper: h.helper.clone(),
        l3proto: u16::from(super::family_code(h.l3proto)),
        l4proto: match h.protocol {
            HelperProto::Tcp => 6,
            HelperProto::Udp => 17,
        },
    }
}

/// `ct helper set "NAME"`: one `objref` of type NFT_OBJECT_CT_HELPER.
pub(super) fn set(name: &str, out: &mut Vec<K>) {
    out.push(K::Objref {
        kind: NFT_OBJECT_CT_HELPER,
        name: name.to_string(),
    });
}
