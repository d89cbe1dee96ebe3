//! nft syntax for conntrack helper objects: `ct helper NAME { type "ftp" protocol tcp; l3proto
//! ip; }`, one line inside its table, before the chains. nft 1.0.6 lists the same object over
//! three lines; both load alike. The object's name must be an nft identifier (nft 1.0.6 does
//! not accept a quoted one); the translator only makes such names.
//!
//! This module does not validate the IR and never fails.

use crate::ir::*;

pub(super) fn object(out: &mut String, h: &CtHelper) {
    let protocol = match h.protocol {
        HelperProto::Tcp => "tcp",
        HelperProto::Udp => "udp",
    };
    let l3proto = match h.l3proto {
        Family::Ip => "ip",
        Family::Ip6 => "ip6",
        Family::Inet => "inet",
    };
    out.push_str(&format!(
        "\tct helper {} {{ type \"{}\" protocol {protocol}; l3proto {l3proto}; }}\n",
        h.name, h.helper
    ));
}
