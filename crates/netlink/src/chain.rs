//! Chains (NFT_MSG_NEWCHAIN / GETCHAIN / DELCHAIN): NFTA_CHAIN_TABLE, NFTA_CHAIN_HANDLE be64,
//! NFTA_CHAIN_NAME, NFTA_CHAIN_TYPE string, NFTA_CHAIN_POLICY be32 (NF_DROP/NF_ACCEPT),
//! NFTA_CHAIN_HOOK { NFTA_HOOK_HOOKNUM be32, NFTA_HOOK_PRIORITY be32 signed, NFTA_HOOK_DEV },
//! NFTA_CHAIN_COUNTERS { NFTA_COUNTER_BYTES, NFTA_COUNTER_PACKETS }, NFTA_CHAIN_FLAGS,
//! NFTA_CHAIN_USE, NFTA_CHAIN_ID, NFTA_CHAIN_USERDATA (net/netfilter/nf_tables_api.c).
//!
//! Netdev multi-device hooks (NFTA_HOOK_DEVS) are kept raw in `Hook::other`.

use crate::attr::{self, Attrs};
use crate::consts::*;
use crate::error::DecodeError;
use crate::msg::Object;

/// An nf_tables chain; a base chain when `hook` is set.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Chain {
    pub family: u8,
    pub table: String,
    pub name: String,
    pub handle: Option<u64>,
    pub hook: Option<Hook>,
    /// NF_DROP (0) or NF_ACCEPT (1), base chains only.
    pub policy: Option<u32>,
    /// "filter", "nat", "route".
    pub chain_type: Option<String>,
    pub counters: Option<Counters>,
    /// NFT_CHAIN_* (the kernel reports NFT_CHAIN_BASE on base chains).
    pub flags: Option<u32>,
    /// NFTA_CHAIN_USE: number of references (kernel-reported).
    pub use_count: Option<u32>,
    /// NFTA_CHAIN_ID: names the chain inside one batch.
    pub id: Option<u32>,
    pub userdata: Option<Vec<u8>>,
    /// Attributes this codec does not know: `(raw type, payload)`, re-sent unchanged.
    pub other: Vec<(u16, Vec<u8>)>,
}

/// NFTA_CHAIN_HOOK.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Hook {
    /// NF_INET_* hook number.
    pub hooknum: u32,
    pub priority: i32,
    /// NFTA_HOOK_DEV, netdev family only.
    pub dev: Option<String>,
    pub other: Vec<(u16, Vec<u8>)>,
}

/// NFTA_CHAIN_COUNTERS of a base chain.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counters {
    pub packets: u64,
    pub bytes: u64,
}

impl Object for Chain {
    const NEW_MSG: u8 = NFT_MSG_NEWCHAIN;
    const MSGS: &'static [u8] = &[
        NFT_MSG_NEWCHAIN,
        NFT_MSG_GETCHAIN,
        NFT_MSG_DELCHAIN,
        NFT_MSG_DESTROYCHAIN,
    ];

    fn family(&self) -> u8 {
        self.family
    }

    fn put_attrs(&self, out: &mut Vec<u8>) {
        attr::put_str(out, NFTA_CHAIN_TABLE, &self.table);
        if let Some(h) = self.handle {
            attr::put_be64(out, NFTA_CHAIN_HANDLE, h);
        }
        if !self.name.is_empty() {
            attr::put_str(out, NFTA_CHAIN_NAME, &self.name);
        }
        if let Some(t) = &self.chain_type {
            attr::put_str(out, NFTA_CHAIN_TYPE, t);
        }
        if let Some(p) = self.policy {
            attr::put_be32(out, NFTA_CHAIN_POLICY, p);
        }
        if let Some(hook) = &self.hook {
            attr::put_nested(out, NFTA_CHAIN_HOOK, |out| {
                attr::put_be32(out, NFTA_HOOK_HOOKNUM, hook.hooknum);
                attr::put_be32(out, NFTA_HOOK_PRIORITY, hook.priority as u32);
                if let Some(dev) = &hook.dev {
                    attr::put_str(out, NFTA_HOOK_DEV, dev);
                }
                attr::put_other(out, &hook.other);
            });
        }
        if let Some(c) = self.counters {
            attr::put_nested(out, NFTA_CHAIN_COUNTERS, |out| {
                attr::put_be64(out, NFTA_COUNTER_BYTES, c.bytes);
                attr::put_be64(out, NFTA_COUNTER_PACKETS, c.packets);
            });
        }
        if let Some(f) = self.flags {
            attr::put_be32(out, NFTA_CHAIN_FLAGS, f);
        }
        if let Some(id) = self.id {
            attr::put_be32(out, NFTA_CHAIN_ID, id);
        }
        if let Some(u) = &self.userdata {
            attr::put(out, NFTA_CHAIN_USERDATA, u);
        }
        attr::put_other(out, &self.other);
    }

    fn read_attrs(family: u8, attrs: &[u8]) -> Result<Self, DecodeError> {
        let mut c = Chain {
            family,
            ..Chain::default()
        };
        let (mut table, mut name) = (None, None);
        for a in Attrs::new(attrs) {
            let a = a?;
            match a.kind() {
                NFTA_CHAIN_TABLE => table = Some(a.str("NFTA_CHAIN_TABLE")?),
                NFTA_CHAIN_NAME => name = Some(a.str("NFTA_CHAIN_NAME")?),
                NFTA_CHAIN_HANDLE => c.handle = Some(a.be64("NFTA_CHAIN_HANDLE")?),
                NFTA_CHAIN_HOOK => c.hook = Some(read_hook(a.payload)?),
                NFTA_CHAIN_POLICY => c.policy = Some(a.be32("NFTA_CHAIN_POLICY")?),
                NFTA_CHAIN_USE => c.use_count = Some(a.be32("NFTA_CHAIN_USE")?),
                NFTA_CHAIN_TYPE => c.chain_type = Some(a.str("NFTA_CHAIN_TYPE")?),
                NFTA_CHAIN_COUNTERS => c.counters = Some(read_counters(a.payload)?),
                NFTA_CHAIN_FLAGS => c.flags = Some(a.be32("NFTA_CHAIN_FLAGS")?),
                NFTA_CHAIN_ID => c.id = Some(a.be32("NFTA_CHAIN_ID")?),
                NFTA_CHAIN_USERDATA => c.userdata = Some(a.payload.to_vec()),
                _ => c.other.push(a.to_owned_pair()),
            }
        }
        c.table = table.ok_or(DecodeError::Missing {
            what: "NFTA_CHAIN_TABLE",
        })?;
        c.name = name.ok_or(DecodeError::Missing {
            what: "NFTA_CHAIN_NAME",
        })?;
        Ok(c)
    }
}

fn read_hook(payload: &[u8]) -> Result<Hook, DecodeError> {
    let mut hook = Hook::default();
    let (mut num, mut prio) = (None, None);
    for a in Attrs::new(payload) {
        let a = a?;
        match a.kind() {
            NFTA_HOOK_HOOKNUM => num = Some(a.be32("NFTA_HOOK_HOOKNUM")?),
            NFTA_HOOK_PRIORITY => prio = Some(a.be32("NFTA_HOOK_PRIORITY")? as i32),
            NFTA_HOOK_DEV => hook.dev = Some(a.str("NFTA_HOOK_DEV")?),
            _ => hook.other.push(a.to_owned_pair()),
        }
    }
    hook.hooknum = num.ok_or(DecodeError::Missing {
        what: "NFTA_HOOK_HOOKNUM",
    })?;
    hook.priority = prio.ok_or(DecodeError::Missing {
        what: "NFTA_HOOK_PRIORITY",
    })?;
    Ok(hook)
}

fn read_counters(payload: &[u8]) -> Result<Counters, DecodeError> {
    let mut c = Counters::default();
    for a in Attrs::new(payload) {
        let a = a?;
        match a.kind() {
            NFTA_COUNTER_BYTES => c.bytes = a.be64("NFTA_COUNTER_BYTES")?,
            NFTA_COUNTER_PACKETS => c.packets = a.be64("NFTA_COUNTER_PACKETS")?,
            _ => {}
        }
    }
    Ok(c)
}
