//! Kernel expressions (`NFTA_EXPR_NAME` + `NFTA_EXPR_DATA`), one variant per kernel module,
//! their encoding inside `NFTA_LIST_ELEM` lists, and the `nft --debug=netlink` printer.
//!
//! Each expression's wire layout lives in its own module under `expr/`, named after the kernel
//! source. An expression that carries attributes its variant cannot hold (e.g. a lookup
//! with a destination register) decodes to [`Expr::Other`] with its raw payload, so
//! decoding never loses bytes and never fails on a well-framed expression.

use crate::attr::{self, Attrs};
use crate::consts::{NFTA_EXPR_DATA, NFTA_EXPR_NAME, NFTA_LIST_ELEM};
use crate::error::DecodeError;
use std::fmt;

pub use masq::PortRegs;
pub use nat::NatRegs;

mod bitwise;
mod byteorder;
mod cmp;
mod connlimit;
mod counter;
mod ct;
mod dynset;
mod exthdr;
mod fib;
mod immediate;
mod limit;
mod log;
mod lookup;
mod masq;
mod meta;
mod nat;
mod notrack;
mod numgen;
mod objref;
mod payload;
mod range;
mod redir;
mod reject;
mod rt;
mod synproxy;
mod tproxy;

/// A register number as the kernel numbers them: 0 = verdict, 1..=4 = 16-byte registers
/// (NFT_REG_1..), 8..=23 = 4-byte registers (NFT_REG32_00..).
pub type Reg = u32;

/// One kernel expression. Integers are host values; the codec converts to the wire order.
/// `Vec<u8>` data (cmp, range, bitwise, immediate values) is raw bytes in the order the kernel
/// compares them (network order for header fields, host order for meta/ct keys).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Expr {
    /// `meta load KEY => reg` (NFT_META_*).
    Meta { key: u32, dreg: Reg },
    /// `meta set KEY with reg`: stores a register into packet metadata (`meta mark set`).
    MetaSet { key: u32, sreg: Reg },
    /// `cmp OP reg data` (NFT_CMP_*).
    Cmp { sreg: Reg, op: u32, data: Vec<u8> },
    /// `payload load LEN @ BASE + OFFSET => reg` (NFT_PAYLOAD_*_HEADER).
    Payload {
        base: u32,
        offset: u32,
        len: u32,
        dreg: Reg,
    },
    /// `bitwise reg = (reg & mask) ^ xor` (NFT_BITWISE_BOOL).
    ///
    /// `op` is `NFTA_BITWISE_OP` as sent: nft 1.0.6 sends `Some(NFT_BITWISE_BOOL)` for `&`
    /// binops (`tcp flags & (...) == 0`) and `None` for flag matches (`ct state new`); the
    /// kernel treats a missing op as BOOL and always dumps it. Other ops decode to `Other`.
    Bitwise {
        sreg: Reg,
        dreg: Reg,
        len: u32,
        mask: Vec<u8>,
        xor: Vec<u8>,
        op: Option<u32>,
    },
    /// `range OP reg from to` (NFT_RANGE_EQ / NFT_RANGE_NEQ).
    Range {
        sreg: Reg,
        op: u32,
        from: Vec<u8>,
        to: Vec<u8>,
    },
    /// `ct load KEY => reg` (NFT_CT_*), optionally in one direction.
    Ct {
        key: u32,
        dreg: Reg,
        dir: Option<u8>,
    },
    /// `ct set KEY with reg`: stores a register into the connection (`ct mark set`).
    CtSet {
        key: u32,
        sreg: Reg,
        dir: Option<u8>,
    },
    /// `immediate reg data`: a verdict when `dreg` is 0.
    Immediate { dreg: Reg, data: ImmData },
    /// `lookup reg set NAME [dreg D]`; `flags` 1 = NFT_LOOKUP_F_INV. A zero `flags` is not
    /// sent. With `dreg` the set is a map and the matching element's data goes to `dreg`
    /// (register 0 for a verdict map: the element's verdict is the rule's).
    Lookup {
        sreg: Reg,
        set: String,
        set_id: Option<u32>,
        dreg: Option<Reg>,
        flags: u32,
    },
    /// `dynset OP reg_key set NAME [timeout] expr [...]` (NFT_DYNSET_OP_*).
    ///
    /// One expression is sent as `NFTA_DYNSET_EXPR`, several as `NFTA_DYNSET_EXPRESSIONS`, as
    /// nft 1.0.6 and the kernel's dump both do. A kernel-dumped `NFTA_DYNSET_FLAGS` of 0 is
    /// dropped; other flags decode to `Other`.
    Dynset {
        op: u32,
        sreg_key: Reg,
        set: String,
        set_id: Option<u32>,
        timeout_ms: Option<u64>,
        exprs: Vec<Expr>,
    },
    /// `limit rate RATE/UNIT burst BURST type TYPE flags FLAGS`.
    Limit {
        rate: u64,
        unit: u64,
        burst: u32,
        kind: u32,
        flags: u32,
    },
    /// `counter pkts P bytes B`.
    Counter { packets: u64, bytes: u64 },
    /// `log`: each attribute only when set, as nft sends them. `snaplen` and `qthreshold`
    /// go with `group` (nfnetlink_log).
    Log {
        prefix: Option<String>,
        level: Option<u32>,
        flags: Option<u32>,
        group: Option<u16>,
        snaplen: Option<u32>,
        qthreshold: Option<u16>,
    },
    /// `reject type TYPE code CODE` (NFT_REJECT_*). The kernel omits the code for TCP resets;
    /// that decodes as code 0, which nft sends.
    Reject { kind: u32, code: u8 },
    /// `fib FLAGS RESULT => reg`: a route lookup (NFTA_FIB_F_*, NFT_FIB_RESULT_*).
    Fib { flags: u32, result: u32, dreg: Reg },
    /// `nat snat|dnat FAMILY ...` (NFT_NAT_*, NFPROTO_*): address and port registers
    /// loaded by `immediate`s before it, and NF_NAT_RANGE_* flags.
    Nat {
        kind: u32,
        family: u32,
        regs: NatRegs,
    },
    /// `masq`: masquerade, optionally to a port range held in registers.
    Masq(PortRegs),
    /// `redir`: redirect to the local host, optionally to a port range held in registers.
    Redir(PortRegs),
    /// `exthdr load OP LENb @ TYPE + OFFSET [present] => reg`: a field of an IPv6 extension
    /// header or a TCP/IPv4 option (NFT_EXTHDR_OP_*), or with NFT_EXTHDR_F_PRESENT in `flags`
    /// a byte 1/0 saying whether it is there.
    Exthdr {
        op: u32,
        kind: u8,
        offset: u32,
        len: u32,
        flags: u32,
        dreg: Reg,
    },
    /// An expression this codec does not model: its name and raw NFTA_EXPR_DATA payload.
    Other { name: String, data: Vec<u8> },
    /// `notrack`: the packet stays untracked by conntrack; no attributes, no data nest.
    Notrack,
    /// `numgen reg = inc|random mod MODULUS [offset OFFSET]` (NFT_NG_*).
    Numgen {
        dreg: Reg,
        modulus: u32,
        kind: u32,
        offset: u32,
    },
    /// `byteorder reg DREG = hton|ntoh(reg SREG, SIZE, LEN)` (NFT_BYTEORDER_*).
    Byteorder {
        sreg: Reg,
        dreg: Reg,
        op: u32,
        len: u32,
        size: u32,
    },
    /// `rt load KEY => reg` (NFT_RT_*): a property of the packet's route.
    Rt { key: u32, dreg: Reg },
    /// `objref type TYPE name NAME`: attaches the named stateful object (NFT_OBJECT_*) to
    /// the packet; a ct helper object is assigned to the packet's connection.
    Objref { kind: u32, name: String },
    /// `payload write reg => LEN @ BASE + OFFSET csum_type T csum_off O csum_flags F`: stores
    /// a register into the packet and fixes a checksum (`ip ttl set 64`). The checksum
    /// attributes are kept as sent: nft omits them when there is nothing to fix, the kernel's
    /// dump always has them.
    PayloadSet(PayloadWrite),
    /// `exthdr write OP reg => LENb @ TYPE + OFFSET`: stores a register into a TCP option
    /// (`tcp option maxseg size set 1400`); the kernel fixes the TCP checksum.
    ExthdrSet(ExthdrWrite),
    /// `connlimit count N flags F`: counts the connections seen by this expression (alone in a
    /// rule, or per element of a dynamic set) and matches when the count is at most N, or
    /// above N with NFT_CONNLIMIT_F_INV in `flags`.
    Connlimit { count: u32, flags: u32 },
    /// `synproxy mss N wscale N` with NF_SYNPROXY_OPT_* `flags` (not printed by nft): answers a
    /// SYN with a SYN cookie and opens the connection to the server once the client's ACK
    /// carries a valid one.
    Synproxy { mss: u16, wscale: u8, flags: u32 },
    /// `tproxy [ip|ip6] [addr reg A] [port reg P]`: gives the packet to a transparent socket
    /// (established, or listening on the address and port in the registers, the packet's own
    /// when absent) and goes on; breaks the rule when there is none. `family` is NFPROTO_*,
    /// 0 when nft was given none (a port alone in an inet table).
    Tproxy {
        family: u32,
        addr: Option<Reg>,
        port: Option<Reg>,
    },
}

/// The attributes of an exthdr write (net/netfilter/nft_exthdr.c, `nft_exthdr_tcp_set_eval`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ExthdrWrite {
    /// NFT_EXTHDR_OP_*.
    pub op: u32,
    /// The option kind (TCPOPT_MAXSEG 2).
    pub kind: u8,
    /// Byte offset in the option, from its kind byte.
    pub offset: u32,
    pub len: u32,
    pub sreg: Reg,
    /// NFTA_EXTHDR_FLAGS as sent: nft 1.0.6 omits it, the kernel's dump has 0.
    pub flags: Option<u32>,
}

/// The attributes of a payload write (net/netfilter/nft_payload.c, `nft_payload_set`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PayloadWrite {
    pub base: u32,
    pub offset: u32,
    pub len: u32,
    pub sreg: Reg,
    /// NFT_PAYLOAD_CSUM_NONE 0, NFT_PAYLOAD_CSUM_INET 1, NFT_PAYLOAD_CSUM_SCTP 2.
    pub csum_type: Option<u32>,
    /// Where the checksum is, from the same header base.
    pub csum_offset: Option<u32>,
    /// NFT_PAYLOAD_L4CSUM_PSEUDOHDR 1: also fix the layer-4 checksum.
    pub csum_flags: Option<u32>,
}

/// The data of an `immediate`: a value for a data register or a verdict for register 0.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ImmData {
    Value(Vec<u8>),
    Verdict(Verdict),
}

/// NFT_CONTINUE, NFT_BREAK, NF_ACCEPT, NF_DROP, NFT_JUMP, NFT_GOTO, NFT_RETURN.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    Accept,
    Drop,
    Continue,
    Break,
    Return,
    Jump(String),
    Goto(String),
}

impl Expr {
    /// The kernel module name sent as `NFTA_EXPR_NAME`.
    pub fn name(&self) -> &str {
        match self {
            Expr::Meta { .. } | Expr::MetaSet { .. } => "meta",
            Expr::Cmp { .. } => "cmp",
            Expr::Payload { .. } => "payload",
            Expr::Bitwise { .. } => "bitwise",
            Expr::Range { .. } => "range",
            Expr::Ct { .. } | Expr::CtSet { .. } => "ct",
            Expr::Immediate { .. } => "immediate",
            Expr::Lookup { .. } => "lookup",
            Expr::Dynset { .. } => "dynset",
            Expr::Limit { .. } => "limit",
            Expr::Counter { .. } => "counter",
            Expr::Log { .. } => "log",
            Expr::Reject { .. } => "reject",
            Expr::Fib { .. } => "fib",
            Expr::Nat { .. } => "nat",
            Expr::Masq(_) => "masq",
            Expr::Redir(_) => "redir",
            Expr::Exthdr { .. } => "exthdr",
            Expr::Other { name, .. } => name,
            Expr::Notrack => "notrack",
            Expr::Numgen { .. } => "numgen",
            Expr::Byteorder { .. } => "byteorder",
            Expr::Rt { .. } => "rt",
            Expr::PayloadSet(_) => "payload",
            Expr::Objref { .. } => "objref",
            Expr::ExthdrSet(_) => "exthdr",
            Expr::Connlimit { .. } => "connlimit",
            Expr::Synproxy { .. } => "synproxy",
            Expr::Tproxy { .. } => "tproxy",
        }
    }

    /// Writes the attributes that go inside `NFTA_EXPR_DATA`.
    fn put_data(&self, out: &mut Vec<u8>) {
        match self {
            Expr::Meta { key, dreg } => meta::put(out, *key, *dreg),
            Expr::MetaSet { key, sreg } => meta::put_set(out, *key, *sreg),
            Expr::Cmp { sreg, op, data } => cmp::put(out, *sreg, *op, data),
            Expr::Payload {
                base,
                offset,
                len,
                dreg,
            } => payload::put(out, *base, *offset, *len, *dreg),
            Expr::Bitwise {
                sreg,
                dreg,
                len,
                mask,
                xor,
                op,
            } => bitwise::put(out, *sreg, *dreg, *len, mask, xor, *op),
            Expr::Range { sreg, op, from, to } => range::put(out, *sreg, *op, from, to),
            Expr::Ct { key, dreg, dir } => ct::put(out, *key, *dreg, *dir),
            Expr::CtSet { key, sreg, dir } => ct::put_set(out, *key, *sreg, *dir),
            Expr::Immediate { dreg, data } => immediate::put(out, *dreg, data),
            Expr::Lookup {
                sreg,
                set,
                set_id,
                dreg,
                flags,
            } => lookup::put(out, *sreg, set, *set_id, *dreg, *flags),
            Expr::Dynset {
                op,
                sreg_key,
                set,
                set_id,
                timeout_ms,
                exprs,
            } => dynset::put(out, *op, *sreg_key, set, *set_id, *timeout_ms, exprs),
            Expr::Limit {
                rate,
                unit,
                burst,
                kind,
                flags,
            } => limit::put(out, *rate, *unit, *burst, *kind, *flags),
            Expr::Counter { packets, bytes } => counter::put(out, *packets, *bytes),
            Expr::Log {
                prefix,
                level,
                flags,
                group,
                snaplen,
                qthreshold,
            } => log::put(
                out,
                prefix.as_deref(),
                *level,
                *flags,
                (*group, *snaplen, *qthreshold),
            ),
            Expr::Reject { kind, code } => reject::put(out, *kind, *code),
            Expr::Fib {
                flags,
                result,
                dreg,
            } => fib::put(out, *flags, *result, *dreg),
            Expr::Nat { kind, family, regs } => nat::put(out, *kind, *family, regs),
            Expr::Masq(regs) => masq::put(out, regs),
            Expr::Redir(regs) => redir::put(out, regs),
            Expr::Exthdr {
                op,
                kind,
                offset,
                len,
                flags,
                dreg,
            } => exthdr::put(
                out,
                &exthdr::Load {
                    op: *op,
                    kind: *kind,
                    offset: *offset,
                    len: *len,
                    flags: *flags,
                    dreg: *dreg,
                },
            ),
            Expr::Other { data, .. } => out.extend_from_slice(data),
            Expr::Notrack => {}
            Expr::Numgen {
                dreg,
                modulus,
                kind,
                offset,
            } => numgen::put(out, *dreg, *modulus, *kind, *offset),
            Expr::Byteorder {
                sreg,
                dreg,
                op,
                len,
                size,
            } => byteorder::put(out, *sreg, *dreg, *op, *len, *size),
            Expr::Rt { key, dreg } => rt::put(out, *key, *dreg),
            Expr::PayloadSet(w) => payload::put_set(out, w),
            Expr::Objref { kind, name } => objref::put(out, *kind, name),
            Expr::ExthdrSet(w) => exthdr::put_set(out, w),
            Expr::Connlimit { count, flags } => connlimit::put(out, *count, *flags),
            Expr::Synproxy { mss, wscale, flags } => synproxy::put(out, *mss, *wscale, *flags),
            Expr::Tproxy { family, addr, port } => tproxy::put(out, *family, *addr, *port),
        }
    }
}

/// Writes `ty` { NFTA_EXPR_NAME, NFTA_EXPR_DATA { ... } }.
pub(crate) fn put_expr(out: &mut Vec<u8>, ty: u16, expr: &Expr) {
    attr::put_nested(out, ty, |out| {
        attr::put_str(out, NFTA_EXPR_NAME, expr.name());
        // nft 1.0.6 sends `notrack` without a data nest (and the kernel dumps it so).
        if *expr != Expr::Notrack {
            attr::put_nested(out, NFTA_EXPR_DATA, |out| expr.put_data(out));
        }
    });
}

/// Writes `ty` { NFTA_LIST_ELEM { expr } ... }, the form of NFTA_RULE_EXPRESSIONS.
pub(crate) fn put_list(out: &mut Vec<u8>, ty: u16, exprs: &[Expr]) {
    attr::put_nested(out, ty, |out| {
        for e in exprs {
            put_expr(out, NFTA_LIST_ELEM, e);
        }
    });
}

/// Reads the payload of an expression nest (NFTA_EXPR_NAME + NFTA_EXPR_DATA).
pub(crate) fn read_expr(payload: &[u8]) -> Result<Expr, DecodeError> {
    let (mut name, mut data) = (None, None);
    for a in Attrs::new(payload) {
        let a = a?;
        match a.kind() {
            NFTA_EXPR_NAME => name = Some(a.str("NFTA_EXPR_NAME")?),
            NFTA_EXPR_DATA => data = Some(a.payload),
            _ => {}
        }
    }
    let name = name.ok_or(DecodeError::Missing {
        what: "NFTA_EXPR_NAME",
    })?;
    let data = data.unwrap_or(&[]);
    let known = match name.as_str() {
        "meta" => meta::read(data),
        "cmp" => cmp::read(data),
        "payload" => payload::read(data),
        "bitwise" => bitwise::read(data),
        "range" => range::read(data),
        "ct" => ct::read(data),
        "immediate" => immediate::read(data),
        "lookup" => lookup::read(data),
        "dynset" => dynset::read(data),
        "limit" => limit::read(data),
        "counter" => counter::read(data),
        "log" => log::read(data),
        "reject" => reject::read(data),
        "fib" => fib::read(data),
        "nat" => nat::read(data),
        "masq" => masq::read(data),
        "redir" => redir::read(data),
        "exthdr" => exthdr::read(data),
        "notrack" => notrack::read(data),
        "numgen" => numgen::read(data),
        "byteorder" => byteorder::read(data),
        "rt" => rt::read(data),
        "objref" => objref::read(data),
        "connlimit" => connlimit::read(data),
        "synproxy" => synproxy::read(data),
        "tproxy" => tproxy::read(data),
        _ => None,
    };
    Ok(known.unwrap_or_else(|| Expr::Other {
        name,
        data: data.to_vec(),
    }))
}

/// Reads a list of NFTA_LIST_ELEM expression nests.
pub(crate) fn read_list(payload: &[u8]) -> Result<Vec<Expr>, DecodeError> {
    let mut exprs = Vec::new();
    for a in Attrs::new(payload) {
        let a = a?;
        if a.kind() == NFTA_LIST_ELEM {
            exprs.push(read_expr(a.payload)?);
        }
    }
    Ok(exprs)
}

/// Collects the attributes of an expression payload for a decoder, `None` on a framing error.
pub(crate) fn attrs_of(data: &[u8]) -> Option<Vec<attr::Attr<'_>>> {
    Attrs::new(data).collect::<Result<Vec<_>, _>>().ok()
}

impl fmt::Display for Expr {
    /// One line exactly as `nft --debug=netlink` prints it, e.g. `[ meta load iifname => reg 1 ]`.
    /// `Other` prints its name and payload size, which nft would decode instead.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "[ {} ", self.name())?;
        self.fmt_body(f)?;
        f.write_str("]")
    }
}

impl Expr {
    /// The part after the name, each item followed by a space, as libnftnl prints it.
    fn fmt_body(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Expr::Meta { key, dreg } => meta::fmt(f, *key, *dreg),
            Expr::MetaSet { key, sreg } => meta::fmt_set(f, *key, *sreg),
            Expr::Cmp { sreg, op, data } => cmp::fmt(f, *sreg, *op, data),
            Expr::Payload {
                base,
                offset,
                len,
                dreg,
            } => payload::fmt(f, *base, *offset, *len, *dreg),
            Expr::Bitwise {
                sreg,
                dreg,
                mask,
                xor,
                ..
            } => bitwise::fmt(f, *sreg, *dreg, mask, xor),
            Expr::Range { sreg, op, from, to } => range::fmt(f, *sreg, *op, from, to),
            Expr::Ct { key, dreg, dir } => ct::fmt(f, *key, *dreg, *dir),
            Expr::CtSet { key, sreg, dir } => ct::fmt_set(f, *key, *sreg, *dir),
            Expr::Immediate { dreg, data } => immediate::fmt(f, *dreg, data),
            Expr::Lookup {
                sreg,
                set,
                dreg,
                flags,
                ..
            } => lookup::fmt(f, *sreg, set, *dreg, *flags),
            Expr::Dynset {
                op,
                sreg_key,
                set,
                timeout_ms,
                exprs,
                ..
            } => dynset::fmt(f, *op, *sreg_key, set, *timeout_ms, exprs),
            Expr::Limit {
                rate,
                unit,
                burst,
                kind,
                flags,
            } => limit::fmt(f, *rate, *unit, *burst, *kind, *flags),
            Expr::Counter { packets, bytes } => write!(f, "pkts {packets} bytes {bytes} "),
            Expr::Log {
                prefix,
                level,
                flags,
                group,
                snaplen,
                qthreshold,
            } => log::fmt(
                f,
                prefix.as_deref(),
                *level,
                *flags,
                (*group, *snaplen, *qthreshold),
            ),
            Expr::Reject { kind, code } => write!(f, "type {kind} code {code} "),
            Expr::Fib {
                flags,
                result,
                dreg,
            } => fib::fmt(f, *flags, *result, *dreg),
            Expr::Nat { kind, family, regs } => nat::fmt(f, *kind, *family, regs),
            Expr::Masq(regs) | Expr::Redir(regs) => masq::fmt(f, regs),
            Expr::Exthdr {
                op,
                kind,
                offset,
                len,
                flags,
                dreg,
            } => exthdr::fmt(
                f,
                &exthdr::Load {
                    op: *op,
                    kind: *kind,
                    offset: *offset,
                    len: *len,
                    flags: *flags,
                    dreg: *dreg,
                },
            ),
            Expr::Other { data, .. } => write!(f, "<{} bytes not decoded> ", data.len()),
            Expr::Notrack => Ok(()),
            Expr::Numgen {
                dreg,
                modulus,
                kind,
                offset,
            } => numgen::fmt(f, *dreg, *modulus, *kind, *offset),
            Expr::Byteorder {
                sreg,
                dreg,
                op,
                len,
                size,
            } => byteorder::fmt(f, *sreg, *dreg, *op, *len, *size),
            Expr::Rt { key, dreg } => rt::fmt(f, *key, *dreg),
            Expr::PayloadSet(w) => payload::fmt_set(f, w),
            Expr::Objref { kind, name } => objref::fmt(f, *kind, name),
            Expr::ExthdrSet(w) => exthdr::fmt_set(f, w),
            Expr::Connlimit { count, flags } => connlimit::fmt(f, *count, *flags),
            Expr::Synproxy { mss, wscale, .. } => synproxy::fmt(f, *mss, *wscale),
            Expr::Tproxy { family, addr, port } => tproxy::fmt(f, *family, *addr, *port),
        }
    }
}
