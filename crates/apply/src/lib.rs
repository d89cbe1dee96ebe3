//! fwnet's kernel side: programs fwnet's tables into nf_tables and reads them back.
//!
//! This is the only library crate that does I/O. It owns the netlink socket, composes the
//! codec's messages into one atomic batch, and maps kernel errors back to the user's input
//! lines. It never creates, replaces or deletes a table whose name does not start with
//! [`OWNED_PREFIX`].

pub mod arena;
mod batch;
pub mod coexist;
pub mod diff;
pub mod features;
pub mod lockout;
pub mod names;
pub mod prefault;
mod report;
mod session;
pub mod snapshot;
mod socket;
mod status;
pub mod verify;

pub use features::Features;
pub use report::*;
pub use status::{rule_counters, status};

use fwnet_nft::Ruleset;
use std::fmt;
use std::io;

/// fwnet owns exactly the tables whose names start with this prefix, in every family.
pub const OWNED_PREFIX: &str = "fwnet_";

/// How many times `apply` re-reads the kernel and retries when the ruleset generation changed
/// between reading it and committing (someone else committed in between).
pub(crate) const GENERATION_RETRIES: usize = 3;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Commit the batch.
    Commit,
    /// Send the batch without its END message: the kernel validates everything, then aborts.
    Check,
}

#[derive(Debug)]
pub enum Error {
    /// No CAP_NET_ADMIN in this network namespace.
    NotPermitted,
    /// The kernel has no nf_tables (module missing or disabled).
    NoNfTables,
    /// Somebody else kept committing between our read and our write.
    GenerationChanged,
    /// The kernel refused one or more messages; nothing was committed.
    Rejected(Vec<Rejection>),
    /// The receive buffer overflowed: the batch may or may not have been committed.
    OutcomeUnknown,
    /// A socket call failed.
    Io(&'static str, io::Error),
    /// The kernel answered something the codec could not decode.
    Protocol(String),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::NotPermitted => write!(
                f,
                "changing or reading the firewall needs root (CAP_NET_ADMIN): run fwnet with sudo"
            ),
            Error::NoNfTables => write!(
                f,
                "this kernel has no nf_tables support: load it with `modprobe nf_tables` or use a kernel built with CONFIG_NF_TABLES"
            ),
            Error::GenerationChanged => write!(
                f,
                "another program kept changing the firewall while fwnet applied ({GENERATION_RETRIES} tries); nothing was changed: try again"
            ),
            Error::Rejected(r) => write!(f, "the kernel refused the ruleset ({} error(s))", r.len()),
            Error::OutcomeUnknown => write!(
                f,
                "the kernel's answer overflowed the socket buffer, so whether the ruleset was committed is unknown: check with `fwnet status`"
            ),
            Error::Io(what, e) => write!(f, "netlink {what} failed: {e}"),
            Error::Protocol(m) => write!(f, "unexpected answer from the kernel: {m}"),
        }
    }
}

impl std::error::Error for Error {}

/// Whether this process may read and change nf_tables here (CAP_NET_ADMIN, nf_tables present):
/// one harmless request (GETGEN). Lets callers say so before they do anything else.
pub fn check_access() -> Result<(), Error> {
    session::Session::open()?.generation().map(drop)
}

/// What the running kernel's nf_tables supports, asked of it with a batch that commits nothing.
pub fn kernel_features() -> Result<Features, Error> {
    features::probe(&mut session::Session::open()?)
}

/// Replaces fwnet's tables with `rs` in one transaction (or only validates it, in
/// [`Mode::Check`]). Tables fwnet owns that `rs` no longer has are deleted in the same
/// transaction; every other table is left alone.
pub fn apply(rs: &Ruleset, mode: Mode) -> Result<Applied, Error> {
    let mut s = session::Session::open()?;
    let kernel = features::cached(&mut s)?;
    for _ in 0..GENERATION_RETRIES {
        let generation = s.generation()?;
        let existing = s.owned_tables()?;
        let plan = batch::compose(
            rs,
            generation,
            &existing,
            mode,
            s.next_seq(1 << 20),
            &kernel,
        );
        match s.run_batch(&plan, &kernel)? {
            session::Outcome::Done => return Ok(plan.report(mode, kernel)),
            session::Outcome::GenerationChanged => continue,
        }
    }
    Err(Error::GenerationChanged)
}
