//! Bytecode for the expressions and statements of the less common iptables extensions
//! (addrtype's `fib`, owner, mark and connmark, tcpmss ...), kept apart from `lower.rs` so that
//! the core lowering stays short. Same contract: exactly what nft 1.0.6 generates for the text
//! [`crate::print`] writes.
//!
//! This module builds kernel expressions only; it does no I/O.

use crate::ir::*;
use fwnet_netlink::consts::*;
use fwnet_netlink::Expr as K;

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
