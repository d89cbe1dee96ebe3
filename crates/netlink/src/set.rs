//! Sets (NFT_MSG_NEWSET / GETSET / DELSET): NFTA_SET_TABLE, NFTA_SET_NAME, NFTA_SET_HANDLE be64,
//! NFTA_SET_FLAGS be32 (NFT_SET_*), NFTA_SET_KEY_TYPE, NFTA_SET_KEY_LEN, NFTA_SET_DATA_TYPE,
//! NFTA_SET_DATA_LEN, NFTA_SET_ID, NFTA_SET_POLICY, NFTA_SET_DESC { NFTA_SET_DESC_SIZE,
//! NFTA_SET_DESC_CONCAT { NFTA_LIST_ELEM { NFTA_SET_FIELD_LEN } ... } }, NFTA_SET_TIMEOUT be64
//! ms, NFTA_SET_GC_INTERVAL be32 ms, NFTA_SET_USERDATA (net/netfilter/nf_tables_api.c).
//!
//! The userdata TLVs (key byte order, typeof expressions) are nft's, kept as raw bytes.
//! Set expressions (NFTA_SET_EXPR/EXPRESSIONS) stay in `other`.

use crate::attr::{self, Attrs};
use crate::consts::*;
use crate::error::DecodeError;
use crate::msg::Object;

/// An nf_tables set (or map, with NFT_SET_MAP and `data_type`/`data_len`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Set {
    pub family: u8,
    pub table: String,
    /// For anonymous sets nft sends a template such as `__set%d` and the kernel picks the name.
    pub name: String,
    pub handle: Option<u64>,
    /// NFT_SET_ANONYMOUS | CONSTANT | INTERVAL | MAP | TIMEOUT | EVAL | CONCAT ...
    pub flags: Option<u32>,
    /// nft's datatype id (informational for the kernel; `ipv4_addr` is 7, `inet_service` 13).
    pub key_type: Option<u32>,
    /// Key length in bytes.
    pub key_len: Option<u32>,
    pub data_type: Option<u32>,
    pub data_len: Option<u32>,
    /// NFTA_SET_ID: lets rules in the same batch refer to the set before it has a name.
    pub id: Option<u32>,
    /// NFT_SET_POL_PERFORMANCE / NFT_SET_POL_MEMORY.
    pub policy: Option<u32>,
    pub desc: Option<SetDesc>,
    pub timeout_ms: Option<u64>,
    pub gc_interval_ms: Option<u32>,
    pub userdata: Option<Vec<u8>>,
    /// Attributes this codec does not know: `(raw type, payload)`, re-sent unchanged.
    pub other: Vec<(u16, Vec<u8>)>,
}

/// NFTA_SET_DESC.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SetDesc {
    /// Expected number of elements (`size 65535`).
    pub size: Option<u32>,
    /// Field lengths in bytes of a concatenated key, in order; empty when not concatenated.
    pub concat: Vec<u32>,
    pub other: Vec<(u16, Vec<u8>)>,
}

impl Object for Set {
    const NEW_MSG: u8 = NFT_MSG_NEWSET;
    const MSGS: &'static [u8] = &[
        NFT_MSG_NEWSET,
        NFT_MSG_GETSET,
        NFT_MSG_DELSET,
        NFT_MSG_DESTROYSET,
    ];

    fn family(&self) -> u8 {
        self.family
    }

    fn put_attrs(&self, out: &mut Vec<u8>) {
        attr::put_str(out, NFTA_SET_TABLE, &self.table);
        attr::put_str(out, NFTA_SET_NAME, &self.name);
        let be32s = [
            (NFTA_SET_FLAGS, self.flags),
            (NFTA_SET_KEY_TYPE, self.key_type),
            (NFTA_SET_KEY_LEN, self.key_len),
            (NFTA_SET_DATA_TYPE, self.data_type),
            (NFTA_SET_DATA_LEN, self.data_len),
            (NFTA_SET_ID, self.id),
            (NFTA_SET_POLICY, self.policy),
        ];
        if let Some(h) = self.handle {
            attr::put_be64(out, NFTA_SET_HANDLE, h);
        }
        for (ty, v) in be32s {
            if let Some(v) = v {
                attr::put_be32(out, ty, v);
            }
        }
        if let Some(desc) = &self.desc {
            attr::put_nested(out, NFTA_SET_DESC, |out| {
                if let Some(size) = desc.size {
                    attr::put_be32(out, NFTA_SET_DESC_SIZE, size);
                }
                if !desc.concat.is_empty() {
                    attr::put_nested(out, NFTA_SET_DESC_CONCAT, |out| {
                        for len in &desc.concat {
                            attr::put_nested(out, NFTA_LIST_ELEM, |out| {
                                attr::put_be32(out, NFTA_SET_FIELD_LEN, *len)
                            });
                        }
                    });
                }
                attr::put_other(out, &desc.other);
            });
        }
        if let Some(t) = self.timeout_ms {
            attr::put_be64(out, NFTA_SET_TIMEOUT, t);
        }
        if let Some(g) = self.gc_interval_ms {
            attr::put_be32(out, NFTA_SET_GC_INTERVAL, g);
        }
        if let Some(u) = &self.userdata {
            attr::put(out, NFTA_SET_USERDATA, u);
        }
        attr::put_other(out, &self.other);
    }

    fn read_attrs(family: u8, attrs: &[u8]) -> Result<Self, DecodeError> {
        let mut s = Set {
            family,
            ..Set::default()
        };
        let (mut table, mut name) = (None, None);
        for a in Attrs::new(attrs) {
            let a = a?;
            match a.kind() {
                NFTA_SET_TABLE => table = Some(a.str("NFTA_SET_TABLE")?),
                NFTA_SET_NAME => name = Some(a.str("NFTA_SET_NAME")?),
                NFTA_SET_HANDLE => s.handle = Some(a.be64("NFTA_SET_HANDLE")?),
                NFTA_SET_FLAGS => s.flags = Some(a.be32("NFTA_SET_FLAGS")?),
                NFTA_SET_KEY_TYPE => s.key_type = Some(a.be32("NFTA_SET_KEY_TYPE")?),
                NFTA_SET_KEY_LEN => s.key_len = Some(a.be32("NFTA_SET_KEY_LEN")?),
                NFTA_SET_DATA_TYPE => s.data_type = Some(a.be32("NFTA_SET_DATA_TYPE")?),
                NFTA_SET_DATA_LEN => s.data_len = Some(a.be32("NFTA_SET_DATA_LEN")?),
                NFTA_SET_ID => s.id = Some(a.be32("NFTA_SET_ID")?),
                NFTA_SET_POLICY => s.policy = Some(a.be32("NFTA_SET_POLICY")?),
                NFTA_SET_DESC => s.desc = Some(read_desc(a.payload)?),
                NFTA_SET_TIMEOUT => s.timeout_ms = Some(a.be64("NFTA_SET_TIMEOUT")?),
                NFTA_SET_GC_INTERVAL => s.gc_interval_ms = Some(a.be32("NFTA_SET_GC_INTERVAL")?),
                NFTA_SET_USERDATA => s.userdata = Some(a.payload.to_vec()),
                _ => s.other.push(a.to_owned_pair()),
            }
        }
        s.table = table.ok_or(DecodeError::Missing {
            what: "NFTA_SET_TABLE",
        })?;
        s.name = name.ok_or(DecodeError::Missing {
            what: "NFTA_SET_NAME",
        })?;
        Ok(s)
    }
}

fn read_desc(payload: &[u8]) -> Result<SetDesc, DecodeError> {
    let mut d = SetDesc::default();
    for a in Attrs::new(payload) {
        let a = a?;
        match a.kind() {
            NFTA_SET_DESC_SIZE => d.size = Some(a.be32("NFTA_SET_DESC_SIZE")?),
            NFTA_SET_DESC_CONCAT => {
                for field in a.nested() {
                    for len in field?.nested() {
                        let len = len?;
                        if len.kind() == NFTA_SET_FIELD_LEN {
                            d.concat.push(len.be32("NFTA_SET_FIELD_LEN")?);
                        }
                    }
                }
            }
            _ => d.other.push(a.to_owned_pair()),
        }
    }
    Ok(d)
}
