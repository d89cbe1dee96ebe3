//! The host's answers for the user, group and host names in rules, asked the way
//! iptables-restore asks them when it loads a file (`fwnet_translate::names` says what it does
//! with them): getpwnam, getgrnam and getservbyname; for an IPv4 name a network name first (getnetbyname,
//! /etc/networks), then getaddrinfo with libxtables' hints (the family, raw sockets), whose
//! answers are already in the order iptables makes its rules in (RFC 6724 sorted, duplicates
//! kept).

use std::ffi::CString;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// The uid of user `name`, `None` when the host has none of that name.
pub fn user_id(name: &str) -> io::Result<Option<u32>> {
    let c = cstring(name)?;
    // SAFETY: passwd is valid all-zero; getpwnam_r gets valid pointers and the buffer's length.
    unsafe {
        reentrant(
            |ent, buf, len, found| libc::getpwnam_r(c.as_ptr(), ent, buf, len, found),
            |p: &libc::passwd| p.pw_uid,
        )
    }
}

/// The gid of group `name`, `None` when the host has none of that name.
pub fn group_id(name: &str) -> io::Result<Option<u32>> {
    let c = cstring(name)?;
    // SAFETY: group is valid all-zero; getgrnam_r gets valid pointers and the buffer's length.
    unsafe {
        reentrant(
            |ent, buf, len, found| libc::getgrnam_r(c.as_ptr(), ent, buf, len, found),
            |g: &libc::group| g.gr_gid,
        )
    }
}

/// Runs a glibc `get*_r` lookup, which fills a `T` with strings kept in a buffer of ours,
/// growing the buffer while the call says it is too small. `Ok(None)` when the name is unknown.
///
/// # Safety
/// `T` must be a C struct for which all-zero bytes are a valid value, and `call` must pass its
/// arguments on to a `get*_r` function that fills that struct.
unsafe fn reentrant<T, R>(
    call: impl Fn(*mut T, *mut libc::c_char, libc::size_t, *mut *mut T) -> libc::c_int,
    answer: impl Fn(&T) -> R,
) -> io::Result<Option<R>> {
    let mut buf = vec![0u8; 4096];
    loop {
        // SAFETY: the caller promises all-zero is a valid `T`.
        let mut ent: T = unsafe { std::mem::zeroed() };
        let mut found: *mut T = std::ptr::null_mut();
        match call(&mut ent, buf.as_mut_ptr().cast(), buf.len(), &mut found) {
            0 if found.is_null() => return Ok(None),
            0 => return Ok(Some(answer(&ent))),
            libc::ERANGE if buf.len() < 1 << 20 => buf.resize(buf.len() * 4, 0),
            // "Not found" comes back as these from some NSS modules.
            libc::ENOENT | libc::ESRCH | libc::EBADF | libc::EPERM => return Ok(None),
            e => return Err(io::Error::from_raw_os_error(e)),
        }
    }
}

/// glibc's "the host has no address in that family" (not in the libc crate).
const EAI_ADDRFAMILY: libc::c_int = -9;

/// The addresses host or network `name` stands for in an iptables (`v6` false) or ip6tables
/// rule, in iptables' order; empty when it does not resolve.
pub fn host_addrs(name: &str, v6: bool) -> io::Result<Vec<IpAddr>> {
    let c = cstring(name)?;
    if !v6 {
        if let Some(net) = network(&c) {
            return Ok(vec![IpAddr::V4(net)]);
        }
    }
    // SAFETY: all-zero is a valid addrinfo hints value (no flags, no names).
    let mut hints: libc::addrinfo = unsafe { std::mem::zeroed() };
    hints.ai_flags = libc::AI_CANONNAME;
    hints.ai_family = if v6 { libc::AF_INET6 } else { libc::AF_INET };
    hints.ai_socktype = libc::SOCK_RAW;
    let mut res: *mut libc::addrinfo = std::ptr::null_mut();
    // SAFETY: `c` and `hints` outlive the call; `res` is freed below.
    let rc = unsafe { libc::getaddrinfo(c.as_ptr(), std::ptr::null(), &hints, &mut res) };
    if rc != 0 {
        return match rc {
            libc::EAI_NONAME | libc::EAI_NODATA | EAI_ADDRFAMILY => Ok(Vec::new()),
            libc::EAI_SYSTEM => Err(io::Error::last_os_error()),
            _ => Err(io::Error::other(format!(
                "cannot resolve `{name}`: {}",
                // SAFETY: gai_strerror returns a static string for any code.
                unsafe { std::ffi::CStr::from_ptr(libc::gai_strerror(rc)) }.to_string_lossy()
            ))),
        };
    }
    let mut out = Vec::new();
    let mut p = res;
    while !p.is_null() {
        // SAFETY: `p` is a node of the list getaddrinfo returned, not yet freed.
        let ai = unsafe { &*p };
        if !ai.ai_addr.is_null() {
            match ai.ai_family {
                libc::AF_INET if !v6 => {
                    // SAFETY: an AF_INET answer's address is a sockaddr_in.
                    let sa = unsafe { &*ai.ai_addr.cast::<libc::sockaddr_in>() };
                    out.push(IpAddr::V4(Ipv4Addr::from(u32::from_be(sa.sin_addr.s_addr))));
                }
                libc::AF_INET6 if v6 => {
                    // SAFETY: an AF_INET6 answer's address is a sockaddr_in6.
                    let sa = unsafe { &*ai.ai_addr.cast::<libc::sockaddr_in6>() };
                    out.push(IpAddr::V6(Ipv6Addr::from(sa.sin6_addr.s6_addr)));
                }
                _ => {}
            }
        }
        p = ai.ai_next;
    }
    // SAFETY: `res` came from a successful getaddrinfo and is freed once.
    unsafe { libc::freeaddrinfo(res) };
    Ok(out)
}

/// An IPv4 network name from the networks database (`loopback` is 127.0.0.0).
fn network(name: &CString) -> Option<Ipv4Addr> {
    // SAFETY: all-zero is a valid netent for getnetbyname_r to fill.
    let mut ent: libc::netent = unsafe { std::mem::zeroed() };
    let mut found: *mut libc::netent = std::ptr::null_mut();
    let mut herr: libc::c_int = 0;
    let mut buf = vec![0u8; 4096];
    // SAFETY: every pointer is valid for the call and `buf` is as long as we say.
    let rc = unsafe {
        libc::getnetbyname_r(
            name.as_ptr(),
            &mut ent,
            buf.as_mut_ptr().cast(),
            buf.len(),
            &mut found,
            &mut herr,
        )
    };
    (rc == 0 && !found.is_null() && ent.n_addrtype == libc::AF_INET)
        .then(|| Ipv4Addr::from(ent.n_net))
}

extern "C" {
    // glibc's reentrant form, which the libc crate does not declare.
    fn getservbyname_r(
        name: *const libc::c_char,
        proto: *const libc::c_char,
        result_buf: *mut libc::servent,
        buf: *mut libc::c_char,
        buflen: libc::size_t,
        result: *mut *mut libc::servent,
    ) -> libc::c_int;
}

/// The port of service `name` in the services database, as libxtables 1.8.9 asks for it: for
/// protocol `proto` (`tcp`, `udp` ...) with getservbyname, or with `None` the first answer of
/// getaddrinfo for the service alone (the tcp port when the name has one, else udp's ...).
/// `None` when there is none.
pub fn service_port(name: &str, proto: Option<&str>) -> io::Result<Option<u16>> {
    let c = cstring(name)?;
    let Some(proto) = proto else {
        return first_service_port(&c);
    };
    let p = cstring(proto)?;
    // SAFETY: servent is valid all-zero; getservbyname_r gets valid pointers and the buffer's
    // length. s_port holds the port in network order in the low 16 bits of an int.
    unsafe {
        reentrant(
            |ent, buf, len, found| getservbyname_r(c.as_ptr(), p.as_ptr(), ent, buf, len, found),
            |e: &libc::servent| u16::from_be(e.s_port as u16),
        )
    }
}

/// getaddrinfo(NULL, name, NULL)'s first port, as `xtables_getportbyname` takes it.
fn first_service_port(name: &CString) -> io::Result<Option<u16>> {
    let mut res: *mut libc::addrinfo = std::ptr::null_mut();
    // SAFETY: `name` outlives the call; `res` is freed below.
    let rc =
        unsafe { libc::getaddrinfo(std::ptr::null(), name.as_ptr(), std::ptr::null(), &mut res) };
    if rc != 0 {
        return match rc {
            libc::EAI_SERVICE | libc::EAI_NONAME => Ok(None),
            libc::EAI_SYSTEM => Err(io::Error::last_os_error()),
            _ => Ok(None),
        };
    }
    let mut port = None;
    let mut p = res;
    while !p.is_null() {
        // SAFETY: `p` is a node of the list getaddrinfo returned, not yet freed.
        let ai = unsafe { &*p };
        if !ai.ai_addr.is_null() {
            match ai.ai_family {
                libc::AF_INET => {
                    // SAFETY: an AF_INET answer's address is a sockaddr_in.
                    let sa = unsafe { &*ai.ai_addr.cast::<libc::sockaddr_in>() };
                    port = Some(u16::from_be(sa.sin_port));
                    break;
                }
                libc::AF_INET6 => {
                    // SAFETY: an AF_INET6 answer's address is a sockaddr_in6.
                    let sa = unsafe { &*ai.ai_addr.cast::<libc::sockaddr_in6>() };
                    port = Some(u16::from_be(sa.sin6_port));
                    break;
                }
                _ => {}
            }
        }
        p = ai.ai_next;
    }
    // SAFETY: `res` came from a successful getaddrinfo and is freed once.
    unsafe { libc::freeaddrinfo(res) };
    Ok(port)
}

fn cstring(name: &str) -> io::Result<CString> {
    CString::new(name).map_err(|_| io::Error::other(format!("`{name}` holds a NUL byte")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn root_is_uid_and_gid_0_and_localhost_is_127_0_0_1() {
        assert_eq!(user_id("root").unwrap(), Some(0));
        assert_eq!(group_id("root").unwrap(), Some(0));
        assert_eq!(user_id("fwnet-no-such-user-x").unwrap(), None);
        assert_eq!(group_id("fwnet-no-such-group-x").unwrap(), None);
        assert_eq!(
            service_port("fwnet-no-such-service", Some("tcp")).unwrap(),
            None
        );
        assert_eq!(
            host_addrs("localhost", false).unwrap().first(),
            Some(&IpAddr::V4(Ipv4Addr::LOCALHOST))
        );
    }
}
