//! `-j TPROXY` against the kernel, under iptables-legacy and under fwnet's translation, on a
//! client and a server namespace joined by a veth pair, for IPv4 and IPv6. The server routes
//! marked packets to itself (`ip rule fwmark 1 lookup 100`, `ip route local 0.0.0.0/0 dev lo
//! table 100`, and the same for IPv6), as TPROXY needs, and runs a transparent
//! (IP_TRANSPARENT / IPV6_TRANSPARENT) listener on port 3128 and an ordinary one on 3129. The
//! client connects:
//! - to 198.51.100.7:80 ([2001:db8:99::7]:80), an address nobody owns, diverted to 3128 with
//!   `--tproxy-mark 0x1/0x1`: the connection carries data, and the server's socket has the
//!   address the client asked for (so the mark was set, else the SYN would not have been
//!   delivered locally, and later packets found the established socket);
//! - to the server's own address, port 81, where an ordinary listener waits, diverted to 3129,
//!   whose listener is not transparent: TPROXY drops the SYN, so the connection fails even
//!   though a listener is there (fwnet's second rule, `drop`, does what xt does).
//!
//! Without the second rule, or without the mark, fwnet's side fails (tried by hand). UDP is
//! not tested: it differs only in the kernel's shared lookup code.
//!
//! A second test imports the translator's TPROXY fixtures (IPv4 and IPv6) with `--inet`: the
//! merged table, where the statement says its family (`tproxy ip to :5353`), gives the kernel
//! the same bytes from fwnet's lowering as from `nft -f` of `fwnet show`, but for the `meta
//! nfproto` tests nft adds (see `fwnet_nft::inet`).

use crate::apply::{fwnet, fwnet_in, text, StateDir};
use crate::netns::{privileged, Netns, Site, SiteSpec};
use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpListener, TcpStream};
use std::os::fd::FromRawFd;
use std::time::Duration;

/// The address the client connects to on port 80; nobody owns it.
fn elsewhere(ip6: bool) -> IpAddr {
    if ip6 {
        IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0x99, 0, 0, 0, 0, 7))
    } else {
        IpAddr::V4(Ipv4Addr::new(198, 51, 100, 7))
    }
}

/// The rules; `own` is the server's address on the link.
fn rules(ip6: bool, own: IpAddr) -> String {
    let (net, own_net) = if ip6 {
        ("2001:db8:99::/64", format!("{own}/128"))
    } else {
        ("198.51.100.0/24", format!("{own}/32"))
    };
    format!(
        "*mangle
:PREROUTING ACCEPT [0:0]
:INPUT ACCEPT [0:0]
:FORWARD ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
:POSTROUTING ACCEPT [0:0]
-A PREROUTING -d {net} -p tcp --dport 80 -j TPROXY --on-port 3128 --tproxy-mark 0x1/0x1
-A PREROUTING -d {own_net} -p tcp --dport 81 -j TPROXY --on-port 3129 --on-ip {own}
COMMIT
"
    )
}

/// A listener on the wildcard address of the family, port `port`, transparent or not.
fn listener(port: u16, transparent: bool, ip6: bool) -> Result<TcpListener, String> {
    let err = |what: &str| format!("{what}: {}", std::io::Error::last_os_error());
    // SAFETY: plain socket calls on a descriptor owned here, with pointers to locals of the
    // sizes given; on success the descriptor is handed to TcpListener, which closes it.
    unsafe {
        let domain = if ip6 { libc::AF_INET6 } else { libc::AF_INET };
        let fd = libc::socket(domain, libc::SOCK_STREAM, 0);
        if fd < 0 {
            return Err(err("socket"));
        }
        let one: libc::c_int = 1;
        let (level, opt) = if ip6 {
            (libc::SOL_IPV6, libc::IPV6_TRANSPARENT)
        } else {
            (libc::SOL_IP, libc::IP_TRANSPARENT)
        };
        if transparent
            && libc::setsockopt(
                fd,
                level,
                opt,
                (&one as *const libc::c_int).cast(),
                std::mem::size_of::<libc::c_int>() as libc::socklen_t,
            ) != 0
        {
            libc::close(fd);
            return Err(err("IP_TRANSPARENT"));
        }
        let bound = if ip6 {
            let mut sa: libc::sockaddr_in6 = std::mem::zeroed();
            sa.sin6_family = libc::AF_INET6 as libc::sa_family_t;
            sa.sin6_port = port.to_be();
            libc::bind(
                fd,
                (&sa as *const libc::sockaddr_in6).cast(),
                std::mem::size_of::<libc::sockaddr_in6>() as libc::socklen_t,
            )
        } else {
            let mut sa: libc::sockaddr_in = std::mem::zeroed();
            sa.sin_family = libc::AF_INET as libc::sa_family_t;
            sa.sin_port = port.to_be();
            libc::bind(
                fd,
                (&sa as *const libc::sockaddr_in).cast(),
                std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t,
            )
        };
        if bound != 0 || libc::listen(fd, 8) != 0 {
            libc::close(fd);
            return Err(err("bind/listen"));
        }
        Ok(TcpListener::from_raw_fd(fd))
    }
}

/// Serves one connection on `l`: echoes a line; returns the local address the client reached.
fn serve_one(l: TcpListener) -> std::thread::JoinHandle<Result<SocketAddr, String>> {
    std::thread::spawn(move || {
        let (mut s, _) = l.accept().map_err(|e| e.to_string())?;
        s.set_read_timeout(Some(Duration::from_secs(3)))
            .map_err(|e| e.to_string())?;
        let mut buf = [0u8; 64];
        let n = s.read(&mut buf).map_err(|e| e.to_string())?;
        s.write_all(&buf[..n]).map_err(|e| e.to_string())?;
        s.local_addr().map_err(|e| e.to_string())
    })
}

/// Connects from the client to `to`, sends a line and reads it back.
fn echo(site: &Site, to: SocketAddr, timeout: Duration) -> Result<String, String> {
    site.client.run_in(move || {
        let mut s =
            TcpStream::connect_timeout(&to, timeout).map_err(|e| format!("connect: {e}"))?;
        s.set_read_timeout(Some(Duration::from_secs(3)))
            .map_err(|e| e.to_string())?;
        s.write_all(b"diverted")
            .map_err(|e| format!("write: {e}"))?;
        let mut buf = [0u8; 64];
        let n = s.read(&mut buf).map_err(|e| format!("read: {e}"))?;
        Ok(String::from_utf8_lossy(&buf[..n]).into_owned())
    })
}

/// What the client saw: (the diverted connection's echo and the server-side address it
/// reached, whether the connection to the non-transparent port got through).
type Seen = (Result<String, String>, Option<SocketAddr>, bool);

fn run(tag: &str, legacy: bool, ip6: bool) -> Seen {
    let spec = SiteSpec {
        links: vec!["eth0".into()],
        ipv6: ip6,
        ..SiteSpec::default()
    };
    let site = Site::new(tag, &spec).unwrap_or_else(|e| panic!("{e}"));
    let own = site.links[0].server_addr(ip6);
    let (ip, any) = if ip6 {
        ("-6", "::/0")
    } else {
        ("-4", "0.0.0.0/0")
    };
    for args in [
        [ip, "rule", "add", "fwmark", "0x1/0x1", "lookup", "100"].as_slice(),
        [
            ip, "route", "add", "local", any, "dev", "lo", "table", "100",
        ]
        .as_slice(),
    ] {
        site.server
            .ip(args)
            .unwrap_or_else(|e| panic!("policy routing: {e}"));
    }
    let text_rules = rules(ip6, own);
    if legacy {
        let restore = if ip6 {
            "ip6tables-legacy-restore"
        } else {
            "iptables-legacy-restore"
        };
        site.server
            .exec_stdin(restore, &[], &text_rules)
            .expect("iptables-legacy-restore");
    } else {
        let state = StateDir::new(tag);
        std::fs::create_dir_all(&state.0).expect("state dir");
        let file = state.0.join("tproxy.rules");
        std::fs::write(&file, &text_rules).expect("write rules");
        let o = fwnet(&["import", "--state-dir", state.arg(), file.to_str().unwrap()]);
        assert!(o.status.success(), "import: {}", text(&o));
        let o = fwnet_in(&site.server, &["apply", "--state-dir", state.arg()], None);
        assert!(o.status.success(), "apply: {}", text(&o));
    }
    let transparent = site
        .server
        .run_in(|| listener(3128, true, ip6))
        .unwrap_or_else(|e| panic!("transparent listener: {e}"));
    let _ordinary = site
        .server
        .run_in(|| listener(3129, false, ip6))
        .unwrap_or_else(|e| panic!("listener: {e}"));
    let direct = site
        .server
        .run_in(|| TcpListener::bind(SocketAddr::new(own, 81)))
        .unwrap_or_else(|e| panic!("listener on 81: {e}"));
    let served = serve_one(transparent);
    let diverted = echo(
        &site,
        SocketAddr::new(elsewhere(ip6), 80),
        Duration::from_secs(3),
    );
    let reached = if diverted.is_ok() {
        served.join().ok().and_then(Result::ok)
    } else {
        None
    };
    let _served_direct = serve_one(direct);
    let through = echo(&site, SocketAddr::new(own, 81), Duration::from_secs(1)).is_ok();
    (diverted, reached, through)
}

#[test]
fn tproxy_diverts_to_a_transparent_listener_and_drops_otherwise_as_legacy() {
    if !privileged("tproxy_diverts_to_a_transparent_listener_and_drops_otherwise_as_legacy") {
        return;
    }
    for ip6 in [false, true] {
        let want: Seen = (
            Ok("diverted".to_string()),
            Some(SocketAddr::new(elsewhere(ip6), 80)),
            false,
        );
        let family = if ip6 { "IPv6" } else { "IPv4" };
        let tag = if ip6 { "tproxy6" } else { "tproxy4" };
        assert_eq!(
            run(&format!("{tag}-legacy"), true, ip6),
            want,
            "{family}: the legacy kernel disagrees with the test"
        );
        assert_eq!(
            run(&format!("{tag}-fwnet"), false, ip6),
            want,
            "{family}: fwnet's TPROXY differs"
        );
    }
}

#[test]
fn tproxy_in_an_inet_table_applies_as_nft_loads_its_text() {
    if !privileged("tproxy_in_an_inet_table_applies_as_nft_loads_its_text") {
        return;
    }
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../translate/test_data/translate/ok");
    let (v4, v6) = (dir.join("tproxy.rules"), dir.join("v6-tproxy.rules"));
    let (a, b, shown) = inet_apply_and_nft(&v4, &v6, "tproxy-inet");
    assert!(
        shown.contains("tproxy ip to :5353") && shown.contains("tproxy ip6 to [2001:db8::1]:3128"),
        "{shown}"
    );
    assert!(
        a.iter().filter(|l| l.contains("tproxy ip ")).count() >= 6,
        "{a:#?}"
    );
    assert_eq!(a, b, "--- show:\n{shown}");
}

/// Imports `v4` and `v6` with `--inet`, applies the result in one namespace and `nft -f` of
/// its `fwnet show` text in another; returns both kernels' [`bytecode`] and the text.
pub(crate) fn inet_apply_and_nft(
    v4: &std::path::Path,
    v6: &std::path::Path,
    tag: &str,
) -> (Vec<String>, Vec<String>, String) {
    let state = StateDir::new(tag);
    let ok = |o: std::process::Output| {
        assert!(o.status.success(), "fwnet failed: {}", text(&o));
        String::from_utf8_lossy(&o.stdout).into_owned()
    };
    ok(fwnet(&[
        "import",
        "--inet",
        "--state-dir",
        state.arg(),
        v4.to_str().unwrap(),
        v6.to_str().unwrap(),
    ]));
    let shown = ok(fwnet(&["show", "--state-dir", state.arg()]));
    let ours = Netns::new(&format!("{tag}-fw")).expect("namespace");
    let theirs = Netns::new(&format!("{tag}-nft")).expect("namespace");
    ok(fwnet_in(
        &ours,
        &["apply", "--state-dir", state.arg()],
        None,
    ));
    theirs
        .exec_stdin("nft", &["-f", "-"], &shown)
        .unwrap_or_else(|e| panic!("nft -f of fwnet show: {e}\n{shown}"));
    (bytecode(&ours), bytecode(&theirs), shown)
}

/// The kernel's rules as `nft --debug=netlink` lists them, without rule handles and without
/// the `meta nfproto` test nft adds before an `ip`/`ip6` payload in an inet table (fwnet's
/// merged chains see one family only and leave it out, see `fwnet_nft::inet`).
pub(crate) fn bytecode(ns: &Netns) -> Vec<String> {
    let text = ns
        .exec("nft", &["--debug=netlink", "list", "ruleset"])
        .expect("nft debug dump");
    let mut out: Vec<String> = Vec::new();
    let mut skip_cmp = false;
    for l in text.lines() {
        if l.starts_with("table") {
            break;
        }
        if l.contains("meta load nfproto") {
            skip_cmp = true;
            continue;
        }
        if std::mem::take(&mut skip_cmp) && l.contains("[ cmp eq reg 1 0x0000000") {
            continue;
        }
        let l = if l.starts_with("inet ") {
            l.split_whitespace()
                .filter(|w| !w.chars().all(|c| c.is_ascii_digit()))
                .collect::<Vec<_>>()
                .join(" ")
        } else {
            l.to_string()
        };
        out.push(l);
    }
    out
}
