//! The SSH lockout guard against the real kernel: a client namespace holds an established TCP
//! connection to port 22 (or `$SSH_CONNECTION`'s port) of a server namespace, and `fwnet apply`
//! runs in the server namespace as if over that session.
//!
//! - a ruleset that keeps the session (the founding ruleset: established accepted) applies
//!   quietly, and the session still carries data;
//! - one that cuts it is refused with exit code 5, naming the session and the policy or rule
//!   (with its source line), and the kernel keeps the previous ruleset; `--check` only warns;
//! - `--force` applies it, and the session then carries no data;
//! - the server port of `$SSH_CONNECTION` is protected as well as 22;
//! - the socket diagnostics dump the guard reads sees the same established sockets as
//!   /proc/net/tcp and tcp6: IPv4, IPv6, and IPv4 clients of an IPv6 socket.

use crate::apply::{fwnet, seed, StateDir};
use crate::netns::{privileged, Site, SiteSpec};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

const FWNET: &str = env!("CARGO_BIN_EXE_fwnet");

/// Tracks connections from their SYN (so they are `established` for the rulesets below) and
/// accepts everything.
const TRACKING: &str = "*filter\n:INPUT ACCEPT [0:0]\n-A INPUT -m state --state ESTABLISHED,RELATED -j ACCEPT\nCOMMIT\n";
/// Web only: the policy cuts every session.
const WEB_ONLY: &str = "*filter\n:INPUT DROP [0:0]\n:OUTPUT ACCEPT [0:0]\n-A INPUT -p tcp --dport 80 -j ACCEPT\nCOMMIT\n";
/// A rule on line 4 cuts port 22 before anything accepts it.
const DROP_22: &str = "*filter\n:INPUT ACCEPT [0:0]\n-A INPUT -i lo -j ACCEPT\n-A INPUT -p tcp --dport 22 -j DROP\n-A INPUT -m state --state ESTABLISHED -j ACCEPT\nCOMMIT\n";

fn write(dir: &StateDir, name: &str, text: &str) -> PathBuf {
    std::fs::create_dir_all(&dir.0).expect("state dir");
    let p = dir.0.join(name);
    std::fs::write(&p, text).expect("write rules");
    p
}

fn import(state: &StateDir, rules: &Path) {
    let o = fwnet(&[
        "import",
        "--state-dir",
        state.arg(),
        rules.to_str().expect("utf-8 path"),
    ]);
    assert!(
        o.status.success(),
        "import {}: {}",
        rules.display(),
        text(&o)
    );
}

fn text(o: &Output) -> String {
    format!(
        "status {:?}\nstdout:\n{}\nstderr:\n{}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// `fwnet ARGS --state-dir STATE` in the server namespace, with `SSH_CONNECTION` set to
/// `ssh_connection` or removed.
fn apply_in(site: &Site, state: &StateDir, args: &[&str], ssh_connection: Option<&str>) -> Output {
    let mut c = Command::new("ip");
    c.args(["netns", "exec", site.server.name(), FWNET])
        .args(args)
        .args(["--state-dir", state.arg()]);
    match ssh_connection {
        Some(s) => c.env("SSH_CONNECTION", s),
        None => c.env_remove("SSH_CONNECTION"),
    };
    c.output().expect("run fwnet in the server namespace")
}

/// An established connection from the client namespace to the server namespace.
struct Session {
    client: TcpStream,
    server: TcpStream,
    client_addr: SocketAddr,
    server_addr: SocketAddr,
}

impl Session {
    fn open(site: &Site, port: u16) -> Session {
        let server_ip = site.links[0].server_ip();
        let listener = site.server.run_in(move || {
            TcpListener::bind((server_ip, port)).expect("listen in the server namespace")
        });
        let client = site.client.run_in(move || {
            TcpStream::connect_timeout(&SocketAddr::from((server_ip, port)), Duration::from_secs(2))
                .expect("connect from the client namespace")
        });
        let (server, client_addr) = listener.accept().expect("accept");
        let server_addr = server.local_addr().expect("local address");
        server
            .set_read_timeout(Some(Duration::from_millis(700)))
            .expect("read timeout");
        Session {
            client,
            server,
            client_addr,
            server_addr,
        }
    }

    /// Whether 4 bytes from the client reach the server now.
    fn carries_data(&mut self) -> bool {
        if self.client.write_all(b"ping").is_err() {
            return false;
        }
        let mut buf = [0u8; 4];
        self.server.read_exact(&mut buf).is_ok() && &buf == b"ping"
    }

    /// `SSH_CONNECTION` as sshd would set it for this session.
    fn ssh_connection(&self) -> String {
        let (c, s) = (self.client_addr, self.server_addr);
        format!("{} {} {} {}", c.ip(), c.port(), s.ip(), s.port())
    }

    fn text(&self) -> String {
        format!("{} -> {}", self.client_addr, self.server_addr)
    }
}

fn site(tag: &str) -> Site {
    let spec = SiteSpec {
        links: vec!["eth0".into()],
        ..SiteSpec::default()
    };
    Site::new(tag, &spec).unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn lockout_guard_refuses_what_cuts_the_session_and_force_applies_it() {
    if !privileged("lockout_guard_refuses_what_cuts_the_session_and_force_applies_it") {
        return;
    }
    let site = site("lock");
    let state = StateDir::new("lock");
    import(&state, &write(&state, "tracking.rules", TRACKING));
    let o = apply_in(&site, &state, &["apply"], None);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let mut s = Session::open(&site, 22);
    assert!(s.carries_data(), "the session works before any test");
    let env = s.ssh_connection();
    let env = Some(env.as_str());

    // The founding ruleset accepts established traffic: no complaint, the session lives on.
    import(&state, &seed());
    let o = apply_in(&site, &state, &["apply"], env);
    assert_eq!(o.status.code(), Some(0), "seed: {}", text(&o));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!err.contains("SSH session"), "seed: {}", text(&o));
    assert!(s.carries_data(), "the seed keeps the session");

    // Web only: refused, the policy named, both ways forward given, nothing changed.
    let web = write(&state, "web.rules", WEB_ONLY);
    import(&state, &web);
    let o = apply_in(&site, &state, &["apply"], env);
    let out = text(&o);
    assert_eq!(o.status.code(), Some(5), "web only: {out}");
    for want in [
        "refusing to apply",
        &s.text(),
        "via eth0) (this session)",
        "packets from the client are cut by",
        "the policy (drop) of chain INPUT, table ip fwnet_filter",
        "fwnet apply --force",
        "fwnet apply --confirm",
    ] {
        assert!(out.contains(want), "web only: `{want}` missing in\n{out}");
    }
    assert!(s.carries_data(), "a refused apply changes nothing");

    // --check reports it as a warning and exits as the check does.
    let o = apply_in(&site, &state, &["apply", "--check"], env);
    let out = text(&o);
    assert_eq!(o.status.code(), Some(0), "check: {out}");
    assert!(
        out.contains("warning: applying this ruleset would cut"),
        "check: {out}"
    );

    // A rule that cuts it is named by its source line and nft text.
    let drop22 = write(&state, "drop22.rules", DROP_22);
    import(&state, &drop22);
    let o = apply_in(&site, &state, &["apply"], env);
    let out = text(&o);
    assert_eq!(o.status.code(), Some(5), "drop 22: {out}");
    let line = format!(
        "the rule at {}:4 (chain INPUT, table ip fwnet_filter)",
        drop22.display()
    );
    assert!(out.contains(&line), "drop 22: `{line}` missing in\n{out}");
    assert!(
        out.contains("tcp dport 22"),
        "drop 22: the rule's text missing in\n{out}"
    );
    assert!(s.carries_data(), "a refused apply changes nothing");

    // --force applies it, and the session is cut indeed.
    import(&state, &web);
    let o = apply_in(&site, &state, &["apply", "--force"], env);
    let out = text(&o);
    assert_eq!(o.status.code(), Some(0), "force: {out}");
    assert!(out.contains("applying anyway (--force)"), "force: {out}");
    assert!(
        !s.carries_data(),
        "the forced ruleset cuts the session, as the guard said"
    );
}

#[test]
fn lockout_guard_protects_the_port_of_ssh_connection() {
    if !privileged("lockout_guard_protects_the_port_of_ssh_connection") {
        return;
    }
    let site = site("lockport");
    let state = StateDir::new("lockport");
    import(&state, &write(&state, "tracking.rules", TRACKING));
    let o = apply_in(&site, &state, &["apply"], None);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let mut s = Session::open(&site, 2222);
    import(&state, &write(&state, "web.rules", WEB_ONLY));
    // sshd on 2222 says so in SSH_CONNECTION: refused.
    let o = apply_in(&site, &state, &["apply"], Some(&s.ssh_connection()));
    assert_eq!(o.status.code(), Some(5), "{}", text(&o));
    assert!(text(&o).contains(&s.text()), "{}", text(&o));
    assert!(s.carries_data());
    // Without it, port 2222 is not an SSH port: fwnet does not know, and applies.
    let o = apply_in(&site, &state, &["apply"], None);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(!s.carries_data());
}

/// The guard's sockets come from NETLINK_SOCK_DIAG; /proc/net/tcp and tcp6 are the oracle.
/// Connections over the server namespace's loopback: IPv4, IPv6, and an IPv4 client of a
/// dual-stack IPv6 listener (`::ffff:127.0.0.1` on the server's side), each seen from both
/// ends, and a listener that is not established.
#[test]
fn sock_diag_sees_the_established_sockets_proc_shows() {
    use fwnet_apply::lockout::{established, established_diag, established_proc};
    if !privileged("sock_diag_sees_the_established_sockets_proc_shows") {
        return;
    }
    let site = site("diag");
    crate::recent::ipv6_on_lo(&site.server, []);
    let (diag, proc, both) = site.server.run_in(|| {
        let v4 = TcpListener::bind("127.0.0.1:22").expect("listen on 127.0.0.1:22");
        let v6 = TcpListener::bind("[::1]:22").expect("listen on [::1]:22");
        let dual = TcpListener::bind("[::]:2222").expect("listen on [::]:2222");
        let mut keep = Vec::new();
        for (listener, to) in [
            (&v4, "127.0.0.1:22"),
            (&v6, "[::1]:22"),
            (&dual, "127.0.0.1:2222"),
        ] {
            keep.push(TcpStream::connect(to).expect("connect over loopback"));
            keep.push(listener.accept().expect("accept").0);
        }
        let mut diag = established_diag(libc::AF_INET as u8).expect("sock_diag, IPv4");
        diag.extend(established_diag(libc::AF_INET6 as u8).expect("sock_diag, IPv6"));
        let proc = established_proc().expect("/proc/net/tcp");
        let both = established().expect("established");
        drop(keep);
        (diag, proc, both)
    });
    let sorted = |mut v: Vec<fwnet_apply::lockout::TcpSocket>| {
        v.sort_by_key(|s| (s.local, s.remote));
        v
    };
    let (diag, proc, both) = (sorted(diag), sorted(proc), sorted(both));
    assert_eq!(diag.len(), 6, "three connections, two ends each: {diag:#?}");
    assert!(
        diag.iter()
            .any(|s| s.local.to_string() == "[::ffff:127.0.0.1]:2222"),
        "the IPv4 client of the dual-stack listener, as tcp6 shows it: {diag:#?}"
    );
    assert_eq!(diag, proc, "sock_diag against /proc/net/tcp and tcp6");
    assert_eq!(both, proc, "established() against /proc");
}
