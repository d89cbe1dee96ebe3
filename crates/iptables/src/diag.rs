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
    pub file: FileName,
    pub line: u32,
    pub column: u32,
}

/// The name of an input file, kept once for the life of the process and shared by every
/// location in it: a location is copied, never counted. (As an `Arc<str>`, each location cost
/// an atomic increment when it was made or cloned and a decrement when it was dropped: about
/// 17 ns a pair on the 2-core bench machine, and the parser alone makes 56,000 locations in a
/// 10k-rule import, one per rule and one per option.) A process keeps every distinct name it
/// is given: a command-line tool reads a few files.
///
/// It is one pointer wide (to the kept name, itself a pointer and a length), so that a location
/// is 16 bytes: the parser's options, 88 bytes with a wide name, are 80.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FileName(&'static &'static str);

/// Every name [`FileName::new`] was given.
static FILE_NAMES: std::sync::Mutex<Vec<&'static &'static str>> = std::sync::Mutex::new(Vec::new());

impl FileName {
    /// The name `name`, the same text as every earlier `FileName` of it.
    pub fn new(name: &str) -> FileName {
        let mut names = FILE_NAMES.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(&kept) = names.iter().find(|&&kept| *kept == name) {
            return FileName(kept);
        }
        let text: &'static str = Box::leak(name.into());
        let kept: &'static &'static str = Box::leak(Box::new(text));
        names.push(kept);
        FileName(kept)
    }

    pub fn as_str(self) -> &'static str {
        self.0
    }
}

impl std::ops::Deref for FileName {
    type Target = str;
    fn deref(&self) -> &str {
        self.0
    }
}

impl From<&str> for FileName {
    fn from(name: &str) -> FileName {
        FileName::new(name)
    }
}

impl PartialEq<str> for FileName {
    fn eq(&self, other: &str) -> bool {
        *self.0 == other
    }
}

impl fmt::Display for FileName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }
}

impl fmt::Debug for FileName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.0, f)
    }
}

impl Serialize for FileName {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.0)
    }
}

impl<'de> serde::Deserialize<'de> for FileName {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<FileName, D::Error> {
        let name = std::borrow::Cow::<'de, str>::deserialize(d)?;
        Ok(FileName::new(&name))
    }
}

impl fmt::Display for Loc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.file, self.line)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_name_is_kept_once_and_reads_as_its_text() {
        let a = FileName::new("diag-test/iptables");
        let again = FileName::new(&String::from("diag-test/iptables"));
        let other = FileName::new("diag-test/ip6tables");
        // One copy of the text, whichever string it came from.
        assert_eq!(a.as_str().as_ptr(), again.as_str().as_ptr());
        assert_eq!(a, again);
        assert_ne!(a, other);
        assert_eq!(a.to_string(), "diag-test/iptables");
        assert_eq!(format!("{other:?}"), "\"diag-test/ip6tables\"");
        let loc = Loc {
            file: a,
            line: 3,
            column: 7,
        };
        assert_eq!(loc.to_string(), "diag-test/iptables:3");
        let json = serde_json::to_string(&loc).expect("serializes");
        assert_eq!(json, r#"{"file":"diag-test/iptables","line":3,"column":7}"#);
        let back: Loc = serde_json::from_str(&json).expect("deserializes");
        assert_eq!(back, loc);
        assert_eq!(back.file.as_str().as_ptr(), a.as_str().as_ptr());
        // Names that sort one way sort the same way as file names (by text, not address).
        let (b, z) = (FileName::new("diag-test/z"), FileName::new("diag-test/b"));
        assert!(z < b, "b before z whichever was kept first");
    }

    /// A file name is one pointer, so a location (one per parsed option and rule) is 16 bytes
    /// and an option 80 (`FileName`).
    #[test]
    #[cfg(target_pointer_width = "64")]
    fn a_location_is_16_bytes() {
        assert_eq!(std::mem::size_of::<FileName>(), 8);
        assert_eq!(std::mem::size_of::<Loc>(), 16);
        assert_eq!(std::mem::size_of::<crate::Opt>(), 80);
    }
}
