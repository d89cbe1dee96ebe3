//! nft syntax for the expressions and statements of the less common iptables extensions
//! (addrtype's `fib`, owner, mark and connmark, tcpmss ...), kept apart from `print.rs` so that
//! the core printer stays short. Same contract: the text nft 1.0.6 loads and linearizes to what
//! [`crate::lower`] produces.
//!
//! This module does not validate the IR and never fails.

use crate::ir::*;

/// `fib daddr . iif type` and its variants.
pub(super) fn fib(f: Fib) -> &'static str {
    match (f.addr, f.iface) {
        (FibAddr::Saddr, None) => "fib saddr type",
        (FibAddr::Saddr, Some(FibIface::Iif)) => "fib saddr . iif type",
        (FibAddr::Saddr, Some(FibIface::Oif)) => "fib saddr . oif type",
        (FibAddr::Daddr, None) => "fib daddr type",
        (FibAddr::Daddr, Some(FibIface::Iif)) => "fib daddr . iif type",
        (FibAddr::Daddr, Some(FibIface::Oif)) => "fib daddr . oif type",
    }
}

/// nft's names for RTN_* route types (`fib_addrtype`); 9 and up print as numbers.
pub(super) const FIB_ADDRTYPES: &[(u64, &str)] = &[
    (0, "unspec"),
    (1, "unicast"),
    (2, "local"),
    (3, "broadcast"),
    (4, "anycast"),
    (5, "multicast"),
    (6, "blackhole"),
    (7, "unreachable"),
    (8, "prohibit"),
];
