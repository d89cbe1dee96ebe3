//! `-j REJECT [--reject-with TYPE]`: nft `reject with icmp type ...`, `icmpv6 type ...` or
//! `tcp reset`. Defaults are port-unreachable for IPv4 and IPv6, as in iptables.
//!
//! The kernel allows REJECT in the filter table only, and `tcp-reset` only on `-p tcp` rules;
//! both are checked here because nft would accept what iptables refuses.

use crate::rule::Cx;
use crate::IpFamily;
use fwnet_iptables::diag::Loc;
use fwnet_iptables::Opt;
use fwnet_nft::{Reject, Stmt};

pub(crate) const OPTIONS: &[&str] = &["--reject-with"];

/// (name, alias, ICMP code); code `None` is tcp-reset.
const V4: &[(&str, &str, Option<u8>)] = &[
    ("icmp-net-unreachable", "net-unreach", Some(0)),
    ("icmp-host-unreachable", "host-unreach", Some(1)),
    ("icmp-proto-unreachable", "proto-unreach", Some(2)),
    ("icmp-port-unreachable", "port-unreach", Some(3)),
    ("icmp-net-prohibited", "net-prohib", Some(9)),
    ("icmp-host-prohibited", "host-prohib", Some(10)),
    ("icmp-admin-prohibited", "admin-prohib", Some(13)),
    ("tcp-reset", "tcp-rst", None),
];

const V6: &[(&str, &str, Option<u8>)] = &[
    ("icmp6-no-route", "no-route", Some(0)),
    ("icmp6-adm-prohibited", "adm-prohibited", Some(1)),
    ("icmp6-addr-unreachable", "addr-unreach", Some(3)),
    ("icmp6-port-unreachable", "port-unreach", Some(4)),
    ("icmp6-policy-fail", "policy-fail", Some(5)),
    ("icmp6-reject-route", "reject-route", Some(6)),
    ("tcp-reset", "tcp-rst", None),
];

pub(crate) fn translate(opts: &[&Opt], loc: &Loc, cx: &mut Cx) -> Vec<Stmt> {
    if cx.table != "filter" {
        let table = cx.table.to_string();
        cx.error(
            "translate/bad-value",
            loc,
            format!("REJECT is only valid in the filter table, not {table}"),
            "move the rule to the filter table or use DROP",
        );
        return Vec::new();
    }
    let (table, default) = match cx.family {
        IpFamily::V4 => (V4, Reject::Icmp(3)),
        IpFamily::V6 => (V6, Reject::Icmpv6(4)),
    };
    let mut reject = default;
    for opt in opts {
        if !cx.not_negated(opt) {
            continue;
        }
        let Some(arg) = cx.one_arg(opt) else { continue };
        let found = table.iter().find(|(name, alias, _)| {
            name.eq_ignore_ascii_case(arg) || alias.eq_ignore_ascii_case(arg)
        });
        reject = match found {
            Some((_, _, None)) => {
                if cx
                    .require_protocol("--reject-with tcp-reset", &opt.loc, &[6])
                    .is_none()
                {
                    continue;
                }
                Reject::TcpReset
            }
            Some((_, _, Some(code))) if cx.family == IpFamily::V4 => Reject::Icmp(*code),
            Some((_, _, Some(code))) => Reject::Icmpv6(*code),
            None => {
                let names: Vec<&str> = table.iter().map(|(n, ..)| *n).collect();
                cx.bad_value(opt, arg, format!("use one of {}", names.join(", ")));
                continue;
            }
        };
    }
    vec![Stmt::Reject(reject)]
}
