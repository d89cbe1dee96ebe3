//! `-m comment --comment TEXT`: the nft rule's comment.
//!
//! nft 1.0.6 limits a comment to 128 bytes and has no escape for `"`. Neither changes what the
//! rule does, so fwnet shortens the comment (at a character boundary) and turns `"` into `'`,
//! each time with a warning naming the change. Several comment matches are joined with "; ".

use crate::rule::Cx;
use fwnet_iptables::diag::Loc;
use fwnet_iptables::Opt;

pub(crate) const OPTIONS: &[&[&str]] = &[&["--comment"]];

/// nft's NFTNL_UDATA_COMMENT_MAXLEN.
const NFT_MAX_BYTES: usize = 128;
/// xt_comment's XT_MAX_COMMENT_LEN, less the terminating NUL.
const IPT_MAX_BYTES: usize = 255;

pub(crate) fn translate(opts: &[&Opt], _loc: &Loc, cx: &mut Cx) -> Vec<(String, Loc)> {
    let mut out = Vec::new();
    for opt in opts {
        if !cx.not_negated(opt) {
            continue;
        }
        let Some(text) = cx.one_arg(opt) else {
            continue;
        };
        if text.len() > IPT_MAX_BYTES {
            cx.bad_value(opt, text, "iptables comments are at most 255 bytes");
            continue;
        }
        out.push((text.to_string(), opt.loc.clone()));
    }
    out
}

/// The rule's comment from all its comment matches, made fit for nft.
/// Warnings point at the first `--comment`.
pub(crate) fn join(comments: Vec<(String, Loc)>, cx: &mut Cx) -> Option<String> {
    let loc = comments.first()?.1.clone();
    let loc = &loc;
    let texts: Vec<&str> = comments.iter().map(|(t, _)| t.as_str()).collect();
    let mut text = texts.join("; ");
    if comments.len() > 1 {
        cx.warn(
            "translate/comment-changed",
            loc,
            format!(
                "{} comment matches are joined into one nft comment",
                comments.len()
            ),
            "nft rules have one comment; merge them to silence this",
        );
    }
    if text.contains('"') || text.contains(|c: char| c.is_control()) {
        text = text
            .chars()
            .map(|c| match c {
                '"' => '\'',
                c if c.is_control() => ' ',
                c => c,
            })
            .collect();
        cx.warn(
            "translate/comment-changed",
            loc,
            "`\"` in a comment is written as `'` (nft strings cannot contain `\"`)",
            "use single quotes in the comment to silence this",
        );
    }
    if text.len() > NFT_MAX_BYTES {
        let mut end = NFT_MAX_BYTES;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        text.truncate(end);
        cx.warn(
            "translate/comment-changed",
            loc,
            format!("comment shortened to nft's limit of {NFT_MAX_BYTES} bytes: \"{text}\""),
            "shorten the comment to silence this",
        );
    }
    Some(text)
}
