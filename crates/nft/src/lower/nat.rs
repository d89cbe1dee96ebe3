//! Lowering of the NAT statements, as nft 1.0.6 linearizes them: `immediate` loads of the
//! addresses (min, then max only for a real range) and then the ports (likewise) into
//! consecutive registers from NFT_REG_1, then one `nat`, `masq` or `redir` expression.
//!
//! Flags are what nft sends: PROTO_SPECIFIED when ports are given, NETMAP for a prefix, and
//! the user's random / fully-random / persistent; never MAP_IPS, which the kernel adds itself
//! when an address register is present. Nothing here checks hooks or protocols.

use crate::ir::*;
use fwnet_netlink::consts::*;
use fwnet_netlink::{Expr as K, ImmData, NatRegs, PortRegs};
use std::net::IpAddr;

pub(super) fn nat(n: &Nat, family: Family, out: &mut Vec<K>) {
    let mut next = NFT_REG_1;
    let mut load = |bytes: Vec<u8>, out: &mut Vec<K>| {
        let reg = next;
        next += 1;
        out.push(K::Immediate {
            dreg: reg,
            data: ImmData::Value(bytes),
        });
        reg
    };
    let mut regs = NatRegs::default();
    let mut flags = 0;
    match n.addr {
        Some(NatAddr::Range(lo, hi)) => {
            regs.addr_min = Some(load(addr_bytes(lo), out));
            if lo != hi {
                regs.addr_max = Some(load(addr_bytes(hi), out));
            }
        }
        Some(NatAddr::Prefix { addr, len }) => {
            let (lo, hi) = prefix_bounds(addr, len);
            regs.addr_min = Some(load(lo, out));
            regs.addr_max = Some(load(hi, out));
            flags |= NF_NAT_RANGE_NETMAP;
        }
        None => {}
    }
    if let Some((lo, hi)) = n.ports {
        regs.proto_min = Some(load(lo.to_be_bytes().to_vec(), out));
        if lo != hi {
            regs.proto_max = Some(load(hi.to_be_bytes().to_vec(), out));
        }
        flags |= NF_NAT_RANGE_PROTO_SPECIFIED;
    }
    if n.flags.random {
        flags |= NF_NAT_RANGE_PROTO_RANDOM;
    }
    if n.flags.fully_random {
        flags |= NF_NAT_RANGE_PROTO_RANDOM_FULLY;
    }
    if n.flags.persistent {
        flags |= NF_NAT_RANGE_PERSISTENT;
    }
    regs.flags = (flags != 0).then_some(flags);
    let ports = PortRegs {
        proto_min: regs.proto_min,
        proto_max: regs.proto_max,
        flags: regs.flags,
    };
    out.push(match n.kind {
        NatKind::Snat | NatKind::Dnat => K::Nat {
            kind: if n.kind == NatKind::Snat {
                NFT_NAT_SNAT
            } else {
                NFT_NAT_DNAT
            },
            family: u32::from(nat_family(family, n.addr)),
            regs,
        },
        NatKind::Masquerade => K::Masq(ports),
        NatKind::Redirect => K::Redir(ports),
    });
}

/// NFTA_NAT_FAMILY: the table's, or in an inet table the address's.
fn nat_family(family: Family, addr: Option<NatAddr>) -> u8 {
    let v6 = match addr {
        Some(NatAddr::Range(a, _) | NatAddr::Prefix { addr: a, .. }) => a.is_ipv6(),
        None => family == Family::Ip6,
    };
    if family == Family::Ip6 || (family == Family::Inet && v6) {
        NFPROTO_IPV6
    } else {
        NFPROTO_IPV4
    }
}

fn addr_bytes(a: IpAddr) -> Vec<u8> {
    match a {
        IpAddr::V4(v4) => v4.octets().to_vec(),
        IpAddr::V6(v6) => v6.octets().to_vec(),
    }
}

/// The first and last address of `addr/len`.
fn prefix_bounds(addr: IpAddr, len: u8) -> (Vec<u8>, Vec<u8>) {
    let lo = addr_bytes(addr);
    let hi = lo
        .iter()
        .enumerate()
        .map(|(i, b)| {
            let bits_before = (i * 8) as u32;
            let keep = u32::from(len).saturating_sub(bits_before).min(8);
            // `keep` is at most 8, so the shift stays in range.
            let host_mask = (0xffu16 >> keep) as u8;
            b | host_mask
        })
        .collect();
    (lo, hi)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefix_bounds_cover_partial_bytes() {
        let a = |s: &str| s.parse::<IpAddr>().expect("literal");
        assert_eq!(
            prefix_bounds(a("10.0.0.0"), 24),
            (vec![10, 0, 0, 0], vec![10, 0, 0, 255])
        );
        assert_eq!(
            prefix_bounds(a("172.16.0.0"), 12),
            (vec![172, 16, 0, 0], vec![172, 31, 255, 255])
        );
        assert_eq!(
            prefix_bounds(a("10.5.0.9"), 32),
            (vec![10, 5, 0, 9], vec![10, 5, 0, 9])
        );
        assert_eq!(prefix_bounds(a("0.0.0.0"), 0).1, vec![255; 4]);
    }
}
