//! Stateful objects (NFT_MSG_NEWOBJ / GETOBJ / DELOBJ / DESTROYOBJ): NFTA_OBJ_TABLE string,
//! NFTA_OBJ_NAME string, NFTA_OBJ_TYPE be32 (NFT_OBJECT_*), NFTA_OBJ_DATA nest, NFTA_OBJ_USE
//! be32, NFTA_OBJ_HANDLE be64, NFTA_OBJ_USERDATA bytes (net/netfilter/nf_tables_api.c).
//!
//! The data of a ct helper object (NFT_OBJECT_CT_HELPER, net/netfilter/nft_ct.c) is decoded:
//! NFTA_CT_HELPER_NAME string, NFTA_CT_HELPER_L3PROTO be16 (NFPROTO_*),
//! NFTA_CT_HELPER_L4PROTO u8 (IPPROTO_*). nft 1.0.6 sends the helper name without its NUL
//! and the three attributes in that order; the kernel dumps the name with a NUL and L4PROTO
//! before L3PROTO. Other object types (counter, quota, limit ...) keep their data raw.
//! `use_count` and `handle` are kernel-reported and only decoded, never sent unless set.

use crate::attr::{self, Attrs};
use crate::consts::*;
use crate::error::DecodeError;
use crate::msg::Object;

/// An nf_tables stateful object.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Obj {
    /// NFPROTO_* family (nfgenmsg).
    pub family: u8,
    pub table: String,
    pub name: String,
    /// NFT_OBJECT_*.
    pub kind: u32,
    /// NFTA_OBJ_DATA; `None` in GET and DEL requests.
    pub data: Option<ObjData>,
    pub handle: Option<u64>,
    /// NFTA_OBJ_USE: number of rules referring to it (kernel-reported).
    pub use_count: Option<u32>,
    pub userdata: Option<Vec<u8>>,
    /// Attributes this codec does not know: `(raw type, payload)`, re-sent unchanged.
    pub other: Vec<(u16, Vec<u8>)>,
}

/// What an object holds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ObjData {
    CtHelper(CtHelper),
    /// The NFTA_OBJ_DATA payload of an object type this codec does not model.
    Other(Vec<u8>),
}

/// A conntrack helper object (`ct helper NAME { type "ftp" protocol tcp; l3proto ip; }`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CtHelper {
    /// The kernel helper's name ("ftp", "tftp", "RAS" ...).
    pub name: String,
    /// NFPROTO_IPV4, NFPROTO_IPV6 or NFPROTO_INET.
    pub l3proto: Option<u16>,
    /// IPPROTO_TCP or IPPROTO_UDP.
    pub l4proto: Option<u8>,
    pub other: Vec<(u16, Vec<u8>)>,
}

impl Object for Obj {
    const NEW_MSG: u8 = NFT_MSG_NEWOBJ;
    const MSGS: &'static [u8] = &[
        NFT_MSG_NEWOBJ,
        NFT_MSG_GETOBJ,
        NFT_MSG_DELOBJ,
        NFT_MSG_DESTROYOBJ,
    ];

    fn family(&self) -> u8 {
        self.family
    }

    fn put_attrs(&self, out: &mut Vec<u8>) {
        attr::put_str(out, NFTA_OBJ_TABLE, &self.table);
        attr::put_str(out, NFTA_OBJ_NAME, &self.name);
        attr::put_be32(out, NFTA_OBJ_TYPE, self.kind);
        if let Some(h) = self.handle {
            attr::put_be64(out, NFTA_OBJ_HANDLE, h);
        }
        match &self.data {
            Some(ObjData::CtHelper(h)) => attr::put_nested(out, NFTA_OBJ_DATA, |out| {
                // nft 1.0.6 sends the helper name without a terminating NUL.
                attr::put(out, NFTA_CT_HELPER_NAME, h.name.as_bytes());
                if let Some(l3) = h.l3proto {
                    attr::put_be16(out, NFTA_CT_HELPER_L3PROTO, l3);
                }
                if let Some(l4) = h.l4proto {
                    attr::put_u8(out, NFTA_CT_HELPER_L4PROTO, l4);
                }
                attr::put_other(out, &h.other);
            }),
            Some(ObjData::Other(raw)) => {
                attr::put_nested(out, NFTA_OBJ_DATA, |out| out.extend_from_slice(raw))
            }
            None => {}
        }
        if let Some(u) = &self.userdata {
            attr::put(out, NFTA_OBJ_USERDATA, u);
        }
        attr::put_other(out, &self.other);
    }

    fn read_attrs(family: u8, attrs: &[u8]) -> Result<Self, DecodeError> {
        let mut o = Obj {
            family,
            ..Obj::default()
        };
        let (mut table, mut name, mut kind, mut data) = (None, None, None, None);
        for a in Attrs::new(attrs) {
            let a = a?;
            match a.kind() {
                NFTA_OBJ_TABLE => table = Some(a.str("NFTA_OBJ_TABLE")?),
                NFTA_OBJ_NAME => name = Some(a.str("NFTA_OBJ_NAME")?),
                NFTA_OBJ_TYPE => kind = Some(a.be32("NFTA_OBJ_TYPE")?),
                NFTA_OBJ_DATA => data = Some(a.payload),
                NFTA_OBJ_USE => o.use_count = Some(a.be32("NFTA_OBJ_USE")?),
                NFTA_OBJ_HANDLE => o.handle = Some(a.be64("NFTA_OBJ_HANDLE")?),
                NFTA_OBJ_USERDATA => o.userdata = Some(a.payload.to_vec()),
                _ => o.other.push(a.to_owned_pair()),
            }
        }
        o.table = table.ok_or(DecodeError::Missing {
            what: "NFTA_OBJ_TABLE",
        })?;
        o.name = name.ok_or(DecodeError::Missing {
            what: "NFTA_OBJ_NAME",
        })?;
        o.kind = kind.ok_or(DecodeError::Missing {
            what: "NFTA_OBJ_TYPE",
        })?;
        o.data = match data {
            Some(d) if o.kind == NFT_OBJECT_CT_HELPER => Some(ObjData::CtHelper(ct_helper(d)?)),
            Some(d) => Some(ObjData::Other(d.to_vec())),
            None => None,
        };
        Ok(o)
    }
}

fn ct_helper(data: &[u8]) -> Result<CtHelper, DecodeError> {
    let mut h = CtHelper::default();
    let mut name = None;
    for a in Attrs::new(data) {
        let a = a?;
        match a.kind() {
            NFTA_CT_HELPER_NAME => name = Some(a.str("NFTA_CT_HELPER_NAME")?),
            NFTA_CT_HELPER_L3PROTO => h.l3proto = Some(a.be16("NFTA_CT_HELPER_L3PROTO")?),
            NFTA_CT_HELPER_L4PROTO => h.l4proto = Some(a.u8("NFTA_CT_HELPER_L4PROTO")?),
            _ => h.other.push(a.to_owned_pair()),
        }
    }
    h.name = name.ok_or(DecodeError::Missing {
        what: "NFTA_CT_HELPER_NAME",
    })?;
    Ok(h)
}
