//! `-m rpfilter [--loose] [--validmark] [--accept-local] [--invert]`: refused, with the reason
//! and the nearest exact alternative; nft's `fib saddr . iif oif` is close but not the same.
//!
//! Compared on kernel 6.18 (ipt_rpfilter.c / ip6t_rpfilter.c against nft_fib_ipv4.c /
//! nft_fib_ipv6.c), the two agree on looped-back packets, on a zero source with a broadcast
//! or local multicast destination, on `--validmark` (`. mark`), on IPv6 link-local sources
//! (lookup on the input device) and on multipath routes (every next hop counts). They differ:
//! - IPv4: when the reverse route is neither unicast nor local (the source is a local subnet's
//!   broadcast address, or a `broadcast`/`multicast` route covers it), rpfilter fails, while
//!   nft's fib goes on and matches when the route's device is the input device;
//! - IPv6: a packet with source `::` always passes rpfilter; nft passes it only for ICMPv6 to a
//!   link-local destination and otherwise looks `::` up;
//! - IPv6 strict mode: rpfilter looks the source up with the input device as output interface,
//!   which picks that device's route among several for the same prefix; nft looks up without it
//!   and checks the best route only;
//! - `--accept-local`: rpfilter passes sources with a local route; nft's fib never does.
//!
//! Measured on kernel 6.18.44 in two namespaces (10.0.0.1/24 on a veth): a UDP packet from
//! 10.0.0.255 is not matched by `-m rpfilter` and is matched by `fib saddr . iif oif exists`;
//! sources 10.0.0.2, 10.0.0.0 (match) and 192.0.2.1 (no route, no match) agree.
//!
//! So no single nft rule gives the same verdict for every packet: by default the match is
//! refused. With `allow_approximate`, everything but `--accept-local` becomes
//! `fib saddr [. mark] [. iif] oif exists` (`. iif` unless `--loose`, `. mark` for
//! `--validmark`, `missing` for `--invert`), with a `translate/approximate` warning and the
//! rule's comment saying so. iptables' own refusals (a table other than raw or mangle, a chain
//! other than PREROUTING) are errors either way.

use crate::rule::Cx;
use crate::IpFamily;
use fwnet_iptables::diag::Loc;
use fwnet_iptables::Opt;
use fwnet_nft::{CmpOp, Expr, FibOif, Match, Stmt, Value};

pub(crate) const OPTIONS: &[&[&str]] = &[
    &["--loose"],
    &["--validmark"],
    &["--accept-local"],
    &["--invert"],
];

pub(crate) fn translate(opts: &[&Opt], loc: &Loc, cx: &mut Cx) -> Vec<Stmt> {
    for opt in opts {
        if !cx.not_negated(opt) || !cx.no_arg(opt) {
            return Vec::new();
        }
    }
    if cx.table != "raw" && cx.table != "mangle" {
        cx.error(
            "translate/bad-value",
            loc,
            format!(
                "`-m rpfilter` is only valid in the raw and mangle tables, not in {}",
                cx.table
            ),
            "iptables refuses this rule; move it to `*raw` or `*mangle` PREROUTING",
        );
        return Vec::new();
    }
    if !matches!(cx.chain, "PREROUTING") && is_builtin(cx.chain) {
        cx.error(
            "translate/bad-value",
            loc,
            format!(
                "`-m rpfilter` is only valid in PREROUTING, not in {}",
                cx.chain
            ),
            "iptables refuses this rule; move it to PREROUTING",
        );
        return Vec::new();
    }
    let has = |name: &str| opts.iter().any(|o| o.name == name);
    let (why, help) = if has("--accept-local") {
        (
            "`--accept-local` passes sources that have a local route; nft's `fib` never does",
            "there is no exact nft form with or without it; the nearest alternative is the kernel's own reverse-path filter (sysctl rp_filter with accept_local=1 on the interface, IPv4 only)",
        )
    } else if cx.family == IpFamily::V6 {
        (
            "ip6t_rpfilter always passes source `::` and, in strict mode, looks the source up with the input device as output interface; nft's `fib saddr . iif oif` does neither",
            "IPv6 has no rp_filter sysctl; keep this rule in ip6tables, or write `fib saddr . iif oif missing drop` in nft yourself, knowing that `::` sources and prefixes routed over several devices are judged differently",
        )
    } else {
        (
            "ipt_rpfilter fails when the source's route is a broadcast or multicast route (a local subnet's broadcast address), where nft's `fib saddr . iif oif` still matches the input device",
            "the nearest alternative is the kernel's own reverse-path filter (sysctl net.ipv4.conf.all.rp_filter=1 for strict, 2 for `--loose`), which also refuses such sources, though it drops at routing rather than in this chain",
        )
    };
    if !cx.allow_approximate || has("--accept-local") {
        // `--accept-local` has no approximation either; otherwise say that one exists.
        let help = if has("--accept-local") {
            help.to_string()
        } else {
            let form = format!(
                "fib saddr{}{} oif {}",
                if has("--validmark") { " . mark" } else { "" },
                if has("--loose") { "" } else { " . iif" },
                if has("--invert") { "missing" } else { "exists" },
            );
            format!("{help}; or import with `--allow-approximate`, which writes `{form}` and marks the rule as an approximation")
        };
        cx.error(
            "translate/inexact",
            loc,
            format!("`-m rpfilter` has no exact nft translation: {why}"),
            help,
        );
        return Vec::new();
    }
    cx.warn(
        "translate/approximate",
        loc,
        format!("approximation: `-m rpfilter` becomes nft `fib saddr ... oif`, which differs: {why}"),
        "the rule's comment says so; see the error without --allow-approximate for the nearest exact alternative",
    );
    cx.approximate = Some("rpfilter as fib".to_string());
    let fib = FibOif {
        mark: has("--validmark"),
        iif: !has("--loose"),
    };
    vec![Stmt::Match(Match::Cmp {
        left: Expr::FibOif(fib),
        op: CmpOp::Eq,
        right: Value::Num(if has("--invert") { 0 } else { 1 }),
    })]
}

/// The built-in chain names of the tables rpfilter may be in; a user chain is checked by
/// iptables only when a built-in chain jumps to it.
fn is_builtin(chain: &str) -> bool {
    matches!(
        chain,
        "PREROUTING" | "INPUT" | "FORWARD" | "OUTPUT" | "POSTROUTING"
    )
}
