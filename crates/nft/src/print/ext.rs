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

/// `meta mark set ...` / `ct mark set ...`: the constant when the mark is replaced, else the
/// source and the shortest operators that nft 1.0.6 turns into `bitwise (src & mask) ^ xor`
/// (`& M`, `^ X`, `| X` when the mask is the complement of X, else `& M ^ X`); no operator at
/// all when the mask keeps every bit and xor is zero, which nft loads as a plain copy.
pub(super) fn mark_set(m: &MarkSet) -> String {
    let key = |k: MarkKey| match k {
        MarkKey::Meta => "meta mark",
        MarkKey::Ct => "ct mark",
    };
    let dest = key(m.dest);
    if m.src == m.dest && m.mask == 0 {
        return format!("{dest} set {:#x}", m.xor);
    }
    let ops = match (m.mask, m.xor) {
        (u32::MAX, 0) => String::new(),
        (mask, 0) => format!(" & {mask:#x}"),
        (u32::MAX, xor) => format!(" ^ {xor:#x}"),
        (mask, xor) if mask == !xor => format!(" | {xor:#x}"),
        (mask, xor) => format!(" & {mask:#x} ^ {xor:#x}"),
    };
    format!("{dest} set {}{ops}", key(m.src))
}

/// nft's names for PACKET_* types (`pkt_type`); others print as numbers.
pub(super) const PKT_TYPES: &[(u64, &str)] = &[
    (0, "host"),
    (1, "broadcast"),
    (2, "multicast"),
    (3, "other"),
];

/// `numgen inc mod 2 0`, `numgen inc mod 3 != 1`, `numgen random mod 2147483648 < 107374182`.
pub(super) fn numgen(kind: NumgenKind, modulus: u32, op: NumgenOp, value: u32) -> String {
    let kind = match kind {
        NumgenKind::Inc => "inc",
        NumgenKind::Random => "random",
    };
    let op = match op {
        NumgenOp::Eq => "",
        NumgenOp::Ne => "!= ",
        NumgenOp::Lt => "< ",
    };
    format!("numgen {kind} mod {modulus} {op}{value}")
}

/// `fib saddr . mark . iif oif` and its variants (tested with `exists` / `missing`).
pub(super) fn fib_oif(f: FibOif) -> &'static str {
    match (f.mark, f.iif) {
        (false, false) => "fib saddr oif",
        (false, true) => "fib saddr . iif oif",
        (true, false) => "fib saddr . mark oif",
        (true, true) => "fib saddr . mark . iif oif",
    }
}

/// `meta priority set 1:10`: major and minor in hex, as tc writes a class; nft 1.0.6 prints
/// 0 as `none` and 0xffffffff as `root` but reads the hex form of both.
pub(super) fn priority_set(p: u32) -> String {
    format!("meta priority set {:x}:{:x}", p >> 16, p & 0xffff)
}
