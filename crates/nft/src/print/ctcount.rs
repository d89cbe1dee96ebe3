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
