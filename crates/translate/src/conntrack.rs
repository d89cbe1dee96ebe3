//! `-m conntrack` (xt_conntrack): `--ctstate` (with the SNAT and DNAT virtual states),
//! `--ctproto`, `--ctorigsrc`/`--ctorigdst`/`--ctreplsrc`/`--ctrepldst`, the four tuple port
//! options, `--ctstatus` and `--ctdir`, as nft `ct` tests.
//!
//! Exactness notes, from xt_conntrack's match function:
//! - A packet without a connection (state INVALID or UNTRACKED) fails every option but
//!   `--ctstate`, negated or not, and nft's `ct` tests other than `ct state` do not match
//!   such a packet either. But when `--ctstate` is present and passes for such a packet,
//!   xt_conntrack returns "match" without looking at the other options; that rule is refused
//!   unless the state list rules those packets out.
//! - The port options compare the tuple's 16 port bits whatever the protocol; so does nft's
//!   `ct original proto-dst`. nft reads a port value only when an earlier test of the rule
//!   names the protocol, so a port option needs `-p tcp`/`-p udp` or `--ctproto tcp`/`udp`.
//! - `! --ctorigdstport 1000:2000` is "not in the range", nft's `!= 1000-2000`.
//! - `--ctstate SNAT`/`DNAT` are `ct status snat`/`dnat`. OR-ed with real states they need two
//!   keys, so the rule becomes two disjoint rules (`ct state S`, then `ct state` none of S and
//!   `ct status snat`), as `--ports` does ([`Either`]). Negated they would match packets
//!   without a connection, which `ct status` never does: refused.
//!
//! - `--ctdir ORIGINAL`/`REPLY` is `ct direction original`/`reply` (the packet's direction in
//!   its connection; it cannot be negated).
//! - `--ctexpire MIN[:MAX]` compares the connection's remaining lifetime in whole seconds
//!   (`nf_ct_expires() / HZ`, rounded down); nft's `ct expiration` reads the same lifetime in
//!   milliseconds (`jiffies_to_msecs(nf_ct_expires())`). Whole second s is the milliseconds
//!   s*1000 to s*1000+999 for every HZ the kernel allows (jiffies_to_msecs rounds up, but never
//!   into the next second: a jiffy is at least a millisecond), so the test is `ct expiration
//!   MIN*1000ms-(MAX*1000+999)ms`, and `!` is `!=`. nft's 32-bit milliseconds end at 49.7 days
//!   (4294967 s): a bound above that is refused, and an upper bound is cut to it, exact for
//!   connections with less than 49.7 days left (conntrack's longest default timeout, TCP
//!   established, is 5 days).

use crate::ip;
use crate::port;
use crate::rule::{Cx, Either};
use crate::state::states;
use crate::IpFamily;
use fwnet_iptables::diag::Loc;
use fwnet_iptables::Opt;
use fwnet_nft::{ct_state, CmpOp, CtKey, Expr, Match, Stmt, Value};

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

/// IPS_SRC_NAT and IPS_DST_NAT in `ct status`.
const STATUS_SNAT: u64 = 0x10;
const STATUS_DNAT: u64 = 0x20;

/// `--ctstatus` names (libxt_conntrack) and their IPS_* bits.
const STATUSES: &[(&str, u64)] = &[
    ("EXPECTED", 1),
    ("SEEN_REPLY", 2),
    ("ASSURED", 4),
    ("CONFIRMED", 8),
];

fn op_of(opt: &Opt) -> CmpOp {
    if opt.negated.is_negated() {
        CmpOp::Ne
    } else {
        CmpOp::Eq
    }
}

pub(crate) fn translate(opts: &[&Opt], _loc: &Loc, cx: &mut Cx) -> Vec<Stmt> {
    let mut out = Vec::new();
    // --ctproto first: nft needs the protocol before a port value.
    let ctproto = opts.iter().find(|o| o.name == "--ctproto");
    let mut ct_l4 = None;
    if let Some(opt) = ctproto {
        if let Some((p, stmt)) = proto(opt, cx) {
            ct_l4 = (!opt.negated.is_negated()).then_some(p);
            out.push(stmt);
        }
    }
    let mut state_passes_without_ct: Option<&Opt> = None;
    let mut other: Option<&Opt> = None;
    for opt in opts.iter().copied() {
        if opt.name != "--ctstate" {
            other = other.or(Some(opt));
        }
        match opt.name.as_str() {
            "--ctproto" => {}
            "--ctstate" => {
                let Some((test, without_ct)) = state(opt, cx) else {
                    continue;
                };
                if without_ct {
                    state_passes_without_ct = Some(opt);
                }
                match test {
                    StateTest::One(stmt) => out.push(stmt),
                    StateTest::Either(alternatives) => {
                        cx.either = Some(Either {
                            loc: opt.loc.clone(),
                            what: format!("`--ctstate {}`", opt.args.join(" ")),
                            alternatives,
                            at: out.len(),
                        });
                    }
                }
            }
            "--ctorigsrc" | "--ctorigdst" | "--ctreplsrc" | "--ctrepldst" => {
                out.extend(address(opt, cx));
            }
            "--ctorigsrcport" | "--ctorigdstport" | "--ctreplsrcport" | "--ctrepldstport" => {
                out.extend(ports(opt, ct_l4, cx));
            }
            "--ctstatus" => out.extend(status(opt, cx)),
            "--ctdir" => out.extend(direction(opt, cx)),
            "--ctexpire" => out.extend(expire(opt, cx)),
            _ => cx.unsupported_option(opt, "this conntrack option is not translated"),
        }
    }
    if let (Some(st), Some(other)) = (state_passes_without_ct, other) {
        cx.error(
            "translate/unsupported-option",
            &st.loc,
            format!("`--ctstate {}` with `{}` in one conntrack match", st.args.join(" "), other.name),
            "the state list lets packets without a connection (INVALID, UNTRACKED) through, and xt_conntrack then skips the other options while nft's ct tests never match such packets; nearest exact form: one rule with `-m conntrack --ctstate` of those states alone, and one with the other options and the remaining states",
        );
    }
    out
}

/// What `--ctstate` becomes: one test, or an OR of `ct state` and `ct status` bits as two
/// disjoint alternatives (the rule is split, see [`Either`]).
enum StateTest {
    One(Stmt),
    Either([Vec<Stmt>; 2]),
}

/// `--ctstate`: the test, and whether it can pass for a packet without a connection.
fn state(opt: &Opt, cx: &mut Cx) -> Option<(StateTest, bool)> {
    let arg = cx.one_arg(opt)?;
    let mut nat = 0;
    let mut real = Vec::new();
    for word in arg.split(',') {
        match word.to_ascii_uppercase().as_str() {
            "SNAT" => nat |= STATUS_SNAT,
            "DNAT" => nat |= STATUS_DNAT,
            _ => real.push(word),
        }
    }
    if nat != 0 && opt.negated.is_negated() {
        cx.unsupported_value(
            opt,
            &format!("`{arg}`"),
            "a negated SNAT/DNAT state also matches packets without a connection, which `ct status` never matches; add a rule `-m conntrack --ctstate SNAT -j RETURN` (in a user chain) before this one instead",
        );
        return None;
    }
    let status = Stmt::Match(Match::Flags {
        left: Expr::Ct(CtKey::Status),
        bits: nat,
        op: CmpOp::Eq,
    });
    if real.is_empty() {
        return Some((StateTest::One(status), false));
    }
    let mut real_opt = opt.clone();
    real_opt.args = std::iter::once(real.join(",").into()).collect();
    let stmt = states(&real_opt, true, cx)?;
    let Stmt::Match(Match::Flags { bits, op, left }) = stmt else {
        return None;
    };
    let both = ct_state::INVALID | ct_state::UNTRACKED;
    let without_ct = match op {
        CmpOp::Eq => bits & both != 0,
        CmpOp::Ne => bits & both != both,
    };
    if nat == 0 {
        return Some((
            StateTest::One(Stmt::Match(Match::Flags { left, bits, op })),
            without_ct,
        ));
    }
    // One of the states, or else (none of them) one of the NAT bits: no packet passes both.
    let state = |op| Stmt::Match(Match::Flags { left, bits, op });
    Some((
        StateTest::Either([vec![state(CmpOp::Eq)], vec![state(CmpOp::Ne), status]]),
        without_ct,
    ))
}

/// `--ctproto`: the protocol number and `ct protocol` test.
fn proto(opt: &Opt, cx: &mut Cx) -> Option<(u8, Stmt)> {
    let arg = cx.one_arg(opt)?;
    if matches!(arg.to_ascii_lowercase().as_str(), "all" | "0") {
        cx.unsupported_value(
            opt,
            "`all`",
            "remove `--ctproto all`: xt_conntrack compares the protocol with 0, which is not what `all` means in `-p`",
        );
        return None;
    }
    let (p, _) = ip::read_protocol(opt, cx)?;
    Some((
        p,
        Stmt::Match(Match::Cmp {
            left: Expr::Ct(CtKey::Protocol),
            op: op_of(opt),
            right: Value::Num(u64::from(p)),
        }),
    ))
}

fn address(opt: &Opt, cx: &mut Cx) -> Vec<Stmt> {
    let Some(arg) = cx.one_arg(opt) else {
        return Vec::new();
    };
    let v6 = cx.family == IpFamily::V6;
    let key = match (opt.name.as_str(), v6) {
        ("--ctorigsrc", false) => CtKey::OrigIpSaddr,
        ("--ctorigdst", false) => CtKey::OrigIpDaddr,
        ("--ctreplsrc", false) => CtKey::ReplIpSaddr,
        ("--ctrepldst", false) => CtKey::ReplIpDaddr,
        ("--ctorigsrc", true) => CtKey::OrigIp6Saddr,
        ("--ctorigdst", true) => CtKey::OrigIp6Daddr,
        ("--ctreplsrc", true) => CtKey::ReplIp6Saddr,
        _ => CtKey::ReplIp6Daddr,
    };
    if arg.contains(',') {
        cx.unsupported_value(
            opt,
            "an address list",
            "libxt_conntrack takes one address; use one rule per address",
        );
        return Vec::new();
    }
    if ip::is_any_address(arg, cx.family) && !opt.negated.is_negated() {
        cx.unsupported_value(
            opt,
            &format!("`{arg}`"),
            "a /0 address still requires a connection; say that with `-m conntrack ! --ctstate INVALID,UNTRACKED`",
        );
        return Vec::new();
    }
    ip::address_test(opt, arg, Expr::Ct(key), cx)
        .into_iter()
        .collect()
}

fn ports(opt: &Opt, ct_l4: Option<u8>, cx: &mut Cx) -> Vec<Stmt> {
    let Some(arg) = cx.one_arg(opt) else {
        return Vec::new();
    };
    let known = |p: Option<u8>| matches!(p, Some(6 | 17));
    let rule_l4 = match cx.protocol {
        Some((p, false)) => Some(p),
        _ => None,
    };
    if !known(rule_l4) && !known(ct_l4) {
        cx.error(
            "translate/unsupported-option",
            &opt.loc,
            format!("`{}` without `-p tcp`, `-p udp`, `--ctproto tcp` or `--ctproto udp`", opt.name),
            "nft reads a conntrack port only when the rule names the protocol first; add `--ctproto tcp` (or udp) if only those connections are meant",
        );
        return Vec::new();
    }
    let key = match opt.name.as_str() {
        "--ctorigsrcport" => CtKey::OrigProtoSrc,
        "--ctorigdstport" => CtKey::OrigProtoDst,
        "--ctreplsrcport" => CtKey::ReplProtoSrc,
        _ => CtKey::ReplProtoDst,
    };
    let right = match port::port_or_range_in(arg, None, opt, cx) {
        Ok(v) => v,
        Err(help) => {
            cx.bad_value(opt, arg, help);
            return Vec::new();
        }
    };
    vec![Stmt::Match(Match::Cmp {
        left: Expr::Ct(key),
        op: op_of(opt),
        right,
    })]
}

fn status(opt: &Opt, cx: &mut Cx) -> Option<Stmt> {
    let arg = cx.one_arg(opt)?;
    let mut bits = 0;
    for word in arg.split(',') {
        let upper = word.to_ascii_uppercase();
        match STATUSES.iter().find(|(name, _)| *name == upper) {
            Some((_, bit)) => bits |= bit,
            None if upper == "NONE" => {
                cx.unsupported_value(
                    opt,
                    "status `NONE`",
                    "NONE is no bit: the positive test never matches and the negated one ignores it; remove it",
                );
                return None;
            }
            None => {
                cx.bad_value(
                    opt,
                    word,
                    "statuses are EXPECTED, SEEN_REPLY, ASSURED and CONFIRMED, separated by commas",
                );
                return None;
            }
        }
    }
    Some(Stmt::Match(Match::Flags {
        left: Expr::Ct(CtKey::Status),
        bits,
        op: op_of(opt),
    }))
}

/// The most seconds nft's `ct expiration` (32-bit milliseconds) can tell apart.
const EXPIRE_MAX_SECONDS: u64 = u32::MAX as u64 / 1000;

/// `--ctexpire MIN[:MAX]` (seconds, as iptables-save writes them) as `ct expiration` in
/// milliseconds; see the module doc.
fn expire(opt: &Opt, cx: &mut Cx) -> Option<Stmt> {
    let arg = cx.one_arg(opt)?;
    let seconds = |s: &str| s.parse::<u32>().ok();
    let (min, max) = match arg.split_once(':') {
        Some((a, b)) => (seconds(a), seconds(b)),
        None => (seconds(arg), seconds(arg)),
    };
    let (Some(min), Some(max)) = (min, max) else {
        cx.bad_value(
            opt,
            arg,
            "the remaining lifetime is SECONDS or MIN:MAX, whole seconds",
        );
        return None;
    };
    if min > max {
        cx.bad_value(
            opt,
            arg,
            "iptables refuses a range whose first value is the larger",
        );
        return None;
    }
    if u64::from(min) > EXPIRE_MAX_SECONDS {
        cx.unsupported_value(
            opt,
            &format!("`{arg}`"),
            format!("nft's `ct expiration` holds at most {EXPIRE_MAX_SECONDS} s (2^32 ms, 49.7 days); no connection tracked with the default timeouts lives that long"),
        );
        return None;
    }
    let lo = u64::from(min) * 1000;
    let hi = (u64::from(max) * 1000 + 999).min(u64::from(u32::MAX));
    Some(Stmt::Match(Match::Cmp {
        left: Expr::Ct(CtKey::Expiration),
        op: op_of(opt),
        right: Value::Range(lo, hi),
    }))
}

fn direction(opt: &Opt, cx: &mut Cx) -> Option<Stmt> {
    if !cx.not_negated(opt) {
        return None;
    }
    let arg = cx.one_arg(opt)?;
    let dir = match arg.to_ascii_uppercase().as_str() {
        "ORIGINAL" => 0,
        "REPLY" => 1,
        _ => {
            cx.bad_value(opt, arg, "the direction is ORIGINAL or REPLY");
            return None;
        }
    };
    Some(Stmt::Match(Match::Cmp {
        left: Expr::Ct(CtKey::Direction),
        op: CmpOp::Eq,
        right: Value::Num(dir),
    }))
}
