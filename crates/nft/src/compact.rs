//! Deserializing a large ruleset without the memory serde's defaults would cost.
//!
//! Measured on a 100k-rule state (`fwnet apply`, massif): serde fills a rule's `Vec<Stmt>` by
//! pushing, so a rule of five 88-byte statements holds room for eight, and it gives every
//! rule's [`Origin`](crate::Origin) its own copy of the file name although they all name the
//! same file. Together that was a third of apply's heap. The two functions here are used by
//! `#[serde(deserialize_with)]` in [`crate::ir`]: statement lists are trimmed to their length,
//! and a file name equal to the previous one shares its allocation.
//!
//! Serializing is unchanged, and so is the state file's format.

use serde::de::{Deserializer, Error, Visitor};
use serde::Deserialize;
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
            Ok(LAST_FILE.with(|last| {
                let mut last = last.borrow_mut();
                match &*last {
                    Some(a) if &**a == s => a.clone(),
                    _ => {
                        let a: Arc<str> = Arc::from(s);
                        *last = Some(a.clone());
                        a
                    }
                }
            }))
        }
    }
    d.deserialize_str(Shared)
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
}
