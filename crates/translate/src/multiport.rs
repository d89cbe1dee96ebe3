//! `-m multiport`: `--sports`/`--dports` lists of up to 15 ports (a range counts twice) become
//! an anonymous set `{ 22, 80-88 }`; `!` becomes `!=`. `--ports` (source or destination port in
//! the list) has no single-test nft form here and is refused for now.

use crate::port;
use crate::rule::Cx;
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
            "--sports" | "--source-ports" => true,
            "--dports" | "--destination-ports" => false,
            _ => {
                cx.unsupported_option(
                    opt,
                    "--ports matches the source or the destination port, which one nft test cannot express yet; use --sports and --dports in two rules if the target ends evaluation",
                );
                continue;
            }
        };
        let Some(arg) = cx.one_arg(opt) else { continue };
        let mut values = Vec::new();
        let mut slots = 0;
        for item in arg.split(',') {
            match port::port_or_range(item) {
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
        let field = match (proto, source) {
            (6, true) => Field::TcpSport,
            (6, false) => Field::TcpDport,
            (_, true) => Field::UdpSport,
            (_, false) => Field::UdpDport,
        };
        let right = if values.len() == 1 {
            values.remove(0)
        } else {
            Value::Set(values)
        };
        let op = if opt.negated.is_negated() {
            CmpOp::Ne
        } else {
            CmpOp::Eq
        };
        out.push(Stmt::Match(Match::Cmp {
            left: Expr::Payload(field),
            op,
            right,
        }));
    }
    out
}
