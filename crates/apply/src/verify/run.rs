//! Orchestration: two sites, the legacy oracle and fwnet, the same probes, verdicts compared.
//!
//! The legacy side loads the user's original files with `iptables-legacy-restore` inside its
//! server namespace. Calling the legacy tools is inherent to verification: the old kernel
//! implementation *is* the oracle. It is the only place product code runs iptables, and it only
//! ever runs inside a scratch namespace. The fwnet side gets the translation through
//! [`crate::apply`], called from a thread that `setns`-ed into its server namespace (the
//! netlink socket belongs to the namespace of the thread that opens it). Both sides are set up
//! and probed in parallel threads: their namespaces are independent.
//!
//! For each probe, each side's per-rule packet counters are read before and after (on the
//! legacy side `iptables-legacy-save -c` the first time, then the kernel's tables through
//! [`super::legacy`]; [`crate::status`] on fwnet's), so a mismatch
//! names the rule that decided it on each side, with the original `file:line`. Legacy rule N of
//! a chain is the IR's rule N of that chain: the translator keeps one IR rule per iptables rule,
//! in kernel order (`-I` included).
//!
//! Each file is loaded by the legacy tool of its family, and each probe's counters are read in
//! its own family's table. A probe one side did not observe reruns the whole verification from
//! fresh namespaces ([`next_step`], at most [`RETRIES`] times) and is otherwise
//! [`Error::NotObserved`]: a harness hiccup is never reported as a mismatch. Expiry probes
//! (`wait_ms`) are played only under `--slow` ([`select_expiries`]); both sides sleep in
//! parallel.
//!
//! Test hook (deliberately not in `--help`): [`Mutation`] breaks fwnet's side on purpose (a
//! global instead of a per-source limit, burst 5, no `ct state new`, no `iif lo`, sets without
//! timeout, NAT ports off by one, no rule for established connections), so tests can check that
//! verification catches it; the CLI reads it from `FWNET_VERIFY_MUTATE`.
//!
//! FORWARD probes make the server a router (`ip_forward`, no redirects); OUTPUT probes are raw
//! packets the server sends itself (refused with EPERM when OUTPUT drops them). Before each of
//! them a host route sends its destination out of the link its rule's `-o` names, to a
//! neighbour whose MAC nobody has, and the verdict is whether the packet left the server.
//! An ESTABLISHED or RELATED probe no real exchange can make (`written_flows`) has its
//! connection written into the server's conntrack table over ctnetlink just before it is sent
//! and removed after (`write_flows`), on both sides alike; a kernel that refuses that gets
//! those probes named as not verified.
//!
//! NAT: a packet that gets through is also compared as it came out ([`rewrite`]): the
//! destination a `dnat`/`redirect` gave it, the source a `snat`/`masquerade` gave it (a source
//! port only as changed or not, since SNAT may pick one at random). The observer recognises a
//! rewritten packet by its identifier, protocol and one unchanged address (or, over tcp, its
//! unchanged sequence number, when DNAT and SNAT both apply); with a `dnat` in the
//! ruleset the server forwards, so a probe mapped to an address it does not own is seen leaving.
//! A packet the filter drops shows no mapping: the probes of the nat rules no probe showed are
//! played again once the filter tables are emptied on both sides (legacy: empty chains with
//! ACCEPT policies; fwnet: applied again without them), and the nat rules still unseen after
//! that are listed as not verified ([`Report::nat_unseen`]).
//!
//! Packet marks: the observer's sockets are told each packet's mark (`SO_RCVMARK`, Linux 5.19),
//! so the mark a packet that got through carries (`-j MARK`, `meta mark set`) is compared like
//! its mapping; a kernel without the option gets the mangle tables listed as not verified.
//! The TOS byte and TTL (IPv6: traffic class, hop limit) it got through with are compared the
//! same way, each where the ruleset changed it (`Changed`): the probe is sent with TOS 0, and
//! the kernel alone takes one from the TTL of a packet it routes.
//!
//! Conntrack entries: each probe's connection is looked up over ctnetlink after it
//! (`CtWatch::tracked`, in the zones `conntrack_zones` names) and whether it has an entry,
//! and the entry's mark, zone and helper, are compared the same way.
//!
//! Not verified: mangle's other effects (tc classes), raw's other than the entries.

use super::legacy;
use super::netns::{self, Link, Site, SiteSpec};
use super::observe::{Flow, Header, Observer, PacketKey, Seen, ARRIVAL, GRACE};
use super::packet::{
    LinkSender, OneCpu, Packet, RawSender, ACK, ICMPV6_DEST_UNREACHABLE, ICMPV6_ECHO_REQUEST,
    ICMP_DEST_UNREACHABLE, ICMP_ECHO_REQUEST, L4,
};
use super::probes::{self, Path, Probe, Spec};
use super::report::{ProbeResult, Report, RuleHit, Side, Timings, Tracked, Unreached, Verdict};
use fwnet_netlink::conntrack::{self, Flow as CtFlow};
use fwnet_nft::{CmpOp, Family, Limit, Ruleset, Stmt, Table};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::io::{Read, Write};
use std::net::{IpAddr, Ipv6Addr, TcpListener, TcpStream, UdpSocket};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

const PAYLOAD: &[u8] = b"fwnet verify payload\n";
const IPPROTO_UDP: u8 = 17;
const TCP_LOOSE: &str = "net/netfilter/nf_conntrack_tcp_loose";

/// A deliberate break of fwnet's side, for tests of verification itself.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mutation {
    /// Per-source limits (`update @set { ip saddr limit ... }`) become one global limit.
    GlobalLimit,
    /// Every limit's burst becomes 5.
    Burst5,
    /// `ct state new` disappears from every rule that has exactly that.
    NoCtNew,
    /// Rules matching `iifname "lo"` disappear.
    NoIifLo,
    /// Sets lose their timeout: per-key buckets never expire.
    NoExpiry,
    /// Sets with fixed elements (ipsets, compiled runs of rules) lose them.
    EmptySets,
    /// With `--inet`, base chains lose the `meta nfproto` rule the merge put first, so each
    /// family's packets also meet the other family's rules (and its policy).
    NoFamilyDispatch,
    /// The last rule of each base chain moves to its top, past every other: an optimizer that
    /// moved a rule too far. Unlike the others this one is the translation verification is
    /// given (its probes come from it), as an optimizer's output would be.
    LastFirst,
    /// Every NAT statement's port range moves up by one (`dnat to 10.0.0.1:80` maps to port 81).
    NatPort,
    /// Rules that test `ct state` for established connections (`established,related`)
    /// disappear.
    NoEstablished,
    /// Every packet mark a rule sets has its lowest bit flipped (`meta mark set 0x10` sets
    /// 0x11).
    MarkXor,
    /// Every TTL, hop limit and DSCP a rule sets has its lowest bit flipped (`ip ttl set 65`
    /// sets 64, `ip dscp set 46` sets 47).
    HeaderXor,
    /// Every connection mark and conntrack zone a rule sets has its lowest bit flipped (`ct
    /// mark set 0x2` sets 0x3, `ct zone set 1` sets 0), and `notrack` statements disappear.
    CtXor,
    /// Every table's first base chain starts with a rule that only reads the conntrack state
    /// (`ct state untracked`, no verdict): conntrack tracks every packet, as it would where the
    /// legacy rules did not need it.
    TrackAll,
    /// The fragment guards go: every IPv4 `ip frag-off & 0x1fff == 0` test (the guard before
    /// transport tests, and `! -f`) disappears, and so does every IPv6 rule `frag frag-off != 0
    /// goto|return`, so transport tests read a non-first fragment's payload as nft does.
    Unguarded,
}

impl Mutation {
    pub const ALL: [Mutation; 15] = [
        Mutation::GlobalLimit,
        Mutation::Burst5,
        Mutation::NoCtNew,
        Mutation::NoIifLo,
        Mutation::NoExpiry,
        Mutation::EmptySets,
        Mutation::NoFamilyDispatch,
        Mutation::LastFirst,
        Mutation::NatPort,
        Mutation::NoEstablished,
        Mutation::MarkXor,
        Mutation::HeaderXor,
        Mutation::CtXor,
        Mutation::TrackAll,
        Mutation::Unguarded,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Mutation::GlobalLimit => "global-limit",
            Mutation::Burst5 => "burst5",
            Mutation::NoCtNew => "no-ct-new",
            Mutation::NoIifLo => "no-iif-lo",
            Mutation::NoExpiry => "no-expiry",
            Mutation::EmptySets => "empty-sets",
            Mutation::NoFamilyDispatch => "no-family-dispatch",
            Mutation::LastFirst => "last-first",
            Mutation::NatPort => "nat-port",
            Mutation::NoEstablished => "no-established",
            Mutation::MarkXor => "mark-xor",
            Mutation::HeaderXor => "header-xor",
            Mutation::CtXor => "ct-xor",
            Mutation::TrackAll => "track-all",
            Mutation::Unguarded => "unguard-fragments",
        }
    }

    pub fn parse(s: &str) -> Option<Mutation> {
        Mutation::ALL.into_iter().find(|m| m.name() == s)
    }
}

/// Applies `m` to every table of `rs`; returns how many rules it changed or removed.
pub fn mutate(rs: &mut Ruleset, m: Mutation) -> usize {
    use fwnet_nft::{ct_state, CtKey, Expr, Match, MetaKey, Value};
    let mut changed = 0;
    for t in &mut rs.tables {
        if m == Mutation::NoFamilyDispatch {
            for c in t.chains.iter_mut().filter(|c| c.base.is_some()) {
                let Some(family) = c.family else { continue };
                if c.rules.first() == Some(&fwnet_nft::inet::other_family_accept(family)) {
                    c.rules.remove(0);
                    changed += 1;
                }
            }
            continue;
        }
        if m == Mutation::TrackAll {
            if let Some(c) = t.chains.iter_mut().find(|c| c.base.is_some()) {
                let reads = Stmt::Match(Match::Flags {
                    left: Expr::Ct(CtKey::State),
                    bits: ct_state::UNTRACKED,
                    op: CmpOp::Eq,
                });
                c.rules.insert(
                    0,
                    fwnet_nft::Rule {
                        stmts: vec![reads],
                        ..fwnet_nft::Rule::default()
                    },
                );
                changed += 1;
            }
            continue;
        }
        if m == Mutation::LastFirst {
            for c in t.chains.iter_mut().filter(|c| c.base.is_some()) {
                if let Some(last) = c.rules.pop() {
                    c.rules.insert(0, last);
                    changed += usize::from(c.rules.len() > 1);
                }
            }
            continue;
        }
        if m == Mutation::NoExpiry {
            for set in t.sets.iter_mut().filter(|s| s.timeout_ms.is_some()) {
                set.timeout_ms = None;
                set.flags.timeout = false;
                changed += 1;
            }
            continue;
        }
        if m == Mutation::EmptySets {
            for set in t.sets.iter_mut().filter(|s| !s.flags.dynamic) {
                changed += usize::from(!set.elements.is_empty());
                set.elements.clear();
            }
            continue;
        }
        for c in &mut t.chains {
            let before = c.rules.len();
            if m == Mutation::NoIifLo {
                c.rules.retain(|r| {
                    !r.stmts.iter().any(|s| {
                        matches!(s, Stmt::Match(Match::Cmp { left: Expr::Meta(MetaKey::Iifname), op: CmpOp::Eq, right: Value::Iface { name, wildcard: false } }) if &**name == "lo")
                    })
                });
                changed += before - c.rules.len();
                continue;
            }
            if m == Mutation::Unguarded {
                c.rules.retain(|r| {
                    !matches!(
                        r.stmts.as_slice(),
                        [
                            Stmt::Match(Match::Cmp {
                                left: Expr::Exthdr(fwnet_nft::Exthdr::Field(
                                    fwnet_nft::ExthdrField::FragOff
                                )),
                                op: CmpOp::Ne,
                                right: Value::Num(0)
                            }),
                            Stmt::Verdict(_)
                        ]
                    )
                });
                changed += before - c.rules.len();
                for r in &mut c.rules {
                    let n = r.stmts.len();
                    r.stmts.retain(|s| ipv4_fragment_test(s) != Some(CmpOp::Eq));
                    changed += usize::from(r.stmts.len() != n);
                }
                continue;
            }
            if m == Mutation::NoEstablished {
                c.rules.retain(|r| {
                    !r.stmts.iter().any(|s| {
                        matches!(s, Stmt::Match(Match::Flags { left: Expr::Ct(CtKey::State), bits, op: CmpOp::Eq }) if bits & ct_state::ESTABLISHED != 0)
                    })
                });
                changed += before - c.rules.len();
                continue;
            }
            for r in &mut c.rules {
                let old = r.stmts.clone();
                match m {
                    Mutation::GlobalLimit => {
                        for s in &mut r.stmts {
                            if let Stmt::SetUpdate { limit: Some(l), .. } = s {
                                *s = Stmt::Limit(**l);
                            }
                        }
                    }
                    Mutation::Burst5 => {
                        for s in &mut r.stmts {
                            match s {
                                Stmt::Limit(l) => l.burst = 5,
                                Stmt::SetUpdate { limit: Some(l), .. } => l.burst = 5,
                                _ => {}
                            }
                        }
                    }
                    Mutation::NoCtNew => r.stmts.retain(|s| {
                        !matches!(s, Stmt::Match(Match::Flags { left: Expr::Ct(CtKey::State), bits, op: CmpOp::Eq }) if *bits == ct_state::NEW)
                    }),
                    Mutation::MarkXor => {
                        for s in &mut r.stmts {
                            if let Stmt::MarkSet(m) = s {
                                if m.dest == fwnet_nft::MarkKey::Meta {
                                    m.xor ^= 1;
                                }
                            }
                        }
                    }
                    Mutation::HeaderXor => {
                        for s in &mut r.stmts {
                            if let Stmt::HeaderSet { value, .. } | Stmt::DscpSet { value, .. } = s
                            {
                                *value ^= 1;
                            }
                        }
                    }
                    Mutation::CtXor => {
                        r.stmts.retain(|s| *s != Stmt::Notrack);
                        for s in &mut r.stmts {
                            match s {
                                Stmt::MarkSet(m) if m.dest == fwnet_nft::MarkKey::Ct => m.xor ^= 1,
                                Stmt::CtZoneSet(zone) | Stmt::CtDirZoneSet { zone, .. } => {
                                    *zone ^= 1
                                }
                                _ => {}
                            }
                        }
                    }
                    Mutation::NatPort => {
                        for s in &mut r.stmts {
                            if let Stmt::Nat(n) = s {
                                if let Some((low, high)) = &mut n.ports {
                                    *low = low.wrapping_add(1);
                                    *high = high.wrapping_add(1);
                                }
                            }
                        }
                    }
                    Mutation::NoIifLo
                    | Mutation::NoEstablished
                    | Mutation::NoExpiry
                    | Mutation::EmptySets
                    | Mutation::NoFamilyDispatch
                    | Mutation::LastFirst
                    | Mutation::TrackAll
                    | Mutation::Unguarded => {}
                }
                changed += usize::from(r.stmts != old);
            }
        }
    }
    changed
}

/// How to verify.
#[derive(Clone, Debug)]
pub struct Options {
    /// Leave the namespaces in place (named `fwv-keep-*`) and report how to remove them.
    pub keep: bool,
    /// At most this many derived probes.
    pub cap: usize,
    /// User probes, played after the derived ones.
    pub extra: Vec<Probe>,
    /// Break fwnet's side on purpose (tests only).
    pub mutation: Option<Mutation>,
    /// Force `nf_conntrack_tcp_loose` on both sides; by default fwnet's side copies legacy's.
    pub tcp_loose: Option<bool>,
    /// `--slow`: play the expiry probes of sets whose timeout is at most this long.
    pub slow_max: Option<Duration>,
    /// `ipset save` texts the original rules name with `-m set`: the legacy side loads them
    /// with `ipset restore` before the rules (fwnet's side has them in its translation).
    pub ipsets: Vec<String>,
    /// `fwnet verify --inet`: fwnet's side loads the translation merged into inet tables
    /// ([`fwnet_nft::inet::merge`]); probes, rule texts and counters are still read per family.
    pub inet: bool,
    /// The same files translated one rule per line (`--no-optimize`), when the ruleset under
    /// test is optimized: probes for the pairs of rules whose order decides a packet come from
    /// it ([`probes::derive_ordered`]).
    pub order: Option<Ruleset>,
    /// Called after each probe both sides have played, with the number played and the number
    /// to play (a run that starts again from fresh namespaces counts from one again).
    pub progress: Option<fn(usize, usize)>,
}

impl Default for Options {
    fn default() -> Options {
        Options {
            keep: false,
            cap: probes::DEFAULT_CAP,
            extra: Vec::new(),
            mutation: None,
            tcp_loose: None,
            slow_max: None,
            ipsets: Vec::new(),
            inet: false,
            order: None,
            progress: None,
        }
    }
}

/// Why verification could not run (not a mismatch).
#[derive(Debug)]
pub enum Error {
    /// Namespaces and netfilter need root.
    NotRoot,
    /// A program verification needs is not installed.
    MissingTool(&'static str, &'static str),
    /// `iptables-legacy-restore` refused the original file.
    LegacyRejected(String),
    /// fwnet's apply failed in the scratch namespace.
    Apply(crate::Error),
    /// Making namespaces, links or sockets failed.
    Setup(String),
    /// A probe was not observed on one side even after [`RETRIES`] fresh reruns.
    NotObserved { probe: String, attempts: u32 },
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::NotRoot => write!(f, "verification creates network namespaces and needs root: run it with sudo"),
            Error::MissingTool(tool, package) => write!(f, "`{tool}` is not installed; verification uses it as the oracle: install the `{package}` package"),
            Error::LegacyRejected(e) => write!(f, "the legacy kernel rejects this file itself; that is not a fwnet mismatch ({e})"),
            Error::Apply(crate::Error::Rejected(r)) => {
                write!(f, "the kernel refused fwnet's translation in the scratch namespace:")?;
                for x in r {
                    write!(f, "\n  {x}")?;
                }
                Ok(())
            }
            Error::Apply(e) => write!(f, "applying fwnet's translation in the scratch namespace failed: {e}"),
            Error::Setup(e) => write!(f, "could not set up the scratch namespaces: {e}"),
            Error::NotObserved { probe, attempts } => write!(f, "could not observe probe `{probe}` ({attempts} attempts from fresh namespaces): the harness lost it, so nothing is concluded; the machine may be overloaded, try again"),
        }
    }
}

impl std::error::Error for Error {}

fn find_program(name: &str) -> bool {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/sbin".into(), "/sbin".into()])
        .any(|d| d.join(name).is_file())
}

/// Keeps the expiry probes `--slow` allows (see [`Options::slow_max`]); the others become "not
/// verified" lines.
pub fn select_expiries(all: Vec<Probe>, slow_max: Option<Duration>) -> (Vec<Probe>, Vec<String>) {
    let mut kept = Vec::with_capacity(all.len());
    let mut skipped = Vec::new();
    for p in all {
        if p.wait_ms == 0 {
            kept.push(p);
            continue;
        }
        let expiry =
            Duration::from_millis(u64::from(p.wait_ms).saturating_sub(probes::EXPIRY_MARGIN_MS));
        let at = p.origin.as_deref().unwrap_or("a rule");
        match slow_max {
            Some(max) if expiry <= max => kept.push(p),
            Some(max) => skipped.push(format!(
                "expiry of the set entries of {at} after {} s: longer than --slow-max {} s",
                expiry.as_secs_f64(),
                max.as_secs()
            )),
            None => skipped.push(format!(
                "expiry of the set entries of {at} after {} s (use --slow)",
                expiry.as_secs_f64()
            )),
        }
    }
    (kept, skipped)
}

/// The waits `--slow` will add to a verification of `translated` with `options` (one per
/// expiry probe played, on both sides at once).
pub fn expiry_waits(translated: &Ruleset, options: &Options) -> Vec<Duration> {
    let (all, _) = select_expiries(
        probes::derive(translated, options.cap).probes,
        options.slow_max,
    );
    all.iter()
        .chain(&options.extra)
        .filter(|p| p.wait_ms > 0)
        .map(|p| Duration::from_millis(u64::from(p.wait_ms)))
        .collect()
}

/// How many times a whole verification is rerun from fresh namespaces when a probe was not
/// observed on one side (a harness hiccup) before giving up.
pub const RETRIES: u32 = 2;

/// What to do after one attempt at verification.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Next {
    /// Every probe was observed on both sides: the report stands, mismatches included.
    Report,
    /// A probe was not observed: rerun everything from fresh namespaces.
    Retry(String),
    /// Still not observed after every retry: verification could not run.
    GiveUp(String),
}

/// Why an attempt's result is not trusted yet.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Doubt {
    /// A probe one side did not observe: a harness failure, never a verdict.
    Unobserved(String),
    /// A mismatch on a probe a rate limit decided: bucket refills depend on timing, which the
    /// two sides can never share exactly, so it must show up again before it is reported.
    Timing(String),
}

/// The first reason to doubt `results`, if any: an unobserved probe first.
pub fn doubt(results: &[ProbeResult]) -> Option<Doubt> {
    let unobserved = results.iter().find(|r| {
        r.legacy.verdict == Verdict::NotReceived || r.fwnet.verdict == Verdict::NotReceived
    });
    if let Some(r) = unobserved {
        return Some(Doubt::Unobserved(r.text.clone()));
    }
    results
        .iter()
        .find(|r| !r.same && limited(r))
        .map(|r| Doubt::Timing(r.text.clone()))
}

/// Whether a rate limit (`-m limit`, `-m hashlimit`; nft `limit rate`) counted the probe on
/// either side.
fn limited(r: &ProbeResult) -> bool {
    let legacy = r
        .legacy
        .hits
        .iter()
        .any(|h| h.text.contains("-m limit ") || h.text.contains("-m hashlimit "));
    legacy || r.fwnet.hits.iter().any(|h| h.text.contains("limit rate "))
}

/// Decides after attempt number `attempt` (0 first) given its [`doubt`]: rerun while retries
/// remain; then an unobserved probe gives up, a timing mismatch stands.
pub fn next_step(doubt: Option<Doubt>, attempt: u32, retries: u32) -> Next {
    match doubt {
        None => Next::Report,
        Some(Doubt::Unobserved(p) | Doubt::Timing(p)) if attempt < retries => Next::Retry(p),
        Some(Doubt::Unobserved(p)) => Next::GiveUp(p),
        Some(Doubt::Timing(_)) => Next::Report,
    }
}

/// One file as the legacy tools load it: an `iptables-save` (`Family::Ip`) or `ip6tables-save`
/// (`Family::Ip6`) text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Original {
    /// How rules of this file are named in the report (`name:line`), as in the translation.
    pub name: String,
    pub family: Family,
    pub text: String,
}

/// Verifies that `translated` (fwnet's IR of `originals`) gives every probe the same INPUT
/// verdict as the legacy kernel given `originals` (in order; files of each family after the
/// first of it are loaded with `--noflush`).
///
/// A probe one side did not observe makes the whole run start again from fresh namespaces (at
/// most [`RETRIES`] times, each reason listed in [`Report::reruns`]); if it keeps happening the
/// result is [`Error::NotObserved`], never a mismatch.
pub fn verify(
    translated: &Ruleset,
    originals: &[Original],
    options: &Options,
) -> Result<Report, Error> {
    let started = Instant::now();
    // SAFETY: geteuid has no preconditions and cannot fail.
    if unsafe { libc::geteuid() } != 0 {
        return Err(Error::NotRoot);
    }
    let v6 = originals.iter().any(|o| o.family == Family::Ip6);
    let v6_tools = [
        ("ip6tables-legacy-restore", "iptables"),
        ("ip6tables-legacy-save", "iptables"),
    ];
    for (tool, package) in [
        ("ip", "iproute2"),
        ("iptables-legacy-restore", "iptables"),
        ("iptables-legacy-save", "iptables"),
    ]
    .into_iter()
    .chain(v6_tools.into_iter().filter(|_| v6))
    .chain(
        [("ipset", "ipset")]
            .into_iter()
            .filter(|_| !options.ipsets.is_empty()),
    ) {
        if !find_program(tool) {
            return Err(Error::MissingTool(tool, package));
        }
    }
    netns::cleanup_on_signals().map_err(Error::Setup)?;
    netns::reap_stale();
    let mut reruns = Vec::new();
    let mut attempt = 0;
    loop {
        let (report, doubted) = match attempt_once(translated, originals, options) {
            Ok(r) => {
                let d = doubt(&r.results);
                (Some(r), d)
            }
            Err(Error::NotObserved { probe, .. }) => (None, Some(Doubt::Unobserved(probe))),
            Err(e) => return Err(e),
        };
        let why = match &doubted {
            Some(Doubt::Timing(_)) => "mismatched where a rate limit decided (timing?)",
            _ => "was not observed on one side",
        };
        match (next_step(doubted, attempt, RETRIES), report) {
            (Next::Report, Some(mut report)) => {
                report.reruns = reruns;
                report.timings.total_ms = started.elapsed().as_millis() as u64;
                return Ok(report);
            }
            (Next::Retry(p), _) => {
                reruns.push(format!("probe `{p}` {why}; rerun from fresh namespaces"))
            }
            (Next::GiveUp(probe), _) => {
                return Err(Error::NotObserved {
                    probe,
                    attempts: attempt + 1,
                })
            }
            // next_step reports only when the attempt gave a report.
            (Next::Report, None) => {
                return Err(Error::Setup("an attempt ended without a report".into()))
            }
        }
        attempt += 1;
    }
}

fn attempt_once(
    translated: &Ruleset,
    originals: &[Original],
    options: &Options,
) -> Result<Report, Error> {
    let started = Instant::now();
    let moved;
    let translated = if options.mutation == Some(Mutation::LastFirst) {
        let mut rs = translated.clone();
        mutate(&mut rs, Mutation::LastFirst);
        moved = rs;
        &moved
    } else {
        translated
    };
    let mut fwnet_ir = translated.clone();
    if options.inet {
        fwnet_nft::inet::merge(&mut fwnet_ir.tables);
    }
    if let Some(m) = options.mutation.filter(|m| *m != Mutation::LastFirst) {
        mutate(&mut fwnet_ir, m);
    }
    let derived = probes::derive_ordered(translated, options.order.as_ref(), options.cap);
    let (mut all, skipped) = select_expiries(derived.probes, options.slow_max);
    all.extend(options.extra.iter().cloned());
    // An interface name the kernel refuses (`venet0:0` is an alias, not an interface) can never
    // match a packet; the harness reaches an IPv6 link-local address only over a link, never on
    // `lo`: their probes are not played.
    let (all, impossible): (Vec<Probe>, Vec<Probe>) =
        all.into_iter().partition(|p| impossible_why(p).is_none());
    let main = probes::main_link_name(translated);
    let mut links = vec![main.clone()];
    links.extend(probes::links(&all).into_iter().filter(|l| *l != main));
    let n_links = links.len();
    let server_addrs: BTreeSet<IpAddr> = all
        .iter()
        .filter(|p| p.path == Path::Input)
        .map(|p| p.spec.dst())
        .filter(|a| usable_local(*a) && !is_link_addr(*a, n_links))
        .collect();
    // The kernel delivers a multicast packet (mDNS, SSDP) only to a member of its group.
    let server_groups: BTreeSet<IpAddr> = all
        .iter()
        .filter(|p| p.path == Path::Input && p.iif.as_deref() != Some("lo"))
        .map(|p| p.spec.dst())
        .filter(|a| a.is_multicast() && !is_all_nodes(*a))
        .collect();
    // A forwarded or sent probe to an address the server cannot route away (a link's, a
    // loopback or broadcast one, a multicast group it would have to route) would be delivered
    // locally or not at all.
    let (all, cannot_leave): (Vec<Probe>, Vec<Probe>) = all
        .into_iter()
        .partition(|p| p.path == Path::Input || leaves(p, n_links));
    // One to an address the server owns for the INPUT probes is played after them, once the
    // server gave those addresses up ([`give_up_addresses`]). (A packet from such an address
    // is no martian to the kernel while `rp_filter` is off, as it is in the namespaces.) So is
    // one to a group the server joined for them: joining gives the group a local route, which
    // would send the server's own packets to it over `lo` instead of out of their link.
    let owned = |a: &IpAddr| server_addrs.contains(a) || server_groups.contains(a);
    let needs_unowned = |p: &Probe| p.path != Path::Input && owned(&p.spec.dst());
    let (all, later): (Vec<Probe>, Vec<Probe>) = all.into_iter().partition(|p| !needs_unowned(p));
    let later: Vec<Probe> = later
        .into_iter()
        .map(|mut p| {
            p.why = format!("{}; {GIVEN_UP_WHY}", p.why);
            p
        })
        .collect();
    let given_up: BTreeSet<IpAddr> = later.iter().map(|p| p.spec.dst()).filter(owned).collect();
    let server_link_local = link_local_dsts(&all, &links);
    // The client owns the sources of real connections, except where one is also where a
    // connection goes (the client would then talk to itself).
    let connects: Vec<&Probe> = all
        .iter()
        .filter(|p| matches!(p.spec, Spec::Connect { .. }))
        .collect();
    let connect_dsts: BTreeSet<IpAddr> = connects.iter().map(|p| p.spec.dst()).collect();
    let client_addrs: BTreeSet<IpAddr> = connects
        .iter()
        .map(|p| p.spec.src())
        .filter(|a| usable_local(*a) && !connect_dsts.contains(a) && !is_link_addr(*a, n_links))
        .collect();
    let mut uncovered = derived.uncovered;
    let reasons: BTreeSet<(String, String)> = impossible
        .iter()
        .filter_map(|p| Some((p.origin.clone().unwrap_or_default(), impossible_why(p)?)))
        .collect();
    uncovered.extend(
        reasons
            .into_iter()
            .map(|(origin, why)| format!("{origin}: {why}")),
    );
    // One line per rule and destination: a rule's edge and flag variants share both.
    let mut unroutable: BTreeMap<(Option<String>, IpAddr), Vec<&Probe>> = BTreeMap::new();
    for p in &cannot_leave {
        unroutable
            .entry((p.origin.clone(), p.spec.dst()))
            .or_default()
            .push(p);
    }
    uncovered.extend(unroutable.into_iter().map(|((origin, dst), probes)| {
        format!(
            "`{}`{} ({}): the server cannot route {dst} away (a loopback or broadcast address, a harness link's, or a multicast group a router would forward), so it would not leave the server",
            probes[0],
            more_like_it(probes.len() - 1),
            origin.as_deref().unwrap_or("policy"),
        )
    }));
    // A `dnat` to an address the server does not own turns a probe to the server into a
    // forwarded packet: it is seen leaving, with its new destination.
    let forwards =
        all.iter().chain(&later).any(|p| p.path == Path::Forward) || has_dnat(translated);
    uncovered.extend(
        connects
            .iter()
            .filter(|p| server_addrs.contains(&p.spec.src()))
            .map(|p| {
                format!(
                    "`{p}`: the server also owns {} (another probe goes there), so this connection's replies stay on the server; its verdict says little",
                    p.spec.src()
                )
            }),
    );
    let spec = SiteSpec {
        links,
        server_addrs: server_addrs.into_iter().collect(),
        server_groups: server_groups.into_iter().collect(),
        client_addrs: client_addrs.into_iter().collect(),
        keep: options.keep,
        ipv6: all.iter().chain(&later).any(|p| p.spec.is_ipv6())
            || originals.iter().any(|o| o.family == Family::Ip6),
    };

    // Setup, both sides at once.
    let (legacy, fwnet) = thread::scope(|s| {
        let legacy = s.spawn(|| -> Result<Site, Error> {
            let site = Site::new("legacy", &spec).map_err(Error::Setup)?;
            own_link_local(&site, &server_link_local).map_err(Error::Setup)?;
            for text in &options.ipsets {
                site.server
                    .exec_stdin("ipset", &["restore"], text)
                    .map_err(Error::LegacyRejected)?;
            }
            let mut loaded = BTreeSet::new();
            for o in originals {
                // Every file after the first of its family adds to what that one loaded.
                let args: &[&str] = if loaded.insert(o.family == Family::Ip6) {
                    &[]
                } else {
                    &["--noflush"]
                };
                site.server
                    .exec_stdin(legacy_tool(o.family, "restore"), args, &o.text)
                    .map_err(Error::LegacyRejected)?;
            }
            Ok(site)
        });
        let fwnet = s.spawn(|| -> Result<Site, Error> {
            let site = Site::new("fwnet", &spec).map_err(Error::Setup)?;
            own_link_local(&site, &server_link_local).map_err(Error::Setup)?;
            site.server
                .try_run_in(|| crate::apply(&fwnet_ir, crate::Mode::Commit))
                .map_err(Error::Setup)?
                .map_err(Error::Apply)?;
            Ok(site)
        });
        (join(legacy), join(fwnet))
    });
    let (legacy, fwnet) = (legacy?, fwnet?);
    // ESTABLISHED and RELATED packets that no real exchange can make ride on connections
    // written over ctnetlink; a kernel without it cannot play them, which is said, per rule.
    let needs_written = |p: &Probe| !written_flows(&p.spec, p.path, 1).is_empty();
    // Each probe's conntrack entry is compared too (whether conntrack tracks the same packets
    // on both sides, and what rules wrote into the entries); that takes ctnetlink as well.
    let ctnetlink = ctnetlink_usable(&legacy);
    let (all, later) = match all.iter().chain(&later).any(needs_written) {
        true => match &ctnetlink {
            Ok(()) => (all, later),
            Err(why) => {
                let (unwritable, all): (Vec<Probe>, Vec<Probe>) =
                    all.into_iter().partition(needs_written);
                let (unwritable_later, later): (Vec<Probe>, Vec<Probe>) =
                    later.into_iter().partition(needs_written);
                uncovered.extend(unwritten(&[unwritable, unwritable_later].concat(), why));
                (all, later)
            }
        },
        false => (all, later),
    };
    if forwards {
        for site in [&legacy, &fwnet] {
            enable_forwarding(site, spec.ipv6).map_err(Error::Setup)?;
        }
    }
    // `-A INPUT ! -i lo -d 127.0.0.0/8 -j REJECT`: from the wire, a loopback address is a
    // martian the kernel drops before INPUT unless told to route it (`route_localnet`), and the
    // rule would never be reached. Both servers are told, so such a rule decides its probes.
    let from_wire_loopback = |p: &Probe| {
        p.iif.as_deref() != Some("lo")
            && p.path == Path::Input
            && [p.spec.src(), p.spec.dst()]
                .iter()
                .any(|a| matches!(a, IpAddr::V4(a) if a.is_loopback()))
    };
    if all.iter().any(from_wire_loopback) {
        for site in [&legacy, &fwnet] {
            site.server
                .sysctl_write("net/ipv4/conf/all/route_localnet", "1")
                .map_err(Error::Setup)?;
        }
    }

    let (ct_writes, zones) = conntrack_zones(translated);
    let ct_unreadable = ctnetlink.err();
    let ct_zones = ct_unreadable.is_none().then_some(zones);

    let loose = match options.tcp_loose {
        Some(v) => Some(v),
        None => legacy.server.sysctl_read(TCP_LOOSE).ok().map(|v| v == "1"),
    };
    if let Some(v) = loose {
        for site in [&legacy, &fwnet] {
            // Absent without conntrack: then no rule depends on it.
            let _ = site
                .server
                .sysctl_write(TCP_LOOSE, if v { "1" } else { "0" });
        }
    }
    let setup = started.elapsed();

    let labels = fwnet_labels(&fwnet, &fwnet_ir, translated, options.inet).map_err(Error::Setup)?;
    let legacy_texts = TextCache::default();
    let legacy_direct = Direct::default();
    // Both sides play `probes` in lockstep; `legacy_ir` and `fwnet_ir` say which chains each
    // side's hits are read from.
    let play_both = |probes: Vec<Probe>,
                     legacy_ir: &Ruleset,
                     fwnet_ir: &Ruleset,
                     progress: Option<fn(usize, usize)>|
     -> Result<Vec<ProbeResult>, Error> {
        let lockstep = Lockstep::default();
        let (a, b) = thread::scope(|s| {
            let a = s.spawn(|| {
                play(
                    &legacy,
                    &probes,
                    &|f| legacy_snapshot(&legacy, originals, f, &legacy_texts, &legacy_direct),
                    legacy_ir,
                    &lockstep,
                    progress,
                    ct_zones.as_deref(),
                )
            });
            let b = s.spawn(|| {
                play(
                    &fwnet,
                    &probes,
                    &|f| fwnet_snapshot(&fwnet, &labels, f, options.inet.then_some(translated)),
                    fwnet_ir,
                    &lockstep,
                    // One side reports: the lockstep keeps the other within a probe of it.
                    None,
                    ct_zones.as_deref(),
                )
            });
            (join(a), join(b))
        });
        let (a, b) = (a?, b?);
        Ok(probes
            .into_iter()
            .zip(a)
            .zip(b)
            .map(|((probe, mut l), mut f)| {
                // Where no rule writes into entries, that neither side has one says only that
                // conntrack is not in use there: not shown.
                let none = Some(Tracked::NoEntry);
                if !ct_writes && l.conntrack == none && f.conntrack == none {
                    (l.conntrack, f.conntrack) = (None, None);
                }
                ProbeResult {
                    text: probe.to_string(),
                    same: l.same_as(&f),
                    probe,
                    legacy: l,
                    fwnet: f,
                }
            })
            .collect())
    };
    // Rule positions are read per family (`inet_view`) in an inet table too.
    let fwnet_play_ir = if options.inet { translated } else { &fwnet_ir };
    let mut results = play_both(all, translated, fwnet_play_ir, options.progress)?;
    if !later.is_empty() {
        give_up_addresses(&legacy, &fwnet, &given_up, true)?;
        results.extend(play_both(later, translated, fwnet_play_ir, None)?);
        // The NAT replay below sends to them again.
        give_up_addresses(&legacy, &fwnet, &given_up, false)?;
    }
    // A mapping the filter tables hid (every packet the nat rule maps was dropped) is shown by
    // playing those probes again with the filter tables emptied on both sides.
    // A repeat of an earlier rule can never map a packet: nothing to play again for it.
    let unseen: Vec<String> = unseen_mappings(&results, &legacy_texts)
        .into_iter()
        .filter_map(|(origin, repeats)| repeats.is_none().then_some(origin))
        .collect();
    let hidden = hidden_mappings(&results, &unseen);
    if !hidden.is_empty() {
        empty_filter_tables(&legacy, &fwnet, originals, &fwnet_ir)?;
        let (legacy_ir, fwnet_rest) = (without_filter(translated), without_filter(fwnet_play_ir));
        results.extend(play_both(hidden, &legacy_ir, &fwnet_rest, None)?);
    }
    let probes_time = started.elapsed() - setup;
    let kept = if options.keep {
        let mut k = legacy.removal_commands();
        k.extend(fwnet.removal_commands());
        k
    } else {
        Vec::new()
    };
    let mismatches = results.iter().filter(|r| !r.same).count();
    let (nat_unseen, nat_repeats): (Vec<String>, BTreeMap<String, String>) = {
        let unseen = unseen_mappings(&results, &legacy_texts);
        let repeats = unseen
            .iter()
            .filter_map(|(o, r)| Some((o.clone(), r.clone()?)))
            .collect();
        (unseen.into_iter().map(|(o, _)| o).collect(), repeats)
    };
    // A nat rule whose mapping no probe showed is named once, among `nat_unseen`.
    let unreached = unreached_rules(&results, translated)
        .into_iter()
        .filter(|u| !nat_unseen.contains(&u.origin))
        .collect();
    Ok(Report {
        results,
        mismatches,
        tcp_loose: loose,
        uncovered,
        capped: derived.capped,
        cap: options.cap,
        not_verified: not_verified(
            translated,
            super::observe::kernel_reports_marks(&legacy.server),
            ct_zones.is_some(),
        )
        .into_iter()
        .chain(ct_unreadable.map(|why| {
            format!("the probes' conntrack entries (whether there is one; what CT, NOTRACK and CONNMARK rules write into it) are not compared: {why}")
        }))
        .chain(skipped)
        .collect(),
        nat_unseen,
        nat_repeats,
        unreached,
        kept,
        mutation: options.mutation.map(|m| m.name().to_string()),
        reruns: Vec::new(),
        timings: Timings {
            setup_ms: setup.as_millis() as u64,
            probes_ms: probes_time.as_millis() as u64,
            total_ms: started.elapsed().as_millis() as u64,
        },
    })
}

/// What the `why` of a probe played after the INPUT probes ends with: the server owned its
/// destination for them.
pub const GIVEN_UP_WHY: &str =
    "played after the INPUT probes, once the server gave up the address they went to";

/// Removes `addrs` from the server of both sites (`give_up`), or gives them back, as the INPUT
/// probes need them: a routed or sent probe to one of them is then routed away like any other.
/// A multicast group among them is left (or joined again) on every link.
fn give_up_addresses(
    legacy: &Site,
    fwnet: &Site,
    addrs: &BTreeSet<IpAddr>,
    give_up: bool,
) -> Result<(), Error> {
    for site in [legacy, fwnet] {
        let lines: Vec<String> = addrs
            .iter()
            .flat_map(|a| match a.is_multicast() {
                // A group was joined on every link.
                true => (site.links.iter())
                    .map(|l| netns::server_group_line(*a, &l.name, !give_up))
                    .collect(),
                false => vec![netns::server_addr_line(*a, !give_up)],
            })
            .collect();
        site.server.ip_batch(&lines).map_err(Error::Setup)?;
    }
    Ok(())
}

/// What a replayed probe's `why` ends with: it was played with the filter tables emptied.
pub const UNFILTERED_WHY: &str = "again with the filter tables emptied, to see its mapping";

/// The probes to play again with the filter tables emptied: those of the nat rules in `unseen`
/// (no probe showed their mapping) that both sides dropped, `why` saying so. Expiry probes
/// (a wait before them) are not replayed.
fn hidden_mappings(results: &[ProbeResult], unseen: &[String]) -> Vec<Probe> {
    let passed = |v: &Verdict| matches!(v, Verdict::Accept | Verdict::Partial { .. });
    results
        .iter()
        .filter(|r| r.same && !passed(&r.legacy.verdict) && r.probe.wait_ms == 0)
        .filter(|r| r.probe.origin.as_ref().is_some_and(|o| unseen.contains(o)))
        .map(|r| Probe {
            why: format!("{}, {UNFILTERED_WHY}", r.probe.why),
            ..r.probe.clone()
        })
        .collect()
}

/// `rs` without its filter tables (`fwnet_filter`, of any family).
fn without_filter(rs: &Ruleset) -> Ruleset {
    Ruleset {
        tables: rs
            .tables
            .iter()
            .filter(|t| t.name != FILTER_TABLE)
            .cloned()
            .collect(),
    }
}

const FILTER_TABLE: &str = "fwnet_filter";

/// Empties the filter tables on both sides: the legacy side's of each family get empty chains
/// with ACCEPT policies, fwnet's side is applied again without its filter tables. The nat,
/// mangle and raw tables stay as they were.
fn empty_filter_tables(
    legacy: &Site,
    fwnet: &Site,
    originals: &[Original],
    fwnet_ir: &Ruleset,
) -> Result<(), Error> {
    const ACCEPT_ALL: &str =
        "*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\nCOMMIT\n";
    let families: BTreeSet<bool> = originals.iter().map(|o| o.family == Family::Ip6).collect();
    for v6 in families {
        let family = if v6 { Family::Ip6 } else { Family::Ip };
        legacy
            .server
            .exec_stdin(legacy_tool(family, "restore"), &[], ACCEPT_ALL)
            .map_err(Error::Setup)?;
    }
    let rest = without_filter(fwnet_ir);
    fwnet
        .server
        .try_run_in(|| crate::apply(&rest, crate::Mode::Commit))
        .map_err(Error::Setup)?
        .map_err(Error::Apply)?;
    Ok(())
}

/// Every NAT statement of `rs`.
/// Every statement of every rule of `rs`.
fn stmts(rs: &Ruleset) -> impl Iterator<Item = &Stmt> {
    rs.tables
        .iter()
        .flat_map(|t| &t.chains)
        .flat_map(|c| &c.rules)
        .flat_map(|r| &r.stmts)
}

fn nats(rs: &Ruleset) -> impl Iterator<Item = &fwnet_nft::Nat> {
    stmts(rs).filter_map(|s| match s {
        Stmt::Nat(n) => Some(&**n),
        _ => None,
    })
}

/// Whether a rule of `rs` counts connections (`ct count`, from `-m connlimit`).
fn counts_connections(rs: &Ruleset) -> bool {
    stmts(rs).any(|s| matches!(s, Stmt::CtCount(_)))
}

/// The kernel's jiffies as user space sees them: `CLOCK_MONOTONIC_COARSE` reads the time of
/// the last tick, which the kernel advances together with jiffies, and its resolution is a
/// jiffy.
#[derive(Clone, Copy, Debug)]
pub struct Jiffies {
    /// One jiffy; 10 ms (HZ=100, the longest) if the resolution cannot be read.
    pub tick: Duration,
}

impl Jiffies {
    pub fn read() -> Jiffies {
        let mut res = libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        // SAFETY: res is a live, writable timespec for the call.
        let ok = unsafe { libc::clock_getres(libc::CLOCK_MONOTONIC_COARSE, &mut res) } == 0;
        let tick = match (ok, u64::try_from(res.tv_sec), u32::try_from(res.tv_nsec)) {
            (true, Ok(secs), Ok(nanos)) if secs > 0 || nanos > 0 => Duration::new(secs, nanos),
            _ => Duration::from_millis(10),
        };
        Jiffies { tick }
    }

    /// The coarse clock now: it moves a jiffy at a time.
    pub fn now(&self) -> Duration {
        let mut ts = libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        // SAFETY: ts is a live, writable timespec for the call.
        unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC_COARSE, &mut ts) };
        Duration::new(
            u64::try_from(ts.tv_sec).unwrap_or(0),
            u32::try_from(ts.tv_nsec).unwrap_or(0),
        )
    }

    /// Sleeps until the coarse clock shows two more jiffies than at `since` (a [`Jiffies::now`]):
    /// then the kernel's jiffies have moved on since `since`, however late its ticks came.
    pub fn wait_past(&self, since: Duration) {
        let until = since + 2 * self.tick;
        while self.now() < until {
            thread::sleep(self.tick / 2);
        }
    }
}

fn has_dnat(rs: &Ruleset) -> bool {
    nats(rs).any(|n| n.kind == fwnet_nft::NatKind::Dnat)
}

/// Makes the server a router: it forwards, sends no redirects (a probe may leave by the link it
/// came in on), and its forwarded copies are what [`Observer::forward_verdicts`] looks for.
fn enable_forwarding(site: &Site, ipv6: bool) -> Result<(), String> {
    site.server.sysctl_write("net/ipv4/ip_forward", "1")?;
    for conf in ["all", "default"]
        .into_iter()
        .map(String::from)
        .chain(site.links.iter().map(|l| l.name.clone()))
    {
        site.server
            .sysctl_write(&format!("net/ipv4/conf/{conf}/send_redirects"), "0")?;
    }
    if ipv6 {
        site.server
            .sysctl_write("net/ipv6/conf/all/forwarding", "1")?;
    }
    Ok(())
}

/// The route that sends a forwarded probe out of `link`, to that link's sink (a neighbour with
/// a MAC nobody has, so the client drops the copy without answering).
fn forward_route(dst: IpAddr, link: &Link, add: bool) -> String {
    let (prefix, gw) = match dst {
        IpAddr::V4(_) => (32, IpAddr::from(link.sink_ip())),
        IpAddr::V6(_) => (128, IpAddr::from(link.sink_ip6())),
    };
    if add {
        format!("route replace {dst}/{prefix} via {gw} dev {}", link.name)
    } else {
        format!("route del {dst}/{prefix}")
    }
}

fn join<T>(h: thread::ScopedJoinHandle<'_, T>) -> T {
    match h.join() {
        Ok(v) => v,
        Err(panic) => std::panic::resume_unwind(panic),
    }
}

/// The IPv6 link-local destinations of `probes`, each with the link it arrives on (the first of
/// `links` where the probe names none of them), as the server must own them for them to reach
/// INPUT. Probes arriving on `lo` are not among them.
fn link_local_dsts(probes: &[Probe], links: &[String]) -> Vec<(String, Ipv6Addr)> {
    let Some(main) = links.first() else {
        return Vec::new();
    };
    let owned: BTreeSet<(String, Ipv6Addr)> = probes
        .iter()
        .filter(|p| p.iif.as_deref() != Some("lo"))
        .filter_map(|p| match p.spec.dst() {
            IpAddr::V6(a) if super::packet::is_link_local(a) => {
                let link = p
                    .iif
                    .as_ref()
                    .filter(|name| links.contains(name))
                    .unwrap_or(main);
                Some((link.clone(), a))
            }
            _ => None,
        })
        .collect();
    owned.into_iter().collect()
}

/// Gives the server each of `addrs` on the server end of its link.
fn own_link_local(site: &Site, addrs: &[(String, Ipv6Addr)]) -> Result<(), String> {
    if addrs.is_empty() {
        return Ok(());
    }
    let lines: Vec<String> = addrs
        .iter()
        .map(|(link, a)| format!("addr add {a}/128 dev {link} nodad"))
        .collect();
    site.server.ip_batch(&lines)
}

/// Why `probe` is not played, if it is not: it arrives on an interface the kernel cannot name
/// (it can never happen), or on `lo` to an IPv6 link-local address (the server owns those on
/// its links only, and the harness sends to them only over a link).
fn impossible_why(probe: &Probe) -> Option<String> {
    if let Some(oif) = probe.oif.as_deref().filter(|o| !valid_ifname(o)) {
        return Some(format!(
            "no interface can be named `{oif}`, so no packet leaves by it"
        ));
    }
    let iif = probe.iif.as_deref()?;
    if !valid_ifname(iif) {
        return Some(format!(
            "no interface can be named `{iif}`, so no packet arrives on it"
        ));
    }
    let dst = probe.spec.dst();
    (iif == "lo" && needs_link(dst)).then(|| {
        format!("a probe on `lo` to the link-local address {dst} is not played (those are only reached over a link)")
    })
}

/// Whether the kernel accepts `name` as an interface name (`dev_valid_name`).
fn valid_ifname(name: &str) -> bool {
    !name.is_empty()
        && name.len() < 16
        && name != "."
        && name != ".."
        && !name.contains(['/', ':'])
        && !name.contains(char::is_whitespace)
}

/// An address a namespace can own: not loopback, multicast, broadcast, unspecified, class E or
/// IPv6 link-local.
fn usable_local(a: IpAddr) -> bool {
    match a {
        IpAddr::V4(a) => {
            let o = a.octets()[0];
            o != 0 && o != 127 && o < 224 && !a.is_broadcast()
        }
        IpAddr::V6(a) => {
            !a.is_unspecified()
                && !a.is_loopback()
                && !a.is_multicast()
                && a.segments()[0] & 0xffc0 != 0xfe80
                && a.to_ipv4_mapped().is_none()
        }
    }
}

/// 224.0.0.1 or ff02::1, which every host is a member of already.
fn is_all_nodes(a: IpAddr) -> bool {
    a == IpAddr::from([224, 0, 0, 1])
        || a == IpAddr::from(Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 1))
}

/// Whether a FORWARD or OUTPUT probe leaves the server by a link: to a unicast address the
/// server need not own, or, sent by the server itself, to an IPv4 multicast group (mDNS,
/// LLMNR, IGMP reports; forwarding one would take a multicast router).
fn leaves(p: &Probe, links: usize) -> bool {
    let dst = p.spec.dst();
    let sent_multicast = p.path == Path::Output && matches!(dst, IpAddr::V4(a) if a.is_multicast());
    !is_link_addr(dst, links) && (usable_local(dst) || sent_multicast)
}

/// One of the addresses the links themselves use (10.77.k.0-3, fd77:0:0:k::0-3).
fn is_link_addr(a: IpAddr, links: usize) -> bool {
    match a {
        IpAddr::V4(a) => {
            let o = a.octets();
            o[0] == 10 && o[1] == 77 && usize::from(o[2]) < links && o[3] <= 3
        }
        IpAddr::V6(a) => {
            let s = a.segments();
            s[..3] == [0xfd77, 0, 0]
                && usize::from(s[3]) < links
                && s[4..7] == [0, 0, 0]
                && s[7] <= 3
        }
    }
}

/// `iptables-legacy-<what>` or `ip6tables-legacy-<what>`.
fn legacy_tool(family: Family, what: &str) -> &'static str {
    match (family, what) {
        (Family::Ip6, "restore") => "ip6tables-legacy-restore",
        (Family::Ip6, _) => "ip6tables-legacy-save",
        (_, "restore") => "iptables-legacy-restore",
        _ => "iptables-legacy-save",
    }
}

/// The family a probe travels in.
fn family_of(p: &Probe) -> Family {
    if p.spec.is_ipv6() {
        Family::Ip6
    } else {
        Family::Ip
    }
}

/// The base chain of `path` and every chain reachable from it in the filter table of `family`,
/// in the order first reached; then, as `nat CHAIN`, `raw CHAIN` and so on, the chains of the
/// other tables ([`COUNTED`]) the path meets.
fn reachable_chains(rs: &Ruleset, family: Family, path: Path) -> Vec<String> {
    let mut out = reachable_in(
        probes::filter_table_of(rs, family),
        vec![path.chain().to_string()],
    );
    for table in &COUNTED[1..] {
        let Some(t) = probes::table_of(rs, family, table.fwnet) else {
            continue;
        };
        let bases = table
            .bases
            .iter()
            .filter(|(p, _)| *p == path)
            .map(|(_, c)| c.to_string())
            .collect();
        let chains = reachable_in(Some(t), bases);
        out.extend(chains.into_iter().map(|c| format!("{}{c}", table.prefix)));
    }
    out
}

/// A table whose rules' counters verification reads on both sides.
struct Counted {
    /// As iptables names it.
    legacy: &'static str,
    /// As fwnet names it.
    fwnet: &'static str,
    /// How its chains are named among the filter table's in counters and hits: `nat
    /// PREROUTING` (no chain name has a blank); empty for the filter table.
    prefix: &'static str,
    /// The base chains each path meets in it, in the order the packet meets them.
    bases: &'static [(Path, &'static str)],
}

/// The filter table first; then the tables a probe also crosses, in the order a packet meets
/// them. A rule of theirs can drop a packet before the filter table sees it (`-t mangle -A
/// PREROUTING -m conntrack --ctstate INVALID -j DROP`): its hit names the rule that decided.
const COUNTED: [Counted; 5] = [
    Counted {
        legacy: "filter",
        fwnet: "fwnet_filter",
        prefix: "",
        bases: &[],
    },
    Counted {
        legacy: "raw",
        fwnet: "fwnet_raw",
        prefix: "raw ",
        bases: &[
            (Path::Input, "PREROUTING"),
            (Path::Forward, "PREROUTING"),
            (Path::Output, "OUTPUT"),
        ],
    },
    Counted {
        legacy: "mangle",
        fwnet: "fwnet_mangle",
        prefix: "mangle ",
        bases: &[
            (Path::Input, "PREROUTING"),
            (Path::Input, "INPUT"),
            (Path::Forward, "PREROUTING"),
            (Path::Forward, "FORWARD"),
            (Path::Forward, "POSTROUTING"),
            (Path::Output, "OUTPUT"),
            (Path::Output, "POSTROUTING"),
        ],
    },
    Counted {
        legacy: "nat",
        fwnet: "fwnet_nat",
        prefix: NAT_PREFIX,
        bases: &[
            (Path::Input, "PREROUTING"),
            (Path::Input, "INPUT"),
            (Path::Forward, "PREROUTING"),
            (Path::Forward, "POSTROUTING"),
            (Path::Output, "OUTPUT"),
            (Path::Output, "POSTROUTING"),
        ],
    },
    Counted {
        legacy: "security",
        fwnet: "fwnet_security",
        prefix: "security ",
        bases: &[
            (Path::Input, "INPUT"),
            (Path::Forward, "FORWARD"),
            (Path::Output, "OUTPUT"),
        ],
    },
];

impl Counted {
    /// The table a chain of the counters and hits is in, by its prefix.
    fn of_chain(chain: &str) -> &'static Counted {
        COUNTED[1..]
            .iter()
            .find(|t| chain.starts_with(t.prefix))
            .unwrap_or(&COUNTED[0])
    }

    /// Whether a rule of this table that accepts (`accept`) or drops or rejects decides the
    /// packet's fate: in the filter table both do; elsewhere only a drop or reject (an accept
    /// of the raw or mangle table only ends that table's walk, the filter table still decides);
    /// a nat rule never does (it maps).
    fn decides(&self, accept: bool) -> bool {
        match self.legacy {
            "nat" => false,
            "filter" => true,
            _ => !accept,
        }
    }
}

/// How a nat chain is named among the filter table's in counters and hits.
const NAT_PREFIX: &str = "nat ";

/// `out` and every chain of `t` reachable from them by jump, goto or verdict map, in the order
/// first reached.
fn reachable_in(t: Option<&fwnet_nft::Table>, mut out: Vec<String>) -> Vec<String> {
    let Some(t) = t else {
        return out;
    };
    let mut i = 0;
    while i < out.len() {
        if let Some(c) = t.chains.iter().find(|c| c.name == out[i]) {
            for r in &c.rules {
                for v in r.stmts.iter().flat_map(Stmt::verdicts) {
                    if let fwnet_nft::Verdict::Jump(n) | fwnet_nft::Verdict::Goto(n) = v {
                        if !out.contains(n) {
                            out.push(n.clone());
                        }
                    }
                }
            }
        }
        i += 1;
    }
    out
}

fn not_verified(rs: &Ruleset, sees_marks: bool, sees_entries: bool) -> Vec<String> {
    let mut out = Vec::new();
    for t in &rs.tables {
        let is_filter = [Family::Ip, Family::Ip6]
            .into_iter()
            .filter_map(|f| probes::filter_table_of(rs, f))
            .any(|f| std::ptr::eq(f, t));
        if !is_filter {
            let rules: usize = t.chains.iter().map(|c| c.rules.len()).sum();
            let family = format!("{:?}", t.family).to_lowercase();
            // The nat tables' mappings are verified; the rules whose mapping no probe showed
            // are `Report::nat_unseen`.
            if t.name == "fwnet_nat" {
                continue;
            }
            let mangle = t.name == "fwnet_mangle";
            let effects = match (mangle, sees_marks) {
                (true, true) => "the packet marks, TOS bytes and TTLs it sets are compared on the packets that get through",
                (true, false) => "the TOS bytes and TTLs it sets are compared on the packets that get through, not the packet marks: this kernel does not report marks to verification's sockets (SO_RCVMARK, Linux 5.19)",
                (false, _) if sees_entries && t.name == "fwnet_raw" => "the conntrack entries of the packets that get through are compared (whether there is one, its zone and helper)",
                (false, _) => "its own effects are not compared",
            };
            let rest = match (mangle, sees_entries) {
                (true, true) => ", and so are their connection marks; its other effects (tc classes, ...) are not",
                (true, false) => "; its other effects (connection marks, tc classes, ...) are not",
                (false, _) => "",
            };
            out.push(format!(
                "table {family} {} ({rules} rules): probes do cross it; {effects}{rest}",
                t.name
            ));
        }
    }
    out
}

/// The nat rules (`file:line`) whose mapping no probe showed, in file order (`rules:9` before
/// `rules:10`), each with the earlier rule of its chain it repeats word for word, if there is
/// one: that rule takes every packet first, so the repeat can never map one (a rule with a
/// match that keeps state or draws lots, `-m statistic` or `-m limit`, is not taken for
/// a repeat: the earlier one lets packets by).
fn unseen_mappings(
    results: &[ProbeResult],
    legacy_texts: &TextCache,
) -> Vec<(String, Option<String>)> {
    let seen: BTreeSet<&str> = results
        .iter()
        .filter(|r| matches!(r.legacy.verdict, Verdict::Accept | Verdict::Partial { .. }))
        .flat_map(|r| &r.legacy.hits)
        .filter(|h| h.maps)
        .filter_map(|h| h.origin.as_deref())
        .collect();
    let texts = legacy_texts.lock().unwrap_or_else(|p| p.into_inner());
    let mut unseen: BTreeMap<String, Option<String>> = BTreeMap::new();
    for (_, rules) in texts
        .values()
        .flat_map(|chains| chains.iter())
        .filter(|(chain, _)| chain.starts_with(NAT_PREFIX))
    {
        for (i, rule) in rules.iter().enumerate().filter(|(_, r)| r.maps) {
            let Some(origin) = rule.origin.as_deref().filter(|o| !seen.contains(o)) else {
                continue;
            };
            let repeats = takes_every_packet(&rule.text)
                .then(|| rules[..i].iter().find(|earlier| earlier.text == rule.text))
                .flatten()
                .and_then(|earlier| earlier.origin.clone());
            unseen.insert(origin.to_string(), repeats);
        }
    }
    let mut unseen: Vec<(String, Option<String>)> = unseen.into_iter().collect();
    unseen.sort_by_key(|(o, _)| file_order(o));
    unseen
}

/// The rules (`file:line`) that probes were derived from but whose legacy counter no probe
/// moved, in file order, each with what decided their probes instead (those made to match it,
/// [`probes::REACHES_WHY`], where it has them): an earlier rule (the
/// mangle table's `--ctstate INVALID -j DROP` takes every packet without a connection), a
/// policy, or nothing that counted (the kernel dropped them). Their own behaviour is not
/// verified. A merged rule of fwnet's counts as reached when one of its lines was.
fn unreached_rules(results: &[ProbeResult], ir: &Ruleset) -> Vec<Unreached> {
    let reached: BTreeSet<&str> = results
        .iter()
        .flat_map(|r| &r.legacy.hits)
        .filter_map(|h| h.origin.as_deref())
        .collect();
    // Each rule's lines, by the origin its probes carry; and the IPv4 rules that test for a
    // non-first fragment (`-f`).
    let mut lines: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut non_first: BTreeSet<String> = BTreeSet::new();
    for t in &ir.tables {
        for r in t.chains.iter().flat_map(|c| &c.rules) {
            if let Some(o) = &r.origin {
                lines
                    .entry(o.to_string())
                    .or_default()
                    .extend(r.merged.iter().map(ToString::to_string));
                let is_non_first = |s: &Stmt| ipv4_fragment_test(s) == Some(CmpOp::Ne);
                if t.family == Family::Ip && r.stmts.iter().any(is_non_first) {
                    non_first.insert(o.to_string());
                }
            }
        }
    }
    let mut unreached: BTreeMap<&str, Vec<&ProbeResult>> = BTreeMap::new();
    for r in results {
        let Some(origin) = r.probe.origin.as_deref() else {
            continue;
        };
        let merged = lines.get(origin).map(Vec::as_slice).unwrap_or(&[]);
        if !reached.contains(origin) && !merged.iter().any(|o| reached.contains(o.as_str())) {
            unreached.entry(origin).or_default().push(r);
        }
    }
    let mut out: Vec<Unreached> = unreached
        .into_iter()
        .map(|(origin, played)| {
            // What decided the probes made to match the rule, where it has them (the others
            // are meant to miss it).
            let aimed: Vec<&&ProbeResult> = played
                .iter()
                .filter(|r| r.probe.why == probes::REACHES_WHY)
                .collect();
            let aimed = if aimed.is_empty() {
                played.iter().collect()
            } else {
                aimed
            };
            let mut by = BTreeSet::new();
            // A datagram for the server is reassembled before INPUT (ip_local_deliver), in
            // both kernels: no INPUT rule ever sees a non-first fragment.
            let reassembled = non_first.contains(origin)
                && aimed.iter().all(|r| {
                    r.probe.fragmented && r.probe.path == Path::Input && !r.probe.spec.is_ipv6()
                });
            if reassembled {
                by.insert(REASSEMBLED.to_string());
            }
            for r in aimed.into_iter().filter(|_| !reassembled) {
                let deciders = r.legacy.deciders();
                if deciders.is_empty() {
                    by.insert("nothing that counted it".to_string());
                }
                by.extend(deciders.iter().map(|h| match (h.index, &h.origin) {
                    (None, _) => format!("the policy of {}", h.chain),
                    (Some(_), Some(o)) => o.clone(),
                    (Some(i), None) => format!("rule {} of {}", i + 1, h.chain),
                }));
            }
            let mut decided_by: Vec<String> = by.into_iter().collect();
            decided_by.sort_by_key(|d| file_order(d));
            Unreached {
                origin: origin.to_string(),
                decided_by,
            }
        })
        .collect();
    out.sort_by_key(|u| file_order(&u.origin));
    out
}

/// What decides the packets of an IPv4 `-f` rule on INPUT, as [`Unreached::decided_by`] says.
pub const REASSEMBLED: &str =
    "the kernel, which reassembles an IPv4 datagram before INPUT, where `-f` never matches";

/// The operator of `ip frag-off & 0x1fff OP 0`: `!=` tests for a non-first IPv4 fragment
/// (`-f`), `==` for anything else (`! -f`, and fwnet's guard before transport tests).
fn ipv4_fragment_test(s: &Stmt) -> Option<CmpOp> {
    use fwnet_nft::{Expr, Field, Match, Value};
    match s {
        Stmt::Match(Match::Masked {
            left: Expr::Payload(Field::IpFragOff),
            mask,
            op,
            value: Value::Num(0),
        }) if **mask == Value::Num(0x1fff) => Some(*op),
        _ => None,
    }
}

/// `file:line` sorted by file, then line as a number.
fn file_order(origin: &str) -> (String, u32) {
    match origin.rsplit_once(':') {
        Some((file, line)) => (file.to_string(), line.parse().unwrap_or(u32::MAX)),
        None => (origin.to_string(), 0),
    }
}

/// Whether a nat rule (`iptables-save` text) maps every packet its matches match, the first
/// time and every time: no match that keeps state or draws lots.
fn takes_every_packet(rule: &str) -> bool {
    const CHANCY: &[&str] = &[
        "statistic",
        "limit",
        "hashlimit",
        "recent",
        "quota",
        "connlimit",
        "connbytes",
        "rateest",
        "nth",
        "random",
    ];
    let words: Vec<&str> = rule.split_whitespace().collect();
    !words
        .windows(2)
        .any(|w| matches!(w[0], "-m" | "--match") && CHANCY.contains(&w[1]))
}

/// Per-chain rule counters of one side at one moment.
#[derive(Default)]
struct Snapshot {
    rules: BTreeMap<String, Vec<u64>>,
    policy: BTreeMap<String, u64>,
    /// What the rules say and where they come from, read once per side and family.
    texts: Arc<ChainTexts>,
}

/// Per chain, each rule on that side: its text, its origin (`file:line`) and whether it ends
/// evaluation (accept, drop, reject).
type ChainTexts = BTreeMap<String, Vec<RuleText>>;

#[derive(Clone, Debug, Default)]
struct RuleText {
    text: String,
    origin: Option<String>,
    terminal: bool,
    /// A nat rule that gives a mapping (`dnat`, `snat`, `masquerade`, `redirect`).
    maps: bool,
}

/// Where each rule of the legacy kernel's `family` filter table comes from, per chain, found by
/// replaying the files' `-A` and `-I` commands (iptables-save files hold no others for rules).
/// Independent of the translation: fwnet may merge rules, the kernel keeps every one.
fn legacy_origins(
    originals: &[Original],
    family: Family,
    table: &str,
) -> BTreeMap<String, Vec<String>> {
    let mut chains: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for o in originals.iter().filter(|o| o.family == family) {
        let mut in_table = false;
        for (n, line) in o.text.lines().enumerate() {
            let line = line.trim();
            if let Some(name) = line.strip_prefix('*') {
                in_table = name.trim() == table;
                continue;
            }
            if !in_table {
                continue;
            }
            let mut words = line.split_whitespace().peekable();
            // `iptables-save -c` puts the counters first: `[0:0] -A INPUT ...`.
            words.next_if(|w| w.starts_with('[') && w.ends_with(']'));
            let (Some(cmd), Some(chain)) = (words.next(), words.next()) else {
                continue;
            };
            let at = format!("{}:{}", o.name, n + 1);
            let list = chains.entry(chain.to_string()).or_default();
            match cmd {
                "-A" | "--append" => list.push(at),
                "-I" | "--insert" => {
                    let pos = words
                        .next()
                        .and_then(|w| w.parse::<usize>().ok())
                        .map_or(0, |p| p.saturating_sub(1));
                    list.insert(pos.min(list.len()), at);
                }
                _ => {}
            }
        }
    }
    chains
}

/// The target an `iptables-save` rule jumps to (`ACCEPT`, `DNAT`, a chain...).
fn legacy_target(rule: &str) -> Option<&str> {
    let mut words = rule.split_whitespace();
    while let Some(w) = words.next() {
        if w == "-j" || w == "--jump" {
            return words.next();
        }
    }
    None
}

/// Whether an `iptables-save` rule of `table` decides the packet's fate ([`Counted::decides`]).
fn legacy_terminal(table: &Counted, rule: &str) -> bool {
    match legacy_target(rule) {
        Some("ACCEPT") => table.decides(true),
        Some("DROP" | "REJECT") => table.decides(false),
        _ => false,
    }
}

/// Rule texts of the legacy side per family (true: IPv6), filled by the first snapshot of each
/// family.
type TextCache = std::sync::Mutex<BTreeMap<bool, Arc<ChainTexts>>>;

/// The families (true: IPv6) whose legacy counters are read from the kernel's tables
/// ([`legacy::read`]) after the first snapshot, which found that reading the same as
/// `iptables-save -c`.
type Direct = std::sync::Mutex<BTreeSet<bool>>;

/// The legacy side's counters of `family`: the filter table's, and those of the other
/// [`COUNTED`] tables (chains named `nat CHAIN`, `mangle CHAIN`, ...). The first snapshot of a
/// family runs `iptables-save -c`, for the rule texts too; it also reads the kernel's tables,
/// and when both give the same chains and rules, later snapshots read only those.
fn legacy_snapshot(
    site: &Site,
    originals: &[Original],
    family: Family,
    cache: &TextCache,
    direct: &Direct,
) -> Result<Snapshot, String> {
    let mut cache = cache.lock().unwrap_or_else(|p| p.into_inner());
    let v6 = family == Family::Ip6;
    let cached = cache.get(&v6).cloned();
    let mut direct = direct.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(texts) = cached.as_ref().filter(|_| direct.contains(&v6)) {
        let tables = site.server.try_run_in(|| legacy::read(family))??;
        let mut snap = kernel_snapshot(tables);
        snap.texts = Arc::clone(texts);
        return Ok(snap);
    }
    let text = site.server.exec(legacy_tool(family, "save"), &["-c"])?;
    // Rule texts are read on the first snapshot only.
    let origins = |table: &str| legacy_origins(originals, family, table);
    let mut snap = save_snapshot(&text, cached.is_none().then_some(&origins as &Origins));
    if cached.is_none() {
        let read = site.server.try_run_in(|| legacy::read(family));
        if let Ok(Ok(tables)) = read {
            if same_rules(&kernel_snapshot(tables), &snap) {
                direct.insert(v6);
            }
        }
    }
    if let Some(texts) = cached {
        snap.texts = texts;
    }
    cache.insert(v6, Arc::clone(&snap.texts));
    Ok(snap)
}

/// A table's legacy rule origins per chain ([`legacy_origins`]), by table name.
type Origins<'a> = dyn Fn(&str) -> BTreeMap<String, Vec<String>> + 'a;

/// The [`Snapshot`] of one `iptables-save -c` output: the [`COUNTED`] tables' rule counters
/// (chains named `nat CHAIN`, ...) and the filter table's policies; with `origins` (a table's
/// rule origins per chain, [`legacy_origins`]), the rule texts too, else none.
fn save_snapshot(text: &str, origins: Option<&Origins>) -> Snapshot {
    let mut snap = Snapshot::default();
    let mut texts = ChainTexts::new();
    for (name, section) in save_sections(text) {
        let Some(table) = COUNTED.iter().find(|t| t.legacy == name) else {
            continue;
        };
        let part = parse_save_counters(
            table,
            section,
            origins.map(|o| o(name)),
            origins.is_none().then(Arc::default),
        );
        let named = |chain: String| format!("{}{chain}", table.prefix);
        snap.rules
            .extend(part.rules.into_iter().map(|(c, v)| (named(c), v)));
        // Only the filter table's policies decide a verdict here (fwnet's side has no policy
        // counters at all, and a nat chain's policy never decides).
        if table.legacy == "filter" {
            snap.policy.extend(part.policy);
        }
        if origins.is_some() {
            let part_texts = Arc::unwrap_or_clone(part.texts);
            texts.extend(part_texts.into_iter().map(|(c, v)| (named(c), v)));
        }
    }
    snap.texts = Arc::new(texts);
    snap
}

/// A [`Snapshot`] without texts from the kernel's tables, keyed as [`legacy_snapshot`] keys
/// `iptables-save -c`: chains with rules only, policies of the filter table (a user chain's
/// as 0, as the save prints `- [0:0]`).
fn kernel_snapshot(tables: Vec<(String, Vec<legacy::Chain>)>) -> Snapshot {
    let mut snap = Snapshot::default();
    for (name, chains) in tables {
        let Some(table) = COUNTED.iter().find(|t| t.legacy == name) else {
            continue;
        };
        for chain in chains {
            if table.legacy == "filter" {
                snap.policy
                    .insert(chain.name.clone(), chain.policy.unwrap_or(0));
            }
            if !chain.rules.is_empty() {
                snap.rules
                    .insert(format!("{}{}", table.prefix, chain.name), chain.rules);
            }
        }
    }
    snap
}

/// Whether two snapshots have the same chains with as many rules each (their counters may
/// differ: the kernel sends packets of its own between two readings).
fn same_rules(a: &Snapshot, b: &Snapshot) -> bool {
    a.rules.len() == b.rules.len()
        && a.rules
            .iter()
            .zip(&b.rules)
            .all(|((c, r), (d, s))| c == d && r.len() == s.len())
        && a.policy.keys().eq(b.policy.keys())
}

/// The sections of `iptables-save` output: each table's name and its text, from its `*name`
/// line to the next one.
fn save_sections(text: &str) -> Vec<(&str, &str)> {
    let mut starts = Vec::new();
    let mut at = 0;
    for line in text.split_inclusive('\n') {
        if let Some(name) = line.strip_prefix('*') {
            starts.push((name.trim(), at));
        }
        at += line.len();
    }
    starts
        .iter()
        .enumerate()
        .map(|(i, &(name, from))| {
            let to = starts.get(i + 1).map_or(text.len(), |&(_, next)| next);
            (name, &text[from..to])
        })
        .collect()
}

/// Whether rule `i` of chain `chain` of fwnet's `table` decides the packet's fate, as
/// [`legacy_terminal`] says of the legacy side's rules.
fn is_terminal(ir: &Ruleset, family: Family, table: &Counted, chain: &str, i: usize) -> bool {
    let rule = probes::table_of(ir, family, table.fwnet)
        .and_then(|t| t.chains.iter().find(|c| c.name == chain))
        .and_then(|c| c.rules.get(i));
    let ends = |v: &fwnet_nft::Verdict| match v {
        fwnet_nft::Verdict::Drop => table.decides(false),
        fwnet_nft::Verdict::Accept => table.decides(true),
        _ => false,
    };
    rule.is_some_and(|r| {
        r.stmts.iter().any(|s| match s {
            Stmt::Reject(_) => table.decides(false),
            // A verdict map decides the packets it holds when every entry is final.
            Stmt::Vmap { map, .. } => map.iter().all(|e| ends(&e.verdict)),
            Stmt::Verdict(v) => ends(v),
            _ => false,
        })
    })
}

/// Whether an `iptables-save` rule of the nat table gives a mapping.
fn legacy_maps(rule: &str) -> bool {
    matches!(
        legacy_target(rule),
        Some("DNAT" | "SNAT" | "MASQUERADE" | "REDIRECT" | "NETMAP")
    )
}

/// Reads the `iptables-save -c` output of `table`: `:CHAIN POLICY [p:b]` and `[p:b] -A CHAIN
/// ...` lines.
/// Rule texts are read only when `texts` is None (they never change during a run), and then
/// labelled with `origins` (see [`legacy_origins`]).
fn parse_save_counters(
    table: &Counted,
    text: &str,
    origins: Option<BTreeMap<String, Vec<String>>>,
    texts: Option<Arc<ChainTexts>>,
) -> Snapshot {
    let mut snap = Snapshot::default();
    let mut new_texts = texts.is_none().then(ChainTexts::new);
    let packets = |s: &str| {
        s.trim_start_matches('[')
            .split(':')
            .next()
            .and_then(|p| p.parse::<u64>().ok())
            .unwrap_or(0)
    };
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix(':') {
            let w: Vec<&str> = rest.split_whitespace().collect();
            if let [chain, _policy, counters] = w[..] {
                snap.policy.insert(chain.to_string(), packets(counters));
            }
        } else if let Some((counters, rule)) =
            line.strip_prefix('[').and_then(|l| l.split_once("] "))
        {
            let chain = rule.split_whitespace().nth(1).unwrap_or("");
            let list = match snap.rules.get_mut(chain) {
                Some(l) => l,
                None => snap.rules.entry(chain.to_string()).or_default(),
            };
            if let Some(t) = &mut new_texts {
                let origin = origins
                    .as_ref()
                    .and_then(|o| o.get(chain))
                    .and_then(|o| o.get(list.len()))
                    .cloned();
                t.entry(chain.to_string()).or_default().push(RuleText {
                    text: rule.to_string(),
                    origin,
                    terminal: legacy_terminal(table, rule),
                    maps: table.legacy == "nat" && legacy_maps(rule),
                });
            }
            list.push(packets(counters));
        }
    }
    snap.texts = match (texts, new_texts) {
        (Some(t), _) => t,
        (None, t) => Arc::new(t.unwrap_or_default()),
    };
    snap
}

/// Rule texts and origins of fwnet's side per family (true: IPv6), read once: positions never
/// change during a run.
type Labels = BTreeMap<bool, Arc<ChainTexts>>;

/// `loaded` is what fwnet's side loaded; with `inet`, its inet table is read through
/// [`inet_view`] and rule positions are those of `per_family`.
/// Chains as `fwnet status` reads them: name, and each rule's text and origin.
type Chains = Vec<(String, Vec<(String, Option<String>)>)>;

fn fwnet_labels(
    site: &Site,
    loaded: &Ruleset,
    per_family: &Ruleset,
    inet: bool,
) -> Result<Labels, String> {
    let family_of_table = |f: &str| if f == "ip6" { Family::Ip6 } else { Family::Ip };
    let tables = site
        .server
        .try_run_in(|| crate::status(Some(loaded)))?
        .map_err(|e| format!("reading fwnet's rules: {e}"))?;
    let mut labels: BTreeMap<bool, ChainTexts> = BTreeMap::new();
    let wanted: &[&str] = if inet { &["inet"] } else { &["ip", "ip6"] };
    for t in tables.into_iter().filter(|t| wanted.contains(&t.family)) {
        let Some(table) = COUNTED.iter().find(|c| c.fwnet == t.name) else {
            continue;
        };
        let nat = table.legacy == "nat";
        let chains: Chains = t
            .chains
            .into_iter()
            .map(|c| {
                let rules = c.rules.into_iter().map(|r| (r.text, r.origin)).collect();
                (c.name, rules)
            })
            .collect();
        let views: Vec<(Family, Chains)> = if inet {
            [Family::Ip, Family::Ip6]
                .into_iter()
                .map(|f| (f, inet_view(chains.clone(), f, per_family, &t.name)))
                .collect()
        } else {
            vec![(family_of_table(t.family), chains)]
        };
        for (family, chains) in views {
            let texts = labels.entry(family == Family::Ip6).or_default();
            for (name, rules) in chains {
                let rules = rules
                    .into_iter()
                    .enumerate()
                    .map(|(i, (text, origin))| RuleText {
                        terminal: is_terminal(per_family, family, table, &name, i),
                        maps: nat && maps(per_family, family, &name, i),
                        text,
                        origin,
                    })
                    .collect();
                texts.insert(format!("{}{name}", table.prefix), rules);
            }
        }
    }
    Ok(labels.into_iter().map(|(k, v)| (k, Arc::new(v))).collect())
}

/// Whether rule `i` of nat chain `chain` gives a mapping.
fn maps(ir: &Ruleset, family: Family, chain: &str, i: usize) -> bool {
    probes::nat_table_of(ir, family)
        .and_then(|t| t.chains.iter().find(|c| c.name == chain))
        .and_then(|c| c.rules.get(i))
        .is_some_and(|r| r.stmts.iter().any(|s| matches!(s, Stmt::Nat(_))))
}

/// The chains of `family` in an inet table `name` made by [`fwnet_nft::inet::merge`], as
/// they were in the per-family table of `per_family`: the family's suffix taken off the names,
/// and the `meta nfproto` rule the merge put first in each base chain left out.
fn inet_view<T>(
    chains: Vec<(String, Vec<T>)>,
    family: Family,
    per_family: &Ruleset,
    name: &str,
) -> Vec<(String, Vec<T>)> {
    let suffix = fwnet_nft::inet::suffix(family);
    let table = per_family
        .tables
        .iter()
        .find(|t| t.family == family && t.name == name);
    chains
        .into_iter()
        .filter_map(|(name, mut rules)| {
            let name = name.strip_suffix(suffix)?.to_string();
            let chain = table?.chains.iter().find(|c| c.name == name)?;
            if chain.base.is_some() && !rules.is_empty() {
                rules.remove(0);
            }
            Some((name, rules))
        })
        .collect()
}

fn fwnet_snapshot(
    site: &Site,
    labels: &Labels,
    family: Family,
    inet: Option<&Ruleset>,
) -> Result<Snapshot, String> {
    let table_family = if inet.is_some() { Family::Inet } else { family };
    let texts = labels
        .get(&(family == Family::Ip6))
        .cloned()
        .unwrap_or_default();
    let mut rules = BTreeMap::new();
    for table in &COUNTED {
        // The tables fwnet's side loaded for this family, as its rule texts were read.
        if !texts
            .keys()
            .any(|k| std::ptr::eq(Counted::of_chain(k), table))
        {
            continue;
        }
        let counters = site
            .server
            .try_run_in(|| crate::rule_counters(table_family, table.fwnet))?
            .map_err(|e| format!("reading fwnet's counters: {e}"))?;
        let counters = match inet {
            Some(per_family) => inet_view(counters, family, per_family, table.fwnet),
            None => counters,
        };
        rules.extend(
            counters
                .into_iter()
                .map(|(chain, v)| (format!("{}{chain}", table.prefix), v)),
        );
    }
    Ok(Snapshot {
        rules,
        policy: BTreeMap::new(),
        texts,
    })
}

fn hits(before: &Snapshot, after: &Snapshot, chains: &[String]) -> Vec<RuleHit> {
    let mut out = Vec::new();
    for chain in chains {
        // A chain without rules (FORWARD DROP and nothing else) still has its policy's.
        let empty = Vec::new();
        let b = before.rules.get(chain).unwrap_or(&empty);
        let a = after.rules.get(chain).unwrap_or(&empty);
        let texts = after.texts.get(chain);
        for (i, (pb, pa)) in b.iter().zip(a).enumerate() {
            if pa > pb {
                let r = texts.and_then(|t| t.get(i)).cloned().unwrap_or_default();
                out.push(RuleHit {
                    chain: chain.clone(),
                    index: Some(i),
                    packets: pa - pb,
                    origin: r.origin,
                    text: r.text,
                    terminal: r.terminal,
                    maps: r.maps,
                });
            }
        }
        if let (Some(pb), Some(pa)) = (before.policy.get(chain), after.policy.get(chain)) {
            if pa > pb {
                out.push(RuleHit {
                    chain: chain.clone(),
                    index: None,
                    packets: pa - pb,
                    origin: None,
                    text: "policy".into(),
                    terminal: false,
                    maps: false,
                });
            }
        }
    }
    out
}

/// How long the bucket of rate limit `l` takes to fill again once a burst emptied it; `None`
/// when that is longer than [`SETTLE_MAX`] (such a limit gains a token so rarely that no probe
/// races it: `--limit 1/minute`).
fn refill(l: &Limit) -> Option<Duration> {
    (l.rate > 0)
        .then(|| {
            Duration::from_millis(u64::from(l.burst.max(1)) * l.unit.seconds() * 1000 / l.rate)
        })
        .filter(|d| *d <= SETTLE_MAX)
}

/// The rate limits of a ruleset whose buckets fill within [`SETTLE_MAX`] (`limit rate`, and
/// the per-key one of `update @set`), gathered once per run: what a burst probe may leave
/// empty for the probes after it.
struct Buckets<'a> {
    limits: Vec<Bucket<'a>>,
    /// Whether the ruleset has a NAT statement, so that a packet's addresses and ports may
    /// differ from one chain to the next.
    rewrites: bool,
}

struct Bucket<'a> {
    table: &'a Table,
    /// The statements before the limit in its rule.
    before: &'a [Stmt],
    refill: Duration,
    /// Whether the server's own packets meet its chain: output and postrouting base chains
    /// and the chains they reach.
    answered: bool,
}

impl<'a> Buckets<'a> {
    fn of(ir: &'a Ruleset) -> Buckets<'a> {
        use fwnet_nft::Hook;
        let mut limits = Vec::new();
        for t in &ir.tables {
            let bases = t
                .chains
                .iter()
                .filter(|c| {
                    c.base
                        .as_ref()
                        .is_some_and(|b| matches!(b.hook, Hook::Output | Hook::Postrouting))
                })
                .map(|c| c.name.clone())
                .collect();
            let answered = reachable_in(Some(t), bases);
            for c in &t.chains {
                for r in &c.rules {
                    for (i, s) in r.stmts.iter().enumerate() {
                        let l = match s {
                            Stmt::Limit(l) => l,
                            Stmt::SetUpdate { limit: Some(l), .. } => l,
                            _ => continue,
                        };
                        if let Some(refill) = refill(l) {
                            limits.push(Bucket {
                                table: t,
                                before: &r.stmts[..i],
                                refill,
                                answered: answered.contains(&c.name),
                            });
                        }
                    }
                }
            }
        }
        Buckets {
            limits,
            rewrites: nats(ir).next().is_some(),
        }
    }

    /// The longest refill of all: what [`Buckets::settle_after`] waits after a burst it
    /// cannot describe to the interpreter.
    fn longest(&self) -> Duration {
        self.limits
            .iter()
            .map(|b| b.refill)
            .max()
            .unwrap_or_default()
    }

    /// How long to wait after a burst of `probe` (`count` > 1) before the next probe: the
    /// longest refill among the rate limits its packets may have drained.
    ///
    /// A limit counts unless a test before it in its rule is known to fail for the burst's
    /// packets ([`eval::fails_before`]), reading only what they keep from the wire to every
    /// chain they meet: the protocol, the icmp type and code of an echo or other crafted icmp
    /// packet, and the addresses and destination port where no NAT statement can rewrite them
    /// and the packets go whole. Interfaces, marks, conntrack, tcp flags and source ports count
    /// as passing. So do all tests in the chains the server's own packets meet: the server
    /// answers a burst there (echo replies, SYN-ACKs, resets, icmp errors), with other
    /// addresses, flags and types. A datagram or connection the server sends first is not
    /// described: every limit counts for it.
    fn settle_after(&self, probe: &Probe) -> Duration {
        use fwnet_nft::eval::{self, Device};
        use fwnet_nft::{Expr, Field, MetaKey};
        let icmp = if probe.spec.is_ipv6() { 58 } else { 1 };
        // The protocol, destination port and icmp type and code of the burst's packets, and
        // whether the last two are what `crafted` sends.
        let (l4proto, dport, (icmp_type, icmp_code), own_icmp) = match probe.spec {
            Spec::Tcp { dport, .. } => (6, dport, (0, 0), false),
            Spec::Udp {
                dport,
                reply: false,
                ..
            } => (17, dport, (0, 0), false),
            Spec::Icmp { kind, code, .. } => (icmp, 0, (kind, code), true),
            Spec::Established { proto, dport, .. } => (proto, dport, (0, 0), false),
            Spec::Ip { proto, .. } => (proto, 0, (0, 0), false),
            Spec::Udp { reply: true, .. } | Spec::Related { .. } | Spec::Connect { .. } => {
                return self.longest()
            }
        };
        let pkt = eval::Packet {
            iifname: Device::Unknown,
            oifname: Device::Unknown,
            saddr: probe.spec.src(),
            daddr: probe.spec.dst(),
            l4proto,
            sport: 0,
            dport,
            tcp_flags: 0,
            icmp_type,
            icmp_code,
            ct_state: 0,
            mark: None,
            ct_mark: None,
        };
        let fixed = !probe.fragmented && !self.rewrites;
        let trusted = |e: &Expr| match e {
            Expr::Meta(MetaKey::L4proto | MetaKey::Nfproto) | Expr::Payload(Field::IpProtocol) => {
                true
            }
            Expr::Payload(
                Field::IcmpType | Field::IcmpCode | Field::Icmpv6Type | Field::Icmpv6Code,
            ) => own_icmp,
            Expr::Payload(
                Field::IpSaddr
                | Field::Ip6Saddr
                | Field::IpDaddr
                | Field::Ip6Daddr
                | Field::TcpDport
                | Field::UdpDport
                | Field::ThDport,
            ) => fixed,
            _ => false,
        };
        let v6 = probe.spec.is_ipv6();
        self.limits
            .iter()
            .filter(|b| match b.table.family {
                Family::Ip => !v6,
                Family::Ip6 => v6,
                Family::Inet => true,
            })
            .filter(|b| b.answered || !eval::fails_before(b.table, b.before, &pkt, trusted))
            .map(|b| b.refill)
            .max()
            .unwrap_or_default()
    }
}

/// The longest refill a burst probe waits for ([`refill`]).
const SETTLE_MAX: Duration = Duration::from_secs(3);

/// Plays every probe in order on `site`; one [`Side`] per probe. A link that never carries a
/// frame is [`Error::NotObserved`] (worth a rerun), other failures [`Error::Setup`].
fn play(
    site: &Site,
    all: &[Probe],
    snapshot: &dyn Fn(Family) -> Result<Snapshot, String>,
    ir: &Ruleset,
    lockstep: &Lockstep,
    progress: Option<fn(usize, usize)>,
    ct_zones: Option<&[u16]>,
) -> Result<Vec<Side>, Error> {
    // Whatever way this side ends, the other no longer waits for it.
    let _leave = Leave(lockstep);
    let open = || -> Result<_, String> {
        let senders: Vec<(String, LinkSender)> = site.client.try_run_in(|| {
            site.links
                .iter()
                .map(|l| LinkSender::open(&l.name, l.server_mac()).map(|s| (l.name.clone(), s)))
                .collect::<Result<Vec<_>, String>>()
        })??;
        let from_server = site.server.try_run_in(RawSender::open)??;
        let others: BTreeSet<u8> = all
            .iter()
            .filter_map(|p| match p.spec {
                Spec::Ip { proto, .. } => Some(proto),
                _ => None,
            })
            .collect();
        let others: Vec<u8> = others.into_iter().collect();
        Ok((
            senders,
            from_server,
            Observer::start(&site.server, &others)?,
        ))
    };
    let (senders, from_server, mut observer) = open().map_err(Error::Setup)?;
    let ct = match ct_zones {
        Some(zones) => Some(CtWatch::open(site, zones).map_err(Error::Setup)?),
        None => None,
    };
    for (n, (name, sender)) in senders.iter().enumerate() {
        ready(&mut observer, sender, n as u32).map_err(|e| Error::NotObserved {
            probe: format!("readiness frame on link {name} ({e})"),
            attempts: 1,
        })?;
    }
    let mut tools = Tools {
        senders,
        from_server,
        observer,
        ct,
    };
    play_probes(site, all, snapshot, ir, lockstep, progress, &mut tools).map_err(Error::Setup)
}

/// What one side sends and observes with.
struct Tools {
    /// One sender per link, by the link's name.
    senders: Vec<(String, LinkSender)>,
    /// For probes the server sends to itself (`iif lo`).
    from_server: RawSender,
    observer: Observer,
    /// How each probe's conntrack entry is read; `None` when entries are not compared.
    ct: Option<CtWatch>,
}

/// How a side reads its probes' conntrack entries. Its sockets were opened in the server's
/// namespace and stay bound to it, whichever thread uses them.
struct CtWatch {
    /// The zones an entry is looked up in: the default one, then those the rules use.
    zones: Vec<u16>,
    /// For the lookups.
    session: crate::session::Session,
    /// conntrack's events in the server's namespace, for a connection that ended before its
    /// lookup.
    events: crate::socket::Socket,
}

impl CtWatch {
    fn open(site: &Site, zones: &[u16]) -> Result<CtWatch, String> {
        let (session, events) = site.server.try_run_in(|| {
            (
                crate::session::Session::open(),
                crate::socket::Socket::open_conntrack_events(),
            )
        })?;
        Ok(CtWatch {
            zones: zones.to_vec(),
            session: session.map_err(|e| format!("conntrack: {e}"))?,
            events: events.map_err(|e| format!("conntrack events: {e}"))?,
        })
    }

    /// Forgets the events so far: those that follow are the next probe's.
    fn forget(&mut self) -> Result<(), String> {
        self.last_of(None).map(|_| ())
    }

    /// Reads the events since the last call, and returns what the last that tells of the
    /// connection `lookup` names says of it.
    fn last_of(
        &mut self,
        lookup: Option<&conntrack::Lookup>,
    ) -> Result<Option<conntrack::Entry>, String> {
        let mut buf = Vec::new();
        let mut last = None;
        while self
            .events
            .recv(&mut buf, false)
            .map_err(|e| format!("conntrack events: {e}"))?
            .is_some()
        {
            let Some(lookup) = lookup else { continue };
            for r in fwnet_netlink::parse_replies(&buf) {
                let r = r.map_err(|e| format!("a conntrack event: {e}"))?;
                if let fwnet_netlink::ReplyBody::Other(payload) = r.body {
                    let e = conntrack::read_entry(&payload)
                        .map_err(|e| format!("a conntrack event: {e}"))?;
                    if e.original.as_ref() == Some(lookup) {
                        // The event of a connection's end leaves its helper out: an earlier
                        // one told it.
                        let helper = e.helper.clone().or_else(|| {
                            last.as_ref()
                                .and_then(|l: &conntrack::Entry| l.helper.clone())
                        });
                        last = Some(conntrack::Entry { helper, ..e });
                    }
                }
            }
        }
        Ok(last)
    }

    /// The conntrack entry of the connection the packet `k` opened or belongs to: as the table
    /// holds it now (looked up in each zone in turn), else as the last event since
    /// [`CtWatch::forget`] told it (a connection that ended already: a SYN to a closed port is
    /// answered with a RST, which ends its connection at once), else [`Tracked::NoEntry`].
    /// `None` when `k` is of no kind a lookup can name (tcp, udp and the icmp queries
    /// conntrack tracks).
    fn tracked(&mut self, k: &PacketKey) -> Result<Option<Tracked>, String> {
        let Some(lookup) = lookup_of(k) else {
            return Ok(None);
        };
        let ended = self.last_of(Some(&lookup))?;
        let mut now = None;
        for zone in &self.zones {
            let seq = self.session.next_seq(1);
            match (self.session)
                .fetched(&conntrack::get(&lookup, *zone, seq))
                .map_err(|e| format!("conntrack: {e}"))?
            {
                (0, Some(payload)) => {
                    let e = conntrack::read_entry(&payload)
                        .map_err(|e| format!("a conntrack entry: {e}"))?;
                    now = Some(e);
                    break;
                }
                (libc::ENOENT, _) => {}
                (0, None) => return Err("conntrack answered a lookup with no entry".into()),
                (errno, _) => {
                    return Err(format!(
                        "looking a connection up in conntrack: {}",
                        crate::session::errno_text(errno)
                    ))
                }
            }
        }
        Ok(Some(match now.or(ended) {
            Some(e) => Tracked::Entry {
                mark: e.mark,
                zone: e.zone,
                helper: e.helper,
            },
            None => Tracked::NoEntry,
        }))
    }
}

fn play_probes(
    site: &Site,
    all: &[Probe],
    snapshot: &dyn Fn(Family) -> Result<Snapshot, String>,
    ir: &Ruleset,
    lockstep: &Lockstep,
    progress: Option<fn(usize, usize)>,
    tools: &mut Tools,
) -> Result<Vec<Side>, String> {
    let Tools {
        senders,
        from_server,
        observer,
        ct,
    } = tools;
    let mut next_id: u16 = 0x1000;
    let mut next_barrier: u32 = PROBE_BARRIERS;
    let mut out = Vec::with_capacity(all.len());
    // Per family and path, and for a packet the server sends itself over `lo`, which meets
    // OUTPUT before INPUT.
    let mut chains: BTreeMap<(bool, Path, bool), Vec<String>> = BTreeMap::new();
    for f in [Family::Ip, Family::Ip6] {
        for path in [Path::Input, Path::Forward, Path::Output] {
            let mut on_path = reachable_chains(ir, f, path);
            // A `dnat` can send a packet addressed to the server on through FORWARD, whose
            // rules then decide it.
            if path == Path::Input && has_dnat(ir) {
                for c in reachable_chains(ir, f, Path::Forward) {
                    if !on_path.contains(&c) {
                        on_path.push(c);
                    }
                }
            }
            chains.insert((f == Family::Ip6, path, false), on_path);
        }
        let mut over_lo = reachable_chains(ir, f, Path::Output);
        for c in &chains[&(f == Family::Ip6, Path::Input, false)] {
            if !over_lo.contains(c) {
                over_lo.push(c.clone());
            }
        }
        chains.insert((f == Family::Ip6, Path::Input, true), over_lo);
    }
    // Counters of each family as the previous probe of that family left them.
    let mut last: BTreeMap<bool, Snapshot> = BTreeMap::new();
    let buckets = Buckets::of(ir);
    let mut settle = Duration::ZERO;
    // nf_conncount collects a list's closed connections at most once a jiffy (`if
    // ((u32)jiffies == list->last_gc) goto add_new_node`): a connection the previous probe's
    // reset closed still counts when the next probe comes within the same jiffy, and whether
    // it does depends on each side's timing. Each probe of a ruleset that counts connections
    // waits until the jiffies have moved on since the previous one ended, on both sides.
    let pace = counts_connections(ir).then(Jiffies::read);
    let mut previous_end: Option<Duration> = None;
    for probe in all {
        if let (Some(jiffies), Some(end)) = (pace, previous_end) {
            jiffies.wait_past(end);
        }
        if !settle.is_zero() {
            // The burst drained a rate limit's bucket; the probes after it would meet a bucket
            // a token at a time, and which of them gets one depends on timing (and on packets
            // the kernel sends by itself) that the two sides never share exactly. Both sides
            // wait for it to fill again, and read their counters afresh.
            thread::sleep(settle);
            last.clear();
        }
        settle = match probe.count > 1 {
            true => buckets.settle_after(probe),
            false => Duration::ZERO,
        };
        if probe.wait_ms > 0 {
            thread::sleep(Duration::from_millis(u64::from(probe.wait_ms)));
        }
        let family = family_of(probe);
        let v6 = family == Family::Ip6;
        let before = match last.remove(&v6) {
            Some(s) => s,
            None => snapshot(family)?,
        };
        lockstep.meet();
        let link = match probe.iif.as_deref() {
            None => &site.links[0],
            Some(name) => site.link(name).unwrap_or(&site.links[0]),
        };
        let sender = senders
            .iter()
            .find(|(n, _)| *n == link.name)
            .map(|(_, s)| s);
        let (mut rewritten, mut packet_mark, mut header) = (None, None, Changed::default());
        let mut entry = None;
        let verdict = match &probe.spec {
            Spec::Connect {
                src,
                sport,
                dst,
                dport,
            } => connect(site, link, observer, *src, *sport, *dst, *dport)?,
            spec => {
                let mut packets = Vec::new();
                let routed = probe.path != Path::Input;
                if let Spec::Udp {
                    reply: true,
                    src,
                    sport,
                    dst,
                    dport,
                }
                | Spec::Related {
                    src,
                    sport,
                    dst,
                    dport,
                } = spec
                {
                    if !routed {
                        server_datagram(site, from_server, link, (*dst, *dport), (*src, *sport))?;
                    }
                }
                let flows = written_flows(spec, probe.path, probe.count);
                write_flows(site, &flows, true)?;
                for i in 0..probe.count {
                    let mut p = crafted(spec, i)?
                        .with_id(next_id)
                        .with_routing(probe.routing);
                    if let (true, L4::Tcp { dport, .. } | L4::Udp { dport, .. }) =
                        (probe.fragmented && p.is_ipv6(), &p.l4)
                    {
                        // On a non-first IPv6 fragment nft's transport offset is 0, so a port
                        // test without fwnet's guard reads the flow label's low 16 bits as the
                        // destination port: they are the port, and such a test would match.
                        let flow = u32::from(next_id & 0xf) << 16 | u32::from(*dport);
                        p = p.with_flow(flow);
                    }
                    next_id = next_id.checked_add(1).filter(|n| *n != 0).unwrap_or(0x1000);
                    packets.push(p);
                }
                // Each packet as it goes on the wire: whole, or its two fragments.
                let wire: Vec<Vec<Vec<u8>>> = packets
                    .iter()
                    .map(|p| match probe.fragmented {
                        true => p.fragments().to_vec(),
                        false => vec![p.to_bytes()],
                    })
                    .collect();
                // What the observer waits for, per packet: the packet; in two fragments, each
                // fragment, which a routed datagram leaves the server as, or for local
                // delivery the first, whose key the reassembled datagram a raw socket gets has
                // (the transport header, with the length and checksum of the whole).
                let per_packet: Vec<Vec<PacketKey>> = wire
                    .iter()
                    .map(|pieces| {
                        let waited = if routed { &pieces[..] } else { &pieces[..1] };
                        waited
                            .iter()
                            .map(|b| {
                                PacketKey::of(b)
                                    .ok_or("crafted packet too short for a key".to_string())
                            })
                            .collect()
                    })
                    .collect::<Result<_, _>>()?;
                if routed {
                    let out = match probe.oif.as_deref() {
                        Some(name) => site.link(name).unwrap_or(&site.links[0]),
                        None => &site.links[0],
                    };
                    site.server
                        .ip_batch(&[forward_route(spec.dst(), out, true)])?;
                }
                // A probe for `-m owner` leaves from a socket of that owner's.
                let sent = probe.sent_by_server();
                let owned = match probe.owner {
                    Some(o) if sent => Some(
                        site.server
                            .try_run_in(|| RawSender::open_as(o.uid, o.gid))??,
                    ),
                    _ => None,
                };
                let server_sends: &RawSender = owned.as_ref().unwrap_or(from_server);
                let mark = observer.mark()?;
                if let Some(ct) = ct.as_mut() {
                    ct.forget()?;
                }
                // Per key: whether the server's own OUTPUT refused its packet.
                let mut refused = Vec::with_capacity(packets.len());
                // A client sends from one CPU, and a barrier behind its packets.
                let one_cpu = match (sent, sender) {
                    (false, Some(_)) => OneCpu::hold(),
                    _ => None,
                };
                for ((p, pieces), keys) in packets.iter().zip(&wire).zip(&per_packet) {
                    let r = match (sent, sender) {
                        // The server's own OUTPUT may refuse it: then INPUT never sees it.
                        (true, _) => !server_sends.try_send(p)?,
                        (false, Some(s)) => s.send_pieces(p, pieces).map(|()| false)?,
                        (false, None) => return Err(format!("no link {}", link.name)),
                    };
                    refused.extend(keys.iter().map(|_| r));
                }
                if let (Some(_), Some(s)) = (&one_cpu, sender) {
                    next_barrier = next_barrier.wrapping_add(1) | PROBE_BARRIERS;
                    s.send_barrier(next_barrier)?;
                    observer.barrier_follows(next_barrier);
                }
                drop(one_cpu);
                let keys: Vec<PacketKey> = per_packet.into_iter().flatten().collect();
                // Only what left is waited for; a refused packet is dropped already.
                let sent: Vec<PacketKey> = keys
                    .iter()
                    .zip(&refused)
                    .filter(|(_, r)| !**r)
                    .map(|(k, _)| *k)
                    .collect();
                let mut observed = if routed {
                    let v = observer.forward_verdicts(&sent, mark, probe.path == Path::Output)?;
                    site.server
                        .ip_batch(&[forward_route(spec.dst(), &site.links[0], false)])?;
                    v
                } else {
                    observer.verdicts(&sent, mark)?
                }
                .into_iter();
                // What NAT made of the first packet that got through, and its mark.
                let through = sent
                    .iter()
                    .find_map(|k| Some((k, observer.seen_as(k, routed)?)));
                rewritten = through.and_then(|(k, seen)| rewrite(k, &seen));
                packet_mark = through.and_then(|(k, _)| observer.mark_of(k, routed));
                // Every packet of a probe is sent with the same TOS and TTL.
                let crafted = packets.first().and_then(|p| Header::of(&p.to_bytes()));
                if let (Some(crafted), Some((seen, sent_out))) = (
                    crafted,
                    through.and_then(|(k, _)| observer.header_of(k, routed)),
                ) {
                    header = Changed::of(crafted, seen, sent_out && !probe.sent_by_server());
                }
                // Before a written connection is removed: its entry is the probe's.
                if let (Some(ct), Some((k, _))) = (ct.as_mut(), through) {
                    entry = ct.tracked(k)?;
                }
                write_flows(site, &flows, false)?;
                let seen: Vec<Seen> = refused
                    .iter()
                    .map(|r| match r {
                        true => Seen::Dropped,
                        false => observed.next().unwrap_or(Seen::NotReceived),
                    })
                    .collect();
                summarize(&seen)
            }
        };
        let after = snapshot(family)?;
        let no_chains = Vec::new();
        out.push(Side {
            verdict,
            rewritten,
            mark: packet_mark,
            tos: header.tos,
            ttl: header.ttl,
            conntrack: entry,
            hits: hits(
                &before,
                &after,
                chains
                    .get(&(v6, probe.path, probe.iif.as_deref() == Some("lo")))
                    .unwrap_or(&no_chains),
            ),
        });
        last.insert(v6, after);
        previous_end = pace.map(|j| j.now());
        if let Some(report) = progress {
            report(out.len(), all.len());
        }
    }
    Ok(out)
}

/// Lets the two sides start each probe together, so time-dependent state (rate-limit buckets
/// refilling) sees the same intervals on both. A side that ends, or a wait longer than
/// [`LOCKSTEP_WAIT`], releases the other for good: never a deadlock, at worst drift.
#[derive(Default)]
struct Lockstep {
    /// (sides waiting in this round, round number, released for good)
    state: std::sync::Mutex<(u32, u64, bool)>,
    turn: std::sync::Condvar,
}

const LOCKSTEP_WAIT: Duration = Duration::from_secs(10);

impl Lockstep {
    fn meet(&self) {
        let mut g = self.state.lock().unwrap_or_else(|p| p.into_inner());
        if g.2 {
            return;
        }
        let round = g.1;
        g.0 += 1;
        if g.0 == 2 {
            *g = (0, round + 1, false);
            self.turn.notify_all();
            return;
        }
        let deadline = Instant::now() + LOCKSTEP_WAIT;
        while g.1 == round && !g.2 {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                g.2 = true;
                self.turn.notify_all();
                return;
            }
            g = match self.turn.wait_timeout(g, left) {
                Ok((g, _)) => g,
                Err(p) => p.into_inner().0,
            };
        }
    }

    fn release(&self) {
        let mut g = self.state.lock().unwrap_or_else(|p| p.into_inner());
        g.2 = true;
        self.turn.notify_all();
    }
}

/// Releases a [`Lockstep`] when dropped.
struct Leave<'a>(&'a Lockstep);

impl Drop for Leave<'_> {
    fn drop(&mut self) {
        self.0.release();
    }
}

/// Waits until a barrier frame crosses the link (the link is up, its queue active), resending
/// every [`BARRIER_RESEND`]; gives up after [`BARRIER_TRIES`].
fn ready(observer: &mut Observer, sender: &LinkSender, link: u32) -> Result<(), String> {
    for i in 0..BARRIER_TRIES {
        let nonce = link << 16 | i;
        sender.send_barrier(nonce)?;
        if observer.barrier(nonce, BARRIER_RESEND)? {
            return Ok(());
        }
    }
    Err(format!(
        "no frame crossed it in {:?}",
        BARRIER_RESEND * BARRIER_TRIES
    ))
}

const BARRIER_RESEND: Duration = Duration::from_millis(250);
const BARRIER_TRIES: u32 = 40;

/// The barriers sent behind probes have this bit set; those of [`ready`] do not.
const PROBE_BARRIERS: u32 = 1 << 31;

/// What NAT changed in a packet the server let through, `seen` against what was `sent`: the
/// new destination (`dst 10.0.0.5:80`), the new source (`src 10.77.1.1`), or None. A source
/// port the kernel changed is only said to have changed (`src 10.77.1.1, port changed`):
/// where the original port is taken or out of range, SNAT picks one at random.
pub fn rewrite(sent: &PacketKey, seen: &PacketKey) -> Option<String> {
    let ports = matches!(
        i32::from(sent.protocol),
        libc::IPPROTO_TCP | libc::IPPROTO_UDP
    );
    let port = |k: &PacketKey, at: usize| u16::from_be_bytes([k.l4_head[at], k.l4_head[at + 1]]);
    let mut parts = Vec::new();
    if seen.dst != sent.dst || (ports && port(seen, 2) != port(sent, 2)) {
        parts.push(if ports {
            format!("dst {}", endpoint(seen.dst, port(seen, 2)))
        } else {
            format!("dst {}", seen.dst)
        });
    }
    let sport_changed = ports && port(seen, 0) != port(sent, 0);
    if seen.src != sent.src || sport_changed {
        parts.push(format!(
            "src {}{}",
            seen.src,
            if sport_changed { ", port changed" } else { "" }
        ));
    }
    (!parts.is_empty()).then(|| parts.join(", "))
}

fn endpoint(a: IpAddr, port: u16) -> String {
    match a {
        IpAddr::V4(a) => format!("{a}:{port}"),
        IpAddr::V6(a) => format!("[{a}]:{port}"),
    }
}

/// One verdict for the packets of a probe; a probe with a packet the server never received has
/// no verdict.
pub fn summarize(seen: &[Seen]) -> Verdict {
    let accepted = seen.iter().filter(|s| **s == Seen::Accepted).count() as u32;
    if seen.contains(&Seen::NotReceived) {
        Verdict::NotReceived
    } else if accepted == seen.len() as u32 {
        Verdict::Accept
    } else if accepted == 0 {
        Verdict::Drop
    } else {
        Verdict::Partial {
            accepted,
            sent: seen.len() as u32,
        }
    }
}

/// The `i`-th packet of a crafted probe: bursts step the source port or icmp identifier.
fn crafted(spec: &Spec, i: u32) -> Result<Packet, String> {
    let step = |port: u16| stepped(port, i);
    Ok(match *spec {
        Spec::Tcp {
            src,
            sport,
            dst,
            dport,
            flags,
        } => Packet::tcp(src, step(sport), dst, dport, flags),
        Spec::Udp {
            src,
            sport,
            dst,
            dport,
            ..
        } => Packet::udp(src, step(sport), dst, dport),
        Spec::Icmp {
            src,
            dst,
            kind,
            code,
        } if kind
            == if src.is_ipv6() {
                ICMPV6_ECHO_REQUEST
            } else {
                ICMP_ECHO_REQUEST
            } =>
        {
            let mut p = Packet::echo_request(src, dst, 0x7700u16.wrapping_add(i as u16), 1);
            if let super::packet::L4::Icmp { code: c, .. } = &mut p.l4 {
                *c = code;
            }
            p
        }
        Spec::Icmp {
            src,
            dst,
            kind,
            code,
        } => Packet::icmp(src, dst, kind, code, 0x7700u16.wrapping_add(i as u16), &[]),
        Spec::Related {
            src,
            sport,
            dst,
            dport,
        } => {
            let quoted = Packet::udp(dst, dport, src, step(sport))
                .with_id(1)
                .to_bytes();
            // The IP header and 8 bytes after it; port unreachable.
            let (kind, code, len) = if src.is_ipv6() {
                (ICMPV6_DEST_UNREACHABLE, 4, 48)
            } else {
                (ICMP_DEST_UNREACHABLE, 3, 28)
            };
            Packet::icmp(src, dst, kind, code, 0, &quoted[..len])
        }
        Spec::Established {
            proto,
            src,
            sport,
            dst,
            dport,
        } => match proto {
            IPPROTO_UDP => Packet::udp(src, step(sport), dst, dport),
            _ => Packet::tcp(src, step(sport), dst, dport, ACK),
        },
        Spec::Ip { src, dst, proto } => Packet::other(src, dst, proto, stepped(0x7700, i)),
        Spec::Connect { .. } => return Err("a connection is not a crafted packet".into()),
    })
}

/// The source port of packet `i` of a probe's burst: each packet is its own flow. The packets
/// [`crafted`] makes and the connections [`written_flows`] writes for them must agree.
fn stepped(port: u16, i: u32) -> u16 {
    port.wrapping_add(i as u16)
}

/// How long a connection written into conntrack for one probe lives if nothing removes it.
const WRITTEN_FLOW_TIMEOUT_S: u32 = 120;

/// The connections a probe needs in the server's conntrack table before it is sent: an
/// established one per packet of [`Spec::Established`], and for a RELATED probe routed through
/// the server or sent by it, the datagram's connection its icmp error quotes (on the INPUT path
/// the server really sends that datagram). The ports step per packet as [`crafted`] steps them.
fn written_flows(spec: &Spec, path: Path, count: u32) -> Vec<CtFlow> {
    match *spec {
        Spec::Established {
            proto,
            src,
            sport,
            dst,
            dport,
        } => (0..count)
            .map(|i| CtFlow {
                proto,
                src,
                sport: stepped(sport, i),
                dst,
                dport,
            })
            .collect(),
        Spec::Related {
            src,
            sport,
            dst,
            dport,
        } if path != Path::Input => (0..count)
            .map(|i| CtFlow {
                proto: IPPROTO_UDP,
                src: dst,
                sport: dport,
                dst: src,
                dport: stepped(sport, i),
            })
            .collect(),
        _ => Vec::new(),
    }
}

/// The IP header fields a probe's packet got through with, each where the ruleset changed it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Changed {
    tos: Option<u8>,
    ttl: Option<u8>,
}

impl Changed {
    /// `seen` against the `crafted` packet: the kernel alone leaves the TOS byte as it was and
    /// takes one from the TTL of a packet it `routed` (forwarded out of a link, not one the
    /// server sent itself); anything else is the ruleset's doing.
    fn of(crafted: Header, seen: Header, routed: bool) -> Changed {
        let ttl = crafted.ttl.saturating_sub(u8::from(routed));
        Changed {
            tos: (seen.tos != crafted.tos).then_some(seen.tos),
            ttl: (seen.ttl != ttl).then_some(seen.ttl),
        }
    }
}

/// The conntrack zones a probe's entry is looked up in: the default zone, then the ones the
/// rules of `rs` put connections in; and whether any rule writes into entries (`notrack`, `ct
/// zone set`, `ct helper set`, `ct mark set`: `-j NOTRACK`, `-j CT`, `-j CONNMARK`), where an
/// absent entry is worth showing.
fn conntrack_zones(rs: &Ruleset) -> (bool, Vec<u16>) {
    let mut zones = BTreeSet::new();
    let mut writes = false;
    for s in stmts(rs) {
        match s {
            Stmt::CtZoneSet(zone) | Stmt::CtDirZoneSet { zone, .. } => {
                zones.insert(*zone);
            }
            Stmt::Notrack | Stmt::CtHelperSet(_) => {}
            Stmt::MarkSet(m) if m.dest == fwnet_nft::MarkKey::Ct => {}
            _ => continue,
        }
        writes = true;
    }
    let zones = std::iter::once(0).chain(zones.into_iter().filter(|z| *z != 0));
    (writes, zones.collect())
}

/// The connection lookup for the packet `k`: its ports for tcp and udp, its identifier, type
/// and code for the icmp queries conntrack opens connections for (echo, timestamp,
/// information and address mask requests; icmpv6 echo and node information queries).
fn lookup_of(k: &PacketKey) -> Option<conntrack::Lookup> {
    let h = k.l4_head;
    let port = |at: usize| u16::from_be_bytes([h[at], h[at + 1]]);
    let query = match (k.protocol, k.src) {
        (1, IpAddr::V4(_)) => matches!(h[0], 8 | 13 | 15 | 17),
        (58, IpAddr::V6(_)) => matches!(h[0], 128 | 139),
        _ => false,
    };
    match k.protocol {
        6 | 17 => Some(conntrack::Lookup::Ports(CtFlow {
            proto: k.protocol,
            src: k.src,
            sport: port(0),
            dst: k.dst,
            dport: port(2),
        })),
        _ if query => Some(conntrack::Lookup::Icmp {
            src: k.src,
            dst: k.dst,
            id: port(4),
            kind: h[0],
            code: h[1],
        }),
        _ => None,
    }
}

/// Whether connections can be written into the server's conntrack table: the removal of one
/// that is not there must be answered ENOENT (a kernel without ctnetlink answers otherwise).
fn ctnetlink_usable(site: &Site) -> Result<(), String> {
    let nobody = CtFlow {
        proto: IPPROTO_UDP,
        src: IpAddr::from([192, 0, 2, 1]),
        sport: 9,
        dst: IpAddr::from([192, 0, 2, 2]),
        dport: 9,
    };
    let answer = site.server.try_run_in(|| -> Result<i32, crate::Error> {
        let mut s = crate::session::Session::open()?;
        let seq = s.next_seq(1);
        s.acked(&conntrack::delete(&nobody, seq))
    })?;
    match answer {
        Ok(0 | libc::ENOENT) => Ok(()),
        Ok(errno) => Err(format!(
            "this kernel does not let connections be written into conntrack ({}: is nf_conntrack_netlink loaded?), so no ESTABLISHED or RELATED packet can be made there",
            crate::session::errno_text(errno)
        )),
        Err(e) => Err(format!("ctnetlink: {e}")),
    }
}

/// One line per rule (the first probe named, with how many more) for probes that need a
/// written connection when none can be written: `why` says so.
fn unwritten(probes: &[Probe], why: &str) -> Vec<String> {
    let mut by_rule: BTreeMap<Option<&str>, Vec<&Probe>> = BTreeMap::new();
    for p in probes {
        by_rule.entry(p.origin.as_deref()).or_default().push(p);
    }
    by_rule
        .into_iter()
        .map(|(origin, ps)| {
            format!(
                "`{}`{} ({}): {why}",
                ps[0],
                more_like_it(ps.len() - 1),
                origin.unwrap_or("policy")
            )
        })
        .collect()
}

/// ` and N more like it` after the first of N + 1 probes named in one line; nothing for one.
fn more_like_it(n: usize) -> String {
    match n {
        0 => String::new(),
        1 => " and 1 more like it".to_string(),
        n => format!(" and {n} more like it"),
    }
}

/// Writes `flows` into the server's conntrack table as established connections (`add`), or
/// removes them. Whatever an earlier probe left under the same addresses and ports is removed
/// first, so the entry is exactly the one written.
fn write_flows(site: &Site, flows: &[CtFlow], add: bool) -> Result<(), String> {
    if flows.is_empty() {
        return Ok(());
    }
    site.server.try_run_in(|| -> Result<(), String> {
        let fail = |e: crate::Error| format!("conntrack: {e}");
        let mut s = crate::session::Session::open().map_err(fail)?;
        for f in flows {
            let seq = s.next_seq(3);
            let errno = s.acked(&conntrack::delete(f, seq)).map_err(fail)?;
            if errno != 0 && errno != libc::ENOENT {
                return Err(format!(
                    "removing a connection from conntrack: {}",
                    crate::session::errno_text(errno)
                ));
            }
            if !add {
                continue;
            }
            for request in [
                conntrack::create(f, WRITTEN_FLOW_TIMEOUT_S, seq.wrapping_add(1)),
                conntrack::seen_reply(f, seq.wrapping_add(2)),
            ] {
                let errno = s.acked(&request).map_err(fail)?;
                if errno != 0 {
                    return Err(format!(
                        "writing a connection into conntrack: {}",
                        crate::session::errno_text(errno)
                    ));
                }
            }
        }
        Ok(())
    })?
}

/// The server sends one datagram `from:fport -> to:tport` (opening a conntrack flow). The
/// server's own OUTPUT may refuse it (`EPERM`): then no flow exists and the probe that follows
/// shows what the ruleset does with an unsolicited packet, on both sides alike.
///
/// An IPv6 link-local (`fe80::/10`) end means nothing without its link (a socket bound to it
/// without one is `EINVAL`) and a multicast one cannot be bound at all: such a datagram is
/// crafted and sent raw, scoped to `link`, which conntrack sees the same way.
fn server_datagram(
    site: &Site,
    from_server: &RawSender,
    link: &Link,
    (from, fport): (IpAddr, u16),
    (to, tport): (IpAddr, u16),
) -> Result<(), String> {
    let what = || format!("server datagram {from}:{fport} -> {to}:{tport}");
    if needs_link(from) || needs_link(to) || is_multicast_v6(from) || is_multicast_v6(to) {
        let scope = server_ifindex(site, &link.name).map_err(|e| format!("{}: {e}", what()))?;
        let packet = Packet::udp(from, fport, to, tport);
        // Refused by the server's own OUTPUT: no flow, as below.
        return from_server
            .try_send_scoped(&packet, scope)
            .map(drop)
            .map_err(|e| format!("{}: {e}", what()));
    }
    let sent = site.server.try_run_in(|| {
        let s = UdpSocket::bind((from, fport))?;
        s.send_to(b"hello", (to, tport)).map(drop)
    })?;
    match sent {
        Err(e) if e.raw_os_error() == Some(libc::EPERM) => Ok(()),
        other => other.map_err(|e| format!("{}: {e}", what())),
    }
}

/// Whether `a` is IPv6 link-local, an address that needs its link to be used.
fn needs_link(a: IpAddr) -> bool {
    matches!(a, IpAddr::V6(a) if super::packet::is_link_local(a))
}

/// Whether `a` is IPv6 multicast.
fn is_multicast_v6(a: IpAddr) -> bool {
    matches!(a, IpAddr::V6(a) if a.is_multicast())
}

/// The index of interface `name` in the server's namespace.
fn server_ifindex(site: &Site, name: &str) -> Result<u32, String> {
    let c_name = std::ffi::CString::new(name).map_err(|_| format!("interface name {name:?}"))?;
    // SAFETY: c_name is a live NUL-terminated string for the call.
    let index = site
        .server
        .try_run_in(|| unsafe { libc::if_nametoindex(c_name.as_ptr()) })?;
    if index == 0 {
        return Err(format!("no interface {name} on the server"));
    }
    Ok(index)
}

/// A real connection: the verdict is whether the server-side listener got the whole payload.
/// The server answers over the link the client came in on, as a host with one link per network
/// does (its default route is the main link's): an OUTPUT rule on `-o eth0` meets the answers
/// to a connection from `eth0`.
fn connect(
    site: &Site,
    link: &Link,
    observer: &mut Observer,
    src: IpAddr,
    sport: u16,
    dst: IpAddr,
    dport: u16,
) -> Result<Verdict, String> {
    let main = site.links.first().is_some_and(|m| m.name == link.name);
    if main {
        return connect_over(site, link, observer, src, sport, dst, dport);
    }
    let (family, host) = if src.is_ipv6() {
        ("-6", format!("{src}/128"))
    } else {
        ("-4", format!("{src}/32"))
    };
    let client = if src.is_ipv6() {
        IpAddr::from(link.client_ip6())
    } else {
        IpAddr::from(link.client_ip())
    };
    let client = client.to_string();
    site.server.ip(&[
        family, "route", "replace", &host, "via", &client, "dev", &link.name,
    ])?;
    let verdict = connect_over(site, link, observer, src, sport, dst, dport);
    let removed = site
        .server
        .ip(&[family, "route", "del", &host, "dev", &link.name]);
    let verdict = verdict?;
    removed?;
    Ok(verdict)
}

/// [`connect`], the server's route back to `src` set.
fn connect_over(
    site: &Site,
    link: &Link,
    observer: &mut Observer,
    src: IpAddr,
    sport: u16,
    dst: IpAddr,
    dport: u16,
) -> Result<Verdict, String> {
    let gateway = link.server_addr(dst.is_ipv6()).to_string();
    let (family, host) = if dst.is_ipv6() {
        ("-6", format!("{dst}/128"))
    } else {
        ("-4", format!("{dst}/32"))
    };
    // A server link address needs no route (IPv6 refuses one via the address itself).
    if dst != link.server_addr(dst.is_ipv6()) {
        site.client.ip(&[
            family, "route", "replace", &host, "via", &gateway, "dev", &link.name,
        ])?;
    }
    let listener = site
        .server
        .try_run_in(|| TcpListener::bind((dst, dport)))?
        .map_err(|e| format!("listen on {dst}:{dport}: {e}"))?;
    listener
        .set_nonblocking(true)
        .map_err(|e| format!("listener: {e}"))?;
    let stop = Arc::new(AtomicBool::new(false));
    let server = {
        let stop = Arc::clone(&stop);
        thread::spawn(move || serve_once(&listener, &stop))
    };
    let socket = site.client.try_run_in(|| tcp_socket(src, sport))??;
    observer.mark()?;
    let started = Instant::now();
    let (mut arrived_at, mut passed_at) = (None, None);
    let mut pace = || -> Result<Pace, String> {
        let flow = observer.flow(src, sport, dst, dport)?;
        let now = Instant::now();
        Ok(pace_of(
            flow,
            now - started,
            flow.arrived.then(|| now - *arrived_at.get_or_insert(now)),
            flow.passed.then(|| now - *passed_at.get_or_insert(now)),
        ))
    };
    // Whatever goes wrong on the client side after bind is the ruleset's doing; the listener's
    // view is the verdict, unless the SYN never reached the server.
    let talked = talk(socket, dst, dport, &mut pace);
    stop.store(true, Ordering::Relaxed);
    let received = server
        .join()
        .map_err(|_| "listener thread panicked".to_string())?;
    Ok(if received.as_deref() == Some(PAYLOAD) {
        Verdict::Accept
    } else if matches!(talked, Err(Talk::Lost)) {
        Verdict::NotReceived
    } else {
        Verdict::Drop
    })
}

/// How long a connection whose SYN passed INPUT and was answered may take to be established.
const HANDSHAKE: Duration = Duration::from_secs(2);

/// What to do while connecting, given the server's view of the flow, the time since the
/// connection started and since its SYN arrived and passed INPUT (when it did).
fn pace_of(
    flow: Flow,
    elapsed: Duration,
    since_arrival: Option<Duration>,
    since_passed: Option<Duration>,
) -> Pace {
    match (flow, since_arrival, since_passed) {
        // Dropped by INPUT: known within the grace period.
        (Flow { passed: false, .. }, Some(a), _) if a > GRACE => Pace::GiveUp,
        // Accepted, but the answer never left (the server's OUTPUT dropped it).
        (
            Flow {
                answered: false, ..
            },
            _,
            Some(p),
        ) if p > GRACE => Pace::GiveUp,
        (_, _, Some(p)) if p > HANDSHAKE => Pace::GiveUp,
        (Flow { arrived: false, .. }, _, _) if elapsed > ARRIVAL => Pace::Lost,
        _ => Pace::Wait,
    }
}

/// What to do while a connection is being established, from the server's view of its SYN.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Pace {
    Wait,
    /// The SYN was dropped, or passed but the handshake never completed.
    GiveUp,
    /// The SYN never reached the server: a harness failure.
    Lost,
}

/// Why a connection did not carry its payload: the SYN never reached the server, or anything
/// else (the ruleset's doing; the listener's view decides).
#[derive(Debug)]
enum Talk {
    Lost,
    Failed,
}

fn serve_once(listener: &TcpListener, stop: &AtomicBool) -> Option<Vec<u8>> {
    loop {
        match listener.accept() {
            Ok((mut stream, _)) => {
                stream.set_nonblocking(false).ok()?;
                stream.set_read_timeout(Some(Duration::from_secs(1))).ok()?;
                // The payload, then the server closes first: TIME_WAIT stays here, so the
                // client's address and port are free for the next probe at once.
                let mut bytes = Vec::new();
                let _ = (&mut stream)
                    .take(PAYLOAD.len() as u64)
                    .read_to_end(&mut bytes);
                let _ = stream.write_all(b"ok");
                return Some(bytes);
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                if stop.load(Ordering::Relaxed) {
                    return None;
                }
                thread::sleep(Duration::from_millis(1));
            }
            Err(_) => return None,
        }
    }
}

/// Calls `f` with `addr:port` as a `sockaddr_in` or `sockaddr_in6` and its length.
fn with_sockaddr<R>(
    addr: IpAddr,
    port: u16,
    f: impl FnOnce(*const libc::sockaddr, libc::socklen_t) -> R,
) -> R {
    match addr {
        IpAddr::V4(a) => {
            let sa = super::packet::sockaddr_in(a, port);
            f(
                (&sa as *const libc::sockaddr_in).cast(),
                std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t,
            )
        }
        IpAddr::V6(a) => {
            let sa = super::packet::sockaddr_in6(a, port);
            f(
                (&sa as *const libc::sockaddr_in6).cast(),
                std::mem::size_of::<libc::sockaddr_in6>() as libc::socklen_t,
            )
        }
    }
}

/// A nonblocking TCP socket bound to `src:sport`, in the calling thread's namespace.
fn tcp_socket(src: IpAddr, sport: u16) -> Result<OwnedFd, String> {
    let domain = if src.is_ipv6() {
        libc::AF_INET6
    } else {
        libc::AF_INET
    };
    // SAFETY: plain socket(2) call; the result is checked before being owned.
    let fd = unsafe {
        libc::socket(
            domain,
            libc::SOCK_STREAM | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC,
            0,
        )
    };
    if fd < 0 {
        return Err(format!("tcp socket: {}", std::io::Error::last_os_error()));
    }
    // SAFETY: fd is a fresh descriptor that nothing else owns.
    let socket = unsafe { OwnedFd::from_raw_fd(fd) };
    // SAFETY: the address is live for the call, with its stated size.
    if with_sockaddr(src, sport, |a, len| unsafe { libc::bind(fd, a, len) }) != 0 {
        return Err(format!(
            "bind {src}:{sport}: {}",
            std::io::Error::last_os_error()
        ));
    }
    Ok(socket)
}

/// Connects at the pace `pace` sets, sends the payload, half-closes and reads the server's
/// answer until it closes.
fn talk(
    socket: OwnedFd,
    dst: IpAddr,
    dport: u16,
    pace: &mut dyn FnMut() -> Result<Pace, String>,
) -> Result<(), Talk> {
    connected(&socket, dst, dport, pace)?;
    exchange(socket).map_err(|_| Talk::Failed)
}

fn connected(
    socket: &OwnedFd,
    dst: IpAddr,
    dport: u16,
    pace: &mut dyn FnMut() -> Result<Pace, String>,
) -> Result<(), Talk> {
    let fd = socket.as_raw_fd();
    // SAFETY: the address is live for the call, with its stated size.
    if with_sockaddr(dst, dport, |a, len| unsafe { libc::connect(fd, a, len) }) != 0 {
        let err = std::io::Error::last_os_error();
        if err.raw_os_error() != Some(libc::EINPROGRESS) {
            return Err(Talk::Failed);
        }
    }
    loop {
        let mut pfd = libc::pollfd {
            fd,
            events: libc::POLLOUT,
            revents: 0,
        };
        // SAFETY: pfd is one live pollfd.
        if unsafe { libc::poll(&mut pfd, 1, 5) } > 0 {
            return Ok(());
        }
        match pace().map_err(|_| Talk::Failed)? {
            Pace::Wait => {}
            Pace::GiveUp => return Err(Talk::Failed),
            Pace::Lost => return Err(Talk::Lost),
        }
    }
}

fn exchange(socket: OwnedFd) -> Result<(), String> {
    let mut stream = TcpStream::from(socket);
    if let Some(err) = stream.take_error().map_err(|e| e.to_string())? {
        return Err(format!("connect: {err}"));
    }
    stream.set_nonblocking(false).map_err(|e| e.to_string())?;
    stream
        .set_read_timeout(Some(Duration::from_secs(1)))
        .map_err(|e| e.to_string())?;
    stream
        .write_all(PAYLOAD)
        .map_err(|e| format!("send payload: {e}"))?;
    // Read until the server closes (it closes first; see `serve_once`).
    let mut answer = Vec::new();
    stream
        .read_to_end(&mut answer)
        .map_err(|e| format!("read answer: {e}"))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A ruleset of one table with one chain, a rule for each of `stmts`.
    fn rule_per_stmt(family: Family, table: &str, stmts: Vec<Stmt>) -> Ruleset {
        let rules = stmts.into_iter().map(|s| vec![s]).collect();
        Ruleset {
            tables: vec![one_chain(family, table, "PREROUTING", rules)],
        }
    }

    /// A table with one chain (not a base chain) holding `rules`, each given as its statements.
    fn one_chain(family: Family, table: &str, chain: &str, rules: Vec<Vec<Stmt>>) -> Table {
        Table {
            family,
            name: table.into(),
            sets: Vec::new(),
            chains: vec![fwnet_nft::Chain {
                name: chain.into(),
                base: None,
                rules: rules
                    .into_iter()
                    .map(|stmts| fwnet_nft::Rule {
                        stmts,
                        ..fwnet_nft::Rule::default()
                    })
                    .collect(),
                family: None,
            }],
            ct_helpers: Vec::new(),
        }
    }

    #[test]
    fn entries_are_looked_up_in_the_zones_the_rules_name() {
        let with = |stmts: Vec<Stmt>| rule_per_stmt(Family::Ip, "fwnet_raw", stmts);
        let mark = |dest| {
            Stmt::MarkSet(fwnet_nft::MarkSet {
                dest,
                src: fwnet_nft::MarkKey::Meta,
                mask: 0,
                xor: 2,
            })
        };
        for (stmts, zones) in [
            (vec![Stmt::Notrack], (true, vec![0])),
            (vec![Stmt::CtHelperSet("ftp-tcp".into())], (true, vec![0])),
            (vec![mark(fwnet_nft::MarkKey::Ct)], (true, vec![0])),
            // The default zone first, then each other one once.
            (
                vec![
                    Stmt::CtZoneSet(3),
                    Stmt::CtDirZoneSet {
                        zone: 1,
                        reply: true,
                    },
                    Stmt::CtZoneSet(3),
                    Stmt::CtZoneSet(0),
                ],
                (true, vec![0, 1, 3]),
            ),
            // A packet mark or nothing at all: entries are still looked up, in the default zone.
            (vec![mark(fwnet_nft::MarkKey::Meta)], (false, vec![0])),
            (Vec::new(), (false, vec![0])),
        ] {
            assert_eq!(conntrack_zones(&with(stmts.clone())), zones, "{stmts:?}");
        }
    }

    #[test]
    fn connections_are_looked_up_by_ports_or_by_icmp_query() {
        let key = |protocol, src: IpAddr, dst: IpAddr, l4_head| PacketKey {
            id: 1,
            protocol,
            src,
            dst,
            l4_head,
            offset: 0,
        };
        let (a, b) = (IpAddr::from([198, 18, 0, 1]), IpAddr::from([10, 77, 0, 1]));
        let (a6, b6): (IpAddr, IpAddr) =
            ("2001:db8::3".parse().unwrap(), "fd77::1".parse().unwrap());
        let head = [0x4e, 0x20, 0, 80, 0, 0, 0, 1];
        assert_eq!(
            lookup_of(&key(6, a, b, head)),
            Some(conntrack::Lookup::Ports(CtFlow {
                proto: 6,
                src: a,
                sport: 20000,
                dst: b,
                dport: 80,
            }))
        );
        // An echo request: type 8, code 0, checksum, identifier 0x1001.
        let echo = [8, 0, 0xab, 0xcd, 0x10, 0x01, 0, 1];
        assert_eq!(
            lookup_of(&key(1, a, b, echo)),
            Some(conntrack::Lookup::Icmp {
                src: a,
                dst: b,
                id: 0x1001,
                kind: 8,
                code: 0,
            })
        );
        let echo6 = [128, 0, 0xab, 0xcd, 0, 7, 0, 1];
        assert!(matches!(
            lookup_of(&key(58, a6, b6, echo6)),
            Some(conntrack::Lookup::Icmp {
                id: 7,
                kind: 128,
                ..
            })
        ));
        // An icmp error opens no connection, nor does an icmp type of the other family; other
        // protocols have no lookup here.
        for (protocol, src, dst, head) in [
            (1, a, b, [3, 3, 0, 0, 0, 0, 0, 0]),
            (1, a, b, [128, 0, 0, 0, 0, 7, 0, 1]),
            (58, a6, b6, [8, 0, 0, 0, 0, 7, 0, 1]),
            (47, a, b, head),
        ] {
            assert_eq!(
                lookup_of(&key(protocol, src, dst, head)),
                None,
                "{protocol} {head:?}"
            );
        }
    }

    #[test]
    fn only_what_the_ruleset_changed_in_the_header_is_reported() {
        let h = |tos, ttl| Header { tos, ttl };
        let changed = |tos, ttl| Changed { tos, ttl };
        for (crafted, seen, routed, expected) in [
            // Delivered as sent, or routed with the kernel's decrement: nothing.
            (h(0, 64), h(0, 64), false, changed(None, None)),
            (h(0, 64), h(0, 63), true, changed(None, None)),
            // A TTL a rule set, on either path; routed, the decrement is not a change.
            (h(0, 64), h(0, 63), false, changed(None, Some(63))),
            (h(0, 64), h(0, 65), true, changed(None, Some(65))),
            (h(0, 64), h(0, 64), true, changed(None, Some(64))),
            // A TOS byte a DSCP rule wrote.
            (h(0, 64), h(0xb8, 64), false, changed(Some(0xb8), None)),
            (h(0, 255), h(0x28, 254), true, changed(Some(0x28), None)),
        ] {
            assert_eq!(
                Changed::of(crafted, seen, routed),
                expected,
                "{crafted:?} {seen:?} {routed}"
            );
        }
    }

    fn result(text: &str, legacy: Verdict, fwnet: Verdict) -> ProbeResult {
        let probe = probes::parse_line(text).unwrap_or_else(|e| panic!("{text}: {e}"));
        let side = |verdict| Side {
            verdict,
            rewritten: None,
            mark: None,
            tos: None,
            ttl: None,
            conntrack: None,
            hits: Vec::new(),
        };
        ProbeResult {
            text: probe.to_string(),
            probe,
            same: legacy == fwnet,
            legacy: side(legacy),
            fwnet: side(fwnet),
        }
    }

    /// The kernel read of the legacy counters replaces `iptables-save -c` only where both key
    /// their counters alike: chains named with their table's prefix, only chains with rules,
    /// the filter table's policies (a user chain's as 0). A mismatch in the keys would make
    /// the first snapshot keep the save for the whole run, silently slower.
    #[test]
    fn the_kernel_read_of_legacy_counters_keys_them_as_the_save_does() {
        let save = "*nat\n:PREROUTING ACCEPT [1:60]\n:POSTROUTING ACCEPT [2:120]\n\
                    [3:180] -A PREROUTING -p tcp -j REDIRECT --to-ports 3128\nCOMMIT\n\
                    *filter\n:INPUT DROP [4:240]\n:FORWARD ACCEPT [0:0]\n:SVC - [0:0]\n\
                    :EMPTY - [0:0]\n[5:300] -A INPUT -j SVC\n[6:360] -A INPUT -j EMPTY\n\
                    [7:420] -A SVC -p tcp -j ACCEPT\nCOMMIT\n";
        let chain = |name: &str, policy: Option<u64>, rules: &[u64]| legacy::Chain {
            name: name.into(),
            policy,
            rules: rules.to_vec(),
        };
        let kernel = || {
            vec![
                (
                    "nat".to_string(),
                    vec![
                        chain("PREROUTING", Some(1), &[3]),
                        chain("POSTROUTING", Some(2), &[]),
                    ],
                ),
                (
                    "filter".to_string(),
                    vec![
                        chain("INPUT", Some(4), &[5, 6]),
                        chain("FORWARD", Some(0), &[]),
                        chain("SVC", None, &[7]),
                        chain("EMPTY", None, &[]),
                    ],
                ),
            ]
        };
        let saved = save_snapshot(save, None);
        let read = kernel_snapshot(kernel());
        assert_eq!(read.rules, saved.rules);
        assert_eq!(read.policy, saved.policy);
        assert!(same_rules(&read, &saved));
        // A rule more in one chain is another shape.
        let mut more = kernel();
        more[1].1[2].rules.push(8);
        assert!(!same_rules(&kernel_snapshot(more), &saved));
    }

    #[test]
    fn the_policy_of_a_chain_without_rules_is_a_hit_too() {
        let snapshot = |forward: u64| Snapshot {
            rules: BTreeMap::new(),
            policy: BTreeMap::from([("FORWARD".to_string(), forward)]),
            texts: Arc::default(),
        };
        let got = hits(&snapshot(3), &snapshot(4), &["FORWARD".to_string()]);
        assert_eq!(got.len(), 1, "{got:?}");
        assert_eq!((got[0].text.as_str(), got[0].packets), ("policy", 1));
        assert!(hits(&snapshot(4), &snapshot(4), &["FORWARD".to_string()]).is_empty());
    }

    #[test]
    fn a_burst_waits_for_the_fastest_filling_buckets_to_fill_again() {
        let limit = |rate, unit, burst| fwnet_nft::Limit {
            rate,
            unit,
            burst,
            over: false,
        };
        let ruleset = |limits: Vec<fwnet_nft::Limit>| {
            let stmts = limits.into_iter().map(Stmt::Limit).collect();
            rule_per_stmt(Family::Ip6, "fwnet_filter", stmts)
        };
        use fwnet_nft::TimeUnit::{Minute, Second};
        // v6/078's `--limit 20/second --limit-burst 50`: 2.5 s; `--limit 5/sec` (burst 5): 1 s.
        let rs = ruleset(vec![limit(20, Second, 50), limit(5, Second, 5)]);
        assert_eq!(Buckets::of(&rs).longest(), Duration::from_millis(2500));
        // `--limit 1/minute` fills too slowly to race: no wait for it.
        assert_eq!(
            Buckets::of(&ruleset(vec![limit(1, Minute, 10)])).longest(),
            Duration::ZERO
        );
        assert_eq!(Buckets::of(&ruleset(Vec::new())).longest(), Duration::ZERO);
    }

    #[test]
    fn a_burst_waits_only_for_the_buckets_its_packets_can_reach() {
        use fwnet_nft::{Expr, Field, Match, MetaKey, TimeUnit, Value};
        let is = |left, n| {
            Stmt::Match(Match::Cmp {
                left,
                op: CmpOp::Eq,
                right: Value::Num(n),
            })
        };
        let limit = |rate, unit, burst| {
            Stmt::Limit(fwnet_nft::Limit {
                rate,
                unit,
                burst,
                over: false,
            })
        };
        let proto = |n| is(Expr::Meta(MetaKey::L4proto), n);
        let echo = || is(Expr::Payload(Field::IcmpType), 8);
        let dport_22 = || is(Expr::Payload(Field::TcpDport), 22);
        let mark_1 = || is(Expr::Meta(MetaKey::Mark), 1);
        let table = |family, rules| one_chain(family, "fwnet_filter", "INPUT", rules);
        let one = |family, rules| Ruleset {
            tables: vec![table(family, rules)],
        };
        use TimeUnit::{Minute, Second};
        // The generated bench file's: a 10/s echo limit (0.5 s to fill), and LOGDROP's 5/min.
        let bench = one(
            Family::Ip,
            vec![
                vec![proto(1), echo(), limit(10, Second, 5)],
                vec![limit(5, Minute, 5)],
            ],
        );
        let burst = |line: &str| probes::parse_line(line).unwrap_or_else(|e| panic!("{line}: {e}"));
        let ms = Duration::from_millis;
        let syns = burst("tcp 192.168.0.3:20242 -> 10.77.0.1:7 flags S x 8");
        assert_eq!(Buckets::of(&bench).settle_after(&syns), Duration::ZERO);
        let echoes = burst("icmp 198.18.0.1 -> 10.77.0.1 type 8 code 0 x 8");
        assert_eq!(Buckets::of(&bench).settle_after(&echoes), ms(500));
        // A timestamp request is not an echo; an echo in an `ip6` table is not this packet's.
        let stamps = burst("icmp 198.18.0.1 -> 10.77.0.1 type 13 code 0 x 8");
        assert_eq!(Buckets::of(&bench).settle_after(&stamps), Duration::ZERO);
        let v6 = one(Family::Ip6, vec![vec![limit(10, Second, 5)]]);
        assert_eq!(Buckets::of(&v6).settle_after(&echoes), Duration::ZERO);
        // The ruleset-wide wait this replaces waited 0.5 s after each of them.
        assert_eq!(Buckets::of(&bench).longest(), ms(500));

        // A destination port counts while nothing can rewrite it...
        let ssh = one(
            Family::Ip,
            vec![vec![proto(6), dport_22(), limit(2, Second, 4)]],
        );
        let to = |port: u16| {
            burst(&format!(
                "tcp 198.18.0.1:30000 -> 10.77.0.1:{port} flags S x 7"
            ))
        };
        assert_eq!(Buckets::of(&ssh).settle_after(&to(22)), ms(2000));
        assert_eq!(Buckets::of(&ssh).settle_after(&to(80)), Duration::ZERO);
        // ...not once a NAT statement can (`redirect to :22` before the filter),
        let mut nat = ssh.clone();
        nat.tables[0].chains[0].rules.push(fwnet_nft::Rule {
            stmts: vec![Stmt::Nat(Box::new(fwnet_nft::Nat {
                kind: fwnet_nft::NatKind::Redirect,
                addr: None,
                ports: Some((22, 22)),
                flags: Default::default(),
            }))],
            ..fwnet_nft::Rule::default()
        });
        assert_eq!(Buckets::of(&nat).settle_after(&to(80)), ms(2000));
        // nor in a second fragment, which carries no ports.
        let fragments = Probe {
            fragmented: true,
            ..to(80)
        };
        assert_eq!(Buckets::of(&ssh).settle_after(&fragments), ms(2000));
        // What the packets do not carry from the wire (a mark) never rules a limit out.
        let marked = one(Family::Ip, vec![vec![mark_1(), limit(2, Second, 4)]]);
        assert_eq!(Buckets::of(&marked).settle_after(&to(80)), ms(2000));
        // Nor does anything in the chains the server's answers meet: an OUTPUT chain, and the
        // chain it jumps to, see the resets and icmp errors a burst of SYNs may get.
        let mut output = one(
            Family::Ip,
            vec![vec![Stmt::Verdict(fwnet_nft::Verdict::Jump(
                "INPUT".into(),
            ))]],
        );
        output.tables[0].chains[0].name = "OUTPUT".into();
        output.tables[0].chains[0].base = Some(fwnet_nft::BaseChain {
            kind: fwnet_nft::ChainKind::Filter,
            hook: fwnet_nft::Hook::Output,
            priority: 0,
            policy: fwnet_nft::Policy::Accept,
            counters: None,
        });
        let input = table(Family::Ip, vec![vec![proto(1), limit(10, Second, 5)]]);
        output.tables[0].chains.push(input.chains[0].clone());
        assert_eq!(Buckets::of(&output).settle_after(&syns), ms(500));
        output.tables[0].chains[0].rules.clear();
        assert_eq!(Buckets::of(&output).settle_after(&syns), Duration::ZERO);
    }

    #[test]
    fn rules_whose_probes_something_else_decided_are_named_with_it() {
        let hit = |origin: &str, terminal: bool| RuleHit {
            chain: "INPUT".into(),
            index: Some(0),
            packets: 1,
            origin: Some(origin.into()),
            text: String::new(),
            terminal,
            maps: false,
        };
        let aimed = |origin: &str, hits: Vec<RuleHit>| {
            let mut r = result(
                "tcp 198.18.0.1:1000 -> 10.77.0.1:22",
                Verdict::Drop,
                Verdict::Drop,
            );
            r.probe.origin = Some(origin.into());
            r.legacy.hits = hits;
            r
        };
        let results = [
            // Line 9's probe met line 8's drop; line 10's met line 100's and then nothing.
            aimed("a.rules:9", vec![hit("a.rules:8", true)]),
            aimed("a.rules:10", vec![hit("a.rules:100", true)]),
            aimed("a.rules:10", vec![]),
            // Line 11's probe reached it; so did one of line 12's two.
            aimed("a.rules:11", vec![hit("a.rules:11", true)]),
            aimed("a.rules:12", vec![hit("a.rules:8", true)]),
            aimed(
                "a.rules:12",
                vec![hit("a.rules:12", false), hit("a.rules:13", true)],
            ),
            // Line 20 is merged with line 21 in fwnet's rule; line 21 was reached.
            aimed("a.rules:20", vec![hit("a.rules:21", true)]),
            // Line 30's probe made to match it met line 8; its edge, meant to miss it, went
            // on to the policy.
            {
                let mut r = aimed("a.rules:30", vec![hit("a.rules:8", true)]);
                r.probe.why = probes::REACHES_WHY.into();
                r
            },
            aimed("a.rules:30", vec![]),
        ];
        let origin = |line| fwnet_nft::Origin {
            file: "a.rules".into(),
            line,
        };
        let merged = fwnet_nft::Rule {
            origin: Some(origin(20)),
            merged: vec![origin(21)],
            ..fwnet_nft::Rule::default()
        };
        let ir = Ruleset {
            tables: vec![fwnet_nft::Table {
                family: Family::Ip,
                name: "fwnet_filter".into(),
                sets: Vec::new(),
                chains: vec![fwnet_nft::Chain {
                    name: "INPUT".into(),
                    base: None,
                    rules: vec![merged],
                    family: None,
                }],
                ct_helpers: Vec::new(),
            }],
        };
        let got: Vec<(String, Vec<String>)> = unreached_rules(&results, &ir)
            .into_iter()
            .map(|u| (u.origin, u.decided_by))
            .collect();
        assert_eq!(
            got,
            [
                ("a.rules:9".to_string(), vec!["a.rules:8".to_string()]),
                (
                    "a.rules:10".to_string(),
                    vec![
                        "a.rules:100".to_string(),
                        "nothing that counted it".to_string()
                    ]
                ),
                ("a.rules:30".to_string(), vec!["a.rules:8".to_string()]),
            ]
        );
    }

    #[test]
    fn unseen_nat_rules_are_listed_in_file_order() {
        let cache = TextCache::default();
        let rule = |line: u32| RuleText {
            text: String::new(),
            origin: Some(format!("a.rules:{line}")),
            terminal: false,
            maps: true,
        };
        let mut texts = ChainTexts::new();
        texts.insert(
            format!("{NAT_PREFIX}PREROUTING"),
            vec![rule(10), rule(9), rule(11)],
        );
        cache.lock().unwrap().insert(false, Arc::new(texts));
        let unseen: Vec<String> = unseen_mappings(&[], &cache)
            .into_iter()
            .map(|(o, _)| o)
            .collect();
        assert_eq!(unseen, ["a.rules:9", "a.rules:10", "a.rules:11"]);
    }

    #[test]
    fn an_unseen_nat_rule_repeating_an_earlier_one_of_its_chain_is_named_with_it() {
        let cache = TextCache::default();
        let rule = |line: u32, text: &str| RuleText {
            text: text.to_string(),
            origin: Some(format!("a.rules:{line}")),
            terminal: false,
            maps: true,
        };
        let masq = "-A POSTROUTING -o eth0 -j MASQUERADE";
        let chancy = "-A POSTROUTING -m statistic --mode nth --every 2 --packet 0 -j MASQUERADE";
        let mut texts = ChainTexts::new();
        texts.insert(
            format!("{NAT_PREFIX}POSTROUTING"),
            vec![
                rule(3, masq),
                rule(4, chancy),
                rule(5, "-A POSTROUTING -o eth1 -j MASQUERADE"),
                rule(6, masq),
                rule(7, chancy),
                rule(8, masq),
            ],
        );
        // The same words in another chain are no repeat.
        texts.insert(format!("{NAT_PREFIX}OUTPUT"), vec![rule(9, masq)]);
        cache.lock().unwrap().insert(false, Arc::new(texts));
        let repeats: Vec<(String, Option<String>)> = unseen_mappings(&[], &cache);
        let of = |line: u32| {
            repeats[repeats
                .iter()
                .position(|(o, _)| *o == format!("a.rules:{line}"))
                .unwrap()]
            .1
            .clone()
        };
        assert_eq!(of(3), None);
        assert_eq!(of(5), None);
        assert_eq!(of(6).as_deref(), Some("a.rules:3"));
        assert_eq!(of(8).as_deref(), Some("a.rules:3"));
        // Every other packet gets by line 4: line 7 maps the rest.
        assert_eq!(of(7), None);
        assert_eq!(of(9), None);
        assert_eq!(repeats.len(), 7);
    }

    #[test]
    fn only_probes_both_sides_dropped_of_unseen_nat_rules_are_played_again() {
        use Verdict::{Accept, Drop};
        let of = |line: &str, text: &str, legacy, fwnet| {
            let mut r = result(text, legacy, fwnet);
            r.probe.origin = Some(line.to_string());
            r.probe.why = probes::REACHES_WHY.into();
            r
        };
        let results = [
            of(
                "nat:12",
                "tcp 198.18.0.1:20001 -> 203.0.113.8:25",
                Drop,
                Drop,
            ),
            of(
                "nat:12",
                "tcp 198.18.0.1:20002 -> 203.0.113.8:24",
                Accept,
                Accept,
            ),
            of(
                "nat:12",
                "tcp 198.18.0.1:20003 -> 203.0.113.8:26",
                Drop,
                Accept,
            ),
            of(
                "nat:6",
                "tcp 198.18.0.1:20004 -> 10.77.0.1:8080",
                Drop,
                Drop,
            ),
            of(
                "nat:12",
                "tcp 198.18.0.1:20005 -> 203.0.113.8:25 wait 100",
                Drop,
                Drop,
            ),
        ];
        let again = hidden_mappings(&results, &["nat:12".to_string()]);
        assert_eq!(again.len(), 1, "{again:?}");
        assert_eq!(again[0].to_string(), results[0].text);
        assert_eq!(again[0].why, format!("reaches the rule, {UNFILTERED_WHY}"));
    }

    #[test]
    fn an_unobserved_probe_reruns_then_gives_up_and_is_never_a_mismatch() {
        use Verdict::{Accept, Drop, NotReceived};
        let p = "tcp 10.0.0.5:1 -> 10.77.0.1:80 flags S";
        let q = "udp 10.0.0.5:2 -> 10.77.0.1:53";
        // (legacy and fwnet verdicts of two probes, attempt, what happens next)
        let cases = [
            ([(Accept, Accept), (Drop, Drop)], 0, Next::Report),
            // A real mismatch is reported at once, never rerun.
            ([(Accept, Drop), (Drop, Drop)], 0, Next::Report),
            (
                [(Accept, NotReceived), (Drop, Drop)],
                0,
                Next::Retry(p.into()),
            ),
            (
                [(Accept, Accept), (NotReceived, Drop)],
                1,
                Next::Retry(q.into()),
            ),
            (
                [(NotReceived, NotReceived), (Drop, Accept)],
                1,
                Next::Retry(p.into()),
            ),
            (
                [(Accept, NotReceived), (Drop, Drop)],
                RETRIES,
                Next::GiveUp(p.into()),
            ),
            ([(Accept, Accept), (Drop, Drop)], RETRIES, Next::Report),
        ];
        for (verdicts, attempt, want) in cases {
            let results = [
                result(p, verdicts[0].0, verdicts[0].1),
                result(q, verdicts[1].0, verdicts[1].1),
            ];
            assert_eq!(
                next_step(doubt(&results), attempt, RETRIES),
                want,
                "{verdicts:?} at attempt {attempt}"
            );
        }
    }

    #[test]
    fn a_mismatch_a_rate_limit_decided_must_show_up_again_before_it_is_reported() {
        // Regression (corpus v4/139, 229, 373): `--limit 5/sec` refills between probes, and
        // the two sides never share timing exactly.
        let p = "icmp 198.18.0.5 -> 10.77.0.1 type 8 code 0";
        let hit = |text: &str| RuleHit {
            chain: "INPUT".into(),
            index: Some(2),
            packets: 1,
            origin: None,
            text: text.into(),
            terminal: true,
            maps: false,
        };
        let mut limited = result(p, Verdict::Accept, Verdict::Drop);
        limited.legacy.hits = vec![hit("-A INPUT -p icmp -m limit --limit 5/sec -j ACCEPT")];
        let mut hashlimited = result(p, Verdict::Drop, Verdict::Accept);
        hashlimited.fwnet.hits = vec![hit("update @t { ip saddr limit rate 1/second } accept")];
        let mut plain = result(p, Verdict::Accept, Verdict::Drop);
        plain.legacy.hits = vec![hit("-A INPUT -p icmp -j ACCEPT")];
        let timing = Next::Retry(p.into());
        // (result, attempt, what happens next)
        let cases = [
            (&limited, 0, timing.clone()),
            (&hashlimited, 1, timing),
            (&limited, RETRIES, Next::Report),
            (&plain, 0, Next::Report),
        ];
        for (r, attempt, want) in cases {
            let results = [r.clone()];
            assert_eq!(next_step(doubt(&results), attempt, RETRIES), want, "{r:?}");
        }
    }

    #[test]
    fn slow_plays_expiries_up_to_its_maximum_and_lists_the_rest() {
        let probe = |line: &str, origin: &str| Probe {
            origin: Some(origin.into()),
            ..probes::parse_line(line).unwrap_or_else(|e| panic!("{line}: {e}"))
        };
        let all = vec![
            probe("tcp 10.0.0.5:1 -> 22 x 6", "r:1"),
            probe("tcp 10.0.0.5:2 -> 22 wait 4500", "r:1"),
            probe("icmp 10.0.0.5 wait 12500", "r:2"),
        ];
        let texts = |v: &[Probe]| v.iter().map(|p| p.to_string()).collect::<Vec<_>>();
        // (--slow-max, probes played, not verified)
        let cases: [(Option<u64>, usize, &[&str]); 3] = [
            (
                None,
                1,
                &[
                    "expiry of the set entries of r:1 after 2 s (use --slow)",
                    "expiry of the set entries of r:2 after 10 s (use --slow)",
                ],
            ),
            (
                Some(5),
                2,
                &["expiry of the set entries of r:2 after 10 s: longer than --slow-max 5 s"],
            ),
            (Some(300), 3, &[]),
        ];
        for (max, played, skipped) in cases {
            let (kept, not) = select_expiries(all.clone(), max.map(Duration::from_secs));
            assert_eq!(kept.len(), played, "{max:?}: {:?}", texts(&kept));
            assert_eq!(not, skipped, "{max:?}");
        }
    }

    #[test]
    fn connections_give_up_as_soon_as_the_server_decided_and_never_on_a_lost_syn() {
        let ms = Duration::from_millis;
        let flow = |arrived, passed, answered| Flow {
            arrived,
            passed,
            answered,
        };
        // (flow, elapsed, since arrival, since passed INPUT, pace)
        let cases = [
            (flow(false, false, false), ms(500), None, None, Pace::Wait),
            (
                flow(false, false, false),
                ARRIVAL + ms(1),
                None,
                None,
                Pace::Lost,
            ),
            (
                flow(true, false, false),
                ms(5),
                Some(ms(5)),
                None,
                Pace::Wait,
            ),
            (
                flow(true, false, false),
                ms(50),
                Some(ms(50)),
                None,
                Pace::GiveUp,
            ),
            (
                flow(true, true, false),
                ms(5),
                Some(ms(5)),
                Some(ms(5)),
                Pace::Wait,
            ),
            (
                flow(true, true, false),
                ms(50),
                Some(ms(50)),
                Some(ms(50)),
                Pace::GiveUp,
            ),
            (
                flow(true, true, true),
                ms(900),
                Some(ms(900)),
                Some(ms(900)),
                Pace::Wait,
            ),
            (
                flow(true, true, true),
                ms(2100),
                Some(ms(2100)),
                Some(HANDSHAKE + ms(1)),
                Pace::GiveUp,
            ),
        ];
        for (f, elapsed, arrival, passed, want) in cases {
            assert_eq!(
                pace_of(f, elapsed, arrival, passed),
                want,
                "{f:?} {elapsed:?}"
            );
        }
    }

    #[test]
    fn a_rewrite_names_the_new_destination_and_source_but_not_a_picked_source_port() {
        let key = |protocol: u8, src: &str, sport: u16, dst: &str, dport: u16| {
            let mut l4_head = [0u8; 8];
            l4_head[..2].copy_from_slice(&sport.to_be_bytes());
            l4_head[2..4].copy_from_slice(&dport.to_be_bytes());
            PacketKey {
                id: 7,
                protocol,
                src: src.parse().unwrap(),
                dst: dst.parse().unwrap(),
                l4_head,
                offset: 0,
            }
        };
        let sent = key(6, "198.18.0.1", 20000, "10.77.0.1", 8080);
        assert_eq!(rewrite(&sent, &sent), None);
        // A redirect: the port only, but the whole new endpoint is named.
        let seen = key(6, "198.18.0.1", 20000, "10.77.0.1", 80);
        assert_eq!(rewrite(&sent, &seen).as_deref(), Some("dst 10.77.0.1:80"));
        // SNAT keeping the port, then picking one: the port's value is never part of it.
        let seen = key(6, "10.77.1.1", 20000, "10.77.0.1", 8080);
        assert_eq!(rewrite(&sent, &seen).as_deref(), Some("src 10.77.1.1"));
        let seen = key(6, "10.77.1.1", 31337, "10.77.0.1", 8080);
        assert_eq!(
            rewrite(&sent, &seen).as_deref(),
            Some("src 10.77.1.1, port changed")
        );
        // Both ways at once; IPv6 endpoints in brackets.
        let sent6 = key(17, "2001:db8::1", 20000, "fd77::1", 53);
        let seen6 = key(17, "fd77::9", 20000, "fd77::2", 5353);
        assert_eq!(
            rewrite(&sent6, &seen6).as_deref(),
            Some("dst [fd77::2]:5353, src fd77::9")
        );
        // ICMP has no ports: its identifier, where NAT may move it, is not compared.
        let mut icmp = key(1, "198.18.0.1", 0x0800, "10.77.0.1", 0x1234);
        let mut seen = icmp;
        seen.l4_head[4] = 9;
        assert_eq!(rewrite(&icmp, &seen), None);
        icmp.dst = "10.77.0.9".parse().unwrap();
        assert_eq!(rewrite(&icmp, &seen).as_deref(), Some("dst 10.77.0.1"));
    }

    #[test]
    fn legacy_rules_are_named_from_the_files_not_from_the_translation() {
        // Regression: the translation merges rules (`dport { 80, 443 }`), so legacy rule N is
        // not IR rule N; legacy origins come from replaying the files' -A and -I.
        let v4 = "*nat\n-A PREROUTING -j ACCEPT\nCOMMIT\n*filter\n:INPUT DROP [0:0]\n-A INPUT -p tcp --dport 80 -j ACCEPT\n-A INPUT -p tcp --dport 443 -j ACCEPT\n-I INPUT -i lo -j ACCEPT\n-I INPUT 2 -p icmp -j ACCEPT\n-A x -j LOG\nCOMMIT\n";
        let originals = [
            Original {
                name: "a".into(),
                family: Family::Ip,
                text: v4.into(),
            },
            Original {
                name: "b".into(),
                family: Family::Ip,
                text: "*filter\n-A INPUT -j DROP\nCOMMIT\n".into(),
            },
            Original {
                name: "c".into(),
                family: Family::Ip6,
                text: "*filter\n-A INPUT -j DROP\nCOMMIT\n".into(),
            },
            // `iptables-save -c`: counters before the command.
            Original {
                name: "d".into(),
                family: Family::Ip,
                text: "*filter\n[3:180] -A INPUT -s 127.0.0.1/32 -j ACCEPT\nCOMMIT\n".into(),
            },
        ];
        let got = legacy_origins(&originals, Family::Ip, "filter");
        assert_eq!(got["INPUT"], ["a:8", "a:9", "a:6", "a:7", "b:2", "d:2"]);
        assert_eq!(got["x"], ["a:10"]);
        assert!(
            !got.contains_key("PREROUTING"),
            "nat is not the filter table"
        );
        assert_eq!(
            legacy_origins(&originals, Family::Ip6, "filter")["INPUT"],
            ["c:2"]
        );
        // (table, iptables-save rule, decides the packet's fate)
        let cases = [
            ("filter", "-A INPUT -i lo -j ACCEPT", true),
            (
                "filter",
                "-A INPUT -p tcp -j REJECT --reject-with tcp-reset",
                true,
            ),
            ("filter", "-A INPUT -j DROP", true),
            (
                "filter",
                "-A INPUT -j LOG --log-prefix \"-j ACCEPT\"",
                false,
            ),
            ("filter", "-A INPUT -j svc", false),
            ("filter", "-A INPUT -p tcp", false),
            // An accept ends only the mangle or raw table's walk; the filter table decides.
            ("mangle", "-A PREROUTING -i lo -j ACCEPT", false),
            (
                "mangle",
                "-A PREROUTING -m conntrack --ctstate INVALID -j DROP",
                true,
            ),
            ("raw", "-A PREROUTING -p tcp -j CT --notrack", false),
            ("raw", "-A PREROUTING -s 10.0.0.0/8 -j DROP", true),
            ("security", "-A INPUT -j REJECT", true),
            (
                "nat",
                "-A PREROUTING -j DNAT --to-destination 10.0.0.1",
                false,
            ),
        ];
        for (table, rule, want) in cases {
            let table = COUNTED.iter().find(|t| t.legacy == table).unwrap();
            assert_eq!(legacy_terminal(table, rule), want, "{rule}");
        }
    }

    #[test]
    fn a_dump_of_every_table_splits_into_its_tables() {
        let dump = "# Generated by iptables-save v1.8.9 on Fri Nov 27 11:00:00 2026\n\
                    *raw\n:PREROUTING ACCEPT [3:180]\n[1:60] -A PREROUTING -j DROP\nCOMMIT\n\
                    # Completed\n\
                    *filter\n:INPUT DROP [7:420]\n[2:120] -A INPUT -j ACCEPT\nCOMMIT\n";
        let sections = save_sections(dump);
        let names: Vec<&str> = sections.iter().map(|(n, _)| *n).collect();
        assert_eq!(names, ["raw", "filter"]);
        let raw = &COUNTED[1];
        assert_eq!(raw.legacy, "raw");
        let snap = parse_save_counters(raw, sections[0].1, None, None);
        assert_eq!(snap.rules["PREROUTING"], [1]);
        assert!(snap.texts["PREROUTING"][0].terminal);
        let snap = parse_save_counters(&COUNTED[0], sections[1].1, None, None);
        assert_eq!(snap.rules["INPUT"], [2]);
        assert_eq!(snap.policy["INPUT"], 7);
        assert!(save_sections("").is_empty());
    }

    #[test]
    fn interface_names_the_kernel_refuses_are_recognised() {
        // Regression: `-i venet0:0` (an alias) made link creation fail and verification stop.
        let cases = [
            ("eth0", true),
            ("venet0:0", false),
            ("a/b", false),
            ("with space", false),
            ("", false),
            ("..", false),
            ("fifteen_chars_x", true),
            ("sixteen_chars_xx", false),
        ];
        for (name, want) in cases {
            assert_eq!(valid_ifname(name), want, "{name}");
        }
    }

    #[test]
    fn probes_on_lo_to_link_local_addresses_and_aliases_are_not_played() {
        // Regression: `-d fe80::/10 -i lo` derived a probe the harness could not deliver.
        let cases = [
            (
                "tcp [2001:db8::1]:20015 -> [fe80::]:33434 flags S iif lo",
                true,
            ),
            ("udp [2001:db8::1]:20002 -> [febf::1]:546 iif lo", true),
            (
                "tcp [2001:db8::1]:20015 -> [fe80::]:33434 flags S iif eth1",
                false,
            ),
            ("tcp [2001:db8::1]:20015 -> [fe80::]:33434 flags S", false),
            (
                "tcp [fd77::1]:20001 -> [fd77::1]:33434 flags S iif lo",
                false,
            ),
            (
                "tcp [2001:db8::1]:20001 -> [fec0::1]:22 flags S iif lo",
                false,
            ),
            (
                "tcp 10.0.0.5:40000 -> 10.77.0.1:22 flags S iif venet0:0",
                true,
            ),
        ];
        for (text, want) in cases {
            let probe = probes::parse_line(text).unwrap_or_else(|e| panic!("{text}: {e}"));
            assert_eq!(impossible_why(&probe).is_some(), want, "{text}");
        }
    }

    #[test]
    fn link_local_destinations_are_owned_on_the_link_they_arrive_on() {
        let links = ["eth0".to_string(), "eth1".to_string()];
        let lines = [
            "udp [2001:db8::1]:20002 -> [fe80::]:546",
            "udp [2001:db8::1]:20003 -> [fe80::]:546 reply",
            "udp [2001:db8::1]:20004 -> [fe80::1]:546 iif eth1",
            "udp [2001:db8::1]:20005 -> [fe80::2]:546 iif ppp9",
            "tcp [2001:db8::1]:20006 -> [fe80::3]:22 flags S iif lo",
            "icmpv6 fe80::77:0:2 -> fd77::1 type 135",
            "udp [2001:db8::1]:20007 -> [ff02::fb]:5353",
        ];
        let all: Vec<Probe> = lines
            .iter()
            .map(|l| probes::parse_line(l).unwrap_or_else(|e| panic!("{l}: {e}")))
            .collect();
        let got: Vec<String> = link_local_dsts(&all, &links)
            .iter()
            .map(|(link, a)| format!("{a} on {link}"))
            .collect();
        assert_eq!(
            got,
            ["fe80:: on eth0", "fe80::2 on eth0", "fe80::1 on eth1"]
        );
        assert!(link_local_dsts(&all, &[]).is_empty());
    }

    #[test]
    fn written_connections_are_one_a_packet_and_quoted_ones_are_reversed() {
        let (client, far) = (
            IpAddr::from([198, 18, 0, 1]),
            IpAddr::from([198, 51, 100, 10]),
        );
        let est = Spec::Established {
            proto: 6,
            src: client,
            sport: 20000,
            dst: far,
            dport: 443,
        };
        let flows = written_flows(&est, Path::Forward, 3);
        assert_eq!(
            flows.iter().map(|f| f.sport).collect::<Vec<_>>(),
            [20000, 20001, 20002]
        );
        assert!(flows
            .iter()
            .all(|f| f.proto == 6 && f.src == client && f.dport == 443));
        // The packets are those flows' own: crafted with the same stepped port, tcp ACK.
        let p = crafted(&est, 2).unwrap();
        let key = PacketKey::of(&p.to_bytes()).unwrap();
        assert_eq!((key.src, key.dst), (client, far));
        let related = Spec::Related {
            src: client,
            sport: 20000,
            dst: far,
            dport: 53,
        };
        // Routed: the quoted datagram's connection, from the far end to the client.
        assert_eq!(
            written_flows(&related, Path::Output, 1),
            [CtFlow {
                proto: IPPROTO_UDP,
                src: far,
                sport: 53,
                dst: client,
                dport: 20000,
            }]
        );
        // To the server the server really sends that datagram; nothing is written.
        assert!(written_flows(&related, Path::Input, 1).is_empty());
        let plain = Spec::Udp {
            src: client,
            sport: 20000,
            dst: far,
            dport: 53,
            reply: false,
        };
        assert!(written_flows(&plain, Path::Forward, 1).is_empty());
    }

    #[test]
    fn probes_without_a_writable_connection_are_named_once_per_rule() {
        let probe = |line: &str, spec: &str| {
            let mut p = probes::parse_line(spec).unwrap();
            p.origin = Some(line.to_string());
            p
        };
        let lines = unwritten(
            &[
                probe(
                    "r:5",
                    "established tcp 198.18.0.1:20000 -> 198.51.100.10:80 forward",
                ),
                probe(
                    "r:5",
                    "established udp 198.18.0.1:20001 -> 198.51.100.10:80 forward",
                ),
                probe("r:7", "related 10.77.0.1:20002 -> 198.51.100.10:53 output"),
            ],
            "no ctnetlink",
        );
        assert_eq!(
            lines,
            [
                "`established tcp 198.18.0.1:20000 -> 198.51.100.10:80 forward` and 1 more like it (r:5): no ctnetlink",
                "`related 10.77.0.1:20002 -> 198.51.100.10:53 output` (r:7): no ctnetlink",
            ]
        );
    }

    #[test]
    fn a_burst_with_a_lost_packet_has_no_verdict() {
        use Seen::{Accepted as A, Dropped as D, NotReceived as N};
        let cases: [(&[Seen], Verdict); 5] = [
            (&[A, A], Verdict::Accept),
            (&[D, D], Verdict::Drop),
            (
                &[A, D, D],
                Verdict::Partial {
                    accepted: 1,
                    sent: 3,
                },
            ),
            (&[A, N], Verdict::NotReceived),
            (&[D, N, D], Verdict::NotReceived),
        ];
        for (seen, want) in cases {
            assert_eq!(summarize(seen), want, "{seen:?}");
        }
    }
}
