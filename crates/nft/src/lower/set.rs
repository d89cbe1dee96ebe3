//! Named-set lookups and the `add`/`delete` set statements as nft 1.0.6 linearizes them: the key
//! loaded into reg 1 (a concatenation fills 32-bit registers 9, 10, ... after the first, each
//! part 4-byte aligned), then `lookup reg 1 set NAME` (flag 1 for `!=`) or `dynset add|delete
//! reg_key 1 set NAME`. The named set is referred to by name and by its batch id.
//! Also the initial elements of a named set ([`named_elements`]).
//!
//! This module does not check that the set exists; a missing one is sent without an id and the
//! kernel refuses the rule.

use super::{interval_elements, key_reg, load, round4, type_len, value_bytes, Cx, ElemCode};
use crate::ir::*;
use fwnet_netlink::consts::*;
use fwnet_netlink::Expr as K;
use std::net::IpAddr;

/// Loads a (possibly concatenated) key starting at reg 1.
pub(super) fn load_key(key: &[Expr], out: &mut Vec<K>) {
    load_masked_key(key, &[], out);
}

/// [`load_key`], with each part whose mask is given ANDed with it in its register
/// (`ip saddr & 255.255.255.0 . tcp dport`), as nft linearizes it.
pub(super) fn load_masked_key(key: &[Expr], masks: &[Option<IpAddr>], out: &mut Vec<K>) {
    let mut offset = 0;
    for (i, e) in key.iter().enumerate() {
        let reg = key_reg(offset);
        let len = load(*e, reg, out);
        if let Some(Some(mask)) = masks.get(i) {
            out.push(K::Bitwise {
                sreg: reg,
                dreg: reg,
                len,
                mask: value_bytes(e.datatype(), &Value::Addr(*mask)),
                xor: vec![0; len as usize],
                op: Some(NFT_BITWISE_BOOL),
            });
        }
        offset += round4(len);
    }
}

/// `key @set` / `key != @set`.
pub(super) fn lookup(key: &[Expr], set: &str, op: CmpOp, out: &mut Vec<K>, cx: &Cx) {
    load_key(key, out);
    out.push(K::Lookup {
        sreg: NFT_REG_1,
        set: set.to_string(),
        set_id: cx.set_id(set),
        dreg: None,
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
        set_id: cx.set_id(set),
        timeout_ms: None,
        exprs: Vec::new(),
    });
}

/// A named set's initial elements: single values as they are; for an interval set, each
/// element as its own `[start, end+1)` pair, sorted, with a leading end marker at zero when
/// the first does not start there. Unlike an anonymous set, nft 1.0.6 does not merge adjacent
/// intervals of a named set (it sends an end and a start at the same key); overlapping ones
/// are the translator's to avoid, as the kernel refuses them.
pub(super) fn named_elements(s: &Set) -> Vec<ElemCode> {
    let Some(&t) = s.key.first() else {
        return Vec::new();
    };
    if !s.flags.interval {
        return s
            .elements
            .iter()
            .map(|v| ElemCode {
                key: value_bytes(t, v),
                flags: 0,
                verdict: None,
            })
            .collect();
    }
    let mut spans: Vec<Vec<ElemCode>> = s
        .elements
        .iter()
        .map(|v| {
            let mut e = interval_elements(t, std::slice::from_ref(v));
            e.retain(|c| {
                !(c.flags & NFT_SET_ELEM_INTERVAL_END != 0 && c.key.iter().all(|b| *b == 0))
            });
            e
        })
        .filter(|e| !e.is_empty())
        .collect();
    spans.sort_by(|a, b| a[0].key.cmp(&b[0].key));
    spans.dedup();
    let mut out = Vec::new();
    if spans
        .first()
        .is_some_and(|e| e[0].key.iter().any(|b| *b != 0))
    {
        out.push(ElemCode {
            key: vec![0; type_len(t) as usize],
            flags: NFT_SET_ELEM_INTERVAL_END,
            verdict: None,
        });
    }
    out.extend(spans.into_iter().flatten());
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::IpAddr;

    fn set(interval: bool, elements: &[&str]) -> Set {
        let value = |s: &str| match s.split_once('/') {
            Some((a, l)) => Value::Prefix {
                addr: a.parse::<IpAddr>().unwrap(),
                len: l.parse().unwrap(),
            },
            None => Value::Addr(s.parse().unwrap()),
        };
        Set {
            name: "s".into(),
            key: vec![DataType::Ipv4Addr],
            flags: SetFlags {
                interval,
                ..SetFlags::default()
            },
            timeout_ms: None,
            size: None,
            elements: elements.iter().map(|s| value(s)).collect(),
            typeof_key: Vec::new(),
        }
    }

    fn render(e: &[ElemCode]) -> String {
        let parts: Vec<String> = e
            .iter()
            .map(|c| {
                let end = if c.flags & NFT_SET_ELEM_INTERVAL_END != 0 {
                    " end"
                } else {
                    ""
                };
                format!(
                    "{}{end}",
                    std::net::Ipv4Addr::new(c.key[0], c.key[1], c.key[2], c.key[3])
                )
            })
            .collect();
        parts.join(", ")
    }

    #[test]
    fn named_interval_sets_keep_adjacent_intervals_apart() {
        // As nft 1.0.6 sends `elements = { 10.0.0.128/25, 10.0.0.0/25, 192.0.2.1 }` of a
        // named `flags interval` set: sorted, an end and a start at the same key.
        for (interval, elements, want) in [
            (
                true,
                &["10.0.0.128/25", "10.0.0.0/25", "192.0.2.1"][..],
                "0.0.0.0 end, 10.0.0.0, 10.0.0.128 end, 10.0.0.128, 10.0.1.0 end, 192.0.2.1, 192.0.2.2 end",
            ),
            (true, &["0.0.0.0/8", "255.255.255.255"][..], "0.0.0.0, 1.0.0.0 end, 255.255.255.255"),
            (false, &["192.0.2.2", "192.0.2.1"][..], "192.0.2.2, 192.0.2.1"),
        ] {
            assert_eq!(render(&named_elements(&set(interval, elements))), want, "{elements:?}");
        }
    }
}
