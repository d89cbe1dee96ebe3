//! xt_connmark: the `-m connmark --mark VALUE[/MASK]` match, nft `ct mark VALUE` /
//! `ct mark & MASK == VALUE`, `!=` when negated; and the `-j CONNMARK` target, nft
//! `ct mark set ...` / `meta mark set ct mark ...`.
//!
//! Exactness: xt_connmark matches `(ct->mark & mask) == value`, inverted by `!`, and fails
//! for a packet without a conntrack entry even when negated; nft's `ct mark` ends the rule for
//! such packets too.
//!
//! The target does nothing to a packet without a conntrack entry and lets every packet go on
//! to the next rule. With C the ctmask, N the nfmask (both 0xffffffff unless given; `--mask`
//! sets both), it computes:
//! - `--set-xmark V/C` and the other [`crate::mark::XMARK_OPTIONS`]: `ct = (ct & ~C) ^ V`,
//!   nft `ct mark set ct mark & ~C ^ V`, one bitwise. (The reference translator prints
//!   `ct mark xor V and ~C`, which nft reads as `ct ^ (V & ~C)`.)
//! - `--save-mark`: `ct = (ct & ~C) ^ (mark & N)`; with C = 0xffffffff that is
//!   `ct mark set meta mark & N`.
//! - `--restore-mark`: `mark = (mark & ~N) ^ (ct & C)`; with N = 0xffffffff that is
//!   `meta mark set ct mark & C`, whose `ct mark` load ends the rule for a packet without a
//!   conntrack entry, so its mark is kept as xt_connmark keeps it.
//!
//! Not translated, with an error: save with C other than 0xffffffff and restore with N other
//! than 0xffffffff (`--mask 0xff`): they combine two marks, which nft 1.0.6's one-register
//! bitwise cannot express (the reference translator drops the kept bits). Also not handled:
//! the `--shift-*` options of later iptables.

use crate::rule::Cx;
use fwnet_iptables::diag::Loc;
use fwnet_iptables::Opt;
use fwnet_nft::{CtKey, Expr, MarkKey, MarkSet, Stmt};

pub(crate) const OPTIONS: &[&[&str]] = &[&["--mark"]];

/// Options of `-j CONNMARK` besides [`crate::mark::XMARK_OPTIONS`].
pub(crate) const TARGET_OPTIONS: &[&str] = &[
    "--save-mark",
    "--restore-mark",
    "--mask",
    "--nfmask",
    "--ctmask",
];

const MASKS: &[&str] = &["--mask", "--nfmask", "--ctmask"];

const OPERATIONS: &[&str] = &[
    "--set-xmark",
    "--set-mark",
    "--and-mark",
    "--or-mark",
    "--xor-mark",
    "--save-mark",
    "--restore-mark",
];

/// `-j CONNMARK`: one operation, masks only with `--save-mark` / `--restore-mark`.
pub(crate) fn target(opts: &[&Opt], loc: &Loc, cx: &mut Cx) -> Vec<Stmt> {
    let (masks, ops): (Vec<&Opt>, Vec<&Opt>) = opts
        .iter()
        .copied()
        .partition(|o| MASKS.contains(&o.name.as_str()));
    let Some(op) = crate::mark::one_operation("CONNMARK", OPERATIONS, &ops, loc, cx) else {
        return Vec::new();
    };
    let save_restore = matches!(op.name.as_str(), "--save-mark" | "--restore-mark");
    let (mut nfmask, mut ctmask) = (u32::MAX, u32::MAX);
    for m in &masks {
        if !save_restore {
            cx.error(
                "translate/bad-value",
                &m.loc,
                format!(
                    "`{}` only goes with `--save-mark` or `--restore-mark`",
                    m.name
                ),
                "iptables refuses this; remove the mask or use `--set-xmark VALUE/MASK`",
            );
            continue;
        }
        if m.name == "--mask" && masks.len() > 1 {
            cx.error(
                "translate/bad-value",
                &m.loc,
                "`--mask` cannot be combined with `--nfmask` or `--ctmask`",
                "iptables refuses this; keep `--mask` or the two separate masks",
            );
            continue;
        }
        if !cx.not_negated(m) {
            continue;
        }
        let Some(arg) = cx.one_arg(m) else { continue };
        let Some(n) = crate::mark::number(arg) else {
            cx.bad_value(
                m,
                arg,
                "a mask is a 32-bit number (decimal, 0x hex or 0 octal)",
            );
            continue;
        };
        // `number` reads at most 32 bits.
        let n = n as u32;
        match m.name.as_str() {
            "--nfmask" => nfmask = n,
            "--ctmask" => ctmask = n,
            _ => (nfmask, ctmask) = (n, n),
        }
    }
    if cx.has_errors() {
        return Vec::new();
    }
    let set = match op.name.as_str() {
        "--save-mark" | "--restore-mark" if !cx.no_arg(op) => return Vec::new(),
        "--save-mark" if ctmask == u32::MAX => MarkSet {
            dest: MarkKey::Ct,
            src: MarkKey::Meta,
            mask: nfmask,
            xor: 0,
        },
        "--restore-mark" if nfmask == u32::MAX => MarkSet {
            dest: MarkKey::Meta,
            src: MarkKey::Ct,
            mask: ctmask,
            xor: 0,
        },
        "--save-mark" | "--restore-mark" => {
            let (kept, mask) = if op.name == "--save-mark" {
                ("connection", ctmask)
            } else {
                ("packet", nfmask)
            };
            cx.error(
                "translate/unsupported-option",
                &op.loc,
                format!(
                    "`{}` with mask {mask:#x} keeps the {kept} mark's other bits, which nft cannot combine with the copied ones",
                    op.name
                ),
                "if the other bits are unused, copy with one mask: `--save-mark --nfmask N` (the connection mark becomes mark & N) or `--restore-mark --ctmask C` (the packet mark becomes ctmark & C)",
            );
            return Vec::new();
        }
        _ => match crate::mark::xmark(op, cx) {
            Some((value, mask)) => crate::mark::xmark_set(MarkKey::Ct, value, mask),
            None => return Vec::new(),
        },
    };
    vec![Stmt::MarkSet(set)]
}

pub(crate) fn translate(opts: &[&Opt], loc: &Loc, cx: &mut Cx) -> Vec<Stmt> {
    if opts.is_empty() {
        cx.error(
            "translate/bad-value",
            loc,
            "`-m connmark` needs `--mark`",
            "iptables refuses the match without it; add `--mark VALUE[/MASK]`",
        );
    }
    opts.iter()
        .filter_map(|opt| crate::mark::test(Expr::Ct(CtKey::Mark), opt, cx))
        .collect()
}
