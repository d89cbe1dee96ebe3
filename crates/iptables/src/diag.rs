//! Located diagnostics shared by the parser and the translator.
//!
//! A diagnostic names the file, the 1-based line and column, a stable code (for scripts and
//! documentation) and a message in lowercase without a trailing period. It never carries a
//! Rust error chain: it is for people who wrote the ruleset.

use serde::Serialize;
use std::fmt;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Warning,
    Error,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Diagnostic {
    pub severity: Severity,
    /// Stable identifier, such as `parse/missing-commit` or `translate/unsupported-match`.
    pub code: &'static str,
    pub file: String,
    pub line: u32,
    pub column: u32,
    pub message: String,
    /// What the user can do about it, when known.
    pub help: Option<String>,
}

impl Diagnostic {
    pub fn error(code: &'static str, loc: &Loc, message: impl Into<String>) -> Diagnostic {
        Diagnostic::new(Severity::Error, code, loc, message)
    }

    pub fn warning(code: &'static str, loc: &Loc, message: impl Into<String>) -> Diagnostic {
        Diagnostic::new(Severity::Warning, code, loc, message)
    }

    fn new(severity: Severity, code: &'static str, loc: &Loc, message: impl Into<String>) -> Self {
        Diagnostic {
            severity,
            code,
            file: loc.file.to_string(),
            line: loc.line,
            column: loc.column,
            message: message.into(),
            help: None,
        }
    }

    pub fn with_help(mut self, help: impl Into<String>) -> Diagnostic {
        self.help = Some(help.into());
        self
    }

    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }
}

impl fmt::Display for Diagnostic {
    /// `file:line:col: error[code]: message` then an indented `help:` line, like a compiler.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sev = match self.severity {
            Severity::Warning => "warning",
            Severity::Error => "error",
        };
        write!(
            f,
            "{}:{}:{}: {}[{}]: {}",
            self.file, self.line, self.column, sev, self.code, self.message
        )?;
        if let Some(help) = &self.help {
            write!(f, "\n  help: {help}")?;
        }
        Ok(())
    }
}

/// A place in an input file: 1-based line and column (column counts characters).
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, serde::Deserialize)]
pub struct Loc {
    /// Shared by every location of one file: cloning a location never copies the name.
    pub file: std::sync::Arc<str>,
    pub line: u32,
    pub column: u32,
}

impl fmt::Display for Loc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.file, self.line)
    }
}
