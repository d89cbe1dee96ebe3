//! Tokens of one line: whitespace-separated words, with quoting, and `[packets:bytes]` counters.
//!
//! Quoting follows legacy iptables-restore, measured with 1.8.9: a token is a run of plain
//! characters, optionally followed by one double-quoted string, and the closing quote ends the
//! token (`a"b c"d` is the two tokens `ab c` and `d`; `"GIT SSH"-j` is `GIT SSH` and `-j`).
//! Inside the quotes a backslash takes the next character as it is (`\"` is `"`, `\q` is `q`);
//! outside them it is an ordinary character, and so is the single quote (`'ab'` keeps its
//! quotes). This module does not decide what a token means (option, argument, negation): the
//! option grouper in `rule.rs` does.

use crate::ast::{Counters, Word};
use nom::branch::alt;
use nom::bytes::complete::take_while1;
use nom::character::complete::{anychar, char, u64 as dec_u64};
use nom::combinator::{all_consuming, opt, recognize};
use nom::multi::fold_many0;
use nom::sequence::{delimited, preceded, separated_pair};
use nom::IResult;

/// One word of a line, with its quotes removed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct Token {
    pub text: Word,
    /// 1-based character column of the token's first character in the line.
    pub col: u32,
    /// The token starts with a quote: it is then always an argument, never an option or `!`.
    pub quoted: bool,
}

impl Token {
    /// A bare `!`.
    pub fn is_bang(&self) -> bool {
        !self.quoted && self.text == "!"
    }

    /// A bare word starting with `-` that is not just a negative number (`-1` is an argument).
    pub fn is_option(&self) -> bool {
        !self.quoted && is_option_word(&self.text)
    }
}

/// A word starting with `-` that is not just a negative number (`-1` is an argument), when it
/// is not quoted.
pub(super) fn is_option_word(text: &str) -> bool {
    match text.strip_prefix('-') {
        Some(rest) => !rest.is_empty() && !rest.bytes().all(|b| b.is_ascii_digit()),
        None => false,
    }
}

/// The tokens of `line`, and the 1-based column of an opening quote that is never closed (the
/// tokens before it are still returned).
pub(super) fn tokenize(line: &str) -> (Vec<Token>, Option<u32>) {
    let columns = Columns::new(line);
    let mut tokens = Vec::with_capacity(16);
    let mut rest = line;
    loop {
        // Blanks are ASCII: skipping bytes stops on a character boundary, without decoding.
        let blanks = rest
            .bytes()
            .take_while(|b| matches!(b, b' ' | b'\t'))
            .count();
        let after_space = &rest[blanks..];
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

/// One token: plain characters, then possibly one quoted string, whose closing quote ends the
/// token. The flag says whether the token starts with the quote (`"-x"` is an argument, while
/// `--log-prefix="a b"` is still an option).
fn token(input: &str) -> IResult<&str, (Word, bool)> {
    let (rest, head) = opt(plain)(input)?;
    if !rest.starts_with('"') {
        // `tokenize` only calls this on a non-blank, so a token without a quote has a plain part.
        return Ok((rest, (Word::new(head.unwrap_or_default()), false)));
    }
    let (rest, body) = quoted(rest)?;
    let mut text = String::with_capacity(head.map_or(0, str::len) + body.len());
    text.push_str(head.unwrap_or_default());
    text.push_str(&body);
    Ok((rest, (Word::from(text), head.is_none())))
}

/// Plain characters up to a blank or a quote. The three are ASCII, so a scan of the bytes
/// stops on a character boundary; it is a third of the tokenizer's cost less than a scan by
/// characters (measured on a 10k-line import).
fn plain(input: &str) -> IResult<&str, &str> {
    let end = input
        .bytes()
        .position(|b| matches!(b, b' ' | b'\t' | b'"'))
        .unwrap_or(input.len());
    if end == 0 {
        return Err(nom::Err::Error(nom::error::Error::new(
            input,
            nom::error::ErrorKind::TakeWhile1,
        )));
    }
    let (text, rest) = input.split_at(end);
    Ok((rest, text))
}

/// `"..."`, where a backslash takes the next character as it is. A missing closing quote is a
/// `Failure` whose input starts at the opening quote, so the caller can point at it.
fn quoted(input: &str) -> IResult<&str, String> {
    let (body, _) = char('"')(input)?;
    let (after_body, text) = fold_many0(
        alt((
            preceded(char('\\'), recognize(anychar)),
            take_while1(|c| c != '"' && c != '\\'),
        )),
        String::new,
        |mut text, piece: &str| {
            text.push_str(piece);
            text
        },
    )(body)?;
    match char::<_, nom::error::Error<&str>>('"')(after_body) {
        Ok((rest, _)) => Ok((rest, text)),
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
            .map(|t| (t.text.into(), t.col, t.quoted))
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
            words(r#"--comment "a \"b\" \\ \q" 'it''s' x"y z"w a\b"#),
            vec![
                ("--comment".into(), 1, false),
                (r#"a "b" \ q"#.into(), 11, true),
                ("'it''s'".into(), 27, false),
                ("xy z".into(), 35, false),
                ("w".into(), 41, false),
                (r"a\b".into(), 43, false),
            ]
        );
    }

    #[test]
    fn a_closing_quote_ends_the_token() {
        assert_eq!(
            words(r#"--comment "GIT SSH Server"-j LOGACCEPT"#),
            vec![
                ("--comment".into(), 1, false),
                ("GIT SSH Server".into(), 11, true),
                ("-j".into(), 27, false),
                ("LOGACCEPT".into(), 30, false),
            ]
        );
        assert_eq!(
            words(r#""x""y""#),
            vec![("x".into(), 1, true), ("y".into(), 4, true)]
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
