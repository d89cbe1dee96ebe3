//! `fwnet verify`: prove, packet by packet, that fwnet's translation gives every probe the same
//! verdict as the legacy iptables kernel gives the original file: on INPUT, and for packets the
//! server routes (FORWARD) or sends (OUTPUT).
//!
//! Scratch network namespaces ([`netns`]) hold two sites, each a client and a server joined by
//! veth links: the legacy server loads the original with `iptables-legacy-restore` (the oracle;
//! calling it is inherent to verification and happens only inside those namespaces), fwnet's
//! server gets the translation through [`crate::apply`]. Probes derived from the ruleset
//! ([`probes`], pure) are crafted ([`packet`]) and sent from the clients; the verdict is observed
//! in each server namespace after its INPUT hook ([`observe`]); [`run`] plays them on both sides
//! in parallel and names, for each probe, the rules whose counters moved (the legacy side's read
//! from the kernel's ip_tables blobs, [`legacy`]); [`report`] is the result.
//!
//! IPv4 and IPv6 files are verified alike, each family with its legacy tool
//! (`ip6tables-legacy-restore`) and its own probes. A probe not observed on one side is a
//! harness failure, never a verdict: the whole run starts again from fresh namespaces
//! ([`run::RETRIES`]) and then gives up with [`Error::NotObserved`]. With
//! [`Options::slow_max`] (`--slow`) expiry probes wait for per-key buckets to expire.
//!
//! Test hook: [`run::Mutation`] (CLI: the undocumented `FWNET_VERIFY_MUTATE` environment
//! variable, values `global-limit`, `burst5`, `no-ct-new`, `no-iif-lo`, `no-expiry`,
//! `empty-sets`, `no-family-dispatch`, `last-first`, `nat-port`, `no-established`, `mark-xor`,
//! `header-xor`, `ct-xor`, `track-all`) deliberately breaks fwnet's side so tests
//! can prove verification catches it. It is not in `--help`.
//!
//! Probes are also derived from the nat tables' rules, and the mapping a packet that gets
//! through was given (its new destination or source) is compared like the verdict.
//!
//! Packet marks and the TOS bytes and TTLs the mangle table sets are compared the same way,
//! and so are the conntrack entries of the probes' connections (whether there is one, and what
//! NOTRACK, CT and CONNMARK rules wrote into it).
//!
//! Not verified: the raw and mangle tables' other effects (probes do cross them), the mapping of a nat
//! rule whose every probe the filter drops (listed by line), ESTABLISHED and RELATED packets
//! on FORWARD and OUTPUT, `--seconds` (xt_recent) expiries without `--slow`.

pub mod legacy;
pub mod netns;
pub mod observe;
pub mod packet;
pub mod probes;
pub mod report;
pub mod run;

pub use probes::{derive, parse_file, Probe, ProbeFileError, Spec};
pub use report::{ProbeResult, Report, RuleHit, Side, Unreached, Verdict};
pub use run::{mutate, verify, Error, Mutation, Options, Original, GIVEN_UP_WHY, UNFILTERED_WHY};
