//! Verdict observation inside the server namespace: did the ruleset let a given packet in?
//!
//! Two views of the server namespace tell arrival from acceptance:
//! - *after INPUT*: raw sockets (TCP, UDP, ICMP over IPv4; TCP, UDP, ICMPv6 over IPv6; and
//!   each other protocol the probes use, GRE or ESP say). The
//!   kernel hands raw sockets a copy of every packet it delivers locally after the
//!   `NF_INET_LOCAL_IN` hook (`ip_local_deliver` -> hook -> `raw_local_deliver`; the same for
//!   IPv6 in `ip6_input_finish`), so a copy shows up exactly when every INPUT chain, legacy or
//!   nftables, accepted the packet;
//! - *arrival*: an `AF_PACKET` tap for every protocol on every interface, which the kernel feeds
//!   in `__netif_receive_skb_core` before it calls `ip_rcv`/`ipv6_rcv`, in the same softirq.
//!
//! A probe packet seen at the tap has reached the server; from then on the INPUT path runs
//! without sleeping, so [`GRACE`] later it either passed or was dropped. Sooner, when the
//! sender put a barrier frame behind it from the same CPU ([`Observer::barrier_follows`]):
//! the kernel takes a CPU's frames into a link one at a time, in order, so when the barrier
//! reaches the tap the packets before it have been judged. A packet never seen at
//! the tap is [`Seen::NotReceived`]: the harness failed (a starved softirq, a link not up yet),
//! not the ruleset. The wait for arrival is adaptive: [`ARRIVAL`] without any progress, renewed
//! each time one more packet of the probe arrives, so a loaded machine gets the time it needs
//! and a healthy one never waits. [`Observer::barrier`] waits for a frame of an unused
//! ethertype ([`BARRIER_ETHERTYPE`]), which no IP code looks at, to cross a link: a readiness
//! check that touches no netfilter state.
//!
//! Packets are recognised by a [`PacketKey`]: addresses, protocol, the first 8 bytes of the
//! transport header, the fragment offset (a probe may go as two fragments) and an identifier
//! the sender sets (the IPv4 id, the IPv6 flow label, which IPv6 raw sockets report with
//! `IPV6_FLOWINFO`). Kernel-made replies never share a probe's key.
//! Replies seen by the client are never the verdict (a FIN to an open port is accepted and gets
//! no answer).
//!
//! Every socket asks for each packet's mark (`SO_RCVMARK`, Linux 5.19; an older kernel refuses
//! the option, and [`kernel_reports_marks`] says so), so the mark a packet carried when it
//! passed INPUT or left the server is known ([`Observer::mark_of`]), and so are its TOS byte and
//! TTL ([`Observer::header_of`]; IPv6 raw sockets tell the traffic class and hop limit in
//! control messages, `IPV6_RECVTCLASS` and `IPV6_RECVHOPLIMIT`).
//!
//! This module does not install anything in the kernel (no observer table, so the ruleset under
//! test is alone in its namespace) and does not send probes.

use std::collections::{HashMap, HashSet};
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::time::{Duration, Instant};

use super::netns::Netns;

/// How long after a packet reached the server's device it may take to pass INPUT. The whole
/// path runs in one softirq, within microseconds of the tap's copy; this is the cost of every
/// dropped probe.
pub const GRACE: Duration = Duration::from_millis(20);
/// How long a probe may go without any of its packets reaching the server before the rest count
/// as not received. Renewed on every arrival; only a broken or starved harness waits this long.
pub const ARRIVAL: Duration = Duration::from_secs(3);
/// The ethertype of barrier frames (IEEE 802 local experimental 1): no protocol handler takes it.
pub const BARRIER_ETHERTYPE: u16 = 0x88b5;
/// The first bytes of a barrier frame, followed by a 4-byte nonce.
pub const BARRIER_MAGIC: &[u8; 8] = b"fwnet-bx";

/// `PACKET_OUTGOING` from `linux/if_packet.h`: the tap's copy of a packet being sent.
const PACKET_OUTGOING: u8 = 4;

/// What the server's INPUT path did with one packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Seen {
    Accepted,
    Dropped,
    /// The packet never reached the server's network device: a broken harness, not a verdict.
    NotReceived,
}

impl Seen {
    /// The fate of one packet from what the two views saw of it.
    pub fn of(arrived: bool, passed: bool) -> Seen {
        match (arrived, passed) {
            // A copy after INPUT proves arrival even if the tap missed it.
            (_, true) => Seen::Accepted,
            (true, false) => Seen::Dropped,
            (false, false) => Seen::NotReceived,
        }
    }
}

/// Identifies one crafted packet among everything the server receives.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct PacketKey {
    /// The IPv4 id, or the IPv6 flow label.
    pub id: u32,
    pub protocol: u8,
    pub src: IpAddr,
    pub dst: IpAddr,
    pub l4_head: [u8; 8],
    /// The fragment offset, in 8-byte units: 0 for a whole packet or a first fragment. A
    /// non-first fragment's `l4_head` is the start of its payload.
    pub offset: u16,
}

impl PacketKey {
    /// Whether `self`, seen somewhere in the server, is the packet `k` was, maybe rewritten by
    /// NAT: the same identifier and protocol, and one address unchanged (NAT rewrites one
    /// address, and the ports) or, for tcp, the same sequence number (a port forward that also
    /// rewrites the source, DNAT and SNAT of one connection, changes both addresses, never the
    /// sequence number).
    pub fn is_copy_of(&self, k: &PacketKey) -> bool {
        let same_tcp_sequence =
            self.protocol == TCP_PROTOCOL && self.l4_head[4..8] == k.l4_head[4..8];
        self.id == k.id
            && self.protocol == k.protocol
            && self.offset == k.offset
            && (self.src == k.src || self.dst == k.dst || same_tcp_sequence)
    }

    /// Reads the key of an IPv4 or IPv6 packet (header included; an IPv6 packet's hop-by-hop,
    /// routing and destination options headers are skipped to the transport header, as the
    /// raw sockets that see it pass INPUT get it), or None if it is too short or of another
    /// version.
    pub fn of(packet: &[u8]) -> Option<PacketKey> {
        match packet.first()? >> 4 {
            4 => {
                if packet.len() < 20 {
                    return None;
                }
                let ihl = usize::from(packet[0] & 0x0f) * 4;
                let l4_head: [u8; 8] = packet.get(ihl..ihl + 8)?.try_into().ok()?;
                Some(PacketKey {
                    id: u32::from(u16::from_be_bytes([packet[4], packet[5]])),
                    protocol: packet[9],
                    src: Ipv4Addr::new(packet[12], packet[13], packet[14], packet[15]).into(),
                    dst: Ipv4Addr::new(packet[16], packet[17], packet[18], packet[19]).into(),
                    l4_head,
                    offset: u16::from_be_bytes([packet[6], packet[7]]) & 0x1fff,
                })
            }
            6 => {
                let header = packet.get(..40)?;
                let (mut protocol, mut at, mut offset) = (header[6], 40, 0);
                while matches!(protocol, 0 | 43 | 44 | 60) && offset == 0 {
                    let ext = packet.get(at..at + 4)?;
                    if protocol == 44 {
                        // A fragment header is 8 bytes; the offset is its upper 13 bits.
                        offset = u16::from_be_bytes([ext[2], ext[3]]) >> 3;
                        at += 8;
                    } else {
                        at += (usize::from(ext[1]) + 1) * 8;
                    }
                    protocol = ext[0];
                }
                let l4_head: [u8; 8] = packet.get(at..at + 8)?.try_into().ok()?;
                let addr = |at: usize| -> Option<IpAddr> {
                    let b: [u8; 16] = header.get(at..at + 16)?.try_into().ok()?;
                    Some(Ipv6Addr::from(b).into())
                };
                Some(PacketKey {
                    id: u32::from_be_bytes([0, header[1] & 0x0f, header[2], header[3]]),
                    protocol,
                    src: addr(8)?,
                    dst: addr(24)?,
                    l4_head,
                    offset,
                })
            }
            _ => None,
        }
    }
}

/// The two IP header fields the mangle table rewrites (`-j DSCP`, `-j TTL`, `-j HL`; also `-j
/// TOS`, which fwnet refuses).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Header {
    /// The IPv4 TOS byte or the IPv6 traffic class: DSCP in the upper six bits, ECN below.
    pub tos: u8,
    /// The IPv4 TTL or the IPv6 hop limit.
    pub ttl: u8,
}

impl Header {
    /// The fields of an IPv4 or IPv6 packet (header included), or None if it is too short.
    pub fn of(packet: &[u8]) -> Option<Header> {
        match packet.first()? >> 4 {
            4 if packet.len() >= 20 => Some(Header {
                tos: packet[1],
                ttl: packet[8],
            }),
            6 if packet.len() >= 40 => Some(Header {
                tos: (packet[0] << 4) | (packet[1] >> 4),
                ttl: packet[7],
            }),
            _ => None,
        }
    }
}

/// What a packet that passed INPUT or left the server carried that the ruleset may have set.
#[derive(Clone, Copy, Debug)]
struct Carried {
    /// Its packet mark (`meta mark`, `-j MARK`), 0 when none or not reported.
    mark: u32,
    /// Its TOS byte and TTL, where read.
    header: Option<Header>,
}

/// The server's view of one TCP flow (see [`Observer::flow`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Flow {
    /// A packet of it reached the server.
    pub arrived: bool,
    /// A packet of it passed INPUT.
    pub passed: bool,
    /// The server sent a packet back (it left through OUTPUT onto the link).
    pub answered: bool,
}

/// A point in the observation, taken just before sending a probe: what was seen before it is
/// forgotten.
#[derive(Clone, Copy, Debug)]
pub struct Mark(());

/// Watches what arrives at the server namespace and what its INPUT path lets through.
pub struct Observer {
    raw4: Vec<OwnedFd>,
    /// IPv6 raw sockets and their protocol (IPv6 raw sockets get no IP header).
    raw6: Vec<(OwnedFd, u8)>,
    tap: OwnedFd,
    snmp: File,
    passed: HashSet<PacketKey>,
    arrived: HashSet<PacketKey>,
    /// What the server sent out of its links since the last mark (the tap's outgoing copies).
    sent: HashSet<PacketKey>,
    /// Those of them sent on `lo`: a packet the server sends itself, not one it routed away.
    sent_on_lo: HashSet<PacketKey>,
    /// What passed or was sent carried that the ruleset may have set.
    carried: HashMap<PacketKey, Carried>,
    barriers: HashSet<u32>,
    /// The barrier sent right behind the packets being observed ([`Observer::barrier_follows`]).
    behind: Option<u32>,
}

const TCP_PROTOCOL: u8 = 6;

/// `SO_RCVMARK` (include/uapi/asm-generic/socket.h): a socket receives each packet's mark.
const SO_RCVMARK: libc::c_int = 75;

/// Whether the kernel reports packet marks to sockets in `server` (`SO_RCVMARK`, Linux 5.19):
/// the observer compares marks only then.
pub fn kernel_reports_marks(server: &Netns) -> bool {
    server
        .try_run_in(|| {
            let s = socket(libc::AF_INET, libc::SOCK_DGRAM, 0, "udp")?;
            enable(&s, libc::SOL_SOCKET, SO_RCVMARK, "SO_RCVMARK")
        })
        .is_ok_and(|r| r.is_ok())
}

fn socket(domain: i32, kind: i32, protocol: i32, what: &str) -> Result<OwnedFd, String> {
    // SAFETY: plain socket(2) call; the result is checked before being owned.
    let fd = unsafe {
        libc::socket(
            domain,
            kind | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC,
            protocol,
        )
    };
    if fd < 0 {
        return Err(format!(
            "{what} socket: {}",
            std::io::Error::last_os_error()
        ));
    }
    // SAFETY: fd is a fresh descriptor that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

fn enable(fd: &OwnedFd, level: i32, option: i32, what: &str) -> Result<(), String> {
    let one: libc::c_int = 1;
    // SAFETY: the option value points to a live c_int of the stated size.
    let rc = unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            level,
            option,
            (&one as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if rc != 0 {
        return Err(format!("{what}: {}", std::io::Error::last_os_error()));
    }
    Ok(())
}

impl Observer {
    /// Opens the raw sockets, the tap and the snmp counters inside `server`; `others` are the
    /// protocols besides tcp, udp and icmp the probes use (a raw socket each, per IP version
    /// that can carry it: [`super::probes::other_protocol`]).
    pub fn start(server: &Netns, others: &[u8]) -> Result<Observer, String> {
        server.try_run_in(|| {
            let mut raw4 = Vec::new();
            let v4 = [libc::IPPROTO_TCP, libc::IPPROTO_UDP, libc::IPPROTO_ICMP];
            for protocol in v4.into_iter().chain(others.iter().map(|p| i32::from(*p))) {
                raw4.push(socket(libc::AF_INET, libc::SOCK_RAW, protocol, "raw")?);
            }
            let mut raw6 = Vec::new();
            let v6 = [libc::IPPROTO_TCP, libc::IPPROTO_UDP, libc::IPPROTO_ICMPV6];
            let others6 = others
                .iter()
                .filter(|p| super::probes::other_protocol(**p, true))
                .map(|p| i32::from(*p));
            for protocol in v6.into_iter().chain(others6) {
                let s = socket(libc::AF_INET6, libc::SOCK_RAW, protocol, "raw ipv6")?;
                enable(
                    &s,
                    libc::IPPROTO_IPV6,
                    libc::IPV6_RECVPKTINFO,
                    "IPV6_RECVPKTINFO",
                )?;
                enable(&s, libc::IPPROTO_IPV6, libc::IPV6_FLOWINFO, "IPV6_FLOWINFO")?;
                // IPv6 raw sockets get no IP header: the two fields the mangle table may
                // rewrite come as control messages.
                enable(
                    &s,
                    libc::IPPROTO_IPV6,
                    libc::IPV6_RECVTCLASS,
                    "IPV6_RECVTCLASS",
                )?;
                enable(
                    &s,
                    libc::IPPROTO_IPV6,
                    libc::IPV6_RECVHOPLIMIT,
                    "IPV6_RECVHOPLIMIT",
                )?;
                raw6.push((s, protocol as u8));
            }
            let all = (libc::ETH_P_ALL as u16).to_be();
            let tap = socket(
                libc::AF_PACKET,
                libc::SOCK_DGRAM,
                i32::from(all),
                "packet tap",
            )?;
            // Marks where the kernel can say them: an older one refuses the option, and then no
            // mark is ever recorded ([`kernel_reports_marks`] is what the report goes by).
            for s in raw4.iter().chain(raw6.iter().map(|(s, _)| s)).chain([&tap]) {
                let _ = enable(s, libc::SOL_SOCKET, SO_RCVMARK, "SO_RCVMARK");
            }
            // thread-self: this thread is in the namespace, the process's main thread is not.
            let snmp =
                File::open("/proc/thread-self/net/snmp").map_err(|e| format!("open snmp: {e}"))?;
            Ok(Observer {
                raw4,
                raw6,
                tap,
                snmp,
                passed: HashSet::new(),
                arrived: HashSet::new(),
                sent: HashSet::new(),
                sent_on_lo: HashSet::new(),
                carried: HashMap::new(),
                barriers: HashSet::new(),
                behind: None,
            })
        })?
    }

    /// Takes a mark before sending a probe: everything seen so far is read and forgotten.
    pub fn mark(&mut self) -> Result<Mark, String> {
        self.drain()?;
        self.passed.clear();
        self.arrived.clear();
        self.sent.clear();
        self.sent_on_lo.clear();
        self.carried.clear();
        self.behind = None;
        Ok(Mark(()))
    }

    /// Says that the packets about to be judged were followed by a barrier frame carrying
    /// `nonce`, over the link they took and from the CPU that sent them. A CPU's frames into
    /// a link are received in the order sent, each wholly (through every chain, to the raw
    /// sockets or out of a link) before the next, so once the barrier has arrived the kernel
    /// is done with the packets: the verdict waits for it instead of [`GRACE`] (still at most
    /// that long).
    pub fn barrier_follows(&mut self, nonce: u32) {
        self.behind = Some(nonce);
    }

    /// Reads one `/proc/net/snmp` counter of the server namespace, e.g. `("Tcp", "OutRsts")`.
    pub fn counter(&mut self, group: &str, field: &str) -> Result<u64, String> {
        let mut text = String::new();
        self.snmp
            .seek(SeekFrom::Start(0))
            .map_err(|e| format!("seek snmp: {e}"))?;
        self.snmp
            .read_to_string(&mut text)
            .map_err(|e| format!("read snmp: {e}"))?;
        snmp_value(&text, group, field).ok_or_else(|| format!("no {group}:{field} in snmp"))
    }

    /// Decides what happened to the packet `key` sent after `mark` was taken.
    pub fn verdict(&mut self, key: &PacketKey, mark: Mark) -> Result<Seen, String> {
        Ok(self.verdicts(std::slice::from_ref(key), mark)?[0])
    }

    /// Decides what happened to each of `keys`, all sent after `mark` was taken.
    pub fn verdicts(&mut self, keys: &[PacketKey], mark: Mark) -> Result<Vec<Seen>, String> {
        self.fates(keys, mark, false)
    }

    /// Like [`Observer::verdicts`] for packets the server should route on (or, with
    /// `own`, that the server itself sent and OUTPUT let out): accepted when the server sent a
    /// copy out of a link, recognised as [`PacketKey::is_copy_of`] says (NAT may rewrite the
    /// addresses and the ports). The server's own packets never arrive; they count as arrived,
    /// and are decided once [`GRACE`] has passed.
    pub fn forward_verdicts(
        &mut self,
        keys: &[PacketKey],
        mark: Mark,
        own: bool,
    ) -> Result<Vec<Seen>, String> {
        if own {
            self.settle(|o| keys.iter().all(|k| o.forwarded(k)))?;
            return Ok(keys
                .iter()
                .map(|k| Seen::of(true, self.forwarded(k)))
                .collect());
        }
        self.fates(keys, mark, true)
    }

    fn forwarded(&self, k: &PacketKey) -> bool {
        self.forwarded_as(k).is_some()
    }

    /// The copy of `k` the server sent out of a link: its identifier and protocol, and one
    /// unchanged address (NAT may rewrite the other, and the ports).
    fn forwarded_as(&self, k: &PacketKey) -> Option<PacketKey> {
        self.sent_as(k, false)
    }

    /// [`Observer::forwarded_as`], leaving out copies sent on `lo` when `off_lo`.
    fn sent_as(&self, k: &PacketKey, off_lo: bool) -> Option<PacketKey> {
        self.sent
            .iter()
            .filter(|s| !(off_lo && self.sent_on_lo.contains(s)))
            .find(|s| s.is_copy_of(k))
            .copied()
    }

    /// The copy of `k` that passed INPUT: `k` itself, or one a NAT rule rewrote (`redirect`,
    /// `dnat` to one of the server's addresses), recognised as [`Observer::forwarded_as`] does.
    fn passed_as(&self, k: &PacketKey) -> Option<PacketKey> {
        if self.passed.contains(k) {
            return Some(*k);
        }
        self.passed.iter().find(|s| s.is_copy_of(k)).copied()
    }

    /// How `k` looked when the server let it through (delivered it or, `forward`, sent it out
    /// of a link), as far as seen since the last mark; `None` if it did not get through. For a
    /// packet addressed to the server, a copy sent out counts too: `dnat` made it a forwarded
    /// one.
    pub fn seen_as(&self, k: &PacketKey, forward: bool) -> Option<PacketKey> {
        if forward {
            self.forwarded_as(k)
        } else {
            // A probe the server sends itself on `lo` leaves by `lo` before INPUT judges it:
            // that copy says nothing.
            self.passed_as(k).or_else(|| self.sent_as(k, true))
        }
    }

    /// The packet mark `k` had when the server let it through ([`Observer::seen_as`]); `None`
    /// when it did not get through, had no mark, or the kernel does not say.
    pub fn mark_of(&self, k: &PacketKey, forward: bool) -> Option<u32> {
        let mark = self.carried.get(&self.seen_as(k, forward)?)?.mark;
        (mark != 0).then_some(mark)
    }

    /// The TOS byte and TTL (traffic class and hop limit) `k` had when the server let it
    /// through ([`Observer::seen_as`]), and whether that copy is one the server sent out of a
    /// link rather than delivered to itself; `None` when it did not get through.
    pub fn header_of(&self, k: &PacketKey, forward: bool) -> Option<(Header, bool)> {
        let seen = self.seen_as(k, forward)?;
        let sent_out = forward || self.passed_as(k).is_none();
        Some((self.carried.get(&seen)?.header?, sent_out))
    }

    fn through(&self, k: &PacketKey, forward: bool) -> bool {
        self.seen_as(k, forward).is_some()
    }

    fn fates(&mut self, keys: &[PacketKey], _mark: Mark, fwd: bool) -> Result<Vec<Seen>, String> {
        let mut deadline = Instant::now() + ARRIVAL;
        let mut arrived_before = 0;
        loop {
            self.drain()?;
            if keys.iter().all(|k| self.through(k, fwd)) {
                return Ok(vec![Seen::Accepted; keys.len()]);
            }
            let arrived = keys
                .iter()
                .filter(|k| self.has_arrived(k) || self.through(k, fwd))
                .count();
            let now = Instant::now();
            if arrived == keys.len() {
                break;
            }
            if arrived > arrived_before {
                arrived_before = arrived;
                deadline = now + ARRIVAL;
            }
            if now >= deadline {
                break;
            }
            self.wait((deadline - now).min(Duration::from_millis(5)));
        }
        self.settle(|o| keys.iter().all(|k| !o.has_arrived(k) || o.through(k, fwd)))?;
        Ok(keys
            .iter()
            .map(|k| Seen::of(self.has_arrived(k), self.through(k, fwd)))
            .collect())
    }

    /// Waits [`GRACE`] for what already arrived to finish the INPUT path, or until `done`, or
    /// until the barrier behind the packets ([`Observer::barrier_follows`]) arrived.
    fn settle(&mut self, done: impl Fn(&Observer) -> bool) -> Result<(), String> {
        let deadline = Instant::now() + GRACE;
        let behind = self.behind.take();
        loop {
            // Drain once more after the deadline so a late wake-up cannot turn accept into drop.
            self.drain()?;
            let now = Instant::now();
            if now >= deadline || done(self) {
                return Ok(());
            }
            if behind.is_some_and(|n| self.barriers.remove(&n)) {
                // A drain reads the raw sockets before the tap: what passed before the
                // barrier arrived may have been queued after they were read.
                return self.drain();
            }
            self.wait(deadline - now);
        }
    }

    fn has_arrived(&self, k: &PacketKey) -> bool {
        // A packet the server sends itself over `lo` arrives there, maybe rewritten by the nat
        // table's OUTPUT chain first (Docker's DNAT of the server's own connections): a copy
        // of it sent on `lo` has arrived, whatever PREROUTING then does with it.
        self.arrived.contains(k)
            || self.passed_as(k).is_some()
            || self.sent_on_lo.iter().any(|s| s.is_copy_of(k))
    }

    /// What the server did with the TCP flow `src:sport -> dst:dport` since the last mark.
    pub fn flow(
        &mut self,
        src: IpAddr,
        sport: u16,
        dst: IpAddr,
        dport: u16,
    ) -> Result<Flow, String> {
        self.drain()?;
        let of = |k: &PacketKey, src: IpAddr, sport: u16, dst: IpAddr, dport: u16| {
            k.protocol == libc::IPPROTO_TCP as u8
                && k.src == src
                && k.dst == dst
                && k.l4_head[..2] == sport.to_be_bytes()
                && k.l4_head[2..4] == dport.to_be_bytes()
        };
        let passed = self.passed.iter().any(|k| of(k, src, sport, dst, dport));
        Ok(Flow {
            arrived: passed || self.arrived.iter().any(|k| of(k, src, sport, dst, dport)),
            passed,
            answered: self.sent.iter().any(|k| of(k, dst, dport, src, sport)),
        })
    }

    /// Waits up to `timeout` for the barrier frame carrying `nonce` to arrive.
    pub fn barrier(&mut self, nonce: u32, timeout: Duration) -> Result<bool, String> {
        let deadline = Instant::now() + timeout;
        loop {
            self.drain()?;
            if self.barriers.remove(&nonce) {
                return Ok(true);
            }
            let now = Instant::now();
            if now >= deadline {
                return Ok(false);
            }
            self.wait((deadline - now).min(Duration::from_millis(5)));
        }
    }

    /// Sleeps until a socket is readable or `timeout` passes.
    pub fn wait(&self, timeout: Duration) {
        let mut fds: Vec<libc::pollfd> = self
            .raw4
            .iter()
            .chain(self.raw6.iter().map(|(s, _)| s))
            .chain([&self.tap])
            .map(|s| libc::pollfd {
                fd: s.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            })
            .collect();
        let ms = timeout.as_millis().clamp(1, 1000) as libc::c_int;
        // SAFETY: fds is a live, correctly sized array of pollfd; an error or EINTR only ends the
        // wait early, and callers loop.
        unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, ms) };
    }

    fn drain(&mut self) -> Result<(), String> {
        let mut buf = vec![0u8; 65536];
        let mut carried = |k: PacketKey, mark: u32, header: Option<Header>| {
            self.carried.insert(k, Carried { mark, header });
            k
        };
        for socket in &self.raw4 {
            let mut none = ();
            while let Some((n, got)) = recv_msg(socket.as_raw_fd(), &mut buf, &mut none)? {
                if let Some(k) = PacketKey::of(&buf[..n]) {
                    let header = Header::of(&buf[..n]);
                    self.passed.insert(carried(k, got.mark, header));
                }
            }
        }
        for (socket, protocol) in &self.raw6 {
            // SAFETY: an all-zero sockaddr_in6 is a valid value of the type.
            let mut from: libc::sockaddr_in6 = unsafe { std::mem::zeroed() };
            while let Some((_, got)) = recv_msg(socket.as_raw_fd(), &mut buf, &mut from)? {
                let Some(l4_head) = buf.get(..8).and_then(|b| <[u8; 8]>::try_from(b).ok()) else {
                    continue;
                };
                let k = PacketKey {
                    id: got.flow,
                    protocol: *protocol,
                    src: Ipv6Addr::from(from.sin6_addr.s6_addr).into(),
                    dst: got.dst6.into(),
                    l4_head,
                    // Raw sockets get whole datagrams, reassembled.
                    offset: 0,
                };
                let header = (got.tclass)
                    .zip(got.hop_limit)
                    .map(|(tos, ttl)| Header { tos, ttl });
                self.passed.insert(carried(k, got.mark, header));
            }
        }
        loop {
            let mut from: libc::sockaddr_ll = empty_ll();
            let Some((n, got)) = recv_msg(self.tap.as_raw_fd(), &mut buf, &mut from)? else {
                break;
            };
            let data = &buf[..n];
            if from.sll_pkttype == PACKET_OUTGOING {
                if let Some(k) = PacketKey::of(data) {
                    self.sent.insert(carried(k, got.mark, Header::of(data)));
                    if from.sll_hatype == libc::ARPHRD_LOOPBACK {
                        self.sent_on_lo.insert(k);
                    }
                }
                continue;
            }
            if u16::from_be(from.sll_protocol) == BARRIER_ETHERTYPE {
                if let Some(nonce) = data
                    .strip_prefix(BARRIER_MAGIC.as_slice())
                    .and_then(|r| r.get(..4))
                    .and_then(|r| <[u8; 4]>::try_from(r).ok())
                {
                    self.barriers.insert(u32::from_be_bytes(nonce));
                }
                continue;
            }
            self.arrived.extend(PacketKey::of(data));
        }
        Ok(())
    }
}

fn empty_ll() -> libc::sockaddr_ll {
    libc::sockaddr_ll {
        sll_family: 0,
        sll_protocol: 0,
        sll_ifindex: 0,
        sll_hatype: 0,
        sll_pkttype: 0,
        sll_halen: 0,
        sll_addr: [0; 8],
    }
}

/// Ok(None) when nothing is left to read, Ok(Some(n)) for n bytes.
fn check_recv(n: isize) -> Result<Option<usize>, String> {
    if n >= 0 {
        return Ok(Some(n as usize));
    }
    let err = std::io::Error::last_os_error();
    match err.kind() {
        std::io::ErrorKind::WouldBlock => Ok(None),
        // Interrupted: the caller loops and reads again.
        std::io::ErrorKind::Interrupted => Ok(Some(0)),
        _ => Err(format!("recv on observer socket: {err}")),
    }
}

/// What the control messages of one received packet say: its IPv6 destination and flow label
/// (IPv6 raw sockets get no IP header) and its mark (0 when none, or not reported).
struct Control {
    dst6: Ipv6Addr,
    flow: u32,
    mark: u32,
    /// IPv6 only: the traffic class and hop limit.
    tclass: Option<u8>,
    hop_limit: Option<u8>,
}

/// Reads one packet into `buf` (MSG_DONTWAIT), its sender's address into `from` (`()` for
/// none), and what its control messages say; `None` when nothing is left to read.
fn recv_msg<T>(
    fd: RawFd,
    buf: &mut [u8],
    from: &mut T,
) -> Result<Option<(usize, Control)>, String> {
    // Room for every control message the sockets ask for (pktinfo, flow info, mark, traffic
    // class, hop limit: 136 bytes on 64-bit), with some to spare; a cut one is MSG_CTRUNC.
    let mut control = [0u64; 32];
    let mut iov = libc::iovec {
        iov_base: buf.as_mut_ptr().cast(),
        iov_len: buf.len(),
    };
    // SAFETY: an all-zero msghdr is a valid value of the type; its pointers are set below.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    if std::mem::size_of::<T>() > 0 {
        msg.msg_name = (from as *mut T).cast();
        msg.msg_namelen = std::mem::size_of::<T>() as libc::socklen_t;
    }
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.as_mut_ptr().cast();
    msg.msg_controllen = std::mem::size_of_val(&control);
    // SAFETY: msg points to live buffers of the stated sizes for the call.
    let n = unsafe { libc::recvmsg(fd, &mut msg, libc::MSG_DONTWAIT) };
    let Some(n) = check_recv(n)? else {
        return Ok(None);
    };
    let mut got = Control {
        dst6: Ipv6Addr::UNSPECIFIED,
        flow: 0,
        mark: 0,
        tclass: None,
        hop_limit: None,
    };
    // SAFETY: the CMSG_* macros walk the control buffer the kernel filled, within
    // msg_controllen; each data read is bounded by the cmsg's own length.
    unsafe {
        let mut c = libc::CMSG_FIRSTHDR(&msg);
        while !c.is_null() {
            let data = libc::CMSG_DATA(c);
            let len = (*c).cmsg_len as usize - (data as usize - c as usize);
            let bytes = std::slice::from_raw_parts(data, len);
            match ((*c).cmsg_level, (*c).cmsg_type) {
                (libc::IPPROTO_IPV6, libc::IPV6_PKTINFO) if bytes.len() >= 16 => {
                    let mut a = [0u8; 16];
                    a.copy_from_slice(&bytes[..16]);
                    got.dst6 = Ipv6Addr::from(a);
                }
                (libc::IPPROTO_IPV6, libc::IPV6_FLOWINFO) if bytes.len() >= 4 => {
                    got.flow =
                        u32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]) & 0x000f_ffff;
                }
                // Both an int (`ip6_datagram_recv_specific_ctl`), of at most 255.
                (libc::IPPROTO_IPV6, libc::IPV6_TCLASS) if bytes.len() >= 4 => {
                    let v = i32::from_ne_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]);
                    got.tclass = u8::try_from(v).ok();
                }
                (libc::IPPROTO_IPV6, libc::IPV6_HOPLIMIT) if bytes.len() >= 4 => {
                    let v = i32::from_ne_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]);
                    got.hop_limit = u8::try_from(v).ok();
                }
                (libc::SOL_SOCKET, libc::SO_MARK) if bytes.len() >= 4 => {
                    got.mark = u32::from_ne_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]);
                }
                _ => {}
            }
            c = libc::CMSG_NXTHDR(&msg, c);
        }
    }
    Ok(Some((n, got)))
}

/// Finds `group: field` in `/proc/net/snmp` text, made of header/value line pairs per group.
pub fn snmp_value(text: &str, group: &str, field: &str) -> Option<u64> {
    let prefix = format!("{group}:");
    let mut lines = text.lines().filter(|l| l.starts_with(&prefix));
    let names = lines.next()?;
    let values = lines.next()?;
    let column = names.split_whitespace().position(|name| name == field)?;
    values.split_whitespace().nth(column)?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_fields_are_read_where_each_version_keeps_them() {
        use crate::verify::packet::Packet;
        let v4 = Packet::udp(
            Ipv4Addr::new(198, 18, 0, 1),
            4000,
            Ipv4Addr::new(10, 77, 0, 1),
            53,
        );
        let mut bytes = v4.to_bytes();
        assert_eq!(Header::of(&bytes), Some(Header { tos: 0, ttl: 64 }));
        (bytes[1], bytes[8]) = (0xb8, 5);
        assert_eq!(Header::of(&bytes), Some(Header { tos: 0xb8, ttl: 5 }));
        let src: Ipv6Addr = "2001:db8::3".parse().unwrap();
        let dst: Ipv6Addr = "fd77::1".parse().unwrap();
        let mut bytes = Packet::udp(src, 4000, dst, 53).to_bytes();
        assert_eq!(Header::of(&bytes), Some(Header { tos: 0, ttl: 64 }));
        // Traffic class 0x88 (AF41) straddles the version nibble and the flow label.
        (bytes[0], bytes[1], bytes[7]) = (0x68, 0x80 | (bytes[1] & 0x0f), 7);
        assert_eq!(Header::of(&bytes), Some(Header { tos: 0x88, ttl: 7 }));
        assert_eq!(Header::of(&bytes[..39]), None);
        assert_eq!(Header::of(&[0x45; 19]), None);
    }

    #[test]
    fn a_packet_key_skips_ipv6_extension_headers_as_raw_sockets_do() {
        use crate::verify::packet::{Packet, Routing, SYN};
        let src: Ipv6Addr = "2001:db8::3".parse().unwrap();
        let dst: Ipv6Addr = "fd77::1".parse().unwrap();
        let plain = Packet::tcp(src, 40000, dst, 22, SYN).with_id(7);
        let routed = plain.clone().with_routing(Some(Routing {
            kind: 0,
            segments_left: 0,
            hdrlen: 2,
        }));
        let key = PacketKey::of(&routed.to_bytes()).unwrap();
        assert_eq!(Some(key), PacketKey::of(&plain.to_bytes()));
        assert_eq!(key.protocol, 6);
        // A header whose length runs past the packet gives no key.
        let mut cut = routed.to_bytes();
        cut.truncate(50);
        assert_eq!(PacketKey::of(&cut), None);
    }

    #[test]
    fn a_fragment_is_known_by_its_offset_and_the_first_as_the_whole_datagram() {
        use crate::verify::packet::{Packet, Routing, SYN};
        let v4 = Packet::tcp(
            Ipv4Addr::new(198, 18, 0, 1),
            40000,
            Ipv4Addr::new(10, 77, 0, 1),
            22,
            SYN,
        );
        let src: Ipv6Addr = "2001:db8::3".parse().unwrap();
        let v6 = Packet::udp(src, 40000, "fd77::1".parse::<Ipv6Addr>().unwrap(), 53);
        let rh = Routing {
            kind: 0,
            segments_left: 0,
            hdrlen: 0,
        };
        for packet in [v4, v6.clone(), v6.with_routing(Some(rh))] {
            let packet = packet.with_id(7);
            let [first, second] = packet.fragments();
            let (a, b) = (
                PacketKey::of(&first).unwrap(),
                PacketKey::of(&second).unwrap(),
            );
            assert_eq!((a.offset, a.protocol), (0, packet.protocol()), "{packet:?}");
            // The first fragment's transport header starts the datagram reassembled from both.
            assert_eq!(
                a.l4_head[..4],
                PacketKey::of(&packet.to_bytes()).unwrap().l4_head[..4]
            );
            assert!(b.offset > 0, "{packet:?}");
            assert_eq!((b.id, b.protocol), (a.id, a.protocol), "{packet:?}");
            // A copy of one fragment is never taken for the other.
            assert!(a.is_copy_of(&a) && b.is_copy_of(&b));
            assert!(!a.is_copy_of(&b) && !b.is_copy_of(&a), "{packet:?}");
        }
    }

    #[test]
    fn snmp_value_reads_the_column_under_its_name() {
        let text = "Ip: Forwarding DefaultTTL InReceives\nIp: 2 64 17\nTcp: RtoAlgorithm OutRsts\nTcp: 1 5\n";
        let cases = [
            ("Ip", "InReceives", Some(17)),
            ("Tcp", "OutRsts", Some(5)),
            ("Ip", "Nope", None),
            ("Udp", "X", None),
        ];
        for (group, field, want) in cases {
            assert_eq!(snmp_value(text, group, field), want, "{group}:{field}");
        }
    }

    #[test]
    fn a_copy_keeps_its_id_and_one_address_or_its_tcp_sequence() {
        let key = |protocol: u8, src: [u8; 4], dst: [u8; 4], seq: u32| {
            let mut l4_head = [0u8; 8];
            l4_head[..2].copy_from_slice(&20000u16.to_be_bytes());
            l4_head[2..4].copy_from_slice(&443u16.to_be_bytes());
            l4_head[4..8].copy_from_slice(&seq.to_be_bytes());
            PacketKey {
                id: 0x1234,
                protocol,
                src: IpAddr::from(src),
                dst: IpAddr::from(dst),
                l4_head,
                offset: 0,
            }
        };
        let sent = key(6, [198, 18, 0, 1], [203, 0, 113, 7], 7);
        // DNAT: the source is unchanged.
        assert!(key(6, [198, 18, 0, 1], [10, 0, 0, 5], 7).is_copy_of(&sent));
        // DNAT and SNAT at once: both addresses changed, the sequence number not.
        assert!(key(6, [10, 77, 1, 1], [10, 0, 0, 5], 7).is_copy_of(&sent));
        assert!(!key(6, [10, 77, 1, 1], [10, 0, 0, 5], 8).is_copy_of(&sent));
        // Over udp the same bytes are a length and a checksum: both addresses changed is
        // another packet.
        let sent = key(17, [198, 18, 0, 1], [203, 0, 113, 7], 7);
        assert!(!key(17, [10, 77, 1, 1], [10, 0, 0, 5], 7).is_copy_of(&sent));
        // Another identifier is another packet.
        let mut other = key(6, [198, 18, 0, 1], [203, 0, 113, 7], 7);
        other.id = 0x1235;
        assert!(!other.is_copy_of(&key(6, [198, 18, 0, 1], [203, 0, 113, 7], 7)));
    }

    #[test]
    fn a_packet_is_judged_by_both_views() {
        // (arrived at the tap, passed INPUT, fate)
        let cases = [
            (true, true, Seen::Accepted),
            (false, true, Seen::Accepted),
            (true, false, Seen::Dropped),
            (false, false, Seen::NotReceived),
        ];
        for (arrived, passed, want) in cases {
            assert_eq!(
                Seen::of(arrived, passed),
                want,
                "arrived {arrived} passed {passed}"
            );
        }
    }

    #[test]
    fn keys_of_both_families_read_ids_addresses_and_transport_head() {
        let mut v4 = vec![0u8; 28];
        v4[0] = 0x45;
        v4[4..6].copy_from_slice(&0x1234u16.to_be_bytes());
        v4[9] = 17;
        v4[12..16].copy_from_slice(&[10, 0, 0, 1]);
        v4[16..20].copy_from_slice(&[10, 0, 0, 2]);
        v4[20..28].copy_from_slice(&[1, 2, 3, 4, 5, 6, 7, 8]);
        let k = PacketKey::of(&v4).expect("v4 key");
        assert_eq!((k.id, k.protocol, k.l4_head[0]), (0x1234, 17, 1));
        assert_eq!(k.src, IpAddr::from([10, 0, 0, 1]));
        let mut v6 = vec![0u8; 48];
        v6[..4].copy_from_slice(&[0x60, 0x0a, 0xbc, 0xde]);
        v6[6] = 58;
        v6[23] = 1;
        v6[39] = 2;
        v6[40] = 128;
        let k = PacketKey::of(&v6).expect("v6 key");
        assert_eq!((k.id, k.protocol, k.l4_head[0]), (0xabcde, 58, 128));
        assert_eq!(k.dst, "::2".parse::<IpAddr>().unwrap());
        assert_eq!(PacketKey::of(&v6[..47]), None, "too short");
        assert_eq!(PacketKey::of(&[0x50; 60]), None, "version 5");
    }
}
