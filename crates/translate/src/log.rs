//! `-j LOG`: nft `log` with prefix, level and flags. LOG is not a verdict: the packet goes on
//! to the next rule, and so does the nft rule (no verdict statement follows).
//!
//! A prefix is kept byte for byte (iptables allows 29 characters, nft 127). nft syntax has no
//! escape for `"`, so a prefix containing one is applied exactly but `fwnet show` prints it as
//! `'`, with a warning. Without `--log-level` the kernel's default (warning) applies in both.

use crate::rule::Cx;
use fwnet_iptables::Opt;
use fwnet_nft::{Log, Stmt};

pub(crate) const OPTIONS: &[&str] = &[
    "--log-prefix",
    "--log-level",
    "--log-tcp-sequence",
    "--log-tcp-options",
    "--log-ip-options",
    "--log-uid",
    "--log-macdecode",
];

/// libipt_LOG's MAX prefix (29 characters and a NUL).
const MAX_PREFIX: usize = 29;

const LEVELS: &[(&str, u8)] = &[
    ("emerg", 0),
    ("panic", 0),
    ("alert", 1),
    ("crit", 2),
    ("err", 3),
    ("error", 3),
    ("warn", 4),
    ("warning", 4),
    ("notice", 5),
    ("info", 6),
    ("debug", 7),
];

pub(crate) fn translate(opts: &[&Opt], cx: &mut Cx) -> Vec<Stmt> {
    let mut log = Log::default();
    for opt in opts {
        if !cx.not_negated(opt) {
            continue;
        }
        match opt.name.as_str() {
            "--log-prefix" => {
                let Some(prefix) = cx.one_arg(opt) else {
                    continue;
                };
                if prefix.len() > MAX_PREFIX {
                    cx.bad_value(
                        opt,
                        prefix,
                        "iptables log prefixes are at most 29 characters; shorten it",
                    );
                    continue;
                }
                if prefix.contains('"') {
                    cx.warn(
                        "translate/log-prefix-quote",
                        &opt.loc,
                        "the log prefix contains `\"`, which nft syntax cannot write; the kernel gets it unchanged, `fwnet show` prints `'`",
                        "use single quotes in the prefix to silence this",
                    );
                }
                log.prefix = Some(prefix.to_string());
            }
            "--log-level" => {
                let Some(arg) = cx.one_arg(opt) else { continue };
                let level = arg.parse::<u8>().ok().filter(|l| *l <= 7).or_else(|| {
                    LEVELS
                        .iter()
                        .find(|(name, _)| name.eq_ignore_ascii_case(arg))
                        .map(|(_, l)| *l)
                });
                match level {
                    Some(l) => log.level = Some(l),
                    None => cx.bad_value(
                        opt,
                        arg,
                        "levels are 0-7 or emerg, alert, crit, error, warning, notice, info, debug",
                    ),
                }
            }
            flag => {
                if !cx.no_arg(opt) {
                    continue;
                }
                let f = &mut log.flags;
                match flag {
                    "--log-tcp-sequence" => f.tcp_sequence = true,
                    "--log-tcp-options" => f.tcp_options = true,
                    "--log-ip-options" => f.ip_options = true,
                    "--log-uid" => f.uid = true,
                    _ => f.macdecode = true,
                }
            }
        }
    }
    vec![Stmt::Log(Box::new(log))]
}
