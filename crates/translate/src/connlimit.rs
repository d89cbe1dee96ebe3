//! `-m connlimit`: nft's `ct count`, per key in a dynamic set, keyed as xt_connlimit keys its
//! tree.
//!
//! nft_connlimit.c and xt_connlimit.c count connections with the same nf_conncount code and the
//! same tuple (the conntrack entry's original tuple, or the packet's when it has none), both
//! keep one count per key and rule, both add the connection before comparing
//! (`--connlimit-above N` is `count > N`, nft's `over`; `--connlimit-upto N` is `count <= N`,
//! nft without `over`), and both drop the packet when memory runs out. xt_connlimit's key is
//! the masked address and the connection's conntrack zone id (kernel 6.18 sources), zone 0
//! (the default zone) for a packet without a conntrack entry; with `--connlimit-mask 0` the
//! key is the zone alone. So fwnet keys the set the same way:
//!
//! - the zone comes first: `ct zone . ip saddr & MASK` (or `ct zone` alone for mask 0);
//! - `ct zone` has no value for a packet without a conntrack entry (untracked, or invalid),
//!   and ends the rule there, where xt_connlimit counts the packet in zone 0. Such packets get
//!   a rule of their own before it, `ct state invalid,untracked` with the zone written as a
//!   constant 0 (`ip length & 0`, as nft cannot write a constant inside a concatenation), in
//!   the same set: their count shares a list with zone 0's connections, as in the kernel. The
//!   iptables rule becomes these two rules ([`crate::rule::Either`]): a packet meets the count
//!   in one of them only (the first needs no conntrack entry, the second one), so each packet
//!   is counted once and the target runs at most once. Another stateful match in the same rule
//!   (`limit`, `hashlimit`, `recent`) is refused, as it would be spent twice.
//!
//! The set is `typeof ct zone . ip saddr` (nft has no type name for a zone), one per rule
//! (`connlimit`, `connlimit_2`, ...), as each xt_connlimit rule has its own tree: a set
//! element keeps the expression (and limit) of the rule that created it. Its size is
//! [`SET_SIZE`], the largest the kernel takes (u32, checked on 6.18): xt_connlimit's tree has
//! no limit, and a full dynamic set would stop the rule matching new keys, but the set fills
//! only after billions of keys, where memory runs out first in both kernels. Elements whose
//! connections are all gone stay until the set's garbage collection; their count is 0, so
//! they change no verdict.
//!
//! iptables' own refusals (no limit, both `--connlimit-saddr` and `--connlimit-daddr`, a mask
//! longer than the address) are errors.

use crate::chain::TableCx;
use crate::rule::{Cx, Either};
use crate::IpFamily;
use fwnet_iptables::diag::Loc;
use fwnet_iptables::Opt;
use fwnet_nft::{
    ct_state, CmpOp, CtCount, CtCountKey, CtKey, DataType, Expr, Field, Match, Set, SetFlags, Stmt,
    ZoneKey,
};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

pub(crate) const OPTIONS: &[&[&str]] = &[
    &["--connlimit-upto"],
    &["--connlimit-above"],
    &["--connlimit-mask"],
    &["--connlimit-saddr"],
    &["--connlimit-daddr"],
];

/// The size of a per-key set: the largest the kernel accepts (`NFTA_SET_DESC_SIZE` is a u32).
const SET_SIZE: u32 = u32::MAX;

/// What one rule's options say.
struct Limit {
    limit: u32,
    above: bool,
    /// Prefix length of the key.
    mask: u8,
    daddr: bool,
}

pub(crate) fn translate(opts: &[&Opt], loc: &Loc, cx: &mut Cx, tcx: &mut TableCx) -> Vec<Stmt> {
    let Some(l) = read(opts, loc, cx) else {
        return Vec::new();
    };
    let (full, zero_zone) = match cx.family {
        IpFamily::V4 => (32, Field::IpLength),
        IpFamily::V6 => (128, Field::Ip6Length),
    };
    let address = (l.mask != 0).then_some(match (cx.family, l.daddr) {
        (IpFamily::V4, false) => (Field::IpSaddr, DataType::Ipv4Addr),
        (IpFamily::V4, true) => (Field::IpDaddr, DataType::Ipv4Addr),
        (IpFamily::V6, false) => (Field::Ip6Saddr, DataType::Ipv6Addr),
        (IpFamily::V6, true) => (Field::Ip6Daddr, DataType::Ipv6Addr),
    });
    let set = tcx.unused_set_name("connlimit");
    let zone = Expr::Ct(CtKey::Zone);
    tcx.sets.push(Set {
        name: set.clone(),
        key: std::iter::once(DataType::CtZone)
            .chain(address.map(|(_, ty)| ty))
            .collect(),
        flags: SetFlags {
            dynamic: true,
            ..SetFlags::default()
        },
        timeout_ms: None,
        size: Some(SET_SIZE),
        elements: Vec::new(),
        typeof_key: std::iter::once(zone)
            .chain(address.map(|(f, _)| Expr::Payload(f)))
            .collect(),
    });
    let count = |zone: ZoneKey| {
        Stmt::CtCount(Box::new(CtCount {
            limit: l.limit,
            over: l.above,
            per_key: Some(CtCountKey {
                set: set.clone(),
                zone: Some(zone),
                key: address.map(|(f, _)| f),
                mask: (l.mask != 0 && l.mask < full).then(|| mask(cx.family, l.mask)),
            }),
        }))
    };
    let without_conntrack = vec![
        Stmt::Match(Match::Flags {
            left: Expr::Ct(CtKey::State),
            bits: ct_state::INVALID | ct_state::UNTRACKED,
            op: CmpOp::Eq,
        }),
        count(ZoneKey::Default(zero_zone)),
    ];
    cx.either = Some(Either {
        loc: loc.clone(),
        what: "`-m connlimit`".to_string(),
        alternatives: [without_conntrack, vec![count(ZoneKey::Conntrack)]],
        at: 0,
    });
    Vec::new()
}

/// Reads one rule's options; `None` after an error.
fn read(opts: &[&Opt], loc: &Loc, cx: &mut Cx) -> Option<Limit> {
    let full: u8 = match cx.family {
        IpFamily::V4 => 32,
        IpFamily::V6 => 128,
    };
    let (mut limit, mut mask, mut saddr, mut daddr) = (None, full, false, false);
    let errors_before = cx.diags.iter().filter(|d| d.is_error()).count();
    for opt in opts {
        match opt.name.as_str() {
            "--connlimit-upto" | "--connlimit-above" => {
                let Some(arg) = cx.one_arg(opt) else { continue };
                let Ok(n) = arg.parse::<u32>() else {
                    cx.bad_value(opt, arg, "the limit is a number of connections");
                    continue;
                };
                if limit.is_some() {
                    cx.bad_value(
                        opt,
                        arg,
                        "give one of --connlimit-upto and --connlimit-above",
                    );
                    continue;
                }
                // `! --connlimit-above N` is `--connlimit-upto N`, and the other way round.
                let above = (opt.name == "--connlimit-above") != opt.negated.is_negated();
                limit = Some((n, above));
            }
            "--connlimit-mask" => {
                if !cx.not_negated(opt) {
                    continue;
                }
                let Some(arg) = cx.one_arg(opt) else { continue };
                match arg.parse::<u8>() {
                    Ok(n) if n <= full => mask = n,
                    _ => cx.bad_value(
                        opt,
                        arg,
                        format!("the mask is a prefix length from 0 to {full}"),
                    ),
                }
            }
            _ => {
                if cx.not_negated(opt) && cx.no_arg(opt) {
                    if opt.name == "--connlimit-saddr" {
                        saddr = true;
                    } else {
                        daddr = true;
                    }
                }
            }
        }
    }
    if saddr && daddr {
        cx.error(
            "translate/bad-value",
            loc,
            "`-m connlimit` takes one of `--connlimit-saddr` and `--connlimit-daddr`",
            "iptables refuses both; keep one",
        );
        return None;
    }
    if cx.diags.iter().filter(|d| d.is_error()).count() != errors_before {
        return None;
    }
    let Some((limit, above)) = limit else {
        cx.error(
            "translate/bad-value",
            loc,
            "`-m connlimit` needs `--connlimit-upto` or `--connlimit-above`",
            "iptables refuses the match without a limit; add one",
        );
        return None;
    };
    Some(Limit {
        limit,
        above,
        mask,
        daddr,
    })
}

/// The netmask of prefix length `len` (at most the address's length).
fn mask(family: IpFamily, len: u8) -> IpAddr {
    match family {
        IpFamily::V4 => {
            let bits = u32::MAX.checked_shl(32 - u32::from(len)).unwrap_or(0);
            IpAddr::V4(Ipv4Addr::from(bits))
        }
        IpFamily::V6 => {
            let bits = u128::MAX.checked_shl(128 - u32::from(len)).unwrap_or(0);
            IpAddr::V6(Ipv6Addr::from(bits))
        }
    }
}
