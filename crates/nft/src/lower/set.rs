//! Named-set lookups and the `add`/`delete` set statements as nft 1.0.6 linearizes them: the key
//! loaded into reg 1 (a concatenation fills 32-bit registers 9, 10, ... after the first, each
//! part 4-byte aligned), then `lookup reg 1 set NAME` (flag 1 for `!=`) or `dynset add|delete
//! reg_key 1 set NAME`. The named set is referred to by name and by its batch id.
//!
//! This module does not check that the set exists; a missing one is sent without an id and the
//! kernel refuses the rule.

use super::{key_reg, load, round4, Cx};
use crate::ir::*;
use fwnet_netlink::consts::*;
use fwnet_netlink::Expr as K;

/// Loads a (possibly concatenated) key starting at reg 1.
pub(super) fn load_key(key: &[Expr], out: &mut Vec<K>) {
    let mut offset = 0;
    for e in key {
        offset += round4(load(*e, key_reg(offset), out));
    }
}

fn set_id(set: &str, cx: &Cx) -> Option<u32> {
    cx.sets.iter().find(|s| s.name == set).map(|s| s.id)
}

/// `key @set` / `key != @set`.
pub(super) fn lookup(key: &[Expr], set: &str, op: CmpOp, out: &mut Vec<K>, cx: &Cx) {
    load_key(key, out);
    out.push(K::Lookup {
        sreg: NFT_REG_1,
        set: set.to_string(),
        set_id: set_id(set, cx),
        flags: if op == CmpOp::Ne { NFT_LOOKUP_F_INV } else { 0 },
    });
}

/// `add @set { key }` (NFT_DYNSET_OP_ADD) or `delete @set { key }` (NFT_DYNSET_OP_DELETE).
pub(super) fn elem_op(op: u32, set: &str, key: &[Expr], out: &mut Vec<K>, cx: &Cx) {
    load_key(key, out);
    out.push(K::Dynset {
        op,
        sreg_key: NFT_REG_1,
        set: set.to_string(),
        set_id: set_id(set, cx),
        timeout_ms: None,
        exprs: Vec::new(),
    });
}
