//! `nft_data` nests: `NFTA_DATA_VALUE` (raw bytes, no byte-order conversion) and
//! `NFTA_DATA_VERDICT` { `NFTA_VERDICT_CODE` be32, `NFTA_VERDICT_CHAIN` string }, as in
//! net/netfilter/nf_tables_api.c (`nft_data_init`, `nft_verdict_dump`), and the data-word
//! printer nft uses.
//!
//! Decoding returns `None` for shapes this codec does not model (a verdict with a chain id,
//! an unknown verdict code) so the caller can keep the whole expression raw.

use crate::attr::{self, Attrs};
use crate::consts::*;
use crate::expr::{ImmData, Verdict};
use std::fmt;

/// Writes `ty` { NFTA_DATA_VALUE bytes }.
pub(crate) fn put_value(out: &mut Vec<u8>, ty: u16, value: &[u8]) {
    attr::put_nested(out, ty, |out| attr::put(out, NFTA_DATA_VALUE, value));
}

/// Writes `ty` { NFTA_DATA_VALUE | NFTA_DATA_VERDICT { code, chain } }.
pub(crate) fn put_data(out: &mut Vec<u8>, ty: u16, data: &ImmData) {
    match data {
        ImmData::Value(v) => put_value(out, ty, v),
        ImmData::Verdict(v) => attr::put_nested(out, ty, |out| {
            attr::put_nested(out, NFTA_DATA_VERDICT, |out| {
                attr::put_be32(out, NFTA_VERDICT_CODE, verdict_code(v) as u32);
                if let Verdict::Jump(chain) | Verdict::Goto(chain) = v {
                    attr::put_str(out, NFTA_VERDICT_CHAIN, chain);
                }
            })
        }),
    }
}

fn verdict_code(v: &Verdict) -> i32 {
    match v {
        Verdict::Accept => NF_ACCEPT,
        Verdict::Drop => NF_DROP,
        Verdict::Continue => NFT_CONTINUE,
        Verdict::Break => NFT_BREAK,
        Verdict::Return => NFT_RETURN,
        Verdict::Jump(_) => NFT_JUMP,
        Verdict::Goto(_) => NFT_GOTO,
    }
}

/// Reads the payload of an `nft_data` nest holding a plain value.
pub(crate) fn value(payload: &[u8]) -> Option<Vec<u8>> {
    match data(payload)? {
        ImmData::Value(v) => Some(v),
        ImmData::Verdict(_) => None,
    }
}

/// Reads the payload of an `nft_data` nest.
pub(crate) fn data(payload: &[u8]) -> Option<ImmData> {
    let mut found = None;
    for a in Attrs::new(payload) {
        let a = a.ok()?;
        let d = match a.kind() {
            NFTA_DATA_VALUE => ImmData::Value(a.payload.to_vec()),
            NFTA_DATA_VERDICT => ImmData::Verdict(verdict(a.payload)?),
            _ => return None,
        };
        if found.replace(d).is_some() {
            return None;
        }
    }
    found
}

fn verdict(payload: &[u8]) -> Option<Verdict> {
    let (mut code, mut chain) = (None, None);
    for a in Attrs::new(payload) {
        let a = a.ok()?;
        match a.kind() {
            NFTA_VERDICT_CODE => code = Some(a.be32("NFTA_VERDICT_CODE").ok()? as i32),
            NFTA_VERDICT_CHAIN => chain = Some(a.str("NFTA_VERDICT_CHAIN").ok()?),
            _ => return None,
        }
    }
    let v = match (code?, chain) {
        (NF_ACCEPT, None) => Verdict::Accept,
        (NF_DROP, None) => Verdict::Drop,
        (NFT_CONTINUE, None) => Verdict::Continue,
        (NFT_BREAK, None) => Verdict::Break,
        (NFT_RETURN, None) => Verdict::Return,
        (NFT_JUMP, Some(c)) => Verdict::Jump(c),
        (NFT_GOTO, Some(c)) => Verdict::Goto(c),
        _ => return None,
    };
    Some(v)
}

/// Data words as nft prints them: each 4-byte chunk (zero-filled at the end) as a host-order
/// (little-endian) u32, `0x%08x` followed by a space.
pub(crate) struct Words<'a>(pub &'a [u8]);

impl fmt::Display for Words<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for chunk in self.0.chunks(4) {
            let mut word = [0u8; 4];
            word[..chunk.len()].copy_from_slice(chunk);
            write!(f, "0x{:08x} ", u32::from_le_bytes(word))?;
        }
        Ok(())
    }
}

impl fmt::Display for Verdict {
    /// As nft prints an immediate verdict: `accept`, `jump -> CHAIN`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Verdict::Accept => f.write_str("accept"),
            Verdict::Drop => f.write_str("drop"),
            Verdict::Continue => f.write_str("continue"),
            Verdict::Break => f.write_str("break"),
            Verdict::Return => f.write_str("return"),
            Verdict::Jump(c) => write!(f, "jump -> {c}"),
            Verdict::Goto(c) => write!(f, "goto -> {c}"),
        }
    }
}
