//! nft syntax for `ct count` (connlimit): `ct count over 2` / `ct count 3` alone, or per key as
//! `add @s { ip saddr & 255.255.255.0 ct count over 2 }`. Same contract as the rest of
//! [`crate::print`]: the text nft 1.0.6 loads and linearizes to what [`crate::lower`] produces.
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
    let mask = k.mask.map(|m| format!(" & {m}")).unwrap_or_default();
    format!(
        "add @{} {{ {}{mask} {count} }}",
        k.set,
        expr(Expr::Payload(k.key))
    )
}
