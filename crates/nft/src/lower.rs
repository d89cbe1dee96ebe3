//! Lowering: IR to kernel bytecode, exactly as `nft` 1.0.6 linearizes the text that
//! [`crate::print`] writes for the same IR.
//!
//! "Exactly" is tested, not assumed: the integration suite loads `fwnet show` output with the
//! real `nft -f` in one namespace, applies fwnet's own lowering in another, and compares the two
//! `nft --debug=netlink list ruleset` dumps. The nft habits mirrored here:
//! - a prefix whose length is a multiple of 8 loads only the prefix bytes; others load the whole
//!   address and mask it with a bitwise;
//! - a wildcard interface name (`"eth*"`) compares only the name's bytes;
//! - a range `==` is two compares (gte, lte), a range `!=` is one `range neq`;
//! - `ct state a,b` is `(state & bits) != 0`;
//! - adjacent equality tests on the same header that fit one 32-bit register are merged into one
//!   load and one compare (`tcp sport 1 tcp dport 2` loads 4 bytes at transport + 0);
//! - concatenated keys fill 4-byte-aligned 32-bit registers after the first (reg 1, 9, 10, ...).
//!
//! This module does not build netlink messages (the codec does) and does no I/O.

use crate::ir::*;
use fwnet_netlink::consts::*;
use fwnet_netlink::{Expr as K, ImmData, Verdict as KV};
use std::net::IpAddr;

mod ctcount;
mod dsfield;
mod ext;
mod exthdr;
mod helper;
mod nat;
mod set;
mod time;
mod tproxy;

pub use helper::CtHelperCode;

/// A table ready to be turned into netlink messages, in dependency order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TableCode {
    pub family: u8,
    pub name: String,
    /// Named sets first, then the anonymous sets that rules created (in rule order).
    pub sets: Vec<SetCode>,
    pub chains: Vec<ChainCode>,
    pub rules: Vec<RuleCode>,
    /// Conntrack helper objects, created after the chains and before the rules.
    pub ct_helpers: Vec<CtHelperCode>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SetCode {
    /// `__setN` for anonymous sets (`__mapN` for verdict maps), N counting each kind from 0
    /// in the table: the name the kernel gives for nft's `__set%d`, sent ready-made because the kernel finds a free number by
    /// scanning every set of the table, which makes a batch with thousands of anonymous sets
    /// quadratic (see ARCHITECTURE.md, "Load time and the kernel").
    pub name: String,
    /// NFTA_SET_ID: how rules in the same batch refer to it.
    pub id: u32,
    pub flags: u32,
    pub key_type: u32,
    pub key_len: u32,
    /// NFTA_SET_DATA_TYPE of a map: NFT_DATA_VERDICT for a verdict map; `None` for a set.
    pub data_type: Option<u32>,
    pub timeout_ms: Option<u64>,
    pub size: Option<u32>,
    pub userdata: Vec<u8>,
    pub elements: Vec<ElemCode>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ElemCode {
    pub key: Vec<u8>,
    /// NFT_SET_ELEM_INTERVAL_END or 0.
    pub flags: u32,
    /// A verdict map element's verdict (`None` in sets and on interval-end markers).
    pub verdict: Option<fwnet_netlink::Verdict>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChainCode {
    pub name: String,
    pub hook: Option<HookCode>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HookCode {
    pub hooknum: u32,
    pub priority: i32,
    pub kind: &'static str,
    /// NF_ACCEPT or NF_DROP.
    pub policy: u32,
    /// Initial base-chain counters (packets, bytes), when the input had non-zero ones.
    pub counters: Option<(u64, u64)>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RuleCode {
    pub chain: String,
    pub exprs: Vec<K>,
    /// NFTA_RULE_USERDATA in nft's TLV format (the comment), if any.
    pub userdata: Option<Vec<u8>>,
    pub origin: Option<Origin>,
}

pub fn family_code(f: Family) -> u8 {
    match f {
        Family::Ip => NFPROTO_IPV4,
        Family::Ip6 => NFPROTO_IPV6,
        Family::Inet => NFPROTO_INET,
    }
}

/// Lowers one table. Set ids are numbered from `first_set_id` so that several tables can go
/// into one batch without clashing ids.
pub fn table(t: &Table, first_set_id: u32) -> TableCode {
    let (mut code, mut rules) = table_head(t, first_set_id);
    rules.each(|anonymous, rule| {
        code.sets.extend(anonymous);
        code.rules.push(rule);
    });
    code
}

/// [`table`] in two steps, so that a large table need not be held lowered all at once: the
/// table without its rules (named sets, chains, ct helpers), and the rules to lower one by one
/// with [`RuleLowering::each`].
pub fn table_head(t: &Table, first_set_id: u32) -> (TableCode, RuleLowering<'_>) {
    let mut cx = Cx {
        sets: Vec::new(),
        set_ids: std::collections::HashMap::with_capacity(t.sets.len()),
        next_id: first_set_id,
        anonymous: 0,
        maps: 0,
        family: t.family,
    };
    for s in &t.sets {
        let id = cx.take_id();
        cx.set_ids.insert(s.name.clone(), id);
        cx.sets.push(named_set(s, id));
    }
    let chains = t
        .chains
        .iter()
        .map(|c| ChainCode {
            name: c.name.clone(),
            hook: c.base.as_ref().map(|b| HookCode {
                hooknum: hooknum(b.hook),
                priority: b.priority,
                kind: match b.kind {
                    ChainKind::Filter => "filter",
                    ChainKind::Nat => "nat",
                    ChainKind::Route => "route",
                },
                policy: match b.policy {
                    Policy::Accept => NF_ACCEPT as u32,
                    Policy::Drop => NF_DROP as u32,
                },
                counters: b.counters.map(|c| (c.packets, c.bytes)),
            }),
        })
        .collect();
    let code = TableCode {
        family: family_code(t.family),
        name: t.name.clone(),
        sets: std::mem::take(&mut cx.sets),
        chains,
        rules: Vec::new(),
        ct_helpers: t.ct_helpers.iter().map(helper::object).collect(),
    };
    // Rules refer to named sets by id (`Cx::set_ids`); `cx.sets` now collects the anonymous
    // sets each rule makes.
    (code, RuleLowering { table: t, cx })
}

/// The rules of one table, lowered in order ([`table_head`]).
pub struct RuleLowering<'t> {
    table: &'t Table,
    cx: Cx,
}

impl RuleLowering<'_> {
    /// Calls `f` with each rule in chain order, after the anonymous sets it creates (each
    /// before the first rule that uses it, as nft sends them).
    pub fn each(&mut self, mut f: impl FnMut(Vec<SetCode>, RuleCode)) {
        let t = self.table;
        for c in &t.chains {
            // A chain of an inet table made by `inet::merge` lowers as its own family.
            self.cx.family = c.family.unwrap_or(t.family);
            for r in &c.rules {
                let before = self.cx.sets.len();
                let exprs = rule_exprs(r, &mut self.cx);
                let anonymous = self.cx.sets.split_off(before);
                f(
                    anonymous,
                    RuleCode {
                        chain: c.name.clone(),
                        exprs,
                        userdata: r.comment.as_deref().map(comment_userdata),
                        origin: r.origin.clone(),
                    },
                );
            }
        }
    }

    /// The first set id the lowering has not used.
    pub fn next_set_id(&self) -> u32 {
        self.cx.next_id
    }
}

struct Cx {
    sets: Vec<SetCode>,
    /// The id of each named set, by name: rules look them up by name, and a table can have
    /// thousands (a linear search was a fifth of apply's user time at 100k rules).
    set_ids: std::collections::HashMap<String, u32>,
    next_id: u32,
    /// Anonymous sets made so far in the table: the N of the next `__setN`.
    anonymous: usize,
    /// Anonymous verdict maps made so far in the table: the N of the next `__mapN` (nft
    /// numbers maps apart from sets).
    maps: usize,
    /// The family of the chain being lowered: the table's, or [`Chain::family`] (the `nat`
    /// expression names it).
    family: Family,
}

impl Cx {
    /// The id of named set `name` (NFTA_SET_ID), by which rules in the same batch refer to it.
    fn set_id(&self, name: &str) -> Option<u32> {
        self.set_ids.get(name).copied()
    }

    fn take_id(&mut self) -> u32 {
        let id = self.next_id;
        self.next_id += 1;
        id
    }
}

fn hooknum(h: Hook) -> u32 {
    match h {
        Hook::Prerouting => NF_INET_PRE_ROUTING,
        Hook::Input => NF_INET_LOCAL_IN,
        Hook::Forward => NF_INET_FORWARD,
        Hook::Output => NF_INET_LOCAL_OUT,
        Hook::Postrouting => NF_INET_POST_ROUTING,
    }
}

/// nft's userdata TLV for a rule comment: type NFTNL_UDATA_RULE_COMMENT (0), length including
/// the terminating NUL, the bytes, NUL.
pub fn comment_userdata(comment: &str) -> Vec<u8> {
    let mut v = vec![0u8, (comment.len() + 1) as u8];
    v.extend_from_slice(comment.as_bytes());
    v.push(0);
    v
}

/// nft's datatype numbers (`enum datatypes` in nftables' datatype.h), used as set key types;
/// read off `nft --debug=mnl` of nft 1.0.6 declaring a set of each type.
fn type_id(t: DataType) -> u32 {
    match t {
        DataType::NfProto => 2,
        DataType::Ipv4Addr => 7,
        DataType::Ipv6Addr => 8,
        DataType::InetProto => 12,
        DataType::InetService => 13,
        DataType::IcmpType => 14,
        DataType::TcpFlag => 15,
        DataType::Mark => 19,
        DataType::CtState => 26,
        DataType::CtStatus => 28,
        DataType::Icmpv6Type => 29,
        DataType::IcmpCode => 32,
        DataType::Icmpv6Code => 33,
        DataType::Ifname => 41,
        DataType::FibAddrtype => 38,
        DataType::Uid => 24,
        DataType::Gid => 25,
        DataType::Integer16 | DataType::Integer8 => 4,
        DataType::PktType => 31,
        DataType::Boolean => 39,
        DataType::Integer32 => 4,
        DataType::EtherAddr => 9,
        DataType::CtDir => 27,
        DataType::Day => 45,
        DataType::Word32 | DataType::HostInteger32 => 4,
        DataType::CtZone => 4,
        // TYPE_TIME
        DataType::TimeMs => 18,
    }
}

/// Length in bytes of a value of this type as the kernel stores it.
fn type_len(t: DataType) -> u32 {
    match t {
        DataType::Ifname => 16,
        DataType::Ipv4Addr => 4,
        DataType::Ipv6Addr => 16,
        DataType::InetService => 2,
        DataType::InetProto
        | DataType::NfProto
        | DataType::TcpFlag
        | DataType::IcmpType
        | DataType::IcmpCode
        | DataType::Icmpv6Type
        | DataType::Icmpv6Code => 1,
        DataType::CtState | DataType::CtStatus | DataType::Mark => 4,
        DataType::FibAddrtype | DataType::Uid | DataType::Gid | DataType::Integer32 => 4,
        DataType::Integer16 => 2,
        DataType::Integer8 | DataType::PktType | DataType::Boolean => 1,
        DataType::EtherAddr => 6,
        DataType::CtDir => 1,
        DataType::Day => 1,
        DataType::Word32 | DataType::HostInteger32 => 4,
        DataType::CtZone => 2,
        DataType::TimeMs => 4,
    }
}

/// Whether values of this type are big-endian in the packet (true) or host-order kernel
/// words (false, as `ct state` and marks are; nft counts interface names, strings, as host
/// order too).
fn is_network_order(t: DataType) -> bool {
    !matches!(
        t,
        DataType::Ifname
            | DataType::CtState
            | DataType::CtStatus
            | DataType::Mark
            | DataType::FibAddrtype
            | DataType::Uid
            | DataType::Gid
            | DataType::HostInteger32
            | DataType::CtZone
            | DataType::TimeMs
    )
}

/// The key byte order nft 1.0.6 records in a one-component set's userdata
/// (NFTNL_UDATA_SET_KEYBYTEORDER): 2 for big-endian types, 1 for host-order ones (captured
/// with `nft --debug=mnl` for `type ifname`, `type mark`, `iifname { "eth0", "wlan0" }` and
/// `meta mark { 1, 2 }`). The kernel ignores it; `nft list` needs it to print interface names
/// (with 0 or 2 it prints each as `""`).
fn key_byteorder(t: DataType) -> u32 {
    if is_network_order(t) {
        2
    } else {
        1
    }
}

const TYPE_BITS: u32 = 6;

fn named_set(s: &Set, id: u32) -> SetCode {
    let mut flags = 0;
    if s.flags.constant {
        flags |= NFT_SET_CONSTANT;
    }
    if s.flags.interval {
        flags |= NFT_SET_INTERVAL;
    }
    if s.flags.timeout {
        flags |= NFT_SET_TIMEOUT;
    }
    if s.flags.dynamic {
        flags |= NFT_SET_EVAL;
    }
    let key_type = s
        .key
        .iter()
        .fold(0u32, |acc, t| (acc << TYPE_BITS) | type_id(*t));
    let key_len = s.key.iter().map(|t| round4(type_len(*t))).sum::<u32>();
    let key_len = if s.key.len() == 1 {
        type_len(s.key[0])
    } else {
        key_len
    };
    let byteorder = match s.key.as_slice() {
        [t] => key_byteorder(*t),
        _ => 0,
    };
    let mut userdata = set_userdata(byteorder);
    if let Some(t) = typeof_userdata(&s.typeof_key) {
        userdata.extend(t);
    }
    SetCode {
        name: s.name.clone(),
        id,
        flags,
        key_type,
        key_len,
        data_type: None,
        timeout_ms: s.timeout_ms,
        size: s.size,
        userdata,
        elements: set::named_elements(s),
    }
}

/// The NFTNL_UDATA_SET_KEY_TYPEOF userdata TLV (type 3) nft writes for a set declared with
/// `typeof`, from which `nft list` prints the declaration back: the expression's kind and its
/// description, a concatenation as a nest of components. Numbers and layout read off
/// `nft --debug=mnl` of nft 1.0.6 declaring `typeof ct zone`, `typeof ct zone . ip saddr` and
/// the other address fields: kinds EXPR_PAYLOAD 7, EXPR_CT 12, EXPR_CONCAT 13; a payload is
/// (protocol description, field) with `ip` 12 (saddr 11, daddr 12) and `ip6` 13 (saddr 8,
/// daddr 9); `ct` is (key, direction), -1 for none. `None` for an empty key or an expression
/// nft's typeof userdata is not written for here; the kernel does not read it, only
/// `nft list` would then print the set differently.
fn typeof_userdata(key: &[Expr]) -> Option<Vec<u8>> {
    fn tlv(out: &mut Vec<u8>, kind: u8, value: &[u8]) {
        out.push(kind);
        out.push(value.len() as u8);
        out.extend_from_slice(value);
    }
    fn u32s(values: &[u32]) -> Vec<u8> {
        let mut out = Vec::new();
        for (i, v) in values.iter().enumerate() {
            tlv(&mut out, i as u8, &v.to_ne_bytes());
        }
        out
    }
    // (kind, description) of one expression.
    fn one(e: Expr) -> Option<(u32, Vec<u8>)> {
        Some(match e {
            Expr::Ct(CtKey::Zone) => (12, u32s(&[NFT_CT_ZONE, u32::MAX])),
            Expr::Payload(f) => {
                let (proto, field) = match f {
                    Field::IpSaddr => (12, 11),
                    Field::IpDaddr => (12, 12),
                    Field::Ip6Saddr => (13, 8),
                    Field::Ip6Daddr => (13, 9),
                    _ => return None,
                };
                (7, u32s(&[proto, field]))
            }
            _ => return None,
        })
    }
    let (kind, data) = match key {
        [] => return None,
        [e] => one(*e)?,
        parts => {
            let mut data = Vec::new();
            for (i, e) in parts.iter().enumerate() {
                let (kind, desc) = one(*e)?;
                let mut nest = Vec::new();
                tlv(&mut nest, 0, &kind.to_ne_bytes());
                tlv(&mut nest, 1, &desc);
                tlv(&mut data, i as u8, &nest);
            }
            (13, data)
        }
    };
    let mut nest = Vec::new();
    tlv(&mut nest, 0, &kind.to_ne_bytes());
    tlv(&mut nest, 1, &data);
    let mut out = Vec::new();
    tlv(&mut out, 3, &nest);
    Some(out)
}

/// NFTNL_UDATA_SET_KEYBYTEORDER (type 0, a host-order u32): 2 = big endian, 0 = none.
fn set_userdata(byteorder: u32) -> Vec<u8> {
    let mut v = vec![0u8, 4];
    v.extend_from_slice(&byteorder.to_ne_bytes());
    v
}

/// The register for a concatenation component `offset` bytes into the key, named as the kernel
/// dumps it: a 16-byte register (NFT_REG_1..4) at 16-byte boundaries, otherwise the 32-bit
/// register NFT_REG32_00 + offset/4 (the same storage; nft and the dump agree on this form).
pub(crate) fn key_reg(offset: u32) -> u32 {
    if offset.is_multiple_of(16) {
        NFT_REG_1 + offset / 16
    } else {
        NFT_REG32_00 + offset / 4
    }
}

pub(crate) fn round4(n: u32) -> u32 {
    (n + 3) & !3
}

fn rule_exprs(r: &Rule, cx: &mut Cx) -> Vec<K> {
    let groups = payload_merges(&r.stmts);
    let absorbed: Vec<usize> = groups.iter().flat_map(|g| g[1..].iter().copied()).collect();
    let mut out = Vec::new();
    for (i, s) in r.stmts.iter().enumerate() {
        if absorbed.contains(&i) {
            continue;
        }
        let Some(group) = groups.iter().find(|g| g[0] == i) else {
            stmt(s, &mut out, cx);
            continue;
        };
        let fields: Vec<(Field, &Value)> = group
            .iter()
            .filter_map(|k| mergeable(&r.stmts[*k]))
            .collect();
        let (base, offset, _) = payload_loc(fields[0].0);
        let len: u32 = fields.iter().map(|(f, _)| payload_loc(*f).2).sum();
        let mut data = Vec::new();
        for (f, v) in &fields {
            data.extend(value_bytes(Expr::Payload(*f).datatype(), v));
        }
        out.push(K::Payload {
            base,
            offset,
            len,
            dreg: NFT_REG_1,
        });
        out.push(K::Cmp {
            sreg: NFT_REG_1,
            op: NFT_CMP_EQ,
            data,
        });
    }
    out
}

/// nft's payload merging, which the kernel bytecode must mirror: within each run of match
/// statements (any other statement ends a run), the `field == constant` payload tests are
/// sorted by header and offset, and neighbours that are contiguous on the same header are
/// joined while the joined field fits 4 bytes. The joined test takes the place of its
/// lowest-offset member. Returns the groups (statement indices, leader first) of two or more.
///
/// nft 1.0.6 also joins `!=` tests, which changes their meaning (`a != 1 and b != 2` becomes
/// `(a, b) != (1, 2)`); fwnet does not, so for such rules the kernel holds the correct form
/// and nft's reading of `fwnet show` differs.
fn payload_merges(stmts: &[Stmt]) -> Vec<Vec<usize>> {
    let mut groups = Vec::new();
    let mut i = 0;
    while i < stmts.len() {
        if !matches!(stmts[i], Stmt::Match(_)) {
            i += 1;
            continue;
        }
        let start = i;
        while i < stmts.len() && matches!(stmts[i], Stmt::Match(_)) {
            i += 1;
        }
        let mut cands: Vec<(usize, (u32, u32, u32))> = (start..i)
            .filter_map(|k| mergeable(&stmts[k]).map(|(f, _)| (k, payload_loc(f))))
            .collect();
        cands.sort_by_key(|(_, (base, offset, _))| (*base, *offset));
        let mut j = 0;
        while j < cands.len() {
            let (leader, (base, offset, len)) = cands[j];
            let (mut end, mut group) = (offset + len, vec![leader]);
            let mut k = j + 1;
            while let Some(&(idx, (b, o, l))) = cands.get(k) {
                if b != base || o != end || end + l - offset > 4 {
                    break;
                }
                group.push(idx);
                end += l;
                k += 1;
            }
            if group.len() > 1 {
                groups.push(group);
            }
            j = k;
        }
    }
    groups
}

/// A `payload field == constant` test that nft would consider for merging.
fn mergeable(s: &Stmt) -> Option<(Field, &Value)> {
    match s {
        Stmt::Match(Match::Cmp {
            left: Expr::Payload(f),
            op: CmpOp::Eq,
            right,
        }) if matches!(right, Value::Num(_) | Value::Addr(_)) && dsfield::mask(*f).is_none() => {
            Some((*f, right))
        }
        _ => None,
    }
}

/// ARPHRD_ETHER (include/uapi/linux/if_arp.h), as `meta iiftype` loads it.
const ARPHRD_ETHER: u16 = 1;

/// (base, offset, length) of a header field.
pub fn payload_loc(f: Field) -> (u32, u32, u32) {
    use Field::*;
    let nh = NFT_PAYLOAD_NETWORK_HEADER;
    let th = NFT_PAYLOAD_TRANSPORT_HEADER;
    match f {
        IpProtocol => (nh, 9, 1),
        IpSaddr => (nh, 12, 4),
        IpDaddr => (nh, 16, 4),
        IpFragOff => (nh, 6, 2),
        Ip6Nexthdr => (nh, 6, 1),
        Ip6Saddr => (nh, 8, 16),
        Ip6Daddr => (nh, 24, 16),
        TcpSport | UdpSport | ThSport => (th, 0, 2),
        TcpDport | UdpDport | ThDport => (th, 2, 2),
        TcpFlags => (th, 13, 1),
        IcmpType | Icmpv6Type => (th, 0, 1),
        IcmpCode | Icmpv6Code => (th, 1, 1),
        IpTtl => (nh, 8, 1),
        Ip6Hoplimit => (nh, 7, 1),
        IpLength => (nh, 2, 2),
        Ip6Length => (nh, 4, 2),
        EtherSaddr => (NFT_PAYLOAD_LL_HEADER, 6, 6),
        IpDscp | IpEcn | Ip6Ecn | IpTos => (nh, 1, 1),
        Ip6Dscp => (nh, 0, 2),
    }
}

/// Loads `e` into `reg`; returns the number of bytes loaded.
fn load(e: Expr, reg: u32, out: &mut Vec<K>) -> u32 {
    match e {
        Expr::Fib(f) => out.push(ext::fib(f, reg)),
        Expr::Exthdr(x) => exthdr::load(x, reg, out),
        Expr::Meta(k) => {
            let key = match k {
                MetaKey::Iifname => NFT_META_IIFNAME,
                MetaKey::Oifname => NFT_META_OIFNAME,
                MetaKey::L4proto => NFT_META_L4PROTO,
                MetaKey::Nfproto => NFT_META_NFPROTO,
                MetaKey::Mark => NFT_META_MARK,
                MetaKey::Skuid => NFT_META_SKUID,
                MetaKey::Skgid => NFT_META_SKGID,
                MetaKey::Pkttype => NFT_META_PKTTYPE,
                MetaKey::Secpath => NFT_META_SECPATH,
                MetaKey::Day => NFT_META_TIME_DAY,
                MetaKey::Len => NFT_META_LEN,
            };
            out.push(K::Meta { key, dreg: reg });
        }
        Expr::Payload(f) => {
            if f == Field::EtherSaddr {
                // The dependency nft adds: the input device is Ethernet (ARPHRD_ETHER, a
                // host-order u16).
                out.push(K::Meta {
                    key: NFT_META_IIFTYPE,
                    dreg: reg,
                });
                out.push(K::Cmp {
                    sreg: reg,
                    op: NFT_CMP_EQ,
                    data: ARPHRD_ETHER.to_ne_bytes().to_vec(),
                });
            }
            let (base, offset, len) = payload_loc(f);
            out.push(K::Payload {
                base,
                offset,
                len,
                dreg: reg,
            });
            if let Some(mask) = dsfield::mask(f) {
                out.push(dsfield::and(mask, reg));
                return len;
            }
        }
        Expr::Ct(k) => {
            let (key, dir) = ct_key(k);
            out.push(K::Ct {
                key,
                dreg: reg,
                dir,
            });
        }
        Expr::Rt(RtKey::Ipsec) => out.push(K::Rt {
            key: NFT_RT_XFRM,
            dreg: reg,
        }),
        Expr::FibOif(f) => out.push(ext::fib_oif(f, reg)),
        Expr::NhWord(offset) => out.push(K::Payload {
            base: NFT_PAYLOAD_NETWORK_HEADER,
            offset: u32::from(offset),
            len: 4,
            dreg: reg,
        }),
    }
    type_len(e.datatype())
}

/// NFT_CT_* key and tuple direction (IP_CT_DIR_ORIGINAL 0, REPLY 1) of a `ct` load.
fn ct_key(k: CtKey) -> (u32, Option<u8>) {
    let (orig, repl) = (Some(0), Some(1));
    match k {
        CtKey::State => (NFT_CT_STATE, None),
        CtKey::Status => (NFT_CT_STATUS, None),
        CtKey::Mark => (NFT_CT_MARK, None),
        CtKey::Protocol => (NFT_CT_PROTOCOL, None),
        CtKey::OrigProtoSrc => (NFT_CT_PROTO_SRC, orig),
        CtKey::OrigProtoDst => (NFT_CT_PROTO_DST, orig),
        CtKey::ReplProtoSrc => (NFT_CT_PROTO_SRC, repl),
        CtKey::ReplProtoDst => (NFT_CT_PROTO_DST, repl),
        CtKey::OrigIpSaddr => (NFT_CT_SRC_IP, orig),
        CtKey::OrigIpDaddr => (NFT_CT_DST_IP, orig),
        CtKey::ReplIpSaddr => (NFT_CT_SRC_IP, repl),
        CtKey::ReplIpDaddr => (NFT_CT_DST_IP, repl),
        CtKey::OrigIp6Saddr => (NFT_CT_SRC_IP6, orig),
        CtKey::OrigIp6Daddr => (NFT_CT_DST_IP6, orig),
        CtKey::ReplIp6Saddr => (NFT_CT_SRC_IP6, repl),
        CtKey::ReplIp6Daddr => (NFT_CT_DST_IP6, repl),
        CtKey::Direction => (NFT_CT_DIRECTION, None),
        CtKey::Zone => (NFT_CT_ZONE, None),
        CtKey::Expiration => (NFT_CT_EXPIRATION, None),
    }
}

fn cmp_op(op: CmpOp) -> u32 {
    match op {
        CmpOp::Eq => NFT_CMP_EQ,
        CmpOp::Ne => NFT_CMP_NEQ,
    }
}

fn stmt(s: &Stmt, out: &mut Vec<K>, cx: &mut Cx) {
    match s {
        Stmt::Match(m) => lower_match(m, out, cx),
        Stmt::Counter(c) => out.push(K::Counter {
            packets: c.packets,
            bytes: c.bytes,
        }),
        Stmt::Limit(l) => out.push(limit(l)),
        Stmt::SetUpdate {
            set,
            key,
            limit: lim,
            masks,
        } => {
            set::load_masked_key(key, masks, out);
            let id = cx.set_id(set);
            out.push(K::Dynset {
                op: NFT_DYNSET_OP_UPDATE,
                sreg_key: NFT_REG_1,
                set: set.to_string(),
                set_id: id,
                timeout_ms: None,
                exprs: lim.iter().map(|l| limit(l)).collect(),
            });
        }
        Stmt::Log(l) => out.push(log(l)),
        Stmt::Reject(r) => {
            let (kind, code) = match *r {
                Reject::Icmp(c) | Reject::Icmpv6(c) => (NFT_REJECT_ICMP_UNREACH, c),
                Reject::Icmpx(c) => (NFT_REJECT_ICMPX_UNREACH, c),
                Reject::TcpReset => (NFT_REJECT_TCP_RST, 0),
            };
            out.push(K::Reject { kind, code });
        }
        Stmt::Verdict(v) => out.push(K::Immediate {
            dreg: NFT_REG_VERDICT,
            data: ImmData::Verdict(kernel_verdict(v)),
        }),
        Stmt::Vmap { key, map } => vmap(*key, map, out, cx),
        Stmt::Nat(n) => nat::nat(n, cx.family, out),
        Stmt::MarkSet(m) => ext::mark_set(m, out),
        Stmt::SetAdd { set: name, key } => set::elem_op(NFT_DYNSET_OP_ADD, name, key, out, cx),
        Stmt::SetDelete { set: name, key } => {
            set::elem_op(NFT_DYNSET_OP_DELETE, name, key, out, cx)
        }
        Stmt::Notrack => out.push(K::Notrack),
        Stmt::CtHelperSet(name) => helper::set(name, out),
        Stmt::CtZoneSet(zone) => zone_set(*zone, None, out),
        Stmt::CtDirZoneSet { zone, reply } => zone_set(*zone, Some(u8::from(*reply)), out),
        Stmt::PrioritySet(p) => ext::priority_set(*p, out),
        Stmt::HeaderSet { field, value } => ext::header_set(*field, *value, out),
        Stmt::MaxsegSet(m) => exthdr::maxseg_set(*m, out),
        Stmt::DscpSet { field, value } => dsfield::set(*field, *value, out),
        Stmt::CtCount(c) => ctcount::ct_count(c, out, cx),
        Stmt::Synproxy(sp) => out.push(synproxy(sp)),
        Stmt::Tproxy(t) => tproxy::tproxy(t, cx.family, out),
    }
}

/// nft 1.0.6 sends all three attributes, 0 for an option not given, and sets the flag of each
/// option given (`mss 0` too).
fn synproxy(sp: &Synproxy) -> K {
    let flag = |on: bool, bit: u32| if on { bit } else { 0 };
    K::Synproxy {
        mss: sp.mss.unwrap_or(0),
        wscale: sp.wscale.unwrap_or(0),
        flags: flag(sp.mss.is_some(), NF_SYNPROXY_OPT_MSS)
            | flag(sp.wscale.is_some(), NF_SYNPROXY_OPT_WSCALE)
            | flag(sp.sack_perm, NF_SYNPROXY_OPT_SACK_PERM)
            | flag(sp.timestamp, NF_SYNPROXY_OPT_TIMESTAMP),
    }
}

fn limit(l: &Limit) -> K {
    K::Limit {
        rate: l.rate,
        unit: l.unit.seconds(),
        burst: l.burst,
        kind: NFT_LIMIT_PKTS,
        flags: if l.over { NFT_LIMIT_F_INV } else { 0 },
    }
}

fn log(l: &Log) -> K {
    let f = &l.flags;
    let mut flags = 0;
    if f.tcp_sequence {
        flags |= NF_LOG_TCPSEQ;
    }
    if f.tcp_options {
        flags |= NF_LOG_TCPOPT;
    }
    if f.ip_options {
        flags |= NF_LOG_IPOPT;
    }
    if f.uid {
        flags |= NF_LOG_UID;
    }
    if f.macdecode {
        flags |= NF_LOG_MACDECODE;
    }
    K::Log {
        prefix: l.prefix.clone(),
        level: l.level.map(u32::from),
        flags: (flags != 0).then_some(flags),
        group: l.group,
        snaplen: l.snaplen,
        qthreshold: l.queue_threshold,
    }
}

fn lower_match(m: &Match, out: &mut Vec<K>, cx: &mut Cx) {
    match m {
        Match::Lookup { key, set: name, op } => set::lookup(key, name, *op, out, cx),
        Match::Numgen {
            kind,
            modulus,
            op,
            value,
        } => ext::numgen(*kind, *modulus, *op, *value, out),
        Match::Time(t) => time::time(t, out),
        Match::Cmp { left, op, right } => cmp(*left, *op, right, out, cx),
        Match::Order { left, op, right } => {
            let t = left.datatype();
            let len = load(*left, NFT_REG_1, out);
            let data = if is_network_order(t) {
                value_bytes(t, &Value::Num(*right))
            } else {
                // `meta length < 56`: a host-order word is turned into network order first
                // and compared big-endian, as nft 1.0.6 does for every host-order `<` / `>`.
                to_network_order(len, out);
                be_bytes(u128::from(*right), len as usize)
            };
            out.push(ext::order(*op, data));
        }
        Match::Masked {
            left,
            mask,
            op,
            value,
        } => {
            let t = left.datatype();
            let len = load(*left, NFT_REG_1, out);
            out.push(K::Bitwise {
                sreg: NFT_REG_1,
                dreg: NFT_REG_1,
                len,
                mask: value_bytes(t, mask),
                xor: vec![0; len as usize],
                op: Some(NFT_BITWISE_BOOL),
            });
            if let Value::Set(elems) = value {
                // `tcp flags & (fin | syn | rst | ack) { syn, ack }`: the masked value looked
                // up in an anonymous set, as for an unmasked one.
                lookup_literal(t, elems, *op, out, cx);
            } else if let Value::Range(lo, hi) = value {
                // `@nh,416,32 & 0xffff00ff == 0x1-0x2`: compared as an unmasked range is.
                range(t, *op, (*lo, *hi), out);
            } else {
                out.push(K::Cmp {
                    sreg: NFT_REG_1,
                    op: cmp_op(*op),
                    data: value_bytes(t, value),
                });
            }
        }
        Match::Flags { left, bits, op } => {
            let t = left.datatype();
            let len = load(*left, NFT_REG_1, out);
            out.push(K::Bitwise {
                sreg: NFT_REG_1,
                dreg: NFT_REG_1,
                len,
                mask: value_bytes(t, &Value::Num(*bits)),
                xor: vec![0; len as usize],
                op: None,
            });
            // Any of the bits (Eq) is "masked value != 0"; none of them is "== 0".
            let op = match op {
                CmpOp::Eq => NFT_CMP_NEQ,
                CmpOp::Ne => NFT_CMP_EQ,
            };
            out.push(K::Cmp {
                sreg: NFT_REG_1,
                op,
                data: vec![0; len as usize],
            });
        }
    }
}

fn cmp(left: Expr, op: CmpOp, right: &Value, out: &mut Vec<K>, cx: &mut Cx) {
    let t = left.datatype();
    match right {
        Value::Prefix { addr, len: plen } => {
            let full = type_len(t);
            let bits = u32::from(*plen);
            let bytes = addr_bytes(addr);
            match left {
                Expr::Payload(f) if bits % 8 == 0 => {
                    let (base, offset, _) = payload_loc(f);
                    let n = bits / 8;
                    out.push(K::Payload {
                        base,
                        offset,
                        len: n,
                        dreg: NFT_REG_1,
                    });
                    out.push(K::Cmp {
                        sreg: NFT_REG_1,
                        op: cmp_op(op),
                        data: bytes[..n as usize].to_vec(),
                    });
                }
                // A ct address loads whole; nft compares only the prefix bytes.
                Expr::Ct(_) if bits % 8 == 0 => {
                    load(left, NFT_REG_1, out);
                    out.push(K::Cmp {
                        sreg: NFT_REG_1,
                        op: cmp_op(op),
                        data: bytes[..(bits / 8) as usize].to_vec(),
                    });
                }
                _ => {
                    load(left, NFT_REG_1, out);
                    out.push(K::Bitwise {
                        sreg: NFT_REG_1,
                        dreg: NFT_REG_1,
                        len: full,
                        mask: prefix_mask(full, bits),
                        xor: vec![0; full as usize],
                        op: None,
                    });
                    out.push(K::Cmp {
                        sreg: NFT_REG_1,
                        op: cmp_op(op),
                        data: bytes,
                    });
                }
            }
        }
        Value::Iface {
            name,
            wildcard: true,
        } => {
            load(left, NFT_REG_1, out);
            out.push(K::Cmp {
                sreg: NFT_REG_1,
                op: cmp_op(op),
                data: name.as_bytes().to_vec(),
            });
        }
        Value::Range(lo, hi) if !is_network_order(t) => {
            // `meta skuid 1000-2000`: a host-order word is turned into network order first
            // and compared big-endian, as nft 1.0.6 does.
            let len = load(left, NFT_REG_1, out);
            to_network_order(len, out);
            let bytes = |n: u64| be_bytes(u128::from(n), len as usize);
            range_bytes(op, bytes(*lo), bytes(*hi), out);
        }
        Value::Range(..) | Value::AddrRange(..) => {
            load(left, NFT_REG_1, out);
            let (from, to) = match right {
                Value::AddrRange(lo, hi) => (addr_bytes(lo), addr_bytes(hi)),
                Value::Range(lo, hi) => (
                    value_bytes(t, &Value::Num(*lo)),
                    value_bytes(t, &Value::Num(*hi)),
                ),
                _ => (Vec::new(), Vec::new()),
            };
            range_bytes(op, from, to, out);
        }
        Value::Set(elems) => {
            load(left, NFT_REG_1, out);
            lookup_literal(t, elems, op, out, cx);
        }
        _ => {
            load(left, NFT_REG_1, out);
            let bits = match (left, right) {
                (Expr::Payload(f), Value::Num(n)) => dsfield::value(f, *n),
                // `fib ... oif exists`: nft compares the whole 32-bit result register (host
                // order), although the kernel stores a one-byte boolean there.
                (Expr::FibOif(_), Value::Num(n)) => Some((*n as u32).to_ne_bytes().to_vec()),
                _ => None,
            };
            out.push(K::Cmp {
                sreg: NFT_REG_1,
                op: cmp_op(op),
                data: bits.unwrap_or_else(|| value_bytes(t, &exthdr::in_place(left, right))),
            });
        }
    }
}

/// Turns the host-order word of `len` bytes in register 1 into network order, for a
/// big-endian comparison.
fn to_network_order(len: u32, out: &mut Vec<K>) {
    out.push(K::Byteorder {
        sreg: NFT_REG_1,
        dreg: NFT_REG_1,
        op: NFT_BYTEORDER_HTON,
        len,
        size: len,
    });
}

/// Register 1 in `lo-hi` (`op` Eq) or outside it (Ne), for numbers of type `t`.
fn range(t: DataType, op: CmpOp, (lo, hi): (u64, u64), out: &mut Vec<K>) {
    let (from, to) = (
        value_bytes(t, &Value::Num(lo)),
        value_bytes(t, &Value::Num(hi)),
    );
    range_bytes(op, from, to, out);
}

/// A range `==` is two compares (gte, lte), a range `!=` one `range neq`, as nft emits them.
fn range_bytes(op: CmpOp, from: Vec<u8>, to: Vec<u8>, out: &mut Vec<K>) {
    match op {
        CmpOp::Eq => {
            out.push(K::Cmp {
                sreg: NFT_REG_1,
                op: NFT_CMP_GTE,
                data: from,
            });
            out.push(K::Cmp {
                sreg: NFT_REG_1,
                op: NFT_CMP_LTE,
                data: to,
            });
        }
        CmpOp::Ne => out.push(K::Range {
            sreg: NFT_REG_1,
            op: NFT_RANGE_NEQ,
            from,
            to,
        }),
    }
}

/// Looks register 1 up in a new anonymous set of `elems` (`{ a, b }`, `!= { a, b }`).
fn lookup_literal(t: DataType, elems: &[Value], op: CmpOp, out: &mut Vec<K>, cx: &mut Cx) {
    let id = cx.take_id();
    let set = anonymous_set(t, elems, id, cx.anonymous);
    cx.anonymous += 1;
    let flags = if op == CmpOp::Ne { NFT_LOOKUP_F_INV } else { 0 };
    lookup_new(set, None, flags, out, cx);
}

/// Looks register 1 up in `set`, made by this rule (`dreg`: a map's destination register).
fn lookup_new(set: SetCode, dreg: Option<u32>, flags: u32, out: &mut Vec<K>, cx: &mut Cx) {
    out.push(K::Lookup {
        sreg: NFT_REG_1,
        set: set.name.clone(),
        set_id: Some(set.id),
        dreg,
        flags,
    });
    cx.sets.push(set);
}

fn kernel_verdict(v: &Verdict) -> KV {
    match v {
        Verdict::Accept => KV::Accept,
        Verdict::Drop => KV::Drop,
        Verdict::Return => KV::Return,
        Verdict::Jump(c) => KV::Jump(c.clone()),
        Verdict::Goto(c) => KV::Goto(c.clone()),
    }
}

/// `key vmap { a : accept, b-c : jump x }`: the key in register 1 looked up in a new
/// anonymous verdict map, whose element's verdict goes to the verdict register.
fn vmap(key: Expr, map: &[VmapEntry], out: &mut Vec<K>, cx: &mut Cx) {
    let t = key.datatype();
    load(key, NFT_REG_1, out);
    let id = cx.take_id();
    let set = anonymous_map(t, map, id, cx.maps);
    cx.maps += 1;
    lookup_new(set, Some(NFT_REG_VERDICT), 0, out, cx);
}

/// nft 1.0.6's userdata of an anonymous verdict map, after the key byte order: the data's
/// byte order (0), the data's `typeof` (a verdict) and the data-interval flag (0), as
/// captured in netlink/test_data/send/vmap_03.hex.
const VMAP_USERDATA: [u8; 22] = [
    1, 4, 0, 0, 0, 0, 4, 8, 0, 4, 1, 0, 0, 0, 1, 0, 6, 4, 0, 0, 0, 0,
];

/// The verdict map of [`vmap`] as nft builds it: `__mapN`, constant, anonymous, with the
/// interval flag when any value is a range or prefix. The values share no point (the
/// optimizer's condition), so each interval keeps its own verdict.
fn anonymous_map(t: DataType, map: &[VmapEntry], id: u32, number: usize) -> SetCode {
    let interval = map
        .iter()
        .any(|e| matches!(e.value, Value::Range(..) | Value::Prefix { .. }));
    let mut flags = NFT_SET_ANONYMOUS | NFT_SET_CONSTANT | NFT_SET_MAP;
    let elements = if interval {
        flags |= NFT_SET_INTERVAL;
        interval_map_elements(t, map)
    } else {
        let mut keyed: Vec<(Vec<u8>, &Verdict)> = map
            .iter()
            .map(|e| (value_bytes(t, &e.value), &e.verdict))
            .collect();
        keyed.sort_by(|a, b| a.0.cmp(&b.0));
        keyed
            .into_iter()
            .map(|(key, v)| ElemCode {
                key,
                flags: 0,
                verdict: Some(kernel_verdict(v)),
            })
            .collect()
    };
    let byteorder = key_byteorder(t);
    let mut userdata = set_userdata(byteorder);
    userdata.extend_from_slice(&VMAP_USERDATA);
    SetCode {
        name: format!("__map{number}"),
        id,
        flags,
        key_type: type_id(t),
        key_len: type_len(t),
        data_type: Some(NFT_DATA_VERDICT),
        timeout_ms: None,
        size: Some(elements.len() as u32),
        userdata,
        elements,
    }
}

/// The entries of an interval map: each value's span with its verdict, as [`rbtree`] writes
/// them. The optimizer's values share no point, so nothing is merged.
fn interval_map_elements(t: DataType, map: &[VmapEntry]) -> Vec<ElemCode> {
    let width = type_len(t) as usize;
    let mut spans: Vec<(u128, u128, Option<KV>)> = map
        .iter()
        .filter_map(|e| {
            span_of(width, &e.value).map(|(a, b)| (a, b, Some(kernel_verdict(&e.verdict))))
        })
        .collect();
    spans.sort_by_key(|(a, b, _)| (*a, *b));
    rbtree(width, spans)
}

/// Disjoint, sorted `[start, end]` spans of `width`-byte keys as the kernel's rbtree wants
/// them: each start (with its verdict, in a map) followed by an end marker at `end + 1`,
/// unless the next span starts there or the span reaches the top of the key space, and a
/// leading end marker at zero when the first span does not start at zero.
fn rbtree(width: usize, spans: Vec<(u128, u128, Option<KV>)>) -> Vec<ElemCode> {
    let max = if width >= 16 {
        u128::MAX
    } else {
        (1u128 << (width * 8)) - 1
    };
    let mut out = Vec::new();
    if spans.first().is_some_and(|(a, _, _)| *a != 0) {
        out.push(ElemCode {
            key: be_bytes(0, width),
            flags: NFT_SET_ELEM_INTERVAL_END,
            verdict: None,
        });
    }
    let starts: Vec<u128> = spans.iter().map(|(a, _, _)| *a).collect();
    for (i, (a, b, verdict)) in spans.into_iter().enumerate() {
        out.push(ElemCode {
            key: be_bytes(a, width),
            flags: 0,
            verdict,
        });
        let next_starts_here = starts.get(i + 1).is_some_and(|n| *n == b + 1);
        if b < max && !next_starts_here {
            out.push(ElemCode {
                key: be_bytes(b + 1, width),
                flags: NFT_SET_ELEM_INTERVAL_END,
                verdict: None,
            });
        }
    }
    out
}

/// The inclusive span of a number, range, address or prefix as a `width`-byte key.
fn span_of(width: usize, v: &Value) -> Option<(u128, u128)> {
    match v {
        Value::Num(n) => Some((u128::from(*n), u128::from(*n))),
        Value::Range(a, b) => Some((u128::from(*a), u128::from(*b))),
        Value::Addr(a) => {
            let n = be_u128(&addr_bytes(a));
            Some((n, n))
        }
        Value::Prefix { addr, len } => {
            let n = be_u128(&addr_bytes(addr));
            let host = (width * 8) as u32 - u32::from(*len);
            let last = if host >= 128 {
                u128::MAX
            } else {
                n | ((1u128 << host) - 1)
            };
            Some((n, last))
        }
        _ => None,
    }
}

/// `{ a, b-c }` as nft builds it: constant, anonymous, with interval flag and explicit
/// interval-end elements when any element is a range or prefix.
fn anonymous_set(t: DataType, elems: &[Value], id: u32, number: usize) -> SetCode {
    let interval = elems
        .iter()
        .any(|e| matches!(e, Value::Range(..) | Value::Prefix { .. }));
    let mut flags = NFT_SET_ANONYMOUS | NFT_SET_CONSTANT;
    let elements = if interval {
        flags |= NFT_SET_INTERVAL;
        interval_elements(t, elems)
    } else {
        let mut keys: Vec<Vec<u8>> = elems.iter().map(|v| value_bytes(t, v)).collect();
        keys.sort();
        keys.dedup();
        keys.into_iter()
            .map(|key| ElemCode {
                key,
                flags: 0,
                verdict: None,
            })
            .collect()
    };
    let byteorder = key_byteorder(t);
    SetCode {
        name: format!("__set{number}"),
        id,
        flags,
        key_type: type_id(t),
        key_len: type_len(t),
        data_type: None,
        timeout_ms: None,
        size: Some(elements.len() as u32),
        userdata: set_userdata(byteorder),
        elements,
    }
}

/// A set's intervals as [`rbtree`] writes them, overlapping and adjacent ones merged first.
fn interval_elements(t: DataType, elems: &[Value]) -> Vec<ElemCode> {
    let width = type_len(t) as usize;
    let mut spans: Vec<(u128, u128)> = elems.iter().filter_map(|v| span_of(width, v)).collect();
    spans.sort();
    let mut merged: Vec<(u128, u128, Option<KV>)> = Vec::new();
    for (a, b) in spans {
        match merged.last_mut() {
            Some(last) if a <= last.1.saturating_add(1) => last.1 = last.1.max(b),
            _ => merged.push((a, b, None)),
        }
    }
    rbtree(width, merged)
}

fn be_u128(b: &[u8]) -> u128 {
    b.iter().fold(0u128, |acc, x| (acc << 8) | u128::from(*x))
}

fn be_bytes(n: u128, width: usize) -> Vec<u8> {
    n.to_be_bytes()[16 - width..].to_vec()
}

fn addr_bytes(a: &IpAddr) -> Vec<u8> {
    match a {
        IpAddr::V4(a) => a.octets().to_vec(),
        IpAddr::V6(a) => a.octets().to_vec(),
    }
}

fn prefix_mask(len_bytes: u32, bits: u32) -> Vec<u8> {
    (0..len_bytes)
        .map(|i| {
            let start = i * 8;
            if bits >= start + 8 {
                0xff
            } else if bits <= start {
                0
            } else {
                0xffu8 << (8 - (bits - start))
            }
        })
        .collect()
}

/// The bytes of a constant as the kernel compares them.
pub fn value_bytes(t: DataType, v: &Value) -> Vec<u8> {
    match v {
        Value::Iface { name, wildcard } => {
            if *wildcard {
                name.as_bytes().to_vec()
            } else {
                let mut b = name.as_bytes().to_vec();
                b.resize(16, 0);
                b
            }
        }
        Value::Addr(a) | Value::Prefix { addr: a, .. } => addr_bytes(a),
        Value::Num(n) => {
            let len = type_len(t) as usize;
            if is_network_order(t) {
                be_bytes(u128::from(*n), len)
            } else {
                // Host-order kernel words (ct state, marks) are 32 bits wide.
                (*n as u32).to_ne_bytes().to_vec()
            }
        }
        // Ranges and sets are lowered by their callers; a caller that reaches here has a bug,
        // so produce no bytes and let the kernel reject the rule with a located error.
        Value::Range(..) | Value::Set(..) | Value::AddrRange(..) => Vec::new(),
    }
}

/// `ct [original|reply] zone set N`: the zone into register 1, then `ct set zone` with the
/// direction (IP_CT_DIR_ORIGINAL 0, IP_CT_DIR_REPLY 1) when there is one.
fn zone_set(zone: u16, dir: Option<u8>, out: &mut Vec<K>) {
    out.push(K::Immediate {
        dreg: NFT_REG_1,
        data: ImmData::Value(zone.to_ne_bytes().to_vec()),
    });
    out.push(K::CtSet {
        key: NFT_CT_ZONE,
        sreg: NFT_REG_1,
        dir,
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ends(elems: &[ElemCode]) -> Vec<(u16, bool)> {
        elems
            .iter()
            .map(|e| {
                (
                    u16::from_be_bytes([e.key[0], e.key[1]]),
                    e.flags == NFT_SET_ELEM_INTERVAL_END,
                )
            })
            .collect()
    }

    #[test]
    fn interval_set_has_leading_end_marker_and_half_open_ends() {
        // { 22, 80-90 } as nft sends it: [0 end] [22] [23 end] [80] [91 end].
        let e = interval_elements(
            DataType::InetService,
            &[Value::Num(22), Value::Range(80, 90)],
        );
        assert_eq!(
            ends(&e),
            vec![(0, true), (22, false), (23, true), (80, false), (91, true)]
        );
    }

    #[test]
    fn interval_set_merges_touching_ranges_and_omits_end_at_the_top() {
        let e = interval_elements(
            DataType::InetService,
            &[
                Value::Range(0, 10),
                Value::Range(11, 20),
                Value::Range(60000, 65535),
            ],
        );
        assert_eq!(ends(&e), vec![(0, false), (21, true), (60000, false)]);
    }

    #[test]
    fn prefix_masks_cover_partial_bytes() {
        assert_eq!(prefix_mask(4, 12), vec![0xff, 0xf0, 0, 0]);
        assert_eq!(prefix_mask(4, 32), vec![0xff; 4]);
        assert_eq!(prefix_mask(4, 0), vec![0; 4]);
    }

    fn eq(f: Field, n: u64) -> Stmt {
        Stmt::Match(Match::Cmp {
            left: Expr::Payload(f),
            op: CmpOp::Eq,
            right: Value::Num(n),
        })
    }

    #[test]
    fn payload_merging_sorts_by_offset_and_stops_at_other_statements() {
        let ct = Stmt::Match(Match::Flags {
            left: Expr::Ct(CtKey::State),
            bits: 8,
            op: CmpOp::Eq,
        });
        // dport, ct state, sport: nft joins sport+dport across the ct test, at sport's place.
        let stmts = vec![eq(Field::TcpDport, 2), ct.clone(), eq(Field::TcpSport, 1)];
        assert_eq!(payload_merges(&stmts), vec![vec![2, 0]]);
        // A counter between them ends the run: no merge.
        let stmts = vec![
            eq(Field::TcpSport, 1),
            Stmt::Counter(Counters::default()),
            eq(Field::TcpDport, 2),
        ];
        assert!(payload_merges(&stmts).is_empty());
        // 4 + 4 bytes exceed one 32-bit register: no merge.
        let a = Stmt::Match(Match::Cmp {
            left: Expr::Payload(Field::IpSaddr),
            op: CmpOp::Eq,
            right: Value::Addr("1.2.3.4".parse().unwrap()),
        });
        let b = Stmt::Match(Match::Cmp {
            left: Expr::Payload(Field::IpDaddr),
            op: CmpOp::Eq,
            right: Value::Addr("5.6.7.8".parse().unwrap()),
        });
        assert!(payload_merges(&[a, b]).is_empty());
    }

    #[test]
    fn not_equal_tests_are_never_merged() {
        // nft 1.0.6 merges `tcp sport != 1 tcp dport != 2` into one `!=` on both ports, which
        // accepts packets where only one differs; fwnet keeps two separate tests.
        let ne = |f, n| {
            Stmt::Match(Match::Cmp {
                left: Expr::Payload(f),
                op: CmpOp::Ne,
                right: Value::Num(n),
            })
        };
        assert!(payload_merges(&[ne(Field::TcpSport, 1), ne(Field::TcpDport, 2)]).is_empty());
    }
}
