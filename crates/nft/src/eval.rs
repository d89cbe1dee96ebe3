//! An interpreter of the IR for one described packet: which verdict a ruleset gives it.
//!
//! [`chain`] walks one base chain the way nf_tables does (rules in order, statements left to
//! right, `jump`/`goto`/`return` on a call stack, the policy at the end); [`hook`] runs every
//! base chain of a ruleset on one hook in priority order, where a drop anywhere is final and an
//! accept only ends that chain. It exists for the SSH lockout guard of `fwnet apply`, which asks
//! "would this ruleset cut the connection I am running over?"; `fwnet verify` also asks it
//! whether a client could make the connection an ESTABLISHED probe rides on, and
//! ([`fails_before`]) which rate limits a burst of probes cannot reach.
//!
//! What the interpreter cannot know (the state of a rate limit, the packet mark, the route type
//! of an address, the owning socket, the time of day or date, raw packet bytes (`@nh`, from
//! `-m u32`), a statement it does not model) is an unknown condition: both ways are followed,
//! and when they disagree the verdict is [`Verdict::Unknown`], naming the rule and
//! [`Unknowable`] reason. `reject` counts as a drop. NAT base chains only see the first packet
//! of a connection, so they are skipped unless the packet's `ct state` has `new`. A NAT
//! statement ends the walk like an accept, and [`Outcome::nat`] names it: the mapping the
//! connection gets, which two ways of an unknown condition must also agree on.
//!
//! It deliberately does not model packet modification, fragments (packets are whole), IPv6
//! extension headers (a described packet has none: `rt type 0` does not match it and `exthdr rt
//! missing` does), TCP options, or tables fwnet does not own; it does no I/O.

use crate::ir::{
    ct_state, BaseChain, ChainKind, CmpOp, CtKey, Expr, Family, Field, Hook, MarkKey, MarkSet,
    Match, MetaKey, Nat, Origin, Policy, Rule, Ruleset, Stmt, Table, Value, Verdict as IrVerdict,
};
use std::fmt;
use std::net::IpAddr;

/// One packet as the ruleset sees it. The family is the addresses' (IPv4 or IPv6).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Packet {
    pub iifname: Device,
    pub oifname: Device,
    pub saddr: IpAddr,
    pub daddr: IpAddr,
    /// IP protocol number (6 tcp, 17 udp, 1 icmp, 58 icmpv6).
    pub l4proto: u8,
    pub sport: u16,
    pub dport: u16,
    /// The TCP flags byte ([`crate::ir::tcp_flag`] bits).
    pub tcp_flags: u8,
    pub icmp_type: u8,
    pub icmp_code: u8,
    /// Conntrack state bits ([`crate::ir::ct_state`]).
    pub ct_state: u64,
    /// The packet mark, when known.
    pub mark: Option<u32>,
    /// The connection's mark, when known.
    pub ct_mark: Option<u32>,
}

/// An interface as a hook sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Device {
    Name(String),
    /// The hook has no such interface (no input interface on output): the kernel loads an
    /// empty name, so `iifname != "eth0"` matches and `iifname "eth0"` does not.
    Absent,
    /// There is one, but which is not known.
    Unknown,
}

impl Packet {
    /// A TCP packet with the given flags and connection state; no interfaces, marks unknown.
    pub fn tcp(saddr: IpAddr, sport: u16, daddr: IpAddr, dport: u16, flags: u8, ct: u64) -> Packet {
        Packet {
            iifname: Device::Absent,
            oifname: Device::Absent,
            saddr,
            daddr,
            l4proto: 6,
            sport,
            dport,
            tcp_flags: flags,
            icmp_type: 0,
            icmp_code: 0,
            ct_state: ct,
            mark: None,
            ct_mark: None,
        }
    }

    fn is_v6(&self) -> bool {
        self.saddr.is_ipv6()
    }

    /// Whether a table of this family sees the packet.
    fn seen_by(&self, f: Family) -> bool {
        match f {
            Family::Ip => !self.is_v6(),
            Family::Ip6 => self.is_v6(),
            Family::Inet => true,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    Accept,
    Drop,
    /// It depends on something the interpreter cannot know; see [`Outcome::unknown`].
    Unknown,
}

/// Why a verdict could not be known.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Unknowable {
    /// `limit rate` or a per-key limit in `update @set`.
    RateLimit,
    /// `meta mark` / `ct mark` when the packet's marks are not known.
    Mark,
    /// `fib ... type`: the route type of an address.
    RouteType,
    /// `meta skuid/skgid`: the owner of the local socket.
    SocketOwner,
    /// `ct status`.
    CtStatus,
    /// An interface name when the packet's interface is not known.
    Interface,
    /// A jump to a chain that does not exist, or a call stack deeper than the kernel allows.
    BadJump,
    /// So many unknown conditions that following every way was not worth it.
    TooManyPaths,
    /// A statement or match this interpreter does not model.
    Unmodelled,
    /// `ct count`: how many connections share the packet's key.
    ConnCount,
    /// `meta time` / `meta hour` / `meta day`: when the packet is seen, which a described
    /// packet does not say.
    Clock,
}

impl fmt::Display for Unknowable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Unknowable::RateLimit => "a rate limit",
            Unknowable::Mark => "a packet or connection mark",
            Unknowable::RouteType => "a route type lookup",
            Unknowable::SocketOwner => "the owner of the local socket",
            Unknowable::CtStatus => "the connection's status bits",
            Unknowable::Interface => "an interface name",
            Unknowable::BadJump => "a jump fwnet cannot follow",
            Unknowable::TooManyPaths => "too many undecidable conditions",
            Unknowable::Unmodelled => "a statement fwnet cannot evaluate offline",
            Unknowable::ConnCount => "a connection count",
            Unknowable::Clock => "the time of day or date",
        })
    }
}

/// Where a verdict was decided.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DecidedBy {
    /// The table's name (its family is in [`DecidedBy::family`]).
    pub table: String,
    pub family: Family,
    pub chain: String,
    /// Index of the rule in `chain`; `None` for the base chain's policy.
    pub rule: Option<usize>,
    pub origin: Option<Origin>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Outcome {
    pub verdict: Verdict,
    /// The rule or policy that gave the verdict; for [`Verdict::Unknown`], the rule holding
    /// the first condition that decides it. `None` when no chain saw the packet.
    pub decided_by: Option<DecidedBy>,
    /// Why the verdict is unknown; `None` unless it is.
    pub unknown: Option<Unknowable>,
    /// The NAT statement that ended the walk with its accept: the mapping the packet's
    /// connection gets. For [`hook`], the first one any chain on the hook gave.
    pub nat: Option<Nat>,
}

impl Outcome {
    fn accept_untouched() -> Outcome {
        Outcome {
            verdict: Verdict::Accept,
            decided_by: None,
            unknown: None,
            nat: None,
        }
    }
}

/// The kernel refuses deeper jump stacks (NFT_JUMP_STACK_SIZE).
const MAX_DEPTH: usize = 16;
/// How many unknown conditions one evaluation follows both ways before giving up.
const MAX_FORKS: u32 = 256;

/// Runs `pkt` through every base chain on `hook` of every table in `rs` that sees its family,
/// in priority order (ties in table order): the first drop is final, an accept passes the
/// packet on to the next chain. A hook with no chain accepts.
pub fn hook(rs: &Ruleset, hook: Hook, pkt: &Packet) -> Outcome {
    let mut chains: Vec<(&Table, &str, &BaseChain)> = rs
        .tables
        .iter()
        .filter(|t| pkt.seen_by(t.family))
        .flat_map(|t| {
            t.chains.iter().filter_map(move |c| {
                let b = c.base.as_ref()?;
                (b.hook == hook).then_some((t, c.name.as_str(), b))
            })
        })
        .filter(|(_, _, b)| b.kind != ChainKind::Nat || pkt.ct_state & ct_state::NEW != 0)
        .collect();
    chains.sort_by_key(|(_, _, b)| b.priority);
    let mut result = Outcome::accept_untouched();
    let mut first_unknown: Option<Outcome> = None;
    let mut nat: Option<Nat> = None;
    let mut pkt = pkt.clone();
    for (t, name, _) in chains {
        let mut o = chain(t, name, &pkt);
        // The kernel sets a connection's mapping up once: a later NAT chain on the hook does
        // not change it.
        if nat.is_none() {
            nat = o.nat.clone();
        }
        o.nat = nat.clone();
        // A mark set in one table is seen by the next; which value it ended with is not
        // followed across chains, so it becomes unknown.
        for m in mark_sets(t) {
            match m.dest {
                MarkKey::Meta => pkt.mark = None,
                MarkKey::Ct => pkt.ct_mark = None,
            }
        }
        match o.verdict {
            Verdict::Drop => return o,
            Verdict::Unknown => {
                first_unknown.get_or_insert(o);
            }
            Verdict::Accept => result = o,
        }
    }
    first_unknown.unwrap_or(result)
}

/// Runs `pkt` through base chain `name` of `t` (and the chains it jumps to). A chain that does
/// not exist or is not a base chain gives [`Verdict::Unknown`] with [`Unknowable::BadJump`].
pub fn chain(t: &Table, name: &str, pkt: &Packet) -> Outcome {
    let found = t
        .chains
        .iter()
        .position(|c| c.name == name)
        .and_then(|i| Some((i, t.chains[i].base.as_ref()?.policy)));
    let Some((index, policy)) = found else {
        return Outcome {
            verdict: Verdict::Unknown,
            decided_by: None,
            unknown: Some(Unknowable::BadJump),
            nat: None,
        };
    };
    let mut walk = Walk {
        table: t,
        base: index,
        policy,
        forks: 0,
    };
    walk.run(Pos {
        frames: vec![Frame {
            chain: index,
            rule: 0,
        }],
        stmt: 0,
        pkt: pkt.clone(),
    })
}

/// Whether one of `stmts` (the statements of a rule of `t` before some statement) is a test
/// known to fail for `pkt`, so that the packet cannot reach what follows them in the rule. Only
/// tests reading nothing but expressions `trusted` accepts are evaluated: the others, and those
/// whose outcome the interpreter cannot know, count as passing. `false` is the safe answer.
pub fn fails_before(
    t: &Table,
    stmts: &[Stmt],
    pkt: &Packet,
    trusted: impl Fn(&Expr) -> bool,
) -> bool {
    // Only `step` is asked, which reads nothing of a walk but its table (for set lookups).
    let walk = Walk {
        table: t,
        base: 0,
        policy: Policy::Accept,
        forks: 0,
    };
    stmts.iter().any(|s| match s {
        Stmt::Match(m) if !m.loads().is_empty() && m.loads().iter().all(&trusted) => {
            matches!(walk.step(s, pkt), Step::NoMatch)
        }
        _ => false,
    })
}

#[allow(unreachable_patterns)]
fn mark_sets(t: &Table) -> impl Iterator<Item = &MarkSet> {
    t.chains
        .iter()
        .flat_map(|c| &c.rules)
        .flat_map(|r| &r.stmts)
        .filter_map(|s| match s {
            Stmt::MarkSet(m) => Some(m),
            _ => None,
        })
}

#[derive(Clone, Debug)]
struct Frame {
    chain: usize,
    rule: usize,
}

/// Where the walk is: the call stack (innermost last; the caller's rule index already points
/// past the jumping rule), the statement within the current rule, and the packet as the
/// statements so far left it (marks).
#[derive(Clone, Debug)]
struct Pos {
    frames: Vec<Frame>,
    stmt: usize,
    pkt: Packet,
}

struct Walk<'a> {
    table: &'a Table,
    base: usize,
    policy: Policy,
    forks: u32,
}

/// What one statement does to the walk.
enum Step {
    Next,
    NoMatch,
    Maybe(Unknowable),
    Final(Verdict),
    Unknown(Unknowable),
    Jump(String),
    Goto(String),
    Return,
    SetMark(MarkSet),
}

/// A condition's truth, when it can be known.
type Truth = Result<bool, Unknowable>;

impl Walk<'_> {
    fn run(&mut self, mut pos: Pos) -> Outcome {
        loop {
            let Some(top) = pos.frames.last() else {
                return self.policy_outcome();
            };
            let (ci, ri) = (top.chain, top.rule);
            let chain = &self.table.chains[ci];
            let Some(rule) = chain.rules.get(ri) else {
                // The end of a chain: back to the caller, or the policy in the base chain
                // (also when a goto left the base chain).
                if pos.frames.len() == 1 {
                    return self.policy_outcome();
                }
                pos.frames.pop();
                pos.stmt = 0;
                continue;
            };
            let Some(stmt) = rule.stmts.get(pos.stmt) else {
                next_rule(&mut pos);
                continue;
            };
            match self.step(stmt, &pos.pkt) {
                Step::Next => pos.stmt += 1,
                Step::SetMark(m) => {
                    set_mark(&mut pos.pkt, &m);
                    pos.stmt += 1;
                }
                Step::NoMatch => next_rule(&mut pos),
                Step::Final(v) => {
                    let mut o = self.outcome(v, ci, ri, rule, None);
                    if let Stmt::Nat(n) = stmt {
                        o.nat = Some((**n).clone());
                    }
                    return o;
                }
                Step::Unknown(why) => {
                    return self.outcome(Verdict::Unknown, ci, ri, rule, Some(why))
                }
                Step::Maybe(why) => {
                    self.forks += 1;
                    if self.forks > MAX_FORKS {
                        return self.outcome(
                            Verdict::Unknown,
                            ci,
                            ri,
                            rule,
                            Some(Unknowable::TooManyPaths),
                        );
                    }
                    let mut holds = pos.clone();
                    holds.stmt += 1;
                    let a = self.run(holds);
                    next_rule(&mut pos);
                    let b = self.run(pos);
                    // Both ways must agree on the mapping too: an accept by `dnat to A` and one
                    // by `dnat to B` are different outcomes.
                    if a.verdict == b.verdict && a.nat == b.nat && a.verdict != Verdict::Unknown {
                        return a;
                    }
                    return self.outcome(Verdict::Unknown, ci, ri, rule, Some(why));
                }
                Step::Jump(target) | Step::Goto(target)
                    if pos.frames.len() >= MAX_DEPTH || self.find(&target).is_none() =>
                {
                    return self.outcome(Verdict::Unknown, ci, ri, rule, Some(Unknowable::BadJump));
                }
                Step::Jump(target) => {
                    next_rule(&mut pos);
                    let chain = self.find(&target).unwrap_or(ci);
                    pos.frames.push(Frame { chain, rule: 0 });
                }
                Step::Goto(target) => {
                    let chain = self.find(&target).unwrap_or(ci);
                    if let Some(top) = pos.frames.last_mut() {
                        *top = Frame { chain, rule: 0 };
                    }
                    pos.stmt = 0;
                }
                Step::Return => {
                    if pos.frames.len() == 1 {
                        return self.policy_outcome();
                    }
                    pos.frames.pop();
                    pos.stmt = 0;
                }
            }
        }
    }

    fn find(&self, name: &str) -> Option<usize> {
        self.table.chains.iter().position(|c| c.name == name)
    }

    fn outcome(
        &self,
        verdict: Verdict,
        chain: usize,
        rule: usize,
        r: &Rule,
        unknown: Option<Unknowable>,
    ) -> Outcome {
        Outcome {
            verdict,
            decided_by: Some(DecidedBy {
                table: self.table.name.clone(),
                family: self.table.family,
                chain: self.table.chains[chain].name.clone(),
                rule: Some(rule),
                origin: r.origin.clone(),
            }),
            unknown,
            nat: None,
        }
    }

    fn policy_outcome(&self) -> Outcome {
        Outcome {
            verdict: match self.policy {
                Policy::Accept => Verdict::Accept,
                Policy::Drop => Verdict::Drop,
            },
            decided_by: Some(DecidedBy {
                table: self.table.name.clone(),
                family: self.table.family,
                chain: self.table.chains[self.base].name.clone(),
                rule: None,
                origin: None,
            }),
            unknown: None,
            nat: None,
        }
    }

    // Other helpers add statements to the IR; whatever this interpreter does not know yet is
    // `Unmodelled` rather than a compile error in their change.
    #[allow(unreachable_patterns)]
    fn step(&self, stmt: &Stmt, pkt: &Packet) -> Step {
        // A lookup in a set of fixed elements is the test against those elements.
        let resolved = match stmt {
            Stmt::Match(Match::Lookup { key, set, op }) => match &**key {
                [left] => self
                    .table
                    .sets
                    .iter()
                    .find(|s| *s.name == **set && !s.flags.dynamic && !s.flags.timeout)
                    .map(|s| {
                        Stmt::Match(Match::Cmp {
                            left: *left,
                            op: *op,
                            right: Value::Set(s.elements.as_slice().into()),
                        })
                    }),
                _ => None,
            },
            _ => None,
        };
        match resolved.as_ref().unwrap_or(stmt) {
            Stmt::Match(m) => match matches(m, pkt) {
                Ok(true) => Step::Next,
                Ok(false) => Step::NoMatch,
                Err(why) => Step::Maybe(why),
            },
            Stmt::Counter(_) | Stmt::Log(_) => Step::Next,
            // `limit rate N` matches under the rate, `over` above it: either way, unknown.
            Stmt::Limit(_) => Step::Maybe(Unknowable::RateLimit),
            Stmt::SetUpdate { limit: None, .. } => Step::Next,
            Stmt::SetUpdate { limit: Some(_), .. } => Step::Maybe(Unknowable::RateLimit),
            Stmt::Reject(_) => Step::Final(Verdict::Drop),
            Stmt::Verdict(v) => verdict_step(v),
            // The entry holding the key gives the verdict; with none the rule goes on.
            Stmt::Vmap { key, map } => {
                for e in map {
                    let test = Match::Cmp {
                        left: *key,
                        op: CmpOp::Eq,
                        right: e.value.clone(),
                    };
                    match matches(&test, pkt) {
                        Ok(true) => return verdict_step(&e.verdict),
                        Ok(false) => {}
                        Err(why) => return Step::Unknown(why),
                    }
                }
                Step::Next
            }
            // NAT statements end the rule like an accept.
            Stmt::Nat(_) => Step::Final(Verdict::Accept),
            Stmt::MarkSet(m) => Step::SetMark(*m),
            // The tc class: nothing a rule can test.
            Stmt::PrioritySet(_) => Step::Next,
            // Assigning a conntrack helper changes later packets' state, not this verdict.
            Stmt::CtHelperSet(_) => Step::Next,
            // Lowering a SYN's MSS option changes the packet, not the verdict.
            Stmt::MaxsegSet(_) => Step::Next,
            // Rewriting the DSCP bits changes the packet, not the verdict (no rule tests them
            // in this model).
            Stmt::DscpSet { .. } => Step::Next,
            // `ct count` counts the packet's own connection, so the count is at least 1; how
            // many other connections share its key is not known. (A full per-key set, where
            // the statement does not match a new key, is not modelled.)
            Stmt::CtCount(c) => match (c.over, c.limit) {
                (true, 0) => Step::Next,
                (false, 0) => Step::NoMatch,
                _ => Step::Maybe(Unknowable::ConnCount),
            },
            // A SYN is answered with a cookie and consumed, a client's ACK consumed (a new
            // SYN goes to the server) or dropped: neither passes, reported as a drop. Other
            // TCP packets go on; any other protocol ends the rule. Bad checksums (dropped by
            // the kernel) are not modelled.
            Stmt::Synproxy(_) => synproxy_step(pkt),
            // A probe is a packet to an ordinary local service: the socket the kernel finds
            // for it (established, or the listener) is not transparent, or there is none, so
            // `tproxy` ends the rule and the `drop` rule fwnet writes after it (TPROXY's
            // verdict without a socket) runs.
            Stmt::Tproxy(_) => Step::NoMatch,
            // Deleting the packet's key from a set changes what later packets (and later
            // lookups, which are unknown for a dynamic set anyway) find, not this verdict:
            // `-m recent --hitcount` pointers, the approximated `--remove`.
            Stmt::SetDelete { .. } => Step::Next,
            _ => Step::Unknown(Unknowable::Unmodelled),
        }
    }
}

fn verdict_step(v: &IrVerdict) -> Step {
    match v {
        IrVerdict::Accept => Step::Final(Verdict::Accept),
        IrVerdict::Drop => Step::Final(Verdict::Drop),
        IrVerdict::Return => Step::Return,
        IrVerdict::Jump(c) => Step::Jump(c.clone()),
        IrVerdict::Goto(c) => Step::Goto(c.clone()),
    }
}

/// What a `synproxy` statement does with the packet: see [`Stmt::Synproxy`].
fn synproxy_step(pkt: &Packet) -> Step {
    use crate::ir::tcp_flag::{ACK, SYN};
    if pkt.l4proto != 6 {
        return Step::NoMatch;
    }
    // nft's statement, unlike xt_SYNPROXY, looks at SYN and ACK alone (see Stmt::Synproxy);
    // the translation puts a flags test before it.
    let f = u64::from(pkt.tcp_flags);
    if f & (SYN | ACK) != 0 {
        Step::Final(Verdict::Drop)
    } else {
        Step::Next
    }
}

/// `dest = (src & mask) ^ xor`; a constant when `mask` is 0, unknown when `src` is.
fn set_mark(p: &mut Packet, m: &MarkSet) {
    let src = match m.src {
        MarkKey::Meta => p.mark,
        MarkKey::Ct => p.ct_mark,
    };
    let value = if m.mask == 0 {
        Some(m.xor)
    } else {
        src.map(|s| (s & m.mask) ^ m.xor)
    };
    match m.dest {
        MarkKey::Meta => p.mark = value,
        MarkKey::Ct => p.ct_mark = value,
    }
}

fn next_rule(pos: &mut Pos) {
    if let Some(top) = pos.frames.last_mut() {
        top.rule += 1;
    }
    pos.stmt = 0;
}

/// What an expression loads from the packet.
#[derive(Debug)]
enum Loaded {
    Num(u64),
    Addr(IpAddr),
    Name(String),
    /// The field is not in this packet (a TCP port of a UDP packet, `iifname` on output): the
    /// kernel's load breaks the rule, so neither `==` nor `!=` matches.
    Absent,
}

#[allow(unreachable_patterns)]
fn load(e: &Expr, p: &Packet) -> Result<Loaded, Unknowable> {
    use Loaded::*;
    let v6 = p.is_v6();
    let l4 = |proto: u8, v: u64| if p.l4proto == proto { Num(v) } else { Absent };
    let ip = |want_v6: bool, v: Loaded| if v6 == want_v6 { v } else { Absent };
    Ok(match e {
        Expr::Meta(k) => match k {
            MetaKey::Iifname | MetaKey::Oifname => {
                let dev = if *k == MetaKey::Iifname {
                    &p.iifname
                } else {
                    &p.oifname
                };
                match dev {
                    Device::Name(n) => Name(n.clone()),
                    Device::Absent => Name(String::new()),
                    Device::Unknown => return Err(Unknowable::Interface),
                }
            }
            MetaKey::L4proto => Num(p.l4proto.into()),
            MetaKey::Nfproto => Num(if v6 { 10 } else { 2 }),
            MetaKey::Mark => Num(p.mark.ok_or(Unknowable::Mark)?.into()),
            MetaKey::Skuid | MetaKey::Skgid => return Err(Unknowable::SocketOwner),
            MetaKey::Day => return Err(Unknowable::Clock),
            _ => return Err(Unknowable::Unmodelled),
        },
        Expr::Ct(k) => match k {
            CtKey::State => Num(p.ct_state),
            CtKey::Mark => Num(p.ct_mark.ok_or(Unknowable::Mark)?.into()),
            CtKey::Status => return Err(Unknowable::CtStatus),
            _ => return Err(Unknowable::Unmodelled),
        },
        Expr::Fib(_) => return Err(Unknowable::RouteType),
        // Described packets carry no IPv6 extension headers; their TCP options are not known.
        Expr::Exthdr(crate::ir::Exthdr::Field(_)) => Absent,
        Expr::Exthdr(crate::ir::Exthdr::Present(_)) => Num(0),
        Expr::Payload(f) => match f {
            Field::IpProtocol => ip(false, Num(p.l4proto.into())),
            Field::IpSaddr => ip(false, Addr(p.saddr)),
            Field::IpDaddr => ip(false, Addr(p.daddr)),
            // Whole packets: no fragment offset, and the flags (DF) are not known.
            Field::IpFragOff => return Err(Unknowable::Unmodelled),
            Field::Ip6Nexthdr => ip(true, Num(p.l4proto.into())),
            Field::Ip6Saddr => ip(true, Addr(p.saddr)),
            Field::Ip6Daddr => ip(true, Addr(p.daddr)),
            Field::TcpSport => l4(6, p.sport.into()),
            Field::TcpDport => l4(6, p.dport.into()),
            Field::TcpFlags => l4(6, p.tcp_flags.into()),
            Field::UdpSport => l4(17, p.sport.into()),
            Field::UdpDport => l4(17, p.dport.into()),
            // The first two 16-bit words of the transport header: the ports of TCP and UDP;
            // of another protocol, bytes a described packet does not give.
            Field::ThSport | Field::ThDport if !matches!(p.l4proto, 6 | 17) => {
                return Err(Unknowable::Unmodelled)
            }
            Field::ThSport => Num(p.sport.into()),
            Field::ThDport => Num(p.dport.into()),
            Field::IcmpType => ip(false, l4(1, p.icmp_type.into())),
            Field::IcmpCode => ip(false, l4(1, p.icmp_code.into())),
            Field::Icmpv6Type => ip(true, l4(58, p.icmp_type.into())),
            Field::Icmpv6Code => ip(true, l4(58, p.icmp_code.into())),
            _ => return Err(Unknowable::Unmodelled),
        },
        _ => return Err(Unknowable::Unmodelled),
    })
}

#[allow(unreachable_patterns)]
fn matches(m: &Match, p: &Packet) -> Truth {
    match m {
        Match::Cmp { left, op, right } => {
            let got = load(left, p)?;
            if matches!(got, Loaded::Absent) {
                return Ok(false);
            }
            Ok(apply_op(*op, equals(&got, right)?))
        }
        Match::Masked {
            left,
            mask,
            op,
            value,
        } => {
            let got = match (left, &**mask) {
                // A whole packet's fragment offset is 0 whatever its flags are.
                (Expr::Payload(Field::IpFragOff), Value::Num(m)) if m & !0x1fff == 0 => {
                    if p.is_v6() {
                        Loaded::Absent
                    } else {
                        Loaded::Num(0)
                    }
                }
                _ => load(left, p)?,
            };
            let masked = match (&got, &**mask) {
                (Loaded::Absent, _) => return Ok(false),
                (Loaded::Num(n), Value::Num(m)) => Loaded::Num(n & m),
                (Loaded::Addr(a), Value::Addr(m)) => match mask_addr(*a, *m) {
                    Some(x) => Loaded::Addr(x),
                    None => return Err(Unknowable::Unmodelled),
                },
                _ => return Err(Unknowable::Unmodelled),
            };
            Ok(apply_op(*op, equals(&masked, value)?))
        }
        Match::Flags { left, bits, op } => match load(left, p)? {
            Loaded::Absent => Ok(false),
            Loaded::Num(n) => Ok(apply_op(*op, n & bits != 0)),
            _ => Err(Unknowable::Unmodelled),
        },
        // The guard asks about the moment of applying and every moment after: a rule on the
        // clock may match at one and not at another, so both ways are followed.
        Match::Time(_) => Err(Unknowable::Clock),
        _ => Err(Unknowable::Unmodelled),
    }
}

fn apply_op(op: CmpOp, eq: bool) -> bool {
    match op {
        CmpOp::Eq => eq,
        CmpOp::Ne => !eq,
    }
}

/// Whether the loaded value is `v` (or in it, for prefixes, ranges and sets).
fn equals(got: &Loaded, v: &Value) -> Truth {
    Ok(match (got, v) {
        (_, Value::Set(elems)) => {
            let mut unknown = None;
            for e in elems {
                match equals(got, e) {
                    Ok(true) => return Ok(true),
                    Ok(false) => {}
                    Err(why) => unknown = Some(why),
                }
            }
            return unknown.map_or(Ok(false), Err);
        }
        (Loaded::Name(n), Value::Iface { name, wildcard }) => {
            if *wildcard {
                n.starts_with(&**name)
            } else {
                **n == **name
            }
        }
        (Loaded::Num(n), Value::Num(want)) => n == want,
        (Loaded::Num(n), Value::Range(lo, hi)) => lo <= n && n <= hi,
        (Loaded::Addr(a), Value::Addr(want)) => a == want,
        (Loaded::Addr(a), Value::Prefix { addr, len }) => in_prefix(*a, *addr, *len),
        _ => return Err(Unknowable::Unmodelled),
    })
}

fn bits(a: IpAddr) -> (bool, u128, u32) {
    match a {
        IpAddr::V4(x) => (false, u32::from(x).into(), 32),
        IpAddr::V6(x) => (true, u128::from(x), 128),
    }
}

fn in_prefix(a: IpAddr, net: IpAddr, len: u8) -> bool {
    let ((v6a, x, width), (v6n, n, _)) = (bits(a), bits(net));
    if v6a != v6n || u32::from(len) > width {
        return false;
    }
    let shift = width - u32::from(len);
    // checked_shr: a /0 prefix shifts by the whole width.
    x.checked_shr(shift) == n.checked_shr(shift)
}

fn mask_addr(a: IpAddr, m: IpAddr) -> Option<IpAddr> {
    match (a, m) {
        (IpAddr::V4(a), IpAddr::V4(m)) => Some(IpAddr::V4((u32::from(a) & u32::from(m)).into())),
        (IpAddr::V6(a), IpAddr::V6(m)) => Some(IpAddr::V6((u128::from(a) & u128::from(m)).into())),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ir::{tcp_flag, Chain, Counters, Limit, TimeUnit};

    fn base(name: &str, hook: Hook, policy: Policy, rules: Vec<Rule>) -> Chain {
        Chain {
            name: name.into(),
            base: Some(BaseChain {
                kind: ChainKind::Filter,
                hook,
                priority: 0,
                policy,
                counters: None,
            }),
            rules,
            family: None,
        }
    }

    fn regular(name: &str, rules: Vec<Rule>) -> Chain {
        Chain {
            name: name.into(),
            base: None,
            rules,
            family: None,
        }
    }

    fn rule(line: u32, stmts: Vec<Stmt>) -> Rule {
        Rule {
            stmts,
            comment: None,
            origin: Some(Origin {
                file: "t.rules".into(),
                line,
            }),
            merged: Vec::new(),
        }
    }

    fn cmp(left: Expr, op: CmpOp, right: Value) -> Stmt {
        Stmt::Match(Match::Cmp { left, op, right })
    }

    fn v(verdict: IrVerdict) -> Stmt {
        Stmt::Verdict(verdict)
    }

    fn table(chains: Vec<Chain>) -> Table {
        Table {
            family: Family::Ip,
            name: "fwnet_filter".into(),
            sets: vec![],
            ct_helpers: Vec::new(),
            chains,
        }
    }

    fn addr(s: &str) -> IpAddr {
        s.parse().expect("test address")
    }

    fn ssh_in() -> Packet {
        let mut p = Packet::tcp(
            addr("198.51.100.7"),
            40000,
            addr("192.0.2.1"),
            22,
            tcp_flag::ACK as u8,
            ct_state::ESTABLISHED,
        );
        p.iifname = Device::Name("eth0".into());
        p
    }

    /// `(verdict, line that decided it or 0 for the policy)`.
    fn short(o: &Outcome) -> (Verdict, u32) {
        let line = o
            .decided_by
            .as_ref()
            .and_then(|d| d.origin.as_ref())
            .map_or(0, |o| o.line);
        (o.verdict, line)
    }

    fn dport(op: CmpOp, right: Value) -> Stmt {
        cmp(Expr::Payload(Field::TcpDport), op, right)
    }

    #[test]
    fn matches_and_verdicts_table() {
        use CmpOp::*;
        let iface = |n: &str, w: bool| Value::Iface {
            name: n.into(),
            wildcard: w,
        };
        let limit = Stmt::Limit(Limit {
            rate: 1,
            unit: TimeUnit::Minute,
            burst: 5,
            over: false,
        });
        // One rule before a drop policy: what ssh_in() gets. Line 1 is the rule.
        let cases: Vec<(&str, Vec<Stmt>, (Verdict, u32))> = vec![
            (
                "dport 22 accept",
                vec![dport(Eq, Value::Num(22)), v(IrVerdict::Accept)],
                (Verdict::Accept, 1),
            ),
            (
                "dport 80 accept",
                vec![dport(Eq, Value::Num(80)), v(IrVerdict::Accept)],
                (Verdict::Drop, 0),
            ),
            (
                "dport != 80 accept",
                vec![dport(Ne, Value::Num(80)), v(IrVerdict::Accept)],
                (Verdict::Accept, 1),
            ),
            (
                "dport range",
                vec![dport(Eq, Value::Range(20, 25)), v(IrVerdict::Accept)],
                (Verdict::Accept, 1),
            ),
            (
                "dport set",
                vec![
                    dport(
                        Eq,
                        Value::Set(Box::new([Value::Num(80), Value::Range(21, 23)])),
                    ),
                    v(IrVerdict::Accept),
                ],
                (Verdict::Accept, 1),
            ),
            (
                "dport not in set",
                vec![
                    dport(Ne, Value::Set(Box::new([Value::Num(80), Value::Num(22)]))),
                    v(IrVerdict::Accept),
                ],
                (Verdict::Drop, 0),
            ),
            (
                "udp dport on tcp: no match either way",
                vec![
                    cmp(Expr::Payload(Field::UdpDport), Ne, Value::Num(1)),
                    v(IrVerdict::Accept),
                ],
                (Verdict::Drop, 0),
            ),
            (
                "icmp type on tcp",
                vec![
                    cmp(Expr::Payload(Field::IcmpType), Ne, Value::Num(8)),
                    v(IrVerdict::Accept),
                ],
                (Verdict::Drop, 0),
            ),
            (
                "ip6 saddr on ipv4",
                vec![
                    cmp(Expr::Payload(Field::Ip6Saddr), Ne, Value::Addr(addr("::1"))),
                    v(IrVerdict::Accept),
                ],
                (Verdict::Drop, 0),
            ),
            (
                "saddr prefix",
                vec![
                    cmp(
                        Expr::Payload(Field::IpSaddr),
                        Eq,
                        Value::Prefix {
                            addr: addr("198.51.100.0"),
                            len: 24,
                        },
                    ),
                    v(IrVerdict::Accept),
                ],
                (Verdict::Accept, 1),
            ),
            (
                "saddr other prefix",
                vec![
                    cmp(
                        Expr::Payload(Field::IpSaddr),
                        Eq,
                        Value::Prefix {
                            addr: addr("198.51.0.0"),
                            len: 18,
                        },
                    ),
                    v(IrVerdict::Accept),
                ],
                (Verdict::Drop, 0),
            ),
            (
                "saddr /0",
                vec![
                    cmp(
                        Expr::Payload(Field::IpSaddr),
                        Eq,
                        Value::Prefix {
                            addr: addr("0.0.0.0"),
                            len: 0,
                        },
                    ),
                    v(IrVerdict::Accept),
                ],
                (Verdict::Accept, 1),
            ),
            (
                "daddr exact",
                vec![
                    cmp(
                        Expr::Payload(Field::IpDaddr),
                        Eq,
                        Value::Addr(addr("192.0.2.1")),
                    ),
                    v(IrVerdict::Accept),
                ],
                (Verdict::Accept, 1),
            ),
            (
                "dotted netmask",
                vec![
                    Stmt::Match(Match::Masked {
                        left: Expr::Payload(Field::IpSaddr),
                        mask: Box::new(Value::Addr(addr("255.255.0.255"))),
                        op: Eq,
                        value: Value::Addr(addr("198.51.0.7")),
                    }),
                    v(IrVerdict::Accept),
                ],
                (Verdict::Accept, 1),
            ),
            (
                "iifname exact",
                vec![
                    cmp(Expr::Meta(MetaKey::Iifname), Eq, iface("eth0", false)),
                    v(IrVerdict::Accept),
                ],
                (Verdict::Accept, 1),
            ),
            (
                "iifname wildcard",
                vec![
                    cmp(Expr::Meta(MetaKey::Iifname), Eq, iface("eth", true)),
                    v(IrVerdict::Accept),
                ],
                (Verdict::Accept, 1),
            ),
            (
                "iifname other wildcard",
                vec![
                    cmp(Expr::Meta(MetaKey::Iifname), Eq, iface("ppp", true)),
                    v(IrVerdict::Accept),
                ],
                (Verdict::Drop, 0),
            ),
            (
                // Checked on kernel 6.18: the input hook loads an empty output name.
                "oifname on input is empty: != matches",
                vec![
                    cmp(Expr::Meta(MetaKey::Oifname), Ne, iface("eth0", false)),
                    v(IrVerdict::Accept),
                ],
                (Verdict::Accept, 1),
            ),
            (
                "oifname on input is empty: == does not match",
                vec![
                    cmp(Expr::Meta(MetaKey::Oifname), Eq, iface("eth", true)),
                    v(IrVerdict::Accept),
                ],
                (Verdict::Drop, 0),
            ),
            (
                "tcp syn only",
                vec![
                    Stmt::Match(Match::Masked {
                        left: Expr::Payload(Field::TcpFlags),
                        mask: Box::new(Value::Num(0x17)),
                        op: Eq,
                        value: Value::Num(0x02),
                    }),
                    v(IrVerdict::Accept),
                ],
                (Verdict::Drop, 0),
            ),
            (
                "tcp not syn drops",
                vec![
                    Stmt::Match(Match::Masked {
                        left: Expr::Payload(Field::TcpFlags),
                        mask: Box::new(Value::Num(0x17)),
                        op: Ne,
                        value: Value::Num(0x02),
                    }),
                    v(IrVerdict::Drop),
                ],
                (Verdict::Drop, 1),
            ),
            (
                "ct established",
                vec![
                    Stmt::Match(Match::Flags {
                        left: Expr::Ct(CtKey::State),
                        bits: ct_state::ESTABLISHED | ct_state::RELATED,
                        op: Eq,
                    }),
                    v(IrVerdict::Accept),
                ],
                (Verdict::Accept, 1),
            ),
            (
                "ct not new",
                vec![
                    Stmt::Match(Match::Flags {
                        left: Expr::Ct(CtKey::State),
                        bits: ct_state::NEW,
                        op: Ne,
                    }),
                    v(IrVerdict::Accept),
                ],
                (Verdict::Accept, 1),
            ),
            (
                "frag-off offset is 0",
                vec![
                    Stmt::Match(Match::Masked {
                        left: Expr::Payload(Field::IpFragOff),
                        mask: Box::new(Value::Num(0x1fff)),
                        op: Ne,
                        value: Value::Num(0),
                    }),
                    v(IrVerdict::Drop),
                ],
                (Verdict::Drop, 0),
            ),
            (
                "counter and log go on",
                vec![
                    Stmt::Counter(Counters::default()),
                    Stmt::Log(Default::default()),
                    v(IrVerdict::Accept),
                ],
                (Verdict::Accept, 1),
            ),
            (
                "reject is a drop",
                vec![
                    dport(Eq, Value::Num(22)),
                    Stmt::Reject(crate::ir::Reject::TcpReset),
                ],
                (Verdict::Drop, 1),
            ),
            (
                "limit then accept: unknown",
                vec![limit.clone(), v(IrVerdict::Accept)],
                (Verdict::Unknown, 1),
            ),
            (
                "limit then drop before drop policy: drop",
                vec![limit.clone(), v(IrVerdict::Drop)],
                (Verdict::Drop, 1),
            ),
            (
                "limit on another port: irrelevant",
                vec![dport(Eq, Value::Num(80)), limit, v(IrVerdict::Accept)],
                (Verdict::Drop, 0),
            ),
            (
                "clock then accept: unknown (the hour may or may not hold)",
                vec![
                    Stmt::Match(Match::Time(crate::ir::TimeMatch::Hour {
                        op: Eq,
                        from: 0,
                        to: 3600,
                    })),
                    v(IrVerdict::Accept),
                ],
                (Verdict::Unknown, 1),
            ),
            (
                "weekday then accept: unknown",
                vec![
                    cmp(Expr::Meta(MetaKey::Day), Eq, Value::Num(1)),
                    v(IrVerdict::Accept),
                ],
                (Verdict::Unknown, 1),
            ),
            (
                "clock then drop before drop policy: drop",
                vec![
                    Stmt::Match(Match::Time(crate::ir::TimeMatch::Since(0))),
                    v(IrVerdict::Drop),
                ],
                (Verdict::Drop, 1),
            ),
            (
                "mark unknown",
                vec![
                    cmp(Expr::Meta(MetaKey::Mark), Eq, Value::Num(1)),
                    v(IrVerdict::Accept),
                ],
                (Verdict::Unknown, 1),
            ),
            (
                "fib unknown",
                vec![
                    cmp(
                        Expr::Fib(crate::ir::Fib {
                            addr: crate::ir::FibAddr::Daddr,
                            iface: None,
                        }),
                        Eq,
                        Value::Num(2),
                    ),
                    v(IrVerdict::Accept),
                ],
                (Verdict::Unknown, 1),
            ),
            (
                "return from base: policy",
                vec![v(IrVerdict::Return), v(IrVerdict::Accept)],
                (Verdict::Drop, 0),
            ),
            ("no rule: policy", vec![], (Verdict::Drop, 0)),
            // Described packets have no IPv6 extension headers: a field test never matches,
            // `!=` included, and `exthdr rt missing` does.
            (
                "rt type != 0 drop",
                vec![
                    cmp(
                        Expr::Exthdr(crate::ir::Exthdr::Field(crate::ir::ExthdrField::RtType)),
                        Ne,
                        Value::Num(0),
                    ),
                    v(IrVerdict::Accept),
                ],
                (Verdict::Drop, 0),
            ),
            (
                "exthdr rt missing accept",
                vec![
                    cmp(
                        Expr::Exthdr(crate::ir::Exthdr::Present(crate::ir::Ipv6Ext::Rt)),
                        Eq,
                        Value::Num(0),
                    ),
                    v(IrVerdict::Accept),
                ],
                (Verdict::Accept, 1),
            ),
            (
                "tcp option unknown",
                vec![
                    cmp(
                        Expr::Exthdr(crate::ir::Exthdr::TcpOption(64)),
                        Eq,
                        Value::Num(1),
                    ),
                    v(IrVerdict::Accept),
                ],
                (Verdict::Unknown, 1),
            ),
        ];
        for (name, stmts, want) in cases {
            let t = table(vec![base(
                "INPUT",
                Hook::Input,
                Policy::Drop,
                vec![rule(1, stmts)],
            )]);
            let got = chain(&t, "INPUT", &ssh_in());
            assert_eq!(short(&got), want, "{name}: {got:?}");
        }
    }

    #[test]
    fn a_verdict_map_gives_its_entry_verdict_or_goes_on() {
        let entry = |value: Value, verdict: IrVerdict| crate::ir::VmapEntry { value, verdict };
        let vmap = |map: Vec<crate::ir::VmapEntry>| Stmt::Vmap {
            key: Expr::Payload(Field::TcpDport),
            map,
        };
        let input = |first: Stmt| {
            table(vec![
                base(
                    "INPUT",
                    Hook::Input,
                    Policy::Drop,
                    vec![rule(1, vec![first]), rule(3, vec![v(IrVerdict::Accept)])],
                ),
                regular("ssh", vec![rule(2, vec![v(IrVerdict::Drop)])]),
            ])
        };
        let cases = [
            (
                "the key's entry jumps",
                vmap(vec![
                    entry(Value::Num(21), IrVerdict::Accept),
                    entry(Value::Num(22), IrVerdict::Jump("ssh".into())),
                ]),
                (Verdict::Drop, 2),
            ),
            (
                "a range holds the key",
                vmap(vec![entry(Value::Range(20, 30), IrVerdict::Drop)]),
                (Verdict::Drop, 1),
            ),
            (
                "no entry holds the key: the next rule",
                vmap(vec![entry(Value::Num(80), IrVerdict::Drop)]),
                (Verdict::Accept, 3),
            ),
        ];
        for (name, first, want) in cases {
            let got = chain(&input(first), "INPUT", &ssh_in());
            assert_eq!(short(&got), want, "{name}: {got:?}");
        }
    }

    #[test]
    fn jump_goto_return() {
        let dport22 = || dport(CmpOp::Eq, Value::Num(22));
        let cases: Vec<(&str, Vec<Chain>, (Verdict, u32))> = vec![
            (
                "jump, accept inside",
                vec![
                    base(
                        "INPUT",
                        Hook::Input,
                        Policy::Drop,
                        vec![rule(1, vec![v(IrVerdict::Jump("ssh".into()))])],
                    ),
                    regular("ssh", vec![rule(2, vec![dport22(), v(IrVerdict::Accept)])]),
                ],
                (Verdict::Accept, 2),
            ),
            (
                "jump, fall off the end, next rule of the caller",
                vec![
                    base(
                        "INPUT",
                        Hook::Input,
                        Policy::Drop,
                        vec![
                            rule(1, vec![v(IrVerdict::Jump("web".into()))]),
                            rule(3, vec![dport22(), v(IrVerdict::Accept)]),
                        ],
                    ),
                    regular(
                        "web",
                        vec![rule(
                            2,
                            vec![dport(CmpOp::Eq, Value::Num(80)), v(IrVerdict::Accept)],
                        )],
                    ),
                ],
                (Verdict::Accept, 3),
            ),
            (
                "return comes back after the jump",
                vec![
                    base(
                        "INPUT",
                        Hook::Input,
                        Policy::Accept,
                        vec![
                            rule(1, vec![v(IrVerdict::Jump("x".into()))]),
                            rule(4, vec![v(IrVerdict::Drop)]),
                        ],
                    ),
                    regular(
                        "x",
                        vec![
                            rule(2, vec![v(IrVerdict::Return)]),
                            rule(3, vec![v(IrVerdict::Accept)]),
                        ],
                    ),
                ],
                (Verdict::Drop, 4),
            ),
            (
                "goto does not come back: base policy",
                vec![
                    base(
                        "INPUT",
                        Hook::Input,
                        Policy::Drop,
                        vec![
                            rule(1, vec![v(IrVerdict::Goto("x".into()))]),
                            rule(3, vec![v(IrVerdict::Accept)]),
                        ],
                    ),
                    regular(
                        "x",
                        vec![rule(
                            2,
                            vec![dport(CmpOp::Eq, Value::Num(80)), v(IrVerdict::Accept)],
                        )],
                    ),
                ],
                (Verdict::Drop, 0),
            ),
            (
                "goto inside a jump returns to the first caller",
                vec![
                    base(
                        "INPUT",
                        Hook::Input,
                        Policy::Drop,
                        vec![
                            rule(1, vec![v(IrVerdict::Jump("a".into()))]),
                            rule(4, vec![v(IrVerdict::Accept)]),
                        ],
                    ),
                    regular("a", vec![rule(2, vec![v(IrVerdict::Goto("b".into()))])]),
                    regular("b", vec![rule(3, vec![v(IrVerdict::Return)])]),
                ],
                (Verdict::Accept, 4),
            ),
            (
                "jump to a missing chain",
                vec![base(
                    "INPUT",
                    Hook::Input,
                    Policy::Drop,
                    vec![rule(1, vec![v(IrVerdict::Jump("nope".into()))])],
                )],
                (Verdict::Unknown, 1),
            ),
            (
                "jump loop is cut at the stack limit",
                vec![
                    base(
                        "INPUT",
                        Hook::Input,
                        Policy::Drop,
                        vec![rule(1, vec![v(IrVerdict::Jump("a".into()))])],
                    ),
                    regular("a", vec![rule(2, vec![v(IrVerdict::Jump("a".into()))])]),
                ],
                (Verdict::Unknown, 2),
            ),
        ];
        for (name, chains, want) in cases {
            let got = chain(&table(chains), "INPUT", &ssh_in());
            assert_eq!(short(&got), want, "{name}: {got:?}");
        }
    }

    #[test]
    fn marks_set_then_matched() {
        let set = |dest, src, mask, xor| {
            Stmt::MarkSet(MarkSet {
                dest,
                src,
                mask,
                xor,
            })
        };
        let is = |e: Expr, n: u64| cmp(e, CmpOp::Eq, Value::Num(n));
        let meta = Expr::Meta(MetaKey::Mark);
        let ct = Expr::Ct(CtKey::Mark);
        let cases: Vec<(&str, Vec<Rule>, (Verdict, u32))> = vec![
            (
                "constant mark, then matched",
                vec![
                    rule(1, vec![set(MarkKey::Meta, MarkKey::Meta, 0, 5)]),
                    rule(2, vec![is(meta, 5), v(IrVerdict::Accept)]),
                ],
                (Verdict::Accept, 2),
            ),
            (
                "constant mark, other value",
                vec![
                    rule(1, vec![set(MarkKey::Meta, MarkKey::Meta, 0, 5)]),
                    rule(2, vec![is(meta, 4), v(IrVerdict::Accept)]),
                ],
                (Verdict::Drop, 0),
            ),
            (
                "copied from an unknown ct mark",
                vec![
                    rule(1, vec![set(MarkKey::Meta, MarkKey::Ct, 0xff, 0)]),
                    rule(2, vec![is(meta, 5), v(IrVerdict::Accept)]),
                ],
                (Verdict::Unknown, 2),
            ),
            (
                "ct mark set, then restored into the packet",
                vec![
                    rule(1, vec![set(MarkKey::Ct, MarkKey::Ct, 0, 7)]),
                    rule(2, vec![set(MarkKey::Meta, MarkKey::Ct, 0xffff_ffff, 0)]),
                    rule(3, vec![is(ct, 7), is(meta, 7), v(IrVerdict::Accept)]),
                ],
                (Verdict::Accept, 3),
            ),
        ];
        for (name, rules, want) in cases {
            let t = table(vec![base("INPUT", Hook::Input, Policy::Drop, rules)]);
            let got = chain(&t, "INPUT", &ssh_in());
            assert_eq!(short(&got), want, "{name}: {got:?}");
        }
        // A mark set in an earlier table is unknown to a later one, even if it was known before.
        let mut marker = table(vec![base(
            "PREROUTING",
            Hook::Input,
            Policy::Accept,
            vec![rule(1, vec![set(MarkKey::Meta, MarkKey::Meta, 0, 9)])],
        )]);
        marker.name = "fwnet_mangle".into();
        if let Some(b) = marker.chains[0].base.as_mut() {
            b.priority = -150;
        }
        let filter = table(vec![base(
            "INPUT",
            Hook::Input,
            Policy::Drop,
            vec![rule(
                2,
                vec![is(Expr::Meta(MetaKey::Mark), 0), v(IrVerdict::Accept)],
            )],
        )]);
        let mut p = ssh_in();
        p.mark = Some(0);
        let rs = Ruleset {
            tables: vec![filter.clone()],
        };
        assert_eq!(short(&hook(&rs, Hook::Input, &p)), (Verdict::Accept, 2));
        let rs = Ruleset {
            tables: vec![filter, marker],
        };
        assert_eq!(short(&hook(&rs, Hook::Input, &p)), (Verdict::Unknown, 2));
    }

    #[test]
    fn forks_agreeing_are_known() {
        // Whatever the limit says, the packet is accepted by the next rule.
        let lim = Stmt::Limit(Limit {
            rate: 1,
            unit: TimeUnit::Second,
            burst: 1,
            over: true,
        });
        let t = table(vec![base(
            "INPUT",
            Hook::Input,
            Policy::Drop,
            vec![
                rule(1, vec![lim.clone(), Stmt::Log(Default::default())]),
                rule(2, vec![lim, v(IrVerdict::Accept)]),
                rule(3, vec![v(IrVerdict::Accept)]),
            ],
        )]);
        let got = chain(&t, "INPUT", &ssh_in());
        assert_eq!(got.verdict, Verdict::Accept);
        assert_eq!(got.unknown, None);
    }

    #[test]
    fn a_nat_statement_ends_the_walk_and_names_the_mapping_forks_must_agree_on() {
        use crate::ir::{Nat, NatAddr, NatKind};
        let dnat = |to: &str| {
            Stmt::Nat(Box::new(Nat {
                kind: NatKind::Dnat,
                addr: Some(NatAddr::Range(addr(to), addr(to))),
                ports: None,
                flags: Default::default(),
            }))
        };
        let lim = Stmt::Limit(Limit {
            rate: 1,
            unit: TimeUnit::Second,
            burst: 1,
            over: false,
        });
        let nat_chain = |rules| {
            let mut c = base("PREROUTING", Hook::Prerouting, Policy::Accept, rules);
            if let Some(b) = &mut c.base {
                b.kind = ChainKind::Nat;
            }
            table(vec![c])
        };
        let mut p = ssh_in();
        p.ct_state = ct_state::NEW;
        // The first mapping the packet meets is its connection's; the second rule is not
        // reached.
        let t = nat_chain(vec![
            rule(1, vec![dport(CmpOp::Eq, Value::Num(22)), dnat("10.0.0.1")]),
            rule(2, vec![dnat("10.0.0.2")]),
        ]);
        let got = chain(&t, "PREROUTING", &p);
        assert_eq!(short(&got), (Verdict::Accept, 1));
        let first = match dnat("10.0.0.1") {
            Stmt::Nat(n) => Some(*n),
            _ => None,
        };
        assert_eq!(got.nat, first);
        assert!(got.nat.is_some());
        // Through the hook as well, where it survives the other chains' accepts.
        let rs = Ruleset { tables: vec![t] };
        assert_eq!(hook(&rs, Hook::Prerouting, &p).nat, got.nat);
        // An established packet never meets a nat chain.
        p.ct_state = ct_state::ESTABLISHED;
        assert_eq!(hook(&rs, Hook::Prerouting, &p).nat, None);
        p.ct_state = ct_state::NEW;
        // Under a rate limit the two ways accept with different mappings: unknown.
        let t = nat_chain(vec![
            rule(1, vec![lim.clone(), dnat("10.0.0.1")]),
            rule(2, vec![dnat("10.0.0.2")]),
        ]);
        let got = chain(&t, "PREROUTING", &p);
        assert_eq!(got.verdict, Verdict::Unknown);
        assert_eq!(got.unknown, Some(Unknowable::RateLimit));
        // With the same mapping both ways it is known.
        let t = nat_chain(vec![
            rule(1, vec![lim, dnat("10.0.0.1")]),
            rule(2, vec![dnat("10.0.0.1")]),
        ]);
        assert_eq!(chain(&t, "PREROUTING", &p).verdict, Verdict::Accept);
    }

    #[test]
    fn helper_assignment_does_not_end_the_rule() {
        let t = table(vec![base(
            "INPUT",
            Hook::Input,
            Policy::Drop,
            vec![rule(
                1,
                vec![Stmt::CtHelperSet("ftp-tcp".into()), v(IrVerdict::Accept)],
            )],
        )]);
        let got = chain(&t, "INPUT", &ssh_in());
        assert_eq!((got.verdict, got.unknown), (Verdict::Accept, None));
    }

    #[test]
    fn dscp_rewrite_does_not_end_the_rule() {
        let t = table(vec![base(
            "INPUT",
            Hook::Input,
            Policy::Drop,
            vec![rule(
                1,
                vec![
                    Stmt::DscpSet {
                        field: Field::IpDscp,
                        value: 10,
                    },
                    v(IrVerdict::Accept),
                ],
            )],
        )]);
        let got = chain(&t, "INPUT", &ssh_in());
        assert_eq!((got.verdict, got.unknown), (Verdict::Accept, None));
    }

    #[test]
    fn ct_count_counts_the_packets_own_connection_and_no_more() {
        // A REJECT-style rule `ct count [over] N drop` before an accepting policy.
        for (over, limit, verdict, unknown) in [
            (true, 0, Verdict::Drop, None),
            (false, 0, Verdict::Accept, None),
            (true, 2, Verdict::Unknown, Some(Unknowable::ConnCount)),
            (false, 2, Verdict::Unknown, Some(Unknowable::ConnCount)),
        ] {
            let count = Stmt::CtCount(Box::new(crate::ir::CtCount {
                limit,
                over,
                per_key: Some(crate::ir::CtCountKey {
                    set: "connlimit".into(),
                    zone: Some(crate::ir::ZoneKey::Conntrack),
                    key: Some(Field::IpSaddr),
                    mask: None,
                }),
            }));
            let t = table(vec![base(
                "INPUT",
                Hook::Input,
                Policy::Accept,
                vec![rule(1, vec![count, v(IrVerdict::Drop)])],
            )]);
            let got = chain(&t, "INPUT", &ssh_in());
            assert_eq!(
                (got.verdict, got.unknown),
                (verdict, unknown),
                "over {over} {limit}"
            );
        }
    }

    #[test]
    fn many_unknowns_give_up_instead_of_exploding() {
        let lim = Stmt::Limit(Limit {
            rate: 1,
            unit: TimeUnit::Second,
            burst: 1,
            over: false,
        });
        let rules: Vec<Rule> = (1..=40).map(|i| rule(i, vec![lim.clone()])).collect();
        let t = table(vec![base("INPUT", Hook::Input, Policy::Drop, rules)]);
        let got = chain(&t, "INPUT", &ssh_in());
        assert_eq!(got.verdict, Verdict::Unknown);
    }

    #[test]
    fn hook_order_and_families() {
        let drop22 = |prio: i32, name: &str, fam: Family| {
            let mut c = base(
                "INPUT",
                Hook::Input,
                Policy::Accept,
                vec![rule(
                    7,
                    vec![dport(CmpOp::Eq, Value::Num(22)), v(IrVerdict::Drop)],
                )],
            );
            if let Some(b) = c.base.as_mut() {
                b.priority = prio;
            }
            Table {
                family: fam,
                name: name.into(),
                sets: vec![],
                ct_helpers: Vec::new(),
                chains: vec![c],
            }
        };
        let accept_all = Table {
            family: Family::Ip,
            name: "fwnet_raw".into(),
            sets: vec![],
            ct_helpers: Vec::new(),
            chains: vec![base(
                "INPUT",
                Hook::Input,
                Policy::Accept,
                vec![rule(1, vec![v(IrVerdict::Accept)])],
            )],
        };
        // An accept in one table does not save the packet from a drop in another.
        let rs = Ruleset {
            tables: vec![accept_all.clone(), drop22(10, "fwnet_filter", Family::Ip)],
        };
        let got = hook(&rs, Hook::Input, &ssh_in());
        assert_eq!(short(&got), (Verdict::Drop, 7));
        assert_eq!(got.decided_by.map(|d| d.table), Some("fwnet_filter".into()));
        // An ip6 table does not see IPv4; an inet table does.
        let rs = Ruleset {
            tables: vec![accept_all.clone(), drop22(0, "fwnet_filter", Family::Ip6)],
        };
        assert_eq!(hook(&rs, Hook::Input, &ssh_in()).verdict, Verdict::Accept);
        let rs = Ruleset {
            tables: vec![drop22(0, "x", Family::Inet)],
        };
        assert_eq!(hook(&rs, Hook::Input, &ssh_in()).verdict, Verdict::Drop);
        // Other hooks do not see it; nothing at all accepts.
        assert_eq!(
            hook(&rs, Hook::Output, &ssh_in()),
            Outcome::accept_untouched()
        );
        // A NAT chain is skipped for established packets.
        let mut nat = drop22(-100, "fwnet_nat", Family::Ip);
        if let Some(b) = nat.chains[0].base.as_mut() {
            b.kind = ChainKind::Nat;
        }
        let rs = Ruleset { tables: vec![nat] };
        assert_eq!(hook(&rs, Hook::Input, &ssh_in()).verdict, Verdict::Accept);
        let mut new = ssh_in();
        new.ct_state = ct_state::NEW;
        assert_eq!(hook(&rs, Hook::Input, &new).verdict, Verdict::Drop);
    }

    /// A SYN and a client's ACK end at `synproxy` (consumed or dropped: reported as drop);
    /// other TCP packets go on to the next rule; non-TCP packets end the rule there.
    #[test]
    fn synproxy_takes_every_syn_and_ack_and_passes_the_rest() {
        let t = table(vec![base(
            "INPUT",
            Hook::Input,
            Policy::Drop,
            vec![
                rule(1, vec![Stmt::Synproxy(Default::default())]),
                rule(2, vec![v(IrVerdict::Accept)]),
            ],
        )]);
        let with_flags = |flags: u64, l4proto: u8| {
            let mut p = ssh_in();
            p.tcp_flags = flags as u8;
            p.l4proto = l4proto;
            short(&chain(&t, "INPUT", &p))
        };
        use tcp_flag::{ACK, FIN, PSH, RST, SYN};
        assert_eq!(with_flags(SYN, 6), (Verdict::Drop, 1));
        assert_eq!(with_flags(ACK, 6), (Verdict::Drop, 1));
        assert_eq!(with_flags(ACK | PSH, 6), (Verdict::Drop, 1));
        assert_eq!(with_flags(SYN | ACK, 6), (Verdict::Drop, 1));
        assert_eq!(with_flags(FIN | ACK, 6), (Verdict::Drop, 1));
        assert_eq!(with_flags(RST, 6), (Verdict::Accept, 2));
        assert_eq!(with_flags(FIN, 6), (Verdict::Accept, 2));
        assert_eq!(
            with_flags(SYN, 17),
            (Verdict::Accept, 2),
            "not tcp: the rule ends"
        );
    }

    /// TPROXY becomes `tproxy ... accept` and then `drop` (no transparent socket): a probe,
    /// which has none, skips the first and is dropped by the second; a packet the rules do
    /// not select goes on to the policy.
    #[test]
    fn tproxy_never_matches_a_probe_and_the_following_drop_does() {
        let tproxy = Stmt::Tproxy(crate::ir::Tproxy {
            addr: None,
            port: Some(3128),
        });
        let dport = |port: u64| {
            Stmt::Match(Match::Cmp {
                left: Expr::Payload(Field::TcpDport),
                op: CmpOp::Eq,
                right: Value::Num(port),
            })
        };
        let t = table(vec![base(
            "PREROUTING",
            Hook::Prerouting,
            Policy::Accept,
            vec![
                rule(1, vec![dport(22), tproxy, v(IrVerdict::Accept)]),
                rule(1, vec![dport(22), v(IrVerdict::Drop)]),
            ],
        )]);
        assert_eq!(
            short(&chain(&t, "PREROUTING", &ssh_in())),
            (Verdict::Drop, 1)
        );
        let mut web = ssh_in();
        web.dport = 80;
        assert_eq!(
            chain(&t, "PREROUTING", &web).verdict,
            Verdict::Accept,
            "not selected: the policy"
        );
    }

    #[test]
    fn raw_network_header_words_are_unknown_unless_an_earlier_test_decides() {
        // `-m u32` (`@nh,416,32 ...`): a described packet has no bytes to read.
        let heartbeat = Stmt::Match(Match::Cmp {
            left: Expr::NhWord(52),
            op: CmpOp::Eq,
            right: Value::Range(0x1803_0000, 0x1803_ffff),
        });
        let https = cmp(Expr::Payload(Field::TcpDport), CmpOp::Eq, Value::Num(443));
        for (stmts, want) in [
            (
                vec![heartbeat.clone(), v(IrVerdict::Drop)],
                (Verdict::Unknown, Some(Unknowable::Unmodelled)),
            ),
            (
                vec![https, heartbeat, v(IrVerdict::Drop)],
                (Verdict::Accept, None),
            ),
        ] {
            let t = table(vec![base(
                "INPUT",
                Hook::Input,
                Policy::Accept,
                vec![rule(1, stmts)],
            )]);
            let got = chain(&t, "INPUT", &ssh_in());
            assert_eq!((got.verdict, got.unknown), want);
        }
    }

    #[test]
    fn recording_a_recent_hitcount_time_keeps_the_verdict_known() {
        // The chains `-m recent --set` and `--update --hitcount 2` become (recent.rs): the
        // lookups in the dynamic sets are unknown, but every way through the recording chain
        // comes back, so only the count check leaves the verdict open.
        let key = || vec![Expr::Payload(Field::IpSaddr)];
        let lookup = |set: &str| {
            Stmt::Match(Match::Lookup {
                key: key().into(),
                set: set.into(),
                op: CmpOp::Eq,
            })
        };
        let update = |set: &str| Stmt::SetUpdate {
            set: set.into(),
            key: key().into(),
            limit: None,
            masks: Default::default(),
        };
        let delete = |set: &str| Stmt::SetDelete {
            set: set.into(),
            key: key().into(),
        };
        let dport = |port: u64| {
            Stmt::Match(Match::Cmp {
                left: Expr::Payload(Field::TcpDport),
                op: CmpOp::Eq,
                right: Value::Num(port),
            })
        };
        let jump = |c: &str| v(IrVerdict::Jump(c.into()));
        let mut t = table(vec![
            base(
                "INPUT",
                Hook::Input,
                Policy::Accept,
                vec![
                    rule(1, vec![dport(22), jump("set_hit")]),
                    rule(2, vec![dport(23), jump("set_hit")]),
                    rule(
                        2,
                        vec![dport(23), lookup("L_1"), lookup("L_2"), jump("check_hit")],
                    ),
                ],
            ),
            regular(
                "stamp",
                vec![
                    rule(0, vec![update("L")]),
                    rule(
                        0,
                        vec![
                            lookup("L_at_2"),
                            update("L_2"),
                            delete("L_at_2"),
                            v(IrVerdict::Return),
                        ],
                    ),
                    rule(0, vec![update("L_1"), update("L_at_2")]),
                ],
            ),
            regular("set_hit", vec![rule(1, vec![jump("stamp")])]),
            regular(
                "check_hit",
                vec![
                    rule(2, vec![jump("stamp")]),
                    rule(2, vec![v(IrVerdict::Drop)]),
                ],
            ),
        ]);
        t.sets = ["L", "L_1", "L_2", "L_at_2"]
            .into_iter()
            .map(|name| crate::ir::Set {
                name: name.into(),
                key: vec![crate::ir::DataType::Ipv4Addr],
                flags: crate::ir::SetFlags {
                    dynamic: true,
                    timeout: true,
                    ..crate::ir::SetFlags::default()
                },
                timeout_ms: Some(2000),
                size: Some(65535),
                elements: Vec::new(),
                typeof_key: Vec::new(),
            })
            .collect();
        let got = chain(&t, "INPUT", &ssh_in());
        assert_eq!((got.verdict, got.unknown), (Verdict::Accept, None));
        let mut telnet = ssh_in();
        telnet.dport = 23;
        assert_eq!(chain(&t, "INPUT", &telnet).verdict, Verdict::Unknown);
    }
}
