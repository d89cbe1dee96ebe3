//! A netlink socket: open, send one buffer, receive replies. NETLINK_NETFILTER for nf_tables
//! ([`Socket::open`]) and for conntrack's events ([`Socket::open_conntrack_events`], for
//! `fwnet verify`), NETLINK_SOCK_DIAG for the lockout guard's TCP sessions
//! ([`Socket::open_sock_diag`]). Nothing nf_tables specific lives here (the codec builds and
//! parses the bytes); this is the only place fwnet makes netlink system calls.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

/// Socket options not (yet) in every libc crate release; values from include/uapi/linux/netlink.h.
const NETLINK_EXT_ACK: libc::c_int = 11;
const NETLINK_CAP_ACK: libc::c_int = 10;
const SOL_NETLINK: libc::c_int = 270;
/// Large enough for a 100k-rule batch's replies; the kernel may cap it (see `open`).
const BUFFER_BYTES: libc::c_int = 64 << 20;
/// The conntrack event groups (enum nfnetlink_groups, include/uapi/linux/netfilter/nfnetlink.h).
const NFNLGRP_CONNTRACK_NEW: libc::c_int = 1;
const NFNLGRP_CONNTRACK_UPDATE: libc::c_int = 2;
const NFNLGRP_CONNTRACK_DESTROY: libc::c_int = 3;
const EVENT_BUFFER_BYTES: libc::c_int = 4 << 20;

pub struct Socket {
    fd: OwnedFd,
}

impl Socket {
    /// Opens and binds the socket, turns on extended acks, and enlarges its buffers
    /// (SO_*BUFFORCE needs CAP_NET_ADMIN; without it the plain limits apply).
    pub fn open() -> io::Result<Socket> {
        let sock = Socket::bound(libc::NETLINK_NETFILTER)?;
        sock.set_int(SOL_NETLINK, NETLINK_EXT_ACK, 1)?;
        // Errors then echo only the failing message's header, not the whole batch.
        sock.set_int(SOL_NETLINK, NETLINK_CAP_ACK, 1)?;
        for (force, plain) in [
            (libc::SO_SNDBUFFORCE, libc::SO_SNDBUF),
            (libc::SO_RCVBUFFORCE, libc::SO_RCVBUF),
        ] {
            if sock.set_int(libc::SOL_SOCKET, force, BUFFER_BYTES).is_err() {
                // Not privileged (or in a container): the kernel caps this at rmem_max/wmem_max.
                let _ = sock.set_int(libc::SOL_SOCKET, plain, BUFFER_BYTES);
            }
        }
        Ok(sock)
    }

    /// A NETLINK_SOCK_DIAG socket in the calling thread's network namespace, with the
    /// default buffers (a dump comes in as many datagrams as it needs).
    pub fn open_sock_diag() -> io::Result<Socket> {
        Socket::bound(libc::NETLINK_SOCK_DIAG)
    }

    /// A NETLINK_NETFILTER socket in the calling thread's network namespace that receives
    /// conntrack's events: new connections, changes to them and their ends
    /// (NFNLGRP_CONNTRACK_NEW, _UPDATE and _DESTROY), read with [`Socket::recv`] unwaited.
    pub fn open_conntrack_events() -> io::Result<Socket> {
        let sock = Socket::bound(libc::NETLINK_NETFILTER)?;
        for group in [
            NFNLGRP_CONNTRACK_NEW,
            NFNLGRP_CONNTRACK_UPDATE,
            NFNLGRP_CONNTRACK_DESTROY,
        ] {
            sock.set_int(SOL_NETLINK, libc::NETLINK_ADD_MEMBERSHIP, group)?;
        }
        // Room for the events of many probes between two reads; unprivileged, the plain limit.
        if sock
            .set_int(libc::SOL_SOCKET, libc::SO_RCVBUFFORCE, EVENT_BUFFER_BYTES)
            .is_err()
        {
            let _ = sock.set_int(libc::SOL_SOCKET, libc::SO_RCVBUF, EVENT_BUFFER_BYTES);
        }
        Ok(sock)
    }

    /// A netlink socket of `protocol`, bound to an address the kernel picks.
    fn bound(protocol: libc::c_int) -> io::Result<Socket> {
        // SAFETY: plain system call; the fd is owned immediately below.
        let raw = unsafe {
            libc::socket(
                libc::AF_NETLINK,
                libc::SOCK_RAW | libc::SOCK_CLOEXEC,
                protocol,
            )
        };
        if raw < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: `raw` is a fresh descriptor that nothing else owns.
        let fd = unsafe { OwnedFd::from_raw_fd(raw) };
        let sock = Socket { fd };
        // SAFETY: sockaddr_nl is plain data; zeroed is a valid "any" address.
        let mut addr: libc::sockaddr_nl = unsafe { std::mem::zeroed() };
        addr.nl_family = libc::AF_NETLINK as libc::sa_family_t;
        // SAFETY: addr is a valid sockaddr_nl of the given size.
        let rc = unsafe {
            libc::bind(
                sock.fd.as_raw_fd(),
                &addr as *const libc::sockaddr_nl as *const libc::sockaddr,
                std::mem::size_of::<libc::sockaddr_nl>() as libc::socklen_t,
            )
        };
        if rc < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(sock)
    }

    fn set_int(&self, level: libc::c_int, name: libc::c_int, value: libc::c_int) -> io::Result<()> {
        // SAFETY: value outlives the call; size matches.
        let rc = unsafe {
            libc::setsockopt(
                self.fd.as_raw_fd(),
                level,
                name,
                &value as *const libc::c_int as *const libc::c_void,
                std::mem::size_of::<libc::c_int>() as libc::socklen_t,
            )
        };
        if rc < 0 {
            Err(io::Error::last_os_error())
        } else {
            Ok(())
        }
    }

    /// Sends the whole buffer in one sendmsg: the kernel processes an nf_tables batch inside
    /// this call.
    pub fn send(&self, bytes: &[u8]) -> io::Result<()> {
        // SAFETY: zeroed sockaddr_nl addresses the kernel (pid 0).
        let mut addr: libc::sockaddr_nl = unsafe { std::mem::zeroed() };
        addr.nl_family = libc::AF_NETLINK as libc::sa_family_t;
        // SAFETY: pointers are valid for the given lengths during the call.
        let rc = unsafe {
            libc::sendto(
                self.fd.as_raw_fd(),
                bytes.as_ptr() as *const libc::c_void,
                bytes.len(),
                0,
                &addr as *const libc::sockaddr_nl as *const libc::sockaddr,
                std::mem::size_of::<libc::sockaddr_nl>() as libc::socklen_t,
            )
        };
        if rc < 0 {
            return Err(io::Error::last_os_error());
        }
        if rc as usize != bytes.len() {
            return Err(io::Error::new(
                io::ErrorKind::WriteZero,
                "short netlink send",
            ));
        }
        Ok(())
    }

    /// Receives one datagram (possibly several netlink messages). `Ok(None)` when `wait` is
    /// false and nothing is queued.
    pub fn recv(&self, buf: &mut Vec<u8>, wait: bool) -> io::Result<Option<usize>> {
        // Room without zeroing a megabyte per datagram (that dominated `status` in debug builds).
        buf.clear();
        buf.reserve(1 << 20);
        let flags = if wait { 0 } else { libc::MSG_DONTWAIT };
        // SAFETY: buf has capacity for writes of that many bytes; its length stays 0 until the
        // kernel has written them.
        let rc = unsafe {
            libc::recv(
                self.fd.as_raw_fd(),
                buf.as_mut_ptr() as *mut libc::c_void,
                buf.capacity(),
                flags,
            )
        };
        if rc < 0 {
            let err = io::Error::last_os_error();
            if !wait && err.kind() == io::ErrorKind::WouldBlock {
                return Ok(None);
            }
            return Err(err);
        }
        // SAFETY: the kernel initialized the first rc bytes, rc <= capacity.
        unsafe { buf.set_len(rc as usize) };
        Ok(Some(rc as usize))
    }
}
