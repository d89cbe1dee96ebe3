//! nft syntax for `exthdr` expressions: `rt type`, `rt seg-left`, `hbh hdrlength`,
//! `exthdr rt` (compared with `exists` / `missing`), `tcp option N`, `tcp option maxseg size` and
//! its write `tcp option maxseg size set 1400` / `set rt mtu`. Same contract as the
//! rest of [`crate::print`]: the text nft 1.0.6 loads and linearizes to what [`crate::lower`]
//! produces.
//!
//! This module does not validate the IR and never fails.

use crate::ir::*;
use std::borrow::Cow;

pub(super) fn exthdr(x: Exthdr) -> Cow<'static, str> {
    match x {
        Exthdr::Field(f) => Cow::Borrowed(match f {
            ExthdrField::HbhHdrlength => "hbh hdrlength",
            ExthdrField::RtHdrlength => "rt hdrlength",
            ExthdrField::RtType => "rt type",
            ExthdrField::RtSegLeft => "rt seg-left",
            ExthdrField::DstHdrlength => "dst hdrlength",
            ExthdrField::FragReserved => "frag reserved",
            ExthdrField::FragReserved2 => "frag reserved2",
            ExthdrField::FragOff => "frag frag-off",
            ExthdrField::FragMoreFragments => "frag more-fragments",
            ExthdrField::FragId => "frag id",
        }),
        Exthdr::Present(hdr) => Cow::Borrowed(match hdr {
            Ipv6Ext::Hbh => "exthdr hbh",
            Ipv6Ext::Rt => "exthdr rt",
            Ipv6Ext::Frag => "exthdr frag",
            Ipv6Ext::Dst => "exthdr dst",
        }),
        Exthdr::TcpOption(kind) => Cow::Owned(format!("tcp option {kind}")),
        Exthdr::MaxsegSize => Cow::Borrowed("tcp option maxseg size"),
    }
}

/// `exists` for 1, `missing` for 0: nft's boolean symbols.
pub(super) const BOOLEANS: &[(u64, &str)] = &[(0, "missing"), (1, "exists")];

/// `tcp option maxseg size set 1400` / `tcp option maxseg size set rt mtu`.
pub(super) fn maxseg_set(m: Maxseg) -> String {
    match m {
        Maxseg::Size(n) => format!("tcp option maxseg size set {n}"),
        Maxseg::RtMtu => "tcp option maxseg size set rt mtu".to_string(),
    }
}
