//! `ct count` (connlimit) as nft 1.0.6 linearizes it: alone, `connlimit count N flags F`
//! (NFT_CONNLIMIT_F_INV for `over`); per key, the key's parts loaded into consecutive
//! registers from reg 1 (the zone, then the address masked by a `bitwise` when there is a
//! mask), then `dynset add reg_key 1 set NAME expr [ connlimit ... ]`. Zone 0 for a packet
//! without conntrack is a 16-bit header field ANDed with 0, as nft writes `ip length & 0`.
//!
//! This module does not check that the set exists; a missing one is sent without an id and
//! the kernel refuses the rule.

use super::{key_reg, load, round4, value_bytes, Cx};
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
    // Where the next part of the key goes, in bytes from the start of reg 1.
    let mut offset = 0;
    match k.zone {
        None => {}
        Some(ZoneKey::Conntrack) => {
            offset += round4(load(Expr::Ct(CtKey::Zone), key_reg(offset), out));
        }
        Some(ZoneKey::Default(field)) => {
            let reg = key_reg(offset);
            let len = load(Expr::Payload(field), reg, out);
            out.push(K::Bitwise {
                sreg: reg,
                dreg: reg,
                len,
                mask: vec![0; len as usize],
                xor: vec![0; len as usize],
                op: Some(NFT_BITWISE_BOOL),
            });
            offset += round4(len);
        }
    }
    if let Some(field) = k.key {
        let key = Expr::Payload(field);
        let reg = key_reg(offset);
        let len = load(key, reg, out);
        if let Some(mask) = k.mask {
            out.push(K::Bitwise {
                sreg: reg,
                dreg: reg,
                len,
                mask: value_bytes(key.datatype(), &Value::Addr(mask)),
                xor: vec![0; len as usize],
                op: Some(NFT_BITWISE_BOOL),
            });
        }
    }
    out.push(K::Dynset {
        op: NFT_DYNSET_OP_ADD,
        sreg_key: NFT_REG_1,
        set: k.set.clone(),
        set_id: cx.set_id(&k.set),
        timeout_ms: None,
        exprs: vec![connlimit],
    });
}
