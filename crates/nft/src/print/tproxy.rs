//! nft 1.0.6 text of the `tproxy` statement: `tproxy to 1.2.3.4:8080`, `tproxy to :53`,
//! `tproxy to [2001:db8::1]:3128`, and in a chain of a merged inet table `tproxy ip to ...`.
//!
//! It does not check that the address is of the chain's family; the translation does.

use crate::ir::{Family, Tproxy};
use std::net::IpAddr;

/// `family` is the chain's in an inet table made by [`crate::inet`], `None` elsewhere.
pub(super) fn tproxy(t: &Tproxy, family: Option<Family>) -> String {
    let mut text = "tproxy".to_string();
    match family {
        Some(Family::Ip) => text.push_str(" ip"),
        Some(Family::Ip6) => text.push_str(" ip6"),
        _ => {}
    }
    text.push_str(" to ");
    match t.addr {
        Some(IpAddr::V6(a)) if t.port.is_some() => text.push_str(&format!("[{a}]")),
        Some(a) => text.push_str(&a.to_string()),
        None => {}
    }
    if let Some(p) = t.port {
        text.push_str(&format!(":{p}"));
    }
    text
}
