//! The iptables-save parser: a line classifier (this file), a tokenizer (`lex.rs`) and an
//! option grouper (`rule.rs`); common rule lines are read in one pass by
//! `rule::simple_append` instead of the last two.
//!
//! It turns text into a [`Ruleset`] and reports every problem in the file at once; it never
//! stops at the first error and never panics. It does not know what options mean, which tables
//! or policies exist, or whether the chain a rule is added to exists: the translator checks
//! those.
//!
//! # The format, and the quirks fwnet accepts
//!
//! ```text
//! # comment                      ignored, as are blank lines
//! *filter                        a table section starts ...
//! :INPUT DROP [0:0]              chain declaration: name, policy (`-` for a user chain),
//! :LOG_DROP - [0:0]                optional [packets:bytes] counters
//! [5:300] -A INPUT -i lo -j ACCEPT   rule: optional counters, command, options
//! -I INPUT 2 -p tcp ! --dport 22 -j DROP
//! COMMIT                         ... and ends here
//! ```
//!
//! - Commands: `-A CHAIN`, `-I CHAIN [N]` (N counts from 1), `-N CHAIN`, `-P CHAIN POLICY`, in
//!   short or long form, anywhere on the line. `-c packets bytes` gives counters like the
//!   `[p:b]` prefix. `-D`, `-R`, `-X`, `-Z`, `-E` (edits, not a state) are errors. `-F`
//!   is tolerated with a warning where it changes nothing: on declared chains that have no
//!   rules yet (some hand-written files start with it); anywhere else it is an error.
//! - Lines end in LF, or CRLF with a warning (legacy iptables-restore rejects it); words are
//!   separated by spaces and tabs, in any number; comment, table and chain lines may be
//!   indented. A file without a final newline is accepted with a warning (legacy
//!   iptables-restore rejects a last `COMMIT` without one).
//! - `"..."` quotes an argument containing spaces; inside, a backslash takes the next character
//!   as it is. As in iptables-restore, the closing quote ends the word (`"a b"-j` is two words)
//!   and single quotes are ordinary characters. A quoted word is always an argument, even
//!   `"-x"` or `"!"`.
//! - An option is a bare word starting with `-` that is not a negative number; its arguments
//!   are the words up to the next option or `!`.
//! - Negation is `! --opt value`. The iptables 1.4 form `--opt ! value` (CentOS 6 files) is
//!   accepted with a warning; a `!` that negates nothing, or twice, is an error.
//! - Every section must end with `COMMIT` before the next `*table` or the end of the file.
//!
//! Diagnostic codes (all errors unless marked): `parse/missing-commit`,
//! `parse/commit-outside-table`, `parse/outside-table`, `parse/empty-table-name`,
//! `parse/trailing-tokens`, `parse/missing-chain-name`, `parse/missing-policy`,
//! `parse/duplicate-chain`, `parse/bad-counters`, `parse/duplicate-counters`,
//! `parse/unexpected-counters`, `parse/unterminated-quote`, `parse/missing-command`,
//! `parse/unsupported-command`, `parse/multiple-commands`, `parse/negated-command`,
//! `parse/missing-chain`, `parse/bad-rule-index`, `parse/unexpected-argument`,
//! `parse/unexpected-option`, `parse/dangling-negation`, `parse/double-negation`,
//! `parse/misplaced-negation`, and the warnings `parse/intrapositioned-negation`,
//! `parse/redundant-flush`, `parse/ignored-words` (words after a chain's policy or counters,
//! which iptables-restore ignores too), `parse/crlf` (once per file) and
//! `parse/no-final-newline`.

mod lex;
mod rule;

use crate::ast::{ChainDecl, Command, Ruleset, Table};
use crate::diag::{Diagnostic, FileName, Loc};
use lex::{bracket_counters, tokenize, Columns, Token};
use std::collections::HashMap;

/// Parses an iptables-save file. `file` names it in diagnostics. The ruleset is complete only
/// when no diagnostic is an error; diagnostics are sorted by line and column.
pub fn parse(file: &str, text: &str) -> (Ruleset, Vec<Diagnostic>) {
    let mut lines = Lines::new(file);
    read_lines(&mut lines, text);
    lines.finish()
}

/// [`parse`] with every line read by the general reader, which tokenizes and then groups,
/// instead of common rule lines by the one-pass reader: for tests, which compare the two.
pub fn parse_without_shortcut(file: &str, text: &str) -> (Ruleset, Vec<Diagnostic>) {
    let mut lines = Lines::new(file);
    lines.shortcut = false;
    read_lines(&mut lines, text);
    lines.finish()
}

/// A line's text without its line end: LF, or CR LF.
fn content(raw: &str) -> (&str, bool) {
    let content = raw.strip_suffix('\n').unwrap_or(raw);
    match content.strip_suffix('\r') {
        Some(c) => (c, true),
        None => (content, false),
    }
}

/// Reads the lines of `text`, the whole file.
fn read_lines(lines: &mut Lines<'_>, text: &str) {
    let mut number: u32 = 0;
    for raw in text.split_inclusive('\n') {
        number = number.saturating_add(1);
        let (content, crlf) = content(raw);
        if crlf && !lines.crlf_reported {
            lines.crlf_reported = true;
            let end = Columns::new(content).at(content.len());
            let d = Diagnostic::warning(
                "parse/crlf",
                &lines.loc(number, end),
                "lines end in CR LF (a Windows editor?); fwnet ignores the CR",
            )
            .with_help(
                "convert the file to LF line ends (`sed -i 's/\\r$//' FILE`): legacy \
                 iptables-restore rejects it, reading the CR as part of each line",
            );
            lines.push(d);
        }
        lines.line(number, content);
        if !raw.ends_with('\n') {
            let end = Columns::new(content).at(content.len());
            let d = Diagnostic::warning(
                "parse/no-final-newline",
                &lines.loc(number, end),
                "file does not end with a newline",
            )
            .with_help(
                "add a newline after the last line: legacy iptables-restore rejects a final \
                 COMMIT without one",
            );
            lines.push(d);
        }
    }
}

/// What a line is, from its first non-blank character or word.
#[derive(Debug, PartialEq, Eq)]
enum LineKind {
    Blank,
    Comment,
    Table,
    Chain,
    Commit,
    Rule,
}

fn classify(line: &str) -> LineKind {
    let trimmed = line.trim_start_matches([' ', '\t']);
    match trimmed.chars().next() {
        None => LineKind::Blank,
        Some('#') => LineKind::Comment,
        Some('*') => LineKind::Table,
        Some(':') => LineKind::Chain,
        _ if trimmed.split([' ', '\t']).next() == Some("COMMIT") => LineKind::Commit,
        _ => LineKind::Rule,
    }
}

/// A table section whose `COMMIT` has not been seen yet.
struct OpenTable {
    table: Table,
    /// Chains declared so far (by `:NAME` or `-N`), with the line of the declaration.
    declared: HashMap<String, u32>,
}

/// The parser's state across lines, and the diagnostics so far.
struct Lines<'f> {
    file: &'f str,
    /// The file name every [`Loc`] of this parse shares.
    shared_file: FileName,
    diags: Vec<Diagnostic>,
    tables: Vec<Table>,
    open: Option<OpenTable>,
    /// A line outside any section was reported since the last `*table`: don't repeat it for
    /// every following line.
    outside_reported: bool,
    /// The tool of the first `# Generated by TOOL` comment.
    saved_by: Option<String>,
    /// `parse/crlf` is reported once a file.
    crlf_reported: bool,
    /// Common rule lines are read by [`rule::simple_append`]; off only to check it against the
    /// general reader ([`parse_without_shortcut`]).
    shortcut: bool,
}

impl<'f> Lines<'f> {
    fn new(file: &'f str) -> Lines<'f> {
        Lines {
            file,
            shared_file: FileName::new(file),
            diags: Vec::new(),
            tables: Vec::new(),
            open: None,
            outside_reported: false,
            saved_by: None,
            crlf_reported: false,
            shortcut: true,
        }
    }

    fn loc(&self, line: u32, column: u32) -> Loc {
        Loc {
            file: self.shared_file,
            line,
            column,
        }
    }

    fn push(&mut self, diagnostic: Diagnostic) {
        self.diags.push(diagnostic);
    }

    fn error_bad_counters(&mut self, line: u32, token: &Token) {
        let d = Diagnostic::error(
            "parse/bad-counters",
            &self.loc(line, token.col),
            format!("malformed counters `{}`", token.text),
        )
        .with_help("counters are `[packets:bytes]` in decimal, as in `[0:0]`");
        self.push(d);
    }

    /// Reads line `number`.
    fn line(&mut self, number: u32, text: &str) {
        let kind = classify(text);
        if kind == LineKind::Comment && self.saved_by.is_none() {
            self.saved_by = text
                .trim_start()
                .strip_prefix("# Generated by ")
                .and_then(|rest| rest.split_whitespace().next())
                .map(str::to_string);
        }
        if matches!(kind, LineKind::Blank | LineKind::Comment) {
            return;
        }
        if kind == LineKind::Rule {
            if let Some((first_col, rule)) = self
                .shortcut
                .then(|| rule::simple_append(self, number, text))
                .flatten()
            {
                let read = rule::RuleLine::Command(Command::Append(rule));
                self.rule_line(number, Some(first_col), |_, _| Some(read));
                return;
            }
        }
        let (tokens, unterminated) = tokenize(text);
        self.unterminated(number, unterminated);
        match kind {
            LineKind::Blank | LineKind::Comment => {}
            LineKind::Table => self.table_line(number, tokens),
            LineKind::Commit => self.commit_line(number, tokens),
            // A line that did not tokenize would only produce follow-on errors.
            _ if unterminated.is_some() => {}
            LineKind::Chain => self.chain_line(number, tokens),
            LineKind::Rule => {
                let first_col = tokens.first().map(|t| t.col);
                self.rule_line(number, first_col, |lines, number| {
                    rule::parse_rule(lines, number, tokens)
                });
            }
        }
    }

    /// Reports a quote opened at column `col` and never closed.
    fn unterminated(&mut self, number: u32, col: Option<u32>) {
        if let Some(col) = col {
            let d = Diagnostic::error(
                "parse/unterminated-quote",
                &self.loc(number, col),
                "quote is never closed",
            )
            .with_help("close the quote on the same line; write `\\\"` for a quote inside it");
            self.push(d);
        }
    }

    fn table_line(&mut self, number: u32, tokens: Vec<Token>) {
        let mut tokens = tokens.into_iter();
        let (name, col) = match tokens.next() {
            Some(t) => (
                t.text.strip_prefix('*').unwrap_or(&t.text).to_string(),
                t.col,
            ),
            None => (String::new(), 1),
        };
        if name.is_empty() {
            let help = match tokens.next() {
                Some(word) => format!("write the table name right after `*`: `*{}`", word.text),
                None => "write the table name right after `*`, as in `*filter`".to_string(),
            };
            let d = Diagnostic::error(
                "parse/empty-table-name",
                &self.loc(number, col),
                "`*` without a table name",
            )
            .with_help(help);
            self.push(d);
        } else if let Some(extra) = tokens.next() {
            let d = Diagnostic::error(
                "parse/trailing-tokens",
                &self.loc(number, extra.col),
                format!("unexpected `{}` after the table name", extra.text),
            )
            .with_help("a table line holds only `*` and the table name");
            self.push(d);
        }
        self.close_unfinished();
        // Even a nameless table is opened, so that its lines are still checked.
        let table = Table {
            name,
            loc: self.loc(number, col),
            chains: Vec::new(),
            commands: Vec::new(),
        };
        self.open = Some(OpenTable {
            table,
            declared: HashMap::new(),
        });
        self.outside_reported = false;
    }

    fn commit_line(&mut self, number: u32, tokens: Vec<Token>) {
        if let Some(extra) = tokens.get(1) {
            let d = Diagnostic::error(
                "parse/trailing-tokens",
                &self.loc(number, extra.col),
                format!("unexpected `{}` after COMMIT", extra.text),
            )
            .with_help("put COMMIT on a line of its own");
            self.push(d);
        }
        match self.open.take() {
            Some(open) => self.tables.push(open.table),
            None => {
                let col = tokens.first().map_or(1, |t| t.col);
                let d = Diagnostic::error(
                    "parse/commit-outside-table",
                    &self.loc(number, col),
                    "COMMIT without a table section to end",
                )
                .with_help(
                    "start the section with a table line such as `*filter`, or remove this COMMIT",
                );
                self.push(d);
            }
        }
    }

    fn chain_line(&mut self, number: u32, tokens: Vec<Token>) {
        if !self.inside_table(number, tokens.first().map(|t| t.col)) {
            return;
        }
        let mut tokens = tokens.into_iter();
        let Some(first) = tokens.next() else { return };
        let name = first
            .text
            .strip_prefix(':')
            .unwrap_or(&first.text)
            .to_string();
        if name.is_empty() {
            let d = Diagnostic::error(
                "parse/missing-chain-name",
                &self.loc(number, first.col),
                "`:` without a chain name",
            )
            .with_help("write the chain name right after `:`, as in `:INPUT ACCEPT [0:0]`");
            self.push(d);
            return;
        }
        let policy = match tokens.next() {
            Some(p) if p.quoted || !p.text.starts_with('[') => p,
            _ => {
                let d = Diagnostic::error(
                    "parse/missing-policy",
                    &self.loc(number, first.col),
                    format!("chain `{name}` has no policy"),
                )
                .with_help(format!(
                    "write the policy after the name, or `-` for a user-defined chain, as in \
                     `:{name} - [0:0]`"
                ));
                self.push(d);
                return;
            }
        };
        let mut counters = None;
        match tokens.next() {
            Some(c) if c.text.starts_with('[') => match bracket_counters(&c.text) {
                Some(parsed) => counters = Some(parsed),
                None => self.error_bad_counters(number, &c),
            },
            // Legacy iptables-restore ignores every word after the policy (it reads policy
            // counters only under `-c`), so the chain is what the kernel got; say so.
            Some(word) => {
                let rest: Vec<String> = std::iter::once(word.text.to_string())
                    .chain(tokens.by_ref().map(|t| t.text.into()))
                    .collect();
                let help = if policy.text == "-" {
                    format!(
                        "a user-defined chain has no policy: a packet that reaches its end goes \
                         back to the chain that jumped to it; if `{}` was meant, add \
                         `-A {name} -j {}` as its last rule",
                        rest[0], rest[0]
                    )
                } else {
                    "a chain line is `:NAME POLICY [packets:bytes]`".to_string()
                };
                let d = Diagnostic::warning(
                    "parse/ignored-words",
                    &self.loc(number, word.col),
                    format!(
                        "`{}` after the policy of chain `{name}` is ignored, as \
                         iptables-restore ignores it",
                        rest.join(" ")
                    ),
                )
                .with_help(help);
                self.push(d);
            }
            None => {}
        }
        if let Some(extra) = tokens.next() {
            let rest: Vec<String> = std::iter::once(extra.text.into())
                .chain(tokens.map(|t| t.text.into()))
                .collect();
            let d = Diagnostic::warning(
                "parse/ignored-words",
                &self.loc(number, extra.col),
                format!(
                    "`{}` after the chain counters is ignored, as iptables-restore ignores it",
                    rest.join(" ")
                ),
            )
            .with_help("a chain line is `:NAME POLICY [packets:bytes]`");
            self.push(d);
        }
        let policy = if policy.text == "-" {
            None
        } else {
            Some(policy.text.into())
        };
        let decl = ChainDecl {
            name,
            policy,
            counters,
            loc: self.loc(number, first.col),
        };
        if self.declare(&decl.name, number, first.col) {
            if let Some(open) = &mut self.open {
                open.table.chains.push(decl);
            }
        }
    }

    /// A rule line whose first token is at `first_col`. `read` reads it, if it is inside a
    /// table: it returns the line's command, and reports any problem itself.
    fn rule_line(
        &mut self,
        number: u32,
        first_col: Option<u32>,
        read: impl FnOnce(&mut Self, u32) -> Option<rule::RuleLine>,
    ) {
        if !self.inside_table(number, first_col) {
            return;
        }
        let rule = read(self, number);
        let command = match rule {
            Some(rule::RuleLine::Command(command)) => command,
            Some(rule::RuleLine::Flush {
                written,
                chain,
                col,
            }) => {
                self.flush(number, col, &written, chain.as_deref());
                return;
            }
            None => return,
        };
        if let Command::NewChain { name, loc } = &command {
            if !self.declare(name, number, loc.column) {
                return;
            }
        }
        if let Some(open) = &mut self.open {
            open.table.commands.push(command);
        }
    }

    /// `-F [CHAIN]`. A restore starts every chain of the table empty, so flushing a declared
    /// chain before any of its rules changes nothing (some hand-written files do it): that is a
    /// warning. Flushing rules the file itself added would delete them, an error.
    fn flush(&mut self, number: u32, col: u32, written: &str, chain: Option<&str>) {
        let Some(open) = &self.open else { return };
        let what = match chain {
            Some(c) => format!("`{written} {c}`"),
            None => format!("`{written}`"),
        };
        let has_rules = open.table.commands.iter().any(|command| match command {
            Command::Append(rule) | Command::Insert { rule, .. } => match chain {
                Some(c) => rule.chain == c,
                None => true,
            },
            Command::NewChain { .. } | Command::Policy { .. } => false,
        });
        let undeclared = chain.is_some_and(|c| !open.declared.contains_key(c));
        let help = "fwnet reads a complete ruleset as iptables-save writes it (-A, -I, -N, -P): \
                    edit the file into the final rules instead";
        let d = if undeclared {
            Diagnostic::error(
                "parse/unsupported-command",
                &self.loc(number, col),
                format!("{what} flushes a chain not declared in this table"),
            )
            .with_help(help)
        } else if has_rules {
            Diagnostic::error(
                "parse/unsupported-command",
                &self.loc(number, col),
                format!("{what} would delete rules added above it"),
            )
            .with_help(help)
        } else {
            Diagnostic::warning(
                "parse/redundant-flush",
                &self.loc(number, col),
                match chain {
                    Some(_) => format!("{what} flushes a chain that is still empty: ignored"),
                    None => format!("{what} flushes chains that are all still empty: ignored"),
                },
            )
            .with_help("remove the line: restoring a table starts from empty chains")
        };
        self.push(d);
    }

    /// Records a chain declared at `line`; reports and returns false if it already was.
    fn declare(&mut self, name: &str, line: u32, col: u32) -> bool {
        let Some(open) = &self.open else { return false };
        if let Some(first) = open.declared.get(name).copied() {
            let d = Diagnostic::error(
                "parse/duplicate-chain",
                &self.loc(line, col),
                format!("chain `{name}` is already declared on line {first}"),
            )
            .with_help("remove one of the declarations");
            self.push(d);
            return false;
        }
        if let Some(open) = &mut self.open {
            open.declared.insert(name.to_string(), line);
        }
        true
    }

    /// True inside a section; otherwise reports the line (once per run of such lines).
    /// Whether a section is open; reports the first line outside one (its first token at
    /// `first_col`).
    fn inside_table(&mut self, number: u32, first_col: Option<u32>) -> bool {
        if self.open.is_some() {
            return true;
        }
        if !self.outside_reported {
            self.outside_reported = true;
            let col = first_col.unwrap_or(1);
            let d = Diagnostic::error(
                "parse/outside-table",
                &self.loc(number, col),
                "line is outside a table section",
            )
            .with_help(
                "start the section with a table line such as `*filter` and end it with `COMMIT`",
            );
            self.push(d);
        }
        false
    }

    /// Reports the open section, if any, as missing its COMMIT, and keeps its contents.
    fn close_unfinished(&mut self) {
        let Some(open) = self.open.take() else { return };
        let name = &open.table.name;
        let d = Diagnostic::error(
            "parse/missing-commit",
            &open.table.loc,
            format!("table `{name}` is not ended by COMMIT"),
        )
        .with_help(format!(
            "add a line `COMMIT` at the end of the `{name}` section"
        ));
        self.push(d);
        self.tables.push(open.table);
    }

    fn finish(mut self) -> (Ruleset, Vec<Diagnostic>) {
        self.close_unfinished();
        // Stable: diagnostics at one place keep the order they were found in.
        self.diags.sort_by_key(|d| (d.line, d.column));
        (
            Ruleset {
                file: self.file.to_string(),
                saved_by: self.saved_by,
                tables: self.tables,
            },
            self.diags,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifier_looks_at_the_first_word() {
        assert_eq!(classify(""), LineKind::Blank);
        assert_eq!(classify(" \t"), LineKind::Blank);
        assert_eq!(classify("  # x"), LineKind::Comment);
        assert_eq!(classify("*filter"), LineKind::Table);
        assert_eq!(classify(":INPUT ACCEPT"), LineKind::Chain);
        assert_eq!(classify("COMMIT"), LineKind::Commit);
        assert_eq!(classify("COMMIT x"), LineKind::Commit);
        assert_eq!(classify("COMMITTED"), LineKind::Rule);
        assert_eq!(classify("-A INPUT"), LineKind::Rule);
        assert_eq!(classify("[0:0] -A INPUT"), LineKind::Rule);
    }
}
