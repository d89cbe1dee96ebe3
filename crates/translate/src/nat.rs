//! The nat table's targets: `-j SNAT`, `-j DNAT`, `-j MASQUERADE`, `-j REDIRECT` and
//! `-j NETMAP`, which share one range syntax (`addr[-addr][:port[-port]]`) and one set of
//! placement rules, so they live together: nft `snat`, `dnat`, `masquerade`, `redirect` and
//! `snat|dnat prefix to`.
//!
//! What the legacy kernel and iptables-restore refuse, fwnet refuses: a NAT target outside the
//! nat table or in a chain reachable from a hook the target does not serve (SNAT: POSTROUTING
//! and INPUT; MASQUERADE: POSTROUTING; DNAT and REDIRECT: PREROUTING and OUTPUT), ports
//! without `-p tcp|udp|sctp|dccp|icmp`, an option given twice, a missing `--to-source` /
//! `--to-destination` / `--to`, and `-j DROP` anywhere in the nat table. Placement in
//! built-in chains is checked per rule here; user chains are checked by [`finish`] once the
//! whole table is known, because it takes every jump into account, as the kernel does.
//!
//! Semantics kept as they are in the legacy kernel, with nothing to translate: only the first
//! packet of a connection traverses nat chains (nft nat chains behave the same), and rules
//! stay in their order. Not translated (refused): reversed address ranges, ports after `! -p`
//! (nft needs a positive protocol match), NETMAP with a non-prefix mask or in a user chain
//! reachable from both source and destination hooks. ip6tables' SNAT and DNAT take IPv6
//! addresses in brackets when a port follows (`[2001:db8::1]:80`), as libxt reads them, and
//! NETMAP an IPv6 prefix (`fd00::/64` or a contiguous mask written as an address); xt_NETMAP's
//! IPv6 half maps the prefix exactly as its IPv4 half does.

use crate::ip;
use crate::rule::Cx;
use crate::IpFamily;
use fwnet_iptables::diag::Loc;
use fwnet_iptables::{Diagnostic, Opt};
use fwnet_nft::{self as nft, Hook, Nat, NatAddr, NatFlags, NatKind, Stmt, Verdict};
use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// A NAT target, by its iptables name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Target {
    Snat,
    Dnat,
    Masquerade,
    Redirect,
    Netmap,
}

impl Target {
    pub fn by_name(name: &str) -> Option<Target> {
        Some(match name {
            "SNAT" => Target::Snat,
            "DNAT" => Target::Dnat,
            "MASQUERADE" => Target::Masquerade,
            "REDIRECT" => Target::Redirect,
            "NETMAP" => Target::Netmap,
            _ => return None,
        })
    }

    fn name(self) -> &'static str {
        match self {
            Target::Snat => "SNAT",
            Target::Dnat => "DNAT",
            Target::Masquerade => "MASQUERADE",
            Target::Redirect => "REDIRECT",
            Target::Netmap => "NETMAP",
        }
    }

    /// Option names, in groups of aliases (first is canonical; the others are the unique
    /// abbreviations iptables' getopt accepts and people write).
    fn options(self) -> &'static [&'static [&'static str]] {
        match self {
            Target::Snat => &[
                &["--to-source", "--to"],
                &["--random"],
                &["--random-fully"],
                &["--persistent"],
            ],
            Target::Dnat => &[
                &["--to-destination", "--to"],
                &["--random"],
                &["--persistent"],
            ],
            Target::Masquerade => &[
                &["--to-ports", "--to-port", "--to"],
                &["--random"],
                &["--random-fully"],
            ],
            Target::Redirect => &[&["--to-ports", "--to-port", "--to"], &["--random"]],
            Target::Netmap => &[&["--to"]],
        }
    }

    pub fn knows(self, opt: &str) -> bool {
        self.options().iter().any(|g| g.contains(&opt))
    }

    /// The hooks the kernel lets this target run in.
    fn hooks(self) -> &'static [Hook] {
        match self {
            Target::Snat => &[Hook::Postrouting, Hook::Input],
            Target::Masquerade => &[Hook::Postrouting],
            Target::Dnat | Target::Redirect => &[Hook::Prerouting, Hook::Output],
            Target::Netmap => &[
                Hook::Prerouting,
                Hook::Input,
                Hook::Output,
                Hook::Postrouting,
            ],
        }
    }

    fn placement_help(self) -> &'static str {
        match self {
            Target::Snat => "SNAT rewrites the source: put it in POSTROUTING (or INPUT)",
            Target::Masquerade => "MASQUERADE rewrites the source to the outgoing interface's address: put it in POSTROUTING",
            Target::Dnat => "DNAT rewrites the destination: put it in PREROUTING (or OUTPUT for locally generated packets)",
            Target::Redirect => "REDIRECT rewrites the destination to this host: put it in PREROUTING (or OUTPUT)",
            Target::Netmap => "NETMAP maps destinations in PREROUTING/OUTPUT and sources in POSTROUTING/INPUT",
        }
    }
}

/// Protocols whose ports a NAT mapping may set, as iptables 1.8's NAT targets accept them.
fn port_protocols(family: IpFamily) -> &'static [u8] {
    match family {
        IpFamily::V4 => &[6, 17, 132, 33, 1],
        IpFamily::V6 => &[6, 17, 132, 33],
    }
}

/// `-j DROP` in the nat table: iptables refuses it.
pub(crate) fn drop_in_nat(loc: &Loc, cx: &mut Cx) {
    cx.error(
        "translate/bad-value",
        loc,
        "`-j DROP` is not allowed in the nat table",
        "iptables refuses it (the nat table is not for filtering); drop the packets in the filter table",
    );
}

/// The statements for a NAT target in the rule's chain `cx.chain`.
pub(crate) fn translate(t: Target, opts: &[&Opt], loc: &Loc, cx: &mut Cx) -> Vec<Stmt> {
    if cx.table != "nat" {
        let table = cx.table.to_string();
        cx.error(
            "translate/bad-value",
            loc,
            format!("{} is only valid in the nat table, not {table}", t.name()),
            "move the rule to the nat table",
        );
        return Vec::new();
    }
    let hook = builtin_hook(cx.chain);
    if let Some(h) = hook {
        if !t.hooks().contains(&h) {
            let chain = cx.chain.to_string();
            cx.error(
                "translate/bad-value",
                loc,
                format!("{} is not allowed in chain {chain}", t.name()),
                format!("the kernel refuses this rule; {}", t.placement_help()),
            );
            return Vec::new();
        }
    }
    if !check_once(t, opts, cx) {
        return Vec::new();
    }
    let find = |canonical: &str| {
        let group = t.options().iter().find(|g| g[0] == canonical);
        opts.iter()
            .copied()
            .find(|o| group.is_some_and(|g| g.contains(&o.name.as_str())))
    };
    let mut flags = NatFlags::default();
    for (name, flag) in [
        ("--random", &mut flags.random),
        ("--random-fully", &mut flags.fully_random),
        ("--persistent", &mut flags.persistent),
    ] {
        if let Some(o) = find(name) {
            if cx.not_negated(o) && cx.no_arg(o) {
                *flag = true;
            }
        }
    }
    let nat = match t {
        Target::Snat | Target::Dnat => {
            let canonical = if t == Target::Snat {
                "--to-source"
            } else {
                "--to-destination"
            };
            let Some(o) = required(find(canonical), canonical, t, loc, cx) else {
                return Vec::new();
            };
            let Some((addr, ports)) = to_range(o, cx) else {
                return Vec::new();
            };
            if ports.is_some() && !ports_allowed(o, cx) {
                return Vec::new();
            }
            Nat {
                kind: if t == Target::Snat {
                    NatKind::Snat
                } else {
                    NatKind::Dnat
                },
                addr,
                ports,
                flags,
            }
        }
        Target::Masquerade | Target::Redirect => {
            let mut ports = None;
            if let Some(o) = find("--to-ports") {
                ports = to_ports(o, cx);
                if ports.is_none() || !ports_allowed(o, cx) {
                    return Vec::new();
                }
            }
            Nat {
                kind: if t == Target::Masquerade {
                    NatKind::Masquerade
                } else {
                    NatKind::Redirect
                },
                addr: None,
                ports,
                flags,
            }
        }
        Target::Netmap => {
            let Some(o) = required(find("--to"), "--to", t, loc, cx) else {
                return Vec::new();
            };
            let Some(addr) = netmap_to(o, cx) else {
                return Vec::new();
            };
            // In a user chain the direction depends on the hooks that reach it: `finish`
            // settles it.
            let kind = match hook {
                Some(Hook::Prerouting | Hook::Output) => NatKind::Dnat,
                _ => NatKind::Snat,
            };
            Nat {
                kind,
                addr: Some(addr),
                ports: None,
                flags,
            }
        }
    };
    if cx.has_errors() {
        return Vec::new();
    }
    vec![Stmt::Nat(Box::new(nat))]
}

fn builtin_hook(chain: &str) -> Option<Hook> {
    Some(match chain {
        "PREROUTING" => Hook::Prerouting,
        "INPUT" => Hook::Input,
        "OUTPUT" => Hook::Output,
        "POSTROUTING" => Hook::Postrouting,
        _ => return None,
    })
}

/// Each option at most once, as iptables checks.
fn check_once(t: Target, opts: &[&Opt], cx: &mut Cx) -> bool {
    let mut ok = true;
    for (i, o) in opts.iter().enumerate() {
        let group = t.options().iter().find(|g| g.contains(&o.name.as_str()));
        let dup = opts[..i]
            .iter()
            .any(|p| group.is_some_and(|g| g.contains(&p.name.as_str())));
        if dup {
            let help = if group.is_some_and(|g| g[0].starts_with("--to")) {
                "the kernel takes one range per rule; use one rule per range, or one contiguous range"
            } else {
                "iptables refuses this; keep one"
            };
            cx.error(
                "translate/bad-value",
                &o.loc,
                format!("`{}` given twice to {}", o.name, t.name()),
                help,
            );
            ok = false;
        }
    }
    ok
}

fn required<'o>(
    o: Option<&'o Opt>,
    canonical: &str,
    t: Target,
    loc: &Loc,
    cx: &mut Cx,
) -> Option<&'o Opt> {
    if o.is_none() {
        cx.error(
            "translate/bad-value",
            loc,
            format!("{} needs `{canonical}`", t.name()),
            "iptables refuses the rule without it",
        );
    }
    let o = o?;
    (cx.not_negated(o)).then_some(o)
}

/// A port mapping needs the rule's protocol to have ports (the legacy kernel's check) and, for
/// nft, to be a positive match.
fn ports_allowed(o: &Opt, cx: &mut Cx) -> bool {
    let allowed = port_protocols(cx.family);
    match cx.protocol {
        Some((p, false)) if allowed.contains(&p) => true,
        Some((p, true)) if allowed.contains(&p) => {
            cx.error(
                "translate/unsupported-option",
                &o.loc,
                format!("ports in `{}` after `! -p` cannot be translated", o.name),
                "iptables maps the ports of whatever transport protocol the packet has; nft needs a positive protocol match: write one rule per protocol (`-p udp`, `-p tcp` ...)",
            );
            false
        }
        _ => {
            cx.error(
                "translate/bad-value",
                &o.loc,
                format!("ports in `{}` need `-p tcp`, `-p udp`, `-p sctp` or `-p dccp` on the rule", o.name),
                "iptables refuses port mappings without one of these protocols; add the protocol match",
            );
            false
        }
    }
}

/// A port range, inclusive.
type Ports = (u16, u16);

/// `[addr[-addr]][:port[-port]]` of `--to-source` / `--to-destination`; for ip6tables the
/// addresses are in brackets when a port follows ([`split_v6`]).
fn to_range(o: &Opt, cx: &mut Cx) -> Option<(Option<NatAddr>, Option<Ports>)> {
    let arg = cx.one_arg(o)?;
    let v6 = cx.family == IpFamily::V6;
    let help = if v6 {
        "write `ADDR`, `ADDR-ADDR`, `[ADDR]:PORT`, `[ADDR-ADDR]:PORT-PORT` or `:PORT` with IPv6 addresses"
    } else {
        "write `ADDR`, `ADDR-ADDR`, `ADDR:PORT`, `ADDR:PORT-PORT` or `:PORT` with dotted IPv4 addresses"
    };
    let (addrs, ports) = if v6 {
        let Some(split) = split_v6(arg) else {
            cx.bad_value(o, arg, help);
            return None;
        };
        split
    } else {
        match arg.split_once(':') {
            Some((a, p)) => (a, Some(p)),
            None => (arg, None),
        }
    };
    let ports = match ports {
        Some(p) => Some(port_range(o, arg, p, cx)?),
        None => None,
    };
    let parse = |a: &str| -> Option<IpAddr> {
        if v6 {
            a.parse::<Ipv6Addr>().ok().map(IpAddr::V6)
        } else {
            ip::parse_v4(a).map(IpAddr::V4)
        }
    };
    let addr = if addrs.is_empty() {
        None
    } else {
        let (lo, hi) = addrs.split_once('-').unwrap_or((addrs, addrs));
        let (Some(lo), Some(hi)) = (parse(lo), parse(hi)) else {
            cx.bad_value(o, arg, help);
            return None;
        };
        if lo > hi {
            cx.error(
                "translate/unsupported-option",
                &o.loc,
                format!("the address range `{addrs}` in `{}` is reversed", o.name),
                format!(
                    "the kernel's behaviour for a reversed range is not a range; write `{hi}-{lo}`"
                ),
            );
            return None;
        }
        Some(NatAddr::Range(lo, hi))
    };
    if addr.is_none() && ports.is_none() {
        cx.bad_value(o, arg, "give an address, a port or both");
        return None;
    }
    Some((addr, ports))
}

/// The addresses and the ports of an ip6tables NAT range, as libxt's NAT targets split it:
/// `[ADDR[-ADDR]][:PORT[-PORT]]` with the addresses in brackets when a port follows; without
/// brackets a single colon introduces a port (`:1024`) and more colons make an address.
/// `None` when a bracket is not closed or something other than `:` follows it.
fn split_v6(arg: &str) -> Option<(&str, Option<&str>)> {
    match arg.strip_prefix('[') {
        Some(rest) => {
            let (inside, after) = rest.split_once(']')?;
            match after {
                "" => Some((inside, None)),
                _ => Some((inside, Some(after.strip_prefix(':')?))),
            }
        }
        None => Some(match arg.split_once(':') {
            Some((a, p)) if !p.contains(':') => (a, Some(p)),
            _ => (arg, None),
        }),
    }
}

/// `port[-port]` of `--to-ports`.
fn to_ports(o: &Opt, cx: &mut Cx) -> Option<(u16, u16)> {
    let arg = cx.one_arg(o)?;
    port_range(o, arg, arg, cx)
}

/// `p` or `p-q`, numbers only, as the NAT targets parse them.
fn port_range(o: &Opt, arg: &str, s: &str, cx: &mut Cx) -> Option<(u16, u16)> {
    let (lo, hi) = s.split_once('-').unwrap_or((s, s));
    let num = |p: &str| {
        (!p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
            .then(|| p.parse::<u16>().ok())
            .flatten()
    };
    let (Some(lo), Some(hi)) = (num(lo), num(hi)) else {
        cx.bad_value(
            o,
            arg,
            "ports are numbers from 0 to 65535, a range is written `LOW-HIGH`",
        );
        return None;
    };
    if lo > hi {
        cx.bad_value(
            o,
            arg,
            format!("the port range starts above its end; write `{hi}-{lo}`"),
        );
        return None;
    }
    Some((lo, hi))
}

/// NETMAP's `--to addr[/len|/mask]`; host bits are cleared, as the kernel module does.
fn netmap_to(o: &Opt, cx: &mut Cx) -> Option<NatAddr> {
    let arg = cx.one_arg(o)?;
    if cx.family == IpFamily::V6 {
        return netmap_to_v6(o, arg, cx);
    }
    let (addr, mask) = arg.split_once('/').unwrap_or((arg, "32"));
    let len = if let Some(m) = (mask.split('.').count() == 4)
        .then(|| ip::parse_v4(mask))
        .flatten()
    {
        let m = u32::from(m);
        if m.leading_ones() + m.trailing_zeros() != 32 {
            cx.unsupported_value(
                o,
                "a non-contiguous netmask",
                "nft maps prefixes only; write the mask as a prefix length",
            );
            return None;
        }
        Some(m.leading_ones() as u8)
    } else {
        ip::c_number(mask).and_then(|len| u8::try_from(len).ok().filter(|l| *l <= 32))
    };
    let (Some(addr), Some(len)) = (ip::parse_v4(addr), len) else {
        cx.bad_value(
            o,
            arg,
            "write `ADDR/LEN` with a dotted IPv4 address and a prefix length or contiguous netmask",
        );
        return None;
    };
    let mask = u32::MAX.checked_shl(32 - u32::from(len)).unwrap_or(0);
    let addr = Ipv4Addr::from(u32::from(addr) & mask);
    Some(NatAddr::Prefix {
        addr: IpAddr::V4(addr),
        len,
    })
}

/// The ip6tables form of [`netmap_to`]: `ADDR[/LEN|/MASK]` with an IPv6 address, and a prefix
/// length or a contiguous IPv6 mask.
fn netmap_to_v6(o: &Opt, arg: &str, cx: &mut Cx) -> Option<NatAddr> {
    let (addr, mask) = arg.split_once('/').unwrap_or((arg, "128"));
    let len = match mask.parse::<Ipv6Addr>() {
        Ok(m) => {
            let m = u128::from(m);
            if m.leading_ones() + m.trailing_zeros() != 128 {
                cx.unsupported_value(
                    o,
                    "a non-contiguous netmask",
                    "nft maps prefixes only; write the mask as a prefix length",
                );
                return None;
            }
            Some(m.leading_ones() as u8)
        }
        Err(_) => ip::c_number(mask).and_then(|len| u8::try_from(len).ok().filter(|l| *l <= 128)),
    };
    let (Ok(addr), Some(len)) = (addr.parse::<Ipv6Addr>(), len) else {
        cx.bad_value(
            o,
            arg,
            "write `ADDR/LEN` with an IPv6 address and a prefix length from 0 to 128",
        );
        return None;
    };
    let mask = u128::MAX.checked_shl(128 - u32::from(len)).unwrap_or(0);
    Some(NatAddr::Prefix {
        addr: IpAddr::V6(Ipv6Addr::from(u128::from(addr) & mask)),
        len,
    })
}

/// Checks NAT targets in user chains against the hooks that reach them through jumps and
/// gotos, as the kernel does when the table is loaded, and settles NETMAP's direction there.
/// `locs` are the `-j` locations of the table's NAT rules. Rules that fail are removed from
/// `table`; returns how many.
pub(crate) fn finish(table: &mut nft::Table, locs: &[Loc], diags: &mut Vec<Diagnostic>) -> usize {
    // Every NAT statement comes with its location: none, nothing to check.
    if locs.is_empty() {
        return 0;
    }
    let reach = reachability(table);
    let mut refused = 0;
    for chain in table.chains.iter_mut().filter(|c| c.base.is_none()) {
        let hooks = reach.get(&chain.name).cloned().unwrap_or_default();
        chain.rules.retain_mut(|rule| {
            let Some(Stmt::Nat(nat)) = rule.stmts.last_mut() else {
                return true;
            };
            let target = match (nat.kind, nat.addr) {
                (_, Some(NatAddr::Prefix { .. })) => Target::Netmap,
                (NatKind::Snat, _) => Target::Snat,
                (NatKind::Dnat, _) => Target::Dnat,
                (NatKind::Masquerade, _) => Target::Masquerade,
                (NatKind::Redirect, _) => Target::Redirect,
            };
            let line = rule.origin.as_ref().map(|o| o.line);
            let loc = locs.iter().find(|l| Some(l.line) == line);
            let bad: Vec<Hook> = hooks
                .iter()
                .copied()
                .filter(|h| !target.hooks().contains(h))
                .collect();
            let dst = hooks
                .iter()
                .any(|h| matches!(h, Hook::Prerouting | Hook::Output));
            let src = hooks
                .iter()
                .any(|h| matches!(h, Hook::Postrouting | Hook::Input));
            let (msg, help) = if !bad.is_empty() {
                (
                    format!(
                        "{} in chain {} is reached from {}, where the kernel does not allow it",
                        target.name(),
                        chain.name,
                        hook_names(&bad)
                    ),
                    format!("the kernel refuses the table; {}", target.placement_help()),
                )
            } else if target == Target::Netmap && dst && src {
                (
                    format!(
                        "NETMAP in chain {} is reached from both {}",
                        chain.name,
                        hook_names(&hooks)
                    ),
                    "iptables picks source or destination mapping per packet by hook; nft needs one per rule: use separate chains for PREROUTING/OUTPUT and POSTROUTING/INPUT".to_string(),
                )
            } else {
                if target == Target::Netmap && dst {
                    nat.kind = NatKind::Dnat;
                }
                return true;
            };
            if let Some(loc) = loc {
                diags.push(Diagnostic::error("translate/bad-value", loc, msg).with_help(help));
            }
            refused += 1;
            false
        });
    }
    refused
}

/// The hooks from which each chain can be reached, in hook order.
pub(crate) fn reachability(table: &nft::Table) -> HashMap<String, Vec<Hook>> {
    let mut reach: HashMap<String, Vec<Hook>> = HashMap::new();
    for base in &table.chains {
        let Some(b) = &base.base else { continue };
        let mut stack = vec![base.name.as_str()];
        while let Some(name) = stack.pop() {
            let hooks = reach.entry(name.to_string()).or_default();
            if hooks.contains(&b.hook) {
                continue;
            }
            hooks.push(b.hook);
            let Some(chain) = table.chains.iter().find(|c| c.name == name) else {
                continue;
            };
            for rule in &chain.rules {
                // Verdict maps too: the translator writes none, but a chain one reaches is
                // reached all the same.
                for v in rule.stmts.iter().flat_map(Stmt::verdicts) {
                    if let Verdict::Jump(to) | Verdict::Goto(to) = v {
                        stack.push(to);
                    }
                }
            }
        }
    }
    for hooks in reach.values_mut() {
        hooks.sort_by_key(|h| *h as u8);
    }
    reach
}

pub(crate) fn hook_names(hooks: &[Hook]) -> String {
    let names: Vec<&str> = hooks
        .iter()
        .map(|h| match h {
            Hook::Prerouting => "PREROUTING",
            Hook::Input => "INPUT",
            Hook::Forward => "FORWARD",
            Hook::Output => "OUTPUT",
            Hook::Postrouting => "POSTROUTING",
        })
        .collect();
    names.join(" and ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use nft::{Chain, Family, Table, VmapEntry};

    #[test]
    fn chains_are_reached_through_jumps_gotos_and_verdict_maps() {
        let rule = |stmts: Vec<Stmt>| nft::Rule {
            stmts,
            ..Default::default()
        };
        let chain = |name: &str, hook: Option<Hook>, rules: Vec<nft::Rule>| Chain {
            name: name.into(),
            base: hook.map(|hook| nft::BaseChain {
                kind: nft::ChainKind::Filter,
                hook,
                priority: 0,
                policy: nft::Policy::Accept,
                counters: Default::default(),
            }),
            rules,
            family: None,
        };
        let table = Table {
            family: Family::Ip,
            name: "t".into(),
            sets: Vec::new(),
            ct_helpers: Vec::new(),
            chains: vec![
                chain(
                    "INPUT",
                    Some(Hook::Input),
                    vec![rule(vec![Stmt::Verdict(Verdict::Jump("A".into()))])],
                ),
                chain(
                    "FORWARD",
                    Some(Hook::Forward),
                    vec![rule(vec![Stmt::Vmap {
                        key: nft::Expr::Payload(nft::Field::TcpDport),
                        map: vec![VmapEntry {
                            value: nft::Value::Num(22),
                            verdict: Verdict::Goto("B".into()),
                        }],
                    }])],
                ),
                chain(
                    "A",
                    None,
                    vec![rule(vec![Stmt::Verdict(Verdict::Goto("B".into()))])],
                ),
                chain("B", None, Vec::new()),
                chain("C", None, Vec::new()),
            ],
        };
        let reach = reachability(&table);
        assert_eq!(reach["A"], [Hook::Input]);
        assert_eq!(reach["B"], [Hook::Input, Hook::Forward]);
        assert!(!reach.contains_key("C"));
    }
}
