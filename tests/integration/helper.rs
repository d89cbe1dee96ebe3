//! Conntrack helpers against the real kernel: with the `ct helper` object fwnet makes for
//! `-j CT --helper ftp` (or for `nf_conntrack_ftp` in iptables-config), an FTP passive-mode data
//! connection is RELATED and gets through `--state RELATED,ESTABLISHED`; without it, it is NEW
//! and dropped. The FTP "server" is a loopback listener on port 21 that sends a banner and
//! answers `PASV` with a `227` line, which the kernel's ftp helper reads to expect the data
//! connection.
//!
//! This file does not test the translation text (the translator's fixtures do).

use crate::apply::{fwnet, fwnet_in, StateDir};
use crate::netns::{privileged, Netns};
use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::time::Duration;

/// INPUT drops everything but control connections to port 21 and RELATED/ESTABLISHED packets.
const FILTER: &str = "*filter\n:INPUT DROP [0:0]\n\
-A INPUT -m state --state RELATED,ESTABLISHED -j ACCEPT\n\
-A INPUT -p tcp --dport 21 -m state --state NEW -j ACCEPT\nCOMMIT\n";

/// Loopback traffic leaves through OUTPUT, where the helper is assigned.
const RAW: &str = "*raw\n:PREROUTING ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n\
-A OUTPUT -p tcp --dport 21 -j CT --helper ftp\nCOMMIT\n";

fn ok(o: std::process::Output) {
    assert!(
        o.status.success(),
        "fwnet failed: {:?}\n{}\n{}",
        o.status,
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
}

/// Imports `rules` (with `config` as `--iptables-config` when given), applies it in a fresh
/// namespace and says whether the passive-mode data connection got through.
fn data_connection_passes(tag: &str, rules: &str, config: Option<&str>) -> bool {
    let state = StateDir::new(tag);
    std::fs::create_dir_all(&state.0).unwrap();
    let file = state.0.join("ftp.rules");
    std::fs::write(&file, rules).unwrap();
    let mut args = vec!["import", "--state-dir", state.arg()];
    let cfg_file = state.0.join("iptables-config");
    if let Some(c) = config {
        std::fs::write(&cfg_file, c).unwrap();
        args.extend(["--iptables-config", cfg_file.to_str().unwrap()]);
    }
    args.push(file.to_str().unwrap());
    ok(fwnet(&args));
    let ns = Netns::new(tag).expect("namespace");
    ok(fwnet_in(&ns, &["apply", "--state-dir", state.arg()], None));
    ns.run_in(passive_transfer)
}

/// One FTP-like exchange on 127.0.0.1: the client opens the control connection to port 21, reads
/// the banner, sends `PASV`; the server announces its data port with `227 Entering Passive Mode
/// (127,0,0,1,P1,P2)`; the client connects there. True when the data connection is established.
fn passive_transfer() -> bool {
    let control = TcpListener::bind("127.0.0.1:21").expect("listen on 21");
    let data = TcpListener::bind("127.0.0.1:0").expect("listen for data");
    let port = data.local_addr().unwrap().port();
    let server = std::thread::spawn(move || {
        let (mut c, _) = control.accept().expect("control connection");
        // The helper reads a line only where it saw the previous one end: banner first.
        c.write_all(b"220 ready\r\n").expect("send 220");
        let mut r = BufReader::new(c.try_clone().expect("clone"));
        let mut buf = String::new();
        r.read_line(&mut buf).expect("read PASV");
        let line = format!(
            "227 Entering Passive Mode (127,0,0,1,{},{})\r\n",
            port >> 8,
            port & 0xff
        );
        c.write_all(line.as_bytes()).expect("send 227");
        // Keep the control connection open until the client is done.
        buf.clear();
        let _ = r.read_line(&mut buf);
    });
    let addr: SocketAddr = "127.0.0.1:21".parse().unwrap();
    let mut c = TcpStream::connect_timeout(&addr, Duration::from_secs(2)).expect("control");
    let mut r = BufReader::new(c.try_clone().unwrap());
    let mut line = String::new();
    r.read_line(&mut line).expect("read 220");
    c.write_all(b"PASV\r\n").expect("send PASV");
    line.clear();
    r.read_line(&mut line).expect("read 227");
    assert!(line.starts_with("227 "), "{line}");
    let data_addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let passed = TcpStream::connect_timeout(&data_addr, Duration::from_millis(500)).is_ok();
    let _ = c.write_all(b"QUIT\r\n");
    server.join().expect("server thread");
    passed
}

#[test]
fn ftp_data_connection_is_related_only_with_the_helper() {
    if !privileged("ftp_data_connection_is_related_only_with_the_helper") {
        return;
    }
    let with_ct = format!("{RAW}{FILTER}");
    assert!(
        data_connection_passes("ftp-ct", &with_ct, None),
        "-j CT --helper ftp: the data connection should be RELATED and accepted"
    );
    let config = "IPTABLES_MODULES=\"nf_conntrack_ftp nf_nat_ftp\"\n";
    assert!(
        data_connection_passes("ftp-cfg", FILTER, Some(config)),
        "iptables-config loading nf_conntrack_ftp: the data connection should be accepted"
    );
    assert!(
        !data_connection_passes("ftp-none", FILTER, None),
        "without a helper the data connection is NEW and must be dropped"
    );
}
