//! The iptables-save format: text in, an AST and every diagnostic out.
//!
//! This crate knows the *file format* (table sections, chain declarations, rule lines, quoting,
//! negation, counters). It deliberately knows nothing about what an option such as `--dport`
//! means: that knowledge lives in `fwnet-translate`, one module per extension. It does no I/O:
//! callers pass the file name and its text.

pub mod ast;
pub mod diag;
pub mod ipset;
mod parse;
pub mod word;

pub use ast::*;
pub use diag::{Diagnostic, FileName, Severity};
pub use parse::{parse, parse_without_shortcut};
