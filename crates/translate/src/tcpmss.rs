//! `-m tcpmss --mss A[:B]` (the match) and `-j TCPMSS --set-mss N | --clamp-mss-to-pmtu` (the
//! target).
//!
//! The match is `tcp option maxseg size A-B` (`== A` for one value). xt_tcpmss and nft's
//! `exthdr` both look for the MSS option (kind 2) and neither matches a packet without it, so
//! they agree on every well-formed header; as for `--tcp-option` (see [`crate::tcp`]), they
//! differ on malformed ones: xt_tcpmss drops a packet whose options run past its end, where
//! nft's test fails, and skips a kind-2 option whose length is not 4 and looks on, where nft
//! stops at it (reading its value when it is longer, failing when it is shorter).
//!
//! They also differ on non-first fragments: xt_tcpmss does not check the fragment offset and
//! reads the fragment's data as a TCP header, while nft's `tcp option maxseg size` never
//! matches one (and `tcp option 2 missing` always does). So the match is translated only where
//! the rule sees no non-first fragment: with a `state`/`conntrack` test in the rule (both
//! kernels then reassemble fragments before any hook), or after a tcp match with an option
//! (xt_tcp fails on such fragments, and so does nft's `tcp option maxseg size`, though nft's
//! `tcp dport` and `tcp flags` read them). Measured on kernel 6.18 with crafted packets by
//! `test_data/kernel-check/tcpmss.py`.
//!
//! `! --mss A:B` matches packets without an MSS option too, which nft's `!=` does not; it
//! becomes two rules no packet matches both of ([`crate::rule::Either`]): `tcp option 2
//! missing`, and `tcp option maxseg size != A-B`. Where only a tcp match keeps fragments out,
//! the first also needs `ip frag-off & 8191 == 0`; IPv6 has no single such test, so there the
//! rule needs the conntrack test.
//!
//! The target is never exact (see [`target`]): it is refused unless the user allows
//! approximations, and then becomes `tcp option maxseg size set N` / `set rt mtu`. iptables'
//! own refusals (no `-p tcp`, no SYN test, clamping outside FORWARD, OUTPUT and POSTROUTING)
//! are errors either way.

use crate::rule::{Cx, Either};
use fwnet_iptables::diag::Loc;
use fwnet_iptables::Opt;
use fwnet_nft::{tcp_flag, CmpOp, Expr, Exthdr, Field, Match, Maxseg, Stmt, Value};

pub(crate) const OPTIONS: &[&[&str]] = &[&["--mss"]];

pub(crate) const TARGET_OPTIONS: &[&str] = &["--set-mss", "--clamp-mss-to-pmtu"];

/// TCPOPT_MAXSEG, the MSS option's kind.
const MAXSEG: u8 = 2;

/// IP_OFFSET: the fragment offset bits of `ip frag-off`.
const IP_OFFSET: u64 = 0x1fff;

/// What keeps non-first fragments from the match in iptables.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Fragments {
    /// A conntrack test in the rule: both kernels reassemble before any hook.
    Reassembled,
    /// An earlier tcp match with an option: xt_tcp fails on them (nft's tcp tests do not).
    TcpTested,
    /// Nothing.
    Possible,
}

/// `-m tcpmss --mss A[:B]`, possibly negated.
pub(crate) fn translate(opts: &[&Opt], loc: &Loc, frags: Fragments, cx: &mut Cx) -> Vec<Stmt> {
    if cx.require_protocol("the tcpmss match", loc, &[6]).is_none() {
        return Vec::new();
    }
    let Some(opt) = opts.iter().find(|o| o.name == "--mss") else {
        cx.error(
            "translate/bad-value",
            loc,
            "`-m tcpmss` needs `--mss`",
            "iptables refuses the match without it; add `--mss VALUE[:VALUE]`",
        );
        return Vec::new();
    };
    let Some(arg) = cx.one_arg(opt) else {
        return Vec::new();
    };
    let Some(range) = mss_range(arg) else {
        cx.bad_value(
            opt,
            arg,
            "expected an MSS or a range LOW:HIGH of numbers from 0 to 65535, low first",
        );
        return Vec::new();
    };
    let negated = opt.negated.is_negated();
    let v6_tcp = frags == Fragments::TcpTested && cx.family == crate::IpFamily::V6;
    if frags == Fragments::Possible || (negated && v6_tcp) {
        cx.error(
            "translate/inexact",
            &opt.loc,
            "`-m tcpmss` has no exact nft translation here: xt_tcpmss reads the data of a non-first IP fragment as a TCP header, while nft's `tcp option maxseg size` never matches such a fragment",
            if negated {
                "add a conntrack test to the rule (`-m conntrack --ctstate NEW`), which makes both kernels reassemble fragments first"
            } else {
                "put a tcp match before `-m tcpmss` in the rule (`--tcp-flags SYN,RST SYN`: only SYNs carry an MSS option), or add a conntrack test, which makes both kernels reassemble fragments first"
            },
        );
        return Vec::new();
    }
    let size = |op| {
        Stmt::Match(Match::Cmp {
            left: Expr::Exthdr(Exthdr::MaxsegSize),
            op,
            right: range.clone(),
        })
    };
    if !negated {
        return vec![size(CmpOp::Eq)];
    }
    let mut missing = Vec::new();
    if frags == Fragments::TcpTested {
        // Not a non-first fragment, which `tcp option 2 missing` would match.
        missing.push(Stmt::Match(Match::Masked {
            left: Expr::Payload(Field::IpFragOff),
            mask: Box::new(Value::Num(IP_OFFSET)),
            op: CmpOp::Eq,
            value: Value::Num(0),
        }));
    }
    missing.push(Stmt::Match(Match::Cmp {
        left: Expr::Exthdr(Exthdr::TcpOption(MAXSEG)),
        op: CmpOp::Eq,
        right: Value::Num(0),
    }));
    cx.either = Some(Either {
        loc: opt.loc.clone(),
        what: format!("`! --mss {arg}`"),
        alternatives: [missing, vec![size(CmpOp::Ne)]],
        at: 0,
    });
    Vec::new()
}

/// `A`, `A:B`, `:B` or `A:` as libxtables reads a 16-bit range; `None` when malformed or
/// reversed.
fn mss_range(arg: &str) -> Option<Value> {
    let num = |s: &str, default: u16| {
        if s.is_empty() {
            Some(default)
        } else {
            s.parse::<u16>().ok()
        }
    };
    let (lo, hi) = match arg.split_once(':') {
        Some((lo, hi)) => (num(lo, 0)?, num(hi, u16::MAX)?),
        None => {
            let n = arg.parse::<u16>().ok()?;
            (n, n)
        }
    };
    match lo.cmp(&hi) {
        std::cmp::Ordering::Equal => Some(Value::Num(lo.into())),
        std::cmp::Ordering::Less => Some(Value::Range(lo.into(), hi.into())),
        std::cmp::Ordering::Greater => None,
    }
}

/// Whether a tcp match's options test SYN the way xt_TCPMSS requires (`--syn`, or
/// `--tcp-flags` whose compare set has SYN, neither negated).
pub(crate) fn tests_syn(tcp_opts: &[&Opt]) -> bool {
    tcp_opts.iter().any(|o| {
        if o.negated.is_negated() {
            return false;
        }
        match (o.name.as_str(), o.args.as_slice()) {
            ("--syn", _) => true,
            ("--tcp-flags", [_, comp]) => {
                crate::tcp::flag_list(comp).is_some_and(|c| c & tcp_flag::SYN != 0)
            }
            _ => false,
        }
    })
}

/// Why `-j TCPMSS` is not exact, for the error and the approximation warning.
const WHY: &str = "xt_TCPMSS adds an MSS option to a SYN that has none (536 bytes at most for IPv4, 1220 for IPv6) and drops the packet when the path MTU is unusable or the TCP header is truncated, while nft's `tcp option maxseg size set` leaves a SYN without the option alone, uses 536 for an unusable path MTU and skips a truncated header";

/// `-j TCPMSS`: refused unless `allow_approximate`; `syn` says whether the rule has the SYN
/// test iptables requires.
pub(crate) fn target(opts: &[&Opt], loc: &Loc, syn: bool, cx: &mut Cx) -> Vec<Stmt> {
    if cx.require_protocol("`-j TCPMSS`", loc, &[6]).is_none() {
        return Vec::new();
    }
    if !syn {
        cx.error(
            "translate/bad-value",
            loc,
            "`-j TCPMSS` needs a SYN test in the rule",
            "iptables refuses this rule; add `--tcp-flags SYN,RST SYN` (or `--syn`) before `-j TCPMSS`",
        );
        return Vec::new();
    }
    let mut value = None;
    for opt in opts {
        if !cx.not_negated(opt) {
            return Vec::new();
        }
        let v = match opt.name.as_str() {
            "--clamp-mss-to-pmtu" => {
                if !cx.no_arg(opt) {
                    return Vec::new();
                }
                Maxseg::RtMtu
            }
            _ => {
                let Some(arg) = cx.one_arg(opt) else {
                    return Vec::new();
                };
                match arg.parse::<u16>() {
                    Ok(n) if n < u16::MAX => Maxseg::Size(n),
                    _ => {
                        cx.bad_value(
                            opt,
                            arg,
                            "an MSS is a number from 0 to 65534 (65535 means `--clamp-mss-to-pmtu` to the kernel)",
                        );
                        return Vec::new();
                    }
                }
            }
        };
        if value.is_some() {
            cx.error(
                "translate/bad-value",
                &opt.loc,
                "`-j TCPMSS` takes one of `--set-mss` and `--clamp-mss-to-pmtu`",
                "iptables refuses both or one twice; keep one",
            );
            return Vec::new();
        }
        value = Some(v);
    }
    let Some(value) = value else {
        cx.error(
            "translate/bad-value",
            loc,
            "`-j TCPMSS` needs `--set-mss VALUE` or `--clamp-mss-to-pmtu`",
            "iptables refuses the target without one; add it",
        );
        return Vec::new();
    };
    if value == Maxseg::RtMtu && matches!(cx.chain, "PREROUTING" | "INPUT") {
        cx.error(
            "translate/bad-value",
            loc,
            format!("`--clamp-mss-to-pmtu` is only valid in FORWARD, OUTPUT and POSTROUTING, not in {}", cx.chain),
            "iptables refuses this rule (the packet has no route yet); move it to FORWARD or POSTROUTING",
        );
        return Vec::new();
    }
    if !cx.allow_approximate {
        cx.error(
            "translate/inexact",
            loc,
            format!("`-j TCPMSS` has no exact nft translation: {WHY}"),
            "nft has no exact form (it cannot add a TCP option); every mainstream TCP stack sends an MSS option in its SYN, so `--allow-approximate`, which writes `tcp option maxseg size set`, changes nothing for their connections",
        );
        return Vec::new();
    }
    cx.warn(
        "translate/approximate",
        loc,
        format!("approximation: `-j TCPMSS` becomes nft `tcp option maxseg size set`, which differs: {WHY}"),
        "the rule's comment says so; see the error without --allow-approximate for the nearest exact alternative",
    );
    cx.approximate = Some("TCPMSS as tcp option maxseg size set".to_string());
    vec![Stmt::MaxsegSet(value)]
}
