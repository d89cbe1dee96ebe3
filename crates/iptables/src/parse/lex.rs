//! Tokens of one line: whitespace-separated words, with quoting, and `[packets:bytes]` counters.
//!
//! A token is a run of plain characters and quoted strings glued together (`a"b c"d` is one
//! token `ab cd`). Inside `"..."` or `'...'`, a backslash escapes the closing quote and itself
//! (`\"`, `\'`, `\\`); any other backslash is kept as written. This module does not decide what
//! a token means (option, argument, negation): the option grouper in `rule.rs` does.

use crate::ast::Counters;
use nom::branch::alt;
use nom::bytes::complete::{tag, take_while1};
use nom::character::complete::{char, one_of, satisfy, space0, u64 as dec_u64};
use nom::combinator::{all_consuming, recognize};
use nom::multi::{fold_many0, fold_many1};
use nom::sequence::{delimited, preceded, separated_pair};
use nom::IResult;
use std::borrow::Cow;

/// One word of a line, with its quotes removed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct Token {
    pub text: String,
    /// 1-based character column of the token's first character in the line.
    pub col: u32,
    /// Any part of the token was quoted: it is then always an argument, never an option or `!`.
    pub quoted: bool,
}

impl Token {
    /// A bare `!`.
    pub fn is_bang(&self) -> bool {
        !self.quoted && self.text == "!"
    }

    /// A bare word starting with `-` that is not just a negative number (`-1` is an argument).
    pub fn is_option(&self) -> bool {
        match self.text.strip_prefix('-') {
            Some(rest) if !self.quoted => {
                !rest.is_empty() && !rest.bytes().all(|b| b.is_ascii_digit())
            }
            _ => false,
        }
    }
}

/// The tokens of `line`, and the 1-based column of an opening quote that is never closed (the
/// tokens before it are still returned).
pub(super) fn tokenize(line: &str) -> (Vec<Token>, Option<u32>) {
    let columns = Columns::new(line);
    let mut tokens = Vec::with_capacity(16);
    let mut rest = line;
    // `space0` cannot fail on complete input.
    while let Ok((after_space, _)) = space0::<_, nom::error::Error<&str>>(rest) {
        if after_space.is_empty() {
            break;
        }
        let start = line.len() - after_space.len();
        match token(after_space) {
            Ok((after_token, (text, quoted))) => {
                tokens.push(Token {
                    text,
                    col: columns.at(start),
                    quoted,
                });
                rest = after_token;
            }
            // `quoted` fails with the input at its opening quote; nothing else can fail here
            // (a non-empty input starting with a non-blank always yields a plain or quoted
            // piece), but should it, the column of the token is the best place to point at.
            Err(nom::Err::Failure(e)) | Err(nom::Err::Error(e)) => {
                let at = line.len() - e.input.len();
                return (tokens, Some(columns.at(at)));
            }
            Err(nom::Err::Incomplete(_)) => return (tokens, Some(columns.at(start))),
        }
    }
    (tokens, None)
}

/// One token: plain and quoted pieces glued together; the flag says whether any was quoted.
fn token(input: &str) -> IResult<&str, (String, bool)> {
    // Nearly every token is one plain piece: take it without gluing.
    if let Ok((rest, (piece, _))) = plain(input) {
        if !rest.starts_with(['"', '\'']) {
            return Ok((rest, (piece.into_owned(), false)));
        }
    }
    fold_many1(
        alt((plain, quoted)),
        || (String::new(), false),
        |(mut text, was_quoted), (piece, is_quoted): (Cow<'_, str>, bool)| {
            text.push_str(&piece);
            (text, was_quoted || is_quoted)
        },
    )(input)
}

fn plain(input: &str) -> IResult<&str, (Cow<'_, str>, bool)> {
    let (rest, text) = take_while1(|c| !matches!(c, ' ' | '\t' | '"' | '\''))(input)?;
    Ok((rest, (Cow::Borrowed(text), false)))
}

/// `"..."` or `'...'`. A missing closing quote is a `Failure` whose input starts at the opening
/// quote, so the caller can point at it.
fn quoted(input: &str) -> IResult<&str, (Cow<'_, str>, bool)> {
    let (body, quote) = one_of("\"'")(input)?;
    let (after_body, text) = fold_many0(
        alt((
            // `\"` (or `\'`) and `\\`: the escaped character.
            preceded(
                char('\\'),
                recognize(satisfy(move |c| c == quote || c == '\\')),
            ),
            take_while1(move |c| c != quote && c != '\\'),
            // Any other backslash is an ordinary character.
            tag("\\"),
        )),
        String::new,
        |mut text, piece: &str| {
            text.push_str(piece);
            text
        },
    )(body)?;
    match char::<_, nom::error::Error<&str>>(quote)(after_body) {
        Ok((rest, _)) => Ok((rest, (Cow::Owned(text), true))),
        Err(_) => Err(nom::Err::Failure(nom::error::Error::new(
            input,
            nom::error::ErrorKind::Char,
        ))),
    }
}

/// `[packets:bytes]` with decimal numbers that fit in 64 bits, and nothing else.
pub(super) fn bracket_counters(text: &str) -> Option<Counters> {
    let parsed: IResult<&str, (u64, u64)> = all_consuming(delimited(
        char('['),
        separated_pair(dec_u64, char(':'), dec_u64),
        char(']'),
    ))(text);
    parsed
        .ok()
        .map(|(_, (packets, bytes))| Counters { packets, bytes })
}

/// A decimal `u64` and nothing else (the arguments of `-c packets bytes`).
pub(super) fn decimal_u64(text: &str) -> Option<u64> {
    let parsed: IResult<&str, u64> = all_consuming(dec_u64)(text);
    parsed.ok().map(|(_, n)| n)
}

/// Byte offsets to 1-based character columns, without rescanning ASCII lines.
pub(super) struct Columns<'a> {
    line: &'a str,
    ascii: bool,
}

impl<'a> Columns<'a> {
    pub fn new(line: &'a str) -> Self {
        Columns {
            line,
            ascii: line.is_ascii(),
        }
    }

    /// Column of the character starting at byte `offset` (one past the end for `line.len()`).
    pub fn at(&self, offset: usize) -> u32 {
        let chars = if self.ascii {
            offset
        } else {
            self.line
                .get(..offset)
                .map_or(offset, |s| s.chars().count())
        };
        u32::try_from(chars + 1).unwrap_or(u32::MAX)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(line: &str) -> Vec<(String, u32, bool)> {
        let (tokens, bad) = tokenize(line);
        assert_eq!(bad, None, "unexpected unterminated quote in {line:?}");
        tokens
            .into_iter()
            .map(|t| (t.text, t.col, t.quoted))
            .collect()
    }

    #[test]
    fn tabs_and_runs_of_spaces_separate_tokens() {
        assert_eq!(
            words("\t-A  INPUT\t\t-j ACCEPT "),
            vec![
                ("-A".into(), 2, false),
                ("INPUT".into(), 6, false),
                ("-j".into(), 13, false),
                ("ACCEPT".into(), 16, false),
            ]
        );
    }

    #[test]
    fn quotes_are_removed_and_escapes_resolved() {
        assert_eq!(
            words(r#"--comment "a \"b\" \\ \n" 'it''s' x"y z"w"#),
            vec![
                ("--comment".into(), 1, false),
                (r#"a "b" \ \n"#.into(), 11, true),
                ("its".into(), 27, true),
                ("xy zw".into(), 35, true),
            ]
        );
    }

    #[test]
    fn empty_quotes_make_an_empty_argument() {
        assert_eq!(
            words(r#"-x """#),
            vec![("-x".into(), 1, false), ("".into(), 4, true)]
        );
    }

    #[test]
    fn columns_count_characters_not_bytes() {
        assert_eq!(words("--comment é -j")[2], ("-j".into(), 13, false));
    }

    #[test]
    fn unterminated_quote_points_at_the_opening_quote() {
        let (tokens, bad) = tokenize(r#"-j LOG --log-prefix "oops \"x"#);
        assert_eq!(tokens.len(), 3);
        assert_eq!(bad, Some(21));
    }

    #[test]
    fn options_negations_and_negative_numbers() {
        let t = |text: &str, quoted| Token {
            text: text.into(),
            col: 1,
            quoted,
        };
        assert!(t("-s", false).is_option());
        assert!(t("--dport", false).is_option());
        assert!(!t("-5", false).is_option());
        assert!(!t("-", false).is_option());
        assert!(!t("--x", true).is_option());
        assert!(t("!", false).is_bang());
        assert!(!t("!", true).is_bang());
    }

    #[test]
    fn counters_are_decimal_u64() {
        assert_eq!(
            bracket_counters("[12:3400]"),
            Some(Counters {
                packets: 12,
                bytes: 3400
            })
        );
        assert_eq!(bracket_counters("[1:2"), None);
        assert_eq!(bracket_counters("[0x1:2]"), None);
        assert_eq!(bracket_counters("[-1:2]"), None);
        assert_eq!(bracket_counters("[18446744073709551616:0]"), None);
        assert_eq!(decimal_u64("18446744073709551615"), Some(u64::MAX));
        assert_eq!(decimal_u64("+1"), None);
    }
}
