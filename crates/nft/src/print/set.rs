//! nft syntax for named-set lookups and the `add`/`delete` set statements (`ip saddr @s`,
//! `delete @s { ip saddr }`), kept apart from `print.rs`. Same contract: the text nft 1.0.6
//! loads and linearizes to what [`crate::lower`] produces.
//!
//! This module does not check that the set exists or that the key fits its type.

use super::expr;
use crate::ir::*;

/// `ip saddr @s`, `ip saddr . tcp dport != @s`.
pub(super) fn lookup(key: &[Expr], set: &str, op: CmpOp) -> String {
    let op = match op {
        CmpOp::Eq => "",
        CmpOp::Ne => "!= ",
    };
    format!("{} {op}@{set}", key_text(key))
}

/// `add @s { ip saddr }` (`verb` "add") or `delete @s { ip saddr }`.
pub(super) fn elem_stmt(verb: &str, set: &str, key: &[Expr]) -> String {
    format!("{verb} @{set} {{ {} }}", key_text(key))
}

fn key_text(key: &[Expr]) -> String {
    let parts: Vec<_> = key.iter().map(|e| expr(*e)).collect();
    parts.join(" . ")
}
