//! `-j SYNPROXY [--mss N] [--wscale N] [--sack-perm] [--timestamp] [--ecn]`: refused by
//! default; with `allow_approximate`, nft `synproxy [mss N] [wscale N] [timestamp] [sack-perm]`
//! behind a flag test.
//!
//! ipt_SYNPROXY.c / ip6t_SYNPROXY.c (`synproxy_tg4`, `synproxy_tg6`) and nft_synproxy.c
//! (`nft_synproxy_do_eval`) share their first steps and the code that does the work
//! (nf_synproxy_core.c): drop on a bad TCP checksum, drop when the TCP header cannot be read or
//! its options do not parse (`synproxy_parse_options`). Then they part:
//! - xt_SYNPROXY answers a SYN without ACK, FIN and RST with a SYN/ACK cookie and consumes it,
//!   consumes an ACK without SYN, FIN and RST whose cookie is valid and drops it otherwise, and
//!   lets every other packet go on (XT_CONTINUE);
//! - nft's statement does the first for every packet with SYN set and the second for every
//!   other packet with ACK set. Measured on kernel 6.18 (two namespaces over veth, a SYNPROXY
//!   rule then a counting rule, one raw TCP packet per combination of the six classic flags):
//!   the 40 combinations with SYN, or with ACK and FIN or RST, went on under iptables-legacy
//!   and were dropped or consumed under nft; the other 24 agreed.
//!
//! So fwnet gives the statement only the packets xt_SYNPROXY acts on: `tcp flags & (fin | syn
//! | rst | ack) { syn, ack } synproxy ...` (the rule's counter stays before the test, so it
//! counts what the iptables rule counted). What that cannot keep: a packet of any other kind
//! with a bad checksum, a cut-short header or options that do not parse, which xt_SYNPROXY
//! drops and the nft rule lets go on. Such a packet usually has conntrack state INVALID
//! (conntrack checks the checksum in PREROUTING), which the usual setup drops in the rule after
//! SYNPROXY, but not always; so the translation is an approximation, emitted only with
//! `allow_approximate`, marked in the rule's comment and warned about.
//!
//! Options: the option bits are the same numbers (XT_SYNPROXY_OPT_* = NF_SYNPROXY_OPT_*), and
//! nft sets a bit exactly for each keyword given, as libxt_SYNPROXY does for each option. nft
//! 1.0.6 has no keyword for the ECN bit (and the kernel's NF_SYNPROXY_OPT_MASK leaves it out),
//! so `--ecn` is translated only without `--timestamp`, where the shared code clears it before
//! use and it changes nothing; with `--timestamp` it is refused. nft's kernel refuses a window
//! scale above 14 (TCP_MAX_WSCALE), which xt takes; so does fwnet.
//!
//! Placement is iptables' own check, reported as an error: `-p tcp` not negated
//! (`synproxy_tg4_check`), and hooks INPUT and FORWARD only (xt's `.hooks`; nft's
//! `nft_synproxy_validate` has the same two). A user chain is checked against the hooks that
//! reach it when the table is finished ([`finish`]). fwnet translates the target in the filter
//! and mangle tables only, whose INPUT and FORWARD chains it hooks as iptables does; it refuses
//! the nat and security tables (where the kernel would take it) rather than reason about them.
//!
//! This module does not set up the raw-table `notrack` rule or the sysctls SYNPROXY needs;
//! those are the user's, as with iptables.

use crate::rule::Cx;
use fwnet_iptables::diag::{Diagnostic, Loc};
use fwnet_iptables::Opt;
use fwnet_nft::{self as nft, Hook, Stmt, Synproxy};

pub(crate) const TARGET_OPTIONS: &[&str] =
    &["--mss", "--wscale", "--sack-perm", "--timestamp", "--ecn"];

/// TCP_MAX_WSCALE, the largest window scale nft_synproxy.c accepts.
const MAX_WSCALE: u8 = 14;

/// `-j SYNPROXY` with its options.
pub(crate) fn target(opts: &[&Opt], loc: &Loc, cx: &mut Cx) -> Vec<Stmt> {
    if cx.require_protocol("`-j SYNPROXY`", loc, &[6]).is_none() {
        return Vec::new();
    }
    if !matches!(cx.table, "filter" | "mangle") {
        cx.error(
            "translate/unsupported-target",
            loc,
            format!("`-j SYNPROXY` in the {} table is not supported", cx.table),
            "fwnet translates SYNPROXY in the filter and mangle tables only; move the rule to the filter table's INPUT or FORWARD chain",
        );
        return Vec::new();
    }
    if matches!(cx.chain, "PREROUTING" | "OUTPUT" | "POSTROUTING") {
        cx.error(
            "translate/bad-value",
            loc,
            format!(
                "`-j SYNPROXY` is only valid in INPUT and FORWARD, not in {}",
                cx.chain
            ),
            "iptables refuses this rule; move it to INPUT (or FORWARD for a proxied server)",
        );
        return Vec::new();
    }
    let mut sp = Synproxy::default();
    let mut ecn = None;
    for opt in opts {
        if !cx.not_negated(opt) {
            return Vec::new();
        }
        match opt.name.as_str() {
            "--mss" => {
                let Some(arg) = cx.one_arg(opt) else {
                    return Vec::new();
                };
                let Some(mss) = crate::ip::c_number(arg).and_then(|n| u16::try_from(n).ok()) else {
                    cx.bad_value(opt, arg, "an MSS is a number from 0 to 65535");
                    return Vec::new();
                };
                sp.mss = Some(mss);
            }
            "--wscale" => {
                let Some(arg) = cx.one_arg(opt) else {
                    return Vec::new();
                };
                let Some(ws) = crate::ip::c_number(arg)
                    .and_then(|n| u8::try_from(n).ok())
                    .filter(|n| *n <= MAX_WSCALE)
                else {
                    cx.bad_value(
                        opt,
                        arg,
                        "a window scale is a number from 0 to 14 (TCP allows no more; nft's kernel refuses a larger one, which iptables would announce as is)",
                    );
                    return Vec::new();
                };
                sp.wscale = Some(ws);
            }
            flag => {
                if !cx.no_arg(opt) {
                    return Vec::new();
                }
                match flag {
                    "--sack-perm" => sp.sack_perm = true,
                    "--timestamp" => sp.timestamp = true,
                    _ => ecn = Some(opt),
                }
            }
        }
    }
    if let (Some(opt), true) = (ecn, sp.timestamp) {
        cx.error(
            "translate/inexact",
            &opt.loc,
            "`--ecn` with `--timestamp` has no nft translation: nft has no keyword for SYNPROXY's ECN option (and its kernel refuses the bit), and with the timestamp option the SYN cookie would announce ECN",
            "remove `--ecn` (the proxied connection then runs without ECN); without `--timestamp` the kernel ignores `--ecn`, and fwnet translates it",
        );
        return Vec::new();
    }
    if !cx.allow_approximate {
        cx.error(
            "translate/inexact",
            loc,
            format!("`-j SYNPROXY` has no exact nft translation: {WHY}"),
            "a packet with a bad checksum usually has conntrack state INVALID, which the usual setup drops in the rule after SYNPROXY; if yours does, import with `--allow-approximate`, which writes `tcp flags & (fin | syn | rst | ack) { syn, ack } synproxy ...` and marks the rule as an approximation",
        );
        return Vec::new();
    }
    cx.warn(
        "translate/approximate",
        loc,
        format!("approximation: `-j SYNPROXY` becomes nft `tcp flags & (fin | syn | rst | ack) {{ syn, ack }} synproxy`, which differs: {WHY}"),
        "the rule's comment says so; the usual setup drops such packets in its next rule (`--ctstate INVALID -j DROP`)",
    );
    cx.approximate = Some("SYNPROXY as synproxy".to_string());
    vec![syn_or_ack(), Stmt::Synproxy(sp)]
}

/// What the approximation cannot keep.
const WHY: &str = "nft's synproxy acts on every packet with SYN or ACK set, xt_SYNPROXY only on a SYN or an ACK without the other three of SYN, ACK, FIN and RST; fwnet can give nft's statement only those, but a packet of any other kind with a bad TCP checksum, a cut-short header or unreadable options is then let go on, where xt_SYNPROXY drops it";

/// `tcp flags & (fin | syn | rst | ack) { syn, ack }`: the packets xt_SYNPROXY acts on.
fn syn_or_ack() -> Stmt {
    use fwnet_nft::tcp_flag::{ACK, FIN, RST, SYN};
    Stmt::Match(nft::Match::Masked {
        left: nft::Expr::Payload(nft::Field::TcpFlags),
        mask: Box::new(nft::Value::Num(FIN | SYN | RST | ACK)),
        op: nft::CmpOp::Eq,
        value: nft::Value::Set(Box::new([nft::Value::Num(SYN), nft::Value::Num(ACK)])),
    })
}

/// Refuses `synproxy` in user chains reached from a hook other than input and forward, as the
/// kernel does when the table is loaded. `locs` are the `-j SYNPROXY` locations of the table.
/// Rules that fail are removed from `table`; returns how many.
pub(crate) fn finish(table: &mut nft::Table, locs: &[Loc], diags: &mut Vec<Diagnostic>) -> usize {
    if locs.is_empty() {
        return 0;
    }
    let reach = crate::nat::reachability(table);
    let mut refused = 0;
    for chain in table.chains.iter_mut().filter(|c| c.base.is_none()) {
        let hooks = reach.get(&chain.name).cloned().unwrap_or_default();
        let bad: Vec<Hook> = hooks
            .into_iter()
            .filter(|h| !matches!(h, Hook::Input | Hook::Forward))
            .collect();
        if bad.is_empty() {
            continue;
        }
        chain.rules.retain(|rule| {
            if !rule.stmts.iter().any(|s| matches!(s, Stmt::Synproxy(_))) {
                return true;
            }
            let line = rule.origin.as_ref().map(|o| o.line);
            if let Some(loc) = locs.iter().find(|l| Some(l.line) == line) {
                diags.push(
                    Diagnostic::error(
                        "translate/bad-value",
                        loc,
                        format!(
                            "SYNPROXY in chain {} is reached from {}, where the kernel does not allow it",
                            chain.name,
                            crate::nat::hook_names(&bad)
                        ),
                    )
                    .with_help("iptables refuses the table; jump to this chain from INPUT and FORWARD only"),
                );
            }
            refused += 1;
            false
        });
    }
    refused
}
