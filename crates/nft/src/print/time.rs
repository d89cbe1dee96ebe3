//! nft text for the clock tests of `-m time` ([`TimeMatch`]), in forms nft 1.0.6 reads the
//! same whatever the timezone of the `nft` process.
//!
//! nft reads a date (`meta time >= "2024-01-02 00:00:00"`) and a time of day (`meta hour
//! "08:00"`) in the local timezone of the process that parses the text (its `TZ`), and
//! converts them to UTC; the same file then loads different rules on differently configured
//! hosts. A bare number after `meta time` is read as seconds since the epoch, and a quoted
//! number after `meta hour` as seconds since midnight UTC, both without any conversion
//! (checked with `TZ=UTC`, `TZ=Asia/Tokyo` and `TZ=America/New_York`: identical bytecode).
//! So fwnet writes those. (An unquoted number after `meta hour` is not read as the hour type:
//! nft then compares the host-order register without `byteorder`, wrong for `<`; it is never
//! written.) `nft list ruleset` shows the values back as local dates and times.
//!
//! This module writes text only.

use crate::ir::{CmpOp, TimeMatch};

pub(super) fn time(t: &TimeMatch) -> String {
    match t {
        TimeMatch::Since(secs) => format!("meta time >= {secs}"),
        TimeMatch::Before(secs) => format!("meta time < {secs}"),
        TimeMatch::Hour { op, from, to } => {
            let op = match op {
                CmpOp::Eq => "",
                CmpOp::Ne => "!= ",
            };
            format!("meta hour {op}\"{from}\"-\"{to}\"")
        }
    }
}
