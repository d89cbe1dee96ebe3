//! nft syntax for `ct count` (connlimit): `ct count over 2` / `ct count 3` alone, or per key as
//! `add @s { ct zone . ip saddr & 255.255.255.0 ct count over 2 }`, with `ip length & 0` for
//! the zone of a packet without conntrack. Same contract as the rest of [`crate::print`]: the
//! text nft 1.0.6 loads and linearizes to what [`crate::lower`] produces.
//!
//! This module does not check that the set exists or that the mask fits the key.

use super::expr;
use crate::ir::*;

pub(super) fn ct_count(c: &CtCount) -> String {
    let over = if c.over { "over " } else { "" };
    let count = format!("ct count {over}{}", c.limit);
    let Some(k) = &c.per_key else {
        return count;
    };
    let mut parts = Vec::new();
    match k.zone {
        None => {}
        Some(ZoneKey::Conntrack) => parts.push(expr(Expr::Ct(CtKey::Zone)).into_owned()),
        Some(ZoneKey::Default(f)) => parts.push(format!("{} & 0", expr(Expr::Payload(f)))),
    }
    if let Some(f) = k.key {
        let mask = k.mask.map(|m| format!(" & {m}")).unwrap_or_default();
        parts.push(format!("{}{mask}", expr(Expr::Payload(f))));
    }
    format!("add @{} {{ {} {count} }}", k.set, parts.join(" . "))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every key shape prints as nft writes it, the two the translator no longer makes
    /// (one count for the rule, an address without a zone) included: state files written by
    /// an earlier fwnet hold them.
    #[test]
    fn every_key_shape_prints_as_nft_writes_it() {
        let count = |zone, key, mask: Option<&str>| CtCount {
            limit: 2,
            over: true,
            per_key: Some(CtCountKey {
                set: "s".into(),
                zone,
                key,
                mask: mask.map(|m| m.parse().unwrap()),
            }),
        };
        let cases = [
            (
                CtCount {
                    limit: 3,
                    over: false,
                    per_key: None,
                },
                "ct count 3",
            ),
            (
                count(None, Some(Field::IpSaddr), None),
                "add @s { ip saddr ct count over 2 }",
            ),
            (
                count(
                    Some(ZoneKey::Conntrack),
                    Some(Field::IpSaddr),
                    Some("255.255.255.0"),
                ),
                "add @s { ct zone . ip saddr & 255.255.255.0 ct count over 2 }",
            ),
            (
                count(
                    Some(ZoneKey::Default(Field::Ip6Length)),
                    Some(Field::Ip6Daddr),
                    None,
                ),
                "add @s { ip6 length & 0 . ip6 daddr ct count over 2 }",
            ),
            (
                count(Some(ZoneKey::Conntrack), None, None),
                "add @s { ct zone ct count over 2 }",
            ),
        ];
        for (c, want) in cases {
            assert_eq!(ct_count(&c), want);
        }
    }
}
