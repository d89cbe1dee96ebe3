//! fwnet's kernel side: programs fwnet's tables into nf_tables and reads them back.
//!
//! This is the only library crate that does I/O. It owns the netlink socket, composes the
//! codec's messages into one atomic batch, and maps kernel errors back to the user's input
//! lines. It never touches a table whose name does not start with [`OWNED_PREFIX`].

mod socket;

/// fwnet owns exactly the tables whose names start with this prefix, in every family.
pub const OWNED_PREFIX: &str = "fwnet_";
