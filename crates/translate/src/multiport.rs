//! `-m multiport`: `--sports`/`--dports` lists of up to 15 ports (a range counts twice) become
//! an anonymous set `{ 22, 80-88 }`; `!` becomes `!=`. A list that covers one interval
//! (`137,138,139`, `20,21`) becomes that range, `137-139`: the same ports, with no set for the
//! kernel to load and a range check instead of a lookup for each packet.
//!
//! `--ports L` matches when the source OR the destination port is in L. No single nft test
//! says that, so the rule becomes two rules that no packet matches both of
//! ([`crate::rule::Either`]): `sport L`, then `sport != L dport L`. A packet gets the target
//! once, whatever the target, and the two counters add up to the iptables one; the rule
//! module refuses the split when a stateful match (`limit`, `recent`...) would then have two
//! states. `! --ports L` (neither port in L) is one rule with both `!=` tests.

use crate::port;
use crate::rule::{Cx, Either};
use fwnet_iptables::diag::Loc;
use fwnet_iptables::Opt;
use fwnet_nft::{CmpOp, Expr, Field, Match, Stmt, Value};

pub(crate) const OPTIONS: &[&[&str]] = &[
    &["--sports", "--source-ports"],
    &["--dports", "--destination-ports"],
    &["--ports"],
];

/// The kernel's XT_MULTI_PORTS.
const MAX_PORTS: usize = 15;

pub(crate) fn translate(opts: &[&Opt], loc: &Loc, cx: &mut Cx) -> Vec<Stmt> {
    let Some(proto) = cx.require_protocol("the multiport match", loc, &[6, 17]) else {
        return Vec::new();
    };
    if opts.len() > 1 {
        cx.error(
            "translate/bad-value",
            &opts[1].loc,
            "one multiport match takes one of --sports, --dports or --ports",
            "use a second `-m multiport` for the other list",
        );
        return Vec::new();
    }
    let mut out = Vec::new();
    for opt in opts {
        let source = match opt.name.as_str() {
            "--sports" | "--source-ports" => Some(true),
            "--dports" | "--destination-ports" => Some(false),
            _ => None,
        };
        let Some(arg) = cx.one_arg(opt) else { continue };
        let mut values = Vec::new();
        let mut slots = 0;
        let service_proto = cx.protocol.map(|(p, _)| crate::ip::protocol_name(p));
        for item in arg.split(',') {
            match port::port_or_range_in(item, service_proto, opt, cx) {
                Ok(v) => {
                    slots += if matches!(v, Value::Range(..)) { 2 } else { 1 };
                    values.push(v);
                }
                Err(help) => {
                    cx.bad_value(opt, item, help);
                    return out;
                }
            }
        }
        if slots > MAX_PORTS {
            cx.bad_value(opt, arg, "multiport takes at most 15 ports (a range counts as two); split the list over several rules");
            continue;
        }
        let right = if values.len() == 1 {
            values.remove(0)
        } else if let Some((lo, hi)) = one_interval(&values) {
            Value::Range(lo, hi)
        } else {
            Value::Set(values.into())
        };
        let test = |source: bool, op: CmpOp| {
            let field = match (proto, source) {
                (6, true) => Field::TcpSport,
                (6, false) => Field::TcpDport,
                (_, true) => Field::UdpSport,
                (_, false) => Field::UdpDport,
            };
            Stmt::Match(Match::Cmp {
                left: Expr::Payload(field),
                op,
                right: right.clone(),
            })
        };
        let negated = opt.negated.is_negated();
        match (source, negated) {
            (Some(source), false) => out.push(test(source, CmpOp::Eq)),
            (Some(source), true) => out.push(test(source, CmpOp::Ne)),
            // Neither port is in the list.
            (None, true) => out.extend([test(true, CmpOp::Ne), test(false, CmpOp::Ne)]),
            (None, false) => {
                cx.either = Some(Either {
                    loc: opt.loc.clone(),
                    what: format!("`--ports {arg}`"),
                    alternatives: [
                        vec![test(true, CmpOp::Eq)],
                        vec![test(true, CmpOp::Ne), test(false, CmpOp::Eq)],
                    ],
                    at: out.len(),
                });
            }
        }
    }
    out
}

/// The interval that ports and ranges `values` cover together, if they cover exactly one.
fn one_interval(values: &[Value]) -> Option<(u64, u64)> {
    let mut spans: Vec<(u64, u64)> = values
        .iter()
        .map(|v| match v {
            Value::Num(n) => Some((*n, *n)),
            Value::Range(a, b) => Some((*a.min(b), *a.max(b))),
            _ => None,
        })
        .collect::<Option<_>>()?;
    spans.sort_unstable();
    let (&(lo, mut hi), rest) = spans.split_first()?;
    for &(a, b) in rest {
        if a > hi + 1 {
            return None;
        }
        hi = hi.max(b);
    }
    Some((lo, hi))
}
