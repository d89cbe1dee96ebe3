//! `-m owner`: `--uid-owner N` and `--gid-owner N` as nft `meta skuid N` / `meta skgid N`.
//!
//! Exactness: xt_owner compares the fsuid/fsgid of the file behind the packet's socket; nft's
//! `meta skuid`/`skgid` load the same credentials and end the rule when there is no socket or
//! no file, where the plain iptables test fails too. The negated forms are where they differ:
//! `! --uid-owner N` also matches packets that have no socket (forwarded traffic, kernel
//! replies such as TCP resets), which no single nft test can say, so negation is refused.
//!
//! User and group names resolve through the host's passwd and group databases at the time
//! iptables loaded the rules; this crate does no I/O and the host running fwnet may not be that
//! host, so names are refused with a pointer to the numeric id (`root` is 0 everywhere and is
//! accepted). Ranges (`1000-2000`, which nft compares after a byte-order swap), and
//! `--socket-exists` (nft 1.0.6 has no exact equivalent) are refused, as are the options the
//! kernel dropped long ago (`--pid-owner`, `--sid-owner`, `--cmd-owner`).

use crate::rule::Cx;
use fwnet_iptables::diag::Loc;
use fwnet_iptables::Opt;
use fwnet_nft::{CmpOp, Expr, Match, MetaKey, Stmt, Value};

pub(crate) const OPTIONS: &[&[&str]] = &[
    &["--uid-owner"],
    &["--gid-owner"],
    &["--socket-exists"],
    &["--suppl-groups"],
    &["--pid-owner"],
    &["--sid-owner"],
    &["--cmd-owner"],
];

/// The hooks xt_owner is registered for.
const VALID_CHAINS: &[&str] = &["OUTPUT", "POSTROUTING"];
const BUILTIN_CHAINS: &[&str] = &["PREROUTING", "INPUT", "FORWARD", "OUTPUT", "POSTROUTING"];

pub(crate) fn translate(opts: &[&Opt], loc: &Loc, cx: &mut Cx) -> Vec<Stmt> {
    if BUILTIN_CHAINS.contains(&cx.chain) && !VALID_CHAINS.contains(&cx.chain) {
        cx.error(
            "translate/bad-value",
            loc,
            format!("`-m owner` cannot be used in chain {}", cx.chain),
            "only locally generated packets have an owner; iptables accepts it in OUTPUT and POSTROUTING only",
        );
        return Vec::new();
    }
    if opts.is_empty() {
        cx.error(
            "translate/bad-value",
            loc,
            "`-m owner` needs `--uid-owner` or `--gid-owner`",
            "add the owner to test or remove the match",
        );
        return Vec::new();
    }
    let mut stmts = Vec::new();
    for opt in opts {
        let key = match opt.name.as_str() {
            "--uid-owner" => MetaKey::Skuid,
            "--gid-owner" => MetaKey::Skgid,
            "--socket-exists" => {
                cx.unsupported_option(
                    opt,
                    "nft 1.0.6 has no exact test for \"the packet has a local socket\"; remove the option or the rule",
                );
                continue;
            }
            "--suppl-groups" => {
                cx.unsupported_option(
                    opt,
                    "nft's `meta skgid` tests the primary group only; list the group's members with `--uid-owner` in separate rules",
                );
                continue;
            }
            name => {
                cx.error(
                    "translate/bad-value",
                    &opt.loc,
                    format!("`{name}` is not supported by the kernel"),
                    "Linux removed pid, sid and command matching in 2.6.14; iptables refuses the rule, remove the option",
                );
                continue;
            }
        };
        if opt.negated.is_negated() {
            cx.unsupported_value(
                opt,
                "negation",
                "`! --uid-owner` also matches packets without a socket, which one nft test cannot say; match the owner and `return` or `accept` first, then apply the target to the rest",
            );
            continue;
        }
        let Some(arg) = cx.one_arg(opt) else { continue };
        if let Some(id) = id(arg) {
            stmts.push(Stmt::Match(Match::Cmp {
                left: Expr::Meta(key),
                op: CmpOp::Eq,
                right: Value::Num(id),
            }));
        } else if arg.contains('-') && arg.split('-').all(|p| id(p).is_some()) {
            cx.unsupported_value(
                opt,
                &format!("the id range `{arg}`"),
                "write one rule per id, or a single id",
            );
        } else {
            let what = if key == MetaKey::Skuid { "uid" } else { "gid" };
            cx.error(
                "translate/unsupported-option",
                &opt.loc,
                format!("the name `{arg}` in `{}` is not resolved", opt.name),
                format!("names depend on the passwd and group files of the host that loaded the rules; write the numeric {what} instead (`getent {} {arg}` there)", if what == "uid" { "passwd" } else { "group" }),
            );
        }
    }
    stmts
}

/// A numeric id (0 to 2^32-2; 4294967295 is the kernel's invalid id) or `root`.
fn id(s: &str) -> Option<u64> {
    if s == "root" {
        return Some(0);
    }
    s.parse::<u32>()
        .ok()
        .filter(|n| *n != u32::MAX)
        .map(u64::from)
}
