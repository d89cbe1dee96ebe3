//! The ruleset generation (NFT_MSG_GETGEN request, NFT_MSG_NEWGEN reply): NFTA_GEN_ID be32,
//! NFTA_GEN_PROC_PID be32, NFTA_GEN_PROC_NAME string (net/netfilter/nf_tables_api.c).
//!
//! The id is what NFNL_BATCH_GENID checks; nothing else here.

use crate::attr::{self, Attrs};
use crate::consts::*;
use crate::error::DecodeError;
use crate::msg::Object;

/// A generation reply: the ruleset's generation id and which process last changed it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Gen {
    pub id: u32,
    pub proc_pid: Option<u32>,
    pub proc_name: Option<String>,
    pub other: Vec<(u16, Vec<u8>)>,
}

impl Object for Gen {
    const NEW_MSG: u8 = NFT_MSG_NEWGEN;
    const MSGS: &'static [u8] = &[NFT_MSG_NEWGEN];

    fn family(&self) -> u8 {
        NFPROTO_UNSPEC
    }

    fn put_attrs(&self, out: &mut Vec<u8>) {
        attr::put_be32(out, NFTA_GEN_ID, self.id);
        if let Some(p) = self.proc_pid {
            attr::put_be32(out, NFTA_GEN_PROC_PID, p);
        }
        if let Some(n) = &self.proc_name {
            attr::put_str(out, NFTA_GEN_PROC_NAME, n);
        }
        attr::put_other(out, &self.other);
    }

    fn read_attrs(_family: u8, attrs: &[u8]) -> Result<Self, DecodeError> {
        let mut g = Gen::default();
        let mut id = None;
        for a in Attrs::new(attrs) {
            let a = a?;
            match a.kind() {
                NFTA_GEN_ID => id = Some(a.be32("NFTA_GEN_ID")?),
                NFTA_GEN_PROC_PID => g.proc_pid = Some(a.be32("NFTA_GEN_PROC_PID")?),
                NFTA_GEN_PROC_NAME => g.proc_name = Some(a.str("NFTA_GEN_PROC_NAME")?),
                _ => g.other.push(a.to_owned_pair()),
            }
        }
        g.id = id.ok_or(DecodeError::Missing {
            what: "NFTA_GEN_ID",
        })?;
        Ok(g)
    }
}
