//! `-m connlimit`: refused, with the reason and the nearest alternative.
//!
//! nft's counterpart is a `ct count` per key in a dynamic set (`add @s { ip saddr & MASK ct
//! count over N }`): nft_connlimit.c and xt_connlimit.c count connections with the same
//! nf_conncount code and the same tuple (the conntrack entry's original tuple, or the packet's),
//! and both drop the packet when memory runs out. They differ where fwnet cannot look at
//! translation time (kernel 6.18 sources):
//! - xt_connlimit's key includes the connection's conntrack zone, so connections in different
//!   zones are counted apart; an nft set element counts every zone together (and keying on `ct
//!   zone` breaks the rule for untracked packets, which xt_connlimit counts in zone 0);
//! - xt_connlimit's tree has no size limit, while a dynamic set stops adding elements when it is
//!   full (nft_dynset.c, `nft_dynset_new`), and the rule then does not match: under a flood of
//!   new source addresses the limit would silently stop applying. Elements whose connections
//!   are gone only leave at the set's next garbage collection, so no size fwnet could pick is
//!   provably enough.
//!
//! This module translates nothing.

use crate::rule::Cx;
use fwnet_iptables::diag::Loc;
use fwnet_iptables::Opt;
use fwnet_nft::Stmt;

pub(crate) const OPTIONS: &[&[&str]] = &[
    &["--connlimit-upto"],
    &["--connlimit-above"],
    &["--connlimit-mask"],
    &["--connlimit-saddr"],
    &["--connlimit-daddr"],
];

pub(crate) fn translate(_opts: &[&Opt], loc: &Loc, cx: &mut Cx) -> Vec<Stmt> {
    cx.error(
        "translate/inexact",
        loc,
        "`-m connlimit` has no exact nft translation: a dynamic set of `ct count` elements stops counting new addresses when it is full, and counts conntrack zones together",
        "write it in nft yourself as `add @set { ip saddr ct count over N }` on a set with a `size` well above net.netfilter.nf_conntrack_max, which behaves the same while the set never fills and no conntrack zones are in use",
    );
    Vec::new()
}
