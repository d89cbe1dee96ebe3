//! The IR types. Every rule carries the source line it came from, so that kernel errors and
//! `fwnet status` can point back at the user's file.

use serde::{Deserialize, Serialize};
use std::net::IpAddr;

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ruleset {
    pub tables: Vec<Table>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Family {
    Ip,
    Ip6,
    Inet,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Table {
    pub family: Family,
    pub name: String,
    /// Named sets, declared before the chains that use them.
    pub sets: Vec<Set>,
    pub chains: Vec<Chain>,
    /// Conntrack helper objects, declared before the chains whose rules assign them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ct_helpers: Vec<CtHelper>,
}

/// A named conntrack helper object (`ct helper ftp-tcp { type "ftp" protocol tcp; l3proto ip;
/// }`): assigning it (`ct helper set "ftp-tcp"`) makes conntrack run the kernel helper on the
/// connection, which then creates the expectations that make its data connections RELATED.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CtHelper {
    /// The object's name, an nft identifier.
    pub name: String,
    /// The kernel helper's name (`ftp`, `tftp`, `RAS`, `Q.931` ...).
    pub helper: String,
    /// The transport protocol of the connections it helps.
    pub protocol: HelperProto,
    /// The address family it helps (`l3proto ip` / `ip6` / `inet`).
    pub l3proto: Family,
}

/// The transport protocol of a ct helper object.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum HelperProto {
    Tcp,
    Udp,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Chain {
    pub name: String,
    /// `Some` for a base chain (attached to a hook); `None` for a regular chain.
    pub base: Option<BaseChain>,
    pub rules: Vec<Rule>,
    /// In an inet table made by [`crate::inet::merge`], the family whose packets the chain
    /// sees (its rules were translated for that family only); `None` elsewhere. The lowering
    /// takes what depends on the family (the `nat` expression's) from it instead of the
    /// table's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub family: Option<Family>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BaseChain {
    pub kind: ChainKind,
    pub hook: Hook,
    pub priority: i32,
    pub policy: Policy,
    /// The policy's packet and byte counters (`:INPUT DROP [p:b]`), loaded into the kernel's
    /// base-chain counters. nft syntax cannot express them, so `fwnet show` does not print them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub counters: Option<Counters>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ChainKind {
    Filter,
    Nat,
    Route,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Hook {
    Prerouting,
    Input,
    Forward,
    Output,
    Postrouting,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Policy {
    Accept,
    Drop,
}

/// A named set. Key types concatenate left to right (`ipv4_addr . inet_service`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Set {
    pub name: String,
    pub key: Vec<DataType>,
    pub flags: SetFlags,
    /// Default element timeout in milliseconds (`timeout` flag sets).
    pub timeout_ms: Option<u64>,
    /// Maximum number of elements.
    pub size: Option<u32>,
    pub elements: Vec<Value>,
    /// The key as nft's `typeof` names it, one expression per component of `key`, for a key
    /// that no `type` can name (a `ct zone` component: nft has no type name for it); empty
    /// for a key written with `type`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub typeof_key: Vec<Expr>,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SetFlags {
    pub constant: bool,
    pub interval: bool,
    pub timeout: bool,
    pub dynamic: bool,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rule {
    #[serde(deserialize_with = "crate::compact::trimmed_vec")]
    pub stmts: Vec<Stmt>,
    /// nft `comment "..."` (from `-m comment`), at most 128 bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
    /// Where the rule came from in the user's input.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub origin: Option<Origin>,
    /// The other input lines of a rule the optimizer compiled from a run of rules
    /// ([`crate::optimize`]), in order; empty for a rule from one line. Written as runs of
    /// lines (`compact::origin_runs`).
    #[serde(
        default,
        skip_serializing_if = "Vec::is_empty",
        serialize_with = "crate::compact::origin_runs",
        deserialize_with = "crate::compact::origins"
    )]
    pub merged: Vec<Origin>,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Origin {
    /// Shared by the rules of one file.
    #[serde(deserialize_with = "crate::compact::shared_str")]
    pub file: std::sync::Arc<str>,
    pub line: u32,
}

impl Origin {
    /// Line `line` of file `file`, whose name shares its text with the previous origin's when
    /// it is the same file (rules come file by file).
    pub fn new(file: &str, line: u32) -> Origin {
        Origin {
            file: crate::compact::shared(file),
            line,
        }
    }
}

impl std::fmt::Display for Origin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.file, self.line)
    }
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counters {
    pub packets: u64,
    pub bytes: u64,
}

/// One statement of a rule. Every statement is as large as the largest variant, and the IR of
/// 100k rules holds about 600k of them, in import and in apply: 56 bytes
/// (`tests::a_statement_is_56_bytes_and_a_value_24`; 72 and 88 before). So what is rare or
/// large is boxed (a log, a NAT, a connection count, a set update's limit and masks, a masked
/// test's mask), names are boxed `str`s and keys boxed slices, which leave no spare room. A box
/// is written and read as what it holds: the state's encoding does not depend on any of it
/// (`tests::the_boxed_fields_are_encoded_as_before_they_were_boxed`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Stmt {
    Match(Match),
    Counter(Counters),
    Limit(Limit),
    /// `update @set { key [limit ...] }`: add or refresh the element, then evaluate the
    /// per-element statement (a per-key token bucket for hashlimit).
    SetUpdate {
        /// The largest variant (48 bytes): with the statement's tag, a statement's size.
        set: Box<str>,
        key: Box<[Expr]>,
        limit: Option<Box<Limit>>,
        /// A mask for each part of `key` that is an address keyed by its prefix only
        /// (`ip saddr & 255.255.255.0`, hashlimit's `--hashlimit-srcmask 24`); empty when no
        /// part is masked, else as long as `key`.
        #[serde(default, skip_serializing_if = "Masks::is_empty")]
        masks: Masks,
    },
    Log(Box<Log>),
    Reject(Reject),
    Verdict(Verdict),
    /// `key vmap { value : verdict, ... }`: the verdict of the entry whose value holds the key
    /// (a verdict map); a packet whose key is in no entry goes on to the next statement. The
    /// values share no point, so the order of the entries does not matter. Built only by the
    /// optimizer ([`crate::optimize`]), at the end of a rule, from a run of rules that differ
    /// in one value and their verdict.
    Vmap {
        key: Expr,
        map: Vec<VmapEntry>,
    },
    /// `snat`, `dnat`, `masquerade`, `redirect`: final for the packet, like a verdict.
    Nat(Box<Nat>),
    /// `meta mark set ...`, `ct mark set ...` (MARK, CONNMARK): not final, the rule goes on.
    MarkSet(MarkSet),
    /// `add @set { key }`: insert the element if it is absent (an existing one keeps its
    /// timeout). The rule stops when the set is full.
    SetAdd {
        set: Box<str>,
        key: Box<[Expr]>,
    },
    /// `delete @set { key }`: remove the element if present; the rule goes on either way.
    SetDelete {
        set: Box<str>,
        key: Box<[Expr]>,
    },
    /// `notrack`: conntrack leaves the packet alone (its `ct state` becomes `untracked`) unless
    /// it already has a conntrack entry or is already untracked. Not final.
    Notrack,
    /// `ct zone set N`: the packet's new connection goes into conntrack zone N (both
    /// directions); a packet that already has a conntrack entry is left alone. Not final.
    CtZoneSet(u16),
    /// `ct original zone set N` / `ct reply zone set N` (`-j CT --zone-orig`/`--zone-reply`):
    /// as [`Stmt::CtZoneSet`], the zone applying to one direction's tuple only.
    CtDirZoneSet {
        zone: u16,
        reply: bool,
    },
    /// `meta priority set MAJOR:MINOR` (CLASSIFY): the packet's tc class, `major << 16 |
    /// minor`; not final.
    PrioritySet(u32),
    /// `ip ttl set N` / `ip6 hoplimit set N` (TTL, HL `--ttl-set`): writes the header byte,
    /// fixing the IPv4 header checksum; not final. Only `IpTtl` and `Ip6Hoplimit`.
    HeaderSet {
        field: Field,
        value: u8,
    },
    /// `ct helper set "NAME"`: attaches the table's ct helper object NAME to the packet's new
    /// connection (unconfirmed, not a template, of the helper's protocol, without a helper
    /// yet); any other packet is left alone. Not final.
    CtHelperSet(String),
    /// `tcp option maxseg size set N` / `... set rt mtu` (TCPMSS): rewrites the value of the
    /// TCP header's MSS option, fixing the TCP checksum. The kernel only ever lowers it (a
    /// value at or above the packet's own is left alone), and a packet without the option is
    /// left alone (none is added). Not final.
    MaxsegSet(Maxseg),
    /// `ip dscp set N` / `ip6 dscp set N` (DSCP): writes the 6 DSCP bits of the IPv4 TOS byte
    /// or IPv6 traffic class, keeping the ECN bits, and fixes the IPv4 header checksum; not
    /// final. `field` is [`Field::IpDscp`] or [`Field::Ip6Dscp`], `value` at most 63.
    DscpSet {
        field: Field,
        value: u8,
    },
    /// `ct count [over] N` or `add @set { KEY [& MASK] ct count [over] N }` (connlimit): adds
    /// the packet's connection to a list of connections and matches on how many of them are
    /// still alive (the kernel's nf_conncount). Not final.
    CtCount(Box<CtCount>),
    /// `synproxy [mss N] [wscale N] [timestamp] [sack-perm]` (SYNPROXY): drops a packet with a
    /// bad TCP checksum or options; answers any TCP packet with SYN set with a SYN cookie and
    /// consumes it; checks any other one with ACK set for a valid cookie, consumes it and
    /// opens the connection to the server when it has one, drops it when not (measured on
    /// 6.18: unlike xt_SYNPROXY, which takes only a SYN and an ACK without the other three of
    /// SYN, ACK, FIN and RST); any other TCP packet goes on with the rule; a non-TCP packet
    /// ends the rule. Only in input and forward chains; needs conntrack.
    Synproxy(Synproxy),
    /// `tproxy to [ADDR][:PORT]` (TPROXY): looks for a transparent socket for the packet (an
    /// established one, else for TCP TIME_WAIT or none a listener on ADDR:PORT, the packet's
    /// own destination address (or the receiving device's primary address) and port when
    /// absent), gives the packet to it and goes on; ends the rule (does not match) when there
    /// is none, when the socket is not transparent, or for a packet neither TCP nor UDP. Only
    /// in prerouting chains; in a chain of an inet table made by [`crate::inet`] it says its
    /// family (`tproxy ip to`).
    Tproxy(Tproxy),
}

/// A [`Stmt::Tproxy`]: where to look for the listener, the packet's own when `None`. At least
/// one is given; the address is of the chain's family.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tproxy {
    #[serde(default)]
    pub addr: Option<IpAddr>,
    #[serde(default)]
    pub port: Option<u16>,
}

/// The options of a [`Stmt::Synproxy`]: what the SYN/ACK cookie may announce.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Synproxy {
    /// `mss N`: the MSS announced to the client; `None` announces none.
    #[serde(default)]
    pub mss: Option<u16>,
    /// `wscale N` (0 to 14): the window scale announced, when the client's SYN has one
    /// (and only with `timestamp`).
    #[serde(default)]
    pub wscale: Option<u8>,
    /// `timestamp`: echo the client's timestamp; the cookie encodes the options in it.
    #[serde(default)]
    pub timestamp: bool,
    /// `sack-perm`: allow SACK when the client's SYN does (only with `timestamp`).
    #[serde(default)]
    pub sack_perm: bool,
}

/// A [`Stmt::CtCount`]: one list of connections for the rule, or one per key of a dynamic set.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CtCount {
    /// The limit `N`.
    pub limit: u32,
    /// `over`: matches when more than `limit` connections are counted; otherwise when at
    /// most `limit` are.
    pub over: bool,
    /// `None`: one count for every packet that reaches the statement.
    #[serde(default)]
    pub per_key: Option<CtCountKey>,
}

/// The key of a per-key [`CtCount`]: `add @set { [zone .] key & mask ... }`. The set must be a
/// `dynamic` set of the key's type; when it is full, a packet whose key is not in it yet ends
/// the rule (the statement does not match).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CtCountKey {
    pub set: String,
    /// The conntrack zone, first in the key; `None` for a key of the address alone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub zone: Option<ZoneKey>,
    /// An address field: `ip saddr`, `ip daddr`, `ip6 saddr`, `ip6 daddr`; `None` for a key of
    /// the zone alone.
    pub key: Option<Field>,
    /// `& MASK` on the address, of the key's family; `None` for the whole address.
    #[serde(default)]
    pub mask: Option<IpAddr>,
}

/// The zone part of a [`CtCountKey`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ZoneKey {
    /// `ct zone`: the zone of the packet's conntrack entry. A packet without one (untracked,
    /// invalid) ends the rule there.
    Conntrack,
    /// Zone 0 for a packet without a conntrack entry, as the kernel's default zone, written as
    /// this 16-bit header field `& 0` (`ip length & 0`): nft cannot write a constant in a
    /// concatenation.
    Default(Field),
}

/// The new MSS of a [`Stmt::MaxsegSet`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Maxseg {
    /// A constant.
    Size(u16),
    /// `rt mtu` (NFT_RT_TCPMSS): the smaller of the route's and the reverse route's MTU, less
    /// the IP and TCP headers (40 bytes for IPv4, 60 for IPv6); needs a route, so only in
    /// forward, output and postrouting.
    RtMtu,
}

/// `dest = (src & mask) ^ xor` on a 32-bit mark, as MARK and CONNMARK compute it. When `src`
/// is `dest` and `mask` is 0 the new mark is the constant `xor` (`meta mark set 0x1`);
/// otherwise `src` is loaded first, so a `ct mark` source ends the rule for a packet without
/// a connection, before anything is stored.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MarkSet {
    pub dest: MarkKey,
    pub src: MarkKey,
    pub mask: u32,
    pub xor: u32,
}

/// Which mark: the packet's (`meta mark`) or its connection's (`ct mark`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MarkKey {
    Meta,
    Ct,
}

/// A set update's address masks ([`Stmt::SetUpdate`]), one per part of its key, or none: read
/// as a slice, empty when no part is masked. One pointer wide, not a boxed slice's two, so that
/// the largest statement stays within a statement's 56 bytes; nearly every update has none.
/// Written and read as the slice it holds, as the boxed slice was.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Masks(
    #[allow(
        clippy::box_collection,
        reason = "one pointer in the statement, for the rare update with masks"
    )]
    Option<Box<Vec<Option<IpAddr>>>>,
);

impl Masks {
    pub fn is_empty(&self) -> bool {
        self.0.is_none()
    }
}

impl std::ops::Deref for Masks {
    type Target = [Option<IpAddr>];
    fn deref(&self) -> &[Option<IpAddr>] {
        self.0.as_deref().map_or(&[], Vec::as_slice)
    }
}

impl From<Vec<Option<IpAddr>>> for Masks {
    fn from(masks: Vec<Option<IpAddr>>) -> Masks {
        Masks((!masks.is_empty()).then(|| Box::new(masks)))
    }
}

impl Serialize for Masks {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        (**self).serialize(s)
    }
}

impl<'de> Deserialize<'de> for Masks {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Masks, D::Error> {
        Vec::deserialize(d).map(Masks::from)
    }
}

/// A test on packet or connection state.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Match {
    /// `left == right`, `left != right`; `right` may be a prefix, a range or an anonymous set.
    Cmp { left: Expr, op: CmpOp, right: Value },
    /// `left & mask == value` / `!=`: dotted netmasks and `tcp flags & (syn|ack) == syn`. The
    /// mask is boxed: two values in place made every test 56 bytes instead of 40.
    Masked {
        left: Expr,
        mask: Box<Value>,
        op: CmpOp,
        value: Value,
    },
    /// `ct state established,related`: any of the bits set (`op` Eq) or none of them (Ne).
    Flags { left: Expr, bits: u64, op: CmpOp },
    /// `left < right` / `left > right`, unsigned, on a header field (`ip ttl < 5`).
    Order { left: Expr, op: OrderOp, right: u64 },
    /// `key @set` / `key != @set`: whether the key (concatenated left to right) is an element
    /// of a named set; an element whose timeout has passed is not.
    Lookup {
        key: Box<[Expr]>,
        set: Box<str>,
        op: CmpOp,
    },
    /// `numgen inc mod N V` / `numgen random mod N < V`: a number from the rule's own counter
    /// (`inc`: 0, 1, ... N-1, 0 ..., advanced by every packet that reaches the test) or a
    /// uniform random number in `0..N`, tested against `value`.
    Numgen {
        kind: NumgenKind,
        modulus: u32,
        op: NumgenOp,
        value: u32,
    },
    /// A test on the clock (`-m time`): `meta time` or `meta hour`.
    Time(TimeMatch),
}

impl Match {
    /// What the test loads from the packet or its connection: the left side of a comparison,
    /// the key of a lookup; nothing for `numgen` and the clock.
    pub fn loads(&self) -> &[Expr] {
        match self {
            Match::Cmp { left, .. }
            | Match::Masked { left, .. }
            | Match::Flags { left, .. }
            | Match::Order { left, .. } => std::slice::from_ref(left),
            Match::Lookup { key, .. } => key,
            Match::Numgen { .. } | Match::Time(_) => &[],
        }
    }

    /// [`Match::loads`], to rewrite.
    pub fn loads_mut(&mut self) -> &mut [Expr] {
        match self {
            Match::Cmp { left, .. }
            | Match::Masked { left, .. }
            | Match::Flags { left, .. }
            | Match::Order { left, .. } => std::slice::from_mut(left),
            Match::Lookup { key, .. } => key,
            Match::Numgen { .. } | Match::Time(_) => &mut [],
        }
    }
}

/// A test on the time a packet is seen, as nft's `meta time` and `meta hour` read the kernel
/// clock (nft_meta.c), both in UTC. (`meta day` is not here: it reads the weekday in the
/// kernel's timezone, `sys_tz`, which `-m time` does not by default.)
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TimeMatch {
    /// `meta time >= SECS`: at or after the start of second SECS since the epoch (UTC).
    Since(u64),
    /// `meta time < SECS`: before the start of second SECS since the epoch.
    Before(u64),
    /// `meta hour "FROM"-"TO"` (`op` Eq) or `meta hour != "FROM"-"TO"` (Ne): the seconds since
    /// midnight UTC, in `from..=to` or not; `from <= to < 86400`.
    Hour { op: CmpOp, from: u32, to: u32 },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum NumgenKind {
    Inc,
    Random,
}

/// The test on a `numgen` value: equal, not equal, or less than.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum NumgenOp {
    Eq,
    Ne,
    Lt,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OrderOp {
    Lt,
    Gt,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CmpOp {
    Eq,
    Ne,
}

/// The left-hand side of a match: something loaded from the packet or its connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Expr {
    Meta(MetaKey),
    Payload(Field),
    Ct(CtKey),
    /// `fib daddr [. iif] type`: the route type of an address (RTN_*), as `-m addrtype`.
    Fib(Fib),
    /// An IPv6 extension header field, whether a header is present, or whether a TCP option
    /// is present (`exthdr`).
    Exthdr(Exthdr),
    /// `rt ipsec`: whether the packet's route is an IPsec (xfrm) route; needs a route, so only
    /// after routing (forward, output, postrouting).
    Rt(RtKey),
    /// `fib saddr [. mark] [. iif] oif exists`: whether the reverse route lookup of the source
    /// finds a route (through the input device with `iif`), as nft_fib's `present` result.
    FibOif(FibOif),
    /// `@nh,BITS,32`: the 4 bytes at this byte offset from the network header, big-endian
    /// ([`DataType::Word32`]), as `-m u32` reads them. A packet too short to hold them does not
    /// match any test on them, `!=` included.
    NhWord(u16),
}

/// The inputs of a `fib saddr ... oif` lookup: the packet mark (`. mark`) and whether the route
/// must go through the input device (`. iif`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct FibOif {
    pub mark: bool,
    pub iif: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RtKey {
    Ipsec,
}

/// What an `exthdr` expression loads, in nft's words.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Exthdr {
    /// A one-byte field of an IPv6 extension header (`rt type`, `hbh hdrlength` ...). A packet
    /// without the header does not match any test on it, `!=` included.
    Field(ExthdrField),
    /// `exthdr rt exists` / `missing`: [`DataType::Boolean`], 1 when the packet has the header.
    Present(Ipv6Ext),
    /// `tcp option N exists` / `missing`: [`DataType::Boolean`], 1 when the TCP header holds
    /// an option of kind N.
    TcpOption(u8),
    /// `tcp option maxseg size`: the 16-bit value of the MSS option (kind 2, length 4), as
    /// [`DataType::Integer16`]. A packet without the option does not match any test on it,
    /// `!=` included.
    MaxsegSize,
}

/// IPv6 extension headers nft names (the header number is [`Ipv6Ext::number`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Ipv6Ext {
    Hbh,
    Rt,
    Frag,
    Dst,
}

impl Ipv6Ext {
    /// The Next Header value of the extension header (NEXTHDR_*).
    pub fn number(self) -> u8 {
        match self {
            Ipv6Ext::Hbh => 0,
            Ipv6Ext::Rt => 43,
            Ipv6Ext::Frag => 44,
            Ipv6Ext::Dst => 60,
        }
    }
}

/// One-byte IPv6 extension header fields, named as nft names them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ExthdrField {
    /// `hbh hdrlength`: the length field, in 8-byte units not counting the first 8.
    HbhHdrlength,
    /// `rt hdrlength`, same units.
    RtHdrlength,
    /// `rt type`: the routing type.
    RtType,
    /// `rt seg-left`: segments left.
    RtSegLeft,
    /// `dst hdrlength`.
    DstHdrlength,
    /// `frag reserved`: the byte after the next-header byte.
    FragReserved,
    /// `frag reserved2`: the two bits between the offset and the M flag.
    FragReserved2,
    /// `frag frag-off`: the 13-bit fragment offset, in 8-byte units.
    FragOff,
    /// `frag more-fragments`: the M flag, 0 or 1.
    FragMoreFragments,
    /// `frag id`: the 32-bit identification.
    FragId,
}

impl ExthdrField {
    /// The header it is in and its byte offset there.
    pub fn location(self) -> (Ipv6Ext, u32) {
        match self {
            ExthdrField::HbhHdrlength => (Ipv6Ext::Hbh, 1),
            ExthdrField::RtHdrlength => (Ipv6Ext::Rt, 1),
            ExthdrField::RtType => (Ipv6Ext::Rt, 2),
            ExthdrField::RtSegLeft => (Ipv6Ext::Rt, 3),
            ExthdrField::DstHdrlength => (Ipv6Ext::Dst, 1),
            ExthdrField::FragReserved => (Ipv6Ext::Frag, 1),
            ExthdrField::FragReserved2 | ExthdrField::FragMoreFragments => (Ipv6Ext::Frag, 3),
            ExthdrField::FragOff => (Ipv6Ext::Frag, 2),
            ExthdrField::FragId => (Ipv6Ext::Frag, 4),
        }
    }
}

/// The inputs of a `fib ... type` lookup.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Fib {
    pub addr: FibAddr,
    /// Restrict the lookup to the packet's input or output interface (`. iif`, `. oif`).
    #[serde(default)]
    pub iface: Option<FibIface>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FibAddr {
    Saddr,
    Daddr,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FibIface {
    Iif,
    Oif,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MetaKey {
    Iifname,
    Oifname,
    L4proto,
    Nfproto,
    Mark,
    /// The owning socket's file fsuid / fsgid (output path only).
    Skuid,
    Skgid,
    /// PACKET_HOST, PACKET_BROADCAST ... (looped-back packets as the kernel classifies them).
    Pkttype,
    /// Whether the packet has a security path, i.e. was decapsulated by IPsec (nft
    /// `meta ipsec`, NFT_META_SECPATH).
    Secpath,
    /// `meta day`: the weekday when the packet is seen, 0 Sunday to 6 Saturday, in the
    /// kernel's timezone (`sys_tz`, nft_meta.c `nft_meta_weekday`), not necessarily UTC.
    Day,
    /// `meta length`: the packet's length from the network header on (`skb->len` at the IP
    /// hooks), [`DataType::HostInteger32`].
    Len,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CtKey {
    State,
    Status,
    Mark,
    /// `ct protocol`: the connection's layer-4 protocol number.
    Protocol,
    /// `ct original proto-src` ...: a port of the original or reply tuple (the 16 bits the
    /// kernel keeps there for every protocol, the id for icmp). nft needs the protocol known
    /// from an earlier test of the rule to read a value for these.
    OrigProtoSrc,
    OrigProtoDst,
    ReplProtoSrc,
    ReplProtoDst,
    /// `ct original ip saddr` ...: an address of the original or reply tuple.
    OrigIpSaddr,
    OrigIpDaddr,
    ReplIpSaddr,
    ReplIpDaddr,
    OrigIp6Saddr,
    OrigIp6Daddr,
    ReplIp6Saddr,
    ReplIp6Daddr,
    /// `ct direction`: IP_CT_DIR_ORIGINAL 0 or IP_CT_DIR_REPLY 1 for this packet.
    Direction,
    /// `ct zone`: the connection's conntrack zone id ([`DataType::CtZone`]).
    Zone,
    /// `ct expiration`: the connection's remaining lifetime in milliseconds
    /// ([`DataType::TimeMs`]).
    Expiration,
}

/// Packet header fields, named as nft names them (`ip saddr` is `IpSaddr`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Field {
    IpProtocol,
    IpSaddr,
    IpDaddr,
    /// Flags and fragment offset (2 bytes at 6); `& 0x1fff` is the offset.
    IpFragOff,
    Ip6Nexthdr,
    Ip6Saddr,
    Ip6Daddr,
    TcpSport,
    TcpDport,
    TcpFlags,
    UdpSport,
    UdpDport,
    /// `th sport`, `th dport`: the ports of a transport header read without a test of its
    /// protocol (nft adds none for them). Only in a chain that packets of one protocol with
    /// ports reach, where that test would always pass ([`crate::dispatch`]).
    ThSport,
    ThDport,
    IcmpType,
    IcmpCode,
    Icmpv6Type,
    Icmpv6Code,
    /// `ip ttl`, `ip6 hoplimit`: one byte.
    IpTtl,
    Ip6Hoplimit,
    /// `ip length` (total length), `ip6 length` (payload length): 16 bits.
    IpLength,
    Ip6Length,
    /// `ether saddr`: the link-layer source address (6 bytes at 6). nft tests `meta iiftype
    /// ether` first, so it matches only on an Ethernet input device.
    EtherSaddr,
    /// `ip dscp`: the top 6 bits of the IPv4 TOS byte (byte 1), as a number 0-63.
    IpDscp,
    /// `ip6 dscp`: the top 6 bits of the IPv6 traffic class (bits 4-9 of the header), 0-63.
    Ip6Dscp,
    /// `ip ecn`: the low 2 bits of the IPv4 TOS byte, 0-3.
    IpEcn,
    /// `ip6 ecn`: the low 2 bits of the IPv6 traffic class, 0-3.
    Ip6Ecn,
    /// `@nh,8,8`: the whole IPv4 TOS byte, raw (nft has no `ip tos`); IPv4 tables only.
    IpTos,
}

/// How a value is interpreted and printed; also a set's key type.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DataType {
    Ifname,
    Ipv4Addr,
    Ipv6Addr,
    InetProto,
    InetService,
    TcpFlag,
    IcmpType,
    IcmpCode,
    Icmpv6Type,
    Icmpv6Code,
    CtState,
    CtStatus,
    Mark,
    NfProto,
    /// RTN_* route types (`fib_addrtype`): unspec, unicast, local, broadcast ...
    FibAddrtype,
    /// User and group ids, host-order 32-bit, printed in decimal.
    Uid,
    Gid,
    /// A plain 16-bit big-endian number (`ip frag-off`), printed in decimal.
    Integer16,
    /// A plain 8-bit number (`ip ttl`), printed in decimal.
    Integer8,
    /// PACKET_* packet types (`pkt_type`): host, broadcast, multicast, other.
    PktType,
    /// One byte, 1 or 0, printed `exists` / `missing` (`exthdr rt exists`).
    Boolean,
    /// A plain 32-bit big-endian number (`frag id`), printed in decimal.
    Integer32,
    /// A 48-bit MAC address, printed `aa:bb:cc:dd:ee:ff`.
    EtherAddr,
    /// `ct direction`: one byte, `original` (0) or `reply` (1).
    CtDir,
    /// nft's `day` type (TYPE_TIME_DAY): one byte, 0 Sunday to 6 Saturday, printed as a number.
    Day,
    /// A raw 32-bit big-endian word (`@nh,BITS,32`), printed in hex.
    Word32,
    /// A host-order 32-bit number (`meta length`), printed in decimal.
    HostInteger32,
    /// `ct zone`: a host-order 16-bit number, printed in decimal. nft has no type name for it:
    /// a set keyed on it is declared with `typeof` ([`Set::typeof_key`]).
    CtZone,
    /// nft's `time` type as `ct expiration` loads it: host-order 32-bit milliseconds, printed
    /// `5s`, `20s999ms` (nft itself lists whole seconds, dropping the rest).
    TimeMs,
}

/// A constant on the right-hand side of a match, or a set element. The order is only a
/// canonical one (lists compared as sets), not the kernel's. 24 bytes (an address and a prefix
/// length in place; names and lists boxed, without spare room): a test holds one, and a set
/// literal one per element.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Value {
    /// An interface name; `wildcard` is iptables' trailing `+` (nft `"eth*"`).
    Iface {
        name: Box<str>,
        wildcard: bool,
    },
    Addr(IpAddr),
    /// Address with prefix length; host bits are zero.
    Prefix {
        addr: IpAddr,
        len: u8,
    },
    Num(u64),
    Range(u64, u64),
    /// An anonymous set `{ a, b-c }`.
    Set(Box<[Value]>),
    /// An inclusive address range `a-b` (`-m iprange`), both of one family, `a <= b`. Both
    /// ends are boxed, for a test few rulesets use: in place they made every value 40 bytes.
    AddrRange(Box<IpAddr>, Box<IpAddr>),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Limit {
    pub rate: u64,
    pub unit: TimeUnit,
    pub burst: u32,
    /// `limit rate over`: matches when the rate is exceeded.
    pub over: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TimeUnit {
    Second,
    Minute,
    Hour,
    Day,
    Week,
}

impl TimeUnit {
    pub fn seconds(self) -> u64 {
        match self {
            TimeUnit::Second => 1,
            TimeUnit::Minute => 60,
            TimeUnit::Hour => 3600,
            TimeUnit::Day => 86400,
            TimeUnit::Week => 604800,
        }
    }
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Log {
    pub prefix: Option<String>,
    /// syslog level 0 (emerg) to 7 (debug); `None` is the kernel default, warning (4).
    pub level: Option<u8>,
    pub flags: LogFlags,
    /// `log group N`: to nfnetlink_log group N (NFLOG) instead of the kernel log; level and
    /// flags are then unused.
    #[serde(default)]
    pub group: Option<u16>,
    /// `snaplen N`: copy at most N bytes of the packet to the group.
    #[serde(default)]
    pub snaplen: Option<u32>,
    /// `queue-threshold N`: packets batched in the group before they are sent.
    #[serde(default)]
    pub queue_threshold: Option<u16>,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogFlags {
    pub tcp_sequence: bool,
    pub tcp_options: bool,
    pub ip_options: bool,
    pub uid: bool,
    pub macdecode: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Reject {
    /// ICMP destination unreachable with this code (IPv4 tables).
    Icmp(u8),
    /// ICMPv6 destination unreachable with this code (IPv6 tables).
    Icmpv6(u8),
    /// Family-independent unreachable code (inet tables): nft `icmpx`.
    Icmpx(u8),
    TcpReset,
}

/// A NAT statement. Only `Snat` and `Dnat` carry an address; a port range needs a transport
/// protocol match earlier in the rule (nft refuses the rule otherwise).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Nat {
    pub kind: NatKind,
    /// The new address or addresses; `None` keeps the address (`dnat to :8080`).
    #[serde(default)]
    pub addr: Option<NatAddr>,
    /// The new port range, inclusive; equal ends for one port.
    #[serde(default)]
    pub ports: Option<(u16, u16)>,
    #[serde(default)]
    pub flags: NatFlags,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NatKind {
    Snat,
    Dnat,
    Masquerade,
    Redirect,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NatAddr {
    /// An inclusive address range; equal ends for one address.
    Range(IpAddr, IpAddr),
    /// `snat prefix to 10.0.0.0/24`: keep the host bits, replace the prefix (NETMAP).
    Prefix { addr: IpAddr, len: u8 },
}

/// NAT flags: `random`, `fully-random`, `persistent`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NatFlags {
    pub random: bool,
    pub fully_random: bool,
    pub persistent: bool,
}

impl Stmt {
    /// The verdicts this statement may give: a verdict's own, or each entry's of a verdict
    /// map; none for other statements.
    pub fn verdicts(&self) -> impl Iterator<Item = &Verdict> {
        let (one, map) = match self {
            Stmt::Verdict(v) => (Some(v), &[][..]),
            Stmt::Vmap { map, .. } => (None, map.as_slice()),
            _ => (None, &[][..]),
        };
        one.into_iter().chain(map.iter().map(|e| &e.verdict))
    }

    /// [`Stmt::verdicts`], to change (the inet merge renames chains).
    pub fn verdicts_mut(&mut self) -> impl Iterator<Item = &mut Verdict> {
        let (one, map) = match self {
            Stmt::Verdict(v) => (Some(v), &mut [][..]),
            Stmt::Vmap { map, .. } => (None, map.as_mut_slice()),
            _ => (None, &mut [][..]),
        };
        one.into_iter()
            .chain(map.iter_mut().map(|e| &mut e.verdict))
    }
}

/// One entry of a [`Stmt::Vmap`]: an address, prefix, port or port range (as a [`Value`] of
/// the key's type, not a set) and the verdict for it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct VmapEntry {
    pub value: Value,
    pub verdict: Verdict,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    Accept,
    Drop,
    Return,
    Jump(String),
    Goto(String),
}

impl Expr {
    /// The type of what this expression loads.
    pub fn datatype(self) -> DataType {
        match self {
            Expr::Meta(MetaKey::Iifname | MetaKey::Oifname) => DataType::Ifname,
            Expr::Meta(MetaKey::L4proto) => DataType::InetProto,
            Expr::Meta(MetaKey::Nfproto) => DataType::NfProto,
            Expr::Meta(MetaKey::Day) => DataType::Day,
            Expr::Meta(MetaKey::Mark) | Expr::Ct(CtKey::Mark) => DataType::Mark,
            Expr::Ct(CtKey::State) => DataType::CtState,
            Expr::Ct(CtKey::Status) => DataType::CtStatus,
            Expr::Ct(CtKey::Protocol) => DataType::InetProto,
            Expr::Ct(CtKey::Direction) => DataType::CtDir,
            Expr::Ct(CtKey::Zone) => DataType::CtZone,
            Expr::Ct(CtKey::Expiration) => DataType::TimeMs,
            Expr::Ct(
                CtKey::OrigProtoSrc
                | CtKey::OrigProtoDst
                | CtKey::ReplProtoSrc
                | CtKey::ReplProtoDst,
            ) => DataType::InetService,
            Expr::Ct(
                CtKey::OrigIpSaddr | CtKey::OrigIpDaddr | CtKey::ReplIpSaddr | CtKey::ReplIpDaddr,
            ) => DataType::Ipv4Addr,
            Expr::Ct(
                CtKey::OrigIp6Saddr
                | CtKey::OrigIp6Daddr
                | CtKey::ReplIp6Saddr
                | CtKey::ReplIp6Daddr,
            ) => DataType::Ipv6Addr,
            Expr::Fib(_) => DataType::FibAddrtype,
            Expr::Meta(MetaKey::Skuid) => DataType::Uid,
            Expr::Meta(MetaKey::Skgid) => DataType::Gid,
            Expr::Meta(MetaKey::Pkttype) => DataType::PktType,
            Expr::Exthdr(Exthdr::Field(ExthdrField::FragId)) => DataType::Integer32,
            Expr::Exthdr(Exthdr::Field(ExthdrField::FragOff)) => DataType::Integer16,
            Expr::Exthdr(Exthdr::Field(_)) => DataType::Integer8,
            Expr::Exthdr(Exthdr::MaxsegSize) => DataType::Integer16,
            Expr::Exthdr(Exthdr::Present(_) | Exthdr::TcpOption(_)) => DataType::Boolean,
            Expr::Meta(MetaKey::Secpath) | Expr::Rt(RtKey::Ipsec) | Expr::FibOif(_) => {
                DataType::Boolean
            }
            Expr::NhWord(_) => DataType::Word32,
            Expr::Meta(MetaKey::Len) => DataType::HostInteger32,
            Expr::Payload(f) => match f {
                Field::IpProtocol | Field::Ip6Nexthdr => DataType::InetProto,
                Field::IpSaddr | Field::IpDaddr => DataType::Ipv4Addr,
                Field::IpFragOff | Field::IpLength | Field::Ip6Length => DataType::Integer16,
                Field::IpTtl | Field::Ip6Hoplimit => DataType::Integer8,
                Field::Ip6Saddr | Field::Ip6Daddr => DataType::Ipv6Addr,
                Field::TcpSport
                | Field::TcpDport
                | Field::UdpSport
                | Field::UdpDport
                | Field::ThSport
                | Field::ThDport => DataType::InetService,
                Field::TcpFlags => DataType::TcpFlag,
                Field::IcmpType => DataType::IcmpType,
                Field::IcmpCode => DataType::IcmpCode,
                Field::Icmpv6Type => DataType::Icmpv6Type,
                Field::Icmpv6Code => DataType::Icmpv6Code,
                Field::EtherSaddr => DataType::EtherAddr,
                Field::IpDscp | Field::Ip6Dscp | Field::IpEcn | Field::Ip6Ecn | Field::IpTos => {
                    DataType::Integer8
                }
            },
        }
    }
}

/// Conntrack state bits as the kernel's `ct state` holds them (NF_CT_STATE_BIT).
pub mod ct_state {
    pub const INVALID: u64 = 1;
    pub const ESTABLISHED: u64 = 2;
    pub const RELATED: u64 = 4;
    pub const NEW: u64 = 8;
    pub const UNTRACKED: u64 = 64;
}

/// TCP flag bits in the header byte at offset 13.
pub mod tcp_flag {
    pub const FIN: u64 = 0x01;
    pub const SYN: u64 = 0x02;
    pub const RST: u64 = 0x04;
    pub const PSH: u64 = 0x08;
    pub const ACK: u64 = 0x10;
    pub const URG: u64 = 0x20;
    pub const ECN: u64 = 0x40;
    pub const CWR: u64 = 0x80;
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every statement of a ruleset is as large as the largest variant: the IR of 100k rules
    /// holds about 600k of them, in import and in apply, and a set literal holds a value per
    /// element.
    #[test]
    #[cfg(target_pointer_width = "64")]
    fn a_statement_is_56_bytes_and_a_value_24() {
        assert_eq!(std::mem::size_of::<Value>(), 24);
        assert_eq!(std::mem::size_of::<Match>(), 40);
        assert_eq!(std::mem::size_of::<Masks>(), 8);
        assert_eq!(std::mem::size_of::<Stmt>(), 56);
    }

    /// `packed` and JSON bytes of `now` are those of `before`, and both read back as `now`.
    fn same<B, T>(before: &B, now: &T)
    where
        B: Serialize,
        T: Serialize + serde::de::DeserializeOwned + PartialEq + std::fmt::Debug,
    {
        let (mut old, mut new) = (Vec::new(), Vec::new());
        crate::packed::write(&mut old, before).unwrap();
        crate::packed::write(&mut new, now).unwrap();
        assert_eq!(new, old, "{now:?}");
        assert_eq!(&crate::packed::read::<T>(&old).unwrap(), now);
        let json = serde_json::to_string(before).unwrap();
        assert_eq!(serde_json::to_string(now).unwrap(), json);
        assert_eq!(&serde_json::from_str::<T>(&json).unwrap(), now);
    }

    /// The boxes and boxed slices that made a statement 56 bytes and a value 24 are written as
    /// the values they hold: a state written before them (each field as it was declared then,
    /// below) has the same bytes, packed or JSON, and reads back the same.
    #[test]
    fn the_boxed_fields_are_encoded_as_before_they_were_boxed() {
        #[derive(Serialize)]
        #[serde(rename_all = "snake_case")]
        enum ValueBefore {
            Iface { name: String, wildcard: bool },
            Set(Vec<Value>),
            AddrRange(IpAddr, IpAddr),
        }
        #[derive(Serialize)]
        #[serde(rename_all = "snake_case")]
        enum MatchBefore {
            Masked {
                left: Expr,
                mask: Value,
                op: CmpOp,
                value: Value,
            },
            Lookup {
                key: Vec<Expr>,
                set: String,
                op: CmpOp,
            },
        }
        #[derive(Serialize)]
        #[serde(rename_all = "snake_case")]
        enum StmtBefore {
            SetUpdate {
                set: String,
                key: Vec<Expr>,
                limit: Option<Limit>,
                #[serde(skip_serializing_if = "Vec::is_empty")]
                masks: Vec<Option<IpAddr>>,
            },
            Log(Log),
            Nat(Nat),
            SetAdd {
                set: String,
                key: Vec<Expr>,
            },
            SetDelete {
                set: String,
                key: Vec<Expr>,
            },
            CtCount(CtCount),
        }
        let addr = |a: &str| -> IpAddr { a.parse().unwrap() };
        let (lo, hi) = (addr("10.0.0.5"), addr("10.0.0.9"));
        same(
            &ValueBefore::AddrRange(lo, hi),
            &Value::AddrRange(Box::new(lo), Box::new(hi)),
        );
        same(
            &ValueBefore::Iface {
                name: "eth0".into(),
                wildcard: true,
            },
            &Value::Iface {
                name: "eth0".into(),
                wildcard: true,
            },
        );
        let elements = vec![Value::Num(22), Value::Range(80, 90)];
        same(
            &ValueBefore::Set(elements.clone()),
            &Value::Set(elements.into()),
        );
        let mask = Value::Addr(addr("255.255.0.255"));
        same(
            &MatchBefore::Masked {
                left: Expr::Payload(Field::IpSaddr),
                mask: mask.clone(),
                op: CmpOp::Eq,
                value: Value::Addr(addr("10.1.0.7")),
            },
            &Match::Masked {
                left: Expr::Payload(Field::IpSaddr),
                mask: Box::new(mask),
                op: CmpOp::Eq,
                value: Value::Addr(addr("10.1.0.7")),
            },
        );
        let key = vec![
            Expr::Payload(Field::IpSaddr),
            Expr::Payload(Field::TcpDport),
        ];
        same(
            &MatchBefore::Lookup {
                key: key.clone(),
                set: "allowed".into(),
                op: CmpOp::Ne,
            },
            &Match::Lookup {
                key: key.as_slice().into(),
                set: "allowed".into(),
                op: CmpOp::Ne,
            },
        );
        let limit = Limit {
            rate: 3,
            unit: TimeUnit::Minute,
            burst: 5,
            over: false,
        };
        // Without masks (nearly every update) and with them.
        for masks in [Vec::new(), vec![Some(addr("255.255.255.0")), None]] {
            same(
                &StmtBefore::SetUpdate {
                    set: "hl_ssh".into(),
                    key: key.clone(),
                    limit: Some(limit),
                    masks: masks.clone(),
                },
                &Stmt::SetUpdate {
                    set: "hl_ssh".into(),
                    key: key.as_slice().into(),
                    limit: Some(Box::new(limit)),
                    masks: masks.into(),
                },
            );
        }
        for (before, now) in [
            (
                StmtBefore::SetAdd {
                    set: "seen".into(),
                    key: key.clone(),
                },
                Stmt::SetAdd {
                    set: "seen".into(),
                    key: key.as_slice().into(),
                },
            ),
            (
                StmtBefore::SetDelete {
                    set: "seen".into(),
                    key: key.clone(),
                },
                Stmt::SetDelete {
                    set: "seen".into(),
                    key: key.as_slice().into(),
                },
            ),
        ] {
            same(&before, &now);
        }
        let log = Log {
            prefix: Some("dropped: ".into()),
            ..Log::default()
        };
        same(&StmtBefore::Log(log.clone()), &Stmt::Log(Box::new(log)));
        let nat = Nat {
            kind: NatKind::Dnat,
            addr: Some(NatAddr::Range(lo, hi)),
            ports: Some((8080, 8080)),
            flags: NatFlags::default(),
        };
        same(&StmtBefore::Nat(nat.clone()), &Stmt::Nat(Box::new(nat)));
        let count = CtCount {
            limit: 4,
            over: true,
            per_key: Some(CtCountKey {
                set: "connlimit".into(),
                zone: Some(ZoneKey::Conntrack),
                key: Some(Field::IpSaddr),
                mask: Some(addr("255.255.255.0")),
            }),
        };
        same(
            &StmtBefore::CtCount(count.clone()),
            &Stmt::CtCount(Box::new(count)),
        );
    }
}
