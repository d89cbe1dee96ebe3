//! The tests iptables keeps in the rule header: `-s`, `-d`, `-p`, `-i`, `-o` and `-f`.
//!
//! Exactness notes: `/0` and a lone `+` match everything and emit nothing, while their
//! negations match nothing and are refused; `-p all` matches everything; host bits in an
//! address are ignored by iptables and normalised here with a warning; a dotted mask that is
//! not a prefix becomes `& mask == value`; ip6tables' `-p` is the upper-layer protocol after
//! extension headers, which is `meta l4proto`, not `ip6 nexthdr`. An address list
//! (`-d 1.2.3.4,5.6.7.0/24`) is expanded as iptables-restore expands it, into one rule per
//! combination, sources outer and destinations inner, duplicates kept ([`combinations`]); a
//! `!` on either address of such a rule is refused, as iptables refuses it. A host or network
//! name stands for the addresses the importing host resolves it to ([`crate::names`]), one
//! rule each like a list.

use crate::rule::Cx;
use crate::{names, IpFamily};
use fwnet_iptables::{Diagnostic, Opt};
use fwnet_nft::{CmpOp, Expr, Field, Match, MetaKey, Stmt, Value};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

pub(crate) fn protocol_name(p: u8) -> &'static str {
    match p {
        58 => "icmpv6",
        _ => fwnet_nft::protocols::name(p).unwrap_or("?"),
    }
}

/// Reads `-p`: `Some((number, negated))`, or `None` for `all`/`0` (every packet) or an error.
pub(crate) fn read_protocol(opt: &Opt, cx: &mut Cx) -> Option<(u8, bool)> {
    let arg = cx.one_arg(opt)?;
    // Nearly always lower case already: a copy only for the others.
    let lower = if arg.bytes().any(|b| b.is_ascii_uppercase()) {
        std::borrow::Cow::Owned(arg.to_ascii_lowercase())
    } else {
        std::borrow::Cow::Borrowed(arg)
    };
    let p = if lower == "all" {
        0
    } else if let Ok(n) = lower.parse::<u8>() {
        n
    } else if let Some(n) = fwnet_nft::protocols::number(&lower) {
        n
    } else {
        cx.bad_value(opt, arg, "use a protocol number (see /etc/protocols) or tcp, udp, icmp, icmpv6, esp, ah, gre, sctp, all");
        return None;
    };
    if p == 0 {
        if opt.negated.is_negated() {
            never_matches(opt, cx);
        }
        return None;
    }
    Some((p, opt.negated.is_negated()))
}

/// The statement for one header option, if it tests anything (`-p` was read already into
/// `cx.protocol`).
pub(crate) fn translate(opt: &Opt, chain: &str, cx: &mut Cx) -> Option<Stmt> {
    let op = if opt.negated.is_negated() {
        CmpOp::Ne
    } else {
        CmpOp::Eq
    };
    match opt.name.as_str() {
        "-p" | "--protocol" => {
            let (p, _) = cx.protocol?;
            let left = match cx.family {
                IpFamily::V4 => Expr::Payload(Field::IpProtocol),
                IpFamily::V6 => Expr::Meta(MetaKey::L4proto),
            };
            Some(Stmt::Match(Match::Cmp {
                left,
                op,
                right: Value::Num(u64::from(p)),
            }))
        }
        "-s" | "--source" | "--src" => address(opt, true, cx),
        "-d" | "--destination" | "--dst" => address(opt, false, cx),
        "-i" | "--in-interface" => interface(opt, true, chain, cx),
        "-o" | "--out-interface" => interface(opt, false, chain, cx),
        _ => fragment(opt, op, cx),
    }
}

/// The header statements of one rule, once per address combination: iptables-restore turns
/// `-s A,B -d C,D` into the kernel rules (A,C) (A,D) (B,C) (B,D), in that order, each with
/// every other part of the rule; each statement list here is in the order the options were
/// written. One element when the rule has no address list.
pub(crate) fn combinations(header: &[&Opt], chain: &str, cx: &mut Cx) -> Vec<Vec<Stmt>> {
    let is_list = |opt: &&Opt| {
        generic_address(&opt.name).is_some()
            && matches!(opt.args.as_slice(), [arg] if arg.contains(',') || names::host_name(arg).is_some())
    };
    if !header.iter().any(is_list) {
        // Nearly every rule: one combination, built in place.
        let mut stmts = Vec::with_capacity(header.len() + 2);
        for opt in header {
            stmts.extend(translate(opt, chain, cx));
        }
        return vec![stmts];
    }
    // Per option: the alternatives it contributes (one, except for an address list or a
    // name with several addresses).
    let mut parts: Vec<(Option<bool>, Vec<Vec<Stmt>>)> = Vec::new();
    for opt in header {
        let source = generic_address(&opt.name);
        let list = match (source, opt.args.as_slice()) {
            (Some(source), [arg]) if is_list(opt) => Some((source, arg)),
            _ => None,
        };
        let Some((source, arg)) = list else {
            parts.push((None, vec![translate(opt, chain, cx).into_iter().collect()]));
            continue;
        };
        let mut alternatives = Vec::new();
        for item in arg.split(',') {
            if item.is_empty() {
                cx.bad_value(
                    opt,
                    arg,
                    "an address list is addresses separated by single commas, without spaces",
                );
                break;
            }
            let Some(name) = names::host_name(item) else {
                alternatives.push(
                    address_item(opt, item, source, false, cx)
                        .into_iter()
                        .collect(),
                );
                continue;
            };
            let Some(addrs) = resolved(opt, item, name, cx) else {
                break;
            };
            let mask = item.split_once('/').map(|(_, m)| m);
            for a in addrs {
                let text = match mask {
                    Some(m) => format!("{a}/{m}"),
                    None => a.to_string(),
                };
                alternatives.push(
                    address_item(opt, &text, source, true, cx)
                        .into_iter()
                        .collect(),
                );
            }
        }
        parts.push((Some(source), alternatives));
    }
    let several = parts.iter().any(|(s, alts)| s.is_some() && alts.len() > 1);
    if several {
        if let Some(negated) = header
            .iter()
            .find(|o| o.negated.is_negated() && generic_address(o.name.as_str()).is_some())
        {
            cx.error(
                "translate/bad-value",
                &negated.loc,
                format!("`! {}` in a rule with several addresses", negated.name),
                "iptables refuses `!` with several addresses (an address list, or a name that resolves to more than one; the rules would be OR-ed, not AND-ed); match the addresses with `! -m set --match-set NAME` or one `-j RETURN` rule per address in a user chain",
            );
            return vec![Vec::new()];
        }
    }
    let count = |want: bool| {
        parts
            .iter()
            .find(|(s, _)| *s == Some(want))
            .map_or(1, |(_, alts)| alts.len())
    };
    let (sources, destinations) = (count(true), count(false));
    let mut out = Vec::with_capacity(sources * destinations);
    for s in 0..sources {
        for d in 0..destinations {
            let mut stmts = Vec::new();
            for (kind, alts) in &parts {
                let pick = match kind {
                    Some(true) => s,
                    Some(false) => d,
                    None => 0,
                };
                if let Some(alt) = alts.get(pick) {
                    stmts.extend(alt.iter().cloned());
                }
            }
            out.push(stmts);
        }
    }
    out
}

/// The addresses the importing host gave for host or network `name` (from `item`, an
/// address list item), reported in a warning; `None`, with an error, when names are not
/// resolved or this one did not resolve, as iptables-restore stops at it.
fn resolved(opt: &Opt, item: &str, name: &str, cx: &mut Cx) -> Option<Vec<IpAddr>> {
    let (family, getent) = match cx.family {
        IpFamily::V4 => ("an IPv4", "ahostsv4"),
        IpFamily::V6 => ("an IPv6", "ahostsv6"),
    };
    let Some(names) = cx.names else {
        cx.bad_value(
            opt,
            item,
            format!("expected {family} address with an optional /prefix or /mask; `{name}` is a host name, and names are not resolved here (`fwnet import` resolves them unless given `--no-resolve`)"),
        );
        return None;
    };
    let addrs = match names.host(name, cx.family) {
        Ok(addrs) if !addrs.is_empty() => addrs,
        answer => {
            let why = match answer {
                Err(e) => {
                    format!("host/network `{name}` could not be resolved on this host: {e}")
                }
                Ok(_) => format!("host/network `{name}` not found on this host"),
            };
            cx.error(
                "translate/bad-value",
                &opt.loc,
                why,
                format!("iptables-restore stops at it too; write the address, or check the name with `getent {getent} {name}`"),
            );
            return None;
        }
    };
    let list: Vec<String> = addrs.iter().map(IpAddr::to_string).collect();
    let rules = if addrs.len() == 1 {
        String::new()
    } else {
        format!(
            " ({} rules, one per address, as iptables makes)",
            addrs.len()
        )
    };
    cx.warn(
        "translate/resolved-name",
        &opt.loc,
        format!("`{name}` resolved to {} on this host{rules}", list.join(", ")),
        "iptables-restore looks names up when it loads the rules, `fwnet import` when it reads them: the stored ruleset keeps these addresses until the next import (`--no-resolve` refuses names instead)",
    );
    Some(addrs)
}

/// `Some(true)` for `-s`, `Some(false)` for `-d`.
fn generic_address(name: &str) -> Option<bool> {
    match name {
        "-s" | "--source" | "--src" => Some(true),
        "-d" | "--destination" | "--dst" => Some(false),
        _ => None,
    }
}

/// `-f`: the packet is a non-first fragment, i.e. its fragment offset (the low 13 bits of
/// `frag_off`, IP_OFFSET) is not zero, as ip_packet_match tests it; `! -f` is offset zero.
fn fragment(opt: &Opt, op: CmpOp, cx: &mut Cx) -> Option<Stmt> {
    if cx.family == IpFamily::V6 {
        cx.error(
            "translate/bad-value",
            &opt.loc,
            format!("`{}` does not exist in ip6tables", opt.name),
            "ip6tables refuses it; match the fragment header with `-m frag` instead",
        );
        return None;
    }
    if !cx.no_arg(opt) {
        return None;
    }
    // ip_local_deliver reassembles a datagram before the INPUT hook, in every kernel: such a
    // rule has never matched, under iptables either. The translation keeps it; the user hears.
    // (In a user chain INPUT alone reaches, `fragments::warn_input_only` says so.)
    let said = |d: &Diagnostic| d.code == FRAGMENT_ON_INPUT && d.line == opt.loc.line;
    if op == CmpOp::Eq && cx.chain == "INPUT" && !cx.diags.iter().any(said) {
        cx.warn(
            FRAGMENT_ON_INPUT,
            &opt.loc,
            "`-f` in INPUT never matches: the kernel reassembles an IPv4 datagram before INPUT \
             sees it (under iptables too), so this rule has never applied",
            FRAGMENT_ON_INPUT_HELP,
        );
    }
    Some(Stmt::Match(Match::Masked {
        left: Expr::Payload(Field::IpFragOff),
        mask: Box::new(Value::Num(IP_OFFSET)),
        op: match op {
            CmpOp::Eq => CmpOp::Ne,
            CmpOp::Ne => CmpOp::Eq,
        },
        value: Value::Num(0),
    }))
}

/// The warning for `-f` in INPUT, or in a chain only INPUT reaches.
pub(crate) const FRAGMENT_ON_INPUT: &str = "translate/fragment-on-input";

pub(crate) const FRAGMENT_ON_INPUT_HELP: &str =
    "delete the rule, it changes nothing: non-first fragments reach only PREROUTING, FORWARD \
     and POSTROUTING, and only where nothing tracks connections (conntrack reassembles them \
     before every chain)";

/// The fragment-offset bits of the IPv4 `frag_off` field.
const IP_OFFSET: u64 = 0x1fff;

fn never_matches(opt: &Opt, cx: &mut Cx) {
    cx.error(
        "translate/never-matches",
        &opt.loc,
        format!(
            "`! {} {}` matches no packet, so the rule never applies",
            opt.name,
            opt.args.join(" ")
        ),
        "delete the rule, or remove the `!` if the rule should apply to every packet",
    );
}

fn interface(opt: &Opt, input: bool, chain: &str, cx: &mut Cx) -> Option<Stmt> {
    let arg = cx.one_arg(opt)?;
    if crate::rule::lacks_interface(chain, input) {
        cx.error(
            "translate/bad-value",
            &opt.loc,
            format!("`{}` cannot be used in chain {chain}", opt.name),
            format!(
                "packets in {chain} have no {} interface; iptables refuses this rule",
                if input { "input" } else { "output" }
            ),
        );
        return None;
    }
    if arg.chars().count() > 15 {
        cx.bad_value(opt, arg, "interface names are at most 15 characters");
        return None;
    }
    if arg.contains(['"', '\\']) || arg.is_empty() {
        cx.bad_value(
            opt,
            arg,
            "interface names cannot contain quotes or backslashes",
        );
        return None;
    }
    if arg == "+" {
        if opt.negated.is_negated() {
            never_matches(opt, cx);
        }
        return None;
    }
    let (name, wildcard) = match arg.strip_suffix('+') {
        Some(prefix) => (prefix, true),
        None => (arg, false),
    };
    let left = Expr::Meta(if input {
        MetaKey::Iifname
    } else {
        MetaKey::Oifname
    });
    let op = if opt.negated.is_negated() {
        CmpOp::Ne
    } else {
        CmpOp::Eq
    };
    Some(Stmt::Match(Match::Cmp {
        left,
        op,
        right: Value::Iface {
            name: name.into(),
            wildcard,
        },
    }))
}

fn address(opt: &Opt, source: bool, cx: &mut Cx) -> Option<Stmt> {
    let arg = cx.one_arg(opt)?;
    address_item(opt, arg, source, false, cx)
}

/// One element of an address list (or the whole argument of a single address); `resolved`
/// when it is an address a name gave, whose host bits the mask clears without a warning.
fn address_item(opt: &Opt, arg: &str, source: bool, resolved: bool, cx: &mut Cx) -> Option<Stmt> {
    let field = match (cx.family, source) {
        (IpFamily::V4, true) => Field::IpSaddr,
        (IpFamily::V4, false) => Field::IpDaddr,
        (IpFamily::V6, true) => Field::Ip6Saddr,
        (IpFamily::V6, false) => Field::Ip6Daddr,
    };
    address_test_of(opt, arg, Expr::Payload(field), resolved, cx)
}

/// Whether `arg` is an address with prefix length 0 (every address).
pub(crate) fn is_any_address(arg: &str, family: IpFamily) -> bool {
    parse_cidr(arg, family).is_some_and(|c| matches!(c.mask, Mask::Prefix(0)))
}

/// `left` (an address of the rule's family) against `ADDR[/PREFIX|/MASK]`, as `-s` reads it:
/// `/0` gives no test, host bits are cleared with a warning.
pub(crate) fn address_test(opt: &Opt, arg: &str, left: Expr, cx: &mut Cx) -> Option<Stmt> {
    address_test_of(opt, arg, left, false, cx)
}

fn address_test_of(opt: &Opt, arg: &str, left: Expr, resolved: bool, cx: &mut Cx) -> Option<Stmt> {
    let Some(parsed) = parse_cidr(arg, cx.family) else {
        let family = match cx.family {
            IpFamily::V4 => "an IPv4",
            IpFamily::V6 => "an IPv6",
        };
        cx.bad_value(
            opt,
            arg,
            format!("expected {family} address with an optional /prefix or /mask"),
        );
        return None;
    };
    let op = if opt.negated.is_negated() {
        CmpOp::Ne
    } else {
        CmpOp::Eq
    };
    if parsed.unusual {
        let written = arg.split_once('/').map_or(arg, |(a, _)| a);
        cx.warn(
            "translate/address-spelling",
            &opt.loc,
            format!("iptables reads `{written}` as {}", parsed.addr),
            format!("write `{}` to silence this", parsed.display()),
        );
    }
    if parsed.net != parsed.addr && !resolved {
        cx.warn(
            "translate/host-bits",
            &opt.loc,
            format!(
                "`{arg}` has host bits set; iptables ignores them and so does the translation ({})",
                parsed.net
            ),
            format!("write `{}` to silence this", parsed.display()),
        );
    }
    let m = match parsed.mask {
        Mask::Prefix(0) => {
            if opt.negated.is_negated() {
                never_matches(opt, cx);
            }
            return None;
        }
        Mask::Prefix(len) if len == parsed.width() => Match::Cmp {
            left,
            op,
            right: Value::Addr(parsed.net),
        },
        Mask::Prefix(len) => Match::Cmp {
            left,
            op,
            right: Value::Prefix {
                addr: parsed.net,
                len,
            },
        },
        Mask::Dotted(mask) => Match::Masked {
            left,
            mask: Box::new(Value::Addr(mask)),
            op,
            value: Value::Addr(parsed.net),
        },
    };
    Some(Stmt::Match(m))
}

enum Mask {
    Prefix(u8),
    /// A netmask that is not a prefix (IPv4 only).
    Dotted(IpAddr),
}

struct Cidr {
    addr: IpAddr,
    net: IpAddr,
    mask: Mask,
    /// An IPv4 address not written as four plain decimal parts, so the rule says something
    /// other than what a reader would guess, or nft would print (`172.16.0`, `010.0.0.1`).
    unusual: bool,
}

impl Cidr {
    fn width(&self) -> u8 {
        if self.addr.is_ipv4() {
            32
        } else {
            128
        }
    }

    fn display(&self) -> String {
        match &self.mask {
            Mask::Prefix(len) => format!("{}/{len}", self.net),
            Mask::Dotted(m) => format!("{}/{m}", self.net),
        }
    }
}

/// An IPv4 address as libxtables reads one (`xtables_numeric_to_ipaddr`, used by `-s`, `-d`,
/// `--to-destination`, iprange ...): one to four dot-separated parts, each a C number (`0x1f`
/// hex, `010` octal, else decimal) up to 255. Missing trailing parts are zero: `172.16.0` is
/// 172.16.0.0 and `10` is 10.0.0.0, as legacy iptables-restore loads them.
pub(crate) fn parse_v4(s: &str) -> Option<Ipv4Addr> {
    // Four plain decimal parts, as nearly every address is written: the standard parser
    // agrees with libxtables on those (it refuses leading zeros and short forms).
    if let Some(a) = dotted_quad(s) {
        return Some(a);
    }
    let mut octets = [0u8; 4];
    let mut parts = s.split('.');
    for octet in &mut octets {
        match parts.next() {
            Some(part) => *octet = u8::try_from(c_number(part)?).ok()?,
            None => break,
        }
    }
    parts.next().is_none().then_some(Ipv4Addr::from(octets))
}

/// `s` read exactly as `s.parse::<Ipv4Addr>()` reads it (four decimal parts of one to three
/// digits, no leading zero, each at most 255), in a fifth of its instructions: a 50k-address
/// blocklist reads 50k of them.
fn dotted_quad(s: &str) -> Option<Ipv4Addr> {
    let b = s.as_bytes();
    let mut octets = [0u8; 4];
    let mut i = 0;
    for (n, octet) in octets.iter_mut().enumerate() {
        if n > 0 {
            if b.get(i) != Some(&b'.') {
                return None;
            }
            i += 1;
        }
        let start = i;
        let mut v: u32 = 0;
        while let Some(d) = b.get(i).filter(|d| d.is_ascii_digit()) {
            v = v * 10 + u32::from(d - b'0');
            i += 1;
            if i - start > 3 {
                return None;
            }
        }
        let len = i - start;
        if len == 0 || (len > 1 && b[start] == b'0') {
            return None;
        }
        *octet = u8::try_from(v).ok()?;
    }
    (i == b.len()).then_some(Ipv4Addr::from(octets))
}

/// A prefix length in plain decimal (`24`), the way nearly every mask is written; `None` for
/// anything else, which [`parse_cidr`] then reads the slow way.
fn plain_prefix(s: &str) -> Option<u8> {
    let b = s.as_bytes();
    let plain = matches!(b.len(), 1..=3)
        && b.iter().all(u8::is_ascii_digit)
        && (b.len() == 1 || b[0] != b'0');
    if !plain {
        return None;
    }
    let n = b.iter().fold(0u16, |n, d| n * 10 + u16::from(d - b'0'));
    u8::try_from(n).ok()
}

/// A dotted netmask, which libxtables reads like an address but with all four parts.
fn parse_v4_mask(s: &str) -> Option<Ipv4Addr> {
    (s.split('.').count() == 4).then(|| parse_v4(s)).flatten()
}

/// An unsigned number as C's `strtoul(s, .., 0)` reads the whole of `s`: `0x` hex, a leading
/// `0` octal, otherwise decimal.
pub(crate) fn c_number(s: &str) -> Option<u32> {
    let (digits, radix) = if let Some(hex) = s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        (hex, 16)
    } else if s.len() > 1 && s.starts_with('0') {
        (&s[1..], 8)
    } else {
        (s, 10)
    };
    if digits.is_empty() || !digits.chars().all(|c| c.is_digit(radix)) {
        return None;
    }
    u32::from_str_radix(digits, radix).ok()
}

fn parse_cidr(s: &str, family: IpFamily) -> Option<Cidr> {
    // A byte scan: `split_once('/')` costs a searcher's setup on every address.
    let (addr, mask) = match s.bytes().position(|b| b == b'/') {
        Some(at) => (&s[..at], Some(&s[at + 1..])),
        None => (s, None),
    };
    let (addr, width, unusual): (IpAddr, u8, bool) = match family {
        // Four plain decimal parts, as nearly every address is written, or else libxtables'
        // other spellings; the address is read once for both.
        IpFamily::V4 => match dotted_quad(addr) {
            Some(a) => (IpAddr::V4(a), 32, false),
            None => (IpAddr::V4(parse_v4(addr)?), 32, true),
        },
        IpFamily::V6 => (IpAddr::V6(addr.parse::<Ipv6Addr>().ok()?), 128, false),
    };
    // `24`: what the slower arms below make of it too (a dotted mask has dots, and a plain
    // decimal without a leading zero is decimal to strtoul).
    let plain = mask.and_then(plain_prefix).filter(|l| *l <= width);
    let mask_bits: u128 = match (mask, family) {
        (None, _) => prefix_bits(width, width),
        (Some(_), _) if plain.is_some() => prefix_bits(width, plain?),
        (Some(m), IpFamily::V4) => match parse_v4_mask(m) {
            Some(m) => u128::from(u32::from(m)),
            None => prefix_bits(
                width,
                u8::try_from(c_number(m)?).ok().filter(|l| *l <= width)?,
            ),
        },
        (Some(m), IpFamily::V6) if !m.is_empty() && m.bytes().all(|b| b.is_ascii_digit()) => {
            let len: u8 = m.parse().ok().filter(|l| *l <= width)?;
            prefix_bits(width, len)
        }
        (Some(m), IpFamily::V6) => u128::from(m.parse::<Ipv6Addr>().ok()?),
    };
    let net = to_addr(width, to_bits(addr) & mask_bits);
    let ones = mask_bits.count_ones() as u8;
    let mask = if mask_bits == prefix_bits(width, ones) {
        Mask::Prefix(ones)
    } else if family == IpFamily::V4 {
        Mask::Dotted(to_addr(width, mask_bits))
    } else {
        return None;
    };
    Some(Cidr {
        addr,
        net,
        mask,
        unusual,
    })
}

/// The top `len` bits of a `width`-bit address.
fn prefix_bits(width: u8, len: u8) -> u128 {
    if len == 0 {
        return 0;
    }
    (u128::MAX << (128 - u32::from(len))) >> (128 - u32::from(width))
}

fn to_bits(a: IpAddr) -> u128 {
    match a {
        IpAddr::V4(a) => u128::from(u32::from(a)),
        IpAddr::V6(a) => u128::from(a),
    }
}

fn to_addr(width: u8, bits: u128) -> IpAddr {
    if width == 32 {
        IpAddr::V4(Ipv4Addr::from(bits as u32))
    } else {
        IpAddr::V6(Ipv6Addr::from(bits))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ipv4_is_read_as_libxtables_does() {
        let v4 = |s: &str| parse_v4(s).map(|a| a.to_string());
        assert_eq!(v4("172.16.0").as_deref(), Some("172.16.0.0"));
        assert_eq!(v4("10").as_deref(), Some("10.0.0.0"));
        assert_eq!(v4("192.168.010.0x10").as_deref(), Some("192.168.8.16"));
        assert_eq!(v4("1.2.3.4"), Some("1.2.3.4".into()));
        for bad in [
            "1.2.3.4.5",
            "1.2.3.256",
            "1..2",
            "",
            "08",
            "0x",
            "1.2.3.-1",
            "a.b.c.d",
        ] {
            assert_eq!(v4(bad), None, "{bad}");
        }
        let unusual = |s: &str| parse_cidr(s, IpFamily::V4).map(|c| c.unusual);
        assert_eq!(unusual("172.16.0"), Some(true));
        assert_eq!(unusual("10.0.0.010/8"), Some(true));
        assert_eq!(unusual("10.0.0.0/8"), Some(false));
        assert_eq!(unusual("10.0.0.1"), Some(false));
        let cidr = parse_cidr("172.16.0/24", IpFamily::V4).map(|c| c.display());
        assert_eq!(cidr.as_deref(), Some("172.16.0.0/24"));
        let cidr = parse_cidr("10.1.2/255.255.0.0", IpFamily::V4).map(|c| c.display());
        assert_eq!(cidr.as_deref(), Some("10.1.0.0/16"));
        // A netmask needs all four parts; `255.255` is not one, nor a prefix length.
        assert!(parse_cidr("10.0.0.0/255.255", IpFamily::V4).is_none());
        assert!(parse_cidr("10.0.0.0/", IpFamily::V4).is_none());
    }

    #[test]
    fn dotted_quads_are_read_exactly_as_the_standard_parser_reads_them() {
        // Every string of up to 7 characters over digits and dots (21 million: the shortest
        // addresses and every misplaced dot), then every one of 8 to 11 characters over
        // `0`, `2`, `5` and dots (5 million: leading zeros, 255 and 520, long parts).
        let mut checked = 0;
        let mut s = Vec::new();
        for (alphabet, lengths) in [(&b"0123456789."[..], 0..=7u32), (&b"025."[..], 8..=11)] {
            for len in lengths {
                for mut n in 0..alphabet.len().pow(len) {
                    s.clear();
                    for _ in 0..len {
                        s.push(alphabet[n % alphabet.len()]);
                        n /= alphabet.len();
                    }
                    let text = std::str::from_utf8(&s).unwrap();
                    assert_eq!(dotted_quad(text), text.parse().ok(), "{text:?}");
                    checked += 1;
                }
            }
        }
        assert!(checked > 25_000_000, "{checked}");
        for text in [
            "255.255.255.255",
            "256.1.1.1",
            "1.2.3.4 ",
            " 1.2.3.4",
            "1.2.3.4.",
            "01.2.3.4",
            "1.2.3.0004",
            "1.2.3.25x",
            "100.200.250.199",
            "1.2.3.+4",
            "1.2.3.٤",
        ] {
            assert_eq!(dotted_quad(text), text.parse().ok(), "{text:?}");
        }
        // Prefix lengths: the fast reading agrees with strtoul's wherever it gives one.
        for text in [
            "0", "7", "24", "32", "128", "255", "256", "08", "00", "", "1x", "+1",
        ] {
            let slow = c_number(text).and_then(|n| u8::try_from(n).ok());
            if let Some(fast) = plain_prefix(text) {
                assert_eq!(Some(fast), slow, "{text:?}");
            }
        }
        assert_eq!(plain_prefix("24"), Some(24));
        assert_eq!(plain_prefix("08"), None);
    }

    #[test]
    fn prefix_bits_cover_the_edges() {
        assert_eq!(prefix_bits(32, 0), 0);
        assert_eq!(prefix_bits(32, 32), 0xffff_ffff);
        assert_eq!(prefix_bits(32, 8), 0xff00_0000);
        assert_eq!(prefix_bits(128, 128), u128::MAX);
        assert_eq!(prefix_bits(128, 1), 1u128 << 127);
    }
}
