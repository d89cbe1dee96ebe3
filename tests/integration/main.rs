//! fwnet's integration tests: one binary (`cargo test --test integration`), kernel tests included.
//!
//! Kernel tests run as root in network namespaces they create and delete themselves
//! ([`netns`]); nothing touches the host's firewall or leaves 10.77.0.0/24. Without root they
//! print `SKIP <test>: ...` and pass, except under `CI`, where they fail.
//!
//! - [`netns`]: private namespaces, the client/server veth [`netns::Pair`], the host guard.
//! - [`probe`]: crafted IPv4 packets and real TCP connections, played in order on a pair.
//! - [`observe`]: the verdict, seen in the server namespace after its INPUT hook.
//! - [`verdicts`]: the founding ruleset, legacy iptables against the translation under test.
//!
//! This binary does not test parsing or translation text; the crates do that with fixtures.

mod apply;
mod netns;
mod observe;
mod probe;
mod verdicts;
