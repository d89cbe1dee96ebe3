//! `-j TPROXY --on-port P [--on-ip A] [--tproxy-mark V[/M]]`: two nft rules, `<matches>
//! counter tproxy to [A]:P [meta mark set ...] accept` and right after it `<matches> drop`.
//!
//! xt_TPROXY.c (`tproxy_tg4`, `tproxy_tg6_v1`) and nft_tproxy.c (`nft_tproxy_eval_v4`,
//! `nft_tproxy_eval_v6`) do the same socket work with the same helpers (nf_tproxy_ipv4.c,
//! nf_tproxy_ipv6.c): read the transport ports, look for an established socket on the packet's
//! addresses and ports; for a TCP TIME_WAIT one, let a SYN go to a listener on the redirect
//! address and port instead; with none, look for a listener there. The redirect address is
//! `--on-ip`, or when it is absent or 0 the packet's destination (IPv4: the receiving
//! device's primary address, `nf_tproxy_laddr4`/`nf_tproxy_laddr6` in both); the port is
//! `--on-port`, the packet's own when 0 in both. Then they part only in the verdict:
//! - with a transparent socket, xt sets `mark = (mark & ~M) ^ V`, gives the packet to the
//!   socket and returns NF_ACCEPT; nft gives it to the socket and goes on with the rule, where
//!   fwnet writes `meta mark set meta mark & ~M ^ V` (only when `--tproxy-mark` is given; the
//!   default M = V = 0 changes nothing) and `accept`;
//! - otherwise (no socket, not transparent, header cut short) xt returns NF_DROP, and nft ends
//!   the rule (NFT_BREAK). The next rule, the same matches and `drop`, gives xt's verdict. It
//!   has no counter, so the iptables rule's counter is the first rule's.
//!
//! Evaluating the matches a second time is exact only when they keep no state: a `limit`,
//! `hashlimit`, `recent`, `connlimit` or `statistic` match would spend or draw twice, so such a
//! rule is refused (as for the split of `--ports`, see `rule.rs`). Nothing else changes between
//! the two rules: a failed `tproxy` leaves the packet alone.
//!
//! Placement is iptables' own check, reported as an error: `-p tcp` or `-p udp` not negated
//! (`tproxy_tg4_check`, `tproxy_tg6_check`), table mangle and hook PREROUTING only (xt's
//! `.table` and `.hooks`; nft's `nft_tproxy_validate` allows prerouting only). A user chain is
//! checked against the hooks that reach it when the table is finished ([`finish`]). The kernel
//! enables fragment reassembly (nf_defrag) for both, so a table with TPROXY is one whose
//! packets are whole (see `fragments.rs`).
//!
//! Refused: `--on-ip` as a host name (iptables resolves it once, at load), a mark that is not
//! a 32-bit number, negated options. This module does not set up the `ip rule fwmark` /
//! `ip route local` policy routing or the IP_TRANSPARENT listener TPROXY needs; those are the
//! user's, as with iptables.

use crate::rule::Cx;
use crate::IpFamily;
use fwnet_iptables::diag::{Diagnostic, Loc};
use fwnet_iptables::Opt;
use fwnet_nft::{self as nft, Hook, MarkKey, Stmt, Tproxy, Verdict};
use std::collections::HashSet;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

pub(crate) const TARGET_OPTIONS: &[&str] = &["--on-port", "--on-ip", "--tproxy-mark"];

/// `-j TPROXY` with its options; `stateful` is the first match of the rule that keeps state,
/// by name, with where it is. Returns the first rule's statements after the counter; the
/// caller writes the second rule ([`second_rule`]).
pub(crate) fn target(
    opts: &[&Opt],
    loc: &Loc,
    stateful: Option<(&str, &Loc)>,
    cx: &mut Cx,
) -> Vec<Stmt> {
    if cx.require_protocol("`-j TPROXY`", loc, &[6, 17]).is_none() {
        return Vec::new();
    }
    if cx.table != "mangle" {
        cx.error(
            "translate/bad-value",
            loc,
            format!(
                "`-j TPROXY` is only valid in the mangle table, not in {}",
                cx.table
            ),
            "iptables refuses this rule; move it to the mangle table's PREROUTING chain",
        );
        return Vec::new();
    }
    if matches!(cx.chain, "INPUT" | "FORWARD" | "OUTPUT" | "POSTROUTING") {
        cx.error(
            "translate/bad-value",
            loc,
            format!(
                "`-j TPROXY` is only valid in PREROUTING, not in {}",
                cx.chain
            ),
            "iptables refuses this rule; move it to the mangle table's PREROUTING chain",
        );
        return Vec::new();
    }
    if let Some((name, at)) = stateful {
        cx.error(
            "translate/inexact",
            at,
            format!("`-j TPROXY` with `-m {name}` in the same rule"),
            format!("fwnet writes TPROXY as two nft rules with the same matches (the second drops what found no transparent socket), which would spend or draw the `-m {name}` state twice; nearest exact form: jump from a rule with the `-m {name}` test to a user chain holding the TPROXY rule without it"),
        );
        return Vec::new();
    }
    let mut t = Tproxy::default();
    let mut port_seen = false;
    let mut mark = None;
    for opt in opts {
        if !cx.not_negated(opt) {
            return Vec::new();
        }
        let Some(arg) = cx.one_arg(opt) else {
            return Vec::new();
        };
        match opt.name.as_str() {
            "--on-port" => {
                let Some(port) = crate::port::port(arg) else {
                    cx.bad_value(
                        opt,
                        arg,
                        "a port is a number from 0 to 65535 or a service name",
                    );
                    return Vec::new();
                };
                port_seen = true;
                t.port = (port != 0).then_some(port);
            }
            "--on-ip" => {
                let Some(addr) = address(arg, cx.family) else {
                    let help = match cx.family {
                        IpFamily::V4 => "an IPv4 address in dotted form (a host name is resolved by iptables once, at load; write the address)",
                        IpFamily::V6 => "an IPv6 address (a host name is resolved by ip6tables once, at load; write the address)",
                    };
                    cx.bad_value(opt, arg, help);
                    return Vec::new();
                };
                t.addr = Some(addr);
            }
            _ => {
                let parsed = crate::mark::value_mask(arg).and_then(|(v, m)| {
                    Some((
                        u32::try_from(v).ok()?,
                        u32::try_from(m.unwrap_or(0xffff_ffff)).ok()?,
                    ))
                });
                let Some((value, mask)) = parsed else {
                    cx.bad_value(
                        opt,
                        arg,
                        "a mark is a 32-bit number (decimal, 0x hex or 0 octal), optionally /MASK",
                    );
                    return Vec::new();
                };
                mark = Some((value, mask));
            }
        }
    }
    if !port_seen {
        cx.error(
            "translate/bad-value",
            loc,
            "`-j TPROXY` needs `--on-port`",
            "iptables refuses the target without it; add `--on-port PORT` (0 keeps the packet's own port)",
        );
        return Vec::new();
    }
    if t.addr.is_none() && t.port.is_none() {
        // Both 0: the packet's own address and port. nft has nothing to print for that, but
        // an explicit unspecified address means the same (the kernel replaces it).
        t.addr = Some(match cx.family {
            IpFamily::V4 => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            IpFamily::V6 => IpAddr::V6(Ipv6Addr::UNSPECIFIED),
        });
    }
    let mut stmts = vec![Stmt::Tproxy(t)];
    if let Some((value, mask)) = mark.filter(|&(v, m)| (v, m) != (0, 0)) {
        stmts.push(Stmt::MarkSet(crate::mark::xmark_set(
            MarkKey::Meta,
            value,
            mask,
        )));
    }
    stmts.push(Stmt::Verdict(Verdict::Accept));
    stmts
}

/// An address of the table's family, written numerically.
fn address(arg: &str, family: IpFamily) -> Option<IpAddr> {
    match family {
        IpFamily::V4 => arg.parse::<Ipv4Addr>().ok().map(IpAddr::V4),
        IpFamily::V6 => arg.parse::<Ipv6Addr>().ok().map(IpAddr::V6),
    }
}

/// The rule after a TPROXY rule: its statements up to the counter, then `drop`, which is
/// xt_TPROXY's verdict when no transparent socket takes the packet.
pub(crate) fn second_rule(first: &nft::Rule) -> nft::Rule {
    let mut stmts: Vec<Stmt> = first
        .stmts
        .iter()
        .take_while(|s| !matches!(s, Stmt::Counter(_)))
        .cloned()
        .collect();
    stmts.push(Stmt::Verdict(Verdict::Drop));
    nft::Rule {
        stmts,
        ..first.clone()
    }
}

/// Refuses TPROXY in user chains reached from a hook other than prerouting, as the kernel does
/// when the table is loaded. `locs` are the `-j TPROXY` locations of the table. Both rules of
/// each refused TPROXY rule are removed from `table`; returns how many iptables rules that is.
pub(crate) fn finish(table: &mut nft::Table, locs: &[Loc], diags: &mut Vec<Diagnostic>) -> usize {
    if locs.is_empty() {
        return 0;
    }
    let reach = crate::nat::reachability(table);
    let mut refused = HashSet::new();
    for chain in table.chains.iter_mut().filter(|c| c.base.is_none()) {
        let hooks = reach.get(&chain.name).cloned().unwrap_or_default();
        let bad: Vec<Hook> = hooks
            .into_iter()
            .filter(|h| !matches!(h, Hook::Prerouting))
            .collect();
        if bad.is_empty() {
            continue;
        }
        chain.rules.retain(|rule| {
            let Some(origin) = &rule.origin else {
                return true;
            };
            let Some(loc) = locs
                .iter()
                .find(|l| l.line == origin.line && *l.file == *origin.file)
            else {
                return true;
            };
            if refused.insert((origin.file.clone(), origin.line)) {
                diags.push(
                    Diagnostic::error(
                        "translate/bad-value",
                        loc,
                        format!(
                            "TPROXY in chain {} is reached from {}, where the kernel does not allow it",
                            chain.name,
                            crate::nat::hook_names(&bad)
                        ),
                    )
                    .with_help("iptables refuses the table; jump to this chain from PREROUTING only"),
                );
            }
            false
        });
    }
    refused.len()
}
