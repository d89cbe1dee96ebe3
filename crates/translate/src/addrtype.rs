//! `-m addrtype`: `--src-type`, `--dst-type` (each may be negated), `--limit-iface-in`,
//! `--limit-iface-out`, as nft `fib saddr type local`, `fib daddr . iif type != broadcast`.
//!
//! Exactness: for IPv4, xt_addrtype asks `inet_dev_addr_type(net, dev, addr)` and tests the
//! result's bit in the type mask; nft's `fib ... type` puts the same call's result in a register
//! (nft_fib_ipv4.c), with `dev` the input or output device under `. iif` / `. oif`, exactly as
//! the limit-iface options choose it. A single type is therefore `fib ... type T` (`!=` when
//! negated). Both `--src-type` and `--dst-type` give two tests, source first, as the kernel
//! evaluates them (the reference translator drops the destination test).
//!
//! A negated list (`! --dst-type LOCAL,BROADCAST`: none of them) is one `!=` test per type.
//!
//! Not translated, with an error: plain type lists (`LOCAL,BROADCAST`: any of them), and every ip6tables use: xt_addrtype's IPv6 path combines the mask bits with AND and its
//! own route lookup, which nft's `fib` type for IPv6 does not reproduce.

use crate::rule::Cx;
use crate::IpFamily;
use fwnet_iptables::diag::Loc;
use fwnet_iptables::Opt;
use fwnet_nft::{CmpOp, Expr, Fib, FibAddr, FibIface, Match, Stmt, Value};

pub(crate) const OPTIONS: &[&[&str]] = &[
    &["--src-type"],
    &["--dst-type"],
    &["--limit-iface-in"],
    &["--limit-iface-out"],
];

/// iptables' type names (RTN_* in rtnetlink.h order); matched case-insensitively as
/// libxt_addrtype does.
const TYPES: &[&str] = &[
    "UNSPEC",
    "UNICAST",
    "LOCAL",
    "BROADCAST",
    "ANYCAST",
    "MULTICAST",
    "BLACKHOLE",
    "UNREACHABLE",
    "PROHIBIT",
    "THROW",
    "NAT",
    "XRESOLVE",
];

pub(crate) fn translate(opts: &[&Opt], loc: &Loc, cx: &mut Cx) -> Vec<Stmt> {
    if cx.family == IpFamily::V6 {
        cx.error(
            "translate/unsupported-match",
            loc,
            "`-m addrtype` in an ip6tables ruleset is not supported",
            "IPv6 addrtype tests the mask bits together and has no exact nft `fib` form; match the addresses (`-d ::1`, `-d ff00::/8`) instead",
        );
        return Vec::new();
    }
    let (mut src, mut dst, mut iface) = (None, None, None);
    for opt in opts {
        match opt.name.as_str() {
            "--src-type" => src = address_types(opt, cx).map(|t| (t, opt.negated.is_negated())),
            "--dst-type" => dst = address_types(opt, cx).map(|t| (t, opt.negated.is_negated())),
            name => {
                if !cx.not_negated(opt) || !cx.no_arg(opt) {
                    continue;
                }
                let input = name == "--limit-iface-in";
                if let Some((other, _)) = iface {
                    if other != input {
                        cx.error(
                            "translate/bad-value",
                            &opt.loc,
                            "`--limit-iface-in` and `--limit-iface-out` cannot be combined",
                            "the kernel refuses this rule; keep one of them",
                        );
                        continue;
                    }
                }
                if crate::rule::lacks_interface(cx.chain, input) {
                    cx.error(
                        "translate/bad-value",
                        &opt.loc,
                        format!("`{name}` cannot be used in chain {}", cx.chain),
                        format!(
                            "packets in {} have no {} interface; iptables refuses this rule",
                            cx.chain,
                            if input { "input" } else { "output" }
                        ),
                    );
                    continue;
                }
                iface = Some((input, opt));
            }
        }
    }
    if opts
        .iter()
        .all(|o| o.name != "--src-type" && o.name != "--dst-type")
    {
        cx.error(
            "translate/bad-value",
            loc,
            "`-m addrtype` needs `--src-type` or `--dst-type`",
            "iptables refuses the rule without one; add the type to test or remove the match",
        );
        return Vec::new();
    }
    let iface = iface.map(
        |(input, _)| {
            if input {
                FibIface::Iif
            } else {
                FibIface::Oif
            }
        },
    );
    let mut stmts = Vec::new();
    for (addr, test) in [(FibAddr::Saddr, src), (FibAddr::Daddr, dst)] {
        let Some((types, negated)) = test else {
            continue;
        };
        for t in types {
            stmts.push(Stmt::Match(Match::Cmp {
                left: Expr::Fib(Fib { addr, iface }),
                op: if negated { CmpOp::Ne } else { CmpOp::Eq },
                right: Value::Num(t),
            }));
        }
    }
    stmts
}

/// The types of one option. A negated list is one `!=` test per type (none of them); a plain
/// list (any of them) is refused.
fn address_types(opt: &Opt, cx: &mut Cx) -> Option<Vec<u64>> {
    let arg = cx.one_arg(opt)?;
    let mut types = Vec::new();
    for word in arg.split(',') {
        match TYPES.iter().position(|t| t.eq_ignore_ascii_case(word)) {
            Some(n) if !types.contains(&(n as u64)) => types.push(n as u64),
            Some(_) => {}
            None => {
                cx.bad_value(opt, word, format!("address types are {}", TYPES.join(", ")));
                return None;
            }
        }
    }
    if types.len() > 1 && !opt.negated.is_negated() {
        cx.unsupported_value(
            opt,
            &format!("the type list `{arg}`"),
            "write one rule per type with the same target",
        );
        return None;
    }
    Some(types)
}
