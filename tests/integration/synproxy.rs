//! `-j SYNPROXY` against the kernel: the usual setup (SYNs untracked in raw, INVALID and
//! UNTRACKED TCP proxied in INPUT, other INVALID dropped, `nf_conntrack_tcp_loose` 0) under
//! iptables-legacy and under fwnet's translation, each on a client and a server namespace
//! joined by a veth pair (SYNPROXY leaves loopback alone). A TCP connection from the client to
//! a listener on the server is established through the SYN cookie and carries data both ways,
//! over IPv4 and IPv6, and the server's SYNPROXY counters show the cookie was checked.
//!
//! Without the `synproxy` statement the connection does not carry data: the server answers the
//! untracked SYN itself, and conntrack then finds the client's ACK INVALID, which is dropped.
//!
//! It does not test the SYN cookie's options or retransmissions; those are the kernel's shared
//! code, the same for both.

use crate::apply::{fwnet, fwnet_in, text, StateDir};
use crate::netns::{privileged, Netns, Site, SiteSpec};
use std::io::{Read, Write};
use std::net::{IpAddr, SocketAddr, TcpListener, TcpStream};
use std::time::Duration;

const PORT: u16 = 7777;

/// The setup for one family; the destination prefix tells fwnet's import the family.
fn rules(ip6: bool) -> String {
    let dst = if ip6 { "fd77::/16" } else { "10.77.0.0/16" };
    format!(
        "*raw
:PREROUTING ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
-A PREROUTING -p tcp -m tcp --syn -j CT --notrack
COMMIT
*filter
:INPUT ACCEPT [0:0]
:FORWARD ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
-A INPUT -d {dst} -p tcp -m tcp --dport {PORT} -m state --state INVALID,UNTRACKED -j SYNPROXY --sack-perm --timestamp --wscale 7 --mss 1460
-A INPUT -m state --state INVALID -j DROP
COMMIT
"
    )
}

/// Connects from the client to the server's listener, sends a line and reads it back; the
/// text read, or why not.
fn echo(site: &Site, server: IpAddr) -> Result<String, String> {
    let listener = site.server.run_in(move || {
        TcpListener::bind(SocketAddr::new(server, PORT)).map_err(|e| e.to_string())
    })?;
    let serve = std::thread::spawn(move || -> Result<(), String> {
        listener.set_nonblocking(false).map_err(|e| e.to_string())?;
        let (mut s, _) = listener.accept().map_err(|e| e.to_string())?;
        s.set_read_timeout(Some(Duration::from_secs(3)))
            .map_err(|e| e.to_string())?;
        let mut buf = [0u8; 64];
        let n = s.read(&mut buf).map_err(|e| e.to_string())?;
        s.write_all(&buf[..n]).map_err(|e| e.to_string())
    });
    let got = site.client.run_in(move || -> Result<String, String> {
        let to = SocketAddr::new(server, PORT);
        let mut s = TcpStream::connect_timeout(&to, Duration::from_secs(3))
            .map_err(|e| format!("connect: {e}"))?;
        s.set_read_timeout(Some(Duration::from_secs(3)))
            .map_err(|e| e.to_string())?;
        s.write_all(b"through the cookie")
            .map_err(|e| format!("write: {e}"))?;
        let mut buf = [0u8; 64];
        let n = s.read(&mut buf).map_err(|e| format!("read: {e}"))?;
        Ok(String::from_utf8_lossy(&buf[..n]).into_owned())
    });
    // The server thread ends on its own once the client's socket is gone or times out.
    if got.is_ok() {
        let _ = serve.join();
    }
    got
}

/// The sum over CPUs of `/proc/net/stat/synproxy`'s cookie_valid column in `ns`.
fn cookies_valid(ns: &Netns) -> u64 {
    let stat = ns
        .exec("cat", &["/proc/net/stat/synproxy"])
        .unwrap_or_else(|e| panic!("read synproxy stats: {e}"));
    let mut lines = stat.lines();
    let header: Vec<&str> = lines.next().unwrap_or("").split_whitespace().collect();
    let col = header
        .iter()
        .position(|h| *h == "cookie_valid")
        .unwrap_or_else(|| panic!("no cookie_valid column in {stat}"));
    lines
        .filter_map(|l| l.split_whitespace().nth(col))
        .filter_map(|v| u64::from_str_radix(v, 16).ok())
        .sum()
}

fn site(tag: &str) -> Site {
    let spec = SiteSpec {
        links: vec!["eth0".into()],
        ipv6: true,
        ..SiteSpec::default()
    };
    Site::new(tag, &spec).unwrap_or_else(|e| panic!("{e}"))
}

/// Loads `-j SYNPROXY` into the server with iptables-legacy (both families) or fwnet, and
/// returns (IPv4 echo, IPv6 echo, valid cookies counted).
fn run(tag: &str, legacy: bool) -> (Result<String, String>, Result<String, String>, u64) {
    let site = site(tag);
    if legacy {
        site.server
            .exec_stdin("iptables-legacy-restore", &[], &rules(false))
            .expect("iptables-legacy-restore");
        site.server
            .exec_stdin("ip6tables-legacy-restore", &[], &rules(true))
            .expect("ip6tables-legacy-restore");
    } else {
        let state = StateDir::new(tag);
        std::fs::create_dir_all(&state.0).expect("state dir");
        let v4 = state.0.join("synproxy.rules");
        let v6 = state.0.join("v6-synproxy.rules");
        std::fs::write(&v4, rules(false)).expect("write rules");
        std::fs::write(&v6, rules(true)).expect("write rules");
        let o = fwnet(&[
            "import",
            "--state-dir",
            state.arg(),
            v4.to_str().unwrap(),
            v6.to_str().unwrap(),
        ]);
        assert!(o.status.success(), "import: {}", text(&o));
        let o = fwnet_in(&site.server, &["apply", "--state-dir", state.arg()], None);
        assert!(o.status.success(), "apply: {}", text(&o));
    }
    // Conntrack is loaded in the namespace by now; the ACK must not create an entry.
    site.server
        .sysctl_write("net/netfilter/nf_conntrack_tcp_loose", "0")
        .unwrap_or_else(|e| panic!("sysctl: {e}"));
    let link = &site.links[0];
    let v4 = echo(&site, link.server_ip().into());
    let v6 = echo(&site, link.server_ip6().into());
    (v4, v6, cookies_valid(&site.server))
}

#[test]
fn synproxy_connection_carries_data_through_the_cookie_as_with_legacy() {
    if !privileged("synproxy_connection_carries_data_through_the_cookie_as_with_legacy") {
        return;
    }
    let want = Ok("through the cookie".to_string());
    let (v4, v6, cookies) = run("synproxy-legacy", true);
    assert_eq!(
        (&v4, &v6),
        (&want, &want),
        "the legacy kernel disagrees with the test"
    );
    assert_eq!(cookies, 2, "legacy SYNPROXY checked one cookie per family");
    let (v4, v6, cookies) = run("synproxy-fwnet", false);
    assert_eq!((&v4, &v6), (&want, &want), "fwnet's SYNPROXY differs");
    assert_eq!(cookies, 2, "fwnet's synproxy checked one cookie per family");
}
