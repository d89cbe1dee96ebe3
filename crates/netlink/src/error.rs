//! The one error type of the decoder: what was malformed and where.
//!
//! Encoding cannot fail (every typed value has a wire form), so there is no encode error.
//! Unknown attributes and expressions are not errors: they are kept as `other` / `Expr::Other`.

use std::fmt;

/// Why bytes could not be decoded. Messages are lowercase, no trailing period.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DecodeError {
    /// Fewer bytes than a header or a length field announced.
    Truncated {
        what: &'static str,
        need: usize,
        have: usize,
    },
    /// A length field smaller than its own header, or a fixed-size payload of the wrong size.
    BadLength { what: &'static str, len: usize },
    /// A string attribute that is not UTF-8.
    BadString { what: &'static str },
    /// A mandatory attribute is absent.
    Missing { what: &'static str },
    /// The message is not of the nf_tables type the caller asked to decode.
    WrongType { expected: u16, found: u16 },
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DecodeError::Truncated { what, need, have } => {
                write!(f, "truncated {what}: need {need} bytes, have {have}")
            }
            DecodeError::BadLength { what, len } => write!(f, "bad length {len} for {what}"),
            DecodeError::BadString { what } => write!(f, "{what} is not valid utf-8"),
            DecodeError::Missing { what } => write!(f, "missing attribute {what}"),
            DecodeError::WrongType { expected, found } => {
                write!(
                    f,
                    "expected message type {expected:#06x}, found {found:#06x}"
                )
            }
        }
    }
}

impl std::error::Error for DecodeError {}
