//! Raw IPv4 and IPv6 packets for verification probes: built byte by byte and sent without
//! routing.
//!
//! A [`Packet`] is an IPv4 header without options, or an IPv6 header (with a routing header
//! for `-m rt`), followed by TCP (no options but a SYN's MSS), UDP, ICMP / ICMPv6 or 8 bytes of
//! another protocol, all checksums computed here (over the pseudo-header for TCP, UDP and
//! ICMPv6), sent whole or as two fragments ([`Packet::fragments`]). Every probe packet carries
//! its own identifier (the IP id, or the IPv6 flow label), which is how the server-side
//! observer recognises it; neighbour
//! discovery messages go out with hop limit 255. [`LinkSender`] writes packets straight onto a
//! veth end with an `AF_PACKET` socket (the kernel adds the Ethernet header), so the source can
//! be any address and the arrival interface is exactly the chosen link, with no routing or
//! neighbour lookup on the client; it also sends the observer's barrier frames. [`RawSender`]
//! is an `IPPROTO_RAW` socket, for packets a namespace sends to itself (they arrive on `lo`).
//!
//! This module does not decide what to send (see `probes`) nor judge verdicts (see `observe`);
//! sockets are opened in the calling thread's network namespace.

use super::observe::{BARRIER_ETHERTYPE, BARRIER_MAGIC};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

pub const FIN: u8 = 0x01;
pub const SYN: u8 = 0x02;
pub const RST: u8 = 0x04;
pub const PSH: u8 = 0x08;
pub const ACK: u8 = 0x10;
pub const URG: u8 = 0x20;
/// What iptables calls `ALL` in `--tcp-flags` (ECE and CWR are not part of it).
pub const ALL: u8 = FIN | SYN | RST | PSH | ACK | URG;

pub const ICMP_ECHO_REQUEST: u8 = 8;
pub const ICMP_DEST_UNREACHABLE: u8 = 3;
pub const ICMP_TIMESTAMP: u8 = 13;
pub const ICMPV6_DEST_UNREACHABLE: u8 = 1;
pub const ICMPV6_ECHO_REQUEST: u8 = 128;

const IPPROTO_TCP: u8 = 6;
const IPPROTO_UDP: u8 = 17;
const IPPROTO_ICMP: u8 = 1;
const IPPROTO_ICMPV6: u8 = 58;
const IPPROTO_GRE: u8 = 47;
/// IPv6's routing extension header.
const IPPROTO_ROUTING: u8 = 43;
/// IPv6's fragment extension header.
const IPPROTO_FRAGMENT: u8 = 44;

/// The transport part of a crafted packet.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum L4 {
    Tcp {
        sport: u16,
        dport: u16,
        flags: u8,
        seq: u32,
        ack: u32,
    },
    Udp {
        sport: u16,
        dport: u16,
        payload: Vec<u8>,
    },
    /// `rest` is the 4 bytes after the checksum (identifier and sequence for echo).
    Icmp {
        kind: u8,
        code: u8,
        rest: [u8; 4],
        payload: Vec<u8>,
    },
    /// Any other protocol (GRE, ESP, AH, IGMP, ...): `payload` is all there is after the IP
    /// header, no checksum is computed.
    Other { protocol: u8, payload: Vec<u8> },
}

/// A crafted IPv4 packet. The constructors leave `id` 0; senders give each probe its own.
/// A crafted IPv4 or IPv6 packet (IPv6 when either address is; an IPv4 address beside an IPv6
/// one is written IPv4-mapped). The constructors leave `id` 0; senders give each probe its own:
/// the IPv4 id, or the IPv6 flow label.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Packet {
    pub id: u16,
    pub src: IpAddr,
    pub dst: IpAddr,
    pub l4: L4,
    /// An IPv6 routing header between the IPv6 header and the transport one.
    pub routing: Option<Routing>,
    /// The IPv6 flow label, when not `id` (a fragment header carries `id` either way).
    pub flow: Option<u32>,
}

/// An IPv6 routing header (`-m rt`, nft `rt type`): its type, segments left, and length field
/// (in 8-byte units after the first 8; the bytes are zeros, which for type 0 are that many
/// halves of unspecified addresses).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
pub struct Routing {
    pub kind: u8,
    pub segments_left: u8,
    pub hdrlen: u8,
}

impl Routing {
    fn bytes(&self, next: u8) -> Vec<u8> {
        let mut b = vec![next, self.hdrlen, self.kind, self.segments_left, 0, 0, 0, 0];
        b.resize(8 + 8 * usize::from(self.hdrlen), 0);
        b
    }
}

impl std::fmt::Display for Routing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match (self.segments_left, self.hdrlen) {
            (0, 0) => write!(f, "{}", self.kind),
            (s, 0) => write!(f, "{}/{s}", self.kind),
            (s, l) => write!(f, "{}/{s}/{l}", self.kind),
        }
    }
}

impl Packet {
    /// TCP without payload; the acknowledgment number is nonzero iff ACK is set.
    pub fn tcp(
        src: impl Into<IpAddr>,
        sport: u16,
        dst: impl Into<IpAddr>,
        dport: u16,
        flags: u8,
    ) -> Packet {
        let ack = if flags & ACK != 0 { 0x0001_0000 } else { 0 };
        Packet {
            id: 0,
            routing: None,
            flow: None,
            src: src.into(),
            dst: dst.into(),
            l4: L4::Tcp {
                sport,
                dport,
                flags,
                seq: 0x1000_0000 | u32::from(sport),
                ack,
            },
        }
    }

    /// UDP with a short payload.
    pub fn udp(src: impl Into<IpAddr>, sport: u16, dst: impl Into<IpAddr>, dport: u16) -> Packet {
        Packet {
            id: 0,
            routing: None,
            flow: None,
            src: src.into(),
            dst: dst.into(),
            l4: L4::Udp {
                sport,
                dport,
                payload: b"probe".to_vec(),
            },
        }
    }

    /// ICMP (ICMPv6 over IPv6) echo-request with identifier `ident` and sequence `sequence`.
    pub fn echo_request(
        src: impl Into<IpAddr>,
        dst: impl Into<IpAddr>,
        ident: u16,
        sequence: u16,
    ) -> Packet {
        let (src, dst) = (src.into(), dst.into());
        let ([i0, i1], [s0, s1]) = (ident.to_be_bytes(), sequence.to_be_bytes());
        let kind = if src.is_ipv6() || dst.is_ipv6() {
            ICMPV6_ECHO_REQUEST
        } else {
            ICMP_ECHO_REQUEST
        };
        Packet {
            id: 0,
            routing: None,
            flow: None,
            src,
            dst,
            l4: L4::Icmp {
                kind,
                code: 0,
                rest: [i0, i1, s0, s1],
                payload: b"ping".to_vec(),
            },
        }
    }

    /// Any ICMP (ICMPv6 over IPv6) message. Error messages (IPv4 destination unreachable, IPv6
    /// types below 128) quote `quoted` (an IP header and the first 8 bytes after it), or a
    /// plausible UDP datagram when `quoted` is empty. Neighbour discovery messages (ICMPv6 133 to
    /// 137) carry 32 zero bytes (room for the target and destination addresses); other types 12.
    /// `ident` fills the identifier field of query types (the reserved field of ND messages).
    pub fn icmp(
        src: impl Into<IpAddr>,
        dst: impl Into<IpAddr>,
        kind: u8,
        code: u8,
        ident: u16,
        quoted: &[u8],
    ) -> Packet {
        let (src, dst) = (src.into(), dst.into());
        let v6 = src.is_ipv6() || dst.is_ipv6();
        let error = if v6 {
            kind < 128
        } else {
            kind == ICMP_DEST_UNREACHABLE
        };
        let payload = if error {
            if quoted.is_empty() {
                let q = Packet::udp(dst, 33000, src, 53).with_id(1).to_bytes();
                let header = if v6 { 40 } else { 20 };
                q[..header + 8].to_vec()
            } else {
                quoted.to_vec()
            }
        } else if v6 && is_nd(kind) {
            vec![0; 32]
        } else {
            vec![0; 12]
        };
        let [i0, i1] = ident.to_be_bytes();
        let rest = if error { [0; 4] } else { [i0, i1, 0, 1] };
        Packet {
            id: 0,
            routing: None,
            flow: None,
            src,
            dst,
            l4: L4::Icmp {
                kind,
                code,
                rest,
                payload,
            },
        }
    }

    /// A packet of another protocol than tcp, udp and icmp, carrying 8 bytes: for GRE a
    /// version 0 header for IPv4 (protocol type 0x0800) and a key-less rest, for the others
    /// `nonce` and a fixed pattern (an ESP packet's SPI and sequence number). Nothing in the
    /// server answers or accepts such a packet; raw sockets see it after INPUT all the same.
    pub fn other(
        src: impl Into<IpAddr>,
        dst: impl Into<IpAddr>,
        protocol: u8,
        nonce: u16,
    ) -> Packet {
        let [n0, n1] = nonce.to_be_bytes();
        let payload = match protocol {
            IPPROTO_GRE => vec![0, 0, 0x08, 0x00, n0, n1, 0, 0],
            _ => vec![0, 1, n0, n1, 0, 0, 0, 1],
        };
        Packet {
            id: 0,
            routing: None,
            flow: None,
            src: src.into(),
            dst: dst.into(),
            l4: L4::Other { protocol, payload },
        }
    }

    pub fn with_id(mut self, id: u16) -> Packet {
        self.id = id;
        self
    }

    /// The IPv6 flow label `flow` instead of the id (which a fragment header carries all the
    /// same).
    pub fn with_flow(mut self, flow: u32) -> Packet {
        self.flow = Some(flow);
        self
    }

    /// The packet with a routing header (IPv6 only; an IPv4 packet is left as it is).
    pub fn with_routing(mut self, routing: Option<Routing>) -> Packet {
        if self.is_ipv6() {
            self.routing = routing;
        }
        self
    }

    /// Whether the packet goes out as IPv6.
    pub fn is_ipv6(&self) -> bool {
        self.src.is_ipv6() || self.dst.is_ipv6()
    }

    pub fn protocol(&self) -> u8 {
        match self.l4 {
            L4::Tcp { .. } => IPPROTO_TCP,
            L4::Udp { .. } => IPPROTO_UDP,
            L4::Icmp { .. } if self.is_ipv6() => IPPROTO_ICMPV6,
            L4::Icmp { .. } => IPPROTO_ICMP,
            L4::Other { protocol, .. } => protocol,
        }
    }

    /// The packet on the wire: a 20-byte IPv4 or 40-byte IPv6 header, then the transport header
    /// and payload.
    pub fn to_bytes(&self) -> Vec<u8> {
        self.assemble(&[])
    }

    /// The packet as two fragments (`-f`, nft `ip frag-off`, `frag frag-off`): the first holds
    /// the transport header (and any payload), padded to a multiple of 8 bytes; the second, at
    /// that offset, 8 bytes starting with the transport header's ports (tcp, udp, another
    /// protocol's first 4 bytes) or ICMP type and code, then zeros. A match that read ports
    /// or an ICMP type at the start of a non-first fragment's payload, as nft's transport
    /// loads do without a guard, would find the same ones there. IPv4 fragments clear DF and
    /// set MF on the first; IPv6 ones carry a fragment header (identification: the packet's
    /// id) after any routing header. Both fragments keep the packet's id or flow label, so the
    /// observer knows them; the transport checksum is the whole datagram's.
    pub fn fragments(&self) -> [Vec<u8>; 2] {
        let plain = self.to_bytes();
        let head = self.header_len();
        let transport = plain.len() - head;
        let split = transport.div_ceil(8).max(1) * 8;
        // The ports (tcp, udp) or the type and code (icmp): not the checksum, which covers
        // this copy too.
        let mut copy = [0u8; 8];
        let kept = if matches!(self.l4, L4::Icmp { .. }) {
            2
        } else {
            4
        };
        copy[..kept].copy_from_slice(&plain[head..head + kept]);
        let mut tail = vec![0; split - transport];
        tail.extend_from_slice(&copy);
        let whole = self.assemble(&tail);
        let (header, l4) = whole.split_at(head);
        let (first, second) = l4.split_at(split);
        let fragment = |payload: &[u8], offset: usize, more: bool| -> Vec<u8> {
            let mut ip = header.to_vec();
            if self.is_ipv6() {
                // The unfragmentable part is the IPv6 header and any routing header, whose
                // last next-header field now names the fragment header.
                let next_at = if self.routing.is_some() { 40 } else { 6 };
                let next = std::mem::replace(&mut ip[next_at], IPPROTO_FRAGMENT);
                let len = ip.len() - 40 + 8 + payload.len();
                ip[4..6].copy_from_slice(&(len as u16).to_be_bytes());
                let field = ((offset / 8) as u16) << 3 | u16::from(more);
                ip.extend_from_slice(&[next, 0]);
                ip.extend_from_slice(&field.to_be_bytes());
                ip.extend_from_slice(&u32::from(self.id).to_be_bytes());
            } else {
                ip[2..4].copy_from_slice(&((20 + payload.len()) as u16).to_be_bytes());
                let field = ((offset / 8) as u16) | if more { 0x2000 } else { 0 };
                ip[6..8].copy_from_slice(&field.to_be_bytes());
                ip[10..12].copy_from_slice(&[0, 0]);
                let sum = checksum(&[&ip]);
                ip[10..12].copy_from_slice(&sum.to_be_bytes());
            }
            ip.extend_from_slice(payload);
            ip
        };
        [fragment(first, 0, true), fragment(second, split, false)]
    }

    /// The length of the IP header (IPv6: with its routing header) [`Packet::assemble`] writes.
    fn header_len(&self) -> usize {
        match (self.is_ipv6(), self.routing) {
            (false, _) => 20,
            (true, None) => 40,
            (true, Some(r)) => 48 + 8 * usize::from(r.hdrlen),
        }
    }

    /// The packet with `tail` after its transport payload, counted in the lengths and the
    /// transport checksum.
    fn assemble(&self, tail: &[u8]) -> Vec<u8> {
        let mut l4 = match &self.l4 {
            L4::Tcp {
                sport,
                dport,
                flags,
                seq,
                ack,
            } => {
                // A SYN carries an MSS option, as every real client's does (a common hardening
                // rule drops SYNs without one: `-m tcpmss ! --mss 536:65535 -j DROP`).
                let syn = flags & SYN != 0;
                let mut b = Vec::with_capacity(24);
                b.extend_from_slice(&sport.to_be_bytes());
                b.extend_from_slice(&dport.to_be_bytes());
                b.extend_from_slice(&seq.to_be_bytes());
                b.extend_from_slice(&ack.to_be_bytes());
                b.push(if syn { 6 << 4 } else { 5 << 4 }); // data offset in words
                b.push(*flags);
                b.extend_from_slice(&64240u16.to_be_bytes()); // window
                b.extend_from_slice(&[0, 0, 0, 0]); // checksum, urgent pointer
                if syn {
                    let mss: u16 = if self.is_ipv6() { 1440 } else { 1460 };
                    b.extend_from_slice(&[2, 4]); // kind MSS, length 4
                    b.extend_from_slice(&mss.to_be_bytes());
                }
                b
            }
            L4::Udp {
                sport,
                dport,
                payload,
            } => {
                let mut b = Vec::with_capacity(8 + payload.len());
                b.extend_from_slice(&sport.to_be_bytes());
                b.extend_from_slice(&dport.to_be_bytes());
                b.extend_from_slice(&((8 + payload.len()) as u16).to_be_bytes());
                b.extend_from_slice(&[0, 0]);
                b.extend_from_slice(payload);
                b
            }
            L4::Icmp {
                kind,
                code,
                rest,
                payload,
            } => {
                let mut b = vec![*kind, *code, 0, 0];
                b.extend_from_slice(rest);
                b.extend_from_slice(payload);
                b
            }
            L4::Other { payload, .. } => payload.clone(),
        };
        l4.extend_from_slice(tail);
        if let L4::Udp { .. } = self.l4 {
            let len = l4.len() as u16;
            l4[4..6].copy_from_slice(&len.to_be_bytes());
        }
        let protocol = self.protocol();
        let pseudo = self.pseudo_header(protocol, l4.len());
        match self.l4 {
            L4::Tcp { .. } => {
                let sum = checksum(&[&pseudo, &l4]);
                l4[16..18].copy_from_slice(&sum.to_be_bytes());
            }
            L4::Udp { .. } => {
                // 0 means "no checksum" in UDP, so a computed 0 is sent as all ones.
                let sum = match checksum(&[&pseudo, &l4]) {
                    0 => 0xffff,
                    sum => sum,
                };
                l4[6..8].copy_from_slice(&sum.to_be_bytes());
            }
            // ICMPv6 covers the pseudo-header, ICMP does not.
            L4::Icmp { .. } if self.is_ipv6() => {
                let sum = checksum(&[&pseudo, &l4]);
                l4[2..4].copy_from_slice(&sum.to_be_bytes());
            }
            L4::Icmp { .. } => {
                let sum = checksum(&[&l4]);
                l4[2..4].copy_from_slice(&sum.to_be_bytes());
            }
            L4::Other { .. } => {}
        }
        let mut ip = match (self.is_ipv6(), self.src, self.dst) {
            (false, IpAddr::V4(src), IpAddr::V4(dst)) => {
                let total = (20 + l4.len()) as u16;
                let mut ip = Vec::with_capacity(usize::from(total));
                ip.extend_from_slice(&[0x45, 0]); // version 4, 5-word header; TOS 0
                ip.extend_from_slice(&total.to_be_bytes());
                ip.extend_from_slice(&self.id.to_be_bytes());
                ip.extend_from_slice(&[0x40, 0]); // DF, fragment offset 0
                ip.extend_from_slice(&[64, protocol, 0, 0]); // TTL, protocol, checksum
                ip.extend_from_slice(&src.octets());
                ip.extend_from_slice(&dst.octets());
                let sum = checksum(&[&ip]);
                ip[10..12].copy_from_slice(&sum.to_be_bytes());
                ip
            }
            _ => {
                // The transport checksum's pseudo-header has the final destination, which with
                // no segments left is the header's.
                let routing = self.routing.map(|r| r.bytes(protocol)).unwrap_or_default();
                let mut ip = Vec::with_capacity(40 + routing.len() + l4.len());
                // version 6, traffic class 0, the id (or `flow`) as flow label
                let flow = self.flow.unwrap_or(u32::from(self.id)) & 0xf_ffff;
                ip.extend_from_slice(&(0x6000_0000u32 | flow).to_be_bytes());
                ip.extend_from_slice(&((routing.len() + l4.len()) as u16).to_be_bytes());
                ip.push(if routing.is_empty() {
                    protocol
                } else {
                    IPPROTO_ROUTING
                });
                ip.push(self.hop_limit());
                ip.extend_from_slice(&v6(self.src).octets());
                ip.extend_from_slice(&v6(self.dst).octets());
                ip.extend_from_slice(&routing);
                ip
            }
        };
        ip.extend_from_slice(&l4);
        ip
    }

    /// 255 for neighbour discovery (RFC 4861 drops anything else), 64 otherwise.
    fn hop_limit(&self) -> u8 {
        match self.l4 {
            L4::Icmp { kind, .. } if is_nd(kind) => 255,
            _ => 64,
        }
    }

    /// The IPv4 (12 bytes) or IPv6 (40 bytes) pseudo-header of the transport checksum.
    fn pseudo_header(&self, protocol: u8, l4_len: usize) -> Vec<u8> {
        let mut p = Vec::with_capacity(40);
        match (self.is_ipv6(), self.src, self.dst) {
            (false, IpAddr::V4(src), IpAddr::V4(dst)) => {
                p.extend_from_slice(&src.octets());
                p.extend_from_slice(&dst.octets());
                p.extend_from_slice(&[0, protocol]);
                p.extend_from_slice(&(l4_len as u16).to_be_bytes());
            }
            _ => {
                p.extend_from_slice(&v6(self.src).octets());
                p.extend_from_slice(&v6(self.dst).octets());
                p.extend_from_slice(&(l4_len as u32).to_be_bytes());
                p.extend_from_slice(&[0, 0, 0, protocol]);
            }
        }
        p
    }
}

/// ICMPv6 neighbour discovery: router solicitation/advertisement, neighbour
/// solicitation/advertisement, redirect.
pub fn is_nd(kind: u8) -> bool {
    (133..=137).contains(&kind)
}

fn v6(a: IpAddr) -> Ipv6Addr {
    match a {
        IpAddr::V4(a) => a.to_ipv6_mapped(),
        IpAddr::V6(a) => a,
    }
}

/// The Internet checksum (RFC 1071) over the concatenation of `parts`; each part but the last
/// must have even length.
pub fn checksum(parts: &[&[u8]]) -> u16 {
    let mut sum: u32 = 0;
    for part in parts {
        for chunk in part.chunks(2) {
            let word = match chunk {
                [hi, lo] => u16::from_be_bytes([*hi, *lo]),
                [hi] => u16::from_be_bytes([*hi, 0]),
                _ => 0,
            };
            sum += u32::from(word);
        }
    }
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

pub(super) fn owned_socket(
    domain: i32,
    kind: i32,
    protocol: i32,
    what: &str,
) -> Result<OwnedFd, String> {
    // SAFETY: plain socket(2) call; the result is checked before being owned.
    let fd = unsafe { libc::socket(domain, kind | libc::SOCK_CLOEXEC, protocol) };
    if fd < 0 {
        return Err(format!(
            "{what} socket: {}",
            std::io::Error::last_os_error()
        ));
    }
    // SAFETY: fd is a fresh descriptor that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// `IPPROTO_RAW` sockets (header included), IPv4 and IPv6; they send in the namespace they
/// were opened in.
pub struct RawSender {
    v4: OwnedFd,
    /// None where the kernel has no IPv6.
    v6: Option<OwnedFd>,
}

impl RawSender {
    /// Opens the sockets in the calling thread's namespace.
    pub fn open() -> Result<RawSender, String> {
        let socket = owned_socket(libc::AF_INET, libc::SOCK_RAW, libc::IPPROTO_RAW, "raw")?;
        let one: libc::c_int = 1;
        // SAFETY: the option value points to a live c_int of the stated size.
        let rc = unsafe {
            libc::setsockopt(
                socket.as_raw_fd(),
                libc::IPPROTO_IP,
                libc::IP_HDRINCL,
                (&one as *const libc::c_int).cast(),
                std::mem::size_of::<libc::c_int>() as libc::socklen_t,
            )
        };
        if rc != 0 {
            return Err(format!("IP_HDRINCL: {}", std::io::Error::last_os_error()));
        }
        // An IPv6 IPPROTO_RAW socket always includes the header.
        let v6 = owned_socket(
            libc::AF_INET6,
            libc::SOCK_RAW,
            libc::IPPROTO_RAW,
            "raw ipv6",
        )
        .ok();
        Ok(RawSender { v4: socket, v6 })
    }

    /// [`RawSender::open`], the sockets owned by user `uid` and group `gid`: what `-m owner`
    /// and `meta skuid`/`skgid` read of a packet is its socket's file's filesystem ids, which
    /// are the creating thread's. This thread's are set for the sockets' creation only (they
    /// are per thread, and root may take any), then put back.
    pub fn open_as(uid: u32, gid: u32) -> Result<RawSender, String> {
        // SAFETY: setfsgid/setfsuid change this thread's filesystem ids and read no memory;
        // u32::MAX changes nothing and returns the current id.
        let (old_gid, old_uid) = unsafe { (libc::setfsgid(gid), libc::setfsuid(uid)) };
        let took = unsafe { (libc::setfsgid(u32::MAX), libc::setfsuid(u32::MAX)) };
        let opened = match took {
            (g, u) if (g as u32, u as u32) == (gid, uid) => RawSender::open(),
            (g, u) => Err(format!(
                "cannot open the probe's socket as uid {uid} gid {gid} (this thread has {u}, {g})"
            )),
        };
        // SAFETY: as above, back to the ids the thread had.
        unsafe {
            libc::setfsuid(old_uid as u32);
            libc::setfsgid(old_gid as u32);
        }
        opened
    }

    pub fn send(&self, packet: &Packet) -> Result<(), String> {
        self.raw_send(packet)
            .map_err(|e| format!("send probe to {}: {e}", packet.dst))
    }

    /// Like [`RawSender::send`]; false when the namespace's own OUTPUT path refused the packet
    /// (`EPERM`), which is the ruleset's doing, not a failure.
    pub fn try_send(&self, packet: &Packet) -> Result<bool, String> {
        match self.raw_send(packet) {
            Ok(()) => Ok(true),
            Err(e) if e.raw_os_error() == Some(libc::EPERM) => Ok(false),
            Err(e) => Err(format!("send probe to {}: {e}", packet.dst)),
        }
    }

    /// Like [`RawSender::try_send`], out of interface `scope` (an ifindex) where the
    /// destination is IPv6 link-local or multicast: such an address means nothing without its
    /// link.
    pub fn try_send_scoped(&self, packet: &Packet, scope: u32) -> Result<bool, String> {
        match self.raw_send_scoped(packet, scope) {
            Ok(()) => Ok(true),
            Err(e) if e.raw_os_error() == Some(libc::EPERM) => Ok(false),
            Err(e) => Err(format!("send probe to {}: {e}", packet.dst)),
        }
    }

    fn raw_send(&self, packet: &Packet) -> std::io::Result<()> {
        self.raw_send_scoped(packet, 0)
    }

    fn raw_send_scoped(&self, packet: &Packet, scope: u32) -> std::io::Result<()> {
        match (packet.is_ipv6(), packet.dst) {
            (false, IpAddr::V4(dst)) => raw_send_to(&self.v4, packet, &sockaddr_in(dst, 0)),
            _ => {
                let socket = self.v6.as_ref().ok_or_else(|| {
                    std::io::Error::new(std::io::ErrorKind::Unsupported, "no IPv6 in this kernel")
                })?;
                let dst = v6(packet.dst);
                let mut to = sockaddr_in6(dst, 0);
                to.sin6_scope_id = scope_for(dst, scope);
                raw_send_to(socket, packet, &to)
            }
        }
    }
}

/// An `AF_PACKET` datagram socket writing IP packets onto one interface, addressed to a fixed
/// MAC: no route, no neighbour lookup, no source-address check on the sending side.
pub struct LinkSender {
    socket: OwnedFd,
    to: libc::sockaddr_ll,
}

impl LinkSender {
    /// Opens the socket in the calling thread's namespace, for interface `iface` there.
    pub fn open(iface: &str, peer_mac: [u8; 6]) -> Result<LinkSender, String> {
        let name = std::ffi::CString::new(iface).map_err(|_| format!("bad interface {iface}"))?;
        // SAFETY: name is a valid NUL-terminated string for the call.
        let index = unsafe { libc::if_nametoindex(name.as_ptr()) };
        if index == 0 {
            return Err(format!(
                "no interface {iface}: {}",
                std::io::Error::last_os_error()
            ));
        }
        let eth_p_ip = (libc::ETH_P_IP as u16).to_be();
        let socket = owned_socket(
            libc::AF_PACKET,
            libc::SOCK_DGRAM,
            i32::from(eth_p_ip),
            "packet",
        )?;
        let mut addr = [0u8; 8];
        addr[..6].copy_from_slice(&peer_mac);
        let to = libc::sockaddr_ll {
            sll_family: libc::AF_PACKET as u16,
            sll_protocol: eth_p_ip,
            sll_ifindex: index as i32,
            sll_hatype: 0,
            sll_pkttype: 0,
            sll_halen: 6,
            sll_addr: addr,
        };
        Ok(LinkSender { socket, to })
    }

    /// Sends `packet` in a frame to the server, or, to the limited broadcast address or a
    /// multicast group, to the link-layer address a host would use for it: the server then sees
    /// it as broadcast or multicast (`-m pkttype`), as from a real network.
    pub fn send(&self, packet: &Packet) -> Result<(), String> {
        send_to(&self.socket, packet, &self.to_of(packet))
    }

    /// Sends `pieces`, the bytes of `packet` (its [`Packet::to_bytes`], or its two
    /// [`Packet::fragments`]), in order, as [`LinkSender::send`] does.
    pub fn send_pieces(&self, packet: &Packet, pieces: &[Vec<u8>]) -> Result<(), String> {
        let to = self.to_of(packet);
        for bytes in pieces {
            send_bytes(&self.socket, bytes, &to)
                .map_err(|e| format!("send probe to {}: {e}", packet.dst))?;
        }
        Ok(())
    }

    fn to_of(&self, packet: &Packet) -> libc::sockaddr_ll {
        let ethertype = if packet.is_ipv6() {
            libc::ETH_P_IPV6
        } else {
            libc::ETH_P_IP
        };
        let mut to = libc::sockaddr_ll {
            sll_protocol: (ethertype as u16).to_be(),
            ..self.to
        };
        if let Some(mac) = link_group(packet.dst) {
            to.sll_addr[..6].copy_from_slice(&mac);
        }
        to
    }

    /// Sends a barrier frame carrying `nonce` (see `observe::Observer::barrier`): ethertype
    /// `BARRIER_ETHERTYPE`, which no protocol handler on the server takes.
    pub fn send_barrier(&self, nonce: u32) -> Result<(), String> {
        let mut frame = BARRIER_MAGIC.to_vec();
        frame.extend_from_slice(&nonce.to_be_bytes());
        let to = libc::sockaddr_ll {
            sll_protocol: BARRIER_ETHERTYPE.to_be(),
            ..self.to
        };
        // SAFETY: frame and to are live for the call, with their exact sizes.
        let n = unsafe {
            libc::sendto(
                self.socket.as_raw_fd(),
                frame.as_ptr().cast(),
                frame.len(),
                0,
                (&to as *const libc::sockaddr_ll).cast(),
                std::mem::size_of::<libc::sockaddr_ll>() as libc::socklen_t,
            )
        };
        if n != frame.len() as isize {
            return Err(format!(
                "send barrier frame: {}",
                std::io::Error::last_os_error()
            ));
        }
        Ok(())
    }
}

/// The link-layer address of a frame to `dst` where it is not a host's: all ones for IPv4's
/// limited broadcast address; for a multicast group, 01:00:5e and its low 23 bits (RFC 1112)
/// or 33:33 and its low 32 bits (RFC 2464).
pub fn link_group(dst: IpAddr) -> Option<[u8; 6]> {
    match dst {
        IpAddr::V4(a) if a.is_broadcast() => Some([0xff; 6]),
        IpAddr::V4(a) if a.is_multicast() => {
            let o = a.octets();
            Some([0x01, 0x00, 0x5e, o[1] & 0x7f, o[2], o[3]])
        }
        IpAddr::V6(a) if a.is_multicast() => {
            let o = a.octets();
            Some([0x33, 0x33, o[12], o[13], o[14], o[15]])
        }
        _ => None,
    }
}

/// Sends `packet` on `socket` to the socket address `to` (a `sockaddr_in` or `sockaddr_ll`).
fn send_to<A>(socket: &OwnedFd, packet: &Packet, to: &A) -> Result<(), String> {
    raw_send_to(socket, packet, to).map_err(|e| format!("send probe to {}: {e}", packet.dst))
}

fn raw_send_to<A>(socket: &OwnedFd, packet: &Packet, to: &A) -> std::io::Result<()> {
    send_bytes(socket, &packet.to_bytes(), to)
}

fn send_bytes<A>(socket: &OwnedFd, bytes: &[u8], to: &A) -> std::io::Result<()> {
    // SAFETY: bytes and the address are live for the call, with their exact sizes; the kernel
    // checks the address family against the socket's.
    let n = unsafe {
        libc::sendto(
            socket.as_raw_fd(),
            bytes.as_ptr().cast(),
            bytes.len(),
            0,
            (to as *const A).cast(),
            std::mem::size_of::<A>() as libc::socklen_t,
        )
    };
    if n != bytes.len() as isize {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

/// `scope` where `addr` is link-local (`fe80::/10`) or multicast, else 0 (other addresses are
/// routed without one; the kernel reads it only for link- and interface-scoped ones).
pub(crate) fn scope_for(addr: Ipv6Addr, scope: u32) -> u32 {
    if is_link_local(addr) || addr.is_multicast() {
        scope
    } else {
        0
    }
}

/// Whether `addr` is IPv6 link-local (`fe80::/10`).
pub(crate) fn is_link_local(addr: Ipv6Addr) -> bool {
    addr.segments()[0] & 0xffc0 == 0xfe80
}

pub(crate) fn sockaddr_in6(addr: Ipv6Addr, port: u16) -> libc::sockaddr_in6 {
    libc::sockaddr_in6 {
        sin6_family: libc::AF_INET6 as libc::sa_family_t,
        sin6_port: port.to_be(),
        sin6_flowinfo: 0,
        sin6_addr: libc::in6_addr {
            s6_addr: addr.octets(),
        },
        sin6_scope_id: 0,
    }
}

pub(crate) fn sockaddr_in(addr: Ipv4Addr, port: u16) -> libc::sockaddr_in {
    libc::sockaddr_in {
        sin_family: libc::AF_INET as libc::sa_family_t,
        sin_port: port.to_be(),
        sin_addr: libc::in_addr {
            s_addr: u32::from_ne_bytes(addr.octets()),
        },
        sin_zero: [0; 8],
    }
}

/// The calling thread held on the CPU it runs on, until dropped, when it gets back the CPUs it
/// was allowed before. What it sends into a veth link meanwhile goes into that one CPU's
/// receive queue (a veth as the harness makes it, without XDP and with GRO off, its default,
/// hands each frame to the backlog of the CPU that sent it), so the kernel takes it in the
/// order sent: a barrier frame ([`LinkSender::send_barrier`]) sent last arrives after the
/// others were judged.
pub struct OneCpu(libc::cpu_set_t);

impl OneCpu {
    /// `None` when the kernel does not say which CPU this is or refuses the change.
    pub fn hold() -> Option<OneCpu> {
        let size = std::mem::size_of::<libc::cpu_set_t>();
        // SAFETY: an all-zero cpu_set_t is a valid empty set; the calls get a pointer to a
        // live set and its exact size, and pid 0, the calling thread.
        unsafe {
            let mut before: libc::cpu_set_t = std::mem::zeroed();
            if libc::sched_getaffinity(0, size, &mut before) != 0 {
                return None;
            }
            let cpu = usize::try_from(libc::sched_getcpu()).ok()?;
            let mut one: libc::cpu_set_t = std::mem::zeroed();
            libc::CPU_SET(cpu, &mut one);
            // Had the thread moved since `sched_getcpu`, this moves it back before returning.
            if libc::sched_setaffinity(0, size, &one) != 0 {
                return None;
            }
            Some(OneCpu(before))
        }
    }
}

impl Drop for OneCpu {
    fn drop(&mut self) {
        // SAFETY: as in `hold`: the set taken there, its size, the calling thread.
        unsafe {
            libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &self.0);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_link_scoped_destinations_carry_the_scope() {
        // Regression: a datagram to or from fe80:: without its interface was EINVAL.
        let cases = [
            ("fe80::", 7),
            ("fe80::77:0:2", 7),
            ("febf:ffff::1", 7),
            ("fec0::1", 0),
            ("ff02::fb", 7),
            ("2001:db8::1", 0),
            ("fd77::1", 0),
            ("::1", 0),
        ];
        for (text, want) in cases {
            let addr: Ipv6Addr = text.parse().unwrap_or_else(|e| panic!("{text}: {e}"));
            assert_eq!(scope_for(addr, 7), want, "{text}");
        }
    }

    #[test]
    fn broadcast_and_multicast_packets_go_to_their_link_layer_addresses() {
        let cases: [(&str, Option<[u8; 6]>); 6] = [
            ("255.255.255.255", Some([0xff; 6])),
            ("224.0.0.251", Some([0x01, 0x00, 0x5e, 0x00, 0x00, 0xfb])),
            // Only 23 bits of the group are in the address: 239.255 loses its top bit.
            (
                "239.255.255.250",
                Some([0x01, 0x00, 0x5e, 0x7f, 0xff, 0xfa]),
            ),
            ("ff02::1:ff00:1", Some([0x33, 0x33, 0xff, 0x00, 0x00, 0x01])),
            ("10.77.0.255", None),
            ("fd77::1", None),
        ];
        for (dst, want) in cases {
            assert_eq!(link_group(dst.parse().unwrap()), want, "{dst}");
        }
    }

    #[test]
    fn crafted_packets_checksum_to_zero() {
        let (src, dst) = (Ipv4Addr::new(10, 77, 0, 3), Ipv4Addr::new(10, 77, 0, 1));
        let cases = [
            Packet::tcp(src, 40000, dst, 22, SYN),
            Packet::tcp(src, 40001, dst, 80, ALL),
            Packet::tcp(src, 40002, dst, 80, 0),
            Packet::udp(src, 53, dst, 33333),
            Packet::echo_request(src, dst, 7, 1),
            Packet::icmp(src, dst, ICMP_DEST_UNREACHABLE, 3, 0, &[]),
            Packet::icmp(src, dst, ICMP_TIMESTAMP, 0, 9, &[]),
        ];
        for packet in cases {
            let bytes = packet.clone().with_id(0x1234).to_bytes();
            assert_eq!(
                usize::from(u16::from_be_bytes([bytes[2], bytes[3]])),
                bytes.len(),
                "{packet:?}: total length"
            );
            assert_eq!(
                checksum(&[&bytes[..20]]),
                0,
                "{packet:?}: IP header checksum"
            );
            let l4 = &bytes[20..];
            let verify = match packet.l4 {
                L4::Icmp { .. } => checksum(&[l4]),
                _ => checksum(&[&packet.pseudo_header(packet.protocol(), l4.len()), l4]),
            };
            assert_eq!(verify, 0, "{packet:?}: transport checksum");
        }
    }

    #[test]
    fn a_syn_carries_an_mss_option_and_nothing_else_does() {
        let (src, dst) = (Ipv4Addr::new(10, 77, 0, 3), Ipv4Addr::new(10, 77, 0, 1));
        let syn = Packet::tcp(src, 40000, dst, 22, SYN | ACK).to_bytes();
        assert_eq!(syn[32] >> 4, 6, "data offset");
        assert_eq!(&syn[40..44], &[2, 4, 0x05, 0xb4], "MSS 1460");
        let ack = Packet::tcp(src, 40000, dst, 22, ACK).to_bytes();
        assert_eq!((ack.len(), ack[32] >> 4), (40, 5));
        let v6: Ipv6Addr = "2001:db8::3".parse().unwrap();
        let syn6 =
            Packet::tcp(v6, 40000, "fd77::1".parse::<Ipv6Addr>().unwrap(), 22, SYN).to_bytes();
        assert_eq!(&syn6[60..64], &[2, 4, 0x05, 0xa0], "MSS 1440");
    }

    #[test]
    fn packets_of_other_protocols_carry_their_number_and_eight_bytes() {
        let gre = Packet::other(
            Ipv4Addr::new(198, 18, 0, 1),
            Ipv4Addr::new(10, 77, 0, 1),
            47,
            7,
        )
        .with_id(0x1234)
        .to_bytes();
        assert_eq!(gre.len(), 28);
        assert_eq!(u16::from_be_bytes([gre[2], gre[3]]), 28, "total length");
        assert_eq!(gre[9], 47, "protocol");
        assert_eq!(checksum(&[&gre[..20]]), 0, "IP header checksum");
        assert_eq!(
            &gre[20..24],
            &[0, 0, 0x08, 0x00],
            "GRE version 0, IPv4 inside"
        );
        let src: Ipv6Addr = "2001:db8::3".parse().unwrap();
        let esp = Packet::other(src, "fd77::1".parse::<Ipv6Addr>().unwrap(), 50, 7)
            .with_id(9)
            .to_bytes();
        assert_eq!(esp.len(), 48);
        assert_eq!(esp[6], 50, "next header");
        assert_eq!(u16::from_be_bytes([esp[4], esp[5]]), 8, "payload length");
        assert_ne!(&esp[40..44], &[0, 0, 0, 0], "an ESP SPI is never 0");
    }

    #[test]
    fn two_fragments_reassemble_into_the_packet_with_the_ports_again_at_the_offset() {
        let (src4, dst4) = (Ipv4Addr::new(198, 18, 0, 1), Ipv4Addr::new(10, 77, 0, 1));
        let src6: Ipv6Addr = "2001:db8::3".parse().unwrap();
        let dst6: Ipv6Addr = "fd77::1".parse().unwrap();
        let rh = Routing {
            kind: 0,
            segments_left: 0,
            hdrlen: 1,
        };
        let packets = [
            Packet::tcp(src4, 40000, dst4, 22, SYN),
            Packet::tcp(src4, 40000, dst4, 22, ACK),
            Packet::udp(src4, 40000, dst4, 53),
            Packet::echo_request(src4, dst4, 7, 1),
            Packet::other(src4, dst4, 47, 7),
            Packet::tcp(src6, 40000, dst6, 22, SYN),
            Packet::udp(src6, 40000, dst6, 53).with_flow(0x3_0035),
            Packet::udp(src6, 40000, dst6, 53).with_routing(Some(rh)),
            Packet::echo_request(src6, dst6, 7, 1),
        ];
        for packet in packets {
            let packet = packet.with_id(0x1234);
            let [first, second] = packet.fragments();
            let v6 = packet.is_ipv6();
            // The unfragmentable part, and where each fragment's payload starts.
            let fixed = match (v6, packet.routing) {
                (false, _) => 20,
                (true, None) => 40,
                (true, Some(r)) => 48 + 8 * usize::from(r.hdrlen),
            };
            let at = if v6 { fixed + 8 } else { fixed };
            let offset_of = |f: &[u8]| -> (usize, bool) {
                if v6 {
                    let field = u16::from_be_bytes([f[fixed + 2], f[fixed + 3]]);
                    (usize::from(field >> 3) * 8, field & 1 == 1)
                } else {
                    let field = u16::from_be_bytes([f[6], f[7]]);
                    (usize::from(field & 0x1fff) * 8, field & 0x2000 != 0)
                }
            };
            assert_eq!(offset_of(&first), (0, true), "{packet:?}: first fragment");
            let (offset, more) = offset_of(&second);
            assert!(!more, "{packet:?}: the second fragment is the last");
            assert_eq!(
                offset,
                first.len() - at,
                "{packet:?}: second starts after first"
            );
            assert_eq!(offset % 8, 0, "{packet:?}: offsets are in 8-byte units");
            let transport = &first[at..];
            // The tcp or udp ports, or the icmp type and code, again.
            let kept = if matches!(packet.l4, L4::Icmp { .. }) {
                2
            } else {
                4
            };
            assert_eq!(&second[at..at + kept], &transport[..kept], "{packet:?}");
            let mut whole = transport.to_vec();
            whole.extend_from_slice(&second[at..]);
            if v6 {
                for f in [&first, &second] {
                    let next_at = if packet.routing.is_some() { 40 } else { 6 };
                    assert_eq!(f[next_at], 44, "{packet:?}: next header: fragment");
                    assert_eq!(
                        f[fixed],
                        packet.protocol(),
                        "{packet:?}: after the fragment"
                    );
                    assert_eq!(
                        &f[fixed + 4..fixed + 8],
                        &[0, 0, 0x12, 0x34],
                        "identification"
                    );
                    let len = u16::from_be_bytes([f[4], f[5]]);
                    assert_eq!(usize::from(len), f.len() - 40, "{packet:?}: payload length");
                    assert_eq!(f[..4], first[..4], "{packet:?}: one flow label");
                }
            } else {
                for f in [&first, &second] {
                    assert_eq!(checksum(&[&f[..20]]), 0, "{packet:?}: IP header checksum");
                    assert_eq!(usize::from(u16::from_be_bytes([f[2], f[3]])), f.len());
                    assert_eq!(&f[4..6], &[0x12, 0x34], "{packet:?}: one id");
                }
            }
            let verify = match packet.l4 {
                L4::Icmp { .. } if !v6 => checksum(&[&whole]),
                L4::Other { .. } => 0,
                _ => checksum(&[
                    &packet.pseudo_header(packet.protocol(), whole.len()),
                    &whole,
                ]),
            };
            assert_eq!(
                verify, 0,
                "{packet:?}: the whole datagram's transport checksum"
            );
            if let L4::Udp { .. } = packet.l4 {
                let len = u16::from_be_bytes([whole[4], whole[5]]);
                assert_eq!(usize::from(len), whole.len(), "{packet:?}: udp length");
            }
        }
        let flow = Packet::udp(src6, 1, dst6, 53)
            .with_id(9)
            .with_flow(0x3_0035);
        assert_eq!(
            &flow.fragments()[1][1..4],
            &[0x03, 0x00, 0x35],
            "the flow label"
        );
    }

    #[test]
    fn a_routing_header_goes_between_the_ipv6_and_transport_headers() {
        let src: Ipv6Addr = "2001:db8::3".parse().unwrap();
        let dst: Ipv6Addr = "fd77::1".parse().unwrap();
        let plain = Packet::tcp(src, 40000, dst, 22, SYN);
        let rh0 = Routing {
            kind: 0,
            segments_left: 0,
            hdrlen: 0,
        };
        let bytes = plain.clone().with_routing(Some(rh0)).to_bytes();
        let without = plain.to_bytes();
        assert_eq!(bytes.len(), without.len() + 8);
        assert_eq!(bytes[6], 43, "next header: routing");
        assert_eq!(
            &bytes[40..48],
            &[6, 0, 0, 0, 0, 0, 0, 0],
            "tcp next, type 0"
        );
        assert_eq!(
            usize::from(u16::from_be_bytes([bytes[4], bytes[5]])) + 40,
            bytes.len(),
            "payload length counts the header"
        );
        assert_eq!(
            &bytes[48..],
            &without[40..],
            "the same tcp segment after it"
        );
        // A longer one: type 2, one segment left, 16 bytes of address after the first 8.
        let rh2 = Routing {
            kind: 2,
            segments_left: 1,
            hdrlen: 2,
        };
        let udp = Packet::udp(src, 53, dst, 5353);
        let bytes = udp.clone().with_routing(Some(rh2)).to_bytes();
        assert_eq!(&bytes[40..44], &[17, 2, 2, 1]);
        assert_eq!(bytes.len(), udp.to_bytes().len() + 24);
        // IPv4 has no routing header to carry.
        let v4 = Packet::udp(
            Ipv4Addr::new(10, 0, 0, 5),
            53,
            Ipv4Addr::new(10, 77, 0, 1),
            53,
        );
        assert_eq!(v4.clone().with_routing(Some(rh0)), v4);
        assert_eq!(
            (rh0.to_string(), rh2.to_string()),
            ("0".into(), "2/1/2".into())
        );
    }

    #[test]
    fn crafted_ipv6_packets_checksum_to_zero_over_the_pseudo_header() {
        let src: Ipv6Addr = "2001:db8::3".parse().unwrap();
        let dst: Ipv6Addr = "fd77::1".parse().unwrap();
        // (packet, next header, hop limit)
        let cases = [
            (Packet::tcp(src, 40000, dst, 22, SYN), 6, 64),
            (Packet::udp(src, 53, dst, 33333), 17, 64),
            (Packet::echo_request(src, dst, 7, 1), 58, 64),
            (
                Packet::icmp(src, dst, ICMPV6_DEST_UNREACHABLE, 4, 0, &[]),
                58,
                64,
            ),
            (Packet::icmp(src, dst, 135, 0, 3, &[]), 58, 255),
        ];
        for (packet, next, hops) in cases {
            let bytes = packet.clone().with_id(0xbeef).to_bytes();
            assert_eq!(bytes[0] >> 4, 6, "{packet:?}: version");
            assert_eq!(
                &bytes[1..4],
                &[0x00, 0xbe, 0xef],
                "{packet:?}: flow label is the id"
            );
            assert_eq!(
                usize::from(u16::from_be_bytes([bytes[4], bytes[5]])) + 40,
                bytes.len(),
                "{packet:?}: payload length"
            );
            assert_eq!((bytes[6], bytes[7]), (next, hops), "{packet:?}");
            let l4 = &bytes[40..];
            let pseudo = packet.pseudo_header(packet.protocol(), l4.len());
            assert_eq!(
                checksum(&[&pseudo, l4]),
                0,
                "{packet:?}: transport checksum"
            );
        }
        let echo = Packet::echo_request(src, dst, 7, 1).to_bytes();
        assert_eq!(
            echo[40], ICMPV6_ECHO_REQUEST,
            "echo over IPv6 is ICMPv6 type 128"
        );
    }

    #[test]
    fn checksum_matches_rfc1071_worked_example() {
        // RFC 1071 section 3: the words 0001 f203 f4f5 f6f7 sum to ddf2, whose complement is 220d.
        assert_eq!(
            checksum(&[&[0x00, 0x01, 0xf2, 0x03], &[0xf4, 0xf5, 0xf6, 0xf7]]),
            0x220d
        );
        // An odd trailing byte is padded with zero on the right.
        assert_eq!(checksum(&[&[0x00, 0x01, 0xf2]]), !0xf201);
    }
}
