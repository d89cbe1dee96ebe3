//! Tables (NFT_MSG_NEWTABLE / GETTABLE / DELTABLE / DESTROYTABLE): NFTA_TABLE_NAME string,
//! NFTA_TABLE_HANDLE be64, NFTA_TABLE_FLAGS be32 (NFT_TABLE_F_*), NFTA_TABLE_USE be32,
//! NFTA_TABLE_USERDATA bytes, NFTA_TABLE_OWNER be32 (net/netfilter/nf_tables_api.c).
//!
//! `use_count` and `owner` are kernel-reported and only decoded, never sent.

use crate::attr::{self, Attrs};
use crate::consts::*;
use crate::error::DecodeError;
use crate::msg::Object;

/// An nf_tables table.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Table {
    /// NFPROTO_* family (nfgenmsg).
    pub family: u8,
    pub name: String,
    /// NFT_TABLE_F_*; nft sends `Some(0)` on creation.
    pub flags: Option<u32>,
    pub handle: Option<u64>,
    /// NFTA_TABLE_USE: number of chains (kernel-reported).
    pub use_count: Option<u32>,
    pub userdata: Option<Vec<u8>>,
    /// NFTA_TABLE_OWNER: netlink port id of an owning socket (kernel-reported).
    pub owner: Option<u32>,
    /// Attributes this codec does not know: `(raw type, payload)`, re-sent unchanged.
    pub other: Vec<(u16, Vec<u8>)>,
}

impl Object for Table {
    const NEW_MSG: u8 = NFT_MSG_NEWTABLE;
    const MSGS: &'static [u8] = &[
        NFT_MSG_NEWTABLE,
        NFT_MSG_GETTABLE,
        NFT_MSG_DELTABLE,
        NFT_MSG_DESTROYTABLE,
    ];

    fn family(&self) -> u8 {
        self.family
    }

    fn put_attrs(&self, out: &mut Vec<u8>) {
        attr::put_str(out, NFTA_TABLE_NAME, &self.name);
        if let Some(h) = self.handle {
            attr::put_be64(out, NFTA_TABLE_HANDLE, h);
        }
        if let Some(f) = self.flags {
            attr::put_be32(out, NFTA_TABLE_FLAGS, f);
        }
        if let Some(u) = &self.userdata {
            attr::put(out, NFTA_TABLE_USERDATA, u);
        }
        attr::put_other(out, &self.other);
    }

    fn read_attrs(family: u8, attrs: &[u8]) -> Result<Self, DecodeError> {
        let mut t = Table {
            family,
            ..Table::default()
        };
        let mut name = None;
        for a in Attrs::new(attrs) {
            let a = a?;
            match a.kind() {
                NFTA_TABLE_NAME => name = Some(a.str("NFTA_TABLE_NAME")?),
                NFTA_TABLE_FLAGS => t.flags = Some(a.be32("NFTA_TABLE_FLAGS")?),
                NFTA_TABLE_USE => t.use_count = Some(a.be32("NFTA_TABLE_USE")?),
                NFTA_TABLE_HANDLE => t.handle = Some(a.be64("NFTA_TABLE_HANDLE")?),
                NFTA_TABLE_USERDATA => t.userdata = Some(a.payload.to_vec()),
                NFTA_TABLE_OWNER => t.owner = Some(a.be32("NFTA_TABLE_OWNER")?),
                _ => t.other.push(a.to_owned_pair()),
            }
        }
        t.name = name.ok_or(DecodeError::Missing {
            what: "NFTA_TABLE_NAME",
        })?;
        Ok(t)
    }
}
