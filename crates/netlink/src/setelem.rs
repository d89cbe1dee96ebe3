//! Set elements (NFT_MSG_NEWSETELEM / GETSETELEM / DELSETELEM): NFTA_SET_ELEM_LIST_TABLE,
//! NFTA_SET_ELEM_LIST_SET, NFTA_SET_ELEM_LIST_SET_ID be32, NFTA_SET_ELEM_LIST_ELEMENTS { one
//! nest per element: NFTA_SET_ELEM_FLAGS be32, NFTA_SET_ELEM_TIMEOUT be64 ms,
//! NFTA_SET_ELEM_EXPIRATION be64 ms, NFTA_SET_ELEM_KEY / KEY_END nft_data values,
//! NFTA_SET_ELEM_USERDATA } (net/netfilter/nf_tables_api.c).
//!
//! nft numbers the element nests 1, 2, 3...; the kernel dumps them all as NFTA_LIST_ELEM (1).
//! The encoder numbers like nft, the decoder accepts any number. A map element's
//! NFTA_SET_ELEM_DATA (a verdict, or a value) is `data`; per-element expressions stay in the
//! element's `other`.

use crate::attr::{self, Attrs};
use crate::consts::*;
use crate::data;
use crate::error::DecodeError;
use crate::expr::ImmData;
use crate::msg::Object;

/// The elements of one set, as one message carries them.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SetElemList {
    pub family: u8,
    pub table: String,
    /// The set's name (for a set created in the same batch, the template nft sent).
    pub set: String,
    /// NFTA_SET_ELEM_LIST_SET_ID: the NFTA_SET_ID of a set created in the same batch.
    pub set_id: Option<u32>,
    pub elements: Vec<SetElem>,
    pub other: Vec<(u16, Vec<u8>)>,
}

/// One element.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SetElem {
    /// Key bytes (network order for addresses and ports). Empty for a catch-all element,
    /// in which case no key is sent.
    pub key: Vec<u8>,
    /// NFTA_SET_ELEM_KEY_END: the closing key of a range in a concatenated interval set.
    pub key_end: Option<Vec<u8>>,
    /// NFTA_SET_ELEM_DATA: what a map gives for the key (a verdict in a verdict map).
    pub data: Option<ImmData>,
    /// NFT_SET_ELEM_INTERVAL_END marks the first key past an interval.
    pub flags: Option<u32>,
    pub timeout_ms: Option<u64>,
    /// Time left before expiry (kernel-reported).
    pub expiration_ms: Option<u64>,
    pub userdata: Option<Vec<u8>>,
    pub other: Vec<(u16, Vec<u8>)>,
}

impl Object for SetElemList {
    const NEW_MSG: u8 = NFT_MSG_NEWSETELEM;
    const MSGS: &'static [u8] = &[
        NFT_MSG_NEWSETELEM,
        NFT_MSG_GETSETELEM,
        NFT_MSG_DELSETELEM,
        NFT_MSG_DESTROYSETELEM,
    ];

    fn family(&self) -> u8 {
        self.family
    }

    fn put_attrs(&self, out: &mut Vec<u8>) {
        attr::put_str(out, NFTA_SET_ELEM_LIST_TABLE, &self.table);
        attr::put_str(out, NFTA_SET_ELEM_LIST_SET, &self.set);
        if let Some(id) = self.set_id {
            attr::put_be32(out, NFTA_SET_ELEM_LIST_SET_ID, id);
        }
        if !self.elements.is_empty() {
            attr::put_nested(out, NFTA_SET_ELEM_LIST_ELEMENTS, |out| {
                for (i, e) in self.elements.iter().enumerate() {
                    // nft numbers element nests from 1; more than 32767 elements in one message
                    // would not fit a netlink message anyway.
                    let ty = u16::try_from(i + 1).unwrap_or(NFTA_LIST_ELEM);
                    attr::put_nested(out, ty, |out| put_elem(out, e));
                }
            });
        }
        attr::put_other(out, &self.other);
    }

    fn read_attrs(family: u8, attrs: &[u8]) -> Result<Self, DecodeError> {
        let mut l = SetElemList {
            family,
            ..SetElemList::default()
        };
        let (mut table, mut set) = (None, None);
        for a in Attrs::new(attrs) {
            let a = a?;
            match a.kind() {
                NFTA_SET_ELEM_LIST_TABLE => table = Some(a.str("NFTA_SET_ELEM_LIST_TABLE")?),
                NFTA_SET_ELEM_LIST_SET => set = Some(a.str("NFTA_SET_ELEM_LIST_SET")?),
                NFTA_SET_ELEM_LIST_SET_ID => l.set_id = Some(a.be32("NFTA_SET_ELEM_LIST_SET_ID")?),
                NFTA_SET_ELEM_LIST_ELEMENTS => {
                    for e in a.nested() {
                        l.elements.push(read_elem(e?.payload)?);
                    }
                }
                _ => l.other.push(a.to_owned_pair()),
            }
        }
        l.table = table.ok_or(DecodeError::Missing {
            what: "NFTA_SET_ELEM_LIST_TABLE",
        })?;
        l.set = set.ok_or(DecodeError::Missing {
            what: "NFTA_SET_ELEM_LIST_SET",
        })?;
        Ok(l)
    }
}

fn put_elem(out: &mut Vec<u8>, e: &SetElem) {
    if let Some(f) = e.flags {
        attr::put_be32(out, NFTA_SET_ELEM_FLAGS, f);
    }
    if let Some(t) = e.timeout_ms {
        attr::put_be64(out, NFTA_SET_ELEM_TIMEOUT, t);
    }
    if let Some(t) = e.expiration_ms {
        attr::put_be64(out, NFTA_SET_ELEM_EXPIRATION, t);
    }
    if !e.key.is_empty() {
        data::put_value(out, NFTA_SET_ELEM_KEY, &e.key);
    }
    if let Some(k) = &e.key_end {
        data::put_value(out, NFTA_SET_ELEM_KEY_END, k);
    }
    if let Some(d) = &e.data {
        data::put_data(out, NFTA_SET_ELEM_DATA, d);
    }
    if let Some(u) = &e.userdata {
        attr::put(out, NFTA_SET_ELEM_USERDATA, u);
    }
    attr::put_other(out, &e.other);
}

fn read_elem(payload: &[u8]) -> Result<SetElem, DecodeError> {
    let mut e = SetElem::default();
    for a in Attrs::new(payload) {
        let a = a?;
        match a.kind() {
            NFTA_SET_ELEM_FLAGS => e.flags = Some(a.be32("NFTA_SET_ELEM_FLAGS")?),
            NFTA_SET_ELEM_TIMEOUT => e.timeout_ms = Some(a.be64("NFTA_SET_ELEM_TIMEOUT")?),
            NFTA_SET_ELEM_EXPIRATION => e.expiration_ms = Some(a.be64("NFTA_SET_ELEM_EXPIRATION")?),
            NFTA_SET_ELEM_KEY => e.key = value_of(a.payload, "NFTA_SET_ELEM_KEY")?,
            NFTA_SET_ELEM_KEY_END => {
                e.key_end = Some(value_of(a.payload, "NFTA_SET_ELEM_KEY_END")?)
            }
            NFTA_SET_ELEM_USERDATA => e.userdata = Some(a.payload.to_vec()),
            NFTA_SET_ELEM_DATA => match data::data(a.payload) {
                Some(d) => e.data = Some(d),
                None => e.other.push(a.to_owned_pair()),
            },
            _ => e.other.push(a.to_owned_pair()),
        }
    }
    Ok(e)
}

fn value_of(payload: &[u8], what: &'static str) -> Result<Vec<u8>, DecodeError> {
    data::value(payload).ok_or(DecodeError::Missing { what })
}
