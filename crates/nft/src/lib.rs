//! fwnet's nftables-shaped intermediate representation (IR).
//!
//! The IR is what `fwnet import` stores and what `fwnet apply` programs. It speaks nftables
//! vocabulary only (tables, base chains, sets, statements, `ip saddr`, `ct state`), never
//! iptables vocabulary. It has four consumers, each a module here:
//! - [`mod@print`]: nft syntax that `nft -f` loads unchanged (`fwnet show`);
//! - [`lower`]: kernel bytecode (`fwnet_netlink::Expr`) exactly as `nft` would generate it for the
//!   printed text, so `nft` can serve as the oracle in tests;
//! - serde: the versioned state file, in [`packed`]'s binary encoding (or JSON);
//! - [`eval`]: the verdict the IR gives one described packet (the SSH lockout guard).
//!
//! It does no I/O ([`packed::write`] writes to any `std::io::Write` its caller gives it).

mod compact;
pub mod dispatch;
pub mod eval;
pub mod fast_path;
pub mod inet;
pub mod ir;
pub mod lower;
pub mod optimize;
pub mod packed;
pub mod print;
pub mod protocols;
pub mod shared_sets;

pub use ir::*;

/// `name`, or `name_2`, `name_3` ... if `names` already has it; the result joins `names`. The
/// passes that add chains or rename objects ([`dispatch`], [`inet`], the translator's fragment
/// guards) all name them this way.
pub fn fresh_name(names: &mut Vec<String>, name: &str) -> String {
    let mut candidate = name.to_string();
    let mut n = 2;
    while names.contains(&candidate) {
        candidate = format!("{name}_{n}");
        n += 1;
    }
    names.push(candidate.clone());
    candidate
}
