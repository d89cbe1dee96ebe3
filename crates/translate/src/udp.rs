//! `-m udp` (also loaded implicitly by `-p udp`): `--sport` and `--dport`, ports or ranges.

use crate::rule::Cx;
use crate::tcp::port_match;
use fwnet_iptables::diag::Loc;
use fwnet_iptables::Opt;
use fwnet_nft::{Field, Stmt};

pub(crate) const OPTIONS: &[&[&str]] = &[
    &["--sport", "--source-port"],
    &["--dport", "--destination-port"],
];

pub(crate) fn translate(opts: &[&Opt], loc: &Loc, cx: &mut Cx) -> Vec<Stmt> {
    if cx.require_protocol("the udp match", loc, &[17]).is_none() {
        return Vec::new();
    }
    if opts.is_empty() {
        return vec![crate::fragments::transport_placeholder(Field::UdpSport)];
    }
    opts.iter()
        .filter_map(|opt| {
            let field = match opt.name.as_str() {
                "--sport" | "--source-port" => Field::UdpSport,
                _ => Field::UdpDport,
            };
            port_match(opt, field, cx)
        })
        .collect()
}
