//! Rule lines: grouping tokens into options, then reading the command (`-A`, `-I`, `-N`, `-P`)
//! and the counters (`[p:b]` prefix or `-c p b`) out of them.
//!
//! An option's arguments are the tokens after it up to the next option or `!`; nothing here
//! knows how many arguments an option takes or what it means (that is the translator's job).
//! The command may stand anywhere on the line, as iptables-restore allows, though
//! iptables-save always writes it first.

use super::lex::{bracket_counters, decimal_u64, is_option_word, Token};
use super::Lines;
use crate::ast::{Args, Command, Counters, Negation, Opt, Rule, Word};
use crate::diag::Diagnostic;

/// What a rule line gives the table.
pub(super) enum RuleLine {
    Command(Command),
    /// `-F [CHAIN]`: harmless only where the chain has no rules yet, which the caller knows.
    Flush {
        /// The command as written (`-F` or `--flush`).
        written: String,
        chain: Option<String>,
        col: u32,
    },
}

/// An option while the line is being grouped: its arguments keep their columns for diagnostics.
struct RawOpt {
    name: Token,
    negated: Negation,
    /// Column of the option name, or of the `!` before it.
    col: u32,
    args: Args<Token>,
    /// Column of the `!` of the old form `--opt ! value`.
    after_bang: Option<u32>,
}

/// `--name=value`, which iptables' option parser (getopt) reads as `--name value`.
fn split_equals(token: Token) -> (Token, Args<Token>) {
    match token
        .text
        .strip_prefix("--")
        .and_then(|t| t.split_once('='))
    {
        Some((name, value)) if !name.is_empty() => {
            let value_col = token.col + u32::try_from(name.chars().count() + 3).unwrap_or(0);
            (
                Token {
                    text: Word::from(format!("--{name}")),
                    col: token.col,
                    quoted: false,
                },
                std::iter::once(Token {
                    text: Word::new(value),
                    col: value_col,
                    quoted: token.quoted,
                })
                .collect(),
            )
        }
        _ => (token, Args::default()),
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Append,
    Insert,
    NewChain,
    Policy,
    Flush,
}

/// The commands an iptables-save file contains.
fn command_kind(name: &str) -> Option<Kind> {
    match name {
        "-A" | "--append" => Some(Kind::Append),
        "-I" | "--insert" => Some(Kind::Insert),
        "-N" | "--new-chain" => Some(Kind::NewChain),
        "-P" | "--policy" => Some(Kind::Policy),
        "-F" | "--flush" => Some(Kind::Flush),
        _ => None,
    }
}

/// Commands iptables accepts but iptables-save never writes: they describe edits, not a state.
fn refused_command(name: &str) -> Option<&'static str> {
    match name {
        "-D" | "--delete" => Some("deletes a rule"),
        "-R" | "--replace" => Some("replaces a rule"),
        "-X" | "--delete-chain" => Some("deletes a chain"),
        "-Z" | "--zero" => Some("zeroes counters"),
        "-E" | "--rename-chain" => Some("renames a chain"),
        "-L" | "--list" => Some("lists rules"),
        "-S" | "--list-rules" => Some("lists rules"),
        "-C" | "--check" => Some("checks for a rule"),
        _ => None,
    }
}

fn is_counters_option(name: &str) -> bool {
    name == "-c" || name == "--set-counters"
}

/// Whether `name` is a command (one iptables-save writes or one it never does) or the counters
/// option: [`is_counters_option`], [`command_kind`] or [`refused_command`]. A two-byte name
/// (`-s`, `-p`, `-m`, `-j`: most of a file's options) is told by its letter alone.
fn is_command_or_counters(name: &str) -> bool {
    match name.as_bytes() {
        [b'-', letter] => matches!(
            letter,
            b'A' | b'I'
                | b'N'
                | b'P'
                | b'F'
                | b'D'
                | b'R'
                | b'X'
                | b'Z'
                | b'E'
                | b'L'
                | b'S'
                | b'C'
                | b'c'
        ),
        _ => {
            is_counters_option(name)
                || command_kind(name).is_some()
                || refused_command(name).is_some()
        }
    }
}

/// What a byte is to [`simple_append`]'s scan: part of a word, a blank between words, or one
/// the general reader must see (a quote, `=`, a byte of a non-ASCII character).
const WORD: u8 = 0;
const BLANK: u8 = 1;
const OTHER: u8 = 2;
const SCAN: [u8; 256] = {
    let mut table = [WORD; 256];
    table[b' ' as usize] = BLANK;
    table[b'\t' as usize] = BLANK;
    table[b'"' as usize] = OTHER;
    table[b'=' as usize] = OTHER;
    let mut b = 0x80;
    while b < 256 {
        table[b] = OTHER;
        b += 1;
    }
    table
};

/// The common rule line read in one pass, without tokens in between: an optional
/// `[packets:bytes]`, `-A CHAIN`, then options and their arguments, every word plain ASCII
/// without a quote or `=`, and every `!` right before an option. `None` for any other line: the
/// general reader ([`super::lex::tokenize`], then [`parse_rule`]) then reads it and reports
/// what it finds. A line this accepts, the general reader reads into the same rule without a
/// diagnostic (the parser's tests check every line of the fixtures and the corpus, and
/// `cargo xtask fuzz` every input). Also gives the column of the line's first word.
///
/// Nearly every line of an iptables-save file has this shape, and the general reader spends
/// more on a line than the rest of the parse (a token vector, then options of tokens, then
/// options of words): this writes each word once, where it stays.
pub(super) fn simple_append(lines: &Lines<'_>, line: u32, text: &str) -> Option<(u32, Rule)> {
    let bytes = text.as_bytes();
    let mut at = 0;
    // The next word and its column; `Err` for a byte the general reader must see.
    let mut next = || -> Result<Option<(u32, &str)>, ()> {
        while bytes
            .get(at)
            .is_some_and(|&b| SCAN[usize::from(b)] == BLANK)
        {
            at += 1;
        }
        if at == bytes.len() {
            return Ok(None);
        }
        let start = at;
        while let Some(&b) = bytes.get(at) {
            match SCAN[usize::from(b)] {
                WORD => at += 1,
                BLANK => break,
                _ => return Err(()),
            }
        }
        // An ASCII line: a byte offset is a column, a byte range a `&str` of its own.
        let col = u32::try_from(start + 1).map_err(|_| ())?;
        Ok(Some((col, &text[start..at])))
    };
    let (first_col, mut word) = next().ok()??;
    let mut counters = None;
    if word.starts_with('[') {
        counters = Some(bracket_counters(word)?);
        word = next().ok()??.1;
    }
    if command_kind(word) != Some(Kind::Append) {
        return None;
    }
    let chain = next().ok()??.1;
    if is_option_word(chain) || chain == "!" {
        return None;
    }
    let mut opts: Vec<Opt> = Vec::with_capacity(8);
    let mut bang: Option<u32> = None;
    while let Some((col, word)) = next().ok()? {
        if word == "!" {
            if bang.is_some() {
                return None;
            }
            bang = Some(col);
        } else if is_option_word(word) {
            if is_command_or_counters(word) {
                return None;
            }
            let (negated, col) = match bang.take() {
                Some(bang) => (Negation::Before, bang),
                None => (Negation::None, col),
            };
            opts.push(Opt {
                name: Word::new(word),
                negated,
                args: Args::default(),
                loc: lines.loc(line, col),
            });
        } else {
            // An argument after a `!` (the old form, or a mistake), or right after the chain.
            let opt = opts.last_mut().filter(|_| bang.is_none())?;
            opt.args.push(Word::new(word));
        }
    }
    if bang.is_some() {
        return None;
    }
    // Kept until the translator reads the rule: no room to spare (the larger block given back
    // serves the next line). With room for eight left, the 100k import's peak was 110 MB, not 86.
    opts.shrink_to_fit();
    let rule = Rule {
        chain: Word::new(chain),
        counters,
        opts,
        loc: lines.loc(line, 1),
    };
    Some((first_col, rule))
}

/// Parses one tokenized rule line (inside a table). Returns `None` when the line cannot give a
/// command; every problem is reported to `lines`.
pub(super) fn parse_rule(lines: &mut Lines<'_>, line: u32, tokens: Vec<Token>) -> Option<RuleLine> {
    let mut tokens = tokens.into_iter().peekable();

    // `[packets:bytes]` prefix.
    let mut counters: Option<Counters> = None;
    if let Some(first) = tokens.next_if(|t| !t.quoted && t.text.starts_with('[')) {
        match bracket_counters(&first.text) {
            Some(c) => counters = Some(c),
            None => lines.error_bad_counters(line, &first),
        }
    }

    match tokens.peek() {
        Some(t) if t.is_option() || t.is_bang() => {}
        Some(t) => {
            let d = Diagnostic::error(
                "parse/missing-command",
                &lines.loc(line, t.col),
                format!("expected a command such as `-A CHAIN`, found `{}`", t.text),
            )
            .with_help("a rule line is `-A CHAIN options...`, optionally after `[packets:bytes]`");
            lines.push(d);
            return None;
        }
        None => {
            let d = Diagnostic::error(
                "parse/missing-command",
                &lines.loc(line, 1),
                "counters without a rule",
            )
            .with_help("write the rule after the counters, as in `[0:0] -A INPUT -j ACCEPT`");
            lines.push(d);
            return None;
        }
    }

    let mut opts = group(lines, line, tokens);

    // Take the command and `-c` out of the options; the rest belong to the rule. They are read
    // in place, then the taken ones removed from the same vector.
    let mut command: Option<(Kind, usize)> = None;
    let mut refused = false;
    // A `-c` or a second command was read (to be removed with the command).
    let mut others_taken = false;
    for (i, opt) in opts.iter().enumerate() {
        if is_counters_option(&opt.name.text) {
            read_counter_option(lines, line, opt, &mut counters);
            others_taken = true;
        } else if let Some(kind) = command_kind(&opt.name.text) {
            if opt.negated.is_negated() {
                let d = Diagnostic::error(
                    "parse/negated-command",
                    &lines.loc(line, opt.col),
                    format!("command `{}` cannot be negated", opt.name.text),
                )
                .with_help("remove the `!`");
                lines.push(d);
            }
            if command.is_some() {
                let d = Diagnostic::error(
                    "parse/multiple-commands",
                    &lines.loc(line, opt.col),
                    format!("second command `{}` on one line", opt.name.text),
                )
                .with_help("put each command on a line of its own");
                lines.push(d);
                others_taken = true;
            } else {
                command = Some((kind, i));
            }
        } else if let Some(what) = refused_command(&opt.name.text) {
            let d = Diagnostic::error(
                "parse/unsupported-command",
                &lines.loc(line, opt.col),
                format!(
                    "command `{}` ({what}) is not part of an iptables-save file",
                    opt.name.text
                ),
            )
            .with_help(
                "fwnet reads a complete ruleset as iptables-save writes it (-A, -I, -N, -P): \
                 edit the file into the final rules instead",
            );
            lines.push(d);
            refused = true;
        }
    }
    if refused {
        return None;
    }
    let Some((kind, at)) = command else {
        let col = opts
            .iter()
            .find(|o| !is_counters_option(&o.name.text))
            .map_or(1, |o| o.col);
        let d = Diagnostic::error(
            "parse/missing-command",
            &lines.loc(line, col),
            "rule line has no command",
        )
        .with_help("start the line with `-A CHAIN` (append) or `-I CHAIN` (insert)");
        lines.push(d);
        return None;
    };
    let cmd = opts.remove(at);
    let mut rest = opts;
    if others_taken {
        rest.retain(|o| !is_counters_option(&o.name.text) && command_kind(&o.name.text).is_none());
    }

    let mut args = cmd.args.into_iter();
    if kind == Kind::Flush {
        let chain = args.next();
        let extra_arg = args.next();
        if !only_command(lines, line, &cmd.name.text, extra_arg, &rest) {
            return None;
        }
        return Some(RuleLine::Flush {
            written: cmd.name.text.into(),
            chain: chain.map(|c| c.text.into()),
            col: cmd.col,
        });
    }
    let Some(chain) = args.next() else {
        let d = Diagnostic::error(
            "parse/missing-chain",
            &lines.loc(line, cmd.col),
            format!("`{}` needs a chain name", cmd.name.text),
        )
        .with_help(format!("write the chain name after `{}`", cmd.name.text));
        lines.push(d);
        return None;
    };
    let chain = chain.text;

    match kind {
        Kind::Append => {
            if let Some(extra) = args.next() {
                let mut d = Diagnostic::error(
                    "parse/unexpected-argument",
                    &lines.loc(line, extra.col),
                    format!(
                        "unexpected `{}` after `{} {chain}`",
                        extra.text, cmd.name.text
                    ),
                );
                if decimal_u64(&extra.text).is_some() {
                    d = d.with_help(format!(
                        "`{}` appends and takes no position: use `-I {chain} {}` to insert at a \
                         position",
                        cmd.name.text, extra.text
                    ));
                }
                lines.push(d);
                return None;
            }
            let rule = finish_rule(lines, line, chain, counters, rest);
            Some(RuleLine::Command(Command::Append(rule)))
        }
        Kind::Insert => {
            let mut index = None;
            if let Some(position) = args.next() {
                match position.text.parse::<u32>() {
                    Ok(n) if n >= 1 && position.text.bytes().all(|b| b.is_ascii_digit()) => {
                        index = Some(n)
                    }
                    _ => {
                        let d = Diagnostic::error(
                            "parse/bad-rule-index",
                            &lines.loc(line, position.col),
                            format!("`{}` is not a rule position", position.text),
                        )
                        .with_help("rule positions count from 1, as in `-I INPUT 1`");
                        lines.push(d);
                        return None;
                    }
                }
            }
            if let Some(extra) = args.next() {
                let d = Diagnostic::error(
                    "parse/unexpected-argument",
                    &lines.loc(line, extra.col),
                    format!(
                        "unexpected `{}` after `{} {chain}`",
                        extra.text, cmd.name.text
                    ),
                )
                .with_help("`-I` takes a chain and an optional position");
                lines.push(d);
                return None;
            }
            let rule = finish_rule(lines, line, chain, counters, rest);
            Some(RuleLine::Command(Command::Insert { index, rule }))
        }
        Kind::NewChain => {
            let extra_arg = args.next();
            if !only_command(lines, line, &cmd.name.text, extra_arg, &rest) {
                return None;
            }
            if counters.is_some() {
                let d = Diagnostic::error(
                    "parse/unexpected-counters",
                    &lines.loc(line, 1),
                    "a new chain has no counters",
                )
                .with_help("remove the counters from the `-N` line");
                lines.push(d);
            }
            Some(RuleLine::Command(Command::NewChain {
                name: chain.into(),
                loc: lines.loc(line, cmd.col),
            }))
        }
        // Handled before the chain is required.
        Kind::Flush => None,
        Kind::Policy => {
            let Some(policy) = args.next() else {
                let d = Diagnostic::error(
                    "parse/missing-policy",
                    &lines.loc(line, cmd.col),
                    format!("`{}` needs a chain and a policy", cmd.name.text),
                )
                .with_help(format!("write both, as in `{} INPUT DROP`", cmd.name.text));
                lines.push(d);
                return None;
            };
            let extra_arg = args.next();
            if !only_command(lines, line, &cmd.name.text, extra_arg, &rest) {
                return None;
            }
            Some(RuleLine::Command(Command::Policy {
                chain: chain.into(),
                policy: policy.text.into(),
                counters,
                loc: lines.loc(line, cmd.col),
            }))
        }
    }
}

/// `-N` and `-P` take no rule options; reports an extra argument or option. True when clean.
fn only_command(
    lines: &mut Lines<'_>,
    line: u32,
    command: &str,
    extra_arg: Option<Token>,
    rest: &[RawOpt],
) -> bool {
    if let Some(extra) = extra_arg {
        let d = Diagnostic::error(
            "parse/unexpected-argument",
            &lines.loc(line, extra.col),
            format!("unexpected `{}` after `{command}`", extra.text),
        );
        lines.push(d);
        return false;
    }
    if let Some(opt) = rest.first() {
        let d = Diagnostic::error(
            "parse/unexpected-option",
            &lines.loc(line, opt.col),
            format!(
                "`{command}` takes no rule options, found `{}`",
                opt.name.text
            ),
        )
        .with_help("put rule options on an `-A` line");
        lines.push(d);
        return false;
    }
    true
}

fn finish_rule(
    lines: &Lines<'_>,
    line: u32,
    chain: Word,
    counters: Option<Counters>,
    opts: Vec<RawOpt>,
) -> Rule {
    let opts = opts
        .into_iter()
        .map(|o| Opt {
            name: o.name.text,
            negated: o.negated,
            args: o.args.map(|a| a.text),
            loc: lines.loc(line, o.col),
        })
        .collect();
    Rule {
        chain,
        counters,
        opts,
        loc: lines.loc(line, 1),
    }
}

/// `-c packets bytes` (or `--set-counters`): stores the counters, reporting a malformed,
/// negated or second set.
fn read_counter_option(
    lines: &mut Lines<'_>,
    line: u32,
    opt: &RawOpt,
    counters: &mut Option<Counters>,
) {
    let name = &opt.name.text;
    if opt.negated.is_negated() {
        let d = Diagnostic::error(
            "parse/bad-counters",
            &lines.loc(line, opt.col),
            format!("`{name}` cannot be negated"),
        )
        .with_help("remove the `!`");
        lines.push(d);
        return;
    }
    let parsed = match opt.args.as_slice() {
        [p, b] => decimal_u64(&p.text)
            .zip(decimal_u64(&b.text))
            .map(|(packets, bytes)| Counters { packets, bytes }),
        _ => None,
    };
    let Some(parsed) = parsed else {
        let d = Diagnostic::error(
            "parse/bad-counters",
            &lines.loc(line, opt.col),
            format!("malformed `{name}`: expected two decimal numbers"),
        )
        .with_help(format!("write `{name} PACKETS BYTES`, as in `{name} 0 0`"));
        lines.push(d);
        return;
    };
    if counters.is_some() {
        let d = Diagnostic::error(
            "parse/duplicate-counters",
            &lines.loc(line, opt.col),
            "rule has counters twice",
        )
        .with_help("keep either the `[packets:bytes]` prefix or one `-c packets bytes`");
        lines.push(d);
        return;
    }
    *counters = Some(parsed);
}

/// The option grouper: `! --opt a b` and `--opt ! a b` become one option with its arguments.
/// The first token is an option or `!` (the caller checked).
fn group(
    lines: &mut Lines<'_>,
    line: u32,
    mut tokens: std::iter::Peekable<std::vec::IntoIter<Token>>,
) -> Vec<RawOpt> {
    let mut opts: Vec<RawOpt> = Vec::with_capacity(tokens.len());
    // Column of a `!` waiting for the option it negates.
    let mut pending_bang: Option<u32> = None;
    while let Some(token) = tokens.next() {
        if token.is_bang() {
            let next = tokens.peek();
            match next {
                None => {
                    let d = Diagnostic::error(
                        "parse/dangling-negation",
                        &lines.loc(line, token.col),
                        "`!` at the end of the line negates nothing",
                    )
                    .with_help("remove it, or put it before the option it negates");
                    lines.push(d);
                }
                Some(next) if next.is_bang() => {
                    let d = Diagnostic::error(
                        "parse/double-negation",
                        &lines.loc(line, next.col),
                        "`!` follows another `!`",
                    )
                    .with_help("negate an option once: remove one `!`");
                    lines.push(d);
                    // Reported once; the pair negates nothing.
                    tokens.next();
                }
                Some(next) if next.is_option() => pending_bang = Some(token.col),
                Some(next) => negate_after(lines, line, token.col, next, opts.last_mut()),
            }
        } else if token.is_option() {
            let (negated, col) = match pending_bang.take() {
                Some(bang) => (Negation::Before, bang),
                None => (Negation::None, token.col),
            };
            let (name, args) = split_equals(token);
            opts.push(RawOpt {
                name,
                negated,
                col,
                args,
                after_bang: None,
            });
        } else if let Some(opt) = opts.last_mut() {
            opt.args.push(token);
        } else {
            // Only after a `!` that was already reported as misplaced.
            let d = Diagnostic::error(
                "parse/unexpected-argument",
                &lines.loc(line, token.col),
                format!("`{}` does not follow an option", token.text),
            );
            lines.push(d);
        }
    }
    // The old form is reported once the option's arguments are known, to spell out the fix.
    for opt in &opts {
        if let Some(bang) = opt.after_bang {
            let args: String = opt.args.iter().map(|a| format!(" {}", a.text)).collect();
            let d = Diagnostic::warning(
                "parse/intrapositioned-negation",
                &lines.loc(line, bang),
                format!("`!` after `{}` is the old iptables 1.4 form", opt.name.text),
            )
            .with_help(format!("write `! {}{args}`", opt.name.text));
            lines.push(d);
        }
    }
    opts
}

/// A `!` followed by an argument: the iptables 1.4 form `--opt ! value` when it directly follows
/// an option name, an error anywhere else.
fn negate_after(
    lines: &mut Lines<'_>,
    line: u32,
    bang_col: u32,
    value: &Token,
    last: Option<&mut RawOpt>,
) {
    match last {
        Some(opt) if opt.args.is_empty() && opt.negated == Negation::None => {
            opt.negated = Negation::After;
            opt.after_bang = Some(bang_col);
        }
        Some(opt) if opt.args.is_empty() => {
            let d = Diagnostic::error(
                "parse/double-negation",
                &lines.loc(line, bang_col),
                format!("`{}` is negated twice", opt.name.text),
            )
            .with_help("negate an option once: remove one `!`");
            lines.push(d);
        }
        _ => {
            let d = Diagnostic::error(
                "parse/misplaced-negation",
                &lines.loc(line, bang_col),
                format!("`!` before `{}`, which is not an option", value.text),
            )
            .with_help("put `!` before the option it negates, as in `! -s 10.0.0.1`");
            lines.push(d);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The two-byte shortcut of `is_command_or_counters` says what the three lists say, for
    /// every `-` and ASCII character, and so does the rest for the long names and common options.
    #[test]
    fn commands_are_told_by_their_letter_as_by_their_lists() {
        let lists = |w: &str| {
            is_counters_option(w) || command_kind(w).is_some() || refused_command(w).is_some()
        };
        let mut commands = 0;
        for b in 0u8..128 {
            let w = format!("-{}", b as char);
            assert_eq!(is_command_or_counters(&w), lists(&w), "{w:?}");
            commands += usize::from(lists(&w));
        }
        assert_eq!(commands, 14, "-A -I -N -P -F, -D -R -X -Z -E -L -S -C, -c");
        for w in [
            "--append",
            "--insert",
            "--new-chain",
            "--policy",
            "--flush",
            "--delete",
            "--replace",
            "--delete-chain",
            "--zero",
            "--rename-chain",
            "--list",
            "--list-rules",
            "--check",
            "--set-counters",
            "--dport",
            "--state",
            "--to-ports",
            "--log-prefix",
            "-",
            "--",
            "---",
        ] {
            assert_eq!(is_command_or_counters(w), lists(w), "{w:?}");
        }
    }

    /// The other half of the check in the parser's tests (which compare what is read with the
    /// general reader's reading): common lines are taken here, the others left.
    #[test]
    fn the_one_pass_reader_takes_common_lines_and_leaves_the_rest() {
        let lines = Lines::new("t.rules");
        for (text, taken) in [
            (
                "-A INPUT -s 10.0.0.1/32 -p tcp -m tcp --dport 22 -j ACCEPT",
                true,
            ),
            ("[12:345] -A INPUT -j DROP", true),
            ("\t-A  INPUT\t! -i lo -j ACCEPT ", true),
            ("--append FWD -m multiport --dports 1,2 -j RETURN", true),
            ("-A INPUT -m comment --comment \"a b\" -j ACCEPT", false),
            ("-A INPUT --dport=22 -j ACCEPT", false),
            ("-A INPUT -i ! eth0 -j ACCEPT", false),
            ("-A INPUT ! ! -s 1.2.3.4 -j ACCEPT", false),
            ("-A INPUT -j ACCEPT !", false),
            ("-I INPUT 1 -j ACCEPT", false),
            ("-A INPUT extra -j ACCEPT", false),
            ("-A -j ACCEPT", false),
            ("-A INPUT -c 1 2 -j ACCEPT", false),
            ("-A INPUT -A OUTPUT", false),
            ("-A INPUT -D INPUT", false),
            ("[1:x] -A INPUT", false),
            ("-A INPUT -m comment --comment é", false),
            ("-N X", false),
        ] {
            assert_eq!(simple_append(&lines, 1, text).is_some(), taken, "{text}");
        }
        let (col, rule) =
            simple_append(&lines, 7, "  [1:2] -A IN ! -s 1.2.3.4 -m a b c").expect("a common line");
        assert_eq!(col, 3);
        assert_eq!(rule.chain, "IN");
        assert_eq!(
            rule.counters,
            Some(Counters {
                packets: 1,
                bytes: 2
            })
        );
        assert_eq!((rule.loc.line, rule.loc.column), (7, 1));
        let read: Vec<(&str, Negation, Vec<&str>, u32)> = rule
            .opts
            .iter()
            .map(|o| {
                let args = o.args.iter().map(|a| a.as_str()).collect();
                (o.name.as_str(), o.negated, args, o.loc.column)
            })
            .collect();
        assert_eq!(
            read,
            vec![
                ("-s", Negation::Before, vec!["1.2.3.4"], 15),
                ("-m", Negation::None, vec!["a", "b", "c"], 28),
            ]
        );
    }
}
