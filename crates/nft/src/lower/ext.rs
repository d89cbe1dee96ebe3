//! Bytecode for the expressions and statements of the less common iptables extensions
//! (addrtype's `fib`, owner, mark and connmark, tcpmss ...), kept apart from `lower.rs` so that
//! the core lowering stays short. Same contract: exactly what nft 1.0.6 generates for the text
//! [`crate::print`] writes.
//!
//! This module builds kernel expressions only; it does no I/O.

use crate::ir::*;
use fwnet_netlink::consts::*;
use fwnet_netlink::{Expr as K, ImmData};

/// `fib daddr . iif type => reg`: the address flag, then the interface flag.
pub(super) fn fib(f: Fib, dreg: u32) -> K {
    let addr = match f.addr {
        FibAddr::Saddr => NFTA_FIB_F_SADDR,
        FibAddr::Daddr => NFTA_FIB_F_DADDR,
    };
    let iface = match f.iface {
        None => 0,
        Some(FibIface::Iif) => NFTA_FIB_F_IIF,
        Some(FibIface::Oif) => NFTA_FIB_F_OIF,
    };
    K::Fib {
        flags: addr | iface,
        result: NFT_FIB_RESULT_ADDRTYPE,
        dreg,
    }
}

/// `meta mark set ...` / `ct mark set ...` as nft 1.0.6 linearizes [`crate::print`]'s text:
/// `immediate` of the constant, or a load of the source, then a `bitwise` unless the mask keeps
/// every bit and xor is zero, then the store; all in register 1.
pub(super) fn mark_set(m: &MarkSet, out: &mut Vec<K>) {
    if m.src == m.dest && m.mask == 0 {
        out.push(K::Immediate {
            dreg: NFT_REG_1,
            data: ImmData::Value(m.xor.to_ne_bytes().to_vec()),
        });
    } else {
        out.push(match m.src {
            MarkKey::Meta => K::Meta {
                key: NFT_META_MARK,
                dreg: NFT_REG_1,
            },
            MarkKey::Ct => K::Ct {
                key: NFT_CT_MARK,
                dreg: NFT_REG_1,
                dir: None,
            },
        });
        if (m.mask, m.xor) != (u32::MAX, 0) {
            out.push(K::Bitwise {
                sreg: NFT_REG_1,
                dreg: NFT_REG_1,
                len: 4,
                mask: m.mask.to_ne_bytes().to_vec(),
                xor: m.xor.to_ne_bytes().to_vec(),
                op: Some(NFT_BITWISE_BOOL),
            });
        }
    }
    out.push(match m.dest {
        MarkKey::Meta => K::MetaSet {
            key: NFT_META_MARK,
            sreg: NFT_REG_1,
        },
        MarkKey::Ct => K::CtSet {
            key: NFT_CT_MARK,
            sreg: NFT_REG_1,
            dir: None,
        },
    });
}

/// `cmp lt` / `cmp gt` against `data`, the constant as the field holds it.
pub(super) fn order(op: OrderOp, data: Vec<u8>) -> K {
    K::Cmp {
        sreg: NFT_REG_1,
        op: match op {
            OrderOp::Lt => NFT_CMP_LT,
            OrderOp::Gt => NFT_CMP_GT,
        },
        data,
    }
}

/// `numgen KIND mod N` into register 1, then the test. The value is a host-order word, so an
/// `==` / `!=` compares it as it is, while `<` first turns it into network order (`byteorder
/// hton`) and compares big-endian bytes, as nft 1.0.6 does for every host-order `<`.
pub(super) fn numgen(kind: NumgenKind, modulus: u32, op: NumgenOp, value: u32, out: &mut Vec<K>) {
    out.push(K::Numgen {
        dreg: NFT_REG_1,
        modulus,
        kind: match kind {
            NumgenKind::Inc => NFT_NG_INCREMENTAL,
            NumgenKind::Random => NFT_NG_RANDOM,
        },
        offset: 0,
    });
    let (op, data) = match op {
        NumgenOp::Eq => (NFT_CMP_EQ, value.to_ne_bytes()),
        NumgenOp::Ne => (NFT_CMP_NEQ, value.to_ne_bytes()),
        NumgenOp::Lt => {
            out.push(K::Byteorder {
                sreg: NFT_REG_1,
                dreg: NFT_REG_1,
                op: NFT_BYTEORDER_HTON,
                len: 4,
                size: 4,
            });
            (NFT_CMP_LT, value.to_be_bytes())
        }
    };
    out.push(K::Cmp {
        sreg: NFT_REG_1,
        op,
        data: data.to_vec(),
    });
}

/// `fib saddr [. mark] [. iif] oif present => reg`: nft 1.0.6 sends NFTA_FIB_F_PRESENT for
/// `exists` / `missing`, so the register holds one byte, 1 or 0.
pub(super) fn fib_oif(f: FibOif, dreg: u32) -> K {
    let mut flags = NFTA_FIB_F_SADDR | NFTA_FIB_F_PRESENT;
    if f.mark {
        flags |= NFTA_FIB_F_MARK;
    }
    if f.iif {
        flags |= NFTA_FIB_F_IIF;
    }
    K::Fib {
        flags,
        result: NFT_FIB_RESULT_OIF,
        dreg,
    }
}

/// `meta priority set`: the class as a host-order word, then the store.
pub(super) fn priority_set(p: u32, out: &mut Vec<K>) {
    out.push(K::Immediate {
        dreg: NFT_REG_1,
        data: ImmData::Value(p.to_ne_bytes().to_vec()),
    });
    out.push(K::MetaSet {
        key: NFT_META_PRIORITY,
        sreg: NFT_REG_1,
    });
}

/// `ip ttl set N` and `ip6 hoplimit set N` as nft 1.0.6 writes them. The TTL shares a
/// 16-bit checksum word with the protocol byte, so nft loads both, replaces the TTL and
/// writes both back with NFT_PAYLOAD_CSUM_INET on the header checksum (offset 10); the hop
/// limit has no checksum and is written alone. Other fields write nothing.
pub(super) fn header_set(field: Field, value: u8, out: &mut Vec<K>) {
    match field {
        Field::IpTtl => rewrite_network_word(8, 0x00ff, u16::from(value) << 8, true, out),
        Field::Ip6Hoplimit => {
            out.push(K::Immediate {
                dreg: NFT_REG_1,
                data: ImmData::Value(vec![value]),
            });
            out.push(K::PayloadSet(fwnet_netlink::PayloadWrite {
                base: NFT_PAYLOAD_NETWORK_HEADER,
                offset: 7,
                len: 1,
                sreg: NFT_REG_1,
                csum_type: None,
                csum_offset: None,
                csum_flags: None,
            }));
        }
        _ => {}
    }
}

/// The 16-bit network-header word at `offset`, with the bits of `keep` kept and the others
/// replaced by those of `new` (`(word & keep) ^ new`), written back; with `ipv4_csum` the
/// IPv4 header checksum (offset 10) is fixed. How nft 1.0.6 writes a field narrower than the
/// word (`ip ttl set`, `ip dscp set`, `ip6 dscp set`).
pub(super) fn rewrite_network_word(
    offset: u32,
    keep: u16,
    new: u16,
    ipv4_csum: bool,
    out: &mut Vec<K>,
) {
    let nh = NFT_PAYLOAD_NETWORK_HEADER;
    out.push(K::Payload {
        base: nh,
        offset,
        len: 2,
        dreg: NFT_REG_1,
    });
    out.push(K::Bitwise {
        sreg: NFT_REG_1,
        dreg: NFT_REG_1,
        len: 2,
        mask: keep.to_be_bytes().to_vec(),
        xor: new.to_be_bytes().to_vec(),
        op: Some(NFT_BITWISE_BOOL),
    });
    out.push(K::PayloadSet(fwnet_netlink::PayloadWrite {
        base: nh,
        offset,
        len: 2,
        sreg: NFT_REG_1,
        csum_type: ipv4_csum.then_some(NFT_PAYLOAD_CSUM_INET),
        csum_offset: ipv4_csum.then_some(10),
        csum_flags: None,
    }));
}
