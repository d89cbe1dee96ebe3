//! `-m statistic`: `--mode nth --every N [--packet P]` as nft `numgen inc mod N P` (`!=` when
//! a `!` inverts it), and `--mode random --probability p` as `numgen random mod 2147483648 <
//! round(p * 2^31)` (no test at all when that is 2^31: probability 1 always matches).
//!
//! Exactness, nth: xt_statistic keeps one counter per rule, starts it at N-1-P (libxt_statistic
//! stores `every - 1` and `count = every - packet`), and for each packet that reaches the match
//! sets it to 0 after N-1, else adds 1; the match holds when the new value is 0, i.e. for the
//! packets numbered P+1, P+1+N, ... among those reaching it. nft_numgen's `inc` starts its
//! per-expression counter at N-1 and yields (value + 1) mod N, so the k-th packet to reach it
//! gets (k-1) mod N, which is P exactly for the same packets. Both are evaluated only when every
//! test before them matched, and both restart when the ruleset is loaded.
//!
//! Exactness, random: xt_statistic matches when `get_random_u32() & 0x7fffffff` is below the
//! stored probability, `lround(p * 2^31)` as iptables 1.8 computes it; nft_numgen's `random mod
//! 2^31` is `reciprocal_scale(get_random_u32(), 2^31)`, the top 31 bits of a random word. Both are
//! uniform on 0..2^31, so `< K` holds with probability K/2^31 in both (not for the same
//! packets: no two random sources agree, and no translation could). iptables 1.4 truncated
//! instead of rounding, a difference of at most 2^-31.
//!
//! Not translated, with an error: an inverted random match (`numgen random ... >= K` has no
//! one-test form in nft 1.0.6 text that fwnet prints; the complement `1 - p` is the exact
//! alternative), and an nth match followed in the same rule by a header test that nft's
//! payload merging would move in front of the counter (see [`check_order`]).

use crate::rule::Cx;
use fwnet_iptables::diag::Loc;
use fwnet_iptables::Opt;
use fwnet_nft::{CmpOp, Expr, Match, NumgenKind, NumgenOp, Stmt};

pub(crate) const OPTIONS: &[&[&str]] =
    &[&["--mode"], &["--probability"], &["--every"], &["--packet"]];

/// 2^31: the random source's range, and the probability's fixed-point scale.
const SCALE: u32 = 1 << 31;

pub(crate) fn translate(opts: &[&Opt], loc: &Loc, cx: &mut Cx) -> Vec<Stmt> {
    let (mut mode, mut probability, mut every, mut packet) = (None, None, None, None);
    let mut invert = false;
    for opt in opts {
        invert |= opt.negated.is_negated();
        let Some(arg) = cx.one_arg(opt) else {
            return Vec::new();
        };
        match opt.name.as_str() {
            "--mode" => match arg {
                "random" | "nth" => mode = Some((arg, opt)),
                _ => {
                    cx.bad_value(opt, arg, "modes are `random` and `nth`");
                    return Vec::new();
                }
            },
            "--probability" => match arg.parse::<f64>() {
                Ok(p) if (0.0..=1.0).contains(&p) => probability = Some((p, opt)),
                _ => {
                    cx.bad_value(opt, arg, "a probability is a number from 0 to 1");
                    return Vec::new();
                }
            },
            "--every" => match arg.parse::<u32>() {
                Ok(n) if n >= 1 => every = Some((n, opt)),
                _ => {
                    cx.bad_value(
                        opt,
                        arg,
                        "`--every` takes a whole number from 1 to 4294967295",
                    );
                    return Vec::new();
                }
            },
            _ => match arg.parse::<u32>() {
                Ok(n) => packet = Some((n, opt)),
                Err(_) => {
                    cx.bad_value(opt, arg, "`--packet` takes a whole number");
                    return Vec::new();
                }
            },
        }
    }
    let Some((mode, mode_opt)) = mode else {
        cx.error(
            "translate/bad-value",
            loc,
            "`-m statistic` needs `--mode random` or `--mode nth`",
            "iptables refuses the match without a mode",
        );
        return Vec::new();
    };
    if mode == "random" {
        if let Some((_, opt)) = every.or(packet) {
            only_in(opt, "nth", cx);
            return Vec::new();
        }
        let Some((p, opt)) = probability else {
            missing(mode_opt, "`--mode random` needs `--probability`", cx);
            return Vec::new();
        };
        if invert {
            cx.unsupported_value(
                opt,
                "an inverted random match",
                format!(
                    "`! --probability {p}` matches with probability {}; write `--probability` with that value instead",
                    1.0 - p
                ),
            );
            return Vec::new();
        }
        // lround(p * 2^31), as libxt_statistic stores it; p is in 0..=1, so the result is too.
        let value = (p * f64::from(SCALE)).round() as u32;
        if value == SCALE {
            // Every 31-bit draw is below 2^31: the match always holds (and nft refuses a
            // constant outside the generator's range).
            return Vec::new();
        }
        return vec![Stmt::Match(Match::Numgen {
            kind: NumgenKind::Random,
            modulus: SCALE,
            op: NumgenOp::Lt,
            value,
        })];
    }
    if let Some((_, opt)) = probability {
        only_in(opt, "random", cx);
        return Vec::new();
    }
    let Some((n, _)) = every else {
        missing(mode_opt, "`--mode nth` needs `--every`", cx);
        return Vec::new();
    };
    let Some((p, packet_opt)) = packet else {
        // iptables 1.4 took a missing `--packet` as 0 (and saved it that way); 1.8 refuses it.
        cx.warn(
            "translate/legacy-syntax",
            &mode_opt.loc,
            "`--every` without `--packet`, which iptables 1.8 refuses, is taken as `--packet 0` as iptables 1.4 did",
            "add `--packet 0` to silence this",
        );
        return nth(n, 0, invert);
    };
    if p >= n {
        cx.bad_value(
            packet_opt,
            &p.to_string(),
            format!("`--packet` must be below `--every` ({n})"),
        );
        return Vec::new();
    }
    nth(n, p, invert)
}

/// `numgen inc mod N P` (`!=` when inverted).
fn nth(n: u32, p: u32, invert: bool) -> Vec<Stmt> {
    vec![Stmt::Match(Match::Numgen {
        kind: NumgenKind::Inc,
        modulus: n,
        op: if invert { NumgenOp::Ne } else { NumgenOp::Eq },
        value: p,
    })]
}

fn only_in(opt: &Opt, mode: &str, cx: &mut Cx) {
    cx.error(
        "translate/bad-value",
        &opt.loc,
        format!("`{}` can only be used in {mode} mode", opt.name),
        "iptables refuses this; remove the option or change `--mode`",
    );
}

fn missing(opt: &Opt, msg: &str, cx: &mut Cx) {
    cx.error(
        "translate/bad-value",
        &opt.loc,
        msg.to_string(),
        "iptables refuses the match without it",
    );
}

/// nft 1.0.6 merges `==` tests on neighbouring header fields across other tests (see
/// `fwnet_nft::lower`), which would move a header test written after an nth match in front of
/// it and so stop packets that fail that test from advancing the counter. Refuses a rule with
/// an `==` header test after a `numgen inc`.
pub(crate) fn check_order(stmts: &[Stmt], loc: &Loc, cx: &mut Cx) {
    let Some(at) = stmts.iter().position(|s| {
        matches!(
            s,
            Stmt::Match(Match::Numgen {
                kind: NumgenKind::Inc,
                ..
            })
        )
    }) else {
        return;
    };
    let later_header_test = stmts[at + 1..].iter().any(|s| {
        matches!(
            s,
            Stmt::Match(Match::Cmp {
                left: Expr::Payload(_),
                op: CmpOp::Eq,
                ..
            })
        )
    });
    if later_header_test {
        cx.error(
            "translate/unsupported-option",
            loc,
            "a header test after `-m statistic --mode nth` is not supported",
            "nft would test it before the counter, so packets it rejects would no longer advance the count, and no nft rule keeps this order; put the header test before `-m statistic` if only packets passing it should be counted",
        );
    }
}
