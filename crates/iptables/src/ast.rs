//! The AST of an iptables-save file, in file order.
//!
//! Rule lines are kept as a flat list of options (`-s`, `-m`, `--dport`, `-j` ...), each with
//! its arguments, negation and column. Grouping options into matches and targets, and deciding
//! what they mean, is the translator's job: the parser cannot know how many arguments an
//! option takes without knowing every extension, and iptables-save never needs it to (an
//! option's arguments run until the next token that starts with `-` or is `!`).

use crate::diag::Loc;
use serde::Serialize;

/// One parsed file.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Ruleset {
    pub file: String,
    pub tables: Vec<Table>,
}

/// A `*table` section up to its `COMMIT`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Table {
    /// As written: `filter`, `nat`, `mangle`, `raw`, `security` (others are the translator's
    /// problem to refuse).
    pub name: String,
    pub loc: Loc,
    pub chains: Vec<ChainDecl>,
    /// `-A`, `-I`, `-N`, `-P` lines, in file order.
    pub commands: Vec<Command>,
}

/// `:NAME POLICY [packets:bytes]`. `policy` is `None` for `-` (a user-defined chain).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ChainDecl {
    pub name: String,
    pub policy: Option<String>,
    pub counters: Option<Counters>,
    pub loc: Loc,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Counters {
    pub packets: u64,
    pub bytes: u64,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub enum Command {
    /// `-A CHAIN ...`
    Append(Rule),
    /// `-I CHAIN [N] ...`; `index` is 1-based as iptables writes it, `None` means 1.
    Insert { index: Option<u32>, rule: Rule },
    /// `-N CHAIN`
    NewChain { name: String, loc: Loc },
    /// `-P CHAIN POLICY [-c packets bytes]`
    Policy {
        chain: String,
        policy: String,
        counters: Option<Counters>,
        loc: Loc,
    },
}

/// One rule line: `[p:b] -A CHAIN opts...`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Rule {
    pub chain: String,
    /// From the `[p:b]` prefix or a `-c p b` option.
    pub counters: Option<Counters>,
    pub opts: Vec<Opt>,
    /// Location of the line (column 1).
    pub loc: Loc,
}

/// One option with its arguments: `! --dport 22` is `Opt { name: "--dport", negated: Before,
/// args: ["22"] }`. Quotes are removed from arguments (`--comment "a b"` gives `a b`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Opt {
    /// As written, with its dashes: `-s`, `--source`, `-m`, `--dport`, `-j`.
    pub name: String,
    pub negated: Negation,
    pub args: Vec<String>,
    /// Location of the option name (or of the `!` before it).
    pub loc: Loc,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum Negation {
    None,
    /// `! --opt value`, the form iptables-save writes.
    Before,
    /// `--opt ! value`, the form iptables 1.4.x accepted; the parser warns about it.
    After,
}

impl Negation {
    pub fn is_negated(self) -> bool {
        self != Negation::None
    }
}
