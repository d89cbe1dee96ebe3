//! The `ipset save` format (also `/etc/sysconfig/ipset`): `create NAME TYPE [OPTION ...]` and
//! `add NAME ELEMENT [OPTION ...]` lines, into a small AST with located diagnostics.
//!
//! This module knows the line format and which option takes a value. It deliberately does not
//! interpret set types, elements or option values (`hash:net`, `10.0.0.0/8`, `timeout 300`):
//! that is the translator's business. It does no I/O: callers pass the file name and its text.

use crate::diag::{Diagnostic, Loc};
use serde::Serialize;

/// A parsed ipset file: the sets in the order they were created, each with its elements.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct IpsetFile {
    pub sets: Vec<SetDef>,
}

impl IpsetFile {
    pub fn set(&self, name: &str) -> Option<&SetDef> {
        self.sets.iter().find(|s| s.name == name)
    }
}

/// One `create` line and the `add` lines for it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct SetDef {
    pub name: String,
    /// The set type as written (`hash:ip`, `hash:net,port`).
    pub kind: String,
    /// `family inet|inet6`, `hashsize N`, `timeout N`, `counters` ... in written order.
    pub opts: Vec<SetOpt>,
    pub elements: Vec<Element>,
    /// Where the `create` keyword is.
    pub loc: Loc,
    /// Where the type is.
    pub kind_loc: Loc,
}

impl SetDef {
    /// The first option named `name`.
    pub fn opt(&self, name: &str) -> Option<&SetOpt> {
        self.opts.iter().find(|o| o.name == name)
    }
}

/// One `add` line.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Element {
    /// The element as written (`10.0.0.0/8`, `1.2.3.4,tcp:80`).
    pub value: String,
    /// `timeout N`, `nomatch`, `comment "..."` ... in written order.
    pub opts: Vec<SetOpt>,
    /// Where the element is.
    pub loc: Loc,
}

impl Element {
    pub fn opt(&self, name: &str) -> Option<&SetOpt> {
        self.opts.iter().find(|o| o.name == name)
    }
}

/// An option word and its value, if it takes one (`timeout 300`, `counters`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct SetOpt {
    pub name: String,
    pub value: Option<String>,
    pub loc: Loc,
}

/// Options of `create` that take a value; any other known one is a flag.
const CREATE_VALUED: &[&str] = &[
    "family", "hashsize", "maxelem", "timeout", "netmask", "range", "size", "markmask",
];
const CREATE_FLAGS: &[&str] = &["counters", "comment", "skbinfo", "forceadd"];
/// Options of `add` that take a value; `nomatch` is the only flag.
const ADD_VALUED: &[&str] = &[
    "timeout", "packets", "bytes", "comment", "skbmark", "skbprio", "skbqueue",
];
const ADD_FLAGS: &[&str] = &["nomatch"];

/// A word of a line and the 1-based column it starts at; double quotes group words and are
/// removed.
struct Word {
    text: String,
    column: u32,
}

fn words(line: &str) -> Result<Vec<Word>, u32> {
    let mut out = Vec::new();
    let mut chars = line.chars().enumerate().peekable();
    while let Some(&(i, c)) = chars.peek() {
        if c.is_whitespace() {
            chars.next();
            continue;
        }
        let column = i as u32 + 1;
        let mut text = String::new();
        let mut quoted = false;
        while let Some(&(_, c)) = chars.peek() {
            if c == '"' {
                quoted = !quoted;
            } else if c.is_whitespace() && !quoted {
                break;
            } else {
                text.push(c);
            }
            chars.next();
        }
        if quoted {
            return Err(column);
        }
        out.push(Word { text, column });
    }
    Ok(out)
}

/// Whether `text` looks like ipset output rather than iptables-save: its first line that is
/// neither blank nor a `#` comment starts with `create ` or `add `.
pub fn looks_like_ipset(text: &str) -> bool {
    text.lines()
        .map(str::trim)
        .find(|l| !l.is_empty() && !l.starts_with('#'))
        .is_some_and(|l| l.starts_with("create ") || l.starts_with("add "))
}

/// Parses an ipset file. Lines with errors are left out of the result.
pub fn parse_ipset(file: &str, text: &str) -> (IpsetFile, Vec<Diagnostic>) {
    let mut out = IpsetFile::default();
    let mut diags = Vec::new();
    let shared = crate::diag::FileName::new(file);
    for (n, line) in text.lines().enumerate() {
        let loc = |column: u32| Loc {
            file: shared,
            line: n as u32 + 1,
            column,
        };
        let ws = match words(line) {
            Ok(ws) => ws,
            Err(col) => {
                diags.push(
                    Diagnostic::error("ipset/syntax", &loc(col), "unterminated quote")
                        .with_help("close the `\"`"),
                );
                continue;
            }
        };
        let Some(first) = ws.first() else { continue };
        if first.text.starts_with('#') {
            continue;
        }
        let here = loc(first.column);
        match first.text.as_str() {
            "create" if ws.len() < 3 => diags.push(
                Diagnostic::error(
                    "ipset/syntax",
                    &here,
                    "`create` needs a set name and a type",
                )
                .with_help("write `create NAME TYPE [OPTION ...]` as `ipset save` does"),
            ),
            "create" => {
                let (name, kind) = (&ws[1], &ws[2]);
                if out.set(&name.text).is_some() {
                    diags.push(
                        Diagnostic::error(
                            "ipset/duplicate-set",
                            &loc(name.column),
                            format!("set `{}` is created twice", name.text),
                        )
                        .with_help("keep one `create` line per set"),
                    );
                    continue;
                }
                let Some(opts) = options(&ws[3..], CREATE_VALUED, CREATE_FLAGS, &loc, &mut diags)
                else {
                    continue;
                };
                out.sets.push(SetDef {
                    name: name.text.clone(),
                    kind: kind.text.clone(),
                    opts,
                    elements: Vec::new(),
                    loc: here,
                    kind_loc: loc(kind.column),
                });
            }
            "add" if ws.len() < 3 => diags.push(
                Diagnostic::error(
                    "ipset/syntax",
                    &here,
                    "`add` needs a set name and an element",
                )
                .with_help("write `add NAME ELEMENT [OPTION ...]` as `ipset save` does"),
            ),
            "add" => {
                let (name, value) = (&ws[1], &ws[2]);
                let Some(opts) = options(&ws[3..], ADD_VALUED, ADD_FLAGS, &loc, &mut diags) else {
                    continue;
                };
                match out.sets.iter_mut().find(|s| s.name == name.text) {
                    Some(set) => set.elements.push(Element {
                        value: value.text.clone(),
                        opts,
                        loc: loc(value.column),
                    }),
                    None => diags.push(
                        Diagnostic::error(
                            "ipset/unknown-set",
                            &loc(name.column),
                            format!("`add` to set `{}`, which is not created before", name.text),
                        )
                        .with_help("put its `create` line first, as `ipset save` does"),
                    ),
                }
            }
            other => diags.push(
                Diagnostic::error(
                    "ipset/syntax",
                    &here,
                    format!("unknown ipset command `{other}`"),
                )
                .with_help("an ipset file holds `create` and `add` lines (`ipset save` output)"),
            ),
        }
    }
    (out, diags)
}

/// Reads `name [value]` options; `None` (with an error) on an unknown or incomplete one.
fn options(
    ws: &[Word],
    valued: &[&str],
    flags: &[&str],
    loc: &dyn Fn(u32) -> Loc,
    diags: &mut Vec<Diagnostic>,
) -> Option<Vec<SetOpt>> {
    let mut opts = Vec::new();
    let mut i = 0;
    while let Some(w) = ws.get(i) {
        let name = w.text.as_str();
        if valued.contains(&name) {
            let Some(v) = ws.get(i + 1) else {
                diags.push(
                    Diagnostic::error(
                        "ipset/syntax",
                        &loc(w.column),
                        format!("option `{name}` needs a value"),
                    )
                    .with_help(format!("write `{name} VALUE`")),
                );
                return None;
            };
            opts.push(SetOpt {
                name: name.to_string(),
                value: Some(v.text.clone()),
                loc: loc(w.column),
            });
            i += 2;
        } else if flags.contains(&name) {
            opts.push(SetOpt {
                name: name.to_string(),
                value: None,
                loc: loc(w.column),
            });
            i += 1;
        } else {
            diags.push(
                Diagnostic::error(
                    "ipset/unknown-option",
                    &loc(w.column),
                    format!("unknown ipset option `{name}`"),
                )
                .with_help(format!(
                    "known here: {}",
                    [valued, flags].concat().join(", ")
                )),
            );
            return None;
        }
    }
    Some(opts)
}

#[cfg(test)]
mod tests {
    use super::*;
    use expect_test::expect;

    fn render(text: &str) -> String {
        let (f, diags) = parse_ipset("s.ipset", text);
        let mut out = String::new();
        for s in &f.sets {
            out += &format!(
                "{} {} @{}:{}",
                s.name, s.kind, s.loc.line, s.kind_loc.column
            );
            for o in &s.opts {
                out += &format!(" {}={:?}", o.name, o.value);
            }
            out += "\n";
            for e in &s.elements {
                out += &format!("  {} @{}:{}", e.value, e.loc.line, e.loc.column);
                for o in &e.opts {
                    out += &format!(" {}={:?}", o.name, o.value);
                }
                out += "\n";
            }
        }
        for d in diags {
            out += &format!("{d}\n");
        }
        out
    }

    #[test]
    fn parses_save_output_and_reports_errors() {
        let text = "# saved\n\
create bad hash:net family inet hashsize 1024 maxelem 65536 timeout 300 counters comment\n\
add bad 10.0.0.0/8 timeout 20 comment \"two words\"\n\
add bad 10.1.0.0/16 nomatch\n\
\n\
create web hash:ip,port family inet\n\
add web 192.0.2.1,tcp:80\n\
add nosuch 1.2.3.4\n\
create web hash:ip\n\
create x hash:ip wibble 3\n\
add web 1.2.3.4 timeout\n\
flush web\n\
add web \"1.2.3.4\n";
        expect![[r#"
            bad hash:net @2:12 family=Some("inet") hashsize=Some("1024") maxelem=Some("65536") timeout=Some("300") counters=None comment=None
              10.0.0.0/8 @3:9 timeout=Some("20") comment=Some("two words")
              10.1.0.0/16 @4:9 nomatch=None
            web hash:ip,port @6:12 family=Some("inet")
              192.0.2.1,tcp:80 @7:9
            s.ipset:8:5: error[ipset/unknown-set]: `add` to set `nosuch`, which is not created before
              help: put its `create` line first, as `ipset save` does
            s.ipset:9:8: error[ipset/duplicate-set]: set `web` is created twice
              help: keep one `create` line per set
            s.ipset:10:18: error[ipset/unknown-option]: unknown ipset option `wibble`
              help: known here: family, hashsize, maxelem, timeout, netmask, range, size, markmask, counters, comment, skbinfo, forceadd
            s.ipset:11:17: error[ipset/syntax]: option `timeout` needs a value
              help: write `timeout VALUE`
            s.ipset:12:1: error[ipset/syntax]: unknown ipset command `flush`
              help: an ipset file holds `create` and `add` lines (`ipset save` output)
            s.ipset:13:9: error[ipset/syntax]: unterminated quote
              help: close the `"`
        "#]]
        .assert_eq(&render(text));
    }

    #[test]
    fn tells_ipset_from_iptables() {
        for (text, want) in [
            ("# c\n\ncreate s hash:ip\n", true),
            ("add s 1.2.3.4\n", true),
            ("*filter\n:INPUT ACCEPT [0:0]\nCOMMIT\n", false),
            ("# Generated by iptables-save\n*nat\n", false),
            ("", false),
        ] {
            assert_eq!(looks_like_ipset(text), want, "{text:?}");
        }
    }
}
