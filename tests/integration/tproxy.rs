//! `-j TPROXY` against the kernel, under iptables-legacy and under fwnet's translation, on a
//! client and a server namespace joined by a veth pair. The server routes marked packets to
//! itself (`ip rule fwmark 1 lookup 100`, `ip route local 0.0.0.0/0 dev lo table 100`), as
//! TPROXY needs, and runs a transparent (IP_TRANSPARENT) listener on port 3128 and an
//! ordinary one on 3129. The client connects to addresses that are not the server's:
//! - 198.51.100.7:80, diverted to 3128 with `--tproxy-mark 0x1/0x1`: the connection carries
//!   data, and the server's socket has the address the client asked for (so the mark was set,
//!   else the SYN would not have been delivered locally, and later packets found the
//!   established socket);
//! - the server's own 10.77.0.1:81, where an ordinary listener waits, diverted to 3129, whose
//!   listener is not transparent: TPROXY drops the SYN, so the connection fails even though
//!   a listener is there (fwnet's second rule, `drop`, does what xt does).
//!
//! It does not test IPv6 or UDP; those differ only in the kernel's shared lookup code.
//!
//! A second test imports the translator's TPROXY fixtures (IPv4 and IPv6) with `--inet`: the
//! merged table, where the statement says its family (`tproxy ip to :5353`), gives the kernel
//! the same bytes from fwnet's lowering as from `nft -f` of `fwnet show`, but for the `meta
//! nfproto` tests nft adds (see `fwnet_nft::inet`).

use crate::apply::{fwnet, fwnet_in, text, StateDir};
use crate::netns::{privileged, Netns, Site, SiteSpec};
use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::os::fd::FromRawFd;
use std::time::Duration;

/// The address the client connects to on port 80; nobody owns it.
const ELSEWHERE: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 7);

fn rules() -> String {
    "*mangle
:PREROUTING ACCEPT [0:0]
:INPUT ACCEPT [0:0]
:FORWARD ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
:POSTROUTING ACCEPT [0:0]
-A PREROUTING -d 198.51.100.0/24 -p tcp --dport 80 -j TPROXY --on-port 3128 --tproxy-mark 0x1/0x1
-A PREROUTING -d 10.77.0.1/32 -p tcp --dport 81 -j TPROXY --on-port 3129 --on-ip 10.77.0.1
COMMIT
"
    .to_string()
}

/// A listener on 0.0.0.0:`port`, transparent (IP_TRANSPARENT) or not.
fn listener(port: u16, transparent: bool) -> Result<TcpListener, String> {
    let err = |what: &str| format!("{what}: {}", std::io::Error::last_os_error());
    // SAFETY: plain socket calls on a descriptor owned here; on success it is handed to
    // TcpListener, which closes it.
    unsafe {
        let fd = libc::socket(libc::AF_INET, libc::SOCK_STREAM, 0);
        if fd < 0 {
            return Err(err("socket"));
        }
        let one: libc::c_int = 1;
        let set = |opt| {
            libc::setsockopt(
                fd,
                libc::SOL_IP,
                opt,
                (&one as *const libc::c_int).cast(),
                std::mem::size_of::<libc::c_int>() as libc::socklen_t,
            )
        };
        if transparent && set(libc::IP_TRANSPARENT) != 0 {
            libc::close(fd);
            return Err(err("IP_TRANSPARENT"));
        }
        let mut sa: libc::sockaddr_in = std::mem::zeroed();
        sa.sin_family = libc::AF_INET as libc::sa_family_t;
        sa.sin_port = port.to_be();
        if libc::bind(
            fd,
            (&sa as *const libc::sockaddr_in).cast(),
            std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t,
        ) != 0
            || libc::listen(fd, 8) != 0
        {
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

fn run(tag: &str, legacy: bool) -> Seen {
    let spec = SiteSpec {
        links: vec!["eth0".into()],
        ..SiteSpec::default()
    };
    let site = Site::new(tag, &spec).unwrap_or_else(|e| panic!("{e}"));
    site.server
        .ip_batch(&[
            "rule add fwmark 0x1/0x1 lookup 100".to_string(),
            "route add local 0.0.0.0/0 dev lo table 100".to_string(),
        ])
        .unwrap_or_else(|e| panic!("policy routing: {e}"));
    if legacy {
        site.server
            .exec_stdin("iptables-legacy-restore", &[], &rules())
            .expect("iptables-legacy-restore");
    } else {
        let state = StateDir::new(tag);
        std::fs::create_dir_all(&state.0).expect("state dir");
        let file = state.0.join("tproxy.rules");
        std::fs::write(&file, rules()).expect("write rules");
        let o = fwnet(&["import", "--state-dir", state.arg(), file.to_str().unwrap()]);
        assert!(o.status.success(), "import: {}", text(&o));
        let o = fwnet_in(&site.server, &["apply", "--state-dir", state.arg()], None);
        assert!(o.status.success(), "apply: {}", text(&o));
    }
    let transparent = site
        .server
        .run_in(|| listener(3128, true))
        .unwrap_or_else(|e| panic!("transparent listener: {e}"));
    let ordinary = site
        .server
        .run_in(|| listener(3129, false))
        .unwrap_or_else(|e| panic!("listener: {e}"));
    let direct = site
        .server
        .run_in(|| TcpListener::bind("10.77.0.1:81"))
        .unwrap_or_else(|e| panic!("listener on 81: {e}"));
    drop(ordinary.set_nonblocking(true));
    let served = serve_one(transparent);
    let diverted = echo(
        &site,
        SocketAddr::new(IpAddr::V4(ELSEWHERE), 80),
        Duration::from_secs(3),
    );
    let reached = if diverted.is_ok() {
        served.join().ok().and_then(Result::ok)
    } else {
        None
    };
    let _served_direct = serve_one(direct);
    let through = echo(
        &site,
        SocketAddr::new(IpAddr::V4(Ipv4Addr::new(10, 77, 0, 1)), 81),
        Duration::from_secs(1),
    )
    .is_ok();
    (diverted, reached, through)
}

#[test]
fn tproxy_diverts_to_a_transparent_listener_and_drops_otherwise_as_legacy() {
    if !privileged("tproxy_diverts_to_a_transparent_listener_and_drops_otherwise_as_legacy") {
        return;
    }
    let want: Seen = (
        Ok("diverted".to_string()),
        Some(SocketAddr::new(IpAddr::V4(ELSEWHERE), 80)),
        false,
    );
    assert_eq!(
        run("tproxy-legacy", true),
        want,
        "the legacy kernel disagrees with the test"
    );
    assert_eq!(run("tproxy-fwnet", false), want, "fwnet's TPROXY differs");
}

#[test]
fn tproxy_in_an_inet_table_applies_as_nft_loads_its_text() {
    if !privileged("tproxy_in_an_inet_table_applies_as_nft_loads_its_text") {
        return;
    }
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../translate/test_data/translate/ok");
    let (v4, v6) = (dir.join("tproxy.rules"), dir.join("v6-tproxy.rules"));
    let state = StateDir::new("tproxy-inet");
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
    assert!(
        shown.contains("tproxy ip to :5353") && shown.contains("tproxy ip6 to [2001:db8::1]:3128"),
        "{shown}"
    );
    let ours = Netns::new("tproxy-inet-fw").expect("namespace");
    let theirs = Netns::new("tproxy-inet-nft").expect("namespace");
    ok(fwnet_in(
        &ours,
        &["apply", "--state-dir", state.arg()],
        None,
    ));
    theirs
        .exec_stdin("nft", &["-f", "-"], &shown)
        .expect("nft -f of fwnet show output");
    let (a, b) = (bytecode(&ours), bytecode(&theirs));
    assert!(
        a.iter().filter(|l| l.contains("tproxy ip ")).count() >= 6,
        "{a:#?}"
    );
    assert_eq!(a, b, "--- show:\n{shown}");
}

/// The kernel's rules as `nft --debug=netlink` lists them, without rule handles and without
/// the `meta nfproto` test nft adds before an `ip`/`ip6` payload in an inet table (fwnet's
/// merged chains see one family only and leave it out, see `fwnet_nft::inet`).
fn bytecode(ns: &Netns) -> Vec<String> {
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
