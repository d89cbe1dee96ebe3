//! What `apply` and `status` return: plain data, serializable for `--json`.

use serde::Serialize;
use std::fmt;

#[derive(Debug, Serialize)]
pub struct Applied {
    pub tables: Vec<TableReport>,
    /// Owned tables that were in the kernel but not in the new ruleset, now deleted.
    pub removed: Vec<String>,
    /// Netlink messages in the batch, BEGIN and END included.
    pub messages: usize,
    pub bytes: usize,
    /// The ruleset generation the batch was checked against.
    pub generation: u32,
    /// True for `--check`: validated by the kernel, not committed.
    pub check_only: bool,
    /// What the kernel was found to support; it chose how the batch was written and read.
    pub kernel: crate::Features,
}

#[derive(Debug, Serialize)]
pub struct TableReport {
    pub family: &'static str,
    pub name: String,
    pub chains: usize,
    pub sets: usize,
    pub rules: usize,
}

/// One message of the batch that the kernel refused.
#[derive(Debug, Serialize)]
pub struct Rejection {
    pub errno: i32,
    /// strerror-like text with the errno name, e.g. `No such file or directory (ENOENT)`.
    pub error: String,
    /// What the message was: `rule 3 of chain INPUT in table ip fwnet_filter`.
    pub object: String,
    /// The input line the object came from, `file:line`, when known.
    pub origin: Option<String>,
    /// The kernel's extended-ack message, when it sent one.
    pub detail: Option<String>,
    /// For a refusal that means "not supported here": the feature the object needs and the
    /// Linux release that brought it.
    pub needs: Option<String>,
}

impl fmt::Display for Rejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(o) = &self.origin {
            write!(f, "{o}: ")?;
        }
        write!(f, "the kernel refused {}: {}", self.object, self.error)?;
        if let Some(d) = &self.detail {
            write!(f, " ({d})")?;
        }
        if let Some(n) = &self.needs {
            write!(f, "; {n}")?;
        }
        Ok(())
    }
}

#[derive(Debug, Serialize)]
pub struct TableStatus {
    pub family: &'static str,
    pub name: String,
    pub chains: Vec<ChainStatus>,
    /// Named sets in the table (anonymous ones belong to their rules).
    pub sets: Vec<String>,
    /// The table differs from the stored ruleset (rules added, removed or changed by hand).
    pub drift: bool,
}

#[derive(Debug, Serialize)]
pub struct ChainStatus {
    pub name: String,
    pub hook: Option<HookStatus>,
    pub rules: Vec<RuleStatus>,
}

#[derive(Debug, Serialize)]
pub struct HookStatus {
    pub kind: String,
    pub hook: &'static str,
    pub priority: i32,
    pub policy: &'static str,
    /// Packets and bytes the policy decided (the kernel's base-chain counters).
    pub packets: Option<u64>,
    pub bytes: Option<u64>,
}

#[derive(Debug, Serialize)]
pub struct RuleStatus {
    pub handle: u64,
    pub packets: Option<u64>,
    pub bytes: Option<u64>,
    /// `file:line` of the stored rule this kernel rule matches.
    pub origin: Option<String>,
    /// nft syntax when the rule matches the stored ruleset; otherwise the kernel bytecode as
    /// `nft --debug=netlink` prints it.
    pub text: String,
    /// The rule matches no stored rule at this position.
    pub drift: bool,
}
