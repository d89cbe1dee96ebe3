//! Bytecode for the clock tests of `-m time` ([`TimeMatch`]), exactly as nft 1.0.6 linearizes
//! the text [`crate::print`] writes for them (`meta time >= SECS`, `meta hour "S"-"E"`).
//!
//! nft keeps `meta time` (64 bits) and `meta hour` (32 bits) in host order and turns them into
//! network order (`byteorder hton`) before an ordering compare, which then compares big-endian
//! bytes; `meta time` holds nanoseconds, so a second S is compared as S * 10^9. A range `==`
//! is two compares (gte, lte) on one load, a range `!=` one `range neq`. `meta day` is one byte
//! compared as it is. Sets of weekdays are not lowered here: [`TimeMatch::Day`] with more than
//! one day is written as several rules by nobody yet, so it is refused upstream.
//!
//! This module builds kernel expressions only; it does no I/O.

use crate::ir::*;
use fwnet_netlink::consts::*;
use fwnet_netlink::Expr as K;

/// Nanoseconds in a second: `meta time` counts nanoseconds.
const NS_PER_SEC: u64 = 1_000_000_000;

/// The expressions for `t`, loading into register 1.
pub(super) fn time(t: &TimeMatch, out: &mut Vec<K>) {
    match t {
        TimeMatch::Since(secs) => instant(NFT_CMP_GTE, *secs, out),
        TimeMatch::Before(secs) => instant(NFT_CMP_LT, *secs, out),
        TimeMatch::Hour { op, from, to } => {
            out.push(meta(NFT_META_TIME_HOUR));
            out.push(hton(4));
            let (from, to) = (from.to_be_bytes().to_vec(), to.to_be_bytes().to_vec());
            match op {
                CmpOp::Eq => {
                    out.push(cmp(NFT_CMP_GTE, from));
                    out.push(cmp(NFT_CMP_LTE, to));
                }
                CmpOp::Ne => out.push(K::Range {
                    sreg: NFT_REG_1,
                    op: NFT_RANGE_NEQ,
                    from,
                    to,
                }),
            }
        }
    }
}

/// `meta time OP SECS`: load, to network order, compare the nanoseconds. A value past what
/// 64 bits of nanoseconds hold (year 2554) saturates; translate never makes one.
fn instant(op: u32, secs: u64, out: &mut Vec<K>) {
    out.push(meta(NFT_META_TIME_NS));
    out.push(hton(8));
    let ns = secs.saturating_mul(NS_PER_SEC);
    out.push(cmp(op, ns.to_be_bytes().to_vec()));
}

fn meta(key: u32) -> K {
    K::Meta {
        key,
        dreg: NFT_REG_1,
    }
}

fn hton(size: u32) -> K {
    K::Byteorder {
        sreg: NFT_REG_1,
        dreg: NFT_REG_1,
        op: NFT_BYTEORDER_HTON,
        len: size,
        size,
    }
}

fn cmp(op: u32, data: Vec<u8>) -> K {
    K::Cmp {
        sreg: NFT_REG_1,
        op,
        data,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dump(t: TimeMatch) -> String {
        let mut out = Vec::new();
        time(&t, &mut out);
        out.iter().map(|k| format!("{k}\n")).collect()
    }

    /// Captured from `nft -f` then `nft --debug=netlink list ruleset` (nft 1.0.6, kernel
    /// 6.18): `meta time >= 1704153600 meta time < 1709528768`, `meta hour "28800"-"61230"`,
    /// `meta hour != "21601"-"79199"`.
    #[test]
    fn bytecode_is_what_nft_generates() {
        let got = [
            dump(TimeMatch::Since(1_704_153_600)),
            dump(TimeMatch::Before(1_709_528_768)),
            dump(TimeMatch::Hour {
                op: CmpOp::Eq,
                from: 28800,
                to: 61230,
            }),
            dump(TimeMatch::Hour {
                op: CmpOp::Ne,
                from: 21601,
                to: 79199,
            }),
        ]
        .concat();
        let want = "\
[ meta load time => reg 1 ]
[ byteorder reg 1 = hton(reg 1, 8, 8) ]
[ cmp gte reg 1 0xab5ea617 0x0000b492 ]
[ meta load time => reg 1 ]
[ byteorder reg 1 = hton(reg 1, 8, 8) ]
[ cmp lt reg 1 0x5b77b917 0x0080f365 ]
[ meta load hour => reg 1 ]
[ byteorder reg 1 = hton(reg 1, 4, 4) ]
[ cmp gte reg 1 0x80700000 ]
[ cmp lte reg 1 0x2eef0000 ]
[ meta load hour => reg 1 ]
[ byteorder reg 1 = hton(reg 1, 4, 4) ]
[ range neq reg 1 0x61540000 0x5f350100 ]
";
        assert_eq!(got, want);
    }
}
