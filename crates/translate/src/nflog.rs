//! `-j NFLOG`: nft `log group N [prefix "..."] [snaplen N] queue-threshold N`, to an
//! nfnetlink_log group instead of the kernel log. Like LOG it is not a verdict: the rule goes
//! on (no verdict statement follows).
//!
//! Exactness: xt_NFLOG and nft's `log group` both hand the packet to nfnetlink_log with the
//! group, prefix, copy length and batch threshold. xt_NFLOG always sends its threshold, 1
//! unless `--nflog-threshold` says otherwise, where nft without `queue-threshold` leaves the
//! group's own default (100), so the threshold is always written out. `--nflog-size` is the
//! copy length (`snaplen`); `--nflog-range` has been ignored by the kernel since `--nflog-size`
//! replaced it, so it is dropped with a warning. A prefix is at most 63 bytes, as
//! libxt_NFLOG allows.

use crate::rule::Cx;
use fwnet_iptables::Opt;
use fwnet_nft::{Log, Stmt};

pub(crate) const OPTIONS: &[&str] = &[
    "--nflog-group",
    "--nflog-prefix",
    "--nflog-range",
    "--nflog-size",
    "--nflog-threshold",
];

/// xt_NFLOG's prefix buffer (64 bytes with the NUL).
const MAX_PREFIX: usize = 63;

/// XT_NFLOG_DEFAULT_THRESHOLD.
const DEFAULT_THRESHOLD: u16 = 1;

pub(crate) fn translate(opts: &[&Opt], cx: &mut Cx) -> Vec<Stmt> {
    let mut log = Log {
        group: Some(0),
        queue_threshold: Some(DEFAULT_THRESHOLD),
        ..Log::default()
    };
    for opt in opts {
        if !cx.not_negated(opt) {
            continue;
        }
        let Some(arg) = cx.one_arg(opt) else { continue };
        match opt.name.as_str() {
            "--nflog-prefix" => {
                if arg.len() > MAX_PREFIX {
                    cx.bad_value(opt, arg, "NFLOG prefixes are at most 63 bytes; shorten it");
                    continue;
                }
                if arg.contains('"') {
                    cx.warn(
                        "translate/log-prefix-quote",
                        &opt.loc,
                        "the log prefix contains `\"`, which nft syntax cannot write; the kernel gets it unchanged, `fwnet show` prints `'`",
                        "use single quotes in the prefix to silence this",
                    );
                }
                log.prefix = Some(arg.to_string());
            }
            "--nflog-group" => match arg.parse::<u16>() {
                Ok(g) => log.group = Some(g),
                Err(_) => cx.bad_value(opt, arg, "the group is a number from 0 to 65535"),
            },
            "--nflog-size" => match arg.parse::<u32>() {
                Ok(n) => log.snaplen = Some(n),
                Err(_) => cx.bad_value(opt, arg, "the size is a number of bytes"),
            },
            "--nflog-threshold" => match arg.parse::<u16>() {
                Ok(n) if n >= 1 => log.queue_threshold = Some(n),
                _ => cx.bad_value(opt, arg, "the threshold is a number from 1 to 65535"),
            },
            _ => {
                if arg.parse::<u32>().is_err() {
                    cx.bad_value(opt, arg, "the range is a number of bytes");
                    continue;
                }
                cx.warn(
                    "translate/ignored-option",
                    &opt.loc,
                    "`--nflog-range` is ignored by the kernel, so it is dropped",
                    "use `--nflog-size` to limit how much of the packet is copied",
                );
            }
        }
    }
    vec![Stmt::Log(Box::new(log))]
}
