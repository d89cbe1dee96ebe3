//! The IR as nft syntax: text that `nft -f` (1.0.6 and later) loads unchanged.
//!
//! Every construct has exactly one canonical form, chosen so that nft 1.0.6 generates the
//! bytecode that [`crate::lower`] produces for the same IR (checked with `nft --debug=netlink`).
//! Each rule ends with a `# file:line` comment naming its origin; nft ignores it.
//!
//! Two forms are worth knowing:
//! - [`Match::Flags`] with [`CmpOp::Ne`] prints as `ct state & (established|related) == 0x0`.
//!   nft 1.0.6 reads `ct state != established,related` as a comparison with the OR-ed value
//!   (`cmp neq 0x6`), which matches every packet; the masked form means "none of these bits".
//! - Chain names that nft 1.0.6 cannot read as an identifier (see [`needs_quoting`]) are printed
//!   double-quoted, which newer nft accepts and 1.0.6 does not; the translator warns about them.
//!
//! This module does not validate the IR (lengths, quotes in strings, set references): the
//! translator guarantees those. It never fails and never panics.

use crate::ir::*;

mod ctcount;
mod ext;
mod exthdr;
mod helper;
mod nat;
mod set;
mod time;
mod tproxy;

/// The whole ruleset, one `table` block per table, sets and ct helper objects before chains.
pub fn ruleset(rs: &Ruleset) -> String {
    let mut out = String::new();
    for table in &rs.tables {
        print_table(&mut out, table);
    }
    out
}

/// Whether nft 1.0.6 needs `name` quoted (and then cannot load it): it must start with a
/// letter, `_` or `.`, continue with letters, digits, `/`, `-`, `_` or `.`, and not be one of
/// the scanner's keywords.
pub fn needs_quoting(name: &str) -> bool {
    let mut chars = name.chars();
    let first_ok = chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == '.');
    let rest_ok = chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '/' | '-' | '_' | '.'));
    !(first_ok && rest_ok) || NFT_1_0_6_KEYWORDS.binary_search(&name).is_ok()
}

/// Words nft 1.0.6 does not accept as a chain name, measured by loading
/// `table ip t { chain W { } chain c { jump W } }` with `nft -c` for every token name in its
/// grammar. Sorted for binary search.
const NFT_1_0_6_KEYWORDS: &[&str] = &[
    "accept",
    "add",
    "ah",
    "all",
    "arp",
    "auto-merge",
    "bridge",
    "cgroup",
    "chain",
    "comment",
    "comp",
    "constant",
    "continue",
    "counter",
    "cpu",
    "create",
    "ct",
    "day",
    "dccp",
    "define",
    "delete",
    "describe",
    "device",
    "devices",
    "dnat",
    "drop",
    "dst",
    "dup",
    "dynamic",
    "ecn",
    "element",
    "elements",
    "esp",
    "ether",
    "exists",
    "expires",
    "export",
    "exthdr",
    "fib",
    "flags",
    "flow",
    "flowtable",
    "flush",
    "frag",
    "fwd",
    "gc-interval",
    "get",
    "goto",
    "handle",
    "hbh",
    "hook",
    "hour",
    "ibriport",
    "ibrname",
    "icmp",
    "icmpv6",
    "igmp",
    "iif",
    "iifgroup",
    "iifname",
    "iiftype",
    "import",
    "include",
    "index",
    "inet",
    "insert",
    "interval",
    "ip",
    "ip6",
    "ipsec",
    "jhash",
    "jump",
    "limit",
    "list",
    "log",
    "map",
    "mark",
    "masquerade",
    "meta",
    "meter",
    "mh",
    "missing",
    "monitor",
    "netdev",
    "nftrace",
    "notrack",
    "numgen",
    "obriport",
    "obrname",
    "offload",
    "oif",
    "oifgroup",
    "oifname",
    "oiftype",
    "osf",
    "pkttype",
    "policy",
    "position",
    "priority",
    "queue",
    "quota",
    "random",
    "redefine",
    "redirect",
    "reject",
    "rename",
    "replace",
    "reset",
    "return",
    "rt",
    "rt0",
    "rt2",
    "rtclassid",
    "rule",
    "ruleset",
    "sctp",
    "secmark",
    "set",
    "size",
    "skgid",
    "skuid",
    "snat",
    "socket",
    "srh",
    "symhash",
    "synproxy",
    "table",
    "tcp",
    "th",
    "time",
    "timeout",
    "tproxy",
    "type",
    "typeof",
    "udp",
    "udplite",
    "undefine",
    "update",
    "vlan",
    "vmap",
    "xt",
];

fn print_table(out: &mut String, table: &Table) {
    let family = match table.family {
        Family::Ip => "ip",
        Family::Ip6 => "ip6",
        Family::Inet => "inet",
    };
    out.push_str(&format!("table {family} {} {{\n", name(&table.name)));
    for set in &table.sets {
        print_set(out, set);
    }
    for helper in &table.ct_helpers {
        helper::object(out, helper);
    }
    for chain in &table.chains {
        print_chain(out, chain);
    }
    out.push_str("}\n");
}

fn print_set(out: &mut String, set: &Set) {
    let (word, key): (_, Vec<std::borrow::Cow<str>>) = if set.typeof_key.is_empty() {
        let names = set.key.iter().map(|t| datatype_name(*t).into());
        ("type", names.collect())
    } else {
        ("typeof", set.typeof_key.iter().map(|e| expr(*e)).collect())
    };
    out.push_str(&format!(
        "\tset {} {{ {word} {};",
        name(&set.name),
        key.join(" . ")
    ));
    if let Some(size) = set.size {
        out.push_str(&format!(" size {size};"));
    }
    let flags: Vec<&str> = [
        (set.flags.constant, "constant"),
        (set.flags.interval, "interval"),
        (set.flags.dynamic, "dynamic"),
        (set.flags.timeout, "timeout"),
    ]
    .into_iter()
    .filter_map(|(on, word)| on.then_some(word))
    .collect();
    if !flags.is_empty() {
        out.push_str(&format!(" flags {};", flags.join(",")));
    }
    if let Some(ms) = set.timeout_ms {
        out.push_str(&format!(" timeout {ms}ms;"));
    }
    if !set.elements.is_empty() {
        let datatype = set.key.first().copied().unwrap_or(DataType::Mark);
        let elements: Vec<String> = set.elements.iter().map(|v| value(datatype, v)).collect();
        out.push_str(&format!(" elements = {{ {} }};", elements.join(", ")));
    }
    out.push_str(" }\n");
}

fn print_chain(out: &mut String, chain: &Chain) {
    out.push_str(&format!("\tchain {} {{", name(&chain.name)));
    if let Some(base) = &chain.base {
        let kind = match base.kind {
            ChainKind::Filter => "filter",
            ChainKind::Nat => "nat",
            ChainKind::Route => "route",
        };
        let hook = match base.hook {
            Hook::Prerouting => "prerouting",
            Hook::Input => "input",
            Hook::Forward => "forward",
            Hook::Output => "output",
            Hook::Postrouting => "postrouting",
        };
        let policy = match base.policy {
            Policy::Accept => "accept",
            Policy::Drop => "drop",
        };
        out.push_str(&format!(
            " type {kind} hook {hook} priority {}; policy {policy};",
            base.priority
        ));
    }
    out.push('\n');
    for rule in &chain.rules {
        out.push_str("\t\t");
        out.push_str(&chain_rule_text(rule, chain.family));
        if let Some(origin) = &rule.origin {
            out.push_str(&format!(" # {}", one_line(&origins(origin, &rule.merged))));
        }
        out.push('\n');
    }
    out.push_str("\t}\n");
}

/// Where a rule came from: `file:line`, or for a rule the optimizer merged, every line with
/// consecutive ones as a range (`a.rules:5-104,107 b.rules:3`).
pub fn origins(first: &Origin, merged: &[Origin]) -> String {
    let mut out = String::new();
    let mut file: Option<&str> = None;
    let mut span: Option<(u32, u32)> = None;
    let flush = |out: &mut String, span: Option<(u32, u32)>| match span {
        Some((a, b)) if a == b => out.push_str(&a.to_string()),
        Some((a, b)) => out.push_str(&format!("{a}-{b}")),
        None => {}
    };
    for o in std::iter::once(first).chain(merged) {
        if file == Some(&*o.file) {
            match &mut span {
                Some((_, b)) if o.line == b.saturating_add(1) => *b = o.line,
                _ => {
                    flush(&mut out, span);
                    out.push(',');
                    span = Some((o.line, o.line));
                }
            }
        } else {
            flush(&mut out, span);
            if file.is_some() {
                out.push(' ');
            }
            out.push_str(&format!("{}:", o.file));
            file = Some(&*o.file);
            span = Some((o.line, o.line));
        }
    }
    flush(&mut out, span);
    out
}

/// One rule's statements and comment, without the origin comment.
pub fn rule_text(rule: &Rule) -> String {
    let mut parts: Vec<String> = rule.stmts.iter().map(stmt).collect();
    if let Some(comment) = &rule.comment {
        parts.push(format!("comment {}", quoted(comment)));
    }
    parts.join(" ")
}

/// [`rule_text`] for a rule of a chain of `family` in an inet table ([`crate::inet`]), where
/// nft needs the family of a NAT address said (`snat ip to 10.0.0.1`).
fn chain_rule_text(rule: &Rule, family: Option<Family>) -> String {
    let Some(family) = family else {
        return rule_text(rule);
    };
    let mut parts: Vec<String> = rule
        .stmts
        .iter()
        .map(|s| match s {
            Stmt::Nat(n) => nat::nat_in(n, family),
            Stmt::Tproxy(t) => tproxy::tproxy(t, Some(family)),
            _ => stmt(s),
        })
        .collect();
    if let Some(comment) = &rule.comment {
        parts.push(format!("comment {}", quoted(comment)));
    }
    parts.join(" ")
}

fn stmt(s: &Stmt) -> String {
    match s {
        Stmt::Match(m) => match_text(m),
        Stmt::Counter(c) => format!("counter packets {} bytes {}", c.packets, c.bytes),
        Stmt::Limit(l) => limit(l),
        Stmt::SetUpdate {
            set,
            key,
            limit: lim,
            masks,
        } => {
            let key: Vec<_> = key
                .iter()
                .enumerate()
                .map(|(i, e)| match masks.get(i) {
                    Some(Some(m)) => format!("{} & {m}", expr(*e)),
                    _ => expr(*e).into_owned(),
                })
                .collect();
            let mut text = format!("update @{set} {{ {}", key.join(" . "));
            if let Some(l) = lim {
                text.push(' ');
                text.push_str(&limit(l));
            }
            text.push_str(" }");
            text
        }
        Stmt::Log(l) => log(l),
        Stmt::Reject(r) => reject(*r),
        Stmt::Verdict(v) => verdict(v),
        Stmt::Vmap { key, map } => {
            let entries: Vec<String> = map
                .iter()
                .map(|e| {
                    format!(
                        "{} : {}",
                        value(key.datatype(), &e.value),
                        verdict(&e.verdict)
                    )
                })
                .collect();
            format!("{} vmap {{ {} }}", expr(*key), entries.join(", "))
        }
        Stmt::Nat(n) => nat::nat(n),
        Stmt::MarkSet(m) => ext::mark_set(m),
        Stmt::SetAdd { set, key } => set::elem_stmt("add", set, key),
        Stmt::SetDelete { set, key } => set::elem_stmt("delete", set, key),
        Stmt::Notrack => "notrack".to_string(),
        Stmt::CtZoneSet(zone) => format!("ct zone set {zone}"),
        Stmt::CtDirZoneSet { zone, reply } => format!(
            "ct {} zone set {zone}",
            if *reply { "reply" } else { "original" }
        ),
        Stmt::PrioritySet(p) => ext::priority_set(*p),
        Stmt::HeaderSet { field, value } => {
            format!("{} set {value}", expr(Expr::Payload(*field)))
        }
        Stmt::CtHelperSet(helper) => format!("ct helper set \"{helper}\""),
        Stmt::MaxsegSet(m) => exthdr::maxseg_set(*m),
        Stmt::DscpSet { field, value } => {
            format!("{} set {value}", expr(Expr::Payload(*field)))
        }
        Stmt::CtCount(c) => ctcount::ct_count(c),
        Stmt::Synproxy(sp) => synproxy(sp),
        Stmt::Tproxy(t) => tproxy::tproxy(t, None),
    }
}

/// In nft's listing order; nft 1.0.6 has no keyword for the ECN flag.
fn verdict(v: &Verdict) -> String {
    match v {
        Verdict::Accept => "accept".to_string(),
        Verdict::Drop => "drop".to_string(),
        Verdict::Return => "return".to_string(),
        Verdict::Jump(chain) => format!("jump {}", name(chain)),
        Verdict::Goto(chain) => format!("goto {}", name(chain)),
    }
}

fn synproxy(sp: &crate::ir::Synproxy) -> String {
    let mut text = "synproxy".to_string();
    if let Some(mss) = sp.mss {
        text.push_str(&format!(" mss {mss}"));
    }
    if let Some(wscale) = sp.wscale {
        text.push_str(&format!(" wscale {wscale}"));
    }
    if sp.timestamp {
        text.push_str(" timestamp");
    }
    if sp.sack_perm {
        text.push_str(" sack-perm");
    }
    text
}

fn match_text(m: &Match) -> String {
    match m {
        Match::Order { left, op, right } => {
            let op = match op {
                OrderOp::Lt => "<",
                OrderOp::Gt => ">",
            };
            format!("{} {op} {}", expr(*left), number(left.datatype(), *right))
        }
        Match::Cmp { left, op, right } => {
            let op = match op {
                CmpOp::Eq => "",
                CmpOp::Ne => "!= ",
            };
            format!("{} {op}{}", expr(*left), value(left.datatype(), right))
        }
        Match::Masked {
            left,
            mask,
            op,
            value: v,
        } => {
            let t = left.datatype();
            let mask = match (t, &**mask) {
                (DataType::TcpFlag | DataType::CtState | DataType::CtStatus, Value::Num(bits))
                    if bits.count_ones() > 1 =>
                {
                    format!("({})", bitmask(t, *bits, "|"))
                }
                _ => value(t, mask),
            };
            let (op, v) = match (t, v) {
                (DataType::TcpFlag | DataType::CtState | DataType::CtStatus, Value::Num(bits)) => {
                    (cmp_op(*op), bitmask(t, *bits, "|"))
                }
                // A set is written without `==`, as in an unmasked lookup.
                (_, Value::Set(_)) if *op == CmpOp::Eq => ("", value(t, v)),
                _ => (cmp_op(*op), value(t, v)),
            };
            let sep = if op.is_empty() { "" } else { " " };
            format!("{} & {mask} {op}{sep}{v}", expr(*left))
        }
        Match::Flags {
            left,
            bits,
            op: CmpOp::Eq,
        } => {
            format!("{} {}", expr(*left), bitmask(left.datatype(), *bits, ","))
        }
        Match::Flags {
            left,
            bits,
            op: CmpOp::Ne,
        } => {
            let t = left.datatype();
            let mask = if bits.count_ones() > 1 {
                format!("({})", bitmask(t, *bits, "|"))
            } else {
                bitmask(t, *bits, "|")
            };
            format!("{} & {mask} == 0x0", expr(*left))
        }
        Match::Lookup { key, set, op } => set::lookup(key, set, *op),
        Match::Numgen {
            kind,
            modulus,
            op,
            value,
        } => ext::numgen(*kind, *modulus, *op, *value),
        Match::Time(t) => time::time(t),
    }
}

fn cmp_op(op: CmpOp) -> &'static str {
    match op {
        CmpOp::Eq => "==",
        CmpOp::Ne => "!=",
    }
}

fn expr(e: Expr) -> std::borrow::Cow<'static, str> {
    std::borrow::Cow::Borrowed(match e {
        Expr::Exthdr(x) => return exthdr::exthdr(x),
        Expr::Fib(fib) => ext::fib(fib),
        Expr::Meta(k) => match k {
            MetaKey::Iifname => "iifname",
            MetaKey::Oifname => "oifname",
            MetaKey::L4proto => "meta l4proto",
            MetaKey::Nfproto => "meta nfproto",
            MetaKey::Mark => "meta mark",
            MetaKey::Skuid => "meta skuid",
            MetaKey::Skgid => "meta skgid",
            MetaKey::Pkttype => "meta pkttype",
            MetaKey::Secpath => "meta ipsec",
            MetaKey::Day => "meta day",
            MetaKey::Len => "meta length",
        },
        Expr::Ct(k) => match k {
            CtKey::State => "ct state",
            CtKey::Status => "ct status",
            CtKey::Mark => "ct mark",
            CtKey::Protocol => "ct protocol",
            CtKey::OrigProtoSrc => "ct original proto-src",
            CtKey::OrigProtoDst => "ct original proto-dst",
            CtKey::ReplProtoSrc => "ct reply proto-src",
            CtKey::ReplProtoDst => "ct reply proto-dst",
            CtKey::OrigIpSaddr => "ct original ip saddr",
            CtKey::OrigIpDaddr => "ct original ip daddr",
            CtKey::ReplIpSaddr => "ct reply ip saddr",
            CtKey::ReplIpDaddr => "ct reply ip daddr",
            CtKey::OrigIp6Saddr => "ct original ip6 saddr",
            CtKey::OrigIp6Daddr => "ct original ip6 daddr",
            CtKey::ReplIp6Saddr => "ct reply ip6 saddr",
            CtKey::ReplIp6Daddr => "ct reply ip6 daddr",
            CtKey::Direction => "ct direction",
            CtKey::Zone => "ct zone",
            CtKey::Expiration => "ct expiration",
        },
        Expr::Payload(f) => match f {
            Field::IpProtocol => "ip protocol",
            Field::IpSaddr => "ip saddr",
            Field::IpDaddr => "ip daddr",
            Field::IpFragOff => "ip frag-off",
            Field::Ip6Nexthdr => "ip6 nexthdr",
            Field::Ip6Saddr => "ip6 saddr",
            Field::Ip6Daddr => "ip6 daddr",
            Field::TcpSport => "tcp sport",
            Field::TcpDport => "tcp dport",
            Field::ThSport => "th sport",
            Field::ThDport => "th dport",
            Field::TcpFlags => "tcp flags",
            Field::UdpSport => "udp sport",
            Field::UdpDport => "udp dport",
            Field::IcmpType => "icmp type",
            Field::IcmpCode => "icmp code",
            Field::Icmpv6Type => "icmpv6 type",
            Field::Icmpv6Code => "icmpv6 code",
            Field::IpTtl => "ip ttl",
            Field::Ip6Hoplimit => "ip6 hoplimit",
            Field::IpLength => "ip length",
            Field::Ip6Length => "ip6 length",
            Field::EtherSaddr => "ether saddr",
            Field::IpDscp => "ip dscp",
            Field::Ip6Dscp => "ip6 dscp",
            Field::IpEcn => "ip ecn",
            Field::Ip6Ecn => "ip6 ecn",
            Field::IpTos => "@nh,8,8",
        },
        Expr::Rt(RtKey::Ipsec) => "rt ipsec",
        Expr::FibOif(f) => ext::fib_oif(f),
        Expr::NhWord(offset) => return format!("@nh,{},32", u64::from(offset) * 8).into(),
    })
}

fn datatype_name(t: DataType) -> &'static str {
    match t {
        DataType::Ifname => "ifname",
        DataType::Ipv4Addr => "ipv4_addr",
        DataType::Ipv6Addr => "ipv6_addr",
        DataType::InetProto => "inet_proto",
        DataType::InetService => "inet_service",
        DataType::TcpFlag => "tcp_flag",
        DataType::IcmpType => "icmp_type",
        DataType::IcmpCode => "icmp_code",
        DataType::Icmpv6Type => "icmpv6_type",
        DataType::Icmpv6Code => "icmpv6_code",
        DataType::CtState => "ct_state",
        DataType::CtStatus => "ct_status",
        DataType::Mark => "mark",
        DataType::NfProto => "nf_proto",
        DataType::FibAddrtype => "fib_addrtype",
        DataType::Uid => "uid",
        DataType::Gid => "gid",
        DataType::Integer16 | DataType::Integer8 | DataType::Integer32 => "integer",
        DataType::PktType => "pkt_type",
        DataType::Boolean => "boolean",
        DataType::EtherAddr => "ether_addr",
        DataType::CtDir => "ct_dir",
        DataType::Day => "day",
        DataType::Word32 | DataType::HostInteger32 | DataType::CtZone => "integer",
        DataType::TimeMs => "time",
    }
}

fn value(t: DataType, v: &Value) -> String {
    match v {
        Value::Iface { name, wildcard } => {
            let mut text = name.replace('*', "\\*");
            if *wildcard {
                text.push('*');
            }
            quoted(&text)
        }
        Value::Addr(a) => a.to_string(),
        Value::Prefix { addr, len } => format!("{addr}/{len}"),
        Value::Num(n) => number(t, *n),
        Value::Range(a, b) => format!("{}-{}", number(t, *a), number(t, *b)),
        Value::AddrRange(a, b) => format!("{a}-{b}"),
        Value::Set(items) => {
            let items: Vec<String> = items.iter().map(|i| value(t, i)).collect();
            format!("{{ {} }}", items.join(", "))
        }
    }
}

/// A number in the form nft prints for the type: a symbol where nft has one, else decimal.
fn number(t: DataType, n: u64) -> String {
    let symbol = match t {
        DataType::InetProto => symbol(INET_PROTOS, n),
        DataType::IcmpType => symbol(ICMP_TYPES, n),
        DataType::Icmpv6Type => symbol(ICMPV6_TYPES, n),
        DataType::NfProto => symbol(&[(2, "ipv4"), (10, "ipv6")], n),
        DataType::FibAddrtype => symbol(ext::FIB_ADDRTYPES, n),
        DataType::PktType => symbol(ext::PKT_TYPES, n),
        DataType::Boolean => symbol(exthdr::BOOLEANS, n),
        DataType::CtDir => symbol(&[(0, "original"), (1, "reply")], n),
        DataType::TcpFlag | DataType::CtState | DataType::CtStatus => {
            return bitmask(t, n, "|");
        }
        DataType::Mark | DataType::Word32 => return format!("{n:#x}"),
        // nft's time parser refuses a unit with more than 8 digits (`432000999ms`), so whole
        // seconds go first: `432000s999ms`.
        DataType::TimeMs => {
            return match (n / 1000, n % 1000) {
                (0, ms) => format!("{ms}ms"),
                (s, 0) => format!("{s}s"),
                (s, ms) => format!("{s}s{ms}ms"),
            }
        }
        DataType::EtherAddr => {
            let bytes = n.to_be_bytes();
            let octets: Vec<String> = bytes[2..].iter().map(|b| format!("{b:02x}")).collect();
            return octets.join(":");
        }
        _ => None,
    };
    symbol.map_or_else(|| n.to_string(), str::to_string)
}

fn symbol(table: &[(u64, &'static str)], n: u64) -> Option<&'static str> {
    table.iter().find(|(v, _)| *v == n).map(|(_, s)| *s)
}

/// Bits as `fin|syn` (or `established,related` with `sep` ","); bits without a name and the
/// empty mask print as hex.
fn bitmask(t: DataType, bits: u64, sep: &str) -> String {
    let names: &[(u64, &str)] = match t {
        DataType::TcpFlag => TCP_FLAGS,
        DataType::CtState => CT_STATES,
        DataType::CtStatus => CT_STATUSES,
        _ => &[],
    };
    let known = names.iter().fold(0, |acc, (bit, _)| acc | bit);
    if bits == 0 || bits & !known != 0 {
        return format!("{bits:#x}");
    }
    let words: Vec<&str> = names
        .iter()
        .filter(|(bit, _)| bits & bit != 0)
        .map(|(_, word)| *word)
        .collect();
    words.join(sep)
}

const TCP_FLAGS: &[(u64, &str)] = &[
    (tcp_flag::FIN, "fin"),
    (tcp_flag::SYN, "syn"),
    (tcp_flag::RST, "rst"),
    (tcp_flag::PSH, "psh"),
    (tcp_flag::ACK, "ack"),
    (tcp_flag::URG, "urg"),
    (tcp_flag::ECN, "ecn"),
    (tcp_flag::CWR, "cwr"),
];

const CT_STATES: &[(u64, &str)] = &[
    (ct_state::INVALID, "invalid"),
    (ct_state::ESTABLISHED, "established"),
    (ct_state::RELATED, "related"),
    (ct_state::NEW, "new"),
    (ct_state::UNTRACKED, "untracked"),
];

const CT_STATUSES: &[(u64, &str)] = &[
    (1, "expected"),
    (2, "seen-reply"),
    (4, "assured"),
    (8, "confirmed"),
    (16, "snat"),
    (32, "dnat"),
    (512, "dying"),
];

const INET_PROTOS: &[(u64, &str)] = &[
    (1, "icmp"),
    (2, "igmp"),
    (6, "tcp"),
    (17, "udp"),
    (47, "gre"),
    (50, "esp"),
    (51, "ah"),
    (58, "ipv6-icmp"),
    (132, "sctp"),
    (136, "udplite"),
];

const ICMP_TYPES: &[(u64, &str)] = &[
    (0, "echo-reply"),
    (3, "destination-unreachable"),
    (4, "source-quench"),
    (5, "redirect"),
    (8, "echo-request"),
    (9, "router-advertisement"),
    (10, "router-solicitation"),
    (11, "time-exceeded"),
    (12, "parameter-problem"),
    (13, "timestamp-request"),
    (14, "timestamp-reply"),
    (15, "info-request"),
    (16, "info-reply"),
    (17, "address-mask-request"),
    (18, "address-mask-reply"),
];

const ICMPV6_TYPES: &[(u64, &str)] = &[
    (1, "destination-unreachable"),
    (2, "packet-too-big"),
    (3, "time-exceeded"),
    (4, "parameter-problem"),
    (128, "echo-request"),
    (129, "echo-reply"),
    (130, "mld-listener-query"),
    (131, "mld-listener-report"),
    (132, "mld-listener-done"),
    (133, "nd-router-solicit"),
    (134, "nd-router-advert"),
    (135, "nd-neighbor-solicit"),
    (136, "nd-neighbor-advert"),
    (137, "nd-redirect"),
    (138, "router-renumbering"),
    (143, "mld2-listener-report"),
];

fn limit(l: &Limit) -> String {
    let unit = match l.unit {
        TimeUnit::Second => "second",
        TimeUnit::Minute => "minute",
        TimeUnit::Hour => "hour",
        TimeUnit::Day => "day",
        TimeUnit::Week => "week",
    };
    let over = if l.over { "over " } else { "" };
    format!(
        "limit rate {over}{}/{unit} burst {} packets",
        l.rate, l.burst
    )
}

fn log(l: &Log) -> String {
    let mut text = String::from("log");
    if let Some(prefix) = &l.prefix {
        text.push_str(&format!(" prefix {}", quoted(prefix)));
    }
    if let Some(group) = l.group {
        text.push_str(&format!(" group {group}"));
    }
    if let Some(snaplen) = l.snaplen {
        text.push_str(&format!(" snaplen {snaplen}"));
    }
    if let Some(q) = l.queue_threshold {
        text.push_str(&format!(" queue-threshold {q}"));
    }
    if let Some(level) = l.level {
        let word = match level {
            0 => "emerg",
            1 => "alert",
            2 => "crit",
            3 => "err",
            4 => "warn",
            5 => "notice",
            6 => "info",
            _ => "debug",
        };
        text.push_str(&format!(" level {word}"));
    }
    let f = &l.flags;
    let tcp: Vec<&str> = [(f.tcp_sequence, "sequence"), (f.tcp_options, "options")]
        .into_iter()
        .filter_map(|(on, word)| on.then_some(word))
        .collect();
    if !tcp.is_empty() {
        text.push_str(&format!(" flags tcp {}", tcp.join(",")));
    }
    if f.ip_options {
        text.push_str(" flags ip options");
    }
    if f.uid {
        text.push_str(" flags skuid");
    }
    if f.macdecode {
        text.push_str(" flags ether");
    }
    text
}

fn reject(r: Reject) -> String {
    let code = |table: &[(u64, &'static str)], c: u8| {
        symbol(table, u64::from(c)).map_or_else(|| c.to_string(), str::to_string)
    };
    match r {
        Reject::Icmp(c) => format!("reject with icmp type {}", code(REJECT_ICMP, c)),
        Reject::Icmpv6(c) => format!("reject with icmpv6 type {}", code(REJECT_ICMPV6, c)),
        Reject::Icmpx(c) => format!("reject with icmpx type {}", code(REJECT_ICMPX, c)),
        Reject::TcpReset => "reject with tcp reset".to_string(),
    }
}

const REJECT_ICMP: &[(u64, &str)] = &[
    (0, "net-unreachable"),
    (1, "host-unreachable"),
    (2, "prot-unreachable"),
    (3, "port-unreachable"),
    (9, "net-prohibited"),
    (10, "host-prohibited"),
    (13, "admin-prohibited"),
];

const REJECT_ICMPV6: &[(u64, &str)] = &[
    (0, "no-route"),
    (1, "admin-prohibited"),
    (3, "addr-unreachable"),
    (4, "port-unreachable"),
    (5, "policy-fail"),
    (6, "reject-route"),
];

const REJECT_ICMPX: &[(u64, &str)] = &[
    (0, "no-route"),
    (1, "port-unreachable"),
    (2, "host-unreachable"),
    (3, "admin-prohibited"),
];

/// A table, chain or set name: bare when nft 1.0.6 reads it as an identifier, else quoted.
fn name(n: &str) -> String {
    if needs_quoting(n) {
        quoted(n)
    } else {
        n.to_string()
    }
}

/// A double-quoted nft string. nft has no escape for `"` and ends a statement at a newline,
/// so those become `'` and a space (the translator has already refused or warned about them).
fn quoted(s: &str) -> String {
    let clean: String = s
        .chars()
        .map(|c| match c {
            '"' => '\'',
            c if c.is_control() => ' ',
            c => c,
        })
        .collect();
    format!("\"{clean}\"")
}

fn one_line(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keyword_table_is_sorted_for_binary_search() {
        let mut sorted = NFT_1_0_6_KEYWORDS.to_vec();
        sorted.sort_unstable();
        assert_eq!(sorted, NFT_1_0_6_KEYWORDS);
    }

    #[test]
    fn names_that_nft_1_0_6_cannot_read_need_quotes() {
        for plain in ["INPUT", "web", "_a", ".x", "a/b-c.d_e", "LOG", "input"] {
            assert!(!needs_quoting(plain), "{plain}");
        }
        for odd in ["1st", "log", "drop", "IN:X", "a b", "", "-a", "a@b"] {
            assert!(needs_quoting(odd), "{odd}");
        }
    }

    #[test]
    fn flags_ne_prints_as_none_of_the_bits() {
        let m = Match::Flags {
            left: Expr::Ct(CtKey::State),
            bits: ct_state::ESTABLISHED | ct_state::RELATED,
            op: CmpOp::Ne,
        };
        assert_eq!(match_text(&m), "ct state & (established|related) == 0x0");
    }

    #[test]
    fn merged_origins_print_consecutive_lines_as_ranges() {
        let o = |file: &str, line| Origin {
            file: file.into(),
            line,
        };
        let cases = [
            (o("f", 5), vec![], "f:5"),
            (o("f", 5), vec![o("f", 6), o("f", 7)], "f:5-7"),
            (
                o("f", 5),
                vec![o("f", 7), o("f", 8), o("f", 10)],
                "f:5,7-8,10",
            ),
            (o("a", 1), vec![o("a", 2), o("b", 3)], "a:1-2 b:3"),
        ];
        for (first, merged, want) in cases {
            assert_eq!(origins(&first, &merged), want);
        }
    }

    #[test]
    fn literal_star_in_interface_name_is_escaped() {
        let v = Value::Iface {
            name: "a*b".into(),
            wildcard: true,
        };
        assert_eq!(value(DataType::Ifname, &v), r#""a\*b*""#);
    }
}
