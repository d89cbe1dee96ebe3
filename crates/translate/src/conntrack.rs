//! `-m conntrack`: `--ctstate` (same meaning as `-m state --state`); the other conntrack
//! options are recognised and refused for now.

use crate::rule::Cx;
use crate::state::states;
use fwnet_iptables::diag::Loc;
use fwnet_iptables::Opt;
use fwnet_nft::Stmt;

pub(crate) const OPTIONS: &[&[&str]] = &[
    &["--ctstate"],
    &["--ctproto"],
    &["--ctorigsrc"],
    &["--ctorigdst"],
    &["--ctreplsrc"],
    &["--ctrepldst"],
    &["--ctorigsrcport"],
    &["--ctorigdstport"],
    &["--ctreplsrcport"],
    &["--ctrepldstport"],
    &["--ctstatus"],
    &["--ctexpire"],
    &["--ctdir"],
];

pub(crate) fn translate(opts: &[&Opt], _loc: &Loc, cx: &mut Cx) -> Vec<Stmt> {
    let mut out = Vec::new();
    for opt in opts {
        if opt.name == "--ctstate" {
            out.extend(states(opt, true, cx));
        } else {
            cx.unsupported_option(
                opt,
                "only --ctstate is translated yet; remove the option or the rule",
            );
        }
    }
    out
}
