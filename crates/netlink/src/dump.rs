//! Requests that read kernel state: GET* with NLM_F_DUMP (optionally filtered by table) and
//! GETGEN, each one complete message ready to send.
//!
//! Filters are the attributes the kernel's dump callbacks honour: NFTA_RULE_TABLE /
//! NFTA_RULE_CHAIN for rules, NFTA_SET_TABLE for sets, NFTA_OBJ_TABLE for objects, table + set
//! for elements. Chains and tables are filtered by family only (nfgenmsg), as nft 1.0.6 does.

use crate::attr;
use crate::consts::*;
use crate::msg::{nft_type, write_message, NfGenMsg};

fn request(msg: u8, flags: u16, family: u8, seq: u32, attrs: impl FnOnce(&mut Vec<u8>)) -> Vec<u8> {
    let mut out = Vec::new();
    let nfgen = NfGenMsg {
        family,
        version: NFNETLINK_V0,
        res_id: 0,
    };
    write_message(&mut out, nft_type(msg), flags, seq, nfgen, attrs);
    out
}

/// NFT_MSG_GETTABLE dump of one family (NFPROTO_UNSPEC for all).
pub fn get_tables(family: u8, seq: u32) -> Vec<u8> {
    request(NFT_MSG_GETTABLE, NLM_F_DUMP, family, seq, |_| {})
}

/// NFT_MSG_GETCHAIN dump of one family.
pub fn get_chains(family: u8, seq: u32) -> Vec<u8> {
    request(NFT_MSG_GETCHAIN, NLM_F_DUMP, family, seq, |_| {})
}

/// NFT_MSG_GETSET dump, of one table when `table` is given.
pub fn get_sets(family: u8, table: Option<&str>, seq: u32) -> Vec<u8> {
    request(NFT_MSG_GETSET, NLM_F_DUMP, family, seq, |out| {
        if let Some(t) = table {
            attr::put_str(out, NFTA_SET_TABLE, t);
        }
    })
}

/// NFT_MSG_GETSETELEM dump of one set's elements.
pub fn get_set_elems(family: u8, table: &str, set: &str, seq: u32) -> Vec<u8> {
    request(NFT_MSG_GETSETELEM, NLM_F_DUMP, family, seq, |out| {
        // nft 1.0.6 sends the set name first here.
        attr::put_str(out, NFTA_SET_ELEM_LIST_SET, set);
        attr::put_str(out, NFTA_SET_ELEM_LIST_TABLE, table);
    })
}

/// NFT_MSG_GETRULE dump, of one table (and chain) when given.
pub fn get_rules(family: u8, table: Option<&str>, chain: Option<&str>, seq: u32) -> Vec<u8> {
    request(NFT_MSG_GETRULE, NLM_F_DUMP, family, seq, |out| {
        if let Some(t) = table {
            attr::put_str(out, NFTA_RULE_TABLE, t);
        }
        if let Some(c) = chain {
            attr::put_str(out, NFTA_RULE_CHAIN, c);
        }
    })
}

/// NFT_MSG_GETOBJ dump, of one table when `table` is given (all object types).
pub fn get_objs(family: u8, table: Option<&str>, seq: u32) -> Vec<u8> {
    request(NFT_MSG_GETOBJ, NLM_F_DUMP, family, seq, |out| {
        if let Some(t) = table {
            attr::put_str(out, NFTA_OBJ_TABLE, t);
        }
    })
}

/// NFT_MSG_GETGEN (not a dump): the kernel answers one NFT_MSG_NEWGEN.
pub fn get_gen(seq: u32) -> Vec<u8> {
    request(NFT_MSG_GETGEN, 0, NFPROTO_UNSPEC, seq, |_| {})
}
