//! Finding the SSH sessions this host is serving, for the lockout guard of `fwnet apply`.
//!
//! A session is an ESTABLISHED TCP socket whose local port is an SSH server port: 22, and the
//! server port of `$SSH_CONNECTION` when set. The sockets come from the kernel's socket
//! diagnostics (NETLINK_SOCK_DIAG, [`established_diag`]), or from `/proc/thread-self/net/tcp`
//! and `tcp6` on a kernel without them ([`established_proc`]).
//! Each comes with the interface its packets use: the route back to the client, from
//! `/proc/thread-self/net/route` (longest prefix, then lowest metric) or `ipv6_route`, and `lo`
//! when the client address is one of this host's own (`fib_trie`'s local entries, `if_inet6`).
//! Everything is read in the calling thread's network namespace (`thread-self`, so a thread that
//! `setns`-ed reads its new namespace).
//!
//! It does not read conntrack, follow policy routing (`ip rule`) or other routing tables than
//! the main one, nor find sshd on other ports than those two; it never writes anything.

use std::collections::BTreeSet;
use std::fmt;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

/// The port sshd listens on unless told otherwise.
pub const SSH_PORT: u16 = 22;

/// One TCP connection this host serves as an SSH server.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SshSession {
    /// The far end. IPv4 clients of an IPv6 socket (`::ffff:a.b.c.d`) are given as IPv4,
    /// which is what their packets are.
    pub client: SocketAddr,
    /// This host's end.
    pub server: SocketAddr,
    /// The interface packets to and from the client use; `None` when no route was found.
    pub iface: Option<String>,
}

impl fmt::Display for SshSession {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} -> {}", self.client, self.server)?;
        match &self.iface {
            Some(i) => write!(f, " (via {i})"),
            None => write!(f, " (interface unknown)"),
        }
    }
}

/// A file under /proc that could not be read.
#[derive(Debug)]
pub struct Error {
    pub path: String,
    pub source: io::Error,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "cannot read {}: {}", self.path, self.source)
    }
}

impl std::error::Error for Error {}

const PROC_NET: &str = "/proc/thread-self/net";

/// The SSH sessions this host serves in the calling thread's network namespace, with the
/// server ports taken from [`ssh_ports`] of `$SSH_CONNECTION`.
pub fn ssh_sessions() -> Result<Vec<SshSession>, Error> {
    let env = std::env::var("SSH_CONNECTION").ok();
    let ports = ssh_ports(env.as_deref());
    let sockets = established()?;
    let routes = Routes::parse(
        &read("route", false)?,
        &read("fib_trie", false)?,
        &read("ipv6_route", false)?,
        &read("if_inet6", false)?,
    );
    let mut out = Vec::new();
    for s in sockets {
        if !ports.contains(&s.local.port()) {
            continue;
        }
        let client = SocketAddr::new(s.remote.ip().to_canonical(), s.remote.port());
        let server = SocketAddr::new(s.local.ip().to_canonical(), s.local.port());
        out.push(SshSession {
            client,
            server,
            iface: routes.iface_to(client.ip(), server.ip()),
        });
    }
    Ok(out)
}

/// The established TCP sockets of the calling thread's network namespace, IPv4 and IPv6: from
/// [`established_diag`] for each family, or from /proc where that fails (a kernel without
/// `CONFIG_INET_DIAG`, say).
///
/// Why not /proc alone: every `read` of /proc/net/tcp walks the kernel's whole established
/// hash table, which all namespaces share and whose size grows with the host's memory
/// (262,144 buckets, 2 ms a walk, on this 24 GiB machine), and the read that finds the end of
/// the file walks it again from the start. A socket diagnostics dump walks it once per family
/// and sends only the established sockets: two walks where /proc takes four, and no text to
/// format and parse for every connection of a busy server.
pub fn established() -> Result<Vec<TcpSocket>, Error> {
    let mut out = Vec::new();
    // IPv4 is always there; a kernel without IPv6 has no tcp6.
    for (family, name, required) in [
        (libc::AF_INET, "tcp", true),
        (libc::AF_INET6, "tcp6", false),
    ] {
        match established_diag(family as u8) {
            Ok(sockets) => out.extend(sockets),
            Err(_) => out.extend(
                parse_tcp(&read(name, required)?)
                    .into_iter()
                    .filter(|s| s.state == TCP_ESTABLISHED),
            ),
        }
    }
    Ok(out)
}

/// [`established`] from /proc/net/tcp and tcp6 only.
pub fn established_proc() -> Result<Vec<TcpSocket>, Error> {
    let mut out = parse_tcp(&read("tcp", true)?);
    out.extend(parse_tcp(&read("tcp6", false)?));
    out.retain(|s| s.state == TCP_ESTABLISHED);
    Ok(out)
}

/// SOCK_DIAG_BY_FAMILY, the request of include/uapi/linux/sock_diag.h.
const SOCK_DIAG_BY_FAMILY: u16 = 20;
const NLM_F_REQUEST: u16 = 0x1;
const NLM_F_DUMP: u16 = 0x300;
const NLM_F_DUMP_INTR: u16 = 0x10;
const NLMSG_ERROR: u16 = 2;
const NLMSG_DONE: u16 = 3;
/// `struct inet_diag_msg`: family, state, timer, retrans, then `inet_diag_sockid` (ports at
/// 4 and 6, source address at 8, destination at 24, 16 bytes each) and five 32-bit words.
const INET_DIAG_MSG_LEN: usize = 72;

/// The established TCP sockets of one family (`AF_INET` or `AF_INET6`) in the calling
/// thread's network namespace, from one NETLINK_SOCK_DIAG dump. An IPv6 socket's IPv4 clients
/// come as `::ffff:a.b.c.d`, as in /proc/net/tcp6. A dump the kernel marks as interrupted (the
/// table changed under it) is taken again, twice at most, then reported as an error.
pub fn established_diag(family: u8) -> io::Result<Vec<TcpSocket>> {
    for _ in 0..3 {
        if let Some(sockets) = diag_dump(family)? {
            return Ok(sockets);
        }
    }
    Err(io::Error::other(
        "socket diagnostics dump interrupted three times",
    ))
}

/// One dump; `None` when it was interrupted.
fn diag_dump(family: u8) -> io::Result<Option<Vec<TcpSocket>>> {
    let sock = crate::socket::Socket::open_sock_diag()?;
    sock.send(&diag_request(family))?;
    let mut buf = Vec::new();
    let mut out = Vec::new();
    let mut interrupted = false;
    loop {
        sock.recv(&mut buf, true)?;
        let reply = parse_diag(&buf, &mut out)?;
        interrupted |= reply.interrupted;
        if reply.done {
            return Ok((!interrupted).then_some(out));
        }
    }
}

/// The dump request: `nlmsghdr` and `inet_diag_req_v2` for TCP sockets in state ESTABLISHED.
fn diag_request(family: u8) -> Vec<u8> {
    let len: u32 = 16 + 56;
    let mut m = Vec::with_capacity(len as usize);
    m.extend_from_slice(&len.to_ne_bytes());
    m.extend_from_slice(&SOCK_DIAG_BY_FAMILY.to_ne_bytes());
    m.extend_from_slice(&(NLM_F_REQUEST | NLM_F_DUMP).to_ne_bytes());
    m.extend_from_slice(&1u32.to_ne_bytes()); // sequence
    m.extend_from_slice(&0u32.to_ne_bytes()); // port id: the kernel fills it in
    m.extend_from_slice(&[family, libc::IPPROTO_TCP as u8, 0, 0]);
    m.extend_from_slice(&(1u32 << TCP_ESTABLISHED).to_ne_bytes());
    m.resize(len as usize, 0); // inet_diag_sockid: any
    m
}

/// What one datagram of a dump held besides its sockets.
#[derive(Debug, Default, PartialEq, Eq)]
struct DiagReply {
    /// The dump's end (NLMSG_DONE) was in it.
    done: bool,
    /// A message carried NLM_F_DUMP_INTR.
    interrupted: bool,
}

/// Parses one datagram of a socket diagnostics dump, adding its sockets to `out`.
fn parse_diag(buf: &[u8], out: &mut Vec<TcpSocket>) -> io::Result<DiagReply> {
    let bad = || io::Error::new(io::ErrorKind::InvalidData, "malformed sock_diag reply");
    let mut reply = DiagReply::default();
    let mut rest = buf;
    while rest.len() >= 16 {
        let word =
            |at: usize| u32::from_ne_bytes([rest[at], rest[at + 1], rest[at + 2], rest[at + 3]]);
        let len = word(0) as usize;
        let kind = u16::from_ne_bytes([rest[4], rest[5]]);
        let flags = u16::from_ne_bytes([rest[6], rest[7]]);
        if len < 16 || len > rest.len() {
            return Err(bad());
        }
        let body = &rest[16..len];
        reply.interrupted |= flags & NLM_F_DUMP_INTR != 0;
        match kind {
            NLMSG_DONE => {
                reply.done = true;
                return Ok(reply);
            }
            NLMSG_ERROR => {
                let code = body
                    .get(..4)
                    .map(|b| i32::from_ne_bytes([b[0], b[1], b[2], b[3]]))
                    .ok_or_else(bad)?;
                return Err(io::Error::from_raw_os_error(code.saturating_neg()));
            }
            SOCK_DIAG_BY_FAMILY => {
                if body.len() < INET_DIAG_MSG_LEN {
                    return Err(bad());
                }
                let addr = |at: usize| -> Option<IpAddr> {
                    match i32::from(body[0]) {
                        libc::AF_INET => {
                            let b: [u8; 4] = body[at..at + 4].try_into().ok()?;
                            Some(Ipv4Addr::from(b).into())
                        }
                        libc::AF_INET6 => {
                            let b: [u8; 16] = body[at..at + 16].try_into().ok()?;
                            Some(Ipv6Addr::from(b).into())
                        }
                        _ => None,
                    }
                };
                let port = |at: usize| u16::from_be_bytes([body[at], body[at + 1]]);
                if let (Some(local), Some(remote)) = (addr(8), addr(24)) {
                    out.push(TcpSocket {
                        local: SocketAddr::new(local, port(4)),
                        remote: SocketAddr::new(remote, port(6)),
                        state: body[1],
                    });
                }
            }
            _ => {}
        }
        rest = rest.get(len.next_multiple_of(4)..).unwrap_or(&[]);
    }
    Ok(reply)
}

/// Reads a /proc/net file. Every `read` of /proc/net/tcp walks the kernel's whole socket hash
/// table from the start (2.4 ms here), and `std::fs::read_to_string` starts with a 32-byte
/// probe for a file of size 0, which costs one walk more: a buffer reserved up front makes it
/// one walk for the text and one for the end of file.
fn read(name: &str, required: bool) -> Result<String, Error> {
    use std::io::Read as _;
    let path = format!("{PROC_NET}/{name}");
    let text = std::fs::File::open(&path).and_then(|mut f| {
        let mut t = String::with_capacity(64 * 1024);
        f.read_to_string(&mut t).map(|_| t)
    });
    match text {
        Ok(t) => Ok(t),
        Err(e) if !required && e.kind() == io::ErrorKind::NotFound => Ok(String::new()),
        Err(source) => Err(Error { path, source }),
    }
}

/// The server ports to look at: 22, and the fourth field of `SSH_CONNECTION`
/// (`client_addr client_port server_addr server_port`) when it is a port.
pub fn ssh_ports(ssh_connection: Option<&str>) -> BTreeSet<u16> {
    let mut ports = BTreeSet::from([SSH_PORT]);
    if let Some(p) = ssh_connection
        .and_then(|s| s.split_whitespace().nth(3))
        .and_then(|p| p.parse::<u16>().ok())
        .filter(|p| *p != 0)
    {
        ports.insert(p);
    }
    ports
}

/// `st` of an established socket in /proc/net/tcp (TCP_ESTABLISHED).
pub const TCP_ESTABLISHED: u8 = 1;

/// One line of /proc/net/tcp or tcp6.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TcpSocket {
    pub local: SocketAddr,
    pub remote: SocketAddr,
    /// The kernel's TCP state number (1 established, 10 listen ...).
    pub state: u8,
}

/// Parses /proc/net/tcp or tcp6; lines that do not parse (the header) are skipped.
///
/// Addresses are printed as the 32-bit words of the address as they sit in memory (so
/// `0100007F` is 127.0.0.1 on a little-endian host), ports and state in plain hex.
pub fn parse_tcp(text: &str) -> Vec<TcpSocket> {
    text.lines()
        .filter_map(|line| {
            let mut f = line.split_whitespace().skip(1);
            let local = socket_addr(f.next()?)?;
            let remote = socket_addr(f.next()?)?;
            let state = u8::from_str_radix(f.next()?, 16).ok()?;
            Some(TcpSocket {
                local,
                remote,
                state,
            })
        })
        .collect()
}

fn socket_addr(s: &str) -> Option<SocketAddr> {
    let (addr, port) = s.split_once(':')?;
    let port = u16::from_str_radix(port, 16).ok()?;
    Some(SocketAddr::new(proc_addr(addr)?, port))
}

/// An address as /proc/net/tcp and /proc/net/route print it: memory-order 32-bit words.
fn proc_addr(hex: &str) -> Option<IpAddr> {
    let words: Option<Vec<[u8; 4]>> = (0..hex.len() / 8)
        .map(|i| {
            let w = u32::from_str_radix(hex.get(i * 8..i * 8 + 8)?, 16).ok()?;
            Some(w.to_ne_bytes())
        })
        .collect();
    let bytes: Vec<u8> = words?.concat();
    match (hex.len(), bytes.len()) {
        (8, 4) => <[u8; 4]>::try_from(bytes)
            .ok()
            .map(|b| Ipv4Addr::from(b).into()),
        (32, 16) => <[u8; 16]>::try_from(bytes)
            .ok()
            .map(|b| Ipv6Addr::from(b).into()),
        _ => None,
    }
}

/// An IPv6 address as /proc/net/ipv6_route and if_inet6 print it: 32 hex digits in order.
fn v6_hex(hex: &str) -> Option<Ipv6Addr> {
    (hex.len() == 32)
        .then(|| u128::from_str_radix(hex, 16).ok())
        .flatten()
        .map(Ipv6Addr::from)
}

#[derive(Clone, Debug, PartialEq, Eq)]
struct Route {
    dest: IpAddr,
    len: u8,
    metric: u32,
    iface: String,
    /// A route to an address of this host (RTF_LOCAL): its packets use `lo`.
    local: bool,
}

/// The main routing table and this host's own addresses, enough to name the interface towards
/// an address.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Routes {
    routes: Vec<Route>,
    /// Prefixes of this host's addresses (IPv4 from fib_trie, IPv6 /128 from if_inet6).
    local: Vec<(IpAddr, u8)>,
}

const RTF_UP: u32 = 0x0001;
const RTF_REJECT: u32 = 0x0200;
const RTF_LOCAL: u32 = 0x8000_0000;

impl Routes {
    /// Reads the text of /proc/net/route, fib_trie, ipv6_route and if_inet6 (each may be empty).
    pub fn parse(route: &str, fib_trie: &str, ipv6_route: &str, if_inet6: &str) -> Routes {
        let mut r = Routes::default();
        // Iface Destination Gateway Flags RefCnt Use Metric Mask ...
        for line in route.lines().skip(1) {
            let f: Vec<&str> = line.split_whitespace().collect();
            let parsed = (|| {
                let dest = proc_addr(f.get(1)?)?;
                let flags = u32::from_str_radix(f.get(3)?, 16).ok()?;
                let metric = f.get(6)?.parse().ok()?;
                let IpAddr::V4(mask) = proc_addr(f.get(7)?)? else {
                    return None;
                };
                let len = u32::from(mask).leading_ones() as u8;
                (flags & RTF_UP != 0 && flags & RTF_REJECT == 0).then(|| Route {
                    dest,
                    len,
                    metric,
                    iface: f[0].to_string(),
                    local: false,
                })
            })();
            r.routes.extend(parsed);
        }
        // dest len src len next_hop metric refcnt use flags iface
        for line in ipv6_route.lines() {
            let f: Vec<&str> = line.split_whitespace().collect();
            let parsed = (|| {
                let dest = v6_hex(f.first()?)?;
                let len = u8::from_str_radix(f.get(1)?, 16).ok()?;
                let metric = u32::from_str_radix(f.get(5)?, 16).ok()?;
                let flags = u32::from_str_radix(f.get(8)?, 16).ok()?;
                let iface = f.get(9)?.to_string();
                (flags & RTF_UP != 0 && flags & RTF_REJECT == 0).then(|| Route {
                    dest: dest.into(),
                    len,
                    metric,
                    iface,
                    local: flags & RTF_LOCAL != 0,
                })
            })();
            r.routes.extend(parsed);
        }
        r.local.extend(local_v4(fib_trie));
        for line in if_inet6.lines() {
            if let Some(a) = line.split_whitespace().next().and_then(v6_hex) {
                r.local.push((a.into(), 128));
            }
        }
        r
    }

    /// The interface packets to `client` leave by (and, routing being symmetric, arrive on):
    /// `lo` when `client` is this host's own address (or the server's), else the route with the
    /// longest prefix and then the lowest metric.
    pub fn iface_to(&self, client: IpAddr, server: IpAddr) -> Option<String> {
        let own = client == server
            || client.is_loopback()
            || self.local.iter().any(|(a, l)| in_prefix(client, *a, *l));
        if own {
            return Some("lo".into());
        }
        let best = self
            .routes
            .iter()
            .filter(|r| in_prefix(client, r.dest, r.len))
            .max_by_key(|r| (r.len, std::cmp::Reverse(r.metric)))?;
        Some(if best.local {
            "lo".into()
        } else {
            best.iface.clone()
        })
    }
}

/// This host's IPv4 prefixes from /proc/net/fib_trie: a `|-- ADDR` line followed by
/// `/LEN host LOCAL`.
fn local_v4(fib_trie: &str) -> Vec<(IpAddr, u8)> {
    let mut out = Vec::new();
    let mut leaf: Option<Ipv4Addr> = None;
    for line in fib_trie.lines() {
        let t = line.trim();
        if let Some(a) = t.strip_prefix("|-- ") {
            leaf = a.parse().ok();
        } else if let (Some(rest), Some(a)) = (t.strip_prefix('/'), leaf) {
            let mut w = rest.split_whitespace();
            let len = w.next().and_then(|l| l.parse::<u8>().ok());
            if let (Some(len), true) = (len, w.any(|x| x == "LOCAL")) {
                if !out.contains(&(IpAddr::V4(a), len)) {
                    out.push((IpAddr::V4(a), len));
                }
            }
        } else {
            leaf = None;
        }
    }
    out
}

fn in_prefix(a: IpAddr, net: IpAddr, len: u8) -> bool {
    match (a, net) {
        (IpAddr::V4(a), IpAddr::V4(n)) if len <= 32 => {
            let shift = 32 - u32::from(len);
            u32::from(a).checked_shr(shift) == u32::from(n).checked_shr(shift)
        }
        (IpAddr::V6(a), IpAddr::V6(n)) if len <= 128 => {
            let shift = 128 - u32::from(len);
            u128::from(a).checked_shr(shift) == u128::from(n).checked_shr(shift)
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Hex of an IPv4 address as the kernel prints it on this host (memory-order word).
    fn h4(a: &str) -> String {
        let a: Ipv4Addr = a.parse().expect("test address");
        format!("{:08X}", u32::from_ne_bytes(a.octets()))
    }

    /// Hex of an IPv6 address in /proc/net/tcp6's word order.
    fn h6(a: &str) -> String {
        let a: Ipv6Addr = a.parse().expect("test address");
        a.octets()
            .chunks(4)
            .map(|c| format!("{:08X}", u32::from_ne_bytes([c[0], c[1], c[2], c[3]])))
            .collect()
    }

    /// One netlink message: header (`kind`, `flags`) and body, padded to 4 bytes.
    fn nlmsg(kind: u16, flags: u16, body: &[u8]) -> Vec<u8> {
        let mut m = Vec::new();
        m.extend_from_slice(&(16 + body.len() as u32).to_ne_bytes());
        m.extend_from_slice(&kind.to_ne_bytes());
        m.extend_from_slice(&flags.to_ne_bytes());
        m.extend_from_slice(&[0; 8]);
        m.extend_from_slice(body);
        m.resize(m.len().next_multiple_of(4), 0);
        m
    }

    /// An `inet_diag_msg` for a socket from `local` to `remote` in `state`.
    fn diag_msg(local: SocketAddr, remote: SocketAddr, state: u8) -> Vec<u8> {
        let mut b = vec![0u8; INET_DIAG_MSG_LEN];
        let family = if local.is_ipv4() {
            libc::AF_INET
        } else {
            libc::AF_INET6
        };
        b[0] = family as u8;
        b[1] = state;
        b[4..6].copy_from_slice(&local.port().to_be_bytes());
        b[6..8].copy_from_slice(&remote.port().to_be_bytes());
        for (at, a) in [(8, local.ip()), (24, remote.ip())] {
            match a {
                IpAddr::V4(v4) => b[at..at + 4].copy_from_slice(&v4.octets()),
                IpAddr::V6(v6) => b[at..at + 16].copy_from_slice(&v6.octets()),
            }
        }
        // Attributes after the fixed part are skipped.
        b.extend_from_slice(&[8, 0, 1, 0, 0, 0, 0, 0]);
        b
    }

    #[test]
    fn parses_sock_diag_replies() {
        let (l4, r4) = (
            "10.0.0.1:22".parse().unwrap(),
            "192.0.2.7:50123".parse().unwrap(),
        );
        let (l6, r6) = (
            "[::ffff:10.0.0.1]:22".parse().unwrap(),
            "[::ffff:192.0.2.8]:40000".parse().unwrap(),
        );
        let mut buf = nlmsg(SOCK_DIAG_BY_FAMILY, 2, &diag_msg(l4, r4, 1));
        buf.extend(nlmsg(SOCK_DIAG_BY_FAMILY, 2, &diag_msg(l6, r6, 1)));
        let mut out = Vec::new();
        let reply = parse_diag(&buf, &mut out).expect("parses");
        assert_eq!(reply, DiagReply::default(), "no end yet");
        assert_eq!(
            out,
            vec![
                TcpSocket {
                    local: l4,
                    remote: r4,
                    state: 1
                },
                TcpSocket {
                    local: l6,
                    remote: r6,
                    state: 1
                },
            ]
        );

        let done = nlmsg(NLMSG_DONE, 2 | NLM_F_DUMP_INTR, &[0; 4]);
        let reply = parse_diag(&done, &mut out).expect("parses");
        assert_eq!(
            reply,
            DiagReply {
                done: true,
                interrupted: true
            }
        );

        let err = nlmsg(NLMSG_ERROR, 0, &(-libc::ENOENT).to_ne_bytes());
        let e = parse_diag(&err, &mut out).expect_err("an error message");
        assert_eq!(e.raw_os_error(), Some(libc::ENOENT));

        let short = nlmsg(SOCK_DIAG_BY_FAMILY, 2, &[0; 20]);
        assert!(
            parse_diag(&short, &mut out).is_err(),
            "a body shorter than inet_diag_msg"
        );
        let mut cut = nlmsg(SOCK_DIAG_BY_FAMILY, 2, &diag_msg(l4, r4, 1));
        cut.truncate(40);
        assert!(
            parse_diag(&cut, &mut out).is_err(),
            "a length past the datagram"
        );
        assert_eq!(out.len(), 2, "nothing added by the bad ones");
    }

    #[test]
    fn sock_diag_request_asks_for_established_tcp() {
        let r = diag_request(libc::AF_INET6 as u8);
        assert_eq!(r.len(), 72);
        assert_eq!(u32::from_ne_bytes([r[0], r[1], r[2], r[3]]), 72);
        assert_eq!(u16::from_ne_bytes([r[4], r[5]]), SOCK_DIAG_BY_FAMILY);
        assert_eq!(u16::from_ne_bytes([r[6], r[7]]), NLM_F_REQUEST | NLM_F_DUMP);
        assert_eq!(&r[16..20], &[libc::AF_INET6 as u8, 6, 0, 0]);
        assert_eq!(
            u32::from_ne_bytes([r[20], r[21], r[22], r[23]]),
            1 << TCP_ESTABLISHED
        );
        assert!(r[24..].iter().all(|b| *b == 0), "any socket id");
    }

    #[test]
    fn parses_proc_net_tcp() {
        // Captured shape of /proc/net/tcp (a listener, an ssh session, an outgoing connection),
        // with the addresses written for this host's byte order.
        let text = format!(
            "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n\
             \x20  0: 00000000:0016 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 15371 1 0000000000000000 100 0 0 10 0\n\
             \x20  1: {}:0016 {}:C350 01 00000000:00000000 02:000A7E6B 00000000     0        0 41210 4 0000000000000000 20 4 31 10 -1\n\
             \x20  2: {}:D431 {}:0016 01 00000000:00000000 00:00000000 00000000  1000        0 41300 1 0000000000000000 20 4 30 10 -1\n",
            h4("192.0.2.1"),
            h4("198.51.100.7"),
            h4("192.0.2.1"),
            h4("203.0.113.9"),
        );
        let got = parse_tcp(&text);
        let want = vec![
            TcpSocket {
                local: "0.0.0.0:22".parse().unwrap(),
                remote: "0.0.0.0:0".parse().unwrap(),
                state: 10,
            },
            TcpSocket {
                local: "192.0.2.1:22".parse().unwrap(),
                remote: "198.51.100.7:50000".parse().unwrap(),
                state: TCP_ESTABLISHED,
            },
            TcpSocket {
                local: "192.0.2.1:54321".parse().unwrap(),
                remote: "203.0.113.9:22".parse().unwrap(),
                state: TCP_ESTABLISHED,
            },
        ];
        assert_eq!(got, want);
    }

    #[test]
    fn parses_proc_net_tcp6_with_mapped_clients() {
        let text = format!(
            "  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n\
             \x20  0: {}:0016 {}:9C40 01 00000000:00000000 00:00000000 00000000     0        0 1 1 0 20 4 30 10 -1\n\
             \x20  1: {}:0016 {}:9C41 01 00000000:00000000 00:00000000 00000000     0        0 2 1 0 20 4 30 10 -1\n",
            h6("2001:db8::1"),
            h6("2001:db8::7"),
            h6("::ffff:192.0.2.1"),
            h6("::ffff:198.51.100.7"),
        );
        let got: Vec<(SocketAddr, SocketAddr)> = parse_tcp(&text)
            .into_iter()
            .map(|s| (s.local, s.remote))
            .collect();
        assert_eq!(
            got,
            vec![
                (
                    "[2001:db8::1]:22".parse().unwrap(),
                    "[2001:db8::7]:40000".parse().unwrap()
                ),
                (
                    "[::ffff:192.0.2.1]:22".parse().unwrap(),
                    "[::ffff:198.51.100.7]:40001".parse().unwrap()
                ),
            ]
        );
        assert_eq!(
            got[1].1.ip().to_canonical(),
            "198.51.100.7".parse::<IpAddr>().unwrap()
        );
    }

    #[test]
    fn ports_from_ssh_connection() {
        let cases: [(Option<&str>, &[u16]); 5] = [
            (None, &[22]),
            (Some("198.51.100.7 50000 192.0.2.1 22"), &[22]),
            (Some("198.51.100.7 50000 192.0.2.1 2222"), &[22, 2222]),
            (Some("garbage"), &[22]),
            (Some("a b c 0"), &[22]),
        ];
        for (env, want) in cases {
            assert_eq!(
                ssh_ports(env).into_iter().collect::<Vec<_>>(),
                want,
                "{env:?}"
            );
        }
    }

    #[test]
    fn interface_towards_the_client() {
        let route = format!(
            "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n\
             eth0\t00000000\t{gw}\t0003\t0\t0\t100\t00000000\t0\t0\t0\n\
             eth9\t00000000\t{gw}\t0003\t0\t0\t50\t00000000\t0\t0\t0\n\
             eth1\t{net1}\t00000000\t0001\t0\t0\t0\t{m24}\t0\t0\t0\n\
             eth2\t{net2}\t00000000\t0001\t0\t0\t0\t{m16}\t0\t0\t0\n\
             bad\t{net3}\t00000000\t0201\t0\t0\t0\t{m24}\t0\t0\t0\n",
            gw = h4("192.0.2.254"),
            net1 = h4("10.1.2.0"),
            net2 = h4("10.1.0.0"),
            net3 = h4("10.9.9.0"),
            m24 = h4("255.255.255.0"),
            m16 = h4("255.255.0.0"),
        );
        let fib_trie = "Main:\n  +-- 0.0.0.0/0 3 0 5\n     |-- 10.1.2.5\n        /32 host LOCAL\n     |-- 127.0.0.0\n        /8 host LOCAL\n     |-- 10.1.2.255\n        /32 link BROADCAST\n";
        let ipv6_route = "\
20010db8000000000000000000000000 20 00000000000000000000000000000000 00 00000000000000000000000000000000 00000100 00000001 00000000 00000001     eth1
00000000000000000000000000000000 00 00000000000000000000000000000000 00 20010db8000000000000000000000001 00000400 00000002 00000000 00000003     eth0
20010db8000000000000000000000099 80 00000000000000000000000000000000 00 00000000000000000000000000000000 00000000 00000003 00000000 80200001     eth1
00000000000000000000000000000000 00 00000000000000000000000000000000 00 00000000000000000000000000000000 ffffffff 00000001 00000000 00200200       lo
";
        let if_inet6 = "20010db8000000000000000000000005 04 40 00 80     eth1\n";
        let r = Routes::parse(&route, fib_trie, ipv6_route, if_inet6);
        let server: IpAddr = "10.1.2.5".parse().unwrap();
        let cases = [
            ("10.1.2.9", Some("eth1")),     // longest prefix beats the /16
            ("10.1.7.9", Some("eth2")),     // the /16
            ("198.51.100.7", Some("eth9")), // default route, lowest metric
            ("10.9.9.1", Some("eth9")),     // a reject route is no route
            ("10.1.2.5", Some("lo")),       // the server itself
            ("127.0.0.1", Some("lo")),
            ("2001:db8::7", Some("eth1")),
            ("2001:db9::7", Some("eth0")),
            ("2001:db8::99", Some("lo")), // an RTF_LOCAL route
            ("2001:db8::5", Some("lo")),  // one of our addresses
        ];
        for (client, want) in cases {
            let got = r.iface_to(client.parse().unwrap(), server);
            assert_eq!(got.as_deref(), want, "{client}");
        }
        assert_eq!(
            Routes::default().iface_to("192.0.2.9".parse().unwrap(), server),
            None
        );
    }
}
