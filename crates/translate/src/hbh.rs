//! `-m hbh` and `-m dst` (ip6tables only, both xt_hbh in the kernel): `--hbh-len` /
//! `--dst-len` to nft `hbh hdrlength` / `dst hdrlength`, a bare match to `exthdr hbh exists` /
//! `exthdr dst exists`.
//!
//! Exactness is as for `-m rt` (see `rt.rs`): the header search is the same `ipv6_find_hdr`
//! in both kernels' code, an absent header fails every test including `!`, and the length is
//! the header's total bytes, `(hdrlength + 1) * 8` (the reference translator compares the raw
//! field with the byte count). The same malformed-packet differences remain: a header whose
//! length field runs past the packet's end, or a chain cut short, makes the xt match drop the
//! packet (checked on kernel 6.18 by `test_data/kernel-check/exthdr.py`), where nft's rule tests
//! the fields as usual or ends.
//!
//! `--hbh-opts` / `--dst-opts` walk the options inside the header, which nft cannot express,
//! and are refused.

use crate::rt::{byte_field, present, total_length};
use crate::rule::Cx;
use fwnet_iptables::diag::Loc;
use fwnet_iptables::Opt;
use fwnet_nft::{ExthdrField, Ipv6Ext, Stmt};

pub(crate) const HBH_OPTIONS: &[&[&str]] = &[&["--hbh-len"], &["--hbh-opts"]];
pub(crate) const DST_OPTIONS: &[&[&str]] = &[&["--dst-len"], &["--dst-opts"]];

/// `hdr` is which match: [`Ipv6Ext::Hbh`] or [`Ipv6Ext::Dst`].
pub(crate) fn translate(opts: &[&Opt], _loc: &Loc, hdr: Ipv6Ext, cx: &mut Cx) -> Vec<Stmt> {
    let field = if hdr == Ipv6Ext::Dst {
        ExthdrField::DstHdrlength
    } else {
        ExthdrField::HbhHdrlength
    };
    let mut out = Vec::new();
    for opt in opts {
        if opt.name.ends_with("-opts") {
            cx.unsupported_option(
                opt,
                "it tests the type and length of each option inside the header, which no nft expression can walk; remove the option or the rule",
            );
            continue;
        }
        let Some(arg) = cx.one_arg(opt) else {
            continue;
        };
        let Some((lo, hi)) = total_length(arg) else {
            cx.bad_value(
                opt,
                arg,
                "a header length is a number of bytes from 8 to 2048",
            );
            continue;
        };
        out.extend(byte_field(opt, field, lo, hi, cx));
    }
    if out.is_empty() && !cx.has_errors() {
        out.push(present(hdr));
    }
    out
}
