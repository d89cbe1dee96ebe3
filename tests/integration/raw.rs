//! Hand-made IPv4 and IPv6 packets for the kernel tests that need packets no socket would send
//! (fragments, arbitrary TCP flags): the Internet checksum and raw-socket senders. Only inside
//! a test's own namespace; nothing here chooses addresses.

use crate::netns::assert_not_host_netns;

/// The Internet checksum (RFC 1071) of `b`, ready to store big-endian.
pub fn checksum(b: &[u8]) -> u16 {
    let mut sum: u32 = b
        .chunks(2)
        .map(|c| u32::from(c[0]) << 8 | u32::from(*c.get(1).unwrap_or(&0)))
        .sum();
    while sum > 0xffff {
        sum = (sum >> 16) + (sum & 0xffff);
    }
    !(sum as u16)
}

/// Sends each of `packets` (whole IPv4 packets, header included) to `dst` through a raw
/// socket of the calling thread's network namespace, which must not be the host's.
pub fn send_ipv4(packets: &[Vec<u8>], dst: [u8; 4]) {
    assert_not_host_netns();
    // SAFETY: plain socket calls on a descriptor this function owns and closes.
    unsafe {
        let fd = libc::socket(libc::AF_INET, libc::SOCK_RAW, libc::IPPROTO_RAW);
        assert!(fd >= 0, "raw socket: {}", std::io::Error::last_os_error());
        let mut to: libc::sockaddr_in = std::mem::zeroed();
        to.sin_family = libc::AF_INET as u16;
        to.sin_addr.s_addr = u32::from_ne_bytes(dst);
        for p in packets {
            let n = libc::sendto(
                fd,
                p.as_ptr().cast(),
                p.len(),
                0,
                (&to as *const libc::sockaddr_in).cast(),
                std::mem::size_of::<libc::sockaddr_in>() as u32,
            );
            assert_eq!(n, p.len() as isize, "{}", std::io::Error::last_os_error());
        }
        libc::close(fd);
    }
}

/// Sends each of `packets` (whole IPv6 packets, header included) to `::1` through a raw socket
/// of the calling thread's network namespace, which must not be the host's.
pub fn send_ipv6(packets: &[Vec<u8>]) {
    assert_not_host_netns();
    // SAFETY: plain socket calls on a descriptor this function owns and closes.
    unsafe {
        // IPPROTO_RAW: the packet given includes its IPv6 header.
        let fd = libc::socket(libc::AF_INET6, libc::SOCK_RAW, libc::IPPROTO_RAW);
        assert!(fd >= 0, "raw socket: {}", std::io::Error::last_os_error());
        let mut to: libc::sockaddr_in6 = std::mem::zeroed();
        to.sin6_family = libc::AF_INET6 as u16;
        to.sin6_addr.s6_addr = std::net::Ipv6Addr::LOCALHOST.octets();
        for p in packets {
            let n = libc::sendto(
                fd,
                p.as_ptr().cast(),
                p.len(),
                0,
                (&to as *const libc::sockaddr_in6).cast(),
                std::mem::size_of::<libc::sockaddr_in6>() as u32,
            );
            assert_eq!(n, p.len() as isize, "{}", std::io::Error::last_os_error());
        }
        libc::close(fd);
    }
}
