//! A tiny netlink attribute (nlattr) writer and reader.
//!
//! Layout: `u16 len` (header + payload, without padding), `u16 type` (low 14 bits the attribute
//! number, `NLA_F_NESTED` 0x8000 on nests), payload, zero padding to 4 bytes. Header fields are
//! host order (little-endian here); nf_tables payload integers are big-endian and written with
//! the `be*` helpers. This module knows nothing about nf_tables attribute numbers.

use crate::consts::{NLA_F_NESTED, NLA_HDRLEN, NLA_TYPE_MASK};
use crate::error::DecodeError;

/// Rounds `len` up to the 4-byte netlink alignment.
pub fn align(len: usize) -> usize {
    (len + 3) & !3
}

/// Appends one attribute with a raw payload, padded.
pub fn put(out: &mut Vec<u8>, ty: u16, payload: &[u8]) {
    header(out, ty, payload.len());
    out.extend_from_slice(payload);
    pad(out);
}

/// The header of an attribute whose payload of `payload_len` bytes follows.
fn header(out: &mut Vec<u8>, ty: u16, payload_len: usize) {
    // Lengths come from our own encoders; an attribute above 64 KiB is a bug in the caller, and
    // the kernel would reject it anyway, so the value is saturated rather than wrapped.
    let len = u16::try_from(NLA_HDRLEN + payload_len).unwrap_or(u16::MAX);
    out.extend_from_slice(&len.to_ne_bytes());
    out.extend_from_slice(&ty.to_ne_bytes());
}

/// Appends a `u8` attribute.
pub fn put_u8(out: &mut Vec<u8>, ty: u16, v: u8) {
    put(out, ty, &[v]);
}

/// Appends a big-endian `u16` attribute.
pub fn put_be16(out: &mut Vec<u8>, ty: u16, v: u16) {
    put(out, ty, &v.to_be_bytes());
}

/// Appends a big-endian `u32` attribute.
pub fn put_be32(out: &mut Vec<u8>, ty: u16, v: u32) {
    put(out, ty, &v.to_be_bytes());
}

/// Appends a big-endian `u64` attribute.
pub fn put_be64(out: &mut Vec<u8>, ty: u16, v: u64) {
    put(out, ty, &v.to_be_bytes());
}

/// Appends a NUL-terminated string attribute.
pub fn put_str(out: &mut Vec<u8>, ty: u16, s: &str) {
    // Written in place (every expression's name is one: a copy of each was a tenth of apply's
    // instructions at 100k rules).
    header(out, ty, s.len() + 1);
    out.extend_from_slice(s.as_bytes());
    out.push(0);
    pad(out);
}

/// Appends a nested attribute (`NLA_F_NESTED` set, as nft sends them) whose payload `body`
/// writes.
pub fn put_nested(out: &mut Vec<u8>, ty: u16, body: impl FnOnce(&mut Vec<u8>)) {
    let start = out.len();
    out.extend_from_slice(&[0; NLA_HDRLEN]);
    body(out);
    let len = u16::try_from(out.len() - start).unwrap_or(u16::MAX);
    out[start..start + 2].copy_from_slice(&len.to_ne_bytes());
    out[start + 2..start + 4].copy_from_slice(&(ty | NLA_F_NESTED).to_ne_bytes());
    pad(out);
}

fn pad(out: &mut Vec<u8>) {
    out.resize(align(out.len()), 0);
}

/// One attribute as read: its full type field (flags included) and its payload.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Attr<'a> {
    /// The type field as on the wire, `NLA_F_NESTED` and `NLA_F_NET_BYTEORDER` included.
    pub raw_type: u16,
    /// The payload, without header and padding.
    pub payload: &'a [u8],
}

impl<'a> Attr<'a> {
    /// The attribute number, flags masked off. The kernel does not set `NLA_F_NESTED` in dumps,
    /// so nesting is known from the schema, never from the flag.
    pub fn kind(&self) -> u16 {
        self.raw_type & NLA_TYPE_MASK
    }

    /// The payload as one byte.
    pub fn u8(&self, what: &'static str) -> Result<u8, DecodeError> {
        Ok(u8::from_be_bytes(self.fixed(what)?))
    }

    /// The payload as a big-endian `u16`.
    pub fn be16(&self, what: &'static str) -> Result<u16, DecodeError> {
        Ok(u16::from_be_bytes(self.fixed(what)?))
    }

    /// The payload as a big-endian `u32`.
    pub fn be32(&self, what: &'static str) -> Result<u32, DecodeError> {
        Ok(u32::from_be_bytes(self.fixed(what)?))
    }

    /// The payload as a big-endian `u64`.
    pub fn be64(&self, what: &'static str) -> Result<u64, DecodeError> {
        Ok(u64::from_be_bytes(self.fixed(what)?))
    }

    /// The payload as a string, up to the first NUL.
    pub fn str(&self, what: &'static str) -> Result<String, DecodeError> {
        let end = self
            .payload
            .iter()
            .position(|&b| b == 0)
            .unwrap_or(self.payload.len());
        String::from_utf8(self.payload[..end].to_vec()).map_err(|_| DecodeError::BadString { what })
    }

    /// The nested attributes inside the payload.
    pub fn nested(&self) -> Attrs<'a> {
        Attrs::new(self.payload)
    }

    /// Owned copy for an `other` list: `(raw type, payload)`.
    pub fn to_owned_pair(&self) -> (u16, Vec<u8>) {
        (self.raw_type, self.payload.to_vec())
    }

    fn fixed<const N: usize>(&self, what: &'static str) -> Result<[u8; N], DecodeError> {
        self.payload.try_into().map_err(|_| DecodeError::BadLength {
            what,
            len: self.payload.len(),
        })
    }
}

/// Iterator over the attributes in a byte run. Yields one error and stops on a malformed
/// header; trailing bytes shorter than a header are an error too.
#[derive(Clone, Debug)]
pub struct Attrs<'a> {
    rest: &'a [u8],
}

impl<'a> Attrs<'a> {
    /// Reads attributes from `bytes` (which starts at an attribute header).
    pub fn new(bytes: &'a [u8]) -> Self {
        Attrs { rest: bytes }
    }
}

impl<'a> Iterator for Attrs<'a> {
    type Item = Result<Attr<'a>, DecodeError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.rest.is_empty() {
            return None;
        }
        let have = self.rest.len();
        let header = match self.rest.get(..NLA_HDRLEN) {
            Some(h) => h,
            None => {
                self.rest = &[];
                return Some(Err(DecodeError::Truncated {
                    what: "attribute header",
                    need: NLA_HDRLEN,
                    have,
                }));
            }
        };
        let len = usize::from(u16::from_ne_bytes([header[0], header[1]]));
        let raw_type = u16::from_ne_bytes([header[2], header[3]]);
        if len < NLA_HDRLEN {
            self.rest = &[];
            return Some(Err(DecodeError::BadLength {
                what: "attribute",
                len,
            }));
        }
        let Some(payload) = self.rest.get(NLA_HDRLEN..len) else {
            self.rest = &[];
            return Some(Err(DecodeError::Truncated {
                what: "attribute",
                need: len,
                have,
            }));
        };
        // The last attribute of a message may lack its padding.
        self.rest = self.rest.get(align(len)..).unwrap_or(&[]);
        Some(Ok(Attr { raw_type, payload }))
    }
}

/// Appends attributes kept from a decode (`other` lists) back, unchanged.
pub fn put_other(out: &mut Vec<u8>, other: &[(u16, Vec<u8>)]) {
    for (ty, payload) in other {
        put(out, *ty, payload);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_are_nul_terminated_and_padded_after_their_length() {
        let mut out = Vec::new();
        put_str(&mut out, 3, "abc");
        put_str(&mut out, 0x102, "cmp");
        put_str(&mut out, 7, "");
        // The length counts the header, the text and its NUL, not the padding.
        assert_eq!(
            out,
            [
                8, 0, 3, 0, b'a', b'b', b'c', 0, //
                8, 0, 2, 1, b'c', b'm', b'p', 0, //
                5, 0, 7, 0, 0, 0, 0, 0,
            ]
        );
    }
}
