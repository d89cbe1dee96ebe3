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
//! For each probe, each side's per-rule packet counters are read before and after
//! (`iptables-legacy-save -c` on the legacy side, [`crate::status`] on fwnet's), so a mismatch
//! names the rule that decided it on each side, with the original `file:line`. Legacy rule N of
//! a chain is the IR's rule N of that chain: the translator keeps one IR rule per iptables rule,
//! in kernel order (`-I` included).
//!
//! Test hook (deliberately not in `--help`): [`Mutation`] breaks fwnet's side on purpose (a
//! global instead of a per-source limit, burst 5, no `ct state new`, no `iif lo`), so tests can
//! check that verification catches it; the CLI reads it from `FWNET_VERIFY_MUTATE`.
//!
//! Not verified: FORWARD and OUTPUT verdicts, nat/mangle/raw, IPv6, expiry waits (`--slow`).

use super::netns::{self, Link, Site, SiteSpec};
use super::observe::{Observer, PacketKey, Seen};
use super::packet::{LinkSender, Packet, RawSender, ICMP_DEST_UNREACHABLE};
use super::probes::{self, Probe, Spec};
use super::report::{ProbeResult, Report, RuleHit, Side, Timings, Verdict};
use fwnet_nft::{Ruleset, Stmt};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::io::{Read, Write};
use std::net::{Ipv4Addr, Shutdown, TcpListener, TcpStream, UdpSocket};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

/// How long a real connection may take to be established before it counts as dropped.
pub const CONNECT_TIMEOUT: Duration = Duration::from_millis(300);
const PAYLOAD: &[u8] = b"fwnet verify payload\n";
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
}

impl Mutation {
    pub const ALL: [Mutation; 4] = [
        Mutation::GlobalLimit,
        Mutation::Burst5,
        Mutation::NoCtNew,
        Mutation::NoIifLo,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Mutation::GlobalLimit => "global-limit",
            Mutation::Burst5 => "burst5",
            Mutation::NoCtNew => "no-ct-new",
            Mutation::NoIifLo => "no-iif-lo",
        }
    }

    pub fn parse(s: &str) -> Option<Mutation> {
        Mutation::ALL.into_iter().find(|m| m.name() == s)
    }
}

/// Applies `m` to every table of `rs`; returns how many rules it changed or removed.
pub fn mutate(rs: &mut Ruleset, m: Mutation) -> usize {
    use fwnet_nft::{ct_state, CmpOp, CtKey, Expr, Match, MetaKey, Value};
    let mut changed = 0;
    for t in &mut rs.tables {
        for c in &mut t.chains {
            let before = c.rules.len();
            if m == Mutation::NoIifLo {
                c.rules.retain(|r| {
                    !r.stmts.iter().any(|s| {
                        matches!(s, Stmt::Match(Match::Cmp { left: Expr::Meta(MetaKey::Iifname), op: CmpOp::Eq, right: Value::Iface { name, wildcard: false } }) if name == "lo")
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
                                *s = Stmt::Limit(*l);
                            }
                        }
                    }
                    Mutation::Burst5 => {
                        for s in &mut r.stmts {
                            match s {
                                Stmt::Limit(l) | Stmt::SetUpdate { limit: Some(l), .. } => l.burst = 5,
                                _ => {}
                            }
                        }
                    }
                    Mutation::NoCtNew => r.stmts.retain(|s| {
                        !matches!(s, Stmt::Match(Match::Flags { left: Expr::Ct(CtKey::State), bits, op: CmpOp::Eq }) if *bits == ct_state::NEW)
                    }),
                    Mutation::NoIifLo => {}
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
}

impl Default for Options {
    fn default() -> Options {
        Options {
            keep: false,
            cap: probes::DEFAULT_CAP,
            extra: Vec::new(),
            mutation: None,
            tcp_loose: None,
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

/// Verifies that `translated` (fwnet's IR of `originals`) gives every probe the same INPUT
/// verdict as the legacy kernel given `originals` (iptables-save texts, IPv4, in order).
pub fn verify(
    translated: &Ruleset,
    originals: &[String],
    options: &Options,
) -> Result<Report, Error> {
    let started = Instant::now();
    // SAFETY: geteuid has no preconditions and cannot fail.
    if unsafe { libc::geteuid() } != 0 {
        return Err(Error::NotRoot);
    }
    for (tool, package) in [
        ("ip", "iproute2"),
        ("iptables-legacy-restore", "iptables"),
        ("iptables-legacy-save", "iptables"),
    ] {
        if !find_program(tool) {
            return Err(Error::MissingTool(tool, package));
        }
    }
    netns::cleanup_on_signals().map_err(Error::Setup)?;
    netns::reap_stale();

    let mut fwnet_ir = translated.clone();
    if let Some(m) = options.mutation {
        mutate(&mut fwnet_ir, m);
    }
    let derived = probes::derive(translated, options.cap);
    let mut all = derived.probes;
    all.extend(options.extra.iter().cloned());
    let main = probes::main_link_name(translated);
    let mut links = vec![main.clone()];
    links.extend(probes::links(&all).into_iter().filter(|l| *l != main));
    let link_nets: BTreeSet<Ipv4Addr> = (0..links.len())
        .map(|i| Ipv4Addr::new(10, 77, i as u8, 1))
        .collect();
    let server_addrs: BTreeSet<Ipv4Addr> = all
        .iter()
        .map(|p| p.spec.dst())
        .filter(|a| usable_local(*a) && !link_nets.contains(a))
        .collect();
    let client_addrs: BTreeSet<Ipv4Addr> = all
        .iter()
        .filter(|p| matches!(p.spec, Spec::Connect { .. }))
        .map(|p| p.spec.src())
        .filter(|a| usable_local(*a) && !server_addrs.contains(a) && !is_link_addr(*a, links.len()))
        .collect();
    let spec = SiteSpec {
        links,
        server_addrs: server_addrs.into_iter().collect(),
        client_addrs: client_addrs.into_iter().collect(),
        keep: options.keep,
    };

    // Setup, both sides at once.
    let (legacy, fwnet) = thread::scope(|s| {
        let legacy = s.spawn(|| -> Result<Site, Error> {
            let site = Site::new("legacy", &spec).map_err(Error::Setup)?;
            for (i, text) in originals.iter().enumerate() {
                let args: &[&str] = if i == 0 { &[] } else { &["--noflush"] };
                site.server
                    .exec_stdin("iptables-legacy-restore", args, text)
                    .map_err(Error::LegacyRejected)?;
            }
            Ok(site)
        });
        let fwnet = s.spawn(|| -> Result<Site, Error> {
            let site = Site::new("fwnet", &spec).map_err(Error::Setup)?;
            site.server
                .try_run_in(|| crate::apply(&fwnet_ir, crate::Mode::Commit))
                .map_err(Error::Setup)?
                .map_err(Error::Apply)?;
            Ok(site)
        });
        (join(legacy), join(fwnet))
    });
    let (legacy, fwnet) = (legacy?, fwnet?);

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

    let chains = reachable_chains(translated);
    let labels = fwnet_labels(&fwnet, &fwnet_ir).map_err(Error::Setup)?;
    let (a, b) = thread::scope(|s| {
        let a = s.spawn(|| {
            play(
                &legacy,
                &all,
                &|| legacy_snapshot(&legacy, translated),
                translated,
                &chains,
            )
        });
        let b = s.spawn(|| {
            play(
                &fwnet,
                &all,
                &|| fwnet_snapshot(&fwnet, &labels),
                &fwnet_ir,
                &chains,
            )
        });
        (join(a), join(b))
    });
    let (a, b) = (a.map_err(Error::Setup)?, b.map_err(Error::Setup)?);
    let probes_time = started.elapsed() - setup;

    let mut results = Vec::new();
    for ((probe, l), f) in all.into_iter().zip(a).zip(b) {
        let same = l.verdict == f.verdict;
        results.push(ProbeResult {
            text: probe.to_string(),
            probe,
            legacy: l,
            fwnet: f,
            same,
        });
    }
    let kept = if options.keep {
        let mut k = legacy.removal_commands();
        k.extend(fwnet.removal_commands());
        k
    } else {
        Vec::new()
    };
    let mismatches = results.iter().filter(|r| !r.same).count();
    Ok(Report {
        results,
        mismatches,
        tcp_loose: loose,
        uncovered: derived.uncovered,
        not_verified: not_verified(translated),
        kept,
        mutation: options.mutation.map(|m| m.name().to_string()),
        timings: Timings {
            setup_ms: setup.as_millis() as u64,
            probes_ms: probes_time.as_millis() as u64,
            total_ms: started.elapsed().as_millis() as u64,
        },
    })
}

fn join<T>(h: thread::ScopedJoinHandle<'_, T>) -> T {
    match h.join() {
        Ok(v) => v,
        Err(panic) => std::panic::resume_unwind(panic),
    }
}

fn usable_local(a: Ipv4Addr) -> bool {
    let o = a.octets()[0];
    o != 0 && o != 127 && o < 224 && !a.is_broadcast()
}

fn is_link_addr(a: Ipv4Addr, links: usize) -> bool {
    let o = a.octets();
    o[0] == 10 && o[1] == 77 && usize::from(o[2]) < links && o[3] <= 2
}

/// INPUT and every chain reachable from it, in the order first reached.
fn reachable_chains(rs: &Ruleset) -> Vec<String> {
    let mut out = vec!["INPUT".to_string()];
    let Some(t) = probes::filter_table(rs) else {
        return out;
    };
    let mut i = 0;
    while i < out.len() {
        if let Some(c) = t.chains.iter().find(|c| c.name == out[i]) {
            for r in &c.rules {
                for s in &r.stmts {
                    if let Stmt::Verdict(
                        fwnet_nft::Verdict::Jump(n) | fwnet_nft::Verdict::Goto(n),
                    ) = s
                    {
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

fn not_verified(rs: &Ruleset) -> Vec<String> {
    let mut out = Vec::new();
    for t in &rs.tables {
        let is_filter = probes::filter_table(rs).is_some_and(|f| std::ptr::eq(f, t));
        if !is_filter {
            let rules: usize = t.chains.iter().map(|c| c.rules.len()).sum();
            out.push(
                format!(
                    "table {:?} {} ({rules} rules): only ip fwnet_filter INPUT is verified",
                    t.family, t.name
                )
                .to_lowercase(),
            );
            continue;
        }
        for c in &t.chains {
            if matches!(c.name.as_str(), "FORWARD" | "OUTPUT")
                && (!c.rules.is_empty()
                    || c.base
                        .as_ref()
                        .is_some_and(|b| b.policy == fwnet_nft::Policy::Drop))
            {
                out.push(format!(
                    "chain {} ({} rules): only INPUT is verified",
                    c.name,
                    c.rules.len()
                ));
            }
        }
    }
    out
}

/// Per-chain rule counters of one side at one moment.
#[derive(Default)]
struct Snapshot {
    rules: BTreeMap<String, Vec<(u64, String, Option<String>)>>,
    policy: BTreeMap<String, u64>,
}

fn ir_origin(ir: &Ruleset, chain: &str, i: usize) -> Option<String> {
    let t = probes::filter_table(ir)?;
    let c = t.chains.iter().find(|c| c.name == chain)?;
    c.rules.get(i)?.origin.as_ref().map(|o| o.to_string())
}

fn is_terminal(ir: &Ruleset, chain: &str, i: usize) -> bool {
    let rule = probes::filter_table(ir)
        .and_then(|t| t.chains.iter().find(|c| c.name == chain))
        .and_then(|c| c.rules.get(i));
    rule.is_some_and(|r| {
        r.stmts.iter().any(|s| {
            matches!(
                s,
                Stmt::Reject(_)
                    | Stmt::Verdict(fwnet_nft::Verdict::Accept | fwnet_nft::Verdict::Drop)
            )
        })
    })
}

fn legacy_snapshot(site: &Site, ir: &Ruleset) -> Result<Snapshot, String> {
    let text = site
        .server
        .exec("iptables-legacy-save", &["-c", "-t", "filter"])?;
    Ok(parse_save_counters(&text, ir))
}

/// Reads `iptables-save -c` output: `:CHAIN POLICY [p:b]` and `[p:b] -A CHAIN ...` lines.
fn parse_save_counters(text: &str, ir: &Ruleset) -> Snapshot {
    let mut snap = Snapshot::default();
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
            let chain = rule.split_whitespace().nth(1).unwrap_or("").to_string();
            let list = snap.rules.entry(chain.clone()).or_default();
            let origin = ir_origin(ir, &chain, list.len());
            list.push((packets(counters), rule.to_string(), origin));
        }
    }
    snap
}

/// Rule texts and origins of fwnet's side, read once: positions never change during a run.
type Labels = BTreeMap<String, Vec<(String, Option<String>)>>;

fn fwnet_labels(site: &Site, ir: &Ruleset) -> Result<Labels, String> {
    let tables = site
        .server
        .try_run_in(|| crate::status(Some(ir)))?
        .map_err(|e| format!("reading fwnet's rules: {e}"))?;
    let mut labels = Labels::new();
    for t in tables
        .into_iter()
        .filter(|t| t.family == "ip" && t.name == "fwnet_filter")
    {
        for c in t.chains {
            labels.insert(
                c.name,
                c.rules.into_iter().map(|r| (r.text, r.origin)).collect(),
            );
        }
    }
    Ok(labels)
}

fn fwnet_snapshot(site: &Site, labels: &Labels) -> Result<Snapshot, String> {
    let counters = site
        .server
        .try_run_in(|| crate::rule_counters(fwnet_nft::Family::Ip, "fwnet_filter"))?
        .map_err(|e| format!("reading fwnet's counters: {e}"))?;
    let mut snap = Snapshot::default();
    for (chain, packets) in counters {
        let l = labels.get(&chain);
        let rules = packets
            .into_iter()
            .enumerate()
            .map(|(i, p)| {
                let (text, origin) = l.and_then(|l| l.get(i)).cloned().unwrap_or_default();
                (p, text, origin)
            })
            .collect();
        snap.rules.insert(chain, rules);
    }
    Ok(snap)
}

fn hits(before: &Snapshot, after: &Snapshot, ir: &Ruleset, chains: &[String]) -> Vec<RuleHit> {
    let mut out = Vec::new();
    for chain in chains {
        let (Some(b), Some(a)) = (before.rules.get(chain), after.rules.get(chain)) else {
            continue;
        };
        for (i, ((pb, _, _), (pa, text, origin))) in b.iter().zip(a).enumerate() {
            if pa > pb {
                out.push(RuleHit {
                    chain: chain.clone(),
                    index: Some(i),
                    packets: pa - pb,
                    origin: origin.clone(),
                    text: text.clone(),
                    terminal: is_terminal(ir, chain, i),
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
                });
            }
        }
    }
    out
}

/// Plays every probe in order on `site`; one [`Side`] per probe.
fn play(
    site: &Site,
    all: &[Probe],
    snapshot: &dyn Fn() -> Result<Snapshot, String>,
    ir: &Ruleset,
    chains: &[String],
) -> Result<Vec<Side>, String> {
    let senders: Vec<(String, LinkSender)> = site.client.try_run_in(|| {
        site.links
            .iter()
            .map(|l| LinkSender::open(&l.name, l.server_mac()).map(|s| (l.name.clone(), s)))
            .collect::<Result<Vec<_>, String>>()
    })??;
    let from_server = site.server.try_run_in(RawSender::open)??;
    let mut observer = Observer::start(&site.server)?;
    let mut next_id: u16 = 0x1000;
    let mut out = Vec::with_capacity(all.len());
    let mut before = snapshot()?;
    for probe in all {
        let link = match probe.iif.as_deref() {
            None => &site.links[0],
            Some(name) => site.link(name).unwrap_or(&site.links[0]),
        };
        let sender = senders
            .iter()
            .find(|(n, _)| *n == link.name)
            .map(|(_, s)| s);
        let from_lo = probe.iif.as_deref() == Some("lo");
        let verdict = match &probe.spec {
            Spec::Connect {
                src,
                sport,
                dst,
                dport,
            } => connect(site, link, *src, *sport, *dst, *dport)?,
            spec => {
                let mut packets = Vec::new();
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
                    server_datagram(site, *dst, *dport, *src, *sport)?;
                }
                for i in 0..probe.count {
                    let p = crafted(spec, i)?.with_id(next_id);
                    next_id = next_id.checked_add(1).filter(|n| *n != 0).unwrap_or(0x1000);
                    packets.push(p);
                }
                let keys: Vec<PacketKey> = packets
                    .iter()
                    .map(|p| {
                        PacketKey::of(&p.to_bytes())
                            .ok_or("crafted packet too short for a key".to_string())
                    })
                    .collect::<Result<_, _>>()?;
                let mark = observer.mark()?;
                for p in &packets {
                    match (from_lo, sender) {
                        (true, _) => from_server.send(p)?,
                        (false, Some(s)) => s.send(p)?,
                        (false, None) => return Err(format!("no link {}", link.name)),
                    }
                }
                let seen = observer.verdicts(&keys, mark)?;
                summarize(&seen)
            }
        };
        let after = snapshot()?;
        out.push(Side {
            verdict,
            hits: hits(&before, &after, ir, chains),
        });
        before = after;
    }
    Ok(out)
}

fn summarize(seen: &[Seen]) -> Verdict {
    let accepted = seen.iter().filter(|s| **s == Seen::Accepted).count() as u32;
    if seen.contains(&Seen::NotReceived) && accepted == 0 {
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
    let step = |port: u16| port.wrapping_add(i as u16);
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
            kind: 8,
            code,
        } => {
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
            Packet::icmp(src, dst, ICMP_DEST_UNREACHABLE, 3, 0, &quoted[..28])
        }
        Spec::Connect { .. } => return Err("a connection is not a crafted packet".into()),
    })
}

/// The server sends one datagram `from:fport -> to:tport` (opening a conntrack flow).
fn server_datagram(
    site: &Site,
    from: Ipv4Addr,
    fport: u16,
    to: Ipv4Addr,
    tport: u16,
) -> Result<(), String> {
    site.server
        .try_run_in(|| {
            let s = UdpSocket::bind((from, fport))?;
            s.send_to(b"hello", (to, tport)).map(drop)
        })?
        .map_err(|e| format!("server datagram {from}:{fport} -> {to}:{tport}: {e}"))
}

/// A real connection: the verdict is whether the server-side listener got the whole payload.
fn connect(
    site: &Site,
    link: &Link,
    src: Ipv4Addr,
    sport: u16,
    dst: Ipv4Addr,
    dport: u16,
) -> Result<Verdict, String> {
    let gateway = link.server_ip().to_string();
    site.client.ip(&[
        "route",
        "replace",
        &format!("{dst}/32"),
        "via",
        &gateway,
        "dev",
        &link.name,
    ])?;
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
    // Whatever goes wrong on the client side after bind is the ruleset's doing; the listener's
    // view is the verdict.
    let _ = talk(socket, dst, dport);
    stop.store(true, Ordering::Relaxed);
    let received = server
        .join()
        .map_err(|_| "listener thread panicked".to_string())?;
    Ok(if received.as_deref() == Some(PAYLOAD) {
        Verdict::Accept
    } else {
        Verdict::Drop
    })
}

fn serve_once(listener: &TcpListener, stop: &AtomicBool) -> Option<Vec<u8>> {
    loop {
        match listener.accept() {
            Ok((mut stream, _)) => {
                stream.set_nonblocking(false).ok()?;
                stream.set_read_timeout(Some(Duration::from_secs(1))).ok()?;
                let mut bytes = Vec::new();
                let _ = stream.read_to_end(&mut bytes);
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

/// A nonblocking TCP socket bound to `src:sport`, in the calling thread's namespace.
fn tcp_socket(src: Ipv4Addr, sport: u16) -> Result<OwnedFd, String> {
    // SAFETY: plain socket(2) call; the result is checked before being owned.
    let fd = unsafe {
        libc::socket(
            libc::AF_INET,
            libc::SOCK_STREAM | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC,
            0,
        )
    };
    if fd < 0 {
        return Err(format!("tcp socket: {}", std::io::Error::last_os_error()));
    }
    // SAFETY: fd is a fresh descriptor that nothing else owns.
    let socket = unsafe { OwnedFd::from_raw_fd(fd) };
    let local = super::packet::sockaddr_in(src, sport);
    let len = std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t;
    // SAFETY: local is a live sockaddr_in of the stated size.
    if unsafe { libc::bind(fd, (&local as *const libc::sockaddr_in).cast(), len) } != 0 {
        return Err(format!(
            "bind {src}:{sport}: {}",
            std::io::Error::last_os_error()
        ));
    }
    Ok(socket)
}

/// Connects within [`CONNECT_TIMEOUT`], sends the payload, half-closes and reads the server's
/// answer until it closes.
fn talk(socket: OwnedFd, dst: Ipv4Addr, dport: u16) -> Result<(), String> {
    let fd = socket.as_raw_fd();
    let len = std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t;
    let remote = super::packet::sockaddr_in(dst, dport);
    // SAFETY: remote is a live sockaddr_in of the stated size.
    if unsafe { libc::connect(fd, (&remote as *const libc::sockaddr_in).cast(), len) } != 0 {
        let err = std::io::Error::last_os_error();
        if err.raw_os_error() != Some(libc::EINPROGRESS) {
            return Err(format!("connect: {err}"));
        }
    }
    let deadline = Instant::now() + CONNECT_TIMEOUT;
    loop {
        let mut pfd = libc::pollfd {
            fd,
            events: libc::POLLOUT,
            revents: 0,
        };
        let left = deadline
            .saturating_duration_since(Instant::now())
            .as_millis() as libc::c_int;
        // SAFETY: pfd is one live pollfd.
        let ready = unsafe { libc::poll(&mut pfd, 1, left) };
        if ready > 0 {
            break;
        }
        if ready == 0 || Instant::now() >= deadline {
            return Err("connect timed out".to_string());
        }
    }
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
    stream
        .shutdown(Shutdown::Write)
        .map_err(|e| e.to_string())?;
    let mut answer = Vec::new();
    stream
        .read_to_end(&mut answer)
        .map_err(|e| format!("read answer: {e}"))?;
    Ok(())
}
