//! `ct count` (connlimit) as nft 1.0.6 linearizes it: alone, `connlimit count N flags F`
//! (NFT_CONNLIMIT_F_INV for `over`); per key, the address loaded into reg 1, masked by a
//! `bitwise` when there is a mask, then `dynset add reg_key 1 set NAME expr [ connlimit ... ]`.
//!
//! This module does not check that the set exists; a missing one is sent without an id and
//! the kernel refuses the rule.

use super::{load, value_bytes, Cx};
use crate::ir::*;
use fwnet_netlink::consts::*;
use fwnet_netlink::Expr as K;

pub(super) fn ct_count(c: &CtCount, out: &mut Vec<K>, cx: &Cx) {
    let connlimit = K::Connlimit {
        count: c.limit,
        flags: if c.over { NFT_CONNLIMIT_F_INV } else { 0 },
    };
    let Some(k) = &c.per_key else {
        out.push(connlimit);
        return;
    };
    let key = Expr::Payload(k.key);
    let len = load(key, NFT_REG_1, out);
    if let Some(mask) = k.mask {
        out.push(K::Bitwise {
            sreg: NFT_REG_1,
            dreg: NFT_REG_1,
            len,
            mask: value_bytes(key.datatype(), &Value::Addr(mask)),
            xor: vec![0; len as usize],
            op: Some(NFT_BITWISE_BOOL),
        });
    }
    out.push(K::Dynset {
        op: NFT_DYNSET_OP_ADD,
        sreg_key: NFT_REG_1,
        set: k.set.clone(),
        set_id: cx.sets.iter().find(|s| s.name == k.set).map(|s| s.id),
        timeout_ms: None,
        exprs: vec![connlimit],
    });
}
