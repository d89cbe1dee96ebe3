//! `-j CLASSIFY --set-class MAJOR:MINOR` (xt_CLASSIFY): nft `meta priority set MAJOR:MINOR`.
//!
//! Both store `major << 16 | minor` in the packet's priority (its tc class) and let the rule
//! go on. xt_CLASSIFY is allowed only where the packet is about to be sent (OUTPUT, FORWARD,
//! POSTROUTING), so rules in PREROUTING and INPUT are refused as the kernel refuses them.
//! libxt_CLASSIFY reads both numbers as unbounded hex and silently drops the bits that do not
//! fit; fwnet takes only values up to ffff and refuses the rest.

use crate::rule::Cx;
use fwnet_iptables::diag::Loc;
use fwnet_iptables::Opt;
use fwnet_nft::Stmt;

pub(crate) const OPTIONS: &[&str] = &["--set-class"];

pub(crate) fn translate(opts: &[&Opt], loc: &Loc, cx: &mut Cx) -> Vec<Stmt> {
    if matches!(cx.chain, "PREROUTING" | "INPUT") {
        cx.error(
            "translate/bad-value",
            loc,
            format!("`-j CLASSIFY` cannot be used in chain {}", cx.chain),
            "xt_CLASSIFY is allowed in OUTPUT, FORWARD and POSTROUTING only; the kernel refuses this rule",
        );
        return Vec::new();
    }
    let [opt] = opts else {
        cx.error(
            "translate/bad-value",
            loc,
            "`-j CLASSIFY` needs `--set-class MAJOR:MINOR` once",
            "iptables refuses the target otherwise",
        );
        return Vec::new();
    };
    if !cx.not_negated(opt) {
        return Vec::new();
    }
    let Some(arg) = cx.one_arg(opt) else {
        return Vec::new();
    };
    let class = arg
        .split_once(':')
        .and_then(|(major, minor)| Some((hex16(major)?, hex16(minor)?)));
    let Some((major, minor)) = class else {
        cx.bad_value(
            opt,
            arg,
            "a class is MAJOR:MINOR, two hex numbers up to ffff (`1:10`)",
        );
        return Vec::new();
    };
    vec![Stmt::PrioritySet(u32::from(major) << 16 | u32::from(minor))]
}

fn hex16(s: &str) -> Option<u16> {
    let digits = s
        .strip_prefix("0x")
        .or_else(|| s.strip_prefix("0X"))
        .unwrap_or(s);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    u16::from_str_radix(digits, 16).ok()
}
