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

/// A fast hasher for keys that need no protection from chosen collisions: each word is mixed in
/// by a rotate, an xor and a multiply. It hashes addresses (the state encoder's names, keyed by
/// where their text is) and the shapes of rules (`optimize`).
#[derive(Default)]
pub(crate) struct Fold(u64);

impl std::hash::Hasher for Fold {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.write_u64(u64::from(b));
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = (self.0.rotate_left(5) ^ n).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }
    fn write_u8(&mut self, n: u8) {
        self.write_u64(n.into());
    }
    fn write_u32(&mut self, n: u32) {
        self.write_u64(n.into());
    }
    fn write_usize(&mut self, n: usize) {
        self.write_u64(n as u64);
    }
    fn write_isize(&mut self, n: isize) {
        self.write_u64(n as u64);
    }
}

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
