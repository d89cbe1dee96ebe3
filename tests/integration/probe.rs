//! Probes: crafted IPv4 packets and real TCP connections sent into a [`Pair`]'s server, each
//! judged in the server namespace by the [`Observer`].
//!
//! Crafted packets are built here byte by byte (IPv4 header without options, TCP without
//! options, UDP, ICMP, all checksums computed) and sent through an `IPPROTO_RAW` socket opened in
//! the client namespace (or the server's own, for loopback traffic), so the source can be any
//! client address and the TCP flags anything at all. Every crafted packet carries its own IP id,
//! which is how the observer recognises it. Real connections ([`Step::Connect`]) produce the
//! conntrack ESTABLISHED traffic that crafted packets cannot: a listener runs in the server
//! namespace for the duration of the probe, and the verdict is whether it received the client's
//! payload.
//!
//! [`run`] plays a probe list in order on one pair; [`compare`] lays two runs side by side. A
//! probe never targets anything but [`SERVER`]; this module loads no ruleset.

use std::fmt::Write as _;
use std::io::{Read, Write};
use std::net::{Ipv4Addr, Shutdown, TcpListener, TcpStream};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use crate::netns::{Pair, SERVER};
use crate::observe::{Observer, PacketKey, Verdict};

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

/// How long a real connection may take to be established before it counts as dropped.
pub const CONNECT_TIMEOUT: Duration = Duration::from_millis(300);
const PAYLOAD: &[u8] = b"fwnet harness payload\n";

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
}

/// A crafted IPv4 packet. `id` is assigned by [`run`]; the constructors leave it 0.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Packet {
    pub id: u16,
    pub src: Ipv4Addr,
    pub dst: Ipv4Addr,
    pub l4: L4,
}

impl Packet {
    /// TCP to [`SERVER`], no payload; the acknowledgment number is nonzero iff ACK is set.
    pub fn tcp(src: Ipv4Addr, sport: u16, dport: u16, flags: u8) -> Packet {
        let ack = if flags & ACK != 0 { 0x0001_0000 } else { 0 };
        Packet {
            id: 0,
            src,
            dst: SERVER,
            l4: L4::Tcp {
                sport,
                dport,
                flags,
                seq: 0x1000_0000 | u32::from(sport),
                ack,
            },
        }
    }

    /// UDP to [`SERVER`] with a short payload.
    pub fn udp(src: Ipv4Addr, sport: u16, dport: u16) -> Packet {
        Packet {
            id: 0,
            src,
            dst: SERVER,
            l4: L4::Udp {
                sport,
                dport,
                payload: b"probe".to_vec(),
            },
        }
    }

    /// ICMP echo-request from `src` to `dst` (the server, or itself for loopback).
    pub fn echo_request(src: Ipv4Addr, dst: Ipv4Addr, sequence: u16) -> Packet {
        let [s0, s1] = sequence.to_be_bytes();
        Packet {
            id: 0,
            src,
            dst,
            l4: L4::Icmp {
                kind: ICMP_ECHO_REQUEST,
                code: 0,
                rest: [0x77, 0x77, s0, s1],
                payload: b"ping".to_vec(),
            },
        }
    }

    /// Any other ICMP message to [`SERVER`]. Error types get a plausible quoted datagram.
    pub fn icmp(src: Ipv4Addr, kind: u8, code: u8) -> Packet {
        let quoted = Packet::udp(SERVER, 33000, 53)
            .with_id(1)
            .with_src_dst(SERVER, src)
            .to_bytes();
        let payload = if kind == ICMP_DEST_UNREACHABLE {
            quoted[..28].to_vec()
        } else {
            vec![0; 12]
        };
        Packet {
            id: 0,
            src,
            dst: SERVER,
            l4: L4::Icmp {
                kind,
                code,
                rest: [0; 4],
                payload,
            },
        }
    }

    pub fn with_id(mut self, id: u16) -> Packet {
        self.id = id;
        self
    }

    fn with_src_dst(mut self, src: Ipv4Addr, dst: Ipv4Addr) -> Packet {
        self.src = src;
        self.dst = dst;
        self
    }

    pub fn protocol(&self) -> u8 {
        match self.l4 {
            L4::Tcp { .. } => libc::IPPROTO_TCP as u8,
            L4::Udp { .. } => libc::IPPROTO_UDP as u8,
            L4::Icmp { .. } => libc::IPPROTO_ICMP as u8,
        }
    }

    /// The packet on the wire: 20-byte IPv4 header, then the transport header and payload.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut l4 = match &self.l4 {
            L4::Tcp {
                sport,
                dport,
                flags,
                seq,
                ack,
            } => {
                let mut b = Vec::with_capacity(20);
                b.extend_from_slice(&sport.to_be_bytes());
                b.extend_from_slice(&dport.to_be_bytes());
                b.extend_from_slice(&seq.to_be_bytes());
                b.extend_from_slice(&ack.to_be_bytes());
                b.push(5 << 4); // data offset: 5 words, no options
                b.push(*flags);
                b.extend_from_slice(&64240u16.to_be_bytes()); // window
                b.extend_from_slice(&[0, 0, 0, 0]); // checksum, urgent pointer
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
        };
        let protocol = self.protocol();
        match self.l4 {
            L4::Tcp { .. } => {
                let sum = checksum(&[&self.pseudo_header(protocol, l4.len()), &l4]);
                l4[16..18].copy_from_slice(&sum.to_be_bytes());
            }
            L4::Udp { .. } => {
                // 0 means "no checksum" in UDP, so a computed 0 is sent as all ones.
                let sum = match checksum(&[&self.pseudo_header(protocol, l4.len()), &l4]) {
                    0 => 0xffff,
                    sum => sum,
                };
                l4[6..8].copy_from_slice(&sum.to_be_bytes());
            }
            L4::Icmp { .. } => {
                let sum = checksum(&[&l4]);
                l4[2..4].copy_from_slice(&sum.to_be_bytes());
            }
        }
        let total = (20 + l4.len()) as u16;
        let mut ip = Vec::with_capacity(usize::from(total));
        ip.extend_from_slice(&[0x45, 0]); // version 4, 5-word header; TOS 0
        ip.extend_from_slice(&total.to_be_bytes());
        ip.extend_from_slice(&self.id.to_be_bytes());
        ip.extend_from_slice(&[0x40, 0]); // DF, fragment offset 0
        ip.extend_from_slice(&[64, protocol, 0, 0]); // TTL, protocol, checksum
        ip.extend_from_slice(&self.src.octets());
        ip.extend_from_slice(&self.dst.octets());
        let sum = checksum(&[&ip]);
        ip[10..12].copy_from_slice(&sum.to_be_bytes());
        ip.extend_from_slice(&l4);
        ip
    }

    fn pseudo_header(&self, protocol: u8, l4_len: usize) -> [u8; 12] {
        let mut p = [0u8; 12];
        p[0..4].copy_from_slice(&self.src.octets());
        p[4..8].copy_from_slice(&self.dst.octets());
        p[9] = protocol;
        p[10..12].copy_from_slice(&(l4_len as u16).to_be_bytes());
        p
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

/// An `IPPROTO_RAW` socket (header included); it sends in the namespace it was opened in.
pub struct RawSender(OwnedFd);

impl RawSender {
    /// Opens the socket in the calling thread's namespace: call it inside `Netns::run_in`.
    pub fn open() -> Result<RawSender, String> {
        // SAFETY: plain socket(2) call; the result is checked before being owned.
        let fd = unsafe {
            libc::socket(
                libc::AF_INET,
                libc::SOCK_RAW | libc::SOCK_CLOEXEC,
                libc::IPPROTO_RAW,
            )
        };
        if fd < 0 {
            return Err(format!("raw socket: {}", std::io::Error::last_os_error()));
        }
        // SAFETY: fd is a fresh descriptor that nothing else owns.
        let socket = unsafe { OwnedFd::from_raw_fd(fd) };
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
        Ok(RawSender(socket))
    }

    pub fn send(&self, packet: &Packet) -> Result<(), String> {
        let bytes = packet.to_bytes();
        let to = sockaddr(packet.dst, 0);
        // SAFETY: bytes and the sockaddr_in are live for the call, with their exact sizes.
        let n = unsafe {
            libc::sendto(
                self.0.as_raw_fd(),
                bytes.as_ptr().cast(),
                bytes.len(),
                0,
                (&to as *const libc::sockaddr_in).cast(),
                std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t,
            )
        };
        if n != bytes.len() as isize {
            return Err(format!(
                "send probe to {}: {}",
                packet.dst,
                std::io::Error::last_os_error()
            ));
        }
        Ok(())
    }
}

fn sockaddr(addr: Ipv4Addr, port: u16) -> libc::sockaddr_in {
    libc::sockaddr_in {
        sin_family: libc::AF_INET as libc::sa_family_t,
        sin_port: port.to_be(),
        sin_addr: libc::in_addr {
            s_addr: u32::from_ne_bytes(addr.octets()),
        },
        sin_zero: [0; 8],
    }
}

/// Which namespace a crafted packet leaves from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Origin {
    Client,
    /// The server itself, so the packet arrives on `lo`.
    Server,
}

#[derive(Clone, Debug)]
pub enum Step {
    Crafted {
        from: Origin,
        packet: Packet,
    },
    /// A real TCP connection from `src:sport` to the server's `dport`, carrying a payload.
    Connect {
        src: Ipv4Addr,
        sport: u16,
        dport: u16,
    },
}

/// One probe: a name for the report, what to send, and optionally the verdict it must get.
#[derive(Clone, Debug)]
pub struct Probe {
    pub name: String,
    pub step: Step,
    pub expect: Option<Verdict>,
}

/// Plays `probes` in order against `pair`'s server and returns one verdict per probe.
///
/// Order matters (conntrack and hashlimit state carry over), so two runs compared with
/// [`compare`] must use the same list on equally fresh pairs.
pub fn run(pair: &Pair, probes: &[Probe]) -> Result<Vec<Verdict>, String> {
    let from_client = pair.client.run_in(RawSender::open)?;
    let from_server = pair.server.run_in(RawSender::open)?;
    let mut observer = Observer::start(&pair.server)?;
    let mut verdicts = Vec::with_capacity(probes.len());
    for (n, probe) in probes.iter().enumerate() {
        let verdict = match &probe.step {
            Step::Crafted { from, packet } => {
                // Ids from 0x1000 up: distinct per probe, never 0 (the kernel would pick one).
                let packet = packet.clone().with_id(0x1000 + n as u16);
                let key = PacketKey::of(&packet.to_bytes())
                    .ok_or("crafted packet too short for a key")?;
                let mark = observer.mark()?;
                match from {
                    Origin::Client => from_client.send(&packet)?,
                    Origin::Server => from_server.send(&packet)?,
                }
                observer.verdict(&key, mark)?
            }
            Step::Connect { src, sport, dport } => connect(pair, *src, *sport, *dport)?,
        };
        verdicts.push(verdict);
    }
    Ok(verdicts)
}

/// A real connection: the verdict is whether the server-side listener got the whole payload.
pub fn connect(pair: &Pair, src: Ipv4Addr, sport: u16, dport: u16) -> Result<Verdict, String> {
    let listener = pair
        .server
        .run_in(|| TcpListener::bind((SERVER, dport)))
        .map_err(|e| format!("listen on {SERVER}:{dport}: {e}"))?;
    listener
        .set_nonblocking(true)
        .map_err(|e| format!("listener: {e}"))?;
    let stop = Arc::new(AtomicBool::new(false));
    let server = {
        let stop = Arc::clone(&stop);
        thread::spawn(move || serve_once(&listener, &stop))
    };
    let socket = pair.client.run_in(|| tcp_socket(src, sport))?;
    // Whatever goes wrong on the client side after bind is the ruleset's doing; the listener's
    // view is the verdict.
    let _ = talk(socket, dport);
    stop.store(true, Ordering::Relaxed);
    let received = server
        .join()
        .map_err(|_| "listener thread panicked".to_string())?;
    if received.as_deref() == Some(PAYLOAD) {
        Ok(Verdict::Accepted)
    } else {
        // The listener saw nothing, or not everything: some of the client's packets were dropped.
        Ok(Verdict::Dropped)
    }
}

fn serve_once(listener: &TcpListener, stop: &AtomicBool) -> Option<Vec<u8>> {
    loop {
        match listener.accept() {
            Ok((mut stream, _)) => {
                stream.set_nonblocking(false).ok()?;
                stream.set_read_timeout(Some(Duration::from_secs(1))).ok()?;
                let mut bytes = Vec::new();
                let _ = stream.read_to_end(&mut bytes);
                let _ = stream.write_all(b"ok");
                return Some(bytes);
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                if stop.load(Ordering::Relaxed) {
                    return None;
                }
                thread::sleep(Duration::from_millis(1));
            }
            Err(_) => return None,
        }
    }
}

/// A nonblocking TCP socket bound to `src:sport`, in the calling thread's namespace.
fn tcp_socket(src: Ipv4Addr, sport: u16) -> Result<OwnedFd, String> {
    // SAFETY: plain socket(2) call; the result is checked before being owned.
    let fd = unsafe {
        libc::socket(
            libc::AF_INET,
            libc::SOCK_STREAM | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC,
            0,
        )
    };
    if fd < 0 {
        return Err(format!("tcp socket: {}", std::io::Error::last_os_error()));
    }
    // SAFETY: fd is a fresh descriptor that nothing else owns.
    let socket = unsafe { OwnedFd::from_raw_fd(fd) };
    let local = sockaddr(src, sport);
    let len = std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t;
    // SAFETY: local is a live sockaddr_in of the stated size.
    if unsafe { libc::bind(fd, (&local as *const libc::sockaddr_in).cast(), len) } != 0 {
        return Err(format!(
            "bind {src}:{sport}: {}",
            std::io::Error::last_os_error()
        ));
    }
    Ok(socket)
}

/// Connects within [`CONNECT_TIMEOUT`], sends the payload, half-closes and reads the server's
/// answer until it closes.
fn talk(socket: OwnedFd, dport: u16) -> Result<(), String> {
    let fd = socket.as_raw_fd();
    let len = std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t;
    let remote = sockaddr(SERVER, dport);
    // SAFETY: remote is a live sockaddr_in of the stated size.
    if unsafe { libc::connect(fd, (&remote as *const libc::sockaddr_in).cast(), len) } != 0 {
        let err = std::io::Error::last_os_error();
        if err.raw_os_error() != Some(libc::EINPROGRESS) {
            return Err(format!("connect: {err}"));
        }
    }
    let deadline = Instant::now() + CONNECT_TIMEOUT;
    loop {
        let mut pfd = libc::pollfd {
            fd,
            events: libc::POLLOUT,
            revents: 0,
        };
        let left = deadline
            .saturating_duration_since(Instant::now())
            .as_millis() as libc::c_int;
        // SAFETY: pfd is one live pollfd.
        let ready = unsafe { libc::poll(&mut pfd, 1, left) };
        if ready > 0 {
            break;
        }
        if ready == 0 || Instant::now() >= deadline {
            return Err("connect timed out".to_string());
        }
    }
    let mut stream = TcpStream::from(socket);
    if let Some(err) = stream.take_error().map_err(|e| e.to_string())? {
        return Err(format!("connect: {err}"));
    }
    stream.set_nonblocking(false).map_err(|e| e.to_string())?;
    stream
        .set_read_timeout(Some(Duration::from_secs(1)))
        .map_err(|e| e.to_string())?;
    stream
        .write_all(PAYLOAD)
        .map_err(|e| format!("send payload: {e}"))?;
    stream
        .shutdown(Shutdown::Write)
        .map_err(|e| e.to_string())?;
    let mut answer = Vec::new();
    stream
        .read_to_end(&mut answer)
        .map_err(|e| format!("read answer: {e}"))?;
    Ok(())
}

/// Lays out `probe | a_name | b_name | expected` and lists every disagreement between the runs
/// and every miss of an expected verdict.
pub fn compare(
    probes: &[Probe],
    a_name: &str,
    a: &[Verdict],
    b_name: &str,
    b: &[Verdict],
) -> (String, Vec<String>) {
    let width = probes
        .iter()
        .map(|p| p.name.len())
        .max()
        .unwrap_or(0)
        .max("probe".len());
    let mut table = format!(
        "{:width$} | {a_name:12} | {b_name:12} | expected\n",
        "probe"
    );
    let _ = writeln!(table, "{}", "-".repeat(width + 42));
    let mut failures = Vec::new();
    for ((probe, va), vb) in probes.iter().zip(a).zip(b) {
        let expected = probe.expect.map_or("-".to_string(), |v| v.to_string());
        let mark = if va != vb || probe.expect.is_some_and(|e| e != *va || e != *vb) {
            "  <-- MISMATCH"
        } else {
            ""
        };
        let _ = writeln!(
            table,
            "{:width$} | {va:12} | {vb:12} | {expected}{mark}",
            probe.name
        );
        if va != vb {
            failures.push(format!("{}: {a_name} {va}, {b_name} {vb}", probe.name));
        }
        for (side, v) in [(a_name, va), (b_name, vb)] {
            if let Some(want) = probe.expect.filter(|want| want != v) {
                failures.push(format!("{}: {side} {v}, expected {want}", probe.name));
            }
        }
    }
    if a.len() != probes.len() || b.len() != probes.len() {
        failures.push(format!(
            "ran {} probes, got {} and {} verdicts",
            probes.len(),
            a.len(),
            b.len()
        ));
    }
    (table, failures)
}

#[test]
fn crafted_packets_checksum_to_zero() {
    let src = Ipv4Addr::new(10, 77, 0, 3);
    let cases = [
        Packet::tcp(src, 40000, 22, SYN),
        Packet::tcp(src, 40001, 80, ALL),
        Packet::tcp(src, 40002, 80, 0),
        Packet::udp(src, 53, 33333),
        Packet::echo_request(src, SERVER, 7),
        Packet::icmp(src, ICMP_DEST_UNREACHABLE, 3),
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
fn checksum_matches_rfc1071_worked_example() {
    // RFC 1071 section 3: the words 0001 f203 f4f5 f6f7 sum to ddf2, whose complement is 220d.
    assert_eq!(
        checksum(&[&[0x00, 0x01, 0xf2, 0x03], &[0xf4, 0xf5, 0xf6, 0xf7]]),
        0x220d
    );
    // An odd trailing byte is padded with zero on the right.
    assert_eq!(checksum(&[&[0x00, 0x01, 0xf2]]), !0xf201);
}
