//! The state file's rules: read without the memory serde's defaults would cost, and merged
//! lines written as runs.
//!
//! Measured on a 100k-rule state (`fwnet apply`, massif): serde fills a rule's `Vec<Stmt>` by
//! pushing, so a rule of five 88-byte statements holds room for eight, and it gives every
//! rule's [`Origin`](crate::Origin) its own copy of the file name although they all name the
//! same file. Together that was a third of apply's heap. [`trimmed_vec`] and [`shared_str`] are
//! used by `#[serde(deserialize_with)]` in [`crate::ir`]: statement lists are trimmed to their
//! length, and a file name equal to the previous one shares its allocation (translation makes
//! its origins the same way, [`Origin::new`](crate::Origin::new)).
//!
//! A merged rule's other lines ([`Rule::merged`](crate::Rule)) are written as runs:
//! `[{"file": "a.rules", "lines": [[7, 60846]]}]` for a 60,840-line blocklist that became one
//! set, where one `{"file", "line"}` object per line was two thirds of the state file
//! ([`origin_runs`]); [`origins`] reads both forms.

use crate::Origin;
use serde::de::{Deserializer, Error, Visitor};
use serde::ser::Serializer;
use serde::{Deserialize, Serialize};
use std::cell::RefCell;
use std::sync::Arc;

/// A `Vec` with no spare capacity.
pub(crate) fn trimmed_vec<'de, D, T>(d: D) -> Result<Vec<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    let mut v = Vec::<T>::deserialize(d)?;
    v.shrink_to_fit();
    Ok(v)
}

thread_local! {
    /// The file name most recently read: rules come in file order, so one entry is enough.
    static LAST_FILE: RefCell<Option<Arc<str>>> = const { RefCell::new(None) };
}

/// An `Arc<str>` that shares the previous one's allocation when the text is the same.
pub(crate) fn shared_str<'de, D: Deserializer<'de>>(d: D) -> Result<Arc<str>, D::Error> {
    struct Shared;
    impl Visitor<'_> for Shared {
        type Value = Arc<str>;
        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("a string")
        }
        fn visit_str<E: Error>(self, s: &str) -> Result<Arc<str>, E> {
            Ok(shared(s))
        }
    }
    d.deserialize_str(Shared)
}

/// `s` as an `Arc<str>`, sharing the previous one's allocation when the text is the same.
pub(crate) fn shared(s: &str) -> Arc<str> {
    LAST_FILE.with(|last| {
        let mut last = last.borrow_mut();
        match &*last {
            Some(a) if &**a == s => a.clone(),
            _ => {
                let a: Arc<str> = Arc::from(s);
                *last = Some(a.clone());
                a
            }
        }
    })
}

/// `origins` as runs of consecutive lines, grouped by file in order: each group is
/// `{"file": F, "lines": [[FIRST, LAST], ...]}`.
pub(crate) fn origin_runs<S: Serializer>(origins: &[Origin], s: S) -> Result<S::Ok, S::Error> {
    #[derive(Serialize)]
    struct Group<'a> {
        file: &'a str,
        lines: Vec<(u32, u32)>,
    }
    let mut groups: Vec<Group> = Vec::new();
    for o in origins {
        match groups.last_mut() {
            Some(g) if g.file == &*o.file => match g.lines.last_mut() {
                Some((_, last)) if last.checked_add(1) == Some(o.line) => *last = o.line,
                _ => g.lines.push((o.line, o.line)),
            },
            _ => groups.push(Group {
                file: &o.file,
                lines: vec![(o.line, o.line)],
            }),
        }
    }
    groups.serialize(s)
}

/// Reads what [`origin_runs`] writes, and the older form, one `{"file": F, "line": N}` per line.
pub(crate) fn origins<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Origin>, D::Error> {
    #[derive(Deserialize)]
    struct Entry {
        #[serde(deserialize_with = "shared_str")]
        file: Arc<str>,
        line: Option<u32>,
        #[serde(default)]
        lines: Vec<(u32, u32)>,
    }
    let mut out = Vec::new();
    for e in Vec::<Entry>::deserialize(d)? {
        if let Some(line) = e.line {
            out.push(Origin {
                file: e.file.clone(),
                line,
            });
        }
        for (first, last) in e.lines {
            if first > last {
                return Err(D::Error::custom(format!(
                    "merged lines {first} to {last} run backwards"
                )));
            }
            out.extend((first..=last).map(|line| Origin {
                file: e.file.clone(),
                line,
            }));
        }
    }
    out.shrink_to_fit();
    Ok(out)
}

#[cfg(test)]
mod tests {
    use crate::{Origin, Rule};
    use std::sync::Arc;

    #[test]
    fn origins_of_one_file_share_their_name_and_statements_have_no_spare_room() {
        let json = r#"[
            {"stmts": [{"verdict": {"goto": "A"}}], "comment": null, "origin": {"file": "a.rules", "line": 1}},
            {"stmts": [{"verdict": {"goto": "A"}}, {"verdict": {"goto": "B"}}, {"verdict": {"goto": "C"}}, {"verdict": {"goto": "D"}}, {"verdict": {"goto": "E"}}], "comment": null, "origin": {"file": "a.rules", "line": 2}},
            {"stmts": [], "comment": null, "origin": {"file": "b.rules", "line": 1}}
        ]"#;
        let rules: Vec<Rule> = serde_json::from_reader(json.as_bytes()).expect("rules");
        let file = |i: usize| -> &Arc<str> { &rules[i].origin.as_ref().expect("origin").file };
        assert!(Arc::ptr_eq(file(0), file(1)));
        assert_eq!(&**file(2), "b.rules");
        assert_eq!(rules[1].stmts.capacity(), 5);
        assert_eq!(
            rules[1].origin,
            Some(Origin {
                file: Arc::from("a.rules"),
                line: 2
            })
        );
    }

    #[test]
    fn merged_lines_are_written_as_runs_and_both_forms_are_read() {
        let o = |file: &str, line: u32| Origin {
            file: Arc::from(file),
            line,
        };
        let rule = Rule {
            stmts: Vec::new(),
            comment: None,
            origin: Some(o("a.rules", 6)),
            merged: vec![
                o("a.rules", 7),
                o("a.rules", 8),
                o("a.rules", 9),
                o("a.rules", 11),
                o("b.rules", 12),
                o("a.rules", 13),
            ],
        };
        let json = serde_json::to_string(&rule).expect("json");
        assert_eq!(
            json,
            r#"{"stmts":[],"origin":{"file":"a.rules","line":6},"merged":[{"file":"a.rules","lines":[[7,9],[11,11]]},{"file":"b.rules","lines":[[12,12]]},{"file":"a.rules","lines":[[13,13]]}]}"#
        );
        let back: Rule = serde_json::from_str(&json).expect("read back");
        assert_eq!(back, rule);
        // Version 1: one object per line, and `comment` written even when empty.
        let old = r#"{"stmts":[],"comment":null,"origin":{"file":"a.rules","line":6},"merged":[{"file":"a.rules","line":7},{"file":"a.rules","line":8},{"file":"a.rules","line":9},{"file":"a.rules","line":11},{"file":"b.rules","line":12},{"file":"a.rules","line":13}]}"#;
        let read: Rule = serde_json::from_str(old).expect("version 1");
        assert_eq!(read, rule);
        let backwards = r#"{"stmts":[],"merged":[{"file":"a.rules","lines":[[9,7]]}]}"#;
        let e = serde_json::from_str::<Rule>(backwards).expect_err("backwards run");
        assert!(e.to_string().contains("run backwards"), "{e}");
    }
}
