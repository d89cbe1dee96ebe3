//! `-m ecn`: `--ecn-ip-ect N` as nft `ip ecn N` / `ip6 ecn N`, `--ecn-tcp-cwr` as `tcp flags &
//! cwr == cwr` and `--ecn-tcp-ece` as `tcp flags & ecn == ecn` (nft calls the ECE bit `ecn`),
//! each with its own `!` (`!=`).
//!
//! Exactness, from the kernel's xt_ecn as relied on here: the match is the AND of the tests
//! given. The IP test compares the low 2 bits of the IPv4 TOS byte / IPv6 traffic class with N
//! (0-3), `!` inverting it; nft's `ip ecn` / `ip6 ecn` load the same bits. The TCP tests read
//! the TCP header at the transport offset the IP layer found and test one flag bit each, `!`
//! inverting only that bit's test; a packet too short for the header matches neither the test
//! nor its negation, as nft's failed load breaks the rule for both `==` and `!=`. xt_ecn does
//! not look at the fragment offset, and neither does nft's `tcp flags`: both read a non-first
//! IPv4 fragment's data at the same offset (see [`crate::tcpmss`] for the measurement), and on
//! IPv6 both take the offset from ipv6_find_hdr, which leaves it at 0 for a non-first fragment
//! (nft then reads the IPv6 header; see [`crate::fragments`]). But for a ruleset without
//! conntrack fwnet keeps non-first fragments from every `tcp flags` test ([`crate::fragments`],
//! for xt_tcp's sake: `ip frag-off & 8191 == 0` on IPv4, a `frag frag-off != 0` guard that
//! skips the rule on IPv6), which would keep such fragments from the ECN tests too; so the TCP
//! tests are translated only where no non-first fragment can make a difference: with a tcp
//! match in the rule (xt_tcp fails on such fragments, and the guard is right) or a conntrack
//! test (both kernels reassemble first, and there is no guard). As for `--dport`, a TCP header
//! cut short differs: xt_ecn needs 20 bytes, nft's test one byte at offset 13. Measured on
//! kernel 6.18.44 with crafted IPv4 packets by `test_data/kernel-check/dsfield.py` (fragments,
//! with and without conntrack). The kernel
//! refuses the TCP tests unless the rule has `-p tcp` (not negated), and so does this module;
//! that protocol test comes first in the rule, so nft adds no dependency of its own.
//!
//! libxt_ecn reads `--ecn-ip-ect` as a number from 0 to 3 (strtoul base 0). iptables-legacy
//! 1.8.9 saves `-p tcp -m ecn --ecn-tcp-cwr ! --ecn-tcp-ece --ecn-ip-ect 2` as `! --ecn-tcp-ece
//! --ecn-tcp-cwr --ecn-ip-ect 2` (checked in a namespace); the order does not matter.

use crate::rule::Cx;
use crate::tcpmss::Fragments;
use crate::IpFamily;
use fwnet_iptables::diag::Loc;
use fwnet_iptables::Opt;
use fwnet_nft::{tcp_flag, CmpOp, Expr, Field, Match, Stmt, Value};

pub(crate) const OPTIONS: &[&[&str]] = &[&["--ecn-tcp-cwr"], &["--ecn-tcp-ece"], &["--ecn-ip-ect"]];

fn op(opt: &Opt) -> CmpOp {
    if opt.negated.is_negated() {
        CmpOp::Ne
    } else {
        CmpOp::Eq
    }
}

/// `-m ecn`: at least one option.
pub(crate) fn translate(opts: &[&Opt], loc: &Loc, frags: Fragments, cx: &mut Cx) -> Vec<Stmt> {
    if opts.is_empty() {
        cx.error(
            "translate/bad-value",
            loc,
            "`-m ecn` needs `--ecn-ip-ect`, `--ecn-tcp-cwr` or `--ecn-tcp-ece`",
            "iptables refuses the match without one; add the test",
        );
        return Vec::new();
    }
    let tcp = opts.iter().find(|o| o.name != "--ecn-ip-ect");
    if let Some(t) = tcp {
        let what = format!("`{}`", t.name);
        if cx.require_protocol(&what, &t.loc, &[6]).is_none() {
            return Vec::new();
        }
        if frags == Fragments::Possible {
            cx.error(
                "translate/inexact",
                &t.loc,
                format!("{what} has no exact nft translation here: xt_ecn reads a TCP header in a non-first fragment, while fwnet keeps such fragments from every `tcp flags` test unless the ruleset uses conntrack"),
                "add a tcp match to the rule (`--dport`, `--tcp-flags`, or `-m tcp --sport 0:65535`), which makes xt_tcp refuse non-first fragments too, or a conntrack test (`-m conntrack --ctstate NEW,ESTABLISHED`), which makes both kernels reassemble fragments first",
            );
            return Vec::new();
        }
    }
    let mut stmts = Vec::new();
    for opt in opts {
        let bit = match opt.name.as_str() {
            "--ecn-tcp-cwr" => tcp_flag::CWR,
            "--ecn-tcp-ece" => tcp_flag::ECN,
            _ => {
                let Some(arg) = cx.one_arg(opt) else {
                    continue;
                };
                let Some(n) = crate::ip::c_number(arg).filter(|n| *n <= 3) else {
                    cx.bad_value(opt, arg, "the ECN field is a number from 0 to 3");
                    continue;
                };
                let field = match cx.family {
                    IpFamily::V4 => Field::IpEcn,
                    IpFamily::V6 => Field::Ip6Ecn,
                };
                stmts.push(Stmt::Match(Match::Cmp {
                    left: Expr::Payload(field),
                    op: op(opt),
                    right: Value::Num(u64::from(n)),
                }));
                continue;
            }
        };
        if !cx.no_arg(opt) {
            continue;
        }
        stmts.push(Stmt::Match(Match::Masked {
            left: Expr::Payload(Field::TcpFlags),
            mask: Box::new(Value::Num(bit)),
            op: op(opt),
            value: Value::Num(bit),
        }));
    }
    stmts
}
