//! Lowering of the `tproxy` statement as nft 1.0.6 linearizes it: an `immediate` load of the
//! address into NFT_REG_1 when there is one, of the port (big-endian) into the next register
//! when there is one, then the `tproxy` expression naming those registers and the family.
//!
//! The family is the chain's (ip or ip6, also in a merged inet table, where the printed text
//! says it); a table of family inet with no chain family sends 0, as nft does for `tproxy to
//! :PORT` there. Nothing here checks the hook or the protocol.

use crate::ir::{Family, Tproxy};
use fwnet_netlink::consts::*;
use fwnet_netlink::{Expr as K, ImmData};
use std::net::IpAddr;

pub(super) fn tproxy(t: &Tproxy, family: Family, out: &mut Vec<K>) {
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
    let addr = t.addr.map(|a| {
        let bytes = match a {
            IpAddr::V4(v4) => v4.octets().to_vec(),
            IpAddr::V6(v6) => v6.octets().to_vec(),
        };
        load(bytes, out)
    });
    let port = t.port.map(|p| load(p.to_be_bytes().to_vec(), out));
    let family = match family {
        Family::Ip => NFPROTO_IPV4,
        Family::Ip6 => NFPROTO_IPV6,
        _ => 0,
    };
    out.push(K::Tproxy {
        family: u32::from(family),
        addr,
        port,
    });
}
