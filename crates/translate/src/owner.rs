//! `-m owner`: `--uid-owner N` and `--gid-owner N` as nft `meta skuid N` / `meta skgid N`.
//!
//! Exactness: xt_owner compares the fsuid/fsgid of the file behind the packet's socket; nft's
//! `meta skuid`/`skgid` load the same credentials and end the rule when there is no socket, no
//! file behind it (the kernel's own sockets: ICMP errors, TCP resets) or a socket of another
//! namespace, where the plain iptables test fails too. The negated forms are where they
//! differ: `! --uid-owner N` also matches packets without an owner, which no nft test says.
//! So a rule with `!` becomes a jump to a chain of its own ([`finish`]):
//! `meta skuid N return` (the owner is N: the rule does not match), then the rest of the rule
//! with its counter and target. A packet without an owner ends the `return` rule and meets the
//! rest, as it matches in iptables; one of another owner does too. The rule's matches before
//! the owner test stay in the rule, in their order. Refused with `-j RETURN` and `-g`, which
//! would leave the new chain instead of the rule's (move the target to a user chain and jump).
//!
//! User and group names resolve through the host's passwd and group databases at the time
//! iptables loaded the rules: `fwnet import` looks them up on the host it runs on and gives the
//! answers to this crate, which does no I/O ([`crate::names`]); without them names are refused
//! with a pointer to the numeric id (`root` is 0 everywhere and needs no lookup). An id range
//! (`1000-2000`, xt_owner's min <= id <= max) is `meta skuid 1000-2000`, which nft compares
//! after a byte-order swap, and so does the lowering. `--socket-exists` (nft 1.0.6 has no exact
//! equivalent) is refused, as are the options the kernel dropped long ago (`--pid-owner`,
//! `--sid-owner`, `--cmd-owner`).

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
        // `!`: `meta skuid != N` here, which [`finish`] turns into the chain that also
        // matches packets without an owner.
        let op = if opt.negated.is_negated() {
            cx.negated_owner.set(true);
            CmpOp::Ne
        } else {
            CmpOp::Eq
        };
        let Some(arg) = cx.one_arg(opt) else { continue };
        if let Some(id) = id(arg) {
            stmts.push(Stmt::Match(Match::Cmp {
                left: Expr::Meta(key),
                op,
                right: Value::Num(id),
            }));
        } else if let Some((lo, hi)) = arg
            .split_once('-')
            .and_then(|(lo, hi)| Some((id(lo)?, id(hi)?)))
        {
            // xt_owner tests min <= id <= max; the kernel refuses a range that runs backwards
            // (iptables-legacy-restore fails with "Invalid argument").
            if lo > hi {
                cx.bad_value(
                    opt,
                    arg,
                    "the kernel refuses a range that runs backwards; write the smaller id first",
                );
                continue;
            }
            let right = if lo == hi {
                Value::Num(lo)
            } else {
                Value::Range(lo, hi)
            };
            stmts.push(Stmt::Match(Match::Cmp {
                left: Expr::Meta(key),
                op,
                right,
            }));
        } else if let Some(id) = resolved(opt, arg, key, cx) {
            stmts.push(Stmt::Match(Match::Cmp {
                left: Expr::Meta(key),
                op,
                right: Value::Num(u64::from(id)),
            }));
        }
    }
    stmts
}

/// The id the importing host gives user or group `name` ([`crate::names`]), reported in a
/// warning; `None`, with an error, when names are not resolved or the host has no such name.
fn resolved(opt: &Opt, name: &str, key: MetaKey, cx: &mut Cx) -> Option<u32> {
    let (kind, what, db) = if key == MetaKey::Skuid {
        ("user", "uid", "passwd")
    } else {
        ("group", "gid", "group")
    };
    let Some(names) = cx.names else {
        cx.error(
            "translate/unsupported-option",
            &opt.loc,
            format!("the name `{name}` in `{}` is not resolved here", opt.name),
            format!("`fwnet import` looks names up in this host's {db} database unless given `--no-resolve`; or write the numeric {what} (`getent {db} {name}` on the host that loads the rules)"),
        );
        return None;
    };
    let answer = if key == MetaKey::Skuid {
        names.user(name)
    } else {
        names.group(name)
    };
    let Ok(Some(id)) = answer else {
        let why = match answer {
            Err(e) => format!(
                "{kind} `{name}` (`{}`) could not be looked up on this host: {e}",
                opt.name
            ),
            _ => format!("no {kind} `{name}` on this host (`{}`)", opt.name),
        };
        cx.error(
            "translate/bad-value",
            &opt.loc,
            why,
            format!("iptables-restore refuses the rule too; create the {kind}, or write the numeric {what} (`getent {db} {name}` on the host the rules come from)"),
        );
        return None;
    };
    cx.warn(
        "translate/resolved-name",
        &opt.loc,
        format!("{kind} `{name}` is {what} {id} on this host"),
        "iptables-restore looks names up when it loads the rules, `fwnet import` when it reads them: the stored ruleset keeps the number until the next import (`--no-resolve` refuses names instead)",
    );
    Some(id)
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

/// Rewrites every rule holding a negated owner test (`meta skuid != N`, made by
/// [`translate`]) into the rule's tests before it and a jump to a chain `owner_lineN` that
/// returns for the owner and otherwise holds the rest of the rule (see the module's notes).
pub(crate) fn finish(out: &mut crate::Translation) {
    use fwnet_nft::{Chain, Rule, Verdict};
    let negated = |s: &Stmt| {
        matches!(
            s,
            Stmt::Match(Match::Cmp {
                left: Expr::Meta(MetaKey::Skuid | MetaKey::Skgid),
                op: CmpOp::Ne,
                ..
            })
        )
    };
    for table in &mut out.ruleset.tables {
        let mut taken: Vec<String> = table.chains.iter().map(|c| c.name.clone()).collect();
        let mut added = Vec::new();
        for chain in &mut table.chains {
            let mut refused = Vec::new();
            for (ri, rule) in chain.rules.iter_mut().enumerate() {
                let Some(i) = rule.stmts.iter().position(negated) else {
                    continue;
                };
                let n = rule.stmts[i..].iter().take_while(|s| negated(s)).count();
                let line = rule.origin.as_ref().map_or(0, |o| o.line);
                let loc = Loc {
                    file: rule
                        .origin
                        .as_ref()
                        .map_or_else(|| "".into(), |o| fwnet_iptables::FileName::new(&o.file)),
                    line,
                    column: 1,
                };
                let leaves = rule.stmts.iter().find_map(|s| match s {
                    Stmt::Verdict(Verdict::Return) => Some("`-j RETURN`"),
                    Stmt::Verdict(Verdict::Goto(_)) => Some("`-g` (goto)"),
                    _ => None,
                });
                let why = if let Some(t) = leaves {
                    Some(format!("{t} in a rule with `! --uid-owner` or `! --gid-owner`: the rule becomes a jump to a chain (the negation also matches packets without an owner), from which {t} would leave the wrong chain"))
                } else if rule.stmts[i + n..].iter().any(negated) {
                    Some("negated owner tests separated by other matches: put the `! --uid-owner` and `! --gid-owner` options of the rule together".to_string())
                } else {
                    None
                };
                if let Some(why) = why {
                    out.diagnostics.push(
                        fwnet_iptables::Diagnostic::error(
                            "translate/unsupported-option",
                            &loc,
                            why,
                        )
                        .with_help(
                            "move the target to a user chain and `-j` (jump) to it from this rule",
                        ),
                    );
                    refused.push(ri);
                    continue;
                }
                let name = crate::recent::fresh(format!("owner_line{line}"), &mut taken);
                let mut rules: Vec<Rule> = rule.stmts[i..i + n]
                    .iter()
                    .map(|s| {
                        let Stmt::Match(Match::Cmp { left, right, .. }) = s else {
                            unreachable!("negated() matched a Cmp");
                        };
                        Rule {
                            stmts: vec![
                                Stmt::Match(Match::Cmp {
                                    left: *left,
                                    op: CmpOp::Eq,
                                    right: right.clone(),
                                }),
                                Stmt::Verdict(Verdict::Return),
                            ],
                            comment: None,
                            origin: rule.origin.clone(),
                            merged: Vec::new(),
                        }
                    })
                    .collect();
                let mut rest = crate::recent::protocol_tests(&rule.stmts[..i]);
                rest.extend(rule.stmts.split_off(i + n));
                rule.stmts.truncate(i);
                rule.stmts.push(Stmt::Verdict(Verdict::Jump(name.clone())));
                rules.push(Rule {
                    stmts: rest,
                    comment: rule.comment.clone(),
                    origin: rule.origin.clone(),
                    merged: Vec::new(),
                });
                added.push(Chain {
                    name,
                    base: None,
                    rules,
                    family: chain.family,
                });
            }
            for ri in refused.into_iter().rev() {
                chain.rules.remove(ri);
            }
        }
        table.chains.extend(added);
    }
}
