//! fwnet's integration tests: one binary (`cargo test --test integration`), kernel tests included.
//!
//! Kernel tests run as root in network namespaces they create and delete themselves
//! ([`netns`]); nothing touches the host's firewall and no address leaves them. Without root they
//! print `SKIP <test>: ...` and pass, except under `CI`, where they fail.
//!
//! The namespaces, probes and verdict observer are product code (`fwnet_apply::verify`, behind
//! `fwnet verify`); these tests use it.
//!
//! - [`netns`]: the privilege gate, and the namespace plumbing re-exported from the product.
//! - [`observe`]: the verdict observer against the real kernel.
//! - [`verdicts`]: the founding ruleset, legacy iptables against fwnet, through the verifier.
//! - [`verify`]: the `fwnet verify` command: exit codes, output, interruption, time figures.
//! - [`helper`]: conntrack helper objects make an FTP data connection RELATED.
//! - [`ipset`]: `-j SET` on a hash:net ipset of addresses against legacy iptables with ipset.
//! - [`connlimit`]: `-m connlimit` (conntrack zones, untracked packets) against xt_connlimit, the
//!   `--allow-approximate` fixtures against nft, and verify's pause for nf_conncount.
//! - [`legacy_counters`]: the legacy side's counters read from the kernel's ip_tables blobs are
//!   those `iptables-legacy-save -c` prints.
//! - [`ctexpire`]: `-m conntrack --ctexpire` as `ct expiration` ranges, against xt_conntrack.
//! - [`ctzone`]: `-j CT --zone`, `--zone-orig`, `--zone-reply`: the zones of the connections
//!   the kernel then holds, against xt_CT.
//! - [`synproxy`]: `-j SYNPROXY` lets a connection through its SYN cookie and the same flag
//!   combinations on, as legacy does.
//! - [`tproxy`]: `-j TPROXY` diverts a connection to a transparent listener and drops what has
//!   none, as legacy does.
//! - [`inet`]: `import --inet` and `verify --inet`: one inet table per iptables table.
//! - [`recent_rttl`]: `-m recent --rttl` left out after a `--set`, against xt_recent, with
//!   changing TTLs.
//! - [`time`]: `-m time` windows put exactly on the packets' second, legacy against fwnet.
//!
//! This binary does not test parsing or translation text; the crates do that with fixtures.

mod apply;
mod connlimit;
mod ctexpire;
mod ctzone;
mod fragments;
mod hashlimit;
mod helper;
mod inet;
mod ipset;
mod legacy_counters;
mod lockout;
mod names;
mod netns;
mod observe;
mod optimize;
mod owner;
mod raw;
mod recent;
mod recent_hitcount;
mod recent_rttl;
mod safety;
mod synproxy;
mod time;
mod tproxy;
mod u32;
mod verdicts;
mod verify;
