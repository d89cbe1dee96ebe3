//! `fwnet verify`: prove, packet by packet, that fwnet's translation gives every probe the same
//! INPUT verdict as the legacy iptables kernel gives the original file.
//!
//! Scratch network namespaces ([`netns`]) hold two sites, each a client and a server joined by
//! veth links: the legacy server loads the original with `iptables-legacy-restore` (the oracle;
//! calling it is inherent to verification and happens only inside those namespaces), fwnet's
//! server gets the translation through [`crate::apply`]. Probes derived from the ruleset
//! ([`probes`], pure) are crafted ([`packet`]) and sent from the clients; the verdict is observed
//! in each server namespace after its INPUT hook ([`observe`]); [`run`] plays them on both sides
//! in parallel and names, for each probe, the rules whose counters moved; [`report`] is the
//! result.
//!
//! Test hook: [`run::Mutation`] (CLI: the undocumented `FWNET_VERIFY_MUTATE` environment
//! variable, values `global-limit`, `burst5`, `no-ct-new`, `no-iif-lo`) deliberately breaks
//! fwnet's side so tests can prove verification catches it. It is not in `--help`.
//!
//! Not verified: FORWARD and OUTPUT, tables other than `filter`, IPv6, expiries (`--slow`).

pub mod netns;
pub mod observe;
pub mod packet;
pub mod probes;
pub mod report;
pub mod run;

pub use probes::{derive, parse_file, Probe, ProbeFileError, Spec};
pub use report::{ProbeResult, Report, RuleHit, Side, Verdict};
pub use run::{mutate, verify, Error, Mutation, Options, Original};
