//! nft 1.0.6 syntax for the NAT statements: `snat to ADDR[-ADDR][:PORT[-PORT]]`,
//! `snat prefix to A/LEN`, `dnat to :PORT`, `masquerade [to :PORTS]`, `redirect [to :PORTS]`,
//! each followed by its flags (`random`, `fully-random`, `persistent`, comma separated, in
//! the order nft prints them).
//!
//! This module does not check that a port range has a protocol match before it (nft does);
//! the translator guarantees that.

use crate::ir::*;
use std::net::IpAddr;

pub(super) fn nat(n: &Nat) -> String {
    let mut out = match n.kind {
        NatKind::Snat => "snat".to_string(),
        NatKind::Dnat => "dnat".to_string(),
        NatKind::Masquerade => "masquerade".to_string(),
        NatKind::Redirect => "redirect".to_string(),
    };
    let ports = n.ports.map(|(lo, hi)| {
        if lo == hi {
            format!(":{lo}")
        } else {
            format!(":{lo}-{hi}")
        }
    });
    match (n.addr, ports) {
        (Some(NatAddr::Prefix { addr, len }), _) => {
            out.push_str(&format!(" prefix to {addr}/{len}"));
        }
        (Some(NatAddr::Range(lo, hi)), ports) => {
            let addrs = if lo == hi {
                addr(lo, ports.is_some())
            } else {
                format!(
                    "{}-{}",
                    addr(lo, ports.is_some()),
                    addr(hi, ports.is_some())
                )
            };
            out.push_str(&format!(" to {addrs}{}", ports.unwrap_or_default()));
        }
        (None, Some(p)) => out.push_str(&format!(" to {p}")),
        (None, None) => {}
    }
    let flags: Vec<&str> = [
        (n.flags.random, "random"),
        (n.flags.fully_random, "fully-random"),
        (n.flags.persistent, "persistent"),
    ]
    .into_iter()
    .filter_map(|(on, name)| on.then_some(name))
    .collect();
    if !flags.is_empty() {
        out.push(' ');
        out.push_str(&flags.join(","));
    }
    out
}

/// [`nat`] in a chain of `family` of an inet table: `snat` and `dnat` with an address say the
/// address family (`snat ip to ...`, `dnat ip6 prefix to ...`), which nft otherwise can only
/// infer from an earlier `ip`/`ip6` test in the rule.
pub(super) fn nat_in(n: &Nat, family: Family) -> String {
    let text = nat(n);
    let keyword = match family {
        Family::Ip => "ip",
        Family::Ip6 => "ip6",
        Family::Inet => return text,
    };
    match (n.kind, n.addr) {
        (NatKind::Snat | NatKind::Dnat, Some(_)) => {
            // `text` starts with the four-letter `snat` or `dnat`.
            format!("{} {keyword}{}", &text[..4], &text[4..])
        }
        _ => text,
    }
}

/// An IPv6 address followed by a port is written in brackets.
fn addr(a: IpAddr, before_port: bool) -> String {
    match a {
        IpAddr::V6(v6) if before_port => format!("[{v6}]"),
        _ => a.to_string(),
    }
}
