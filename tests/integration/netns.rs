//! Private network namespaces and the two-namespace topology the kernel tests run in.
//!
//! [`Netns`] is a uniquely named namespace (`fwt-<prefix>-<pid>-<n>`, made with `ip netns add`)
//! that is deleted on drop, unwinding included; namespaces left behind by a test process that no
//! longer exists are reaped the first time a namespace is made. Code reaches a namespace two
//! ways: [`Netns::exec`] runs a program through `ip netns exec`, and [`Netns::run_in`] runs a
//! closure on a thread that `setns`-ed into it, so sockets opened there belong to the namespace
//! and keep belonging to it wherever they are used afterwards. Both check first that the target
//! is not the host's namespace ([`assert_not_host_netns`]).
//!
//! [`Pair`] is one client and one server joined by a veth pair, with fixed addresses, fixed MAC
//! addresses, permanent neighbour entries (no ARP), IPv6 off and reverse-path filtering off, so a
//! probe's fate depends on the server's ruleset alone.
//!
//! This module does not load rulesets, send probes or judge verdicts; it never touches the host's
//! namespace, and nothing in it is ever a destination outside 10.77.0.0/24 and loopback.

use std::fs;
use std::io::Write;
use std::net::Ipv4Addr;
use std::os::fd::AsRawFd;
use std::os::unix::fs::MetadataExt;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Once, OnceLock};
use std::thread;

/// The server's address in every [`Pair`].
pub const SERVER: Ipv4Addr = Ipv4Addr::new(10, 77, 0, 1);
/// The client's primary address: the source of its own connections.
pub const CLIENT: Ipv4Addr = Ipv4Addr::new(10, 77, 0, 2);
/// Secondary client addresses, used as distinct sources (own hashlimit buckets).
pub const CLIENT_EXTRA: [Ipv4Addr; 2] = [Ipv4Addr::new(10, 77, 0, 3), Ipv4Addr::new(10, 77, 0, 4)];
/// Locally administered MACs, so neighbour entries can be written down in advance.
pub const SERVER_MAC: &str = "02:77:00:00:00:01";
pub const CLIENT_MAC: &str = "02:77:00:00:00:02";
/// The veth end's name, the same in both namespaces (names are per namespace).
pub const IFACE: &str = "eth0";

const NETNS_DIR: &str = "/run/netns";
const NAME_PREFIX: &str = "fwt-";

/// A network namespace of our own, removed on drop.
#[derive(Debug)]
pub struct Netns {
    name: String,
}

impl Netns {
    /// Creates `fwt-<prefix>-<pid>-<n>` with `lo` up, IPv6 off and `rp_filter` off.
    pub fn new(prefix: &str) -> Result<Netns, String> {
        static REAP: Once = Once::new();
        REAP.call_once(reap_stale);
        static COUNTER: AtomicU32 = AtomicU32::new(0);
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let name = format!("{NAME_PREFIX}{prefix}-{}-{n}", std::process::id());
        run("ip", &["netns", "add", &name], None)?;
        // From here on, Drop deletes the namespace whatever fails next.
        let ns = Netns { name };
        ns.run_in(|| -> Result<(), String> {
            // Defaults first, so interfaces created later inherit them.
            for (key, value) in [
                ("net/ipv6/conf/all/disable_ipv6", "1"),
                ("net/ipv6/conf/default/disable_ipv6", "1"),
                ("net/ipv4/conf/all/rp_filter", "0"),
                ("net/ipv4/conf/default/rp_filter", "0"),
            ] {
                write_sysctl(key, value)?;
            }
            Ok(())
        })?;
        ns.ip(&["link", "set", "lo", "up"])?;
        Ok(ns)
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// Runs `cmd args` inside through `ip netns exec`; returns stdout, or an error with stderr.
    pub fn exec(&self, cmd: &str, args: &[&str]) -> Result<String, String> {
        self.exec_with_stdin(cmd, args, None)
    }

    /// Like [`Netns::exec`], feeding `stdin` to the program.
    pub fn exec_stdin(&self, cmd: &str, args: &[&str], stdin: &str) -> Result<String, String> {
        self.exec_with_stdin(cmd, args, Some(stdin))
    }

    fn exec_with_stdin(
        &self,
        cmd: &str,
        args: &[&str],
        stdin: Option<&str>,
    ) -> Result<String, String> {
        // `ip netns exec` resolves the same /run/netns file, so checking it here guards the
        // program's netlink writes too.
        self.run_in(assert_not_host_netns);
        let mut full = vec!["netns", "exec", &self.name, cmd];
        full.extend_from_slice(args);
        run("ip", &full, stdin)
    }

    /// Runs `ip -n NAME args` (iproute2 switches namespace itself, without `ip netns exec`).
    pub fn ip(&self, args: &[&str]) -> Result<String, String> {
        self.run_in(assert_not_host_netns);
        let mut full = vec!["-n", &self.name];
        full.extend_from_slice(args);
        run("ip", &full, None)
    }

    /// Runs `f` on a fresh thread that joined this namespace; a panic in `f` is re-raised here.
    ///
    /// Sockets and `/proc/thread-self/net/*` files opened in `f` stay bound to this namespace
    /// after `f` returns; `/proc/self/...` would name the main thread's namespace instead.
    pub fn run_in<T: Send, F: FnOnce() -> T + Send>(&self, f: F) -> T {
        let path = format!("{NETNS_DIR}/{}", self.name);
        thread::scope(|scope| {
            let worker = scope.spawn(move || {
                enter(&path);
                assert_not_host_netns();
                f()
            });
            match worker.join() {
                Ok(value) => value,
                Err(panic) => std::panic::resume_unwind(panic),
            }
        })
    }

    /// Writes `/proc/sys/<key>` (slash-separated, e.g. `net/ipv4/ip_forward`) inside.
    pub fn sysctl_write(&self, key: &str, value: &str) -> Result<(), String> {
        self.run_in(|| write_sysctl(key, value))
    }

    /// Reads `/proc/sys/<key>` inside, trimmed.
    pub fn sysctl_read(&self, key: &str) -> Result<String, String> {
        self.run_in(|| {
            let path = format!("/proc/sys/{key}");
            fs::read_to_string(&path)
                .map(|s| s.trim().to_string())
                .map_err(|e| format!("read {path}: {e}"))
        })
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        // Deleting the namespace destroys its veth end, and with it the peer.
        if let Err(e) = run("ip", &["netns", "del", &self.name], None) {
            eprintln!("warning: could not remove namespace {}: {e}", self.name);
        }
    }
}

/// A client and a server namespace joined by a veth pair:
/// server `eth0` 10.77.0.1/24, client `eth0` 10.77.0.2/24 plus 10.77.0.3 and 10.77.0.4.
#[derive(Debug)]
pub struct Pair {
    pub client: Netns,
    pub server: Netns,
}

impl Pair {
    /// Makes `fwt-<prefix>-c-*` and `fwt-<prefix>-s-*` and wires them.
    pub fn new(prefix: &str) -> Result<Pair, String> {
        let pair = Pair {
            client: Netns::new(&format!("{prefix}-c"))?,
            server: Netns::new(&format!("{prefix}-s"))?,
        };
        let mut client = vec![format!(
            "link add {IFACE} address {CLIENT_MAC} type veth peer name {IFACE} address {SERVER_MAC} netns {}",
            pair.server.name()
        )];
        client.push(format!("addr add {CLIENT}/24 dev {IFACE}"));
        for extra in CLIENT_EXTRA {
            client.push(format!("addr add {extra}/24 dev {IFACE}"));
        }
        client.push(format!("link set {IFACE} up"));
        client.push(format!(
            "neigh replace {SERVER} lladdr {SERVER_MAC} dev {IFACE} nud permanent"
        ));
        let mut server = vec![
            format!("addr add {SERVER}/24 dev {IFACE}"),
            format!("link set {IFACE} up"),
        ];
        for source in std::iter::once(CLIENT).chain(CLIENT_EXTRA) {
            server.push(format!(
                "neigh replace {source} lladdr {CLIENT_MAC} dev {IFACE} nud permanent"
            ));
        }
        pair.client.ip_batch(&client)?;
        pair.server.ip_batch(&server)?;
        Ok(pair)
    }
}

impl Netns {
    fn ip_batch(&self, lines: &[String]) -> Result<(), String> {
        self.run_in(assert_not_host_netns);
        let script = lines.join("\n") + "\n";
        run("ip", &["-n", &self.name, "-batch", "-"], Some(&script)).map(drop)
    }
}

/// Panics if the calling thread is in the host's network namespace.
///
/// "Host" is both the namespace this process started in (`/proc/self/ns/net` names the main
/// thread's, and the main thread never moves) and PID 1's. PID 1's is checked only when readable:
/// some sandboxes deny it even to root (EACCES from a ptrace-protected init); the first check
/// still stands there. Called before anything writes to netfilter or links inside a namespace.
pub fn assert_not_host_netns() {
    if let Err(e) = check_not_host_netns() {
        panic!("{e}");
    }
}

/// The check behind [`assert_not_host_netns`], as a value.
pub fn check_not_host_netns() -> Result<(), String> {
    let own = ns_id("/proc/thread-self/ns/net")?;
    if own == ns_id("/proc/self/ns/net")? {
        return Err(
            "refusing to touch the network namespace this test process started in".to_string(),
        );
    }
    match ns_id("/proc/1/ns/net") {
        Ok(init) if init == own => Err("refusing to touch PID 1's network namespace".to_string()),
        _ => Ok(()),
    }
}

fn ns_id(path: &str) -> Result<(u64, u64), String> {
    fs::metadata(path)
        .map(|meta| (meta.dev(), meta.ino()))
        .map_err(|e| format!("cannot identify the network namespace of {path}: {e}"))
}

/// Whether namespace tests can run here. When they cannot: under `CI` this panics (a kernel test
/// that silently skips in CI is a test that cannot fail); elsewhere it prints why and returns
/// false, and the caller returns early.
pub fn privileged(test: &str) -> bool {
    static CAN: OnceLock<Result<(), String>> = OnceLock::new();
    let can = CAN.get_or_init(|| {
        // SAFETY: geteuid has no preconditions and cannot fail.
        if unsafe { libc::geteuid() } != 0 {
            return Err("not running as root".to_string());
        }
        Netns::new("probe").map(drop)
    });
    match can {
        Ok(()) => true,
        Err(why) if under_ci() => {
            panic!("{test}: cannot create a network namespace ({why}); CI is set, so this fails")
        }
        Err(why) => {
            // Straight to stderr: libtest captures eprintln! output of passing tests.
            let _ = writeln!(
                std::io::stderr(),
                "SKIP {test}: needs root and `ip netns add` ({why}); run as root to test against the kernel"
            );
            false
        }
    }
}

fn under_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "false" && v != "0")
}

fn enter(path: &str) {
    let file = match fs::File::open(path) {
        Ok(file) => file,
        Err(e) => panic!("open {path}: {e}"),
    };
    // SAFETY: the descriptor is open for the duration of the call; setns only changes the calling
    // thread's namespace, and this thread is ours and ends when the closure does.
    if unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) } != 0 {
        panic!("setns {path}: {}", std::io::Error::last_os_error());
    }
}

fn write_sysctl(key: &str, value: &str) -> Result<(), String> {
    let path = format!("/proc/sys/{key}");
    fs::write(&path, value).map_err(|e| format!("write {path}: {e}"))
}

/// Runs a program to completion; Ok(stdout) on exit status 0, else the command line and stderr.
fn run(cmd: &str, args: &[&str], stdin: Option<&str>) -> Result<String, String> {
    let line = || format!("{cmd} {}", args.join(" "));
    let mut child = Command::new(cmd)
        .args(args)
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("{}: {e}", line()))?;
    if let (Some(text), Some(mut pipe)) = (stdin, child.stdin.take()) {
        pipe.write_all(text.as_bytes())
            .map_err(|e| format!("{}: writing stdin: {e}", line()))?;
    }
    let out = child
        .wait_with_output()
        .map_err(|e| format!("{}: {e}", line()))?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(format!(
            "{} failed ({}): {}",
            line(),
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

/// Deletes `fwt-*-<pid>-<n>` namespaces whose test process is gone (a run killed mid-test).
fn reap_stale() {
    let Ok(entries) = fs::read_dir(NETNS_DIR) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(rest) = name.strip_prefix(NAME_PREFIX) else {
            continue;
        };
        let mut parts = rest.rsplitn(3, '-');
        let (Some(_n), Some(pid), Some(_prefix)) = (parts.next(), parts.next(), parts.next())
        else {
            continue;
        };
        let Ok(pid) = pid.parse::<u32>() else {
            continue;
        };
        if pid != std::process::id() && !std::path::Path::new(&format!("/proc/{pid}")).exists() {
            let _ = run("ip", &["netns", "del", &name], None);
        }
    }
}

#[test]
fn netns_is_private_and_removed_on_drop() {
    if !privileged("netns_is_private_and_removed_on_drop") {
        return;
    }
    let ns = Netns::new("self").unwrap_or_else(|e| panic!("{e}"));
    let path = format!("{NETNS_DIR}/{}", ns.name());
    assert!(
        fs::metadata(&path).is_ok(),
        "{path} should exist while the namespace lives"
    );
    let inside = ns
        .run_in(|| ns_id("/proc/thread-self/ns/net"))
        .unwrap_or_else(|e| panic!("{e}"));
    assert_ne!(Ok(inside), ns_id("/proc/self/ns/net"));
    // Through `ip netns exec` too: readlink prints net:[INODE].
    let link = ns
        .exec("readlink", &["/proc/self/ns/net"])
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(link.trim(), format!("net:[{}]", inside.1));
    assert_eq!(
        ns.sysctl_read("net/ipv6/conf/all/disable_ipv6").as_deref(),
        Ok("1")
    );
    assert_eq!(
        ns.sysctl_read("net/ipv4/conf/all/rp_filter").as_deref(),
        Ok("0")
    );
    drop(ns);
    assert!(
        fs::metadata(&path).is_err(),
        "{path} should be gone after drop"
    );
}

#[test]
fn pair_is_wired_without_arp() {
    if !privileged("pair_is_wired_without_arp") {
        return;
    }
    let pair = Pair::new("wire").unwrap_or_else(|e| panic!("{e}"));
    let neigh = pair
        .server
        .ip(&["neigh", "show", "dev", IFACE])
        .unwrap_or_else(|e| panic!("{e}"));
    for source in std::iter::once(CLIENT).chain(CLIENT_EXTRA) {
        let want = format!("{source} lladdr {CLIENT_MAC} PERMANENT");
        assert!(
            neigh.contains(&want),
            "server neighbours lack `{want}`:\n{neigh}"
        );
    }
    let addrs = pair
        .client
        .ip(&["-4", "-o", "addr", "show", "dev", IFACE])
        .unwrap_or_else(|e| panic!("{e}"));
    for source in std::iter::once(CLIENT).chain(CLIENT_EXTRA) {
        assert!(
            addrs.contains(&format!("inet {source}/24")),
            "client lacks {source}:\n{addrs}"
        );
    }
}

#[test]
fn host_guard_refuses_the_test_process_namespace() {
    // The test thread never left the namespace the process started in.
    let verdict = check_not_host_netns();
    assert!(
        verdict.as_ref().is_err_and(|e| e.contains("started in")),
        "{verdict:?}"
    );
}
