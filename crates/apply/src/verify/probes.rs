//! Probe derivation: which packets to send, computed from the IR alone (pure, no I/O).
//!
//! [`derive()`] walks the `INPUT` chain of table `ip fwnet_filter` and every user chain reachable
//! from it by jump or goto, collecting for each rule the conditions on the path to it and its
//! own: addresses and prefixes, ports and port ranges, protocol, tcp flags, icmp type and code,
//! input interface, conntrack state, rate limits. Each rule gets a *witness* (a probe that
//! satisfies every condition on its path, tier 0), then variants that move one of the rule's own
//! conditions to its edges: first and last value of a prefix or range and the values just outside
//! (tier 2), the usual tcp flag combinations (tier 3). Before those, tier 1: for each rule and
//! each of the `MEET_WINDOW` rules before it, a plain packet (no conntrack state, interface,
//! limit or list) that matches both when one exists (`meet`): the packet whose verdict their
//! order decides. The pairs come from the rules in the files' order when verification is
//! given it ([`derive_ordered`]); then every pair the optimized translation holds the other
//! way round (`moved_past`), however far apart and in any of the three chains, gets such a
//! packet too, which may arrive on or leave by an interface the two rules name.
//!
//! Conntrack states are produced for real by the runner: NEW is a first packet (a SYN for
//! tcp), ESTABLISHED a real handshake with data (`connect`) or a UDP answer to a datagram the
//! server sent (`udp ... reply`), RELATED an icmp port unreachable quoting such a datagram
//! (`related`), INVALID a stray FIN. Where one real exchange cannot give the state (on `lo`,
//! every packet of a rate-limited burst, and the FORWARD and OUTPUT paths below), the
//! connection is written into the server's conntrack table instead ([`Spec::Established`]).
//! Rate limits get a burst of `burst + 3` packets, and a second source when the limit is per
//! source. A few probes from a source no rule mentions exercise the policy.
//!
//! The same ruleset always gives the same probes (no randomness); at most `cap` probes are kept,
//! every rule's witness first. Probes are also the `--probes FILE` format: [`Probe`]'s `Display`
//! writes a line that [`parse_file`] reads back.
//!
//! Both `ip` and `ip6` filter tables are walked, each with addresses of its family (IPv6: the
//! server is fd77::1, neutral sources come from 2001:db8:198:18::/64), and IPv6 adds neighbour
//! discovery probes (ICMPv6 133 to 137). A limit kept in a set with a timeout (`hashlimit`) also
//! gets an expiry probe: the witness's source again, after the timeout plus
//! [`EXPIRY_MARGIN_MS`] (`wait_ms`; played only with `--slow`). A rule that looks the source
//! up in a list (xt_recent `--rcheck`/`--update`, `ip saddr @recent_NAME`) gets the witness of a
//! rule that lists the source (`--set`) from the same source, then its own witness, then, when
//! the list has `--seconds`, its witness again after the entry expired (`--slow`).
//!
//! FORWARD and OUTPUT and the chains they reach are walked the same way ([`Path`]); their
//! probes are packets routed through the server (`forward`) or sent by it (`output`, from its
//! own address unless the rule names a source), leaving by the interface the rule's `-o` names
//! (`oif`), to a destination the server does not own ([`FORWARD_DST`] when the rule names none).
//! There ESTABLISHED and RELATED cannot come from a real exchange (the harness has no peer
//! behind the server): the runner writes the connection into the server's conntrack table
//! (ctnetlink) just before the packet and removes it after, so a tcp or udp packet of it is
//! ESTABLISHED ([`Spec::Established`]) and an icmp error quoting it RELATED, on both sides
//! alike.
//!
//! The `nat` table's PREROUTING and INPUT rules are walked on the INPUT path, its POSTROUTING
//! on FORWARD and its OUTPUT on OUTPUT, so each NAT rule gets its witness and edges too.
//!
//! The `mangle` table's chains are walked the same way (PREROUTING and INPUT on the INPUT path,
//! FORWARD and POSTROUTING on FORWARD, OUTPUT on OUTPUT): the packet marks and header fields its
//! rules set are compared on the packets that get through. So are the `raw` table's
//! (PREROUTING on the INPUT path, OUTPUT on OUTPUT): the conntrack entries its rules shape
//! (`-j NOTRACK`, `-j CT --zone`/`--helper`) are compared.
//!
//! A rule on a protocol other than tcp, udp and icmp (GRE, ESP, VRRP...) gets a packet of that
//! protocol ([`Spec::Ip`]) and of its neighbouring numbers, NEW only (nothing answers them).
//!
//! Not derived: the security table, ct status, lists keyed on the destination (`--rdest`), ports of protocols
//! other than tcp and udp, IPv6 extension headers as `-p` values (never matched), ESTABLISHED,
//! RELATED or INVALID packets of protocols other than tcp, udp and icmp.

use fwnet_nft::{
    ct_state, CmpOp, CtKey, Expr, Exthdr, ExthdrField, Family, Field, Hook, Ipv6Ext, Match,
    MetaKey, Ruleset, Stmt, Value, Verdict,
};
use serde::Serialize;
use std::collections::BTreeSet;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

pub use super::packet::Routing;
use super::packet::{ACK, ALL, FIN, PSH, RST, SYN, URG};

/// The server's address on the main link: the destination when nothing else is asked for.
pub const SERVER: Ipv4Addr = Ipv4Addr::new(10, 77, 0, 1);
/// The server's IPv6 address on the main link.
pub const SERVER6: Ipv6Addr = Ipv6Addr::new(0xfd77, 0, 0, 0, 0, 0, 0, 1);
/// Where forwarded probes go when their rule names no destination (TEST-NET-2, and the IPv6
/// documentation prefix): an address the server does not own and routes on.
pub const FORWARD_DST: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 10);
pub const FORWARD_DST6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0x51, 0, 0, 0, 0, 0x10);
/// The default cap on the number of derived probes (`fwnet verify --max-probes`).
pub const DEFAULT_CAP: usize = 600;
/// How much longer than a set's timeout an expiry probe waits: the legacy kernel removes
/// expired hashlimit entries when its garbage collector runs, every second by default and later
/// on a loaded machine (1.5 s was once not enough under CI: both sides still held the entry).
pub const EXPIRY_MARGIN_MS: u64 = 2500;
/// The `why` of expiry probes.
pub const EXPIRY_WHY: &str = "same source after the entry expired";
/// The `why` of the probe that puts a source in a list (xt_recent `--set`), and of the one
/// that follows it to the rule checking the list.
pub const LIST_FILL_WHY: &str = "puts the source in the list";
pub const LIST_CHECK_WHY: &str = "source in the list";
/// `fib ... type local`: the route type of an address the host owns (RTN_LOCAL).
const RTN_LOCAL: u128 = 2;
/// The route types of another host's, a broadcast and a multicast address (RTN_UNICAST,
/// RTN_BROADCAST, RTN_MULTICAST).
const RTN_UNICAST: u128 = 1;
const RTN_BROADCAST: u128 = 3;
const RTN_MULTICAST: u128 = 5;
/// `meta pkttype` of a frame to the host's own link-layer address, to the broadcast address,
/// to a multicast one (PACKET_HOST, PACKET_BROADCAST, PACKET_MULTICAST).
const PACKET_HOST: u128 = 0;
const PACKET_BROADCAST: u128 = 1;
const PACKET_MULTICAST: u128 = 2;
/// The multicast group of probes that must go to one (mDNS's): the server joins it.
const GROUP_V4: Ipv4Addr = Ipv4Addr::new(224, 0, 0, 251);
const GROUP_V6: Ipv6Addr = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 0xfb);
/// Why the probe made to match a rule's every test was played.
pub const REACHES_WHY: &str = "reaches the rule";
/// Why a rule's transport tests are tried with its packet in two fragments.
const FRAGMENTS_WHY: &str = "the same packet in two fragments";
/// Packets past the burst in a rate-limit probe.
const BURST_EXTRA: u32 = 3;
/// Longest burst sent (limits with larger bursts are probed up to here).
const BURST_MAX: u32 = 64;
/// The tcp flag combinations every tcp target is tried with (tier 3).
const FLAG_COMBOS: [u8; 8] = [0, ALL, SYN, ACK, FIN, RST, SYN | ACK, SYN | FIN];

/// What a probe sends. Port 0 means "any free port", filled in by [`derive()`] and [`parse_file`].
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case", tag = "probe")]
pub enum Spec {
    /// A crafted tcp segment (no connection behind it).
    Tcp {
        src: IpAddr,
        sport: u16,
        dst: IpAddr,
        dport: u16,
        flags: u8,
    },
    /// A crafted datagram; with `reply`, the server first sends one from `dst:dport` to
    /// `src:sport`, so this one is its answer (ESTABLISHED).
    Udp {
        src: IpAddr,
        sport: u16,
        dst: IpAddr,
        dport: u16,
        reply: bool,
    },
    Icmp {
        src: IpAddr,
        dst: IpAddr,
        kind: u8,
        code: u8,
    },
    /// A real TCP connection carrying data; accepted when the server got all of it.
    Connect {
        src: IpAddr,
        sport: u16,
        dst: IpAddr,
        dport: u16,
    },
    /// The server sends a datagram `dst:dport -> src:sport`; the client answers with an icmp
    /// port unreachable quoting it (RELATED). On the FORWARD and OUTPUT paths nobody sends the
    /// datagram: its connection is written into the server's conntrack table instead.
    Related {
        src: IpAddr,
        sport: u16,
        dst: IpAddr,
        dport: u16,
    },
    /// A crafted tcp (ACK) or udp packet of a connection the server's conntrack table already
    /// holds as established: the runner writes the entry (ctnetlink) before sending and removes
    /// it after, so the packet is ESTABLISHED wherever it goes, through the server or from it.
    Established {
        /// 6 (tcp) or 17 (udp).
        proto: u8,
        src: IpAddr,
        sport: u16,
        dst: IpAddr,
        dport: u16,
    },
    /// A crafted packet of another protocol (GRE, ESP, AH, IGMP, ...: [`other_protocol`]),
    /// 8 bytes after the IP header.
    Ip { src: IpAddr, dst: IpAddr, proto: u8 },
}

/// Whether `proto` gets [`Spec::Ip`] probes over IPv4 or IPv6: not tcp, udp or icmp (which
/// have their own), and over IPv6 not an extension header, which `-p` never matches (the
/// kernel looks past them for the transport protocol).
pub fn other_protocol(proto: u8, ipv6: bool) -> bool {
    // Hop-by-hop, routing, fragment, AH, no next header, destination options, mobility, HIP,
    // shim6 and the two experimental numbers.
    const V6_EXTENSIONS: [u8; 11] = [0, 43, 44, 51, 59, 60, 135, 139, 140, 253, 254];
    // 0 is no protocol to send (`-p 0` is `-p all`, and the kernel gives no raw socket for it).
    let own_probes = matches!(proto, 0 | 1 | 6 | 17 | 58 | 255);
    !(own_probes || (ipv6 && V6_EXTENSIONS.contains(&proto)))
}

/// `gre`, or the number of a protocol without a name ([`fwnet_nft::protocols`]).
fn protocol_text(proto: u8) -> String {
    fwnet_nft::protocols::name(proto).map_or_else(|| proto.to_string(), String::from)
}

/// The server's path a probe takes, named after the filter chain that judges it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Path {
    /// From a client to the server (INPUT).
    #[default]
    Input,
    /// From a client through the server to somewhere else (FORWARD).
    Forward,
    /// From the server itself (OUTPUT): a raw packet it sends, leaving by a link.
    Output,
}

impl Path {
    /// The base chain that judges this path.
    pub fn chain(self) -> &'static str {
        match self {
            Path::Input => "INPUT",
            Path::Forward => "FORWARD",
            Path::Output => "OUTPUT",
        }
    }
}

/// One probe: what to send, where it arrives, how many times, and why it exists.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Probe {
    pub spec: Spec,
    /// The server-side interface it arrives on: `None` is the main link, `lo` means the server
    /// sends it to itself.
    pub iif: Option<String>,
    /// Packets in a row (rate limits); each gets its own source port or icmp identifier.
    pub count: u32,
    /// The rule (`file:line`) it was derived for, or the probe file line it was read from.
    pub origin: Option<String>,
    /// Why it exists, in a few words.
    pub why: String,
    /// Milliseconds to wait before sending it (expiry probes, played with `--slow` only).
    pub wait_ms: u32,
    /// Which of the server's paths it takes: addressed to it (INPUT), routed through it
    /// (FORWARD), or sent by it (OUTPUT).
    pub path: Path,
    /// The server-side interface a forwarded or sent probe leaves by; `None` is the main link.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub oif: Option<String>,
    /// Whose socket a packet the server sends comes from (`-m owner`); `None` is root's.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub owner: Option<Owner>,
    /// An IPv6 routing header the packets carry (`-m rt`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub routing: Option<Routing>,
    /// Sent as two fragments (`-f`, `-m frag`, and transport tests, which never match a
    /// non-first fragment): see `packet::Packet::fragments`.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub fragmented: bool,
}

impl Probe {
    /// Whether the server sends it (`output`, or `iif lo`): only then has it a socket, and an
    /// owner.
    pub fn sent_by_server(&self) -> bool {
        sent_by_server(self.path, self.iif.as_deref())
    }
}

fn sent_by_server(path: Path, iif: Option<&str>) -> bool {
    path == Path::Output || iif == Some("lo")
}

/// The user and group owning the socket a probe is sent from: what `-m owner --uid-owner` /
/// `--gid-owner` and nft's `meta skuid` / `meta skgid` read (the socket's file's filesystem
/// ids).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct Owner {
    pub uid: u32,
    pub gid: u32,
}

fn flags_text(f: u8) -> String {
    if f == 0 {
        return "none".into();
    }
    [
        (FIN, 'F'),
        (SYN, 'S'),
        (RST, 'R'),
        (PSH, 'P'),
        (ACK, 'A'),
        (URG, 'U'),
        (0x40, 'E'),
        (0x80, 'C'),
    ]
    .iter()
    .filter(|(b, _)| f & b != 0)
    .map(|(_, c)| *c)
    .collect()
}

/// `addr:port`, with an IPv6 address in brackets (`[2001:db8::1]:80`).
fn endpoint(addr: &IpAddr, port: u16) -> String {
    match addr {
        IpAddr::V4(a) => format!("{a}:{port}"),
        IpAddr::V6(a) => format!("[{a}]:{port}"),
    }
}

impl fmt::Display for Spec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Spec::Tcp {
                src,
                sport,
                dst,
                dport,
                flags,
            } => write!(
                f,
                "tcp {} -> {} flags {}",
                endpoint(src, *sport),
                endpoint(dst, *dport),
                flags_text(*flags)
            ),
            Spec::Udp {
                src,
                sport,
                dst,
                dport,
                reply,
            } => write!(
                f,
                "udp {} -> {}{}",
                endpoint(src, *sport),
                endpoint(dst, *dport),
                if *reply { " reply" } else { "" }
            ),
            Spec::Icmp {
                src,
                dst,
                kind,
                code,
            } => write!(
                f,
                "{} {src} -> {dst} type {kind} code {code}",
                if src.is_ipv6() { "icmpv6" } else { "icmp" }
            ),
            Spec::Connect {
                src,
                sport,
                dst,
                dport,
            } => write!(
                f,
                "connect {} -> {}",
                endpoint(src, *sport),
                endpoint(dst, *dport)
            ),
            Spec::Related {
                src,
                sport,
                dst,
                dport,
            } => write!(
                f,
                "related {} -> {}",
                endpoint(src, *sport),
                endpoint(dst, *dport)
            ),
            Spec::Established {
                proto,
                src,
                sport,
                dst,
                dport,
            } => write!(
                f,
                "established {} {} -> {}",
                if *proto == 6 { "tcp" } else { "udp" },
                endpoint(src, *sport),
                endpoint(dst, *dport)
            ),
            Spec::Ip { src, dst, proto } => {
                write!(f, "proto {} {src} -> {dst}", protocol_text(*proto))
            }
        }
    }
}

impl fmt::Display for Probe {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.spec)?;
        if let Some(i) = &self.iif {
            write!(f, " iif {i}")?;
        }
        match self.path {
            Path::Input => {}
            Path::Forward => write!(f, " forward")?,
            Path::Output => write!(f, " output")?,
        }
        if let Some(o) = &self.oif {
            write!(f, " oif {o}")?;
        }
        if let Some(o) = &self.owner {
            write!(f, " owner {}:{}", o.uid, o.gid)?;
        }
        if let Some(r) = &self.routing {
            write!(f, " rt {r}")?;
        }
        if self.fragmented {
            write!(f, " frag")?;
        }
        if self.count > 1 {
            write!(f, " x {}", self.count)?;
        }
        if self.wait_ms > 0 {
            write!(f, " wait {}", self.wait_ms)?;
        }
        Ok(())
    }
}

impl Spec {
    pub fn src(&self) -> IpAddr {
        match *self {
            Spec::Tcp { src, .. } | Spec::Udp { src, .. } | Spec::Icmp { src, .. } => src,
            Spec::Connect { src, .. } | Spec::Related { src, .. } => src,
            Spec::Established { src, .. } | Spec::Ip { src, .. } => src,
        }
    }
    pub fn dst(&self) -> IpAddr {
        match *self {
            Spec::Tcp { dst, .. } | Spec::Udp { dst, .. } | Spec::Icmp { dst, .. } => dst,
            Spec::Connect { dst, .. } | Spec::Related { dst, .. } => dst,
            Spec::Established { dst, .. } | Spec::Ip { dst, .. } => dst,
        }
    }
    /// Whether the probe can be routed through the server or sent by it: a crafted packet,
    /// not a connection or a datagram the server must send first.
    pub fn routable(&self) -> bool {
        !matches!(self, Spec::Connect { .. } | Spec::Udp { reply: true, .. })
    }
    /// Whether the probe travels over IPv6.
    pub fn is_ipv6(&self) -> bool {
        self.src().is_ipv6()
    }
    fn sport_mut(&mut self) -> Option<&mut u16> {
        match self {
            Spec::Tcp { sport, .. } | Spec::Udp { sport, .. } => Some(sport),
            Spec::Connect { sport, .. } | Spec::Related { sport, .. } => Some(sport),
            Spec::Established { sport, .. } => Some(sport),
            Spec::Icmp { .. } | Spec::Ip { .. } => None,
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The probe file format

/// A problem in a probe file, with its place.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ProbeFileError {
    pub file: String,
    pub line: u32,
    pub message: String,
}

impl fmt::Display for ProbeFileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}: {}", self.file, self.line, self.message)
    }
}

/// Reads a probe file: one probe per line, `#` starts a comment.
///
/// ```text
/// Every line may end with `wait MS`: sleep that many milliseconds before sending.
///
/// tcp SRC[:SPORT] -> [DST:]DPORT [flags S|SA|FPU|none...] [iif NAME] [x N]
/// udp SRC[:SPORT] -> [DST:]DPORT [reply] [iif NAME] [x N]
/// icmp SRC [-> DST] [type T] [code C] [iif NAME] [x N]
/// connect SRC[:SPORT] -> [DST:]DPORT [iif NAME]
/// related SRC[:SPORT] -> [DST:]DPORT [iif NAME]
/// established tcp|udp SRC[:SPORT] -> [DST:]DPORT [iif NAME] [x N]
/// proto NUMBER|NAME SRC [-> DST] [iif NAME] [x N]
/// ```
/// `proto` sends a packet of another protocol than tcp, udp and icmp (`proto gre`, `proto 50`:
/// [`other_protocol`]). A tcp, udp (without `reply`), icmp, proto, related or established line
/// may also say `forward` or
/// `output`, and then `oif NAME`: the packet goes to DST through the server (FORWARD) or is sent
/// by the server itself (OUTPUT), leaving by interface NAME (default: the main link), and its
/// verdict is whether it left the server. An `established` packet belongs to a connection
/// written into the server's conntrack table just before it is sent (and removed after); a
/// routed `related` one is an icmp port unreachable quoting a datagram of such a connection.
/// Addresses are IPv4 or IPv6, an IPv6 one in brackets when a port follows
/// (`[2001:db8::5]:40000`); `icmpv6` is a synonym of `icmp`. DST defaults to the server's main
/// address of the source's IP version, SPORT to a free port, flags to `S`, the icmp type to
/// echo-request (8, or 128 over IPv6). Flag letters: F S R P A U E C. Every bad line is
/// reported.
pub fn parse_file(file: &str, text: &str) -> Result<Vec<Probe>, Vec<ProbeFileError>> {
    let mut probes = Vec::new();
    let mut errors = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let line = raw.split('#').next().unwrap_or("").trim();
        if line.is_empty() {
            continue;
        }
        match parse_line(line) {
            Ok(mut p) => {
                p.origin = Some(format!("{file}:{}", i + 1));
                p.why = "user probe".into();
                probes.push(p);
            }
            Err(message) => errors.push(ProbeFileError {
                file: file.into(),
                line: i as u32 + 1,
                message,
            }),
        }
    }
    if errors.is_empty() {
        Ok(probes)
    } else {
        Err(errors)
    }
}

fn parse_addr(s: &str) -> Result<IpAddr, String> {
    s.parse().map_err(|_| format!("`{s}` is not an IP address"))
}

/// `ADDR`, `ADDR:PORT`, `[V6ADDR]` or `[V6ADDR]:PORT`; a bare IPv6 address has no port.
fn parse_endpoint(s: &str, what: &str) -> Result<(IpAddr, Option<u16>), String> {
    if let Some(inner) = s.strip_prefix('[') {
        let (addr, rest) = inner
            .split_once(']')
            .ok_or_else(|| format!("`{s}` lacks its closing `]`"))?;
        let port = match rest {
            "" => None,
            p => Some(parse_num::<u16>(p.strip_prefix(':'), what)?),
        };
        return Ok((parse_addr(addr)?, port));
    }
    match s.split_once(':') {
        Some((a, p)) if !p.contains(':') => Ok((parse_addr(a)?, Some(parse_num(Some(p), what)?))),
        _ => Ok((parse_addr(s)?, None)),
    }
}

fn parse_num<T: std::str::FromStr>(s: Option<&str>, what: &str) -> Result<T, String> {
    let s = s.ok_or_else(|| format!("{what} needs a value"))?;
    s.parse()
        .map_err(|_| format!("`{s}` is not a valid {what}"))
}

fn parse_flags(s: &str) -> Result<u8, String> {
    if s.eq_ignore_ascii_case("none") {
        return Ok(0);
    }
    let mut f = 0;
    for c in s.chars() {
        f |= match c.to_ascii_uppercase() {
            'F' => FIN,
            'S' => SYN,
            'R' => RST,
            'P' => PSH,
            'A' => ACK,
            'U' => URG,
            'E' => 0x40,
            'C' => 0x80,
            _ => {
                return Err(format!(
                    "unknown tcp flag `{c}` (use F S R P A U E C or none)"
                ))
            }
        };
    }
    Ok(f)
}

/// Parses one non-empty line of a probe file.
pub fn parse_line(line: &str) -> Result<Probe, String> {
    let mut words: Vec<&str> = line.split_whitespace().collect();
    // `established tcp|udp ...`: the protocol is the kind, the connection a flag.
    let established = words[0] == "established";
    if established {
        match words.get(1) {
            Some(&("tcp" | "udp")) => {
                words.remove(0);
            }
            _ => return Err("`established` needs `tcp` or `udp` after it".into()),
        }
    }
    // `proto NUMBER|NAME ...`: the protocol comes before the source.
    let mut proto = None;
    if words[0] == "proto" {
        let Some(p) = words.get(1).copied() else {
            return Err("`proto` needs a protocol number or name after it".into());
        };
        proto = Some(match fwnet_nft::protocols::number(p) {
            Some(n) => n,
            None => parse_num::<u8>(Some(p), "protocol number")?,
        });
        words.remove(1);
    }
    let kind = words[0];
    let (src_text, mut rest) = match words.get(1) {
        Some(s) => (*s, &words[2..]),
        None => return Err(format!("`{kind}` needs a source address")),
    };
    let kind = if kind == "icmpv6" { "icmp" } else { kind };
    let (src, sport) = parse_endpoint(src_text, "source port")?;
    let sport = sport.unwrap_or(0);
    let mut dst_text = None;
    if rest.first() == Some(&"->") {
        dst_text = Some(*rest.get(1).ok_or("`->` needs a destination")?);
        rest = &rest[2..];
    }
    let (mut dst, mut dport) = if src.is_ipv6() {
        (IpAddr::V6(SERVER6), None)
    } else {
        (IpAddr::V4(SERVER), None)
    };
    if let Some(d) = dst_text {
        match (kind, d.parse::<u16>()) {
            ("icmp" | "proto", _) => {
                dst = parse_addr(d.trim_start_matches('[').trim_end_matches(']'))?
            }
            (_, Ok(p)) => dport = Some(p),
            (_, Err(_)) if d.bytes().all(|b| b.is_ascii_digit()) => {
                dport = Some(parse_num::<u16>(Some(d), "destination port")?)
            }
            (_, Err(_)) => {
                let (a, p) = parse_endpoint(d, "destination port")?;
                dst = a;
                dport = Some(p.ok_or_else(|| format!("`{d}` has no destination port"))?);
            }
        }
    }
    if src.is_ipv6() != dst.is_ipv6() {
        return Err(format!("{src} and {dst} are not of the same IP version"));
    }
    let echo = if src.is_ipv6() { 128 } else { 8 };
    let (mut flags, mut kind_no, mut code, mut iif, mut count, mut reply) =
        (SYN, echo, 0u8, None, 1u32, false);
    let mut wait_ms = 0u32;
    let (mut path, mut oif, mut owner, mut routing) = (Path::Input, None, None, None);
    let mut fragmented = false;
    let mut it = rest.iter();
    while let Some(w) = it.next() {
        match *w {
            "flags" if kind == "tcp" && !established => {
                flags = parse_flags(it.next().ok_or("flags needs a value")?)?
            }
            "type" if kind == "icmp" => kind_no = parse_num(it.next().copied(), "icmp type")?,
            "code" if kind == "icmp" => code = parse_num(it.next().copied(), "icmp code")?,
            "reply" if kind == "udp" && !established => reply = true,
            "iif" => {
                let name = it.next().ok_or("iif needs an interface name")?;
                if name.is_empty() || name.len() > 15 || name.contains('/') {
                    return Err(format!("`{name}` is not an interface name"));
                }
                iif = Some(name.to_string());
            }
            "forward" => path = Path::Forward,
            "output" => path = Path::Output,
            "oif" => {
                let name = it.next().ok_or("oif needs an interface name")?;
                if name.is_empty() || name.len() > 15 || name.contains('/') || *name == "lo" {
                    return Err(format!("`{name}` is not an interface a probe can leave by"));
                }
                oif = Some(name.to_string());
            }
            "owner" => {
                let ids = it.next().ok_or("owner needs UID or UID:GID")?;
                let (uid, gid) = ids.split_once(':').unwrap_or((ids, "0"));
                let id = |s: &str, what: &str| match parse_num::<u32>(Some(s), what) {
                    Ok(u32::MAX) => Err(format!("{what} {s} is not one a socket can have")),
                    r => r,
                };
                owner = Some(Owner {
                    uid: id(uid, "user id")?,
                    gid: id(gid, "group id")?,
                });
            }
            "rt" => {
                let r = it.next().ok_or("rt needs TYPE[/SEGLEFT[/HDRLEN]]")?;
                let mut parts = r.split('/');
                let mut part = |what: &str| match parts.next() {
                    Some(p) => parse_num::<u8>(Some(p), what),
                    None => Ok(0),
                };
                routing = Some(Routing {
                    kind: part("routing type")?,
                    segments_left: part("segments left")?,
                    hdrlen: part("routing header length")?,
                });
                if parts.next().is_some() {
                    return Err(format!("`{r}`: rt is TYPE[/SEGLEFT[/HDRLEN]]"));
                }
            }
            "frag" => fragmented = true,
            "wait" => {
                wait_ms = parse_num(it.next().copied(), "wait in milliseconds")?;
                if wait_ms > 3_600_000 {
                    return Err("a wait is at most 3600000 ms (one hour)".into());
                }
            }
            "x" => {
                count = parse_num(it.next().copied(), "count")?;
                if count == 0 || count > 1000 {
                    return Err("the count must be 1 to 1000".into());
                }
            }
            other => return Err(format!("unexpected `{other}` for a {kind} probe")),
        }
    }
    let need_port = || dport.ok_or_else(|| format!("a {kind} probe needs `-> [DST:]PORT`"));
    let spec = match kind {
        "tcp" | "udp" if established => Spec::Established {
            proto: if kind == "tcp" { 6 } else { 17 },
            src,
            sport,
            dst,
            dport: need_port()?,
        },
        "tcp" => Spec::Tcp {
            src,
            sport,
            dst,
            dport: need_port()?,
            flags,
        },
        "udp" => Spec::Udp {
            src,
            sport,
            dst,
            dport: need_port()?,
            reply,
        },
        "icmp" => Spec::Icmp {
            src,
            dst,
            kind: kind_no,
            code,
        },
        "connect" => Spec::Connect {
            src,
            sport,
            dst,
            dport: need_port()?,
        },
        "related" => Spec::Related {
            src,
            sport,
            dst,
            dport: need_port()?,
        },
        "proto" => {
            let proto = proto.unwrap_or(0);
            if !other_protocol(proto, src.is_ipv6()) {
                return Err(format!(
                    "`proto {proto}` is not for an {} probe: use a tcp, udp or icmp probe, and over IPv6 no extension header",
                    if src.is_ipv6() { "IPv6" } else { "IPv4" }
                ));
            }
            Spec::Ip { src, dst, proto }
        }
        other => {
            return Err(format!(
            "unknown probe kind `{other}` (tcp, udp, icmp, proto, connect, related, established)"
        ))
        }
    };
    if count > 1 && matches!(spec, Spec::Connect { .. } | Spec::Related { .. }) {
        return Err(format!("`x N` is only for crafted packets, not `{kind}`"));
    }
    if oif.is_some() && path == Path::Input {
        return Err("`oif` needs `forward` or `output` before it".into());
    }
    if routing.is_some() && !src.is_ipv6() {
        return Err("`rt` (a routing header) is for IPv6 probes".into());
    }
    if fragmented && (!can_fragment(&spec, path, iif.as_deref()) || count > 1) {
        return Err(
            "`frag` is for one crafted packet a client sends (tcp, udp without reply, icmp, \
             proto): not with `output`, `iif lo` or `x N`"
                .into(),
        );
    }
    if owner.is_some() && !sent_by_server(path, iif.as_deref()) {
        return Err("`owner` is for packets the server sends: `output`, or `iif lo`".into());
    }
    if path != Path::Input {
        let what = path.chain();
        if !spec.routable() {
            return Err(format!(
                "a {what} probe is a crafted packet (tcp, udp without reply, icmp, proto, related, established), not `{kind}`"
            ));
        }
        if path == Path::Output && iif.is_some() {
            return Err("an OUTPUT probe arrives on no interface: remove `iif`".into());
        }
        if iif.as_deref() == Some("lo") {
            return Err("a forwarded probe cannot arrive on `lo`".into());
        }
        if dst == IpAddr::V4(SERVER) || dst == IpAddr::V6(SERVER6) {
            return Err(format!(
                "a {what} probe needs `-> DST:PORT` with an address other than the server's (one the server routes to)"
            ));
        }
    }
    Ok(Probe {
        spec,
        iif,
        count,
        origin: None,
        why: String::new(),
        wait_ms,
        path,
        oif,
        owner,
        routing,
        fragmented,
    })
}

// ---------------------------------------------------------------------------------------------
// Conditions

#[derive(Clone, Debug, Default)]
struct Cond {
    ranges: Vec<(u128, u128)>,
    neg: bool,
}

impl Cond {
    fn holds(&self, v: u128) -> bool {
        self.ranges.iter().any(|&(a, b)| a <= v && v <= b) != self.neg
    }
    /// First, last, and just outside each range (at most 4 ranges), inside `0..=max`.
    fn edges(&self, max: u128) -> Vec<u128> {
        let mut out = Vec::new();
        for &(a, b) in self.ranges.iter().take(4) {
            out.push(a);
            out.push(b);
            if a > 0 {
                out.push(a - 1);
            }
            if b < max {
                out.push(b + 1);
            }
        }
        out
    }
}

#[derive(Clone, Debug)]
struct IfCond {
    names: Vec<(String, bool)>,
    neg: bool,
}

impl IfCond {
    fn holds(&self, iface: &str) -> bool {
        self.names.iter().any(|(n, wild)| {
            if *wild {
                iface.starts_with(n.as_str())
            } else {
                iface == n
            }
        }) != self.neg
    }
}

#[derive(Clone, Copy, Debug)]
struct FlagCond {
    mask: u8,
    value: u8,
    neg: bool,
}

#[derive(Clone, Copy, Debug)]
struct CtCond {
    bits: u64,
    neg: bool,
}

#[derive(Clone, Debug, PartialEq, Eq)]
struct LimitCond {
    burst: u32,
    per_source: bool,
    /// The set whose elements hold the buckets (`update @set { ... limit ... }`).
    set: Option<String>,
}

#[derive(Clone, Debug, Default)]
struct Conds {
    proto: Vec<Cond>,
    saddr: Vec<Cond>,
    daddr: Vec<Cond>,
    sport: Vec<Cond>,
    dport: Vec<Cond>,
    icmp_type: Vec<Cond>,
    icmp_code: Vec<Cond>,
    flags: Vec<FlagCond>,
    iif: Vec<IfCond>,
    oif: Vec<IfCond>,
    ct: Vec<CtCond>,
    limit: Option<LimitCond>,
    /// Sets the rule adds the packet's source to (`update @set { ip saddr }`, xt_recent
    /// `--set`/`--update`), and sets it looks the source up in (`ip saddr @set`).
    feeds: Vec<String>,
    lookups: Vec<String>,
    /// `fib daddr type local`: the packet goes to one of the server's own addresses.
    local_daddr: bool,
    /// `meta skuid` / `meta skgid` (`-m owner`): who owns the socket that sent the packet.
    skuid: Vec<Cond>,
    skgid: Vec<Cond>,
    /// `meta pkttype` (`-m pkttype`), and `fib daddr type` other than `local`
    /// (`-m addrtype --dst-type BROADCAST`): what kind of address the packet is sent to.
    pkttype: Vec<Cond>,
    daddr_type: Vec<Cond>,
    /// IPv6 routing header tests (`-m rt`): the header is there (`exthdr rt exists`), and its
    /// type, segments left and length field.
    rt: bool,
    rt_type: Vec<Cond>,
    rt_segleft: Vec<Cond>,
    rt_hdrlen: Vec<Cond>,
    /// The fragment offset (`-f`: IPv4 `ip frag-off & 0x1fff != 0`; IPv6 `frag frag-off`), as
    /// a first fragment (0) or a non-first one (any other value) has it.
    frag: Vec<Cond>,
    /// An IPv6 fragment header test (`-m frag`): only a fragment matches.
    frag_header: bool,
}

impl Conds {
    /// Whether the rule tests an IPv6 routing header: then only a packet with one matches.
    fn tests_routing(&self) -> bool {
        self.rt
            || !self.rt_type.is_empty()
            || !self.rt_segleft.is_empty()
            || !self.rt_hdrlen.is_empty()
    }

    /// Whether a packet to `dst` meets the tests of the kind of its destination
    /// (`meta pkttype`, `fib daddr type`).
    fn kind_holds(&self, dst: IpAddr, af: Af) -> bool {
        self.pkttype.iter().all(|k| k.holds(pkttype_of(dst)))
            && self
                .daddr_type
                .iter()
                .all(|k| k.holds(route_type_of(dst, af)))
    }

    fn extend(&mut self, o: &Conds) {
        self.proto.extend(o.proto.iter().cloned());
        self.saddr.extend(o.saddr.iter().cloned());
        self.daddr.extend(o.daddr.iter().cloned());
        self.sport.extend(o.sport.iter().cloned());
        self.dport.extend(o.dport.iter().cloned());
        self.icmp_type.extend(o.icmp_type.iter().cloned());
        self.icmp_code.extend(o.icmp_code.iter().cloned());
        self.flags.extend(o.flags.iter().copied());
        self.iif.extend(o.iif.iter().cloned());
        self.oif.extend(o.oif.iter().cloned());
        self.ct.extend(o.ct.iter().copied());
        self.feeds.extend(o.feeds.iter().cloned());
        self.lookups.extend(o.lookups.iter().cloned());
        self.local_daddr |= o.local_daddr;
        self.skuid.extend(o.skuid.iter().cloned());
        self.skgid.extend(o.skgid.iter().cloned());
        self.pkttype.extend(o.pkttype.iter().cloned());
        self.daddr_type.extend(o.daddr_type.iter().cloned());
        self.rt |= o.rt;
        self.rt_type.extend(o.rt_type.iter().cloned());
        self.rt_segleft.extend(o.rt_segleft.iter().cloned());
        self.rt_hdrlen.extend(o.rt_hdrlen.iter().cloned());
        self.frag.extend(o.frag.iter().cloned());
        self.frag_header |= o.frag_header;
        if o.limit.is_some() {
            self.limit = o.limit.clone();
        }
    }
}

const TCP: u128 = 6;
const UDP: u128 = 17;
const ICMP: u128 = 1;
const ICMPV6: u128 = 58;

/// The address family a table's probes travel in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Af {
    V4,
    V6,
}

impl Af {
    fn max(self) -> u128 {
        match self {
            Af::V4 => u128::from(u32::MAX),
            Af::V6 => u128::MAX,
        }
    }
    fn addr(self, v: u128) -> IpAddr {
        match self {
            Af::V4 => Ipv4Addr::from(v as u32).into(),
            Af::V6 => Ipv6Addr::from(v).into(),
        }
    }
    fn server(self) -> IpAddr {
        match self {
            Af::V4 => SERVER.into(),
            Af::V6 => SERVER6.into(),
        }
    }
    /// Where a forwarded probe goes when its rule names no destination.
    fn far(self) -> IpAddr {
        match self {
            Af::V4 => FORWARD_DST.into(),
            Af::V6 => FORWARD_DST6.into(),
        }
    }
    fn icmp(self) -> u128 {
        match self {
            Af::V4 => ICMP,
            Af::V6 => ICMPV6,
        }
    }
    fn echo(self) -> u8 {
        match self {
            Af::V4 => 8,
            Af::V6 => 128,
        }
    }
    fn family(self) -> Family {
        match self {
            Af::V4 => Family::Ip,
            Af::V6 => Family::Ip6,
        }
    }
    /// Usable as a source or destination on the wire: not 0/8, 127/8, multicast or class E;
    /// over IPv6 not unspecified, loopback, IPv4-mapped or multicast.
    fn usable(self, v: u128) -> bool {
        match self.addr(v) {
            IpAddr::V4(a) => usable(a),
            IpAddr::V6(a) => {
                !a.is_unspecified()
                    && !a.is_loopback()
                    && !a.is_multicast()
                    && a.to_ipv4_mapped().is_none()
            }
        }
    }
}

/// An address as a number, for ranges.
fn bits(a: IpAddr) -> u128 {
    match a {
        IpAddr::V4(a) => u128::from(u32::from(a)),
        IpAddr::V6(a) => u128::from(a),
    }
}

fn ranges(v: &Value) -> Vec<(u128, u128)> {
    match v {
        Value::Addr(a) => vec![(bits(*a), bits(*a))],
        Value::Prefix { addr, len } => {
            let width = if addr.is_ipv6() { 128 } else { 32 };
            let host = if u32::from(*len) >= width {
                0
            } else {
                (u128::MAX >> (128 - width)) >> len
            };
            vec![(bits(*addr) & !host, bits(*addr) | host)]
        }
        Value::Num(n) => vec![(u128::from(*n), u128::from(*n))],
        Value::Range(a, b) => vec![(u128::from(*a), u128::from(*b))],
        Value::Set(vs) => vs.iter().flat_map(ranges).collect(),
        _ => Vec::new(),
    }
}

fn ifaces(v: &Value) -> Vec<(String, bool)> {
    match v {
        Value::Iface { name, wildcard } => vec![(name.to_string(), *wildcard)],
        Value::Set(vs) => vs.iter().flat_map(ifaces).collect(),
        _ => Vec::new(),
    }
}

fn num(v: &Value) -> Option<u128> {
    match v {
        Value::Num(n) => Some(u128::from(*n)),
        Value::Addr(a) => Some(bits(*a)),
        _ => None,
    }
}

/// A lookup of one packet field in a set with fixed elements (an ipset from `ipset save`) tests
/// the field against those elements, like an anonymous set: the probes then take an element.
fn as_cmp(s: &Stmt, sets: &[fwnet_nft::Set]) -> Option<Stmt> {
    let Stmt::Match(Match::Lookup { key, set, op }) = s else {
        return None;
    };
    let [left] = &**key else { return None };
    let set = sets
        .iter()
        .find(|x| *x.name == **set && !x.flags.dynamic && !x.elements.is_empty())?;
    Some(Stmt::Match(Match::Cmp {
        left: *left,
        op: *op,
        right: Value::Set(set.elements.as_slice().into()),
    }))
}

fn conds_of(rule: &fwnet_nft::Rule, sets: &[fwnet_nft::Set]) -> Conds {
    let mut c = Conds::default();
    let implied = |c: &mut Conds, p: u128| {
        c.proto.push(Cond {
            ranges: vec![(p, p)],
            neg: false,
        })
    };
    for s in &rule.stmts {
        let resolved = as_cmp(s, sets);
        match resolved.as_ref().unwrap_or(s) {
            Stmt::Match(Match::Cmp { left, op, right }) => {
                let cond = Cond {
                    ranges: ranges(right),
                    neg: *op == CmpOp::Ne,
                };
                match left {
                    Expr::Payload(Field::IpProtocol | Field::Ip6Nexthdr)
                    | Expr::Meta(MetaKey::L4proto) => c.proto.push(cond),
                    Expr::Payload(Field::IpSaddr | Field::Ip6Saddr) => c.saddr.push(cond),
                    Expr::Payload(Field::IpDaddr | Field::Ip6Daddr) => c.daddr.push(cond),
                    Expr::Payload(Field::TcpSport) => {
                        implied(&mut c, TCP);
                        c.sport.push(cond)
                    }
                    Expr::Payload(Field::TcpDport) => {
                        implied(&mut c, TCP);
                        c.dport.push(cond)
                    }
                    Expr::Payload(Field::UdpSport) => {
                        implied(&mut c, UDP);
                        c.sport.push(cond)
                    }
                    Expr::Payload(Field::UdpDport) => {
                        implied(&mut c, UDP);
                        c.dport.push(cond)
                    }
                    // In a chain of one protocol's rules, whose dispatch rule gave the
                    // protocol on the way in.
                    Expr::Payload(Field::ThSport) => c.sport.push(cond),
                    Expr::Payload(Field::ThDport) => c.dport.push(cond),
                    Expr::Payload(Field::IcmpType) => {
                        implied(&mut c, ICMP);
                        c.icmp_type.push(cond)
                    }
                    Expr::Payload(Field::IcmpCode) => {
                        implied(&mut c, ICMP);
                        c.icmp_code.push(cond)
                    }
                    Expr::Payload(Field::Icmpv6Type) => {
                        implied(&mut c, ICMPV6);
                        c.icmp_type.push(cond)
                    }
                    Expr::Payload(Field::Icmpv6Code) => {
                        implied(&mut c, ICMPV6);
                        c.icmp_code.push(cond)
                    }
                    Expr::Payload(Field::TcpFlags) => {
                        implied(&mut c, TCP);
                        if let Some(v) = num(right) {
                            c.flags.push(FlagCond {
                                mask: 0xff,
                                value: v as u8,
                                neg: *op == CmpOp::Ne,
                            });
                        }
                    }
                    // `fib daddr type local` (`-m addrtype --dst-type LOCAL`): to one of the
                    // server's own addresses.
                    Expr::Fib(fwnet_nft::Fib {
                        addr: fwnet_nft::FibAddr::Daddr,
                        iface: None,
                    }) if *op == CmpOp::Eq && num(right) == Some(RTN_LOCAL) => c.local_daddr = true,
                    Expr::Fib(fwnet_nft::Fib {
                        addr: fwnet_nft::FibAddr::Daddr,
                        iface: None,
                    }) => c.daddr_type.push(cond),
                    Expr::Meta(MetaKey::Pkttype) => c.pkttype.push(cond),
                    Expr::Exthdr(Exthdr::Present(Ipv6Ext::Rt)) if !cond.neg => c.rt = true,
                    Expr::Exthdr(Exthdr::Present(Ipv6Ext::Frag)) if !cond.neg => {
                        c.frag_header = true
                    }
                    Expr::Exthdr(Exthdr::Field(f)) => match f {
                        ExthdrField::RtType => c.rt_type.push(cond),
                        ExthdrField::RtSegLeft => c.rt_segleft.push(cond),
                        ExthdrField::RtHdrlength => c.rt_hdrlen.push(cond),
                        ExthdrField::FragOff => {
                            c.frag_header = true;
                            c.frag.push(cond)
                        }
                        // The other fragment header fields: only a packet with one matches.
                        ExthdrField::FragMoreFragments
                        | ExthdrField::FragId
                        | ExthdrField::FragReserved
                        | ExthdrField::FragReserved2 => c.frag_header = true,
                        _ => {}
                    },
                    Expr::Meta(MetaKey::Iifname) => c.iif.push(IfCond {
                        names: ifaces(right),
                        neg: *op == CmpOp::Ne,
                    }),
                    Expr::Meta(MetaKey::Oifname) => c.oif.push(IfCond {
                        names: ifaces(right),
                        neg: *op == CmpOp::Ne,
                    }),
                    Expr::Meta(MetaKey::Skuid) => c.skuid.push(cond),
                    Expr::Meta(MetaKey::Skgid) => c.skgid.push(cond),
                    _ => {}
                }
            }
            Stmt::Match(Match::Masked {
                left,
                mask,
                op,
                value,
            }) => {
                let neg = *op == CmpOp::Ne;
                match (left, num(mask), num(value)) {
                    // `-f`: the fragment offset bits, zero or not.
                    (Expr::Payload(Field::IpFragOff), Some(0x1fff), Some(0)) => c.frag.push(Cond {
                        ranges: vec![(0, 0)],
                        neg,
                    }),
                    (Expr::Payload(Field::TcpFlags), Some(m), Some(v)) => {
                        implied(&mut c, TCP);
                        c.flags.push(FlagCond {
                            mask: m as u8,
                            value: v as u8,
                            neg,
                        });
                    }
                    (
                        Expr::Payload(
                            f @ (Field::IpSaddr
                            | Field::IpDaddr
                            | Field::Ip6Saddr
                            | Field::Ip6Daddr),
                        ),
                        Some(m),
                        Some(v),
                    ) => {
                        // A contiguous mask is a prefix; otherwise only the value itself is known
                        // to match.
                        let width = if matches!(f, Field::IpSaddr | Field::IpDaddr) {
                            32
                        } else {
                            128
                        };
                        let full = u128::MAX >> (128 - width);
                        let host = !m & full;
                        let r = if (host & host.wrapping_add(1)) == 0 {
                            (v, v | host)
                        } else {
                            (v, v)
                        };
                        let cond = Cond {
                            ranges: vec![r],
                            neg,
                        };
                        if matches!(f, Field::IpSaddr | Field::Ip6Saddr) {
                            c.saddr.push(cond)
                        } else {
                            c.daddr.push(cond)
                        }
                    }
                    _ => {}
                }
            }
            Stmt::Match(Match::Flags {
                left: Expr::Ct(CtKey::State),
                bits,
                op,
            }) => c.ct.push(CtCond {
                bits: *bits,
                neg: *op == CmpOp::Ne,
            }),
            Stmt::Limit(l) => {
                c.limit = Some(LimitCond {
                    burst: l.burst.max(1),
                    per_source: false,
                    set: None,
                })
            }
            Stmt::SetUpdate {
                set,
                key,
                limit: Some(l),
                masks,
            } => {
                // A source keyed by its prefix only (`--hashlimit-srcmask`) shares its bucket
                // with its neighbours: not one bucket per source.
                let whole_source = key.iter().enumerate().any(|(i, e)| {
                    matches!(e, Expr::Payload(Field::IpSaddr | Field::Ip6Saddr))
                        && masks.get(i).is_none_or(Option::is_none)
                });
                c.limit = Some(LimitCond {
                    burst: l.burst.max(1),
                    per_source: whole_source,
                    set: Some(set.to_string()),
                })
            }
            Stmt::SetUpdate {
                set,
                key,
                limit: None,
                masks,
            } if masks.is_empty() && is_source_key(key) => c.feeds.push(set.to_string()),
            Stmt::SetAdd { set, key } if is_source_key(key) => c.feeds.push(set.to_string()),
            Stmt::Match(Match::Lookup { key, set, .. }) if is_source_key(key) => {
                c.lookups.push(set.to_string())
            }
            _ => {}
        }
    }
    c
}

/// A set key that is the packet's source address alone.
fn is_source_key(key: &[Expr]) -> bool {
    matches!(key, [Expr::Payload(Field::IpSaddr | Field::Ip6Saddr)])
}

/// Whether a probe can go as two fragments: a crafted packet (not a connection or a datagram
/// the server answers first) that a client sends (the server's own packets are not crafted
/// fragments).
fn can_fragment(spec: &Spec, path: Path, iif: Option<&str>) -> bool {
    matches!(
        spec,
        Spec::Tcp { .. } | Spec::Udp { reply: false, .. } | Spec::Icmp { .. } | Spec::Ip { .. }
    ) && !sent_by_server(path, iif)
}

/// A rule reached from INPUT or FORWARD, with the conditions on the way to it.
struct Case {
    origin: Option<String>,
    /// The base chain it is reached from.
    path: Path,
    /// Reached from POSTROUTING, which the server's own packets cross too.
    postrouting: bool,
    /// Reached from PREROUTING, which sees an IPv4 packet's fragments before INPUT's
    /// reassembly.
    prerouting: bool,
    own: Conds,
    all: Conds,
}

fn walk(
    rs: &fwnet_nft::Table,
    chain: &str,
    above: &Conds,
    depth: usize,
    path: Path,
    out: &mut Vec<Case>,
) {
    let Some(c) = rs.chains.iter().find(|c| c.name == chain) else {
        return;
    };
    for rule in &c.rules {
        let own = conds_of(rule, &rs.sets);
        let mut all = above.clone();
        all.extend(&own);
        // The chains the rule jumps to, each with the test a verdict map's entry adds.
        let mut targets: Vec<(String, Option<Stmt>)> = Vec::new();
        for s in &rule.stmts {
            match s {
                Stmt::Verdict(Verdict::Jump(t) | Verdict::Goto(t)) => {
                    targets.push((t.clone(), None))
                }
                Stmt::Vmap { key, map } => {
                    targets.extend(map.iter().filter_map(|e| match &e.verdict {
                        Verdict::Jump(t) | Verdict::Goto(t) => Some((
                            t.clone(),
                            Some(Stmt::Match(Match::Cmp {
                                left: *key,
                                op: CmpOp::Eq,
                                right: e.value.clone(),
                            })),
                        )),
                        _ => None,
                    }))
                }
                _ => {}
            }
        }
        out.push(Case {
            origin: rule.origin.as_ref().map(|o| o.to_string()),
            path,
            postrouting: false,
            prerouting: false,
            own,
            all: all.clone(),
        });
        if depth < 8 {
            for (t, entry) in targets {
                let mut on_the_way = all.clone();
                if let Some(test) = entry {
                    let entry_rule = fwnet_nft::Rule {
                        stmts: vec![test],
                        ..fwnet_nft::Rule::default()
                    };
                    on_the_way.extend(&conds_of(&entry_rule, &rs.sets));
                }
                walk(rs, &t, &on_the_way, depth + 1, path, out);
            }
        }
    }
}

/// The IPv4 filter table, whose INPUT chain verification looks at.
pub fn filter_table(rs: &Ruleset) -> Option<&fwnet_nft::Table> {
    filter_table_of(rs, Family::Ip)
}

/// The filter table of `family` (`ip` or `ip6`).
pub fn filter_table_of(rs: &Ruleset, family: Family) -> Option<&fwnet_nft::Table> {
    rs.tables
        .iter()
        .find(|t| t.family == family && t.name == "fwnet_filter")
}

/// The nat table of `family` (`ip` or `ip6`).
pub fn nat_table_of(rs: &Ruleset, family: Family) -> Option<&fwnet_nft::Table> {
    table_of(rs, family, "fwnet_nat")
}

/// The table `name` of `family` in `rs`.
pub fn table_of<'a>(rs: &'a Ruleset, family: Family, name: &str) -> Option<&'a fwnet_nft::Table> {
    rs.tables
        .iter()
        .find(|t| t.family == family && t.name == name)
}

// ---------------------------------------------------------------------------------------------
// Values

/// Values that fall outside everything the ruleset mentions.
struct Neutral {
    sources: Vec<IpAddr>,
    dport: u16,
    busy_ports: Vec<(u128, u128)>,
}

/// Usable as a source or destination on the wire (not 0/8, 127/8, multicast or class E).
fn usable(a: Ipv4Addr) -> bool {
    let o = a.octets()[0];
    o != 0 && o != 127 && o < 224
}

fn neutral(cases: &[Case], af: Af) -> Neutral {
    let mentioned: Vec<(u128, u128)> = cases
        .iter()
        .flat_map(|c| c.all.saddr.iter().chain(&c.all.daddr))
        .flat_map(|c| c.ranges.iter().copied())
        .collect();
    let outside = |a: u128| !mentioned.iter().any(|&(x, y)| x <= a && a <= y);
    // IPv4: 198.18.0.0/15 (benchmarking), then 100.64.0.0/10, then 10.77.200.0/24. IPv6:
    // 2001:db8:198:18::/64 (documentation), then 2001:2::/48 (benchmarking), then
    // fd77:0:0:c8::/64. The first few addresses no rule mentions.
    let pools: [(u128, u128); 3] = match af {
        Af::V4 => [
            (0xc612_0001, 0x200),
            (0x6440_0001, 0x200),
            (0x0a4d_c801, 0xfe),
        ],
        Af::V6 => [
            (0x2001_0db8_0198_0018 << 64 | 1, 0x200),
            (0x2001_0002_0000_0000 << 64 | 1, 0x200),
            (0xfd77_0000_0000_00c8 << 64 | 1, 0xfe),
        ],
    };
    let mut sources: Vec<IpAddr> = pools
        .iter()
        .flat_map(|&(start, n)| (0..n).map(move |i| start + i))
        .filter(|a| outside(*a) && a & 0xff != 0 && a & 0xff != 0xff)
        .take(64)
        .map(|a| af.addr(a))
        .collect();
    if sources.is_empty() {
        sources.push(match af {
            Af::V4 => Ipv4Addr::new(10, 77, 0, 2).into(),
            Af::V6 => Ipv6Addr::new(0xfd77, 0, 0, 0, 0, 0, 0, 2).into(),
        });
    }
    let busy_ports: Vec<(u128, u128)> = cases
        .iter()
        .flat_map(|c| c.all.sport.iter().chain(&c.all.dport))
        .flat_map(|c| c.ranges.iter().copied())
        .collect();
    let free = |p: u128| !busy_ports.iter().any(|&(x, y)| x <= p && p <= y);
    let dport = [33434u128, 9, 7, 4, 1]
        .into_iter()
        .chain(30000..31000)
        .find(|p| free(*p))
        .unwrap_or(33434) as u16;
    Neutral {
        sources,
        dport,
        busy_ports,
    }
}

/// The first of `candidates`, then of every edge of `conds`, that satisfies all `conds`.
fn choose(
    conds: &[Cond],
    preferred: &[u128],
    fallback: u128,
    max: u128,
    ok: impl Fn(u128) -> bool,
) -> u128 {
    let mut cands: Vec<u128> = preferred.to_vec();
    for c in conds.iter().filter(|c| !c.neg) {
        cands.extend(c.edges(max));
    }
    cands.push(fallback);
    for c in conds.iter().filter(|c| c.neg) {
        cands.extend(c.edges(max));
    }
    cands
        .iter()
        .copied()
        .find(|v| ok(*v) && conds.iter().all(|c| c.holds(*v)))
        .or_else(|| {
            conds
                .iter()
                .find(|c| !c.neg)
                .and_then(|c| c.ranges.first())
                .map(|r| r.0)
        })
        .unwrap_or(fallback)
}

/// A concrete interface name for a pattern (`eth+` -> `eth0`).
fn concrete(name: &str, wildcard: bool) -> String {
    if !wildcard {
        return name.to_string();
    }
    let base = if name.is_empty() { "any" } else { name };
    let mut s: String = base.chars().take(14).collect();
    s.push('0');
    s
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    New,
    Established,
    Related,
    Invalid,
}

impl State {
    fn bit(self) -> u64 {
        match self {
            State::New => ct_state::NEW,
            State::Established => ct_state::ESTABLISHED,
            State::Related => ct_state::RELATED,
            State::Invalid => ct_state::INVALID,
        }
    }
}

const STATES: [State; 4] = [
    State::New,
    State::Established,
    State::Related,
    State::Invalid,
];

/// One point in the space of probes before it becomes a [`Spec`].
#[derive(Clone, Debug)]
struct Point {
    proto: u128,
    src: IpAddr,
    dst: IpAddr,
    sport: u16,
    dport: u16,
    flags: u8,
    icmp: (u8, u8),
    iif: Option<String>,
    state: Option<State>,
    count: u32,
    /// Milliseconds to wait before sending (expiry probes).
    wait_ms: u32,
    path: Path,
    oif: Option<String>,
    /// An ESTABLISHED tcp packet to the server belongs to a connection written into conntrack,
    /// not to a handshake a client makes: the server opened the connection (the rule tests the
    /// peer's port, `-A INPUT -p tcp --sport 25 -m state --state ESTABLISHED`, the answers of a
    /// mail server it sends to, whose packets the rules that let a client's SYN in would take
    /// first), or no rule lets a client's SYN in on the port.
    written: bool,
    /// Whose socket the server sends it from (`-m owner`); `None` is root's.
    owner: Option<Owner>,
    /// The IPv6 routing header it carries (`-m rt`).
    routing: Option<Routing>,
    /// Sent as two fragments: a non-first fragment follows the first.
    fragmented: bool,
}

impl Point {
    fn spec(&self) -> Option<Spec> {
        let (src, dst, sport, dport) = (self.src, self.dst, self.sport, self.dport);
        let from_lo = self.iif.as_deref() == Some("lo");
        Some(match (self.proto, self.state) {
            (_, Some(State::Related)) if !from_lo => Spec::Related {
                src,
                sport,
                dst,
                dport,
            },
            // To the server from a client, one packet: a real exchange.
            (TCP, Some(State::Established))
                if self.path == Path::Input
                    && !from_lo
                    && self.count == 1
                    && src != dst
                    && !self.written =>
            {
                Spec::Connect {
                    src,
                    sport,
                    dst,
                    dport,
                }
            }
            (UDP, Some(State::Established))
                if self.path == Path::Input && !from_lo && self.count == 1 =>
            {
                Spec::Udp {
                    src,
                    sport,
                    dst,
                    dport,
                    reply: true,
                }
            }
            // Routed, sent by the server, from itself, or a burst (each packet its own
            // connection): the connections are written into conntrack.
            (TCP | UDP, Some(State::Established)) => Spec::Established {
                proto: self.proto as u8,
                src,
                sport,
                dst,
                dport,
            },
            (TCP, Some(State::Invalid)) => Spec::Tcp {
                src,
                sport,
                dst,
                dport,
                flags: FIN,
            },
            (TCP, _) => Spec::Tcp {
                src,
                sport,
                dst,
                dport,
                flags: self.flags,
            },
            (UDP, _) => Spec::Udp {
                src,
                sport,
                dst,
                dport,
                reply: false,
            },
            (ICMP | ICMPV6, _) => Spec::Icmp {
                src,
                dst,
                kind: self.icmp.0,
                code: self.icmp.1,
            },
            // Nothing answers such a packet: every one is NEW.
            (p, None | Some(State::New)) if p <= 255 && other_protocol(p as u8, src.is_ipv6()) => {
                Spec::Ip {
                    src,
                    dst,
                    proto: p as u8,
                }
            }
            _ => return None,
        })
    }
}

/// Probes for a rule that looks the source up in `set` (xt_recent `--rcheck`/`--update`): the
/// witness of a rule that adds the source to the set (`--set`), sent from the rule's witness
/// source, then the rule's witness with the source listed, then, when the set has a timeout
/// (`--seconds`), the witness again once the entry expired (played with `--slow`).
#[allow(clippy::too_many_arguments)]
fn list_probes(
    t: &fwnet_nft::Table,
    cases: &[Case],
    set: &str,
    w: &Point,
    n: &Neutral,
    af: Af,
    push: &mut impl FnMut(usize, &Point, &Option<String>, &str) -> bool,
    origin: &Option<String>,
) {
    let src = bits(w.src);
    let Some(feeder) = cases.iter().find(|f| {
        f.path == Path::Input
            && f.own.feeds.iter().any(|s| s == set)
            && f.all.saddr.iter().all(|c| c.holds(src))
    }) else {
        return;
    };
    let fill = Point {
        src: w.src,
        count: 1,
        wait_ms: 0,
        ..witness(&feeder.all, n, af)
    };
    if !push(0, &fill, &feeder.origin, LIST_FILL_WHY) {
        return;
    }
    let listed = Point {
        count: 1,
        wait_ms: 0,
        ..w.clone()
    };
    push(0, &listed, origin, LIST_CHECK_WHY);
    let timeout = t
        .sets
        .iter()
        .find(|s| s.name == set)
        .and_then(|s| s.timeout_ms);
    if let Some(ms) = timeout {
        let again = Point {
            wait_ms: u32::try_from(ms + EXPIRY_MARGIN_MS).unwrap_or(u32::MAX),
            ..listed
        };
        push(0, &again, origin, EXPIRY_WHY);
    }
}

/// How many rules before a rule `meet` pairs it with.
const MEET_WINDOW: usize = 16;
/// The `why` of `meet` probes.
pub const MEET_WHY: &str = "matches an earlier rule too";

/// A packet that matches both `earlier` and `later` (INPUT rules met in that order), if the
/// two can match one packet, neither keeps state or names an interface, and the packet is one
/// the harness plays as a plain client: the packet for which their order decides.
/// The optimizer moves a rule up past earlier ones only where no such packet exists, so where
/// one does these probes see a wrong move.
///
/// `swapped`: the pair is one the optimizer put in the other order (`moved_past`). Then the
/// packet may arrive on, or leave by, an interface the rules name (other than `lo`), and the
/// pair may be in FORWARD or OUTPUT, whose packets are routed through or sent by the server
/// ([`reroute`]). Window pairs stay INPUT packets on the main link, where most rules of a
/// chain meet.
fn meet(earlier: &Case, later: &Case, n: &Neutral, af: Af, swapped: bool) -> Option<Point> {
    // Plain packets only: no state (limits, lists, conntrack states, which need handshakes
    // and bursts of their own), and interfaces only when allowed.
    let path = later.path;
    let lo = |c: &Conds| c.iif.iter().any(|i| i.names.iter().any(|(n, _)| n == "lo"));
    let stateful = |c: &Conds| {
        c.limit.is_some()
            || !c.feeds.is_empty()
            || !c.lookups.is_empty()
            || !c.ct.is_empty()
            || (!swapped && (!c.iif.is_empty() || !c.oif.is_empty()))
            || lo(c)
    };
    if earlier.path != path
        || (!swapped && path != Path::Input)
        || earlier.origin == later.origin
        || stateful(&earlier.all)
        || stateful(&later.all)
        || clash(&earlier.all, &later.all)
    {
        return None;
    }
    let mut both = earlier.all.clone();
    both.extend(&later.all);
    let mut w = witness(&both, n, af);
    if path != Path::Input {
        reroute(&mut w, &both, af, path).ok()?;
    }
    // Only packets the harness can play: a usable source (not multicast, broadcast, loopback,
    // class E or IPv6 link-local), and the server's own address for INPUT only.
    let link_local = matches!(w.src, IpAddr::V6(a) if a.is_unicast_link_local());
    let to_server = w.dst == af.server();
    let plain = af.usable(bits(w.src)) && !link_local && to_server == (path == Path::Input);
    (plain && satisfies(&w, &both, af)).then_some(Point { count: 1, ..w })
}

/// The pairs of rules that `t` (an optimized translation) holds in the other order than
/// `order` (the same files one rule per line, in their order) does: `(earlier, later)` in the
/// files' order, where some chain of `t` puts `later` (or the rule it was merged into) before
/// `earlier`. These are the rules the optimizer moved up past others, however far; each pair
/// must be one no packet matches both of.
///
/// Positions are compared within one chain of `t`: a protocol dispatch copies a rule into
/// several chains, each in the files' order, and a packet walks only one of them.
fn moved_past(order: &fwnet_nft::Table, t: &fwnet_nft::Table) -> Vec<(String, String)> {
    use std::collections::HashMap;
    let mut place: HashMap<&fwnet_nft::Origin, (usize, usize)> = HashMap::new();
    for (ci, c) in order.chains.iter().enumerate() {
        for (ri, r) in c.rules.iter().enumerate() {
            if let Some(o) = &r.origin {
                place.entry(o).or_insert((ci, ri));
            }
        }
    }
    let mut pairs = BTreeSet::new();
    // (chain in `order`, position there, position in this chain, origin)
    let mut seq: Vec<(usize, usize, usize, &fwnet_nft::Origin)> = Vec::new();
    for c in &t.chains {
        seq.clear();
        for (pos, r) in c.rules.iter().enumerate() {
            for o in r.origin.iter().chain(&r.merged) {
                if let Some(&(ci, ri)) = place.get(o) {
                    seq.push((ci, ri, pos, o));
                }
            }
        }
        seq.sort_unstable_by_key(|&(ci, ri, pos, _)| (ci, ri, pos));
        // Highest position in this chain of the rules so far (in the files' order) of the
        // same original chain: the walk back stops where none of them is placed later.
        let mut highest = Vec::with_capacity(seq.len());
        for (k, &(ci, _, pos, _)) in seq.iter().enumerate() {
            let before = (k > 0 && seq[k - 1].0 == ci).then(|| highest[k - 1]);
            highest.push(before.map_or(pos, |h: usize| h.max(pos)));
        }
        for k in 1..seq.len() {
            let (ci, ri, pos, later) = seq[k];
            let mut i = k;
            while i > 0 && seq[i - 1].0 == ci && highest[i - 1] > pos {
                i -= 1;
                let (_, rj, pj, earlier) = seq[i];
                if rj < ri && pj > pos {
                    pairs.insert((earlier.to_string(), later.to_string()));
                }
            }
        }
    }
    pairs.into_iter().collect()
}

/// Whether `a` and `b` hold `==` tests on one field whose values share no point: then no
/// packet meets both, which most pairs of a blocklist show at once, before a witness is made.
fn clash(a: &Conds, b: &Conds) -> bool {
    let apart = |x: &[Cond], y: &[Cond]| {
        x.iter().filter(|c| !c.neg).any(|c| {
            y.iter().filter(|d| !d.neg).any(|d| {
                c.ranges
                    .iter()
                    .all(|&(a0, a1)| d.ranges.iter().all(|&(b0, b1)| a1 < b0 || b1 < a0))
            })
        })
    };
    apart(&a.proto, &b.proto)
        || apart(&a.saddr, &b.saddr)
        || apart(&a.daddr, &b.daddr)
        || apart(&a.sport, &b.sport)
        || apart(&a.dport, &b.dport)
}

/// Whether the packet `p` meets every condition of `c`, whose conditions are those `meet`
/// keeps (no conntrack state, limit or list).
fn satisfies(p: &Point, c: &Conds, af: Af) -> bool {
    let all = |conds: &[Cond], v: u128| conds.iter().all(|k| k.holds(v));
    let ports = p.proto == TCP || p.proto == UDP;
    let icmp = p.proto == af.icmp();
    let iif = p.iif.as_deref().unwrap_or(MAIN_PLACEHOLDER);
    let oif = p.oif.as_deref().unwrap_or(MAIN_PLACEHOLDER);
    c.iif.iter().all(|k| k.holds(iif))
        && c.oif.iter().all(|k| k.holds(oif))
        && all(&c.proto, p.proto)
        && all(&c.saddr, bits(p.src))
        && all(&c.daddr, bits(p.dst))
        && (ports || (c.sport.is_empty() && c.dport.is_empty()))
        && (c.sport.is_empty() || (p.sport > 0 && all(&c.sport, u128::from(p.sport))))
        && all(&c.dport, u128::from(p.dport))
        && (icmp || (c.icmp_type.is_empty() && c.icmp_code.is_empty()))
        && all(&c.icmp_type, u128::from(p.icmp.0))
        && all(&c.icmp_code, u128::from(p.icmp.1))
        && (p.proto == TCP || c.flags.is_empty())
        && c.flags
            .iter()
            .all(|k| (p.flags & k.mask == k.value) != k.neg)
        && owned_as(p, c)
        && c.kind_holds(p.dst, af)
        && routed_as(p.routing, c)
        && fragmented_as(p.fragmented, c)
}

/// Whether a packet sent whole, or as two fragments, meets `c`'s fragment tests: a whole one
/// has no fragment header and offset 0; of two fragments, the first (offset 0) or the second
/// (offset not 0) may be the one that does.
fn fragmented_as(fragmented: bool, c: &Conds) -> bool {
    let at = |offset: u128| c.frag.iter().all(|k| k.holds(offset));
    match fragmented {
        false => !c.frag_header && at(0),
        true => at(0) || at(1),
    }
}

/// Whether a packet with routing header `r` (or none) meets `c`'s tests of one: each test of
/// a field wants the header there.
fn routed_as(r: Option<Routing>, c: &Conds) -> bool {
    match r {
        None => !c.tests_routing(),
        Some(r) => {
            c.rt_type.iter().all(|k| k.holds(u128::from(r.kind)))
                && c.rt_segleft
                    .iter()
                    .all(|k| k.holds(u128::from(r.segments_left)))
                && c.rt_hdrlen.iter().all(|k| k.holds(u128::from(r.hdrlen)))
        }
    }
}

/// The `meta pkttype` of a packet to `dst` from a host on the link, which sends a packet to
/// the limited broadcast address or to a multicast group in a frame to the matching
/// link-layer address (as [`crate::verify::packet::LinkSender`] does).
fn pkttype_of(dst: IpAddr) -> u128 {
    match dst {
        IpAddr::V4(a) if a.is_broadcast() => PACKET_BROADCAST,
        a if a.is_multicast() => PACKET_MULTICAST,
        _ => PACKET_HOST,
    }
}

/// The route type of `dst` on the server, for the destinations probes to it use: its own
/// address, the limited broadcast address, a multicast group.
fn route_type_of(dst: IpAddr, af: Af) -> u128 {
    match dst {
        IpAddr::V4(a) if a.is_broadcast() => RTN_BROADCAST,
        a if a.is_multicast() => RTN_MULTICAST,
        a if a == af.server() => RTN_LOCAL,
        _ => RTN_UNICAST,
    }
}

/// Where a packet meeting `c`'s tests of the kind of its destination goes, when `c` names
/// no destination address: the server's address, the limited broadcast address (IPv4) or a
/// multicast group the server joins, whichever is the first to meet them.
fn dst_of_kind(c: &Conds, af: Af) -> IpAddr {
    let group = match af {
        Af::V4 => IpAddr::V4(GROUP_V4),
        Af::V6 => IpAddr::V6(GROUP_V6),
    };
    let broadcast = (af == Af::V4).then_some(IpAddr::V4(Ipv4Addr::BROADCAST));
    [Some(af.server()), broadcast, Some(group)]
        .into_iter()
        .flatten()
        .find(|&d| c.kind_holds(d, af))
        .unwrap_or(af.server())
}

/// Whether `p` meets `c`'s owner tests: only a packet the server sends has a socket, hence an
/// owner (root's unless the probe says otherwise), and a test of it fails on any other packet.
fn owned_as(p: &Point, c: &Conds) -> bool {
    if c.skuid.is_empty() && c.skgid.is_empty() {
        return true;
    }
    let o = p.owner.unwrap_or(Owner { uid: 0, gid: 0 });
    sent_by_server(p.path, p.iif.as_deref())
        && c.skuid.iter().all(|k| k.holds(u128::from(o.uid)))
        && c.skgid.iter().all(|k| k.holds(u128::from(o.gid)))
}

fn witness(c: &Conds, n: &Neutral, af: Af) -> Point {
    let protos = [TCP, UDP, af.icmp()];
    let proto = choose(&c.proto, &protos, TCP, 255, |p| protos.contains(&p));
    let mut iface_cands: Vec<Option<String>> = c
        .iif
        .iter()
        .filter(|i| !i.neg)
        .flat_map(|i| i.names.iter().map(|(n, w)| Some(concrete(n, *w))))
        .collect();
    iface_cands.push(None);
    let iif = iface_cands
        .iter()
        .find(|cand| {
            c.iif
                .iter()
                .all(|i| i.holds(cand.as_deref().unwrap_or(MAIN_PLACEHOLDER)))
        })
        .cloned()
        .unwrap_or(None);
    let neutral_src = bits(n.sources[0]);
    let usable_u = |v: u128| af.usable(v);
    let dst = if c.daddr.is_empty() {
        dst_of_kind(c, af)
    } else {
        af.addr(choose(&c.daddr, &[], bits(af.server()), af.max(), usable_u))
    };
    let src = if iif.as_deref() == Some("lo") && c.saddr.is_empty() {
        dst
    } else {
        af.addr(choose(&c.saddr, &[], neutral_src, af.max(), usable_u))
    };
    // A loopback source arrives on `lo` only (from anywhere else the kernel drops it as a
    // martian before INPUT): a rule for it, `-s 127.0.0.1 --dport 3306`, is about the server
    // talking to itself.
    let iif = match iif {
        None if src.is_loopback() && c.iif.iter().all(|i| i.holds("lo")) => Some("lo".to_string()),
        iif => iif,
    };
    let state = if c.ct.is_empty() {
        None
    } else {
        STATES
            .iter()
            .copied()
            .find(|s| c.ct.iter().all(|k| (k.bits & s.bit() != 0) != k.neg))
    };
    let want_flags = match state {
        Some(State::Invalid) => FIN,
        _ => SYN,
    };
    let flags = [want_flags, SYN, ACK, FIN, RST, 0, ALL, SYN | ACK]
        .into_iter()
        .chain(c.flags.iter().map(|f| f.value))
        .chain(0..=255)
        .find(|f| c.flags.iter().all(|k| (f & k.mask == k.value) != k.neg))
        .unwrap_or(SYN);
    let sport = if c.sport.is_empty() {
        0
    } else {
        choose(&c.sport, &[], 0, 65535, |p| p > 0) as u16
    };
    let dport = choose(&c.dport, &[], u128::from(n.dport), 65535, |p| p > 0) as u16;
    let echo = u128::from(af.echo());
    let icmp = (
        choose(&c.icmp_type, &[echo], echo, 255, |_| true) as u8,
        choose(&c.icmp_code, &[0], 0, 255, |_| true) as u8,
    );
    let count = c
        .limit
        .as_ref()
        .map_or(1, |l| (l.burst + BURST_EXTRA).min(BURST_MAX));
    // u32::MAX is no id (the kernel's "invalid"); root is the id a socket has by default.
    let id = |conds: &[Cond]| choose(conds, &[], 0, u128::from(u32::MAX - 1), |_| true) as u32;
    let owner = (!c.skuid.is_empty() || !c.skgid.is_empty()).then(|| Owner {
        uid: id(&c.skuid),
        gid: id(&c.skgid),
    });
    let byte = |conds: &[Cond]| choose(conds, &[0], 0, 255, |_| true) as u8;
    let routing = (af == Af::V6 && c.tests_routing()).then(|| Routing {
        kind: byte(&c.rt_type),
        segments_left: byte(&c.rt_segleft),
        hdrlen: byte(&c.rt_hdrlen),
    });
    Point {
        proto,
        src,
        dst,
        sport,
        dport,
        flags,
        icmp,
        iif,
        state,
        count,
        wait_ms: 0,
        path: Path::Input,
        oif: None,
        written: state == Some(State::Established) && c.sport.iter().any(|p| !p.neg),
        owner,
        routing,
        // A test only a fragment passes (`-f`, `frag frag-off != 0`, `-m frag`).
        fragmented: c.frag_header || c.frag.iter().any(|f| !f.holds(0)),
    }
}

/// Turns the witness of a FORWARD or OUTPUT rule into a packet routed through the server or
/// sent by it: leaving by an interface its `-o` conditions accept, to a destination that is not
/// the server's. An ESTABLISHED tcp or udp packet becomes one of a connection the runner writes
/// into conntrack ([`Spec::Established`]); an ESTABLISHED icmp packet, which would need a real
/// exchange, becomes RELATED when the rule allows that, else the reason is returned.
fn reroute(w: &mut Point, c: &Conds, af: Af, path: Path) -> Result<(), String> {
    let what = if path == Path::Forward {
        "a forwarded"
    } else {
        "an OUTPUT"
    };
    if w.state == Some(State::Established) && w.proto != TCP && w.proto != UDP {
        // An icmp packet is RELATED (an error quoting a connection) where the rule allows it.
        let related =
            c.ct.iter()
                .all(|k| (k.bits & State::Related.bit() != 0) != k.neg);
        if !related {
            return Err(format!("{what} ESTABLISHED packet of a protocol other than tcp and udp needs a real connection through or from the server, which verification does not make"));
        }
        w.state = Some(State::Related);
    }
    if path == Path::Output {
        // `iifname != "docker0"` holds for a packet that arrived on no interface.
        if !c.iif.iter().all(|i| i.holds("")) {
            return Err("an OUTPUT packet arrives on no interface".into());
        }
        w.iif = None;
        if c.saddr.is_empty() {
            w.src = af.server();
        }
    } else if w.iif.as_deref() == Some("lo") {
        return Err("a forwarded packet cannot arrive on `lo`".into());
    }
    let mut cands: Vec<Option<String>> = c
        .oif
        .iter()
        .filter(|i| !i.neg)
        .flat_map(|i| i.names.iter().map(|(n, w)| Some(concrete(n, *w))))
        .collect();
    cands.push(None);
    let on_lo =
        c.oif.iter().all(|i| !i.neg) && c.oif.iter().any(|i| i.holds("lo") && i.names.len() == 1);
    // To one of its own addresses (Docker's `-t nat -A OUTPUT ! -d 127.0.0.0/8 -m addrtype
    // --dst-type LOCAL -j DOCKER`), which the witness's destination, the server's, is; or, sent
    // by the server, to a loopback address (`-A OUTPUT -s 127.0.0.1 -d 127.0.0.1 -j ACCEPT`,
    // Docker's embedded DNS server `-t nat -A OUTPUT -d 127.0.0.11 -j DOCKER_OUTPUT`, a local
    // resolver's `-d 127.0.0.1 --dport 53 -j REDIRECT`), which only `lo` leads to.
    let to_itself = c.oif.iter().all(|i| i.holds("lo"))
        && ((c.local_daddr && w.dst == af.server())
            || (path == Path::Output && w.dst.is_loopback()));
    if on_lo || to_itself {
        // The server talking to itself: the packet leaves by `lo` through OUTPUT and comes
        // back in through INPUT, as every `iif lo` probe does; its verdict is whether INPUT
        // saw it, so OUTPUT and INPUT decide it together.
        if c.saddr.is_empty() {
            w.src = w.dst;
        }
        w.iif = Some("lo".into());
        w.oif = None;
        w.path = Path::Input;
        return Ok(());
    }
    let Some(oif) = cands.into_iter().find(|cand| {
        cand.as_deref() != Some("lo")
            && c.oif
                .iter()
                .all(|i| i.holds(cand.as_deref().unwrap_or(MAIN_PLACEHOLDER)))
    }) else {
        return Err("no interface satisfies its `-o` conditions".into());
    };
    if w.dst == af.server() {
        let far = bits(af.far());
        if !c.daddr.iter().all(|d| d.holds(far)) {
            return Err(format!(
                "its destination must be {}, the address verification gives the server",
                w.dst
            ));
        }
        w.dst = af.far();
    }
    w.path = path;
    w.oif = oif;
    Ok(())
}

/// Stands for the main link while conditions are checked; replaced by its real name later.
const MAIN_PLACEHOLDER: &str = "\u{1}main";

/// The probes for a ruleset, and what is needed to run them.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Derived {
    pub probes: Vec<Probe>,
    /// Rules left without a probe, with the reason (`file:line (why)`).
    pub uncovered: Vec<String>,
    /// Rules left without a probe because the cap was reached first (`file:line`, each once).
    pub capped: Vec<String>,
}

/// Derives at most `cap` probes per address family from `rs` (see the module doc), ports
/// filled in: IPv4 probes first, then IPv6 ones.
pub fn derive(rs: &Ruleset, cap: usize) -> Derived {
    derive_ordered(rs, None, cap)
}

/// [`derive()`], with the pairs of rules whose order decides a packet taken from `order` (the
/// same files translated one rule per line, in their order) instead of from `rs`: where the
/// optimizer moved a rule up past another that one packet can match too, that packet is among
/// the probes.
pub fn derive_ordered(rs: &Ruleset, order: Option<&Ruleset>, cap: usize) -> Derived {
    let mut derived = Derived::default();
    let mut busy = Vec::new();
    for af in [Af::V4, Af::V6] {
        // Files without a filter table (a nat or mangle table alone) let every packet through
        // it: their rules are walked as if behind an empty one.
        let open;
        let t = match filter_table_of(rs, af.family()) {
            Some(t) => t,
            None if rs.tables.iter().any(|t| t.family == af.family()) => {
                open = open_filter_table(af.family());
                &open
            }
            None => continue,
        };
        let order = order.and_then(|o| filter_table_of(o, af.family()));
        let nat = nat_table_of(rs, af.family());
        let mangle = table_of(rs, af.family(), "fwnet_mangle");
        let raw = table_of(rs, af.family(), "fwnet_raw");
        let (probes, uncovered, capped, ports) = derive_af(t, [nat, mangle, raw], order, af, cap);
        derived.probes.extend(probes);
        derived.uncovered.extend(uncovered);
        derived.capped.extend(capped);
        busy.extend(ports);
    }
    let mut alloc = PortAlloc { next: 20000, busy };
    fill_ports(&mut derived.probes, &mut alloc);
    derived
}

/// A filter table of `family` with its three base chains empty and accepting: what a file
/// without one has.
fn open_filter_table(family: Family) -> fwnet_nft::Table {
    use fwnet_nft::{BaseChain, Chain, ChainKind, Hook, Policy};
    let chain = |name: &str, hook| Chain {
        name: name.into(),
        base: Some(BaseChain {
            kind: ChainKind::Filter,
            hook,
            priority: 0,
            policy: Policy::Accept,
            counters: None,
        }),
        rules: Vec::new(),
        family: None,
    };
    fwnet_nft::Table {
        family,
        name: "fwnet_filter".into(),
        sets: Vec::new(),
        chains: vec![
            chain("INPUT", Hook::Input),
            chain("FORWARD", Hook::Forward),
            chain("OUTPUT", Hook::Output),
        ],
        ct_helpers: Vec::new(),
    }
}

/// Whether a client from `w`'s source and interface can connect to `port` on the server, by the
/// IR's interpreter: its SYN gets past the mangle table's PREROUTING and INPUT chains and the
/// filter table's INPUT, and the server's SYN-ACK, sent back over the same link, past OUTPUT
/// (mangle and filter) and mangle POSTROUTING. A verdict the interpreter cannot know counts as
/// not.
fn handshake_passes(
    t: &fwnet_nft::Table,
    mangle: Option<&fwnet_nft::Table>,
    w: &Point,
    port: u16,
) -> bool {
    use fwnet_nft::eval::{self, Device};
    let link = Device::Name(w.iif.clone().unwrap_or_else(|| MAIN_PLACEHOLDER.into()));
    let mut syn = eval::Packet::tcp(w.src, w.sport, w.dst, port, SYN, ct_state::NEW);
    syn.iifname = link.clone();
    let mut answer = eval::Packet::tcp(
        w.dst,
        port,
        w.src,
        w.sport,
        SYN | ACK,
        ct_state::ESTABLISHED,
    );
    answer.oifname = link;
    for p in [&mut syn, &mut answer] {
        p.mark = Some(0);
        p.ct_mark = Some(0);
    }
    let passes = |table: &fwnet_nft::Table, chain: &str, p: &eval::Packet| {
        !table.chains.iter().any(|c| c.name == chain)
            || eval::chain(table, chain, p).verdict == eval::Verdict::Accept
    };
    let mangled = |chains: &[&str], p: &eval::Packet| {
        mangle.is_none_or(|m| chains.iter().all(|c| passes(m, c, p)))
    };
    mangled(&["PREROUTING", "INPUT"], &syn)
        && passes(t, "INPUT", &syn)
        && mangled(&["OUTPUT", "POSTROUTING"], &answer)
        && passes(t, "OUTPUT", &answer)
}

/// Probes (ports not filled in), uncovered rules, rules the cap left without a probe and the
/// ports rules mention, for one table.
#[allow(clippy::type_complexity)]
fn derive_af(
    t: &fwnet_nft::Table,
    [nat, mangle, raw]: [Option<&fwnet_nft::Table>; 3],
    order: Option<&fwnet_nft::Table>,
    af: Af,
    cap: usize,
) -> (Vec<Probe>, Vec<String>, Vec<String>, Vec<(u128, u128)>) {
    let mut cases = Vec::new();
    for path in [Path::Input, Path::Forward, Path::Output] {
        walk(t, path.chain(), &Conds::default(), 0, path, &mut cases);
    }
    // The nat chains' rules (their mappings are compared), the mangle chains' (the marks and
    // header fields they set are) and the raw chains' (the conntrack entries they shape are),
    // each on the path whose packets meet it first: a connection to the server (or, after
    // `dnat`, through it) meets PREROUTING and INPUT, one routed through it FORWARD and
    // POSTROUTING, one the server opens OUTPUT. Each base chain of a hook is walked, in the
    // table's order (the raw table's helper chains, `PREROUTING_HELPER`, after PREROUTING); a
    // hook a table has no chain on (nat has no FORWARD, raw only PREROUTING and OUTPUT) adds
    // nothing.
    for table in [nat, mangle, raw].into_iter().flatten() {
        for (hook, path) in [
            (Hook::Prerouting, Path::Input),
            (Hook::Input, Path::Input),
            (Hook::Forward, Path::Forward),
            (Hook::Output, Path::Output),
            (Hook::Postrouting, Path::Forward),
        ] {
            let on_hook = |c: &&fwnet_nft::Chain| c.base.as_ref().is_some_and(|b| b.hook == hook);
            for chain in table.chains.iter().filter(on_hook) {
                let from = cases.len();
                walk(table, &chain.name, &Conds::default(), 0, path, &mut cases);
                for c in &mut cases[from..] {
                    c.postrouting = hook == Hook::Postrouting;
                    c.prerouting = hook == Hook::Prerouting;
                }
            }
        }
    }
    let n = neutral(&cases, af);
    let mut tiers: [Vec<Probe>; 4] = Default::default();
    let mut uncovered = Vec::new();
    let mut src_pool = n.sources.iter().skip(1).cycle();
    let mut push = |tier: usize, p: &Point, origin: &Option<String>, why: &str| -> bool {
        // A routed or sent packet must stay a crafted one to somewhere the server routes to.
        let routable = |s: &Spec| s.routable() && s.dst() != af.server();
        match p.spec() {
            Some(spec) if p.path == Path::Input || routable(&spec) => {
                let fragmented = p.fragmented && can_fragment(&spec, p.path, p.iif.as_deref());
                tiers[tier].push(Probe {
                    spec,
                    iif: p.iif.clone(),
                    count: p.count,
                    origin: origin.clone(),
                    why: why.into(),
                    wait_ms: p.wait_ms,
                    path: p.path,
                    oif: p.oif.clone(),
                    owner: p.owner.filter(|_| sent_by_server(p.path, p.iif.as_deref())),
                    routing: p.routing,
                    fragmented,
                });
                true
            }
            _ => false,
        }
    };
    // Ports some INPUT rule lets a tcp SYN in on (it admits NEW): where a real connection can
    // get ESTABLISHED.
    let admits_new = |c: &Case| {
        c.all
            .ct
            .iter()
            .all(|k| (k.bits & ct_state::NEW != 0) != k.neg)
    };
    let open_ports: Vec<u16> = cases
        .iter()
        .filter(|c| c.path == Path::Input && admits_new(c))
        .filter(|c| c.all.proto.iter().any(|p| !p.neg && p.holds(TCP)))
        .flat_map(|c| c.all.dport.iter().filter(|d| !d.neg))
        .filter_map(|d| d.ranges.first().map(|r| r.0 as u16))
        .filter(|p| *p > 0)
        .collect::<BTreeSet<u16>>()
        .into_iter()
        .collect();
    // Pairs of rules whose order decides a packet: from the rules as the files wrote them
    // when given (the optimizer may have moved some), else from the ruleset's own.
    let order_cases = order.map(|o| {
        let mut v = Vec::new();
        for path in [Path::Input, Path::Forward, Path::Output] {
            walk(o, path.chain(), &Conds::default(), 0, path, &mut v);
        }
        v
    });
    let mut meets = 0;
    let pairs = order_cases.as_deref().unwrap_or(&cases);
    for (bi, later) in pairs.iter().enumerate() {
        if later.path != Path::Input {
            continue;
        }
        for earlier in pairs[bi.saturating_sub(MEET_WINDOW)..bi].iter().rev() {
            if meets >= cap {
                break;
            }
            if let Some(p) = meet(earlier, later, &n, af, false) {
                meets += 1;
                push(1, &p, &later.origin, MEET_WHY);
            }
        }
    }
    // Every pair the optimizer swapped, however far apart, on the interfaces the rules name,
    // in FORWARD and OUTPUT too: a correct optimizer swaps only pairs no packet meets, so
    // these cost probes only where it is wrong.
    let moved = order.map(|o| moved_past(o, t)).unwrap_or_default();
    if !moved.is_empty() {
        let first: std::collections::HashMap<&str, &Case> = pairs
            .iter()
            .rev()
            .filter_map(|c| Some((c.origin.as_deref()?, c)))
            .collect();
        for (earlier, later) in moved {
            let (Some(e), Some(l)) = (first.get(earlier.as_str()), first.get(later.as_str()))
            else {
                continue;
            };
            if meets >= cap {
                break;
            }
            if let Some(p) = meet(e, l, &n, af, true) {
                meets += 1;
                push(1, &p, &l.origin, MEET_WHY);
            }
        }
    }
    let mut fresh = n.sources.iter().skip(4).cycle();
    for case in &cases {
        let mut w = witness(&case.all, &n, af);
        // A POSTROUTING rule for a multicast group (libvirt's `-t nat -A POSTROUTING -s
        // 192.168.122.0/24 -d 224.0.0.0/24 -j RETURN`) is about the server's own packets: a
        // routed one would need a multicast router.
        let path = match w.dst {
            IpAddr::V4(a) if case.postrouting && a.is_multicast() => Path::Output,
            _ => case.path,
        };
        if path != Path::Input {
            if let Err(why) = reroute(&mut w, &case.all, af, path) {
                let chain = path.chain();
                uncovered.extend(case.origin.iter().map(|o| format!("{o} ({chain}: {why})")));
                continue;
            }
        }
        if matches!(w.spec(), Some(Spec::Connect { .. })) {
            let port = match case.all.dport.is_empty() {
                true => open_ports.first().copied().unwrap_or(w.dport),
                false => w.dport,
            };
            // A connection the rules would not let a client make (no rule opens the port, an
            // earlier one drops the SYN, only some sources may connect, or OUTPUT drops the
            // answer): it is written into conntrack instead.
            w.written = !handshake_passes(t, mangle, &w, port);
        }
        let connects = matches!(w.spec(), Some(Spec::Connect { .. }));
        if connects && case.all.saddr.is_empty() {
            // Its own source: no earlier probe used its per-source buckets.
            w.src = *fresh.next().unwrap_or(&n.sources[0]);
        }
        if connects && case.all.dport.is_empty() {
            if let Some(p) = open_ports.first() {
                w.dport = *p;
            }
            for p in open_ports.iter().skip(1).take(3) {
                let src = if case.all.saddr.is_empty() {
                    *fresh.next().unwrap_or(&n.sources[0])
                } else {
                    w.src
                };
                push(
                    2,
                    &Point {
                        dport: *p,
                        src,
                        ..w.clone()
                    },
                    &case.origin,
                    "connection to another open port",
                );
            }
        }
        let w = w;
        let ports = !case.all.sport.is_empty() || !case.all.dport.is_empty();
        if ports && !matches!(w.proto, TCP | UDP) {
            uncovered.extend(
                case.origin
                    .iter()
                    .map(|o| format!("{o} (ports of protocol {} not probed)", w.proto)),
            );
            continue;
        }
        if !push(0, &w, &case.origin, REACHES_WHY) {
            let p = u8::try_from(w.proto).unwrap_or(255);
            let why = match w.state {
                _ if other_protocol(p, false) && !other_protocol(p, af == Af::V6) => {
                    "is an IPv6 extension header, which `-p` never matches: not probed".to_string()
                }
                Some(s) if other_protocol(p, af == Af::V6) => format!(
                    "in state {} is not probed: nothing answers such a packet",
                    format!("{s:?}").to_uppercase()
                ),
                _ => "not probed".to_string(),
            };
            uncovered.extend(
                case.origin
                    .iter()
                    .map(|o| format!("{o} (protocol {} {why})", w.proto)),
            );
            continue;
        }
        // The same packet in two fragments, where the rule's own transport tests meet them
        // one by one (which the second never passes in iptables: xt_tcp, xt_udp, xt_icmp and
        // xt_multiport fail a non-first fragment): IPv4 in PREROUTING and FORWARD (local
        // delivery reassembles before INPUT), IPv6 on every path of a client's packet (its
        // reassembly comes after INPUT).
        let own = &case.own;
        let transport = !own.sport.is_empty()
            || !own.dport.is_empty()
            || !own.icmp_type.is_empty()
            || !own.icmp_code.is_empty()
            || !own.flags.is_empty();
        let in_pieces = match af {
            Af::V4 => w.path == Path::Forward || case.prerouting,
            Af::V6 => true,
        };
        if transport && in_pieces && !w.fragmented && case.all.limit.is_none() {
            push(
                2,
                &Point {
                    fragmented: true,
                    count: 1,
                    ..w.clone()
                },
                &case.origin,
                FRAGMENTS_WHY,
            );
        }
        if let Some(l) = &case.all.limit {
            if l.per_source && case.own.saddr.is_empty() {
                let second = Point {
                    src: *src_pool.next().unwrap_or(&n.sources[0]),
                    count: BURST_EXTRA,
                    ..w.clone()
                };
                push(0, &second, &case.origin, "second source, own bucket");
            }
            let expiry = l
                .set
                .as_ref()
                .and_then(|name| t.sets.iter().find(|s| s.name == *name))
                .and_then(|s| s.timeout_ms);
            if let Some(ms) = expiry.filter(|_| case.own.limit.is_some()) {
                // The same source once its entry expired: a full bucket again.
                let again = Point {
                    count: 1,
                    wait_ms: u32::try_from(ms + EXPIRY_MARGIN_MS).unwrap_or(u32::MAX),
                    ..w.clone()
                };
                push(0, &again, &case.origin, EXPIRY_WHY);
            }
        }
        for set in case.own.lookups.iter().filter(|_| case.path == Path::Input) {
            list_probes(t, &cases, set, &w, &n, af, &mut push, &case.origin);
        }
        let one = Point {
            count: 1,
            ..w.clone()
        };
        let own = &case.own;
        for e in own
            .saddr
            .iter()
            .flat_map(|c| c.edges(af.max()))
            .filter(|v| af.usable(*v))
        {
            push(
                2,
                &Point {
                    src: af.addr(e),
                    ..one.clone()
                },
                &case.origin,
                "source edge",
            );
        }
        for e in own
            .daddr
            .iter()
            .flat_map(|c| c.edges(af.max()))
            .filter(|v| af.usable(*v))
        {
            push(
                2,
                &Point {
                    dst: af.addr(e),
                    ..one.clone()
                },
                &case.origin,
                "destination edge",
            );
        }
        for e in own
            .sport
            .iter()
            .flat_map(|c| c.edges(65535))
            .filter(|p| *p > 0)
        {
            push(
                2,
                &Point {
                    sport: e as u16,
                    ..one.clone()
                },
                &case.origin,
                "source port edge",
            );
        }
        for e in own
            .dport
            .iter()
            .flat_map(|c| c.edges(65535))
            .filter(|p| *p > 0)
        {
            push(
                2,
                &Point {
                    dport: e as u16,
                    ..one.clone()
                },
                &case.origin,
                "destination port edge",
            );
        }
        for e in own.icmp_type.iter().flat_map(|c| c.edges(255)) {
            push(
                2,
                &Point {
                    icmp: (e as u8, one.icmp.1),
                    ..one.clone()
                },
                &case.origin,
                "icmp type edge",
            );
        }
        for e in own.icmp_code.iter().flat_map(|c| c.edges(255)) {
            push(
                2,
                &Point {
                    icmp: (one.icmp.0, e as u8),
                    ..one.clone()
                },
                &case.origin,
                "icmp code edge",
            );
        }
        // A rule on GRE, ESP, VRRP...: the protocols it names (a compiled run names several)
        // and their neighbours.
        let unusual = own.proto.iter().filter(|c| !c.neg).any(|c| {
            c.ranges
                .iter()
                .any(|&(a, b)| (a..=b.min(255)).any(|p| other_protocol(p as u8, af == Af::V6)))
        });
        let edges = own
            .proto
            .iter()
            .filter(|_| unusual)
            .flat_map(|c| c.edges(255))
            .map(|p| (p, "protocol edge"));
        let others = [TCP, UDP, af.icmp()]
            .into_iter()
            .filter(|_| !own.proto.is_empty() || case.all.proto.is_empty())
            .map(|p| (p, "other protocol"));
        for (p, why) in edges.chain(others).filter(|(p, _)| *p != one.proto) {
            push(
                2,
                &Point {
                    proto: p,
                    ..one.clone()
                },
                &case.origin,
                why,
            );
        }
        if !own.iif.is_empty() {
            let names: BTreeSet<Option<String>> = own
                .iif
                .iter()
                .flat_map(|i| i.names.iter().map(|(n, w)| Some(concrete(n, *w))))
                .chain([None])
                .collect();
            for i in names.into_iter().filter(|i| *i != one.iif) {
                // A packet arrives on `lo` only from the server itself: from its own address
                // (as a witness on `lo` is), and not at all where the rule names a source.
                let src = match i.as_deref() {
                    Some("lo") if !case.all.saddr.is_empty() => continue,
                    Some("lo") => one.dst,
                    // Off `lo` a packet comes from a client, not from the server's address.
                    _ if one.iif.as_deref() == Some("lo") && case.all.saddr.is_empty() => {
                        n.sources[0]
                    }
                    _ => one.src,
                };
                push(
                    2,
                    &Point {
                        iif: i,
                        src,
                        ..one.clone()
                    },
                    &case.origin,
                    "other interface",
                );
            }
        }
        if !own.ct.is_empty() {
            for s in STATES.into_iter().filter(|s| Some(*s) != one.state) {
                let proto = if one.proto == af.icmp() {
                    TCP
                } else {
                    one.proto
                };
                push(
                    2,
                    &Point {
                        state: Some(s),
                        proto,
                        ..one.clone()
                    },
                    &case.origin,
                    "other conntrack state",
                );
            }
            if one.proto == TCP {
                let ack = Point {
                    state: None,
                    flags: ACK,
                    ..one.clone()
                };
                push(
                    2,
                    &ack,
                    &case.origin,
                    "lone ACK (NEW or INVALID by tcp_loose)",
                );
            }
        }
        if one.proto == TCP && one.state != Some(State::Established) {
            let tier = if own.flags.is_empty() { 3 } else { 2 };
            for f in FLAG_COMBOS
                .into_iter()
                .chain(own.flags.iter().map(|f| f.value))
            {
                if f != one.flags {
                    push(
                        tier,
                        &Point {
                            flags: f,
                            state: None,
                            ..one.clone()
                        },
                        &case.origin,
                        "tcp flag combination",
                    );
                }
            }
        }
    }
    // The policy: sources, ports and protocols no rule mentions.
    let policy = Point {
        proto: TCP,
        src: n.sources[0],
        dst: af.server(),
        sport: 0,
        dport: n.dport,
        flags: SYN,
        icmp: (af.echo(), 0),
        iif: None,
        state: None,
        count: 1,
        wait_ms: 0,
        path: Path::Input,
        oif: None,
        written: false,
        owner: None,
        routing: None,
        fragmented: false,
    };
    for path in [Path::Forward, Path::Output] {
        if !t
            .chains
            .iter()
            .any(|c| c.name == path.chain() && c.base.is_some())
        {
            continue;
        }
        let routed = Point {
            src: if path == Path::Output {
                af.server()
            } else {
                n.sources[0]
            },
            dst: af.far(),
            path,
            ..policy.clone()
        };
        let why = if path == Path::Output {
            "sent by the server, falls to the policy"
        } else {
            "forwarded, falls to the policy"
        };
        for p in [
            routed.clone(),
            Point {
                proto: UDP,
                ..routed.clone()
            },
            Point {
                proto: af.icmp(),
                ..routed.clone()
            },
        ] {
            push(0, &p, &None, why);
        }
    }
    for p in [
        policy.clone(),
        Point {
            proto: UDP,
            ..policy.clone()
        },
        Point {
            proto: af.icmp(),
            ..policy.clone()
        },
        Point {
            proto: af.icmp(),
            // timestamp; over IPv6 node information query: types no rule is likely to name
            icmp: if af == Af::V4 { (13, 0) } else { (139, 0) },
            ..policy.clone()
        },
        Point {
            flags: FIN,
            ..policy.clone()
        },
        Point {
            state: Some(State::Established),
            ..policy.clone()
        },
    ] {
        push(0, &p, &None, "falls to the policy");
    }
    if af == Af::V6 {
        // Neighbour discovery (router solicitation and advertisement, neighbour solicitation
        // and advertisement, redirect), from a link-local and from a neutral source: conntrack
        // leaves them untracked, which rulesets often special-case.
        let link_local: IpAddr = Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0x77, 0, 2).into();
        for kind in 133..=137u8 {
            for src in [link_local, n.sources[0]] {
                let nd = Point {
                    proto: ICMPV6,
                    src,
                    icmp: (kind, 0),
                    ..policy.clone()
                };
                push(0, &nd, &None, "neighbour discovery");
            }
        }
    }
    let mut seen = BTreeSet::new();
    let mut probes = Vec::new();
    let mut covered = BTreeSet::new();
    let mut capped: Vec<String> = Vec::new();
    for (tier, list) in tiers.into_iter().enumerate() {
        for p in list {
            if probes.len() >= cap {
                if tier == 0 {
                    if let Some(o) = &p.origin {
                        // Once each (a rule copied into several chains has a witness in
                        // each); no probe joins `covered` after the cap, so it records these.
                        if covered.insert(o.clone()) {
                            capped.push(o.clone());
                        }
                    }
                }
                continue;
            }
            // A list probe only means something right after the one that filled the list.
            let sequenced = p.why == LIST_FILL_WHY || p.why == LIST_CHECK_WHY;
            let key = (
                p.spec.clone(),
                p.iif.clone(),
                p.count,
                p.wait_ms,
                p.path,
                p.oif.clone(),
                p.owner,
                p.routing,
                p.fragmented,
            );
            if sequenced || seen.insert(key) {
                covered.extend(p.origin.clone());
                probes.push(p);
            } else {
                covered.extend(p.origin.clone());
            }
        }
    }
    uncovered.dedup();
    (probes, uncovered, capped, n.busy_ports)
}

/// Hands out source ports no rule mentions, in order.
pub struct PortAlloc {
    next: u32,
    busy: Vec<(u128, u128)>,
}

impl PortAlloc {
    fn take(&mut self, n: u32) -> u16 {
        loop {
            let start = self.next;
            if start + n > 65535 {
                self.next = 20000;
                self.busy.clear();
                continue;
            }
            self.next += n;
            let clash = (start..start + n).any(|p| {
                self.busy
                    .iter()
                    .any(|&(a, b)| a <= u128::from(p) && u128::from(p) <= b)
            });
            if !clash {
                return start as u16;
            }
        }
    }
}

/// Replaces source port 0 with free ports (`count` consecutive ones for bursts).
pub fn fill_ports(probes: &mut [Probe], alloc: &mut PortAlloc) {
    for p in probes {
        let count = p.count;
        if let Some(sport) = p.spec.sport_mut() {
            if *sport == 0 {
                *sport = alloc.take(count);
            }
        }
    }
}

/// A port allocator for user probes, starting where derived ones cannot reach.
pub fn user_port_alloc() -> PortAlloc {
    PortAlloc {
        next: 50000,
        busy: Vec::new(),
    }
}

/// The interface names probes arrive on besides `lo` and the main link, sorted.
pub fn links(probes: &[Probe]) -> Vec<String> {
    let set: BTreeSet<String> = probes
        .iter()
        .flat_map(|p| p.iif.clone().into_iter().chain(p.oif.clone()))
        .filter(|i| i != "lo")
        .collect();
    set.into_iter().collect()
}

/// A name for the main link that no interface condition of `rs` matches.
pub fn main_link_name(rs: &Ruleset) -> String {
    let mut conds = Vec::new();
    for t in [Family::Ip, Family::Ip6]
        .into_iter()
        .filter_map(|f| filter_table_of(rs, f))
    {
        for c in &t.chains {
            for r in &c.rules {
                let c = conds_of(r, &t.sets);
                conds.extend(c.iif);
                conds.extend(c.oif);
            }
        }
    }
    (0..100)
        .map(|i| format!("fwv{i}"))
        .find(|n| {
            conds.iter().all(|c| {
                !c.names.iter().any(|(p, w)| {
                    if *w {
                        n.starts_with(p.as_str())
                    } else {
                        n == p
                    }
                })
            })
        })
        .unwrap_or_else(|| "fwv0".into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use fwnet_nft::{
        BaseChain, Chain, ChainKind, Hook, Limit, Origin, Policy, Rule, Table, TimeUnit,
    };

    /// The interface `lo`, as a value to compare with.
    fn lo() -> Value {
        Value::Iface {
            name: "lo".into(),
            wildcard: false,
        }
    }

    fn cmp(left: Expr, right: Value) -> Stmt {
        Stmt::Match(Match::Cmp {
            left,
            op: CmpOp::Eq,
            right,
        })
    }

    fn rule(line: u32, mut stmts: Vec<Stmt>) -> Rule {
        stmts.push(Stmt::Verdict(Verdict::Accept));
        Rule {
            stmts,
            comment: None,
            origin: Some(Origin {
                file: "r".into(),
                line,
            }),
            merged: Vec::new(),
        }
    }

    fn ruleset(rules: Vec<Rule>) -> Ruleset {
        let base = BaseChain {
            kind: ChainKind::Filter,
            hook: Hook::Input,
            priority: 0,
            policy: Policy::Drop,
            counters: None,
        };
        Ruleset {
            tables: vec![Table {
                family: Family::Ip,
                name: "fwnet_filter".into(),
                sets: Vec::new(),
                ct_helpers: Vec::new(),
                chains: vec![Chain {
                    name: "INPUT".into(),
                    base: Some(base),
                    rules,
                    family: None,
                }],
            }],
        }
    }

    fn tcp_dport(v: Value) -> Vec<Stmt> {
        vec![
            cmp(Expr::Payload(Field::IpProtocol), Value::Num(6)),
            cmp(Expr::Payload(Field::TcpDport), v),
        ]
    }

    /// `ip saddr 10.9.0.0/16`, the earlier rule of the meet tests.
    fn from_10_9() -> Stmt {
        cmp(
            Expr::Payload(Field::IpSaddr),
            Value::Prefix {
                addr: "10.9.0.0".parse().unwrap(),
                len: 16,
            },
        )
    }

    /// The meet probes of `d`, each as `PROBE (ORIGIN)`.
    fn meets(d: Derived) -> Vec<String> {
        d.probes
            .iter()
            .filter(|p| p.why == MEET_WHY)
            .map(|p| format!("{} ({})", p.spec, p.origin.as_deref().unwrap_or("")))
            .collect()
    }

    /// The meet probes `moved` gets given the files' order `plain`, as probe lines (with
    /// their interfaces and path).
    fn moved_meets(moved: &Ruleset, plain: &Ruleset) -> Vec<String> {
        derive_ordered(moved, Some(plain), DEFAULT_CAP)
            .probes
            .iter()
            .filter(|p| p.why == MEET_WHY)
            .map(|p| p.to_string())
            .collect()
    }

    /// `file:line` -> the probe lines derived for it, in order.
    fn derived_for(rs: &Ruleset, line: u32) -> Vec<String> {
        derive(rs, DEFAULT_CAP)
            .probes
            .iter()
            .filter(|p| p.origin.as_deref() == Some(&format!("r:{line}")))
            .map(|p| p.to_string())
            .collect()
    }

    #[test]
    fn probe_lines_round_trip_and_defaults_apply() {
        // (input line, canonical form)
        let cases = [
            (
                "tcp 10.0.0.5:40000 -> 22 flags S",
                "tcp 10.0.0.5:40000 -> 10.77.0.1:22 flags S",
            ),
            (
                "tcp 10.0.0.5:1 -> 192.0.2.1:80 flags none iif eth1",
                "tcp 10.0.0.5:1 -> 192.0.2.1:80 flags none iif eth1",
            ),
            (
                "tcp 10.0.0.5:1 -> 80 flags fspau x 3",
                "tcp 10.0.0.5:1 -> 10.77.0.1:80 flags FSPAU x 3",
            ),
            (
                "udp 192.0.2.1:53 -> 40000",
                "udp 192.0.2.1:53 -> 10.77.0.1:40000",
            ),
            (
                "udp 192.0.2.1:53 -> 40000 reply",
                "udp 192.0.2.1:53 -> 10.77.0.1:40000 reply",
            ),
            (
                "icmp 10.0.0.5 type 8 code 0",
                "icmp 10.0.0.5 -> 10.77.0.1 type 8 code 0",
            ),
            (
                "icmp 10.0.0.5 -> 10.77.0.9 type 3 code 3 iif lo",
                "icmp 10.0.0.5 -> 10.77.0.9 type 3 code 3 iif lo",
            ),
            (
                "connect 10.0.0.5:7 -> 80",
                "connect 10.0.0.5:7 -> 10.77.0.1:80",
            ),
            (
                "related 10.0.0.5:7 -> 5353",
                "related 10.0.0.5:7 -> 10.77.0.1:5353",
            ),
            (
                "tcp [2001:db8::5]:40000 -> 22 flags SA",
                "tcp [2001:db8::5]:40000 -> [fd77::1]:22 flags SA",
            ),
            (
                "udp 2001:db8::5 -> [fd77::9]:53 reply",
                "udp [2001:db8::5]:0 -> [fd77::9]:53 reply",
            ),
            (
                "icmpv6 fe80::1 type 135",
                "icmpv6 fe80::1 -> fd77::1 type 135 code 0",
            ),
            (
                "icmp 2001:db8::5",
                "icmpv6 2001:db8::5 -> fd77::1 type 128 code 0",
            ),
            (
                "connect [2001:db8::5]:7 -> [2001:db8::1]:80",
                "connect [2001:db8::5]:7 -> [2001:db8::1]:80",
            ),
            ("proto 47 10.0.0.5", "proto gre 10.0.0.5 -> 10.77.0.1"),
            (
                "proto esp 10.0.0.5 -> 192.0.2.1 forward oif eth1 x 2",
                "proto esp 10.0.0.5 -> 192.0.2.1 forward oif eth1 x 2",
            ),
            (
                "proto 132 2001:db8::5 -> [fd77::9]",
                "proto sctp 2001:db8::5 -> fd77::9",
            ),
            ("proto 33 10.0.0.5", "proto 33 10.0.0.5 -> 10.77.0.1"),
        ];
        for (input, want) in cases {
            let p = parse_line(input).unwrap_or_else(|e| panic!("{input}: {e}"));
            assert_eq!(p.to_string(), want, "{input}");
            assert_eq!(
                parse_line(want).map(|q| q.spec),
                Ok(p.spec),
                "{want} reads back"
            );
        }
    }

    #[test]
    fn owner_probes_are_sent_as_that_user_and_group() {
        // An OUTPUT chain: `-m owner --uid-owner 4321 -p udp --dport 53`, `--gid-owner 777`,
        // `--uid-owner 1000-2000`, and a rule for root's packets that tests no owner.
        let mut rs = ruleset(Vec::new());
        let chain = &mut rs.tables[0].chains[0];
        chain.name = "OUTPUT".into();
        chain.base.as_mut().unwrap().hook = Hook::Output;
        let mut dns = vec![cmp(Expr::Meta(MetaKey::Skuid), Value::Num(4321))];
        dns.extend([
            cmp(Expr::Payload(Field::IpProtocol), Value::Num(17)),
            cmp(Expr::Payload(Field::UdpDport), Value::Num(53)),
        ]);
        chain.rules = vec![
            rule(1, dns),
            rule(2, vec![cmp(Expr::Meta(MetaKey::Skgid), Value::Num(777))]),
            rule(
                3,
                vec![cmp(Expr::Meta(MetaKey::Skuid), Value::Range(1000, 2000))],
            ),
            rule(4, tcp_dport(Value::Num(25))),
        ];
        for (line, end) in [
            (1, ":53 output owner 4321:0"),
            (2, " output owner 0:777"),
            (3, " output owner 1000:0"),
            (4, ":25 flags S output"),
        ] {
            let p = derived_for(&rs, line).remove(0);
            assert!(p.ends_with(end), "{p}");
        }
        // Probes that differ only in their owner are different probes: line 3's first is line
        // 2's but for the owner, and every probe of line 3 is sent as its owner.
        let three = derived_for(&rs, 3);
        assert!(
            three.iter().all(|p| p.ends_with(" output owner 1000:0")),
            "{three:#?}"
        );

        // In a probe file: `owner UID[:GID]`, for packets the server sends only.
        let p = parse_line("udp 10.77.0.1 -> 192.0.2.1:53 output owner 4321").unwrap();
        assert_eq!(p.owner, Some(Owner { uid: 4321, gid: 0 }));
        assert_eq!(
            p.to_string(),
            "udp 10.77.0.1:0 -> 192.0.2.1:53 output owner 4321:0"
        );
        assert_eq!(parse_line(&p.to_string()).map(|q| q.owner), Ok(p.owner));
        assert_eq!(
            parse_line("udp 10.0.0.5 -> 53 owner 5").map(|_| ()),
            Err("`owner` is for packets the server sends: `output`, or `iif lo`".into())
        );
        assert!(parse_line("udp 10.77.0.1 -> 192.0.2.1:53 output owner 4294967295").is_err());
    }

    #[test]
    fn broadcast_and_multicast_rules_get_packets_to_such_addresses() {
        let fib = |t: u64| {
            cmp(
                Expr::Fib(fwnet_nft::Fib {
                    addr: fwnet_nft::FibAddr::Daddr,
                    iface: None,
                }),
                Value::Num(t),
            )
        };
        let pkttype = |t: u64| cmp(Expr::Meta(MetaKey::Pkttype), Value::Num(t));
        let udp = |port: u64, mut v: Vec<Stmt>| {
            v.extend([
                cmp(Expr::Payload(Field::IpProtocol), Value::Num(17)),
                cmp(Expr::Payload(Field::UdpDport), Value::Num(port)),
            ]);
            v
        };
        let not_local = Stmt::Match(Match::Cmp {
            left: Expr::Fib(fwnet_nft::Fib {
                addr: fwnet_nft::FibAddr::Daddr,
                iface: None,
            }),
            op: CmpOp::Ne,
            right: Value::Num(2),
        });
        let rs = ruleset(vec![
            // -m pkttype --pkt-type broadcast, multicast; -m addrtype --dst-type MULTICAST,
            // BROADCAST; ! --dst-type LOCAL (the first kind that is not the server's address).
            rule(1, udp(67, vec![pkttype(1)])),
            rule(2, udp(5353, vec![pkttype(2)])),
            rule(3, udp(1900, vec![fib(5)])),
            rule(4, udp(138, vec![fib(3)])),
            rule(5, udp(139, vec![not_local])),
            rule(6, tcp_dport(Value::Num(22))),
        ]);
        for (line, to) in [
            (1, " -> 255.255.255.255:67"),
            (2, " -> 224.0.0.251:5353"),
            (3, " -> 224.0.0.251:1900"),
            (4, " -> 255.255.255.255:138"),
            (5, " -> 255.255.255.255:139"),
            (6, " -> 10.77.0.1:22"),
        ] {
            let p = derived_for(&rs, line).remove(0);
            assert!(p.contains(to), "{p}");
        }
    }

    #[test]
    fn fragment_tests_and_transport_tests_fragments_meet_get_fragmented_packets() {
        let chain = |name: &str, hook: Hook, rules: Vec<Rule>| Chain {
            name: name.into(),
            base: Some(BaseChain {
                kind: ChainKind::Filter,
                hook,
                priority: 0,
                policy: Policy::Drop,
                counters: None,
            }),
            rules,
            family: None,
        };
        let table = |family: Family, chains: Vec<Chain>| Table {
            family,
            name: "fwnet_filter".into(),
            sets: Vec::new(),
            ct_helpers: Vec::new(),
            chains,
        };
        // `-f`, as fwnet translates it.
        let non_first = Stmt::Match(Match::Masked {
            left: Expr::Payload(Field::IpFragOff),
            mask: Box::new(Value::Num(0x1fff)),
            op: CmpOp::Ne,
            value: Value::Num(0),
        });
        let v4 = Ruleset {
            tables: vec![table(
                Family::Ip,
                vec![
                    chain(
                        "INPUT",
                        Hook::Input,
                        vec![rule(1, vec![non_first]), rule(2, tcp_dport(Value::Num(22)))],
                    ),
                    chain(
                        "FORWARD",
                        Hook::Forward,
                        vec![rule(3, tcp_dport(Value::Num(80)))],
                    ),
                ],
            )],
        };
        let frag = FRAGMENTS_WHY;
        let all = derive(&v4, DEFAULT_CAP).probes;
        let of = |line: u32| -> Vec<&Probe> {
            all.iter()
                .filter(|p| p.origin.as_deref() == Some(&format!("r:{line}")))
                .collect()
        };
        // Only a non-first fragment meets `-f`: the rule's own packet comes in two.
        assert!(of(1)[0].fragmented, "{}", of(1)[0]);
        // INPUT sees an IPv4 datagram whole (reassembled for local delivery): its own packet
        // is not sent again in fragments (a packet meeting the `-f` rule too is).
        assert!(of(2).iter().all(|p| p.why != frag), "{:?}", of(2));
        // FORWARD sees each fragment: the rule's packet again, in two.
        let routed: Vec<String> = of(3)
            .iter()
            .filter(|p| p.why == frag)
            .map(|p| p.to_string())
            .collect();
        assert_eq!(
            routed,
            ["tcp 198.18.0.1:20014 -> 198.51.100.10:80 flags S forward frag"]
        );
        // IPv6 reassembles after INPUT: its rules meet fragments one by one there too.
        let v6 = Ruleset {
            tables: vec![table(
                Family::Ip6,
                vec![chain(
                    "INPUT",
                    Hook::Input,
                    vec![rule(4, {
                        vec![
                            cmp(Expr::Payload(Field::Ip6Nexthdr), Value::Num(17)),
                            cmp(Expr::Payload(Field::UdpDport), Value::Num(53)),
                        ]
                    })],
                )],
            )],
        };
        let six = derive(&v6, DEFAULT_CAP).probes;
        assert!(
            six.iter()
                .any(|p| p.fragmented && p.why == frag && p.to_string().ends_with(":53 frag")),
            "{six:?}"
        );
        // The probe line says it, and reads back.
        let p = parse_line("udp 198.18.0.1:1 -> 53 frag").unwrap();
        assert!(p.fragmented);
        assert_eq!(p.to_string(), "udp 198.18.0.1:1 -> 10.77.0.1:53 frag");
        assert_eq!(parse_line(&p.to_string()), Ok(p));
        for line in [
            "connect 198.18.0.1:1 -> 22 frag",
            "udp 198.18.0.1:1 -> 53 reply frag",
            "udp 198.18.0.1:1 -> 53 frag x 3",
            "udp 198.18.0.1:1 -> 53 iif lo frag",
        ] {
            let e = parse_line(line).unwrap_err();
            assert!(
                e.starts_with("`frag` is for one crafted packet"),
                "{line}: {e}"
            );
        }
    }

    #[test]
    fn routing_header_rules_get_packets_with_one() {
        let rt = |field: ExthdrField, op: CmpOp, v: u64| {
            Stmt::Match(Match::Cmp {
                left: Expr::Exthdr(Exthdr::Field(field)),
                op,
                right: Value::Num(v),
            })
        };
        let exists = Stmt::Match(Match::Cmp {
            left: Expr::Exthdr(Exthdr::Present(Ipv6Ext::Rt)),
            op: CmpOp::Eq,
            right: Value::Num(1),
        });
        let mut rs = ruleset(vec![
            // -m rt --rt-type 0; ! --rt-type 0 --rt-segsleft 3; -m rt; and a rule without.
            rule(1, vec![rt(ExthdrField::RtType, CmpOp::Eq, 0)]),
            rule(
                2,
                vec![
                    rt(ExthdrField::RtType, CmpOp::Ne, 0),
                    rt(ExthdrField::RtSegLeft, CmpOp::Eq, 3),
                ],
            ),
            rule(3, {
                let mut v = tcp_dport(Value::Num(80));
                v.push(exists);
                v
            }),
            rule(4, tcp_dport(Value::Num(22))),
        ]);
        rs.tables[0].family = Family::Ip6;
        for (line, rt) in [
            (1, Some(" rt 0")),
            (2, Some(" rt 1/3")),
            (3, Some(" rt 0")),
            (4, None),
        ] {
            let p = derived_for(&rs, line).remove(0);
            match rt {
                Some(rt) => assert!(p.ends_with(rt), "{p}"),
                None => assert!(!p.contains(" rt "), "{p}"),
            }
        }

        let p = parse_line("tcp [2001:db8::5]:1 -> 22 flags S rt 0/1/2").unwrap();
        assert_eq!(
            p.routing,
            Some(Routing {
                kind: 0,
                segments_left: 1,
                hdrlen: 2
            })
        );
        assert_eq!(parse_line(&p.to_string()).map(|q| q.routing), Ok(p.routing));
        assert_eq!(
            parse_line("tcp 10.0.0.5:1 -> 22 rt 0").map(|_| ()),
            Err("`rt` (a routing header) is for IPv6 probes".into())
        );
        assert!(parse_line("tcp [2001:db8::5]:1 -> 22 rt 0/1/2/3").is_err());
    }

    #[test]
    fn the_servers_own_packets_to_loopback_addresses_are_sent_over_lo() {
        // OUTPUT: `-d 127.0.0.11 -p udp --dport 53` (Docker's DNS), `-s ::1 -d ::1` (IPv6).
        let mut rs = ruleset(vec![rule(
            1,
            vec![
                cmp(
                    Expr::Payload(Field::IpDaddr),
                    Value::Addr("127.0.0.11".parse().unwrap()),
                ),
                cmp(Expr::Payload(Field::IpProtocol), Value::Num(17)),
                cmp(Expr::Payload(Field::UdpDport), Value::Num(53)),
            ],
        )]);
        let chain = &mut rs.tables[0].chains[0];
        chain.name = "OUTPUT".into();
        chain.base.as_mut().unwrap().hook = Hook::Output;
        let p = derived_for(&rs, 1).remove(0);
        assert!(p.starts_with("udp 127.0.0.11:"), "{p}");
        assert!(p.ends_with(" -> 127.0.0.11:53 iif lo"), "{p}");
        let v6 = |a: &str| Value::Addr(a.parse().unwrap());
        rs.tables[0].family = Family::Ip6;
        rs.tables[0].chains[0].rules = vec![rule(
            2,
            vec![
                cmp(Expr::Payload(Field::Ip6Saddr), v6("::1")),
                cmp(Expr::Payload(Field::Ip6Daddr), v6("::1")),
            ],
        )];
        let p = derived_for(&rs, 2).remove(0);
        assert!(p.contains("[::1]:") && p.ends_with(" iif lo"), "{p}");
    }

    #[test]
    fn a_postrouting_rule_for_multicast_is_probed_with_the_servers_own_packet() {
        let mut rs = ruleset(Vec::new());
        rs.tables.push(Table {
            family: Family::Ip,
            name: "fwnet_nat".into(),
            sets: Vec::new(),
            ct_helpers: Vec::new(),
            chains: vec![Chain {
                name: "POSTROUTING".into(),
                base: Some(BaseChain {
                    kind: ChainKind::Nat,
                    hook: Hook::Postrouting,
                    priority: 100,
                    policy: Policy::Accept,
                    counters: None,
                }),
                rules: vec![rule(
                    1,
                    vec![cmp(
                        Expr::Payload(Field::IpDaddr),
                        Value::Prefix {
                            addr: "224.0.0.0".parse().unwrap(),
                            len: 24,
                        },
                    )],
                )],
                family: None,
            }],
        });
        let p = derived_for(&rs, 1).remove(0);
        assert!(p.contains(" -> 224.0.0.") && p.ends_with(" output"), "{p}");
    }

    #[test]
    fn bad_probe_lines_are_reported_with_file_and_line() {
        let text = "# header\ntcp 10.0.0.5 -> 22\n\ntcp 10.0.0.300 -> 22\nudp 1.2.3.4:5\nicmp 1.2.3.4 flags S\nconnect 1.2.3.4 -> 80 x 2\nping 1.2.3.4\ntcp 2001:db8::1 -> 10.0.0.1:22\ntcp [2001:db8::1 -> 22\ntcp 10.0.0.5 -> 70000\nproto 6 10.0.0.5\nproto ah 2001:db8::1\nproto\nproto gre\nproto 300 10.0.0.5\n";
        let errors = parse_file("p.txt", text).expect_err("bad lines");
        let got: Vec<String> = errors.iter().map(|e| e.to_string()).collect();
        assert_eq!(
            got,
            [
                "p.txt:4: `10.0.0.300` is not an IP address",
                "p.txt:5: a udp probe needs `-> [DST:]PORT`",
                "p.txt:6: unexpected `flags` for a icmp probe",
                "p.txt:7: `x N` is only for crafted packets, not `connect`",
                "p.txt:8: unknown probe kind `ping` (tcp, udp, icmp, proto, connect, related, established)",
                "p.txt:9: 2001:db8::1 and 10.0.0.1 are not of the same IP version",
                "p.txt:10: `[2001:db8::1` lacks its closing `]`",
                "p.txt:11: `70000` is not a valid destination port",
                "p.txt:12: `proto 6` is not for an IPv4 probe: use a tcp, udp or icmp probe, and over IPv6 no extension header",
                "p.txt:13: `proto 51` is not for an IPv6 probe: use a tcp, udp or icmp probe, and over IPv6 no extension header",
                "p.txt:14: `proto` needs a protocol number or name after it",
                "p.txt:15: `proto` needs a source address",
                "p.txt:16: `300` is not a valid protocol number",
            ]
        );
    }

    #[test]
    fn connections_no_client_could_make_are_written_into_conntrack() {
        // `-p tcp --sport 25 -m state --state ESTABLISHED`: the answers of a mail server the
        // server sends to. No client connects from port 25 to a port the server opens; and the
        // SSH rule before it would take such a connection's packets anyway.
        let mut ssh = tcp_dport(Value::Num(22));
        ssh.push(Stmt::Match(Match::Flags {
            left: Expr::Ct(CtKey::State),
            bits: ct_state::NEW | ct_state::ESTABLISHED,
            op: CmpOp::Eq,
        }));
        let mut smtp = vec![
            cmp(Expr::Payload(Field::IpProtocol), Value::Num(6)),
            cmp(Expr::Payload(Field::TcpSport), Value::Num(25)),
        ];
        smtp.push(Stmt::Match(Match::Flags {
            left: Expr::Ct(CtKey::State),
            bits: ct_state::ESTABLISHED,
            op: CmpOp::Eq,
        }));
        let rs = ruleset(vec![rule(1, ssh), rule(2, smtp)]);
        let probes = derived_for(&rs, 2);
        assert!(
            probes[0].starts_with("established tcp 198.18.0.1:25 -> 10.77.0.1:"),
            "{probes:#?}"
        );
        assert!(
            !probes.iter().any(|p| p.starts_with("connect ")),
            "{probes:#?}"
        );
        // A client's connection to the server is still a real one.
        assert!(derived_for(&rs, 1)
            .iter()
            .any(|p| p.starts_with("connect ")));
        // Where no rule lets a client's SYN in (the server only makes connections), the
        // connection of a plain ESTABLISHED rule is written too.
        let est = vec![Stmt::Match(Match::Flags {
            left: Expr::Ct(CtKey::State),
            bits: ct_state::ESTABLISHED | ct_state::RELATED,
            op: CmpOp::Eq,
        })];
        let probes = derived_for(&ruleset(vec![rule(1, est.clone())]), 1);
        assert!(probes[0].starts_with("established tcp "), "{probes:#?}");
        assert!(
            !probes.iter().any(|p| p.starts_with("connect ")),
            "{probes:#?}"
        );
        // Nor where the SYN gets in but OUTPUT drops the server's answer.
        let mut rs = ruleset(vec![rule(1, est), rule(2, tcp_dport(Value::Num(22)))]);
        rs.tables[0].chains.push(Chain {
            name: "OUTPUT".into(),
            base: Some(BaseChain {
                kind: ChainKind::Filter,
                hook: Hook::Output,
                priority: 0,
                policy: Policy::Drop,
                counters: None,
            }),
            rules: Vec::new(),
            family: None,
        });
        let probes = derived_for(&rs, 1);
        assert!(probes[0].starts_with("established tcp "), "{probes:#?}");
        rs.tables[0].chains[1].base.as_mut().unwrap().policy = Policy::Accept;
        assert!(derived_for(&rs, 1)[0].starts_with("connect "));
    }

    #[test]
    fn each_rule_gets_a_witness_that_satisfies_it() {
        let lo = vec![cmp(Expr::Meta(MetaKey::Iifname), lo())];
        let mut ssh = tcp_dport(Value::Num(22));
        ssh.push(Stmt::Match(Match::Flags {
            left: Expr::Ct(CtKey::State),
            bits: ct_state::NEW,
            op: CmpOp::Eq,
        }));
        let mut est = vec![cmp(Expr::Payload(Field::IpProtocol), Value::Num(6))];
        est.push(Stmt::Match(Match::Flags {
            left: Expr::Ct(CtKey::State),
            bits: ct_state::ESTABLISHED | ct_state::RELATED,
            op: CmpOp::Eq,
        }));
        let eth = vec![
            cmp(
                Expr::Meta(MetaKey::Iifname),
                Value::Iface {
                    name: "eth".into(),
                    wildcard: true,
                },
            ),
            cmp(
                Expr::Payload(Field::IpSaddr),
                Value::Prefix {
                    addr: "192.0.2.0".parse().unwrap(),
                    len: 24,
                },
            ),
            cmp(Expr::Payload(Field::IpProtocol), Value::Num(17)),
            cmp(Expr::Payload(Field::UdpDport), Value::Range(5000, 5010)),
        ];
        let rs = ruleset(vec![
            rule(1, lo),
            rule(2, ssh),
            rule(3, est),
            rule(4, eth),
            rule(5, tcp_dport(Value::Num(80))),
        ]);
        let first = |line| {
            derived_for(&rs, line)
                .into_iter()
                .next()
                .unwrap_or_default()
        };
        assert_eq!(
            first(1),
            "tcp 10.77.0.1:20000 -> 10.77.0.1:33434 flags S iif lo"
        );
        assert!(
            first(2).ends_with("-> 10.77.0.1:22 flags S"),
            "{}",
            first(2)
        );
        // ESTABLISHED comes from a real connection to a port some rule opens.
        assert!(
            first(3).starts_with("connect ") && first(3).ends_with(":22"),
            "{}",
            first(3)
        );
        assert!(
            first(4).starts_with("udp 192.0.2.0:") && first(4).ends_with(":5000 iif eth0"),
            "{}",
            first(4)
        );
        // Edges of the range, just outside it, and the other interface.
        let line4 = derived_for(&rs, 4).join("\n");
        for want in [
            ":5010 iif eth0",
            ":4999 iif eth0",
            ":5011 iif eth0",
            "udp 192.0.2.255:",
            "udp 192.0.1.255:",
            "udp 192.0.3.0:",
        ] {
            assert!(line4.contains(want), "no `{want}` in\n{line4}");
        }
        assert!(
            line4.lines().any(|l| !l.contains(" iif ")),
            "no probe on another interface:\n{line4}"
        );
    }

    #[test]
    fn rules_on_other_protocols_get_packets_of_them_and_their_neighbours() {
        let gre_vrrp = Value::Set(Box::new([Value::Num(47), Value::Num(112)]));
        let rs = ruleset(vec![
            rule(1, vec![cmp(Expr::Payload(Field::IpProtocol), gre_vrrp)]),
            rule(
                2,
                vec![cmp(Expr::Payload(Field::IpProtocol), Value::Num(50))],
            ),
        ]);
        let gre = derived_for(&rs, 1);
        assert!(
            gre[0].starts_with("proto gre ") && gre[0].ends_with(" -> 10.77.0.1"),
            "{gre:?}"
        );
        for want in [
            "proto 46 ",
            "proto 48 ",
            "proto vrrp ",
            "proto 111 ",
            "proto 113 ",
        ] {
            assert!(
                gre.iter().any(|p| p.starts_with(want)),
                "no `{want}` in {gre:?}"
            );
        }
        let esp = derived_for(&rs, 2);
        assert!(esp[0].starts_with("proto esp "), "{esp:?}");
        // CentOS's RH-Firewall-1-INPUT, merged: icmp's neighbour 0 is not sent (`-p 0` is
        // `-p all`, and no raw socket takes it).
        let rh = Value::Set(Box::new([Value::Num(1), Value::Num(50), Value::Num(51)]));
        let rs = ruleset(vec![rule(
            1,
            vec![cmp(Expr::Payload(Field::IpProtocol), rh)],
        )]);
        let rh = derived_for(&rs, 1);
        assert!(rh.iter().any(|p| p.starts_with("proto ah ")), "{rh:?}");
        assert!(!rh.iter().any(|p| p.starts_with("proto 0 ")), "{rh:?}");
        // A tcp rule gets no neighbouring protocols.
        let rs = ruleset(vec![rule(1, tcp_dport(Value::Num(22)))]);
        assert!(!derived_for(&rs, 1).iter().any(|p| p.starts_with("proto ")));
        // Over IPv6, AH is an extension header `-p` never sees: named, not probed.
        let mut rs = ruleset(vec![
            rule(
                1,
                vec![cmp(Expr::Payload(Field::Ip6Nexthdr), Value::Num(51))],
            ),
            rule(
                2,
                vec![cmp(Expr::Payload(Field::Ip6Nexthdr), Value::Num(50))],
            ),
        ]);
        rs.tables[0].family = Family::Ip6;
        let d = derive(&rs, DEFAULT_CAP);
        assert_eq!(
            d.uncovered,
            ["r:1 (protocol 51 is an IPv6 extension header, which `-p` never matches: not probed)"]
        );
        assert!(
            d.probes
                .iter()
                .any(|p| p.origin.as_deref() == Some("r:2")
                    && p.to_string().starts_with("proto esp "))
        );
    }

    #[test]
    fn a_rule_for_a_loopback_source_is_probed_on_lo() {
        let mut mysql = tcp_dport(Value::Num(3306));
        mysql.insert(
            0,
            cmp(
                Expr::Payload(Field::IpSaddr),
                Value::Addr("127.0.0.1".parse().unwrap()),
            ),
        );
        let mut spoofed = vec![cmp(
            Expr::Payload(Field::IpSaddr),
            Value::Prefix {
                addr: "127.0.0.0".parse().unwrap(),
                len: 8,
            },
        )];
        spoofed.push(Stmt::Match(Match::Cmp {
            left: Expr::Meta(MetaKey::Iifname),
            op: CmpOp::Ne,
            right: lo(),
        }));
        let rs = ruleset(vec![rule(1, mysql), rule(2, spoofed)]);
        let first = |line| {
            derived_for(&rs, line)
                .into_iter()
                .next()
                .unwrap_or_default()
        };
        assert!(
            first(1).starts_with("tcp 127.0.0.1:") && first(1).ends_with(":3306 flags S iif lo"),
            "{}",
            first(1)
        );
        // `! -i lo`: the spoofed loopback source comes from the wire.
        assert!(!first(2).contains(" iif lo"), "{}", first(2));
    }

    #[test]
    fn an_output_rule_on_lo_is_probed_by_the_server_talking_to_itself() {
        let mut pg = tcp_dport(Value::Num(5432));
        pg.insert(0, cmp(Expr::Meta(MetaKey::Oifname), lo()));
        let mut rs = ruleset(vec![rule(1, pg)]);
        let chain = &mut rs.tables[0].chains[0];
        chain.name = "OUTPUT".into();
        if let Some(base) = &mut chain.base {
            base.hook = Hook::Output;
        }
        let d = derive(&rs, DEFAULT_CAP);
        assert!(d.uncovered.is_empty(), "{:?}", d.uncovered);
        let first = derived_for(&rs, 1).into_iter().next().unwrap_or_default();
        assert!(
            first.starts_with("tcp 10.77.0.1:")
                && first.ends_with(" -> 10.77.0.1:5432 flags S iif lo"),
            "{first}"
        );
    }

    #[test]
    fn another_interface_that_is_lo_is_probed_from_the_servers_own_address() {
        // `iifname { "eth0", "lo" }` (an optimizer merge): the witness arrives on eth0 from a
        // neutral source; the probe on `lo` must come from the server itself, the only place
        // a packet on `lo` can come from. With a source test, there is no such probe.
        let names = Value::Set(Box::new([
            Value::Iface {
                name: "eth0".into(),
                wildcard: false,
            },
            lo(),
        ]));
        let iif = cmp(Expr::Meta(MetaKey::Iifname), names);
        let from = cmp(
            Expr::Payload(Field::IpSaddr),
            Value::Addr("192.0.2.7".parse().unwrap()),
        );
        let rs = ruleset(vec![rule(1, vec![iif.clone()]), rule(2, vec![from, iif])]);
        let line1 = derived_for(&rs, 1).join("\n");
        assert!(line1.contains(" iif eth0"), "{line1}");
        let on_lo: Vec<&str> = line1.lines().filter(|l| l.ends_with(" iif lo")).collect();
        assert!(!on_lo.is_empty(), "no probe on lo:\n{line1}");
        for l in on_lo {
            assert!(l.starts_with("tcp 10.77.0.1:"), "{l}");
        }
        let line2 = derived_for(&rs, 2).join("\n");
        assert!(
            line2.contains("192.0.2.7") && line2.contains(" iif eth0"),
            "{line2}"
        );
        assert!(!line2.contains(" iif lo"), "{line2}");
    }

    #[test]
    fn pairs_of_rules_one_packet_matches_get_that_packet() {
        // Line 1 rejects TCP from 10.9.0.0/16, line 2 accepts TCP to 443: a packet from
        // 10.9.x.x to 443 is the one their order decides. Line 3 (UDP) meets neither.
        let reject = vec![
            from_10_9(),
            cmp(Expr::Meta(MetaKey::L4proto), Value::Num(6)),
        ];
        let https = vec![
            cmp(Expr::Meta(MetaKey::L4proto), Value::Num(6)),
            cmp(Expr::Payload(Field::TcpDport), Value::Num(443)),
        ];
        let dns = vec![
            cmp(Expr::Meta(MetaKey::L4proto), Value::Num(17)),
            cmp(Expr::Payload(Field::UdpDport), Value::Num(53)),
        ];
        let plain = ruleset(vec![rule(1, reject), rule(2, https), rule(3, dns)]);
        let found = meets(derive(&plain, DEFAULT_CAP));
        assert!(
            found.len() == 1
                && found[0].starts_with("tcp 10.9.0.0:")
                && found[0].ends_with(" -> 10.77.0.1:443 flags S (r:2)"),
            "{found:?}"
        );
        // The same rules reordered (as a wrong optimization would): the pairs still come from
        // the order given, so the packet is the same.
        let mut moved = plain.clone();
        moved.tables[0].chains[0].rules.swap(0, 1);
        let d = derive_ordered(&moved, Some(&plain), DEFAULT_CAP);
        assert!(meets(d)
            .iter()
            .any(|m| m.starts_with("tcp 10.9.0.0:") && m.contains(":443 flags S")),);
    }

    #[test]
    fn swapped_pairs_get_their_meet_far_apart_on_interfaces_and_in_forward() {
        // Line 1 rejects 10.9.0.0/16, 20 UDP rules follow, line 22 accepts TCP to 443: the
        // pair is further apart than the window, so only a move of line 22 up makes a probe.
        let mut rules = vec![rule(1, vec![from_10_9()])];
        for i in 0..20u32 {
            rules.push(rule(
                2 + i,
                vec![
                    cmp(Expr::Payload(Field::IpProtocol), Value::Num(17)),
                    cmp(
                        Expr::Payload(Field::UdpDport),
                        Value::Num(u64::from(1000 + i)),
                    ),
                ],
            ));
        }
        rules.push(rule(22, tcp_dport(Value::Num(443))));
        let plain = ruleset(rules);
        let far = |found: &[String]| {
            found
                .iter()
                .any(|m| m.starts_with("tcp 10.9.0.0:") && m.ends_with(":443 flags S (r:22)"))
        };
        assert!(!far(&meets(derive_ordered(
            &plain,
            Some(&plain),
            DEFAULT_CAP
        ))));
        let mut moved = plain.clone();
        let last = moved.tables[0].chains[0].rules.pop().unwrap();
        moved.tables[0].chains[0].rules.insert(0, last);
        let found = meets(derive_ordered(&moved, Some(&plain), DEFAULT_CAP));
        assert!(far(&found), "{found:?}");
        // A move past UDP rules (no packet matches both) adds nothing: the same probes as
        // without the move, whatever the order.
        let mut fine = plain.clone();
        let last = fine.tables[0].chains[0].rules.pop().unwrap();
        fine.tables[0].chains[0].rules.insert(1, last);
        let mut a = meets(derive_ordered(&fine, Some(&plain), DEFAULT_CAP));
        let mut b = meets(derive_ordered(&plain, Some(&plain), DEFAULT_CAP));
        a.sort();
        b.sort();
        assert_eq!(a, b);

        // Line 1 drops 10.9.0.0/16 arriving on `eth+`, line 2 accepts ssh on eth0: moved above
        // line 1, the packet their order decides comes from 10.9.x.x on eth0 (which neither
        // rule's witness is).
        let iface = |name: &str, wildcard: bool| {
            cmp(
                Expr::Meta(MetaKey::Iifname),
                Value::Iface {
                    name: name.into(),
                    wildcard,
                },
            )
        };
        let mut ssh = vec![iface("eth0", false)];
        ssh.extend(tcp_dport(Value::Num(22)));
        let drop = vec![iface("eth", true), from_10_9()];
        let plain = ruleset(vec![rule(1, drop), rule(2, ssh)]);
        let mut moved = plain.clone();
        moved.tables[0].chains[0].rules.swap(0, 1);
        let on_eth0 = moved_meets(&moved, &plain);
        assert!(
            on_eth0.iter().any(|p| p.starts_with("tcp 10.9.0.0:")
                && p.contains(":22 flags S")
                && p.contains("iif eth0")),
            "{on_eth0:?}"
        );
        // In the files' order the window pairs stay on the main link: no such probe.
        assert!(meets(derive_ordered(&plain, Some(&plain), DEFAULT_CAP)).is_empty());
        // A move past a rule of another interface is right, and no packet meets both: no
        // probe (not one on the main link, which neither rule matches).
        let mut apart = plain.clone();
        apart.tables[0].chains[0].rules[0].stmts[0] = iface("eth1", false);
        let mut swapped = apart.clone();
        swapped.tables[0].chains[0].rules.swap(0, 1);
        assert_eq!(moved_meets(&swapped, &apart), Vec::<String>::new());

        // The same pair in FORWARD, leaving by eth1 (`-o eth1` on line 2): the packet is
        // routed through the server, to an address it does not own.
        let oface = cmp(
            Expr::Meta(MetaKey::Oifname),
            Value::Iface {
                name: "eth1".into(),
                wildcard: false,
            },
        );
        let mut routed = vec![oface];
        routed.extend(tcp_dport(Value::Num(22)));
        let src = from_10_9();
        let mut plain = ruleset(vec![rule(1, vec![src]), rule(2, routed)]);
        plain.tables[0].chains[0].name = "FORWARD".into();
        let mut moved = plain.clone();
        moved.tables[0].chains[0].rules.swap(0, 1);
        let forwarded = moved_meets(&moved, &plain);
        assert!(
            forwarded
                .iter()
                .any(|p| p.starts_with("tcp 10.9.0.0:")
                    && p.contains(":22 flags S forward oif eth1")),
            "{forwarded:?}"
        );
        assert!(meets(derive_ordered(&plain, Some(&plain), DEFAULT_CAP)).is_empty());
    }

    #[test]
    fn moved_past_lists_the_pairs_a_chain_holds_the_other_way_round() {
        let files = ruleset((1..=5).map(|l| rule(l, Vec::new())).collect());
        let t = |rs: &Ruleset| rs.tables[0].clone();
        let lines = |pairs: Vec<(String, String)>| -> Vec<String> {
            pairs.into_iter().map(|(a, b)| format!("{a}<{b}")).collect()
        };
        // Lines 1 and 4 merged into one rule at line 1's place: 4 moved up past 2 and 3.
        let mut merged = files.clone();
        let rules = &mut merged.tables[0].chains[0].rules;
        let four = rules.remove(3);
        rules[0].merged.extend(four.origin);
        assert_eq!(
            lines(moved_past(&t(&files), &t(&merged))),
            ["r:2<r:4", "r:3<r:4"]
        );
        // Line 5 at the top of the chain: past all four.
        let mut top = files.clone();
        let rules = &mut top.tables[0].chains[0].rules;
        let five = rules.pop().unwrap();
        rules.insert(0, five);
        assert_eq!(
            lines(moved_past(&t(&files), &t(&top))),
            ["r:1<r:5", "r:2<r:5", "r:3<r:5", "r:4<r:5"]
        );
        // Two chains each in the files' order (a protocol dispatch): nothing moved, though
        // the second chain's rules come after the first's.
        let mut split = files.clone();
        let chain = &mut split.tables[0].chains[0];
        let odd: Vec<Rule> = chain.rules.iter().step_by(2).cloned().collect();
        let even: Vec<Rule> = chain.rules.iter().skip(1).step_by(2).cloned().collect();
        chain.rules = odd;
        let mut other = chain.clone();
        other.name = "INPUT_udp".into();
        other.base = None;
        other.rules = even;
        split.tables[0].chains.push(other);
        assert!(moved_past(&t(&files), &t(&split)).is_empty());
    }

    #[test]
    fn ipv6_tables_get_ipv6_witnesses_edges_and_neighbour_discovery() {
        let ssh = vec![
            cmp(
                Expr::Payload(Field::Ip6Saddr),
                Value::Prefix {
                    addr: "2001:db8:1::".parse().unwrap(),
                    len: 48,
                },
            ),
            cmp(Expr::Payload(Field::Ip6Nexthdr), Value::Num(6)),
            cmp(Expr::Payload(Field::TcpDport), Value::Num(22)),
        ];
        let ping = vec![
            cmp(Expr::Meta(MetaKey::L4proto), Value::Num(58)),
            cmp(Expr::Payload(Field::Icmpv6Type), Value::Num(128)),
        ];
        let mut rs = ruleset(vec![rule(1, ssh), rule(2, ping)]);
        rs.tables[0].family = Family::Ip6;
        let line1 = derived_for(&rs, 1).join("\n");
        for want in [
            "tcp [2001:db8:1::]:20000 -> [fd77::1]:22 flags S",
            "tcp [2001:db8:1:ffff:ffff:ffff:ffff:ffff]:",
            "tcp [2001:db8:0:ffff:ffff:ffff:ffff:ffff]:",
            "tcp [2001:db8:2::]:",
        ] {
            assert!(line1.contains(want), "no `{want}` in\n{line1}");
        }
        let line2 = derived_for(&rs, 2);
        assert_eq!(
            line2[0],
            "icmpv6 2001:db8:198:18::1 -> fd77::1 type 128 code 0"
        );
        let all: Vec<String> = derive(&rs, DEFAULT_CAP)
            .probes
            .iter()
            .filter(|p| p.why == "neighbour discovery")
            .map(|p| p.to_string())
            .collect();
        assert_eq!(all.len(), 10, "{all:#?}");
        for kind in 133..=137 {
            let from_link_local = format!("icmpv6 fe80::77:0:2 -> fd77::1 type {kind} code 0");
            assert!(all.contains(&from_link_local), "{from_link_local}");
        }
        assert!(
            derive(&rs, DEFAULT_CAP)
                .probes
                .iter()
                .all(|p| p.spec.is_ipv6()),
            "an ip6 table gives IPv6 probes only"
        );
    }

    #[test]
    fn per_source_limits_get_a_burst_and_a_second_source() {
        let mut ping = vec![
            cmp(Expr::Payload(Field::IpProtocol), Value::Num(1)),
            cmp(Expr::Payload(Field::IcmpType), Value::Num(8)),
        ];
        let limit = Limit {
            rate: 1,
            unit: TimeUnit::Minute,
            burst: 10,
            over: false,
        };
        ping.push(Stmt::SetUpdate {
            set: "t".into(),
            key: Box::new([Expr::Payload(Field::IpSaddr)]),
            limit: Some(Box::new(limit)),
            masks: Default::default(),
        });
        let mut rs = ruleset(vec![rule(1, ping)]);
        let got = derived_for(&rs, 1);
        assert_eq!(got[0], "icmp 198.18.0.1 -> 10.77.0.1 type 8 code 0 x 13");
        assert_eq!(got[1], "icmp 198.18.0.2 -> 10.77.0.1 type 8 code 0 x 3");
        assert!(
            got.iter().all(|p| !p.contains(" wait ")),
            "no set, no expiry"
        );
        // A set with a timeout: the first source again once its entry expired.
        rs.tables[0].sets.push(fwnet_nft::Set {
            name: "t".into(),
            key: vec![fwnet_nft::DataType::Ipv4Addr],
            flags: fwnet_nft::SetFlags {
                dynamic: true,
                timeout: true,
                ..Default::default()
            },
            timeout_ms: Some(2000),
            size: None,
            elements: Vec::new(),
            typeof_key: Vec::new(),
        });
        let got = derived_for(&rs, 1);
        assert_eq!(
            got[2],
            "icmp 198.18.0.1 -> 10.77.0.1 type 8 code 0 wait 4500"
        );
    }

    #[test]
    fn routed_established_and_related_packets_ride_on_written_connections() {
        let state = |bits: u64| {
            Stmt::Match(Match::Flags {
                left: Expr::Ct(CtKey::State),
                bits,
                op: CmpOp::Eq,
            })
        };
        let icmp = || cmp(Expr::Payload(Field::IpProtocol), Value::Num(1));
        let both = ct_state::ESTABLISHED | ct_state::RELATED;
        let mut rs = ruleset(vec![
            rule(1, vec![state(both)]),
            rule(2, vec![icmp(), state(ct_state::ESTABLISHED)]),
            rule(3, vec![icmp(), state(both)]),
        ]);
        let chain = &mut rs.tables[0].chains[0];
        chain.name = "FORWARD".into();
        if let Some(b) = chain.base.as_mut() {
            b.hook = Hook::Forward;
        }
        let d = derive(&rs, DEFAULT_CAP);
        let of = |line: u32| -> Vec<String> {
            d.probes
                .iter()
                .filter(|p| p.origin.as_deref() == Some(&format!("r:{line}")))
                .map(|p| p.to_string())
                .collect()
        };
        // The witness is a tcp packet of a written connection; udp too, and an INVALID one
        // to the same place as the state's edge.
        let first = of(1);
        assert_eq!(
            first[0],
            "established tcp 198.18.0.1:20000 -> 198.51.100.10:33434 forward"
        );
        assert!(
            first.iter().any(|p| p.starts_with("established udp ")),
            "{first:?}"
        );
        assert!(
            first
                .iter()
                .any(|p| p.starts_with("tcp ") && p.contains("flags F forward")),
            "{first:?}"
        );
        // An ESTABLISHED icmp packet would need an echo exchange: named, not probed; where
        // RELATED is allowed too, an icmp error quoting a written connection stands for it.
        assert!(of(2).is_empty(), "{:?}", of(2));
        assert!(
            d.uncovered.iter().any(|u| u.starts_with(
                "r:2 (FORWARD: a forwarded ESTABLISHED packet of a protocol other than tcp and udp"
            )),
            "{:?}",
            d.uncovered
        );
        assert!(of(3)[0].starts_with("related 198.18.0.1:"), "{:?}", of(3));
        assert!(of(3)[0].ends_with(" forward"), "{:?}", of(3));
    }

    #[test]
    fn routed_probe_lines_round_trip_and_bad_ones_say_why() {
        for line in [
            "tcp 198.18.0.1:40000 -> 198.51.100.10:80 flags S iif eth1 forward oif eth0",
            "udp 10.77.0.1:40000 -> 198.51.100.10:53 output",
            "icmp 10.77.0.1 -> 198.51.100.10 type 8 code 0 output oif eth2 x 3",
            "established tcp 198.18.0.1:40000 -> 198.51.100.10:443 iif eth1 forward oif eth0",
            "established udp 10.77.0.1:40000 -> 198.51.100.10:53 output x 2",
            "related 198.18.0.1:40000 -> 198.51.100.10:53 forward",
        ] {
            let p = parse_line(line).unwrap_or_else(|e| panic!("{line}: {e}"));
            assert_ne!(p.path, Path::Input, "{line}");
            assert_eq!(parse_line(&p.to_string()), Ok(p.clone()), "{line}");
        }
        for (line, why) in [
            ("tcp 198.18.0.1 -> 80 forward", "needs `-> DST:PORT`"),
            (
                "tcp 198.18.0.1 -> 1.2.3.4:80 oif eth0",
                "`oif` needs `forward` or `output`",
            ),
            (
                "connect 198.18.0.1 -> 1.2.3.4:80 forward",
                "a crafted packet",
            ),
            (
                "udp 10.77.0.1 -> 1.2.3.4:53 iif eth0 output",
                "arrives on no interface",
            ),
            (
                "tcp 198.18.0.1 -> 1.2.3.4:80 forward oif lo",
                "not an interface a probe can leave by",
            ),
            (
                "established icmp 198.18.0.1 -> 1.2.3.4 forward",
                "needs `tcp` or `udp`",
            ),
            (
                "established tcp 198.18.0.1 -> 1.2.3.4:80 flags A forward",
                "unexpected `flags`",
            ),
            (
                "established udp 198.18.0.1 -> 1.2.3.4:53 reply forward",
                "unexpected `reply`",
            ),
        ] {
            let e = parse_line(line).expect_err(line);
            assert!(e.contains(why), "{line}: {e}");
        }
    }

    #[test]
    fn recent_lists_are_filled_then_checked_then_expired() {
        let mut set_rule = tcp_dport(Value::Num(22));
        set_rule.push(Stmt::SetUpdate {
            set: "recent_SSH".into(),
            key: Box::new([Expr::Payload(Field::IpSaddr)]),
            limit: None,
            masks: Default::default(),
        });
        let mut check = tcp_dport(Value::Num(23));
        check.push(Stmt::Match(Match::Lookup {
            key: Box::new([Expr::Payload(Field::IpSaddr)]),
            set: "recent_SSH".into(),
            op: CmpOp::Eq,
        }));
        let mut rs = ruleset(vec![rule(1, set_rule), rule(2, check)]);
        rs.tables[0].sets.push(fwnet_nft::Set {
            name: "recent_SSH".into(),
            key: vec![fwnet_nft::DataType::Ipv4Addr],
            flags: fwnet_nft::SetFlags {
                dynamic: true,
                timeout: true,
                ..Default::default()
            },
            timeout_ms: Some(60_000),
            size: None,
            elements: Vec::new(),
            typeof_key: Vec::new(),
        });
        let probes = derive(&rs, DEFAULT_CAP).probes;
        let text: Vec<String> = probes
            .iter()
            .map(|p| format!("{} {}: {}", p.origin.as_deref().unwrap_or("-"), p, p.why))
            .collect();
        let at = text
            .iter()
            .position(|l| l.contains("puts the source in the list"))
            .unwrap_or_else(|| panic!("no list fill in {text:#?}"));
        let src = |l: &str| {
            let endpoint = l.split_whitespace().nth(2).unwrap_or_default();
            endpoint.split(':').next().map(str::to_owned)
        };
        assert!(text[at].starts_with("r:1 tcp "), "{}", text[at]);
        assert!(text[at + 1].starts_with("r:2 tcp "), "{}", text[at + 1]);
        assert!(
            text[at + 1].ends_with("source in the list"),
            "{}",
            text[at + 1]
        );
        assert!(text[at + 2].contains(" wait 62500"), "{}", text[at + 2]);
        assert_eq!(src(&text[at]), src(&text[at + 1]), "{text:#?}");
        assert_eq!(src(&text[at]), src(&text[at + 2]), "{text:#?}");
        // No rule fills the list: nothing to play.
        rs.tables[0].chains[0].rules.remove(0);
        assert!(derive(&rs, DEFAULT_CAP)
            .probes
            .iter()
            .all(|p| p.wait_ms == 0 && p.why != "source in the list"));
    }

    #[test]
    fn derivation_is_deterministic_and_capped_with_every_rule_first() {
        let rules: Vec<Rule> = (0..50)
            .map(|i| {
                rule(
                    i + 1,
                    tcp_dport(Value::Range(
                        1000 + 10 * u64::from(i),
                        1005 + 10 * u64::from(i),
                    )),
                )
            })
            .collect();
        let rs = ruleset(rules);
        assert_eq!(derive(&rs, 60).probes, derive(&rs, 60).probes);
        let d = derive(&rs, 60);
        assert_eq!(d.probes.len(), 60);
        assert!(d.uncovered.is_empty(), "{:?}", d.uncovered);
        for line in 1..=50 {
            assert!(
                d.probes
                    .iter()
                    .any(|p| p.origin.as_deref() == Some(&format!("r:{line}"))),
                "rule {line} has no probe"
            );
        }
        let small = derive(&rs, 10);
        assert_eq!(small.probes.len(), 10);
        assert!(small.uncovered.is_empty(), "{:?}", small.uncovered);
        assert_eq!(small.capped.len(), 40, "{:?}", small.capped);
        assert_eq!(small.capped[0], "r:11");
    }

    #[test]
    fn main_link_avoids_every_interface_pattern() {
        let any = vec![cmp(
            Expr::Meta(MetaKey::Iifname),
            Value::Iface {
                name: "fwv".into(),
                wildcard: true,
            },
        )];
        assert_eq!(main_link_name(&ruleset(vec![])), "fwv0");
        let named = vec![cmp(
            Expr::Meta(MetaKey::Iifname),
            Value::Iface {
                name: "fwv0".into(),
                wildcard: false,
            },
        )];
        assert_eq!(main_link_name(&ruleset(vec![rule(1, named)])), "fwv1");
        assert_eq!(
            main_link_name(&ruleset(vec![rule(1, any)])),
            "fwv0",
            "no free name: falls back"
        );
    }
}
