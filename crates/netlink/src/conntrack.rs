//! ctnetlink requests that put a connection into the conntrack table, look one up, and take it
//! out again.
//!
//! `fwnet verify` uses them to make a packet ESTABLISHED or RELATED on a path where it cannot
//! open a real connection first (routed through the server, or sent by it): the entry is
//! written, the packet sent, the entry removed. An entry is written in two requests: [`create`]
//! (a tcp one in the ESTABLISHED state and liberal about sequence numbers in both directions,
//! `IP_CT_TCP_FLAG_BE_LIBERAL`, so a crafted segment is not INVALID for being out of its window),
//! then [`seen_reply`], after which every packet of it is ESTABLISHED. The status cannot go with
//! the creation: the kernel refuses (EBUSY) a status whose `IPS_CONFIRMED` bit differs from the
//! new entry's, and whether a new entry has that bit yet when the status is applied changed
//! between kernel releases; an existing entry always has it. [`get`] looks up the entry of a
//! connection (tcp, udp, or an icmp query by its identifier) in one zone, and [`read_entry`]
//! reads what the rules that made it may have given it: its mark, zone and helper. Attribute
//! numbers are those of `include/uapi/linux/netfilter/nfnetlink_conntrack.h`.

use crate::attr::{self, Attrs};
use crate::consts::{
    NFGENMSG_LEN, NFNETLINK_V0, NFPROTO_IPV4, NFPROTO_IPV6, NLM_F_ACK, NLM_F_CREATE, NLM_F_EXCL,
};
use crate::error::DecodeError;
use crate::msg::{write_message, NfGenMsg};
use std::net::IpAddr;

/// NFNL_SUBSYS_CTNETLINK.
pub const NFNL_SUBSYS_CTNETLINK: u16 = 1;
pub const IPCTNL_MSG_CT_NEW: u8 = 0;
pub const IPCTNL_MSG_CT_GET: u8 = 1;
pub const IPCTNL_MSG_CT_DELETE: u8 = 2;

const CTA_TUPLE_ORIG: u16 = 1;
const CTA_TUPLE_REPLY: u16 = 2;
const CTA_STATUS: u16 = 3;
const CTA_PROTOINFO: u16 = 4;
const CTA_HELP: u16 = 5;
const CTA_TIMEOUT: u16 = 7;
const CTA_MARK: u16 = 8;
const CTA_ZONE: u16 = 18;
const CTA_HELP_NAME: u16 = 1;

const CTA_TUPLE_IP: u16 = 1;
const CTA_TUPLE_PROTO: u16 = 2;
const CTA_IP_V4_SRC: u16 = 1;
const CTA_IP_V4_DST: u16 = 2;
const CTA_IP_V6_SRC: u16 = 3;
const CTA_IP_V6_DST: u16 = 4;
const CTA_PROTO_NUM: u16 = 1;
const CTA_PROTO_SRC_PORT: u16 = 2;
const CTA_PROTO_DST_PORT: u16 = 3;
const CTA_PROTO_ICMP_ID: u16 = 4;
const CTA_PROTO_ICMP_TYPE: u16 = 5;
const CTA_PROTO_ICMP_CODE: u16 = 6;
const CTA_PROTO_ICMPV6_ID: u16 = 7;
const CTA_PROTO_ICMPV6_TYPE: u16 = 8;
const CTA_PROTO_ICMPV6_CODE: u16 = 9;

const CTA_PROTOINFO_TCP: u16 = 1;
const CTA_PROTOINFO_TCP_STATE: u16 = 1;
const CTA_PROTOINFO_TCP_FLAGS_ORIGINAL: u16 = 4;
const CTA_PROTOINFO_TCP_FLAGS_REPLY: u16 = 5;
/// `TCP_CONNTRACK_ESTABLISHED`.
const TCP_CONNTRACK_ESTABLISHED: u8 = 3;
/// `IP_CT_TCP_FLAG_BE_LIBERAL`: no window checks for this direction.
const IP_CT_TCP_FLAG_BE_LIBERAL: u8 = 0x08;

/// `IPS_SEEN_REPLY | IPS_ASSURED | IPS_CONFIRMED`.
const STATUS_ESTABLISHED: u32 = (1 << 1) | (1 << 2) | (1 << 3);

const IPPROTO_TCP: u8 = 6;

/// One direction of a tcp or udp connection, as its first packet travels.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Flow {
    /// IPPROTO_TCP or IPPROTO_UDP.
    pub proto: u8,
    pub src: IpAddr,
    pub sport: u16,
    pub dst: IpAddr,
    pub dport: u16,
}

impl Flow {
    /// The same connection seen from its other end.
    pub fn reversed(&self) -> Flow {
        Flow {
            proto: self.proto,
            src: self.dst,
            sport: self.dport,
            dst: self.src,
            dport: self.sport,
        }
    }

    fn put_tuple(&self, out: &mut Vec<u8>, ty: u16) {
        put_tuple(out, ty, self.src, self.dst, |out| {
            attr::put_u8(out, CTA_PROTO_NUM, self.proto);
            attr::put_be16(out, CTA_PROTO_SRC_PORT, self.sport);
            attr::put_be16(out, CTA_PROTO_DST_PORT, self.dport);
        });
    }
}

/// The original direction of a connection to look up.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lookup {
    /// A tcp or udp connection.
    Ports(Flow),
    /// An icmp or icmpv6 query (an echo request, say) of the family of `src`: conntrack keys
    /// it by its identifier, type and code.
    Icmp {
        src: IpAddr,
        dst: IpAddr,
        id: u16,
        kind: u8,
        code: u8,
    },
}

impl Lookup {
    fn src(&self) -> IpAddr {
        match self {
            Lookup::Ports(f) => f.src,
            Lookup::Icmp { src, .. } => *src,
        }
    }

    fn put_tuple(&self, out: &mut Vec<u8>, ty: u16) {
        match *self {
            Lookup::Ports(f) => f.put_tuple(out, ty),
            Lookup::Icmp {
                src,
                dst,
                id,
                kind,
                code,
            } => put_tuple(out, ty, src, dst, |out| {
                let (proto, [id_attr, type_attr, code_attr]) = match src {
                    IpAddr::V4(_) => (
                        1,
                        [CTA_PROTO_ICMP_ID, CTA_PROTO_ICMP_TYPE, CTA_PROTO_ICMP_CODE],
                    ),
                    IpAddr::V6(_) => (
                        58,
                        [
                            CTA_PROTO_ICMPV6_ID,
                            CTA_PROTO_ICMPV6_TYPE,
                            CTA_PROTO_ICMPV6_CODE,
                        ],
                    ),
                };
                attr::put_u8(out, CTA_PROTO_NUM, proto);
                attr::put_be16(out, id_attr, id);
                attr::put_u8(out, type_attr, kind);
                attr::put_u8(out, code_attr, code);
            }),
        }
    }
}

/// A CTA_TUPLE_* attribute: the addresses, then what `proto` puts in CTA_TUPLE_PROTO.
fn put_tuple(
    out: &mut Vec<u8>,
    ty: u16,
    src: IpAddr,
    dst: IpAddr,
    proto: impl FnOnce(&mut Vec<u8>),
) {
    attr::put_nested(out, ty, |out| {
        attr::put_nested(out, CTA_TUPLE_IP, |out| match (src, dst) {
            (IpAddr::V4(s), IpAddr::V4(d)) => {
                attr::put(out, CTA_IP_V4_SRC, &s.octets());
                attr::put(out, CTA_IP_V4_DST, &d.octets());
            }
            (s, d) => {
                attr::put(out, CTA_IP_V6_SRC, &v6_octets(s));
                attr::put(out, CTA_IP_V6_DST, &v6_octets(d));
            }
        });
        attr::put_nested(out, CTA_TUPLE_PROTO, proto);
    });
}

fn family(src: IpAddr) -> u8 {
    if src.is_ipv6() {
        NFPROTO_IPV6
    } else {
        NFPROTO_IPV4
    }
}

/// What a conntrack entry holds that rules set (`-j CONNMARK`, `-j CT --zone`, `-j CT
/// --helper`, and their nft forms): each 0 or `None` where no rule did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Entry {
    pub mark: u32,
    pub zone: u16,
    pub helper: Option<String>,
    /// Its original direction, where a [`Lookup`] can name it (tcp, udp, icmp queries).
    pub original: Option<Lookup>,
}

fn v6_octets(a: IpAddr) -> [u8; 16] {
    match a {
        IpAddr::V6(a) => a.octets(),
        IpAddr::V4(a) => a.to_ipv6_mapped().octets(),
    }
}

fn message(
    msg: u8,
    flags: u16,
    src: IpAddr,
    seq: u32,
    attrs: impl FnOnce(&mut Vec<u8>),
) -> Vec<u8> {
    let mut out = Vec::new();
    let nfgen = NfGenMsg {
        family: family(src),
        version: NFNETLINK_V0,
        res_id: 0,
    };
    write_message(
        &mut out,
        (NFNL_SUBSYS_CTNETLINK << 8) | u16::from(msg),
        flags | NLM_F_ACK,
        seq,
        nfgen,
        attrs,
    );
    out
}

/// IPCTNL_MSG_CT_NEW with `NLM_F_CREATE | NLM_F_EXCL`: the connection `flow` (and its reply
/// direction), living `timeout_s` seconds unless a packet refreshes it; refused with EEXIST
/// when one is there. Until [`seen_reply`], a packet of its original direction is still NEW.
pub fn create(flow: &Flow, timeout_s: u32, seq: u32) -> Vec<u8> {
    message(
        IPCTNL_MSG_CT_NEW,
        NLM_F_CREATE | NLM_F_EXCL,
        flow.src,
        seq,
        |out| {
            flow.put_tuple(out, CTA_TUPLE_ORIG);
            flow.reversed().put_tuple(out, CTA_TUPLE_REPLY);
            attr::put_be32(out, CTA_TIMEOUT, timeout_s);
            if flow.proto == IPPROTO_TCP {
                attr::put_nested(out, CTA_PROTOINFO, |out| {
                    attr::put_nested(out, CTA_PROTOINFO_TCP, |out| {
                        attr::put_u8(out, CTA_PROTOINFO_TCP_STATE, TCP_CONNTRACK_ESTABLISHED);
                        // struct nf_ct_tcp_flags { u8 flags; u8 mask; }
                        let liberal = [IP_CT_TCP_FLAG_BE_LIBERAL, IP_CT_TCP_FLAG_BE_LIBERAL];
                        attr::put(out, CTA_PROTOINFO_TCP_FLAGS_ORIGINAL, &liberal);
                        attr::put(out, CTA_PROTOINFO_TCP_FLAGS_REPLY, &liberal);
                    });
                });
            }
        },
    )
}

/// IPCTNL_MSG_CT_NEW without `NLM_F_CREATE`: the existing connection `flow` has seen a reply and
/// is assured, so every packet of it is ESTABLISHED (ENOENT when there is none).
pub fn seen_reply(flow: &Flow, seq: u32) -> Vec<u8> {
    message(IPCTNL_MSG_CT_NEW, 0, flow.src, seq, |out| {
        flow.put_tuple(out, CTA_TUPLE_ORIG);
        attr::put_be32(out, CTA_STATUS, STATUS_ESTABLISHED);
    })
}

/// IPCTNL_MSG_CT_DELETE of the connection whose original direction is `flow` (ENOENT when
/// there is none).
pub fn delete(flow: &Flow, seq: u32) -> Vec<u8> {
    message(IPCTNL_MSG_CT_DELETE, 0, flow.src, seq, |out| {
        flow.put_tuple(out, CTA_TUPLE_ORIG)
    })
}

/// IPCTNL_MSG_CT_GET of the connection whose original direction is `lookup`, in conntrack zone
/// `zone` (0 is the default one): answered with an IPCTNL_MSG_CT_NEW message for
/// [`read_entry`], or ENOENT when the zone holds none.
pub fn get(lookup: &Lookup, zone: u16, seq: u32) -> Vec<u8> {
    message(IPCTNL_MSG_CT_GET, 0, lookup.src(), seq, |out| {
        lookup.put_tuple(out, CTA_TUPLE_ORIG);
        if zone != 0 {
            attr::put_be16(out, CTA_ZONE, zone);
        }
    })
}

/// Reads the [`Entry`] of an IPCTNL_MSG_CT_NEW message (the answer to [`get`], or an event of a
/// new or changed connection) or an IPCTNL_MSG_CT_DELETE one (the event of its end) from its
/// payload: the nfgenmsg, then the attributes. The kernel leaves out a mark of 0, the default
/// zone and a missing helper.
pub fn read_entry(payload: &[u8]) -> Result<Entry, DecodeError> {
    let attrs = payload.get(NFGENMSG_LEN..).ok_or(DecodeError::Truncated {
        what: "conntrack message",
        need: NFGENMSG_LEN,
        have: payload.len(),
    })?;
    let mut entry = Entry::default();
    for a in Attrs::new(attrs) {
        let a = a?;
        match a.kind() {
            CTA_TUPLE_ORIG => entry.original = read_tuple(a.nested())?,
            CTA_MARK => entry.mark = a.be32("CTA_MARK")?,
            CTA_ZONE => entry.zone = a.be16("CTA_ZONE")?,
            CTA_HELP => {
                for h in a.nested() {
                    let h = h?;
                    if h.kind() == CTA_HELP_NAME {
                        entry.helper = Some(h.str("CTA_HELP_NAME")?);
                    }
                }
            }
            _ => {}
        }
    }
    Ok(entry)
}

/// The [`Lookup`] a CTA_TUPLE_* attribute's nested attributes name; `None` for a protocol
/// other than tcp, udp, icmp and icmpv6.
fn read_tuple(attrs: Attrs) -> Result<Option<Lookup>, DecodeError> {
    let (mut src, mut dst, mut proto) = (None, None, None);
    let (mut ports, mut icmp) = ([0u16; 2], [0u16; 3]);
    for a in attrs {
        let a = a?;
        match a.kind() {
            CTA_TUPLE_IP => {
                for ip in a.nested() {
                    let ip = ip?;
                    let addr = |p: &[u8]| -> Option<IpAddr> {
                        match p.len() {
                            4 => <[u8; 4]>::try_from(p).ok().map(IpAddr::from),
                            16 => <[u8; 16]>::try_from(p).ok().map(IpAddr::from),
                            _ => None,
                        }
                    };
                    match ip.kind() {
                        CTA_IP_V4_SRC | CTA_IP_V6_SRC => src = addr(ip.payload),
                        CTA_IP_V4_DST | CTA_IP_V6_DST => dst = addr(ip.payload),
                        _ => {}
                    }
                }
            }
            CTA_TUPLE_PROTO => {
                for p in a.nested() {
                    let p = p?;
                    match p.kind() {
                        CTA_PROTO_NUM => proto = Some(p.u8("CTA_PROTO_NUM")?),
                        CTA_PROTO_SRC_PORT => ports[0] = p.be16("CTA_PROTO_SRC_PORT")?,
                        CTA_PROTO_DST_PORT => ports[1] = p.be16("CTA_PROTO_DST_PORT")?,
                        CTA_PROTO_ICMP_ID | CTA_PROTO_ICMPV6_ID => {
                            icmp[0] = p.be16("CTA_PROTO_ICMP_ID")?
                        }
                        CTA_PROTO_ICMP_TYPE | CTA_PROTO_ICMPV6_TYPE => {
                            icmp[1] = u16::from(p.u8("CTA_PROTO_ICMP_TYPE")?)
                        }
                        CTA_PROTO_ICMP_CODE | CTA_PROTO_ICMPV6_CODE => {
                            icmp[2] = u16::from(p.u8("CTA_PROTO_ICMP_CODE")?)
                        }
                        _ => {}
                    }
                }
            }
            _ => {}
        }
    }
    let (Some(src), Some(dst), Some(proto)) = (src, dst, proto) else {
        return Ok(None);
    };
    Ok(match proto {
        6 | 17 => Some(Lookup::Ports(Flow {
            proto,
            src,
            sport: ports[0],
            dst,
            dport: ports[1],
        })),
        1 | 58 => Some(Lookup::Icmp {
            src,
            dst,
            id: icmp[0],
            kind: icmp[1] as u8,
            code: icmp[2] as u8,
        }),
        _ => None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{Ipv4Addr, Ipv6Addr};

    fn flow(proto: u8, src: IpAddr, dst: IpAddr) -> Flow {
        Flow {
            proto,
            src,
            sport: 0x1234,
            dst,
            dport: 443,
        }
    }

    /// The attribute bytes after the 16-byte header and the 4-byte nfgenmsg.
    fn attrs(msg: &[u8]) -> &[u8] {
        &msg[20..]
    }

    #[test]
    fn a_udp_entry_has_both_tuples_and_a_timeout_and_no_tcp_state() {
        let f = flow(
            17,
            Ipv4Addr::new(10, 0, 0, 1).into(),
            Ipv4Addr::new(198, 51, 100, 10).into(),
        );
        let m = create(&f, 30, 7);
        // nlmsghdr: length, type (CTNETLINK << 8 | NEW), flags REQUEST|ACK|EXCL|CREATE, seq 7.
        assert_eq!(
            u32::from_ne_bytes(m[0..4].try_into().unwrap()) as usize,
            m.len()
        );
        assert_eq!(u16::from_ne_bytes([m[4], m[5]]), 0x0100);
        assert_eq!(
            u16::from_ne_bytes([m[6], m[7]]),
            0x0001 | 0x0004 | 0x0200 | 0x0400
        );
        assert_eq!(u32::from_ne_bytes(m[8..12].try_into().unwrap()), 7);
        assert_eq!(&m[16..20], &[NFPROTO_IPV4, 0, 0, 0]);
        let tuple = |src: [u8; 4], sport: u16, dst: [u8; 4], dport: u16| {
            let mut t = vec![52, 0, 1, 0x80]; // CTA_TUPLE_* nested, 52 bytes
            t.extend([20, 0, 1, 0x80]); // CTA_TUPLE_IP nested
            t.extend([8, 0, 1, 0]);
            t.extend(src);
            t.extend([8, 0, 2, 0]);
            t.extend(dst);
            t.extend([28, 0, 2, 0x80]); // CTA_TUPLE_PROTO nested
            t.extend([5, 0, 1, 0, 17, 0, 0, 0]);
            t.extend([6, 0, 2, 0]);
            t.extend(sport.to_be_bytes());
            t.extend([0, 0]);
            t.extend([6, 0, 3, 0]);
            t.extend(dport.to_be_bytes());
            t.extend([0, 0]);
            t
        };
        let mut want = tuple([10, 0, 0, 1], 0x1234, [198, 51, 100, 10], 443);
        want.extend(tuple([198, 51, 100, 10], 443, [10, 0, 0, 1], 0x1234));
        want[52 + 2] = 2; // the second is CTA_TUPLE_REPLY
        want.extend([8, 0, 7, 0, 0, 0, 0, 30]); // CTA_TIMEOUT
        assert_eq!(attrs(&m), &want[..]);
        // The update names the original tuple and sets SEEN_REPLY | ASSURED | CONFIRMED.
        let u = seen_reply(&f, 8);
        assert_eq!(u16::from_ne_bytes([u[4], u[5]]), 0x0100);
        assert_eq!(u16::from_ne_bytes([u[6], u[7]]), 0x0001 | 0x0004);
        let mut want = tuple([10, 0, 0, 1], 0x1234, [198, 51, 100, 10], 443);
        want.extend([8, 0, 3, 0, 0, 0, 0, 0x0e]);
        assert_eq!(attrs(&u), &want[..]);
    }

    #[test]
    fn a_tcp_entry_is_established_and_liberal_in_both_directions() {
        let f = flow(
            6,
            Ipv4Addr::new(10, 0, 0, 1).into(),
            Ipv4Addr::new(198, 51, 100, 10).into(),
        );
        let m = create(&f, 30, 1);
        let a = attrs(&m);
        // After the two tuples (52 bytes each) and the timeout (8): the protoinfo.
        let info = &a[52 * 2 + 8..];
        assert_eq!(
            info,
            &[
                32, 0, 4, 0x80, // CTA_PROTOINFO
                28, 0, 1, 0x80, // CTA_PROTOINFO_TCP
                5, 0, 1, 0, 3, 0, 0, 0, // state ESTABLISHED
                6, 0, 4, 0, 8, 8, 0, 0, // flags original: BE_LIBERAL / mask
                6, 0, 5, 0, 8, 8, 0, 0, // flags reply
            ][..]
        );
        assert_eq!(
            u32::from_ne_bytes(m[0..4].try_into().unwrap()) as usize,
            m.len()
        );
    }

    #[test]
    fn ipv6_addresses_use_the_v6_attributes_and_deletion_names_the_original_tuple() {
        let f = flow(
            17,
            Ipv6Addr::new(0xfd77, 0, 0, 0, 0, 0, 0, 2).into(),
            Ipv6Addr::new(0x2001, 0xdb8, 0x51, 0, 0, 0, 0, 0x10).into(),
        );
        let m = delete(&f, 3);
        assert_eq!(u16::from_ne_bytes([m[4], m[5]]), 0x0102);
        assert_eq!(u16::from_ne_bytes([m[6], m[7]]), 0x0001 | 0x0004);
        assert_eq!(m[16], NFPROTO_IPV6);
        let a = attrs(&m);
        // One CTA_TUPLE_ORIG: ip nest (4 + 2 * 20) and proto nest (28).
        assert_eq!(u16::from_ne_bytes([a[0], a[1]]) as usize, 4 + 44 + 28);
        assert_eq!(a.len(), 4 + 44 + 28);
        assert_eq!(&a[8..12], &[20, 0, 3, 0]);
        assert_eq!(&a[12..14], &[0xfd, 0x77]);
        assert_eq!(&a[28..32], &[20, 0, 4, 0]);
    }

    #[test]
    fn a_lookup_names_the_original_tuple_and_a_zone_other_than_the_default() {
        let echo = Lookup::Icmp {
            src: Ipv4Addr::new(198, 18, 0, 1).into(),
            dst: Ipv4Addr::new(10, 77, 0, 1).into(),
            id: 0x1001,
            kind: 8,
            code: 0,
        };
        let m = get(&echo, 0, 4);
        // nlmsghdr: type CTNETLINK << 8 | GET, flags REQUEST|ACK.
        assert_eq!(u16::from_ne_bytes([m[4], m[5]]), 0x0101);
        assert_eq!(u16::from_ne_bytes([m[6], m[7]]), 0x0001 | 0x0004);
        assert_eq!(m[16], NFPROTO_IPV4);
        let mut want = vec![60, 0, 1, 0x80]; // CTA_TUPLE_ORIG
        want.extend([
            20, 0, 1, 0x80, 8, 0, 1, 0, 198, 18, 0, 1, 8, 0, 2, 0, 10, 77, 0, 1,
        ]);
        want.extend([36, 0, 2, 0x80]); // CTA_TUPLE_PROTO: icmp, id, type, code
        want.extend([5, 0, 1, 0, 1, 0, 0, 0]);
        want.extend([6, 0, 4, 0, 0x10, 0x01, 0, 0]);
        want.extend([5, 0, 5, 0, 8, 0, 0, 0]);
        want.extend([5, 0, 6, 0, 0, 0, 0, 0]);
        assert_eq!(attrs(&m), &want[..]);
        // In another zone, CTA_ZONE follows; over IPv6 the icmpv6 attributes are used.
        let v6 = Lookup::Icmp {
            src: Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 3).into(),
            dst: Ipv6Addr::new(0xfd77, 0, 0, 0, 0, 0, 0, 1).into(),
            id: 7,
            kind: 128,
            code: 0,
        };
        let a = attrs(&get(&v6, 1, 5)).to_vec();
        assert_eq!(&a[a.len() - 8..], &[6, 0, 18, 0, 0, 1, 0, 0]);
        let proto = &a[4 + 44..4 + 44 + 36];
        assert_eq!(&proto[4..9], &[5, 0, 1, 0, 58]);
        assert_eq!(&proto[12..16], &[6, 0, 7, 0]);
        assert_eq!(&proto[20..24], &[5, 0, 8, 0]);
        assert_eq!(proto[24], 128);
        // A tcp lookup is the flow's tuple.
        let f = flow(
            6,
            Ipv4Addr::new(10, 0, 0, 1).into(),
            Ipv4Addr::new(10, 0, 0, 2).into(),
        );
        assert_eq!(attrs(&get(&Lookup::Ports(f), 0, 6)), attrs(&delete(&f, 6)));
    }

    #[test]
    fn an_entry_says_its_mark_zone_and_helper() {
        let mut payload = vec![NFPROTO_IPV4, 0, 0, 0];
        // A tuple (skipped), the status, then mark, zone and the helper's name.
        payload.extend([8, 0, 3, 0, 0, 0, 0, 0x0e]);
        payload.extend([8, 0, 8, 0, 0, 0, 0, 0x02]);
        payload.extend([6, 0, 18, 0, 0, 1, 0, 0]);
        payload.extend([12, 0, 5, 0x80, 8, 0, 1, 0, b'f', b't', b'p', 0]);
        assert_eq!(
            read_entry(&payload),
            Ok(Entry {
                mark: 2,
                zone: 1,
                helper: Some("ftp".into()),
                original: None,
            })
        );
        assert_eq!(read_entry(&payload[..4]), Ok(Entry::default()));
        assert!(read_entry(&payload[..2]).is_err());
        assert!(read_entry(&payload[..10]).is_err());
        // The original tuple of an entry reads back as the lookup that names it.
        for lookup in [
            Lookup::Ports(flow(
                17,
                Ipv4Addr::new(198, 18, 0, 1).into(),
                Ipv4Addr::new(10, 77, 0, 1).into(),
            )),
            Lookup::Icmp {
                src: Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 3).into(),
                dst: Ipv6Addr::new(0xfd77, 0, 0, 0, 0, 0, 0, 1).into(),
                id: 7,
                kind: 128,
                code: 0,
            },
        ] {
            let mut event = vec![NFPROTO_IPV4, 0, 0, 0];
            lookup.put_tuple(&mut event, CTA_TUPLE_ORIG);
            event.extend([8, 0, 8, 0, 0, 0, 0, 0x07]);
            let e = read_entry(&event).unwrap();
            assert_eq!((e.original, e.mark), (Some(lookup), 7));
        }
    }

    #[test]
    fn the_reply_direction_swaps_addresses_and_ports() {
        let f = flow(
            6,
            Ipv4Addr::new(10, 0, 0, 1).into(),
            Ipv4Addr::new(10, 0, 0, 2).into(),
        );
        let r = f.reversed();
        assert_eq!(
            (r.src, r.sport, r.dst, r.dport),
            (f.dst, f.dport, f.src, f.sport)
        );
        assert_eq!(r.reversed(), f);
    }
}
