//! The iptables-save parser: a line classifier (this file), a tokenizer (`lex.rs`) and an
//! option grouper (`rule.rs`). A large file is read by two threads ([`parse`]).
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
///
/// A file of [`SPLIT_AT`] bytes or more is read by two threads. It is cut into chunks of whole
/// lines; this thread reads them from the front, as a file is read on one thread, while a
/// helper tokenizes and groups the rule lines of chunks it takes from the back (see
/// `Ahead`). Where the two meet, this thread reads the helper's chunks in order, taking its
/// results. The chunks are taken one at a time rather than halves given out, because the two
/// threads do not run at one speed: in `fwnet import` the other core is also populating memory
/// ahead at first. The result is the same as reading the file on one thread: `tests/parse.rs`
/// compares the two on every fixture, the corpus and generated garbage, and `cargo xtask fuzz`
/// on a quarter of its inputs.
pub fn parse(file: &str, text: &str) -> (Ruleset, Vec<Diagnostic>) {
    parse_with(file, text, &())
}

/// What [`parse_with`] does around its helper thread: `fwnet import` lends the helper a lane of
/// its allocator (`fwnet_apply::arena`), so that the helper's blocks are as cheap as its own
/// and serve it again once the helper is done.
pub trait Helper: Sync {
    /// Held by the helper thread while it works.
    type Guard;
    /// On the parsing thread, before the helper starts.
    fn lend(&self) {}
    /// First thing on the helper thread; the guard is dropped last thing there.
    fn enter(&self) -> Self::Guard;
    /// On the parsing thread, once the helper has ended and before its results are read.
    fn reclaim(&self) {}
}

/// No helper hooks.
impl Helper for () {
    type Guard = ();
    fn enter(&self) {}
}

/// [`parse`], running `helper`'s hooks around the helper thread if one is started.
pub fn parse_with(file: &str, text: &str, helper: &impl Helper) -> (Ruleset, Vec<Diagnostic>) {
    if text.len() < SPLIT_AT {
        let mut lines = Lines::new(file);
        read_lines(&mut lines, text, 0, None);
        return lines.finish();
    }
    parse_chunks(file, &Chunks::new(text, CHUNK), helper, false)
}

/// The two-thread parse of [`parse`] with chunks of at least `chunk` bytes, whatever the text's
/// size: for tests, which compare it with [`parse`] on small texts cut into many chunks. This
/// thread starts reading only once the helper has taken its first chunk, so that the helper
/// has chunks to give even when the text is read faster than a thread starts.
/// [`parse`] with every line read by the general reader, which tokenizes and then groups,
/// instead of common rule lines by the one-pass reader: for tests, which compare the two.
pub fn parse_without_shortcut(file: &str, text: &str) -> (Ruleset, Vec<Diagnostic>) {
    let mut lines = Lines::new(file);
    lines.shortcut = false;
    read_lines(&mut lines, text, 0, None);
    lines.finish()
}

pub fn parse_in_chunks(file: &str, text: &str, chunk: usize) -> (Ruleset, Vec<Diagnostic>) {
    parse_chunks(file, &Chunks::new(text, chunk.max(1)), &(), true)
}

/// Files from this size on are parsed on two threads: about 1.5 ms of reading on one (a 10k-rule
/// file of 642 KB takes 7.5 ms).
pub const SPLIT_AT: usize = 128 << 10;

/// The size the text is cut into chunks of, for the two threads to take from.
const CHUNK: usize = 32 << 10;

/// A text cut into chunks of whole lines.
struct Chunks<'t> {
    text: &'t str,
    /// Each chunk's first byte and the number of lines before it; then the text's end.
    starts: Vec<(usize, u32)>,
}

impl<'t> Chunks<'t> {
    /// Chunks of at least `size` bytes (the last one may be shorter), each ending after a
    /// line end or at the end of the text.
    fn new(text: &'t str, size: usize) -> Chunks<'t> {
        let bytes = text.as_bytes();
        let mut starts = vec![(0, 0)];
        let (mut at, mut lines) = (0, 0u32);
        while at + size < bytes.len() {
            let Some(newline) = bytes[at + size..].iter().position(|&b| b == b'\n') else {
                break;
            };
            let next = at + size + newline + 1;
            let more = newlines(&bytes[at..next]);
            lines = lines.saturating_add(u32::try_from(more).unwrap_or(u32::MAX));
            at = next;
            if at < bytes.len() {
                starts.push((at, lines));
            }
        }
        starts.push((bytes.len(), lines));
        Chunks { text, starts }
    }

    fn len(&self) -> usize {
        self.starts.len() - 1
    }

    /// Chunk `i`'s text and the number of lines before it.
    fn get(&self, i: usize) -> (&'t str, u32) {
        let ((from, before), (to, _)) = (self.starts[i], self.starts[i + 1]);
        (&self.text[from..to], before)
    }
}

/// The line ends in `bytes`, counted in bytes of up to 255 at a time: that is vectorized, where
/// a count in a `usize` is not (a quarter of the instructions).
fn newlines(bytes: &[u8]) -> usize {
    bytes
        .chunks(255)
        .map(|c| usize::from(c.iter().fold(0u8, |n, &b| n + u8::from(b == b'\n'))))
        .sum()
}

/// The chunks neither thread has taken: `[front, back)`.
struct Untaken(std::sync::Mutex<(usize, usize)>);

impl Untaken {
    fn front(&self) -> Option<usize> {
        let mut range = self.0.lock().unwrap_or_else(|e| e.into_inner());
        (range.0 < range.1).then(|| {
            range.0 += 1;
            range.0 - 1
        })
    }

    fn back(&self) -> Option<usize> {
        let mut range = self.0.lock().unwrap_or_else(|e| e.into_inner());
        (range.0 < range.1).then(|| {
            range.1 -= 1;
            range.1
        })
    }
}

/// [`parse_with`] on two threads, one taking chunks from the front and the other from the back;
/// with `helper_first`, the front only once the helper has taken a chunk (or found none).
fn parse_chunks(
    file: &str,
    chunks: &Chunks<'_>,
    helper: &impl Helper,
    helper_first: bool,
) -> (Ruleset, Vec<Diagnostic>) {
    let mut lines = Lines::new(file);
    let untaken = Untaken(std::sync::Mutex::new((0, chunks.len())));
    let took = std::sync::atomic::AtomicBool::new(false);
    helper.lend();
    std::thread::scope(|scope| {
        let started = std::thread::Builder::new()
            .name("fwnet-parse".into())
            .spawn_scoped(scope, || {
                let _guard = helper.enter();
                let mut done = Vec::new();
                loop {
                    let next = untaken.back();
                    took.store(true, std::sync::atomic::Ordering::Release);
                    let Some(i) = next else { break };
                    let (text, before) = chunks.get(i);
                    done.push((i, ahead(file, text, before)));
                }
                done
            });
        if helper_first && started.is_ok() {
            while !took.load(std::sync::atomic::Ordering::Acquire) {
                std::thread::yield_now();
            }
        }
        let mut met = 0;
        while let Some(i) = untaken.front() {
            let (text, before) = chunks.get(i);
            read_lines(&mut lines, text, before, None);
            met = i + 1;
        }
        // The helper's chunks, taken from the back: in the file's order from its last. Should
        // the helper have panicked, this thread reads them itself.
        let done = started.ok().and_then(|h| h.join().ok());
        helper.reclaim();
        let mut done = done.unwrap_or_default();
        for i in met..chunks.len() {
            let (text, before) = chunks.get(i);
            let ahead = match done.last() {
                Some((at, _)) if *at == i => done.pop().map(|(_, results)| results.into_iter()),
                _ => None,
            };
            read_lines(&mut lines, text, before, ahead);
        }
    });
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

/// Reads the lines of `text`, which follow line `number` of the file. `ahead` holds the
/// results of [`ahead`] for the rule lines of `text`, in order.
fn read_lines(
    lines: &mut Lines<'_>,
    text: &str,
    mut number: u32,
    mut ahead: Option<std::vec::IntoIter<Box<Ahead>>>,
) {
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
        lines.line(number, content, ahead.as_mut());
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

/// A rule line tokenized and grouped by the helper thread. Neither needs anything from the
/// lines before it: only what is done with the result (is the line inside a table, does a
/// flush delete rules, is a chain declared twice) does, and that is left to the reading thread.
struct Ahead {
    /// The column of the line's first token, where `parse/outside-table` points.
    first_col: Option<u32>,
    /// The column of a quote that is never closed; the line is then not grouped.
    unterminated: Option<u32>,
    rule: Option<rule::RuleLine>,
    /// What grouping reported, in the order it did.
    diags: Vec<Diagnostic>,
}

/// Tokenizes and groups the rule lines of `text`, which follow line `number` of `file`.
#[allow(
    clippy::vec_box,
    reason = "each result a small block: see the comment on the push"
)]
fn ahead(file: &str, text: &str, mut number: u32) -> Vec<Box<Ahead>> {
    // Diagnostics only: a `Lines` of its own, whose file name is a copy, so that the two
    // threads do not count references to one string.
    let mut sink = Lines::new(file);
    let mut done = Vec::new();
    for raw in text.split_inclusive('\n') {
        number = number.saturating_add(1);
        let (content, _) = content(raw);
        if classify(content) != LineKind::Rule {
            continue;
        }
        if let Some((first_col, rule)) = rule::simple_append(&sink, number, content) {
            done.push(Box::new(Ahead {
                first_col: Some(first_col),
                unterminated: None,
                rule: Some(rule::RuleLine::Command(Command::Append(rule))),
                diags: Vec::new(),
            }));
            continue;
        }
        let (tokens, unterminated) = tokenize(content);
        let first_col = tokens.first().map(|t| t.col);
        let rule = match unterminated {
            Some(_) => None,
            None => rule::parse_rule(&mut sink, number, tokens),
        };
        // Boxed: a small block of the helper's, which serves this thread again once the helper
        // is done, where a chunk's vector of whole results (some 200 bytes a line) was a large
        // block of the system allocator's, kept apart from this thread's (100k rules: 20 MB
        // more at the peak).
        done.push(Box::new(Ahead {
            first_col,
            unterminated,
            rule,
            diags: std::mem::take(&mut sink.diags),
        }));
    }
    done
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

    /// Reads line `number`. `ahead`, when given, holds the helper thread's results for this
    /// and the following rule lines.
    fn line(
        &mut self,
        number: u32,
        text: &str,
        ahead: Option<&mut std::vec::IntoIter<Box<Ahead>>>,
    ) {
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
            if let Some(done) = ahead.and_then(Iterator::next) {
                let done = *done;
                self.unterminated(number, done.unterminated);
                if done.unterminated.is_none() {
                    self.rule_line(number, done.first_col, |_, _| (done.rule, done.diags));
                }
                return;
            }
            if let Some((first_col, rule)) = self
                .shortcut
                .then(|| rule::simple_append(self, number, text))
                .flatten()
            {
                let read = Some(rule::RuleLine::Command(Command::Append(rule)));
                self.rule_line(number, Some(first_col), |_, _| (read, Vec::new()));
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
                    let rule = rule::parse_rule(lines, number, tokens);
                    (rule, Vec::new())
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

    /// A rule line whose first token is at `first_col`. `group` groups its tokens: it returns
    /// the line's command and the diagnostics to add after those it pushed itself.
    fn rule_line(
        &mut self,
        number: u32,
        first_col: Option<u32>,
        group: impl FnOnce(&mut Self, u32) -> (Option<rule::RuleLine>, Vec<Diagnostic>),
    ) {
        if !self.inside_table(number, first_col) {
            return;
        }
        let (rule, diags) = group(self, number);
        self.diags.extend(diags);
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
