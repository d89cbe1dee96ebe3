//! Netlink message framing: `nlmsghdr` + `nfgenmsg`, the [`Object`] trait every nf_tables
//! object implements, and the reply parser (NLMSG_ERROR with extended ack, NLMSG_DONE,
//! nf_tables NEW* objects).
//!
//! Header fields are host order (little-endian on the machines fwnet targets), except
//! `nfgenmsg.res_id`, which is be16. No sockets here: callers hand in the bytes they read.

use crate::attr::{align, Attrs};
use crate::consts::*;
use crate::error::DecodeError;
use crate::{Chain, Gen, Obj, Rule, Set, SetElemList, Table};

/// A `struct nlmsghdr`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Header {
    /// Length of the whole message, header included.
    pub len: u32,
    /// For nf_tables: `(NFNL_SUBSYS_NFTABLES << 8) | NFT_MSG_*`; or NLMSG_ERROR, NLMSG_DONE.
    pub ty: u16,
    pub flags: u16,
    pub seq: u32,
    pub port_id: u32,
}

impl Header {
    /// Reads the 16-byte header at the start of `bytes`.
    pub fn read(bytes: &[u8]) -> Result<Header, DecodeError> {
        let h = bytes.get(..NLMSG_HDRLEN).ok_or(DecodeError::Truncated {
            what: "netlink header",
            need: NLMSG_HDRLEN,
            have: bytes.len(),
        })?;
        let u32_at = |i: usize| u32::from_ne_bytes([h[i], h[i + 1], h[i + 2], h[i + 3]]);
        Ok(Header {
            len: u32_at(0),
            ty: u16::from_ne_bytes([h[4], h[5]]),
            flags: u16::from_ne_bytes([h[6], h[7]]),
            seq: u32_at(8),
            port_id: u32_at(12),
        })
    }

    fn write(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.len.to_ne_bytes());
        out.extend_from_slice(&self.ty.to_ne_bytes());
        out.extend_from_slice(&self.flags.to_ne_bytes());
        out.extend_from_slice(&self.seq.to_ne_bytes());
        out.extend_from_slice(&self.port_id.to_ne_bytes());
    }

    /// The NFT_MSG_* of an nf_tables message, `None` for other subsystems and control types.
    pub fn nft_msg(&self) -> Option<u8> {
        let [msg, subsys] = self.ty.to_le_bytes();
        (u16::from(subsys) == NFNL_SUBSYS_NFTABLES).then_some(msg)
    }
}

/// The nf_tables message type: `(NFNL_SUBSYS_NFTABLES << 8) | msg`.
pub fn nft_type(msg: u8) -> u16 {
    (NFNL_SUBSYS_NFTABLES << 8) | u16::from(msg)
}

/// A `struct nfgenmsg`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct NfGenMsg {
    /// NFPROTO_* family.
    pub family: u8,
    /// NFNETLINK_V0.
    pub version: u8,
    /// Host value of the be16 `res_id`: NFNL_SUBSYS_NFTABLES on batch messages, the generation
    /// id on kernel replies, 0 on requests.
    pub res_id: u16,
}

impl NfGenMsg {
    fn read(bytes: &[u8]) -> Result<NfGenMsg, DecodeError> {
        match bytes.get(..NFGENMSG_LEN) {
            Some(&[family, version, a, b]) => Ok(NfGenMsg {
                family,
                version,
                res_id: u16::from_be_bytes([a, b]),
            }),
            _ => Err(DecodeError::Truncated {
                what: "nfgenmsg",
                need: NFGENMSG_LEN,
                have: bytes.len(),
            }),
        }
    }
}

/// Writes one nfnetlink message: header (with `NLM_F_REQUEST` always set, port id 0),
/// nfgenmsg, then what `attrs` writes.
pub fn write_message(
    out: &mut Vec<u8>,
    ty: u16,
    flags: u16,
    seq: u32,
    nfgen: NfGenMsg,
    attrs: impl FnOnce(&mut Vec<u8>),
) {
    let start = out.len();
    Header {
        len: 0,
        ty,
        flags: flags | NLM_F_REQUEST,
        seq,
        port_id: 0,
    }
    .write(out);
    out.extend_from_slice(&[nfgen.family, nfgen.version]);
    out.extend_from_slice(&nfgen.res_id.to_be_bytes());
    attrs(out);
    let len = u32::try_from(out.len() - start).unwrap_or(u32::MAX);
    out[start..start + 4].copy_from_slice(&len.to_ne_bytes());
    out.resize(align(out.len()), 0);
}

/// An nf_tables object that travels as the attributes of an nfnetlink message.
pub trait Object: Sized {
    /// The NFT_MSG_NEW* type the kernel uses when it dumps or echoes this object.
    const NEW_MSG: u8;
    /// Every NFT_MSG_* whose attributes are this object's (NEW, GET, DEL, DESTROY).
    const MSGS: &'static [u8];

    /// The NFPROTO_* family written into nfgenmsg.
    fn family(&self) -> u8;

    /// Writes the object's attributes, in the order nft 1.0.6 sends them, kept unknown
    /// attributes last.
    fn put_attrs(&self, out: &mut Vec<u8>);

    /// Reads the object from a message's attributes; `family` comes from nfgenmsg.
    fn read_attrs(family: u8, attrs: &[u8]) -> Result<Self, DecodeError>;

    /// One complete message of type `(NFNL_SUBSYS_NFTABLES << 8) | msg` (an NFT_MSG_*),
    /// flags `flags | NLM_F_REQUEST`, port id 0, nfgenmsg {family, NFNETLINK_V0, res_id 0}.
    fn encode(&self, msg: u8, flags: u16, seq: u32) -> Vec<u8> {
        let mut out = Vec::new();
        let nfgen = NfGenMsg {
            family: self.family(),
            version: NFNETLINK_V0,
            res_id: 0,
        };
        write_message(&mut out, nft_type(msg), flags, seq, nfgen, |out| {
            self.put_attrs(out)
        });
        out
    }

    /// Reads one complete message of one of [`Object::MSGS`] types.
    fn decode(message: &[u8]) -> Result<Self, DecodeError> {
        let header = Header::read(message)?;
        let body = body_of(message, &header)?;
        match header.nft_msg() {
            Some(m) if Self::MSGS.contains(&m) => {}
            _ => {
                return Err(DecodeError::WrongType {
                    expected: nft_type(Self::NEW_MSG),
                    found: header.ty,
                })
            }
        }
        let nfgen = NfGenMsg::read(body)?;
        Self::read_attrs(nfgen.family, &body[NFGENMSG_LEN..])
    }
}

/// The payload of a message after its header, checking the length field.
fn body_of<'a>(message: &'a [u8], header: &Header) -> Result<&'a [u8], DecodeError> {
    let len = header.len as usize;
    if len < NLMSG_HDRLEN {
        return Err(DecodeError::BadLength {
            what: "netlink message",
            len,
        });
    }
    message
        .get(NLMSG_HDRLEN..len)
        .ok_or(DecodeError::Truncated {
            what: "netlink message",
            need: len,
            have: message.len(),
        })
}

/// One message read back from the kernel.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reply {
    pub header: Header,
    /// The nfgenmsg of nf_tables messages (its `res_id` is the generation id), else `None`.
    pub nfgen: Option<NfGenMsg>,
    pub body: ReplyBody,
}

/// What a reply carries.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ReplyBody {
    /// NLMSG_ERROR: an error, or an ACK when `error` is 0.
    Error(NlError),
    /// NLMSG_DONE: the end of a dump, with its status (0 on success, -errno otherwise).
    Done {
        error: i32,
    },
    Table(Table),
    Chain(Chain),
    Set(Set),
    SetElems(SetElemList),
    Rule(Rule),
    Gen(Gen),
    /// A stateful object (NFT_MSG_NEWOBJ): a ct helper, or another type with raw data.
    Obj(Obj),
    /// Any other message (DEL* notifications, other subsystems): its payload after the header.
    Other(Vec<u8>),
}

/// An NLMSG_ERROR message, with the extended-ack attributes the kernel adds under
/// NETLINK_EXT_ACK.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NlError {
    /// 0 for an ACK, otherwise a negative errno (-EEXIST, -ENOENT, -ERESTART...).
    pub error: i32,
    /// The header of the request this answers: its `seq` maps back to the batch entry.
    pub request: Header,
    /// NLMSGERR_ATTR_MSG, the kernel's human-readable reason.
    pub msg: Option<String>,
    /// NLMSGERR_ATTR_OFFS: byte offset of the offending attribute in the request message.
    pub offset: Option<u32>,
    /// Other extended-ack attributes, raw: `(type, payload)`.
    pub other: Vec<(u16, Vec<u8>)>,
}

impl NlError {
    /// True when this is an ACK (error 0) rather than an error.
    pub fn is_ack(&self) -> bool {
        self.error == 0
    }

    /// The positive errno (EEXIST = 17...), 0 for an ACK.
    pub fn errno(&self) -> i32 {
        self.error.saturating_neg()
    }
}

/// Splits a receive buffer into messages. Yields an error and stops when the framing itself is
/// broken; a message whose attributes are malformed yields an error and parsing goes on.
pub fn parse_replies(buf: &[u8]) -> Replies<'_> {
    Replies {
        frames: frames(buf),
    }
}

/// Iterator returned by [`parse_replies`].
#[derive(Clone, Debug)]
pub struct Replies<'a> {
    frames: Frames<'a>,
}

impl Iterator for Replies<'_> {
    type Item = Result<Reply, DecodeError>;

    fn next(&mut self) -> Option<Self::Item> {
        Some(
            self.frames
                .next()?
                .and_then(|(h, body)| decode_reply(h, body)),
        )
    }
}

/// The messages of `buf` framed but not decoded: each header with the payload after it, for a
/// reader that wants one attribute of many messages ([`crate::rule::counter_of`]).
pub fn frames(buf: &[u8]) -> Frames<'_> {
    Frames { rest: buf }
}

/// Iterator returned by [`frames`]; it ends after the first error.
#[derive(Clone, Debug)]
pub struct Frames<'a> {
    rest: &'a [u8],
}

impl<'a> Iterator for Frames<'a> {
    type Item = Result<(Header, &'a [u8]), DecodeError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.rest.is_empty() {
            return None;
        }
        let framed = Header::read(self.rest).and_then(|h| body_of(self.rest, &h).map(|b| (h, b)));
        match framed {
            Ok((header, body)) => {
                self.rest = self.rest.get(align(header.len as usize)..).unwrap_or(&[]);
                Some(Ok((header, body)))
            }
            Err(e) => {
                self.rest = &[];
                Some(Err(e))
            }
        }
    }
}

/// Decodes one message of a reply ([`frames`] gives them).
pub fn decode_reply(header: Header, body: &[u8]) -> Result<Reply, DecodeError> {
    match header.ty {
        NLMSG_ERROR => {
            let err = decode_error(&header, body)?;
            return Ok(Reply {
                header,
                nfgen: None,
                body: ReplyBody::Error(err),
            });
        }
        NLMSG_DONE => {
            let error = match body.get(..4) {
                Some(&[a, b, c, d]) => i32::from_ne_bytes([a, b, c, d]),
                _ => 0,
            };
            return Ok(Reply {
                header,
                nfgen: None,
                body: ReplyBody::Done { error },
            });
        }
        _ => {}
    }
    let Some(msg) = header.nft_msg() else {
        return Ok(Reply {
            header,
            nfgen: None,
            body: ReplyBody::Other(body.to_vec()),
        });
    };
    let nfgen = NfGenMsg::read(body)?;
    let (family, attrs) = (nfgen.family, &body[NFGENMSG_LEN..]);
    let decoded = match msg {
        NFT_MSG_NEWTABLE => ReplyBody::Table(Table::read_attrs(family, attrs)?),
        NFT_MSG_NEWCHAIN => ReplyBody::Chain(Chain::read_attrs(family, attrs)?),
        NFT_MSG_NEWSET => ReplyBody::Set(Set::read_attrs(family, attrs)?),
        NFT_MSG_NEWSETELEM => ReplyBody::SetElems(SetElemList::read_attrs(family, attrs)?),
        NFT_MSG_NEWRULE => ReplyBody::Rule(Rule::read_attrs(family, attrs)?),
        NFT_MSG_NEWGEN => ReplyBody::Gen(Gen::read_attrs(family, attrs)?),
        NFT_MSG_NEWOBJ => ReplyBody::Obj(Obj::read_attrs(family, attrs)?),
        _ => ReplyBody::Other(body.to_vec()),
    };
    Ok(Reply {
        header,
        nfgen: Some(nfgen),
        body: decoded,
    })
}

fn decode_error(header: &Header, body: &[u8]) -> Result<NlError, DecodeError> {
    let need = 4 + NLMSG_HDRLEN;
    let Some(&[a, b, c, d]) = body.get(..4) else {
        return Err(DecodeError::Truncated {
            what: "nlmsgerr",
            need,
            have: body.len(),
        });
    };
    let error = i32::from_ne_bytes([a, b, c, d]);
    let request = Header::read(&body[4..])?;
    let mut err = NlError {
        error,
        request,
        ..NlError::default()
    };
    if header.flags & NLM_F_ACK_TLVS == 0 {
        return Ok(err);
    }
    // Without NLM_F_CAPPED the whole request is echoed before the attributes.
    let echoed = if header.flags & NLM_F_CAPPED != 0 {
        NLMSG_HDRLEN
    } else {
        request.len as usize
    };
    let tlv_start = 4 + align(echoed);
    let tlvs = body.get(tlv_start..).ok_or(DecodeError::Truncated {
        what: "nlmsgerr echoed request",
        need: tlv_start,
        have: body.len(),
    })?;
    for a in Attrs::new(tlvs) {
        let a = a?;
        match a.kind() {
            NLMSGERR_ATTR_MSG => err.msg = Some(a.str("NLMSGERR_ATTR_MSG")?),
            NLMSGERR_ATTR_OFFS => err.offset = Some(u32::from_ne_bytes(fixed4(&a)?)),
            _ => err.other.push(a.to_owned_pair()),
        }
    }
    Ok(err)
}

/// NLMSGERR_ATTR_OFFS is a host-order u32 (generic netlink, not nf_tables).
fn fixed4(a: &crate::attr::Attr<'_>) -> Result<[u8; 4], DecodeError> {
    a.payload.try_into().map_err(|_| DecodeError::BadLength {
        what: "NLMSGERR_ATTR_OFFS",
        len: a.payload.len(),
    })
}
