//! `-m connlimit`: refused by default; with `allow_approximate`, nft's `ct count`.
//!
//! nft's counterpart is `ct count [over] N`, alone for `--connlimit-mask 0` and otherwise per
//! key in a dynamic set (`add @connlimit { ip saddr & MASK ct count over N }`). nft_connlimit.c
//! and xt_connlimit.c count connections with the same nf_conncount code and the same tuple (the
//! conntrack entry's original tuple, or the packet's), both keep one count per rule, both add
//! the connection before comparing (`--connlimit-above N` is `count > N`, nft's `over`;
//! `--connlimit-upto N` is `count <= N`, nft without `over`), and both drop the packet when
//! memory runs out. They differ where fwnet cannot look at translation time (kernel 6.18
//! sources):
//! - xt_connlimit's key includes the connection's conntrack zone, so connections in different
//!   zones are counted apart; nft counts every zone together (and keying on `ct zone` breaks
//!   the rule for untracked packets, which xt_connlimit counts in zone 0). This holds for mask
//!   0 too, where xt_connlimit keeps one count per zone and nft one count;
//! - xt_connlimit's tree has no size limit, while a dynamic set stops adding elements when it is
//!   full (nft_dynset.c, `nft_dynset_new`), and the rule then does not match a packet whose key
//!   is not in it yet: `--connlimit-above` stops limiting new addresses, `--connlimit-upto`
//!   stops passing them.
//!
//! So by default the match is refused. With `allow_approximate` it becomes `ct count`, with a
//! `translate/approximate` warning and the rule's comment saying so. Each rule gets its own set
//! (`connlimit`, `connlimit_2`, ...), as each xt_connlimit rule has its own tree: a set element
//! keeps the expression (and limit) of the rule that created it, so two rules cannot share one.
//! The set's size is [`SET_SIZE`], the largest the kernel takes (u32, checked on 6.18): the set
//! then fills only after billions of addresses, where memory runs out first in both kernels,
//! which is as close as nft gets to xt_connlimit's unbounded tree. Elements whose connections
//! are all gone stay in the set until its garbage collection; their count is 0, so they change
//! no verdict.
//!
//! iptables' own refusals (no limit, both `--connlimit-saddr` and `--connlimit-daddr`, a mask
//! longer than the address) are errors either way.

use crate::chain::TableCx;
use crate::rule::Cx;
use crate::IpFamily;
use fwnet_iptables::diag::Loc;
use fwnet_iptables::Opt;
use fwnet_nft::{CtCount, CtCountKey, DataType, Field, Set, SetFlags, Stmt};
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
    let full = match cx.family {
        IpFamily::V4 => 32,
        IpFamily::V6 => 128,
    };
    let per_key = l.mask != 0;
    let zones = "xt_connlimit counts connections in different conntrack zones apart, nft counts them together";
    if !cx.allow_approximate {
        cx.error(
            "translate/inexact",
            loc,
            format!("`-m connlimit` has no exact nft translation: {zones}, and nft keeps the addresses it counts in a set of limited size"),
            format!("`--allow-approximate` writes `ct count` (per address: `add @set {{ ip saddr ct count over N }}` on a set of {SET_SIZE} addresses), which limits the same connections while no conntrack zones are in use (`-j CT --zone`)"),
        );
        return Vec::new();
    }
    let over = if l.above { "over " } else { "" };
    let (form, why, help) = if per_key {
        let after = if l.above {
            "they are no longer limited"
        } else {
            "they no longer pass"
        };
        (
            format!("`add @set {{ ADDRESS ct count {over}{} }}`", l.limit),
            format!("{zones}; and the set holds at most {SET_SIZE} addresses, after which the rule no longer matches packets from addresses not in it yet ({after}), where xt_connlimit's tree has no limit"),
            "the rule's comment says so; while no conntrack zones are in use (`-j CT --zone`) and the set is not full it limits the same connections",
        )
    } else {
        (
            format!("`ct count {over}{}`", l.limit),
            zones.to_string(),
            "the rule's comment says so; while no conntrack zones are in use (`-j CT --zone`) it limits the same connections",
        )
    };
    cx.warn(
        "translate/approximate",
        loc,
        format!("approximation: `-m connlimit` becomes nft {form}, which differs: {why}"),
        help,
    );
    cx.approximate = Some("connlimit as ct count".to_string());
    let per_key = per_key.then(|| {
        let (key, ty) = match (cx.family, l.daddr) {
            (IpFamily::V4, false) => (Field::IpSaddr, DataType::Ipv4Addr),
            (IpFamily::V4, true) => (Field::IpDaddr, DataType::Ipv4Addr),
            (IpFamily::V6, false) => (Field::Ip6Saddr, DataType::Ipv6Addr),
            (IpFamily::V6, true) => (Field::Ip6Daddr, DataType::Ipv6Addr),
        };
        let set = tcx.unused_set_name("connlimit");
        tcx.sets.push(Set {
            name: set.clone(),
            key: vec![ty],
            flags: SetFlags {
                dynamic: true,
                ..SetFlags::default()
            },
            timeout_ms: None,
            size: Some(SET_SIZE),
            elements: Vec::new(),
        });
        CtCountKey {
            set,
            key,
            mask: (l.mask < full).then(|| mask(cx.family, l.mask)),
        }
    });
    vec![Stmt::CtCount(CtCount {
        limit: l.limit,
        over: l.above,
        per_key,
    })]
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
