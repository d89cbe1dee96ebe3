//! Verdict observation inside the server namespace: did the ruleset let a given packet in?
//!
//! The observer is three raw IPv4 sockets (TCP, UDP, ICMP) opened in the server namespace. The
//! kernel hands raw sockets a copy of every packet it delivers locally, and it does so after the
//! `NF_INET_LOCAL_IN` hook (`ip_local_deliver` -> hook -> `ip_local_deliver_finish` ->
//! `raw_local_deliver`), so a copy shows up exactly when every INPUT chain, legacy or nftables,
//! accepted the packet. Packets are recognised by a [`PacketKey`] (IP id, addresses, protocol and
//! the first 8 bytes of the transport header), which kernel-made replies never share with a probe.
//!
//! "Dropped" must not be confused with "not there yet": the observer first waits for the server's
//! `Ip: InReceives` counter (`/proc/thread-self/net/snmp` opened inside, bumped by `ip_rcv` before
//! any hook) to move, then allows [`GRACE`] for the same softirq to finish the INPUT path. A probe
//! that never reaches the server's IP layer is [`Seen::NotReceived`], a harness failure. Replies
//! seen by the client are never the verdict (a FIN to an open port is accepted and gets no answer).
//!
//! This module does not install anything in the kernel (no observer table, so the ruleset under
//! test is alone in its namespace) and does not send probes.

use std::collections::HashSet;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::net::Ipv4Addr;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::time::{Duration, Instant};

use super::netns::Netns;

/// How long after the packets reached the server's IP layer they may take to pass INPUT. The
/// whole path runs in one softirq, normally within microseconds of the send; this is the cost of
/// every dropped probe.
pub const GRACE: Duration = Duration::from_millis(20);
/// How long a probe may take to reach the server's IP layer at all.
pub const ARRIVAL: Duration = Duration::from_secs(1);

/// What the server's INPUT path did with one packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Seen {
    Accepted,
    Dropped,
    /// The packet never reached the server's IP layer: a broken harness, not a verdict.
    NotReceived,
}

/// Identifies one crafted packet among everything the server receives.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct PacketKey {
    pub id: u16,
    pub protocol: u8,
    pub src: Ipv4Addr,
    pub dst: Ipv4Addr,
    pub l4_head: [u8; 8],
}

impl PacketKey {
    /// Reads the key of an IPv4 packet (header included), or None if it is too short.
    pub fn of(packet: &[u8]) -> Option<PacketKey> {
        if packet.len() < 20 {
            return None;
        }
        let ihl = usize::from(*packet.first()? & 0x0f) * 4;
        let l4_head: [u8; 8] = packet.get(ihl..ihl + 8)?.try_into().ok()?;
        Some(PacketKey {
            id: u16::from_be_bytes([packet[4], packet[5]]),
            protocol: packet[9],
            src: Ipv4Addr::new(packet[12], packet[13], packet[14], packet[15]),
            dst: Ipv4Addr::new(packet[16], packet[17], packet[18], packet[19]),
            l4_head,
        })
    }
}

/// A point in the server's packet count, taken just before sending a probe.
#[derive(Clone, Copy, Debug)]
pub struct Mark(u64);

/// Watches what the server namespace's INPUT path lets through.
pub struct Observer {
    sockets: Vec<OwnedFd>,
    snmp: File,
    seen: HashSet<PacketKey>,
}

impl Observer {
    /// Opens the raw sockets and the snmp counters inside `server`.
    pub fn start(server: &Netns) -> Result<Observer, String> {
        server.try_run_in(|| {
            let mut sockets = Vec::new();
            for protocol in [libc::IPPROTO_TCP, libc::IPPROTO_UDP, libc::IPPROTO_ICMP] {
                // SAFETY: plain socket(2) call; the result is checked before being owned.
                let fd = unsafe {
                    libc::socket(
                        libc::AF_INET,
                        libc::SOCK_RAW | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC,
                        protocol,
                    )
                };
                if fd < 0 {
                    return Err(format!(
                        "raw socket for protocol {protocol}: {}",
                        std::io::Error::last_os_error()
                    ));
                }
                // SAFETY: fd is a fresh descriptor that nothing else owns.
                sockets.push(unsafe { OwnedFd::from_raw_fd(fd) });
            }
            // thread-self: this thread is in the namespace, the process's main thread is not.
            let snmp =
                File::open("/proc/thread-self/net/snmp").map_err(|e| format!("open snmp: {e}"))?;
            Ok(Observer {
                sockets,
                snmp,
                seen: HashSet::new(),
            })
        })?
    }

    /// Takes a mark before sending a probe.
    pub fn mark(&mut self) -> Result<Mark, String> {
        self.counter("Ip", "InReceives").map(Mark)
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
        let arrival = Instant::now() + ARRIVAL;
        let want = keys.len() as u64;
        let mut arrived;
        loop {
            self.drain()?;
            if keys.iter().all(|k| self.seen.contains(k)) {
                return Ok(vec![Seen::Accepted; keys.len()]);
            }
            arrived = self.mark()?.0.saturating_sub(mark.0);
            if arrived >= want || Instant::now() >= arrival {
                break;
            }
            self.wait(Duration::from_millis(1));
        }
        let deadline = Instant::now() + GRACE;
        loop {
            // Drain once more after the deadline so a late wake-up cannot turn accept into drop.
            self.drain()?;
            let now = Instant::now();
            if now >= deadline || keys.iter().all(|k| self.seen.contains(k)) {
                break;
            }
            self.wait(deadline - now);
        }
        let missing = if arrived == 0 {
            Seen::NotReceived
        } else {
            Seen::Dropped
        };
        Ok(keys
            .iter()
            .map(|k| {
                if self.seen.contains(k) {
                    Seen::Accepted
                } else {
                    missing
                }
            })
            .collect())
    }

    fn wait(&self, timeout: Duration) {
        let mut fds: Vec<libc::pollfd> = self
            .sockets
            .iter()
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
        for socket in &self.sockets {
            loop {
                // SAFETY: buf is valid for buf.len() bytes; MSG_DONTWAIT never blocks.
                let n = unsafe {
                    libc::recv(
                        socket.as_raw_fd(),
                        buf.as_mut_ptr().cast(),
                        buf.len(),
                        libc::MSG_DONTWAIT,
                    )
                };
                if n < 0 {
                    let err = std::io::Error::last_os_error();
                    match err.kind() {
                        std::io::ErrorKind::WouldBlock => break,
                        std::io::ErrorKind::Interrupted => continue,
                        _ => return Err(format!("recv on observer socket: {err}")),
                    }
                }
                if let Some(key) = PacketKey::of(&buf[..n as usize]) {
                    self.seen.insert(key);
                }
            }
        }
        Ok(())
    }
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
}
