//! `log` (net/netfilter/nft_log.c): NFTA_LOG_PREFIX string, NFTA_LOG_GROUP be16,
//! NFTA_LOG_SNAPLEN be32, NFTA_LOG_QTHRESHOLD be16 (the nfnetlink_log group's copy length and
//! batch size), NFTA_LOG_LEVEL be32, NFTA_LOG_FLAGS be32 (NF_LOG_*), each only when set, in
//! the order nft 1.0.6 sends them.
//!
//! This module does not check which attributes the kernel allows together.

use super::{attrs_of, Expr};
use crate::attr;
use crate::consts::*;
use std::fmt;

pub(super) fn put(
    out: &mut Vec<u8>,
    prefix: Option<&str>,
    level: Option<u32>,
    flags: Option<u32>,
    (group, snaplen, qthreshold): Group,
) {
    if let Some(p) = prefix {
        attr::put_str(out, NFTA_LOG_PREFIX, p);
    }
    if let Some(g) = group {
        attr::put_be16(out, NFTA_LOG_GROUP, g);
    }
    if let Some(s) = snaplen {
        attr::put_be32(out, NFTA_LOG_SNAPLEN, s);
    }
    if let Some(q) = qthreshold {
        attr::put_be16(out, NFTA_LOG_QTHRESHOLD, q);
    }
    if let Some(l) = level {
        attr::put_be32(out, NFTA_LOG_LEVEL, l);
    }
    if let Some(fl) = flags {
        attr::put_be32(out, NFTA_LOG_FLAGS, fl);
    }
}

pub(super) fn read(data: &[u8]) -> Option<Expr> {
    let (mut prefix, mut level, mut flags, mut group) = (None, None, None, None);
    let (mut snaplen, mut qthreshold) = (None, None);
    for a in attrs_of(data)? {
        match a.kind() {
            NFTA_LOG_PREFIX => prefix = Some(a.str("NFTA_LOG_PREFIX").ok()?),
            NFTA_LOG_GROUP => group = Some(a.be16("NFTA_LOG_GROUP").ok()?),
            NFTA_LOG_LEVEL => level = Some(a.be32("NFTA_LOG_LEVEL").ok()?),
            NFTA_LOG_FLAGS => flags = Some(a.be32("NFTA_LOG_FLAGS").ok()?),
            NFTA_LOG_SNAPLEN => snaplen = Some(a.be32("NFTA_LOG_SNAPLEN").ok()?),
            NFTA_LOG_QTHRESHOLD => qthreshold = Some(a.be16("NFTA_LOG_QTHRESHOLD").ok()?),
            _ => return None,
        }
    }
    Some(Expr::Log {
        prefix,
        level,
        flags,
        group,
        snaplen,
        qthreshold,
    })
}

/// NFTA_LOG_GROUP, NFTA_LOG_SNAPLEN, NFTA_LOG_QTHRESHOLD.
pub(super) type Group = (Option<u16>, Option<u32>, Option<u16>);

pub(super) fn fmt(
    f: &mut fmt::Formatter<'_>,
    prefix: Option<&str>,
    level: Option<u32>,
    flags: Option<u32>,
    (group, snaplen, qthreshold): Group,
) -> fmt::Result {
    if let Some(p) = prefix {
        write!(f, "prefix {p} ")?;
    }
    if let Some(g) = group {
        return write!(
            f,
            "group {g} snaplen {} qthreshold {} ",
            snaplen.unwrap_or(0),
            qthreshold.unwrap_or(0)
        );
    }
    if let Some(l) = level {
        write!(f, "level {l} ")?;
    }
    let flags = flags.unwrap_or(0);
    for (bit, name) in [
        (NF_LOG_TCPSEQ, "tcpseq"),
        (NF_LOG_TCPOPT, "tcpopt"),
        (NF_LOG_IPOPT, "ipopt"),
        (NF_LOG_UID, "uid"),
        (NF_LOG_MACDECODE, "macdecode"),
    ] {
        if flags & bit != 0 {
            write!(f, "{name} ")?;
        }
    }
    Ok(())
}
