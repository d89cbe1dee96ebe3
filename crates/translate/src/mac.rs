//! `-m mac --mac-source XX:XX:XX:XX:XX:XX` (xt_mac): nft `ether saddr`.
//!
//! xt_mac matches only when the packet's device is Ethernet (ARPHRD_ETHER) and the whole
//! Ethernet header lies before the network header; `!` inverts only the address test, so a
//! packet from a non-Ethernet device fails both forms. nft's `ether saddr` carries the
//! dependency `meta iiftype ether`, fails when no link-layer header was recorded, and `!=`
//! inverts only the comparison: the same verdicts on the hooks xt_mac allows (PREROUTING,
//! INPUT, FORWARD, where the packet's device is its input device). Rules in OUTPUT and
//! POSTROUTING are refused, as the kernel refuses them.

use crate::rule::Cx;
use fwnet_iptables::diag::Loc;
use fwnet_iptables::Opt;
use fwnet_nft::{CmpOp, Expr, Field, Match, Stmt, Value};

pub(crate) const OPTIONS: &[&[&str]] = &[&["--mac-source"]];

pub(crate) fn translate(opts: &[&Opt], loc: &Loc, cx: &mut Cx) -> Vec<Stmt> {
    if crate::rule::lacks_interface(cx.chain, true) {
        cx.error(
            "translate/bad-value",
            loc,
            format!("`-m mac` cannot be used in chain {}", cx.chain),
            "xt_mac reads the input link-layer header, which locally generated packets do not have; the kernel refuses this rule",
        );
        return Vec::new();
    }
    if opts.is_empty() {
        cx.error(
            "translate/bad-value",
            loc,
            "`-m mac` needs `--mac-source`",
            "iptables refuses the match without it",
        );
    }
    let mut out = Vec::new();
    for opt in opts {
        let Some(arg) = cx.one_arg(opt) else { continue };
        let Some(mac) = parse_mac(arg) else {
            cx.bad_value(opt, arg, "a MAC address is six two-digit hex bytes separated by colons (`00:11:22:aa:bb:cc`)");
            continue;
        };
        out.push(Stmt::Match(Match::Cmp {
            left: Expr::Payload(Field::EtherSaddr),
            op: if opt.negated.is_negated() {
                CmpOp::Ne
            } else {
                CmpOp::Eq
            },
            right: Value::Num(mac),
        }));
    }
    out
}

/// `XX:XX:XX:XX:XX:XX` as libxtables reads it: exactly 17 characters.
fn parse_mac(s: &str) -> Option<u64> {
    if s.len() != 17 {
        return None;
    }
    let mut mac = 0u64;
    for part in s.split(':') {
        if part.len() != 2 || !part.bytes().all(|b| b.is_ascii_hexdigit()) {
            return None;
        }
        mac = (mac << 8) | u64::from(u8::from_str_radix(part, 16).ok()?);
    }
    Some(mac)
}

#[cfg(test)]
mod tests {
    use super::parse_mac;

    #[test]
    fn macs_are_six_colon_separated_hex_pairs() {
        assert_eq!(parse_mac("58:94:6B:17:41:7c"), Some(0x5894_6b17_417c));
        assert_eq!(parse_mac("58:94:6B:17:41"), None);
        assert_eq!(parse_mac("58-94-6B-17-41-7C"), None);
        assert_eq!(parse_mac("5:894:6B:17:41:7C"), None);
    }
}
