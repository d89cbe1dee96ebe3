//! The DiffServ field's bits (`ip dscp`, `ip6 dscp`, `ip ecn`, `ip6 ecn`) as nft 1.0.6 loads,
//! compares and writes them: the bytes holding the bits are loaded and masked with a bitwise,
//! and a constant is shifted into place before the compare. The raw TOS byte (`@nh,8,8`) is a
//! whole byte and needs none of this.
//!
//! `ip dscp set N` / `ip6 dscp set N` load the two bytes that hold the bits, clear them, xor
//! the new value in and write both back; for IPv4 the write fixes the header checksum
//! (NFT_PAYLOAD_CSUM_INET at offset 10), IPv6 has none. This module does not handle sets or
//! ranges of these fields (nothing produces them).

use super::K;
use crate::ir::Field;
use fwnet_netlink::consts::*;

/// The mask over the loaded bytes that keeps the field's bits, for a field narrower than its
/// bytes; `None` for every other field.
pub(super) fn mask(f: Field) -> Option<Vec<u8>> {
    Some(match f {
        Field::IpDscp => vec![0xfc],
        Field::IpEcn => vec![0x03],
        // Byte 1 of the IPv6 header: the traffic class's low nibble, then the flow label's top.
        Field::Ip6Ecn => vec![0x30],
        // Version (4 bits), traffic class (8), flow label: DSCP is bits 4-9.
        Field::Ip6Dscp => vec![0x0f, 0xc0],
        _ => return None,
    })
}

/// The compare data for `field == n`: `n` shifted to where the field's bits are.
pub(super) fn value(f: Field, n: u64) -> Option<Vec<u8>> {
    // Values are at most 6 bits (the translator checks); the casts keep the low byte(s).
    Some(match f {
        Field::IpDscp => vec![(n << 2) as u8],
        Field::IpEcn => vec![n as u8],
        Field::Ip6Ecn => vec![(n << 4) as u8],
        Field::Ip6Dscp => ((n << 6) as u16).to_be_bytes().to_vec(),
        _ => return None,
    })
}

/// The bitwise after the load of a masked field.
pub(super) fn and(mask: Vec<u8>, reg: u32) -> K {
    let len = mask.len();
    K::Bitwise {
        sreg: reg,
        dreg: reg,
        len: len as u32,
        mask,
        xor: vec![0; len],
        op: Some(NFT_BITWISE_BOOL),
    }
}

/// `ip dscp set N` (`field` IpDscp) or `ip6 dscp set N` (Ip6Dscp); other fields write nothing.
pub(super) fn set(field: Field, value: u8, out: &mut Vec<K>) {
    match field {
        // Version/IHL kept, then the TOS byte's ECN bits.
        Field::IpDscp => {
            super::ext::rewrite_network_word(0, 0xff03, u16::from(value) << 2, true, out)
        }
        Field::Ip6Dscp => {
            super::ext::rewrite_network_word(0, 0xf03f, u16::from(value) << 6, false, out)
        }
        _ => {}
    }
}
