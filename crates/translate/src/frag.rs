//! `-m frag` (ip6tables only): `--fragid`, `--fragres`, `--fragfirst`, `--fragmore`,
//! `--fraglast` to nft `frag id`, `frag reserved 0 frag reserved2 0`, `frag frag-off 0` and
//! `frag more-fragments 1` / `0`; a match with no test left is `exthdr frag exists`.
//!
//! Exactness. xt_frag finds the fragment header with `ipv6_find_hdr`, as nft's `exthdr` does;
//! without one every test fails, `! --fragid` included, in both. `--fragres` passes when the
//! reserved byte and the two reserved bits are all zero (the reference translator prints
//! `frag reserved 1`, the opposite). `--fraglen` is stored but never read by the kernel (the
//! match needs the header and nothing else), so it is dropped with a warning; the reference
//! translator drops the whole match with it and then matches unfragmented packets too. On
//! malformed packets xt_frag drops a packet whose fragment header is cut short after the
//! offset field, where nft tests the fields that are there; as for `-m rt` (see `rt.rs`),
//! fwnet accepts that. `test_data/kernel-check/exthdr.py` checks well-formed fragment headers
//! against the legacy kernel.

use crate::rt::{byte_field, present, u32_range};
use crate::rule::Cx;
use fwnet_iptables::diag::Loc;
use fwnet_iptables::Opt;
use fwnet_nft::{CmpOp, Expr, Exthdr, ExthdrField, Ipv6Ext, Match, Stmt, Value};

pub(crate) const OPTIONS: &[&[&str]] = &[
    &["--fragid"],
    &["--fraglen"],
    &["--fragres"],
    &["--fragfirst"],
    &["--fragmore"],
    &["--fraglast"],
];

pub(crate) fn translate(opts: &[&Opt], loc: &Loc, cx: &mut Cx) -> Vec<Stmt> {
    let mut out = Vec::new();
    let flag = |field, n| {
        Stmt::Match(Match::Cmp {
            left: Expr::Exthdr(Exthdr::Field(field)),
            op: CmpOp::Eq,
            right: Value::Num(n),
        })
    };
    for opt in opts {
        match opt.name.as_str() {
            "--fragid" => {
                let Some(arg) = cx.one_arg(opt) else {
                    continue;
                };
                let Some((lo, hi)) = u32_range(arg) else {
                    cx.bad_value(
                        opt,
                        arg,
                        "a fragment id is a number from 0 to 4294967295, or MIN:MAX",
                    );
                    continue;
                };
                out.extend(byte_field(opt, ExthdrField::FragId, lo, hi, cx));
            }
            "--fraglen" => cx.warn(
                "translate/ignored-option",
                &opt.loc,
                "`--fraglen` is ignored by the kernel (xt_frag never reads it), so it is dropped",
                "remove it; the match still needs a fragment header",
            ),
            name => {
                if !cx.no_arg(opt) || !cx.not_negated(opt) {
                    continue;
                }
                match name {
                    "--fragres" => {
                        out.push(flag(ExthdrField::FragReserved, 0));
                        out.push(flag(ExthdrField::FragReserved2, 0));
                    }
                    "--fragfirst" => out.push(flag(ExthdrField::FragOff, 0)),
                    "--fragmore" => out.push(flag(ExthdrField::FragMoreFragments, 1)),
                    _ => out.push(flag(ExthdrField::FragMoreFragments, 0)),
                }
            }
        }
    }
    let has = |name: &str| opts.iter().any(|o| o.name == name);
    if has("--fragmore") && has("--fraglast") {
        cx.error(
            "translate/never-matches",
            loc,
            "`--fragmore` and `--fraglast` together match no packet: the M flag is either set or not",
            "keep one of them, or delete the rule",
        );
    }
    if out.is_empty() && !cx.has_errors() {
        out.push(present(Ipv6Ext::Frag));
    }
    out
}
