//! Scratch network namespaces for verification, and the client/server topology probes run in.
//!
//! [`Netns`] is a uniquely named namespace (`fwv-<pid>-<n>-<tag>`, made with `ip netns add`)
//! deleted on drop. Every live namespace is also in a process-wide registry that a
//! SIGINT/SIGTERM/SIGHUP handler ([`cleanup_on_signals`]) empties before the process dies, and
//! [`reap_stale`] deletes `fwv-<pid>-*` namespaces whose process no longer exists (a run killed
//! with SIGKILL). Namespaces made with `keep` are named `fwv-keep-<pid>-...`, survive drop and
//! are never reaped: the user asked for them. Code reaches a namespace two ways:
//! [`Netns::exec`] runs a program inside (a child forked from a thread that `setns`-ed into it),
//! and [`Netns::try_run_in`] runs a closure on such a thread, so sockets opened there belong to
//! the namespace wherever they are used afterwards. Both first check that the target is not the
//! host's namespace ([`check_not_host_netns`]).
//!
//! [`Site`] is one client and one server namespace joined by veth pairs ("links"), one per
//! interface name the ruleset matches on, with fixed addresses and MACs, permanent neighbour
//! entries (no ARP), IPv6 off and reverse-path filtering off, so a probe's fate depends on the
//! server's ruleset alone. Link `k` is 10.77.k.1 (server) / 10.77.k.2 (client).
//!
//! This module does not load rulesets, send probes or judge verdicts; it never touches the host's
//! namespace, and every address it assigns lives only inside its own namespaces.

use std::collections::BTreeSet;
use std::fs;
use std::io::Write;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::os::fd::AsRawFd;
use std::os::unix::fs::MetadataExt;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicI32, AtomicU32, Ordering};
use std::sync::{Mutex, Once};
use std::thread;

const NETNS_DIR: &str = "/run/netns";
/// Every namespace verification makes starts with this.
pub const NAME_PREFIX: &str = "fwv-";
const KEEP_PREFIX: &str = "fwv-keep-";

/// Names of the namespaces this process made and has not deleted yet.
static LIVE: Mutex<BTreeSet<String>> = Mutex::new(BTreeSet::new());

/// A network namespace of our own, removed on drop unless made with `keep`.
#[derive(Debug)]
pub struct Netns {
    name: String,
    keep: bool,
}

impl Netns {
    /// Creates `fwv-<pid>-<n>-<tag>` with `lo` up, IPv6 off and `rp_filter` off.
    pub fn new(tag: &str) -> Result<Netns, String> {
        Netns::create(tag, false)
    }

    /// Like [`Netns::new`], named `fwv-keep-...` and left in place on drop.
    pub fn new_kept(tag: &str) -> Result<Netns, String> {
        Netns::create(tag, true)
    }

    fn create(tag: &str, keep: bool) -> Result<Netns, String> {
        static REAP: Once = Once::new();
        REAP.call_once(reap_stale);
        static COUNTER: AtomicU32 = AtomicU32::new(0);
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let prefix = if keep { KEEP_PREFIX } else { NAME_PREFIX };
        let name = format!("{prefix}{}-{n}-{tag}", std::process::id());
        // Registered before it exists, so a signal arriving during `ip netns add` still finds it.
        lock_live().insert(name.clone());
        // From here on, Drop deletes the namespace whatever fails next (unless kept).
        let ns = Netns { name, keep };
        if let Err(e) = run("ip", &["netns", "add", &ns.name], None) {
            lock_live().remove(&ns.name);
            std::mem::forget(ns);
            return Err(e);
        }
        ns.try_run_in(|| -> Result<(), String> {
            // Defaults first, so interfaces created later inherit them.
            for (key, value) in [
                ("net/ipv6/conf/all/disable_ipv6", "1"),
                ("net/ipv6/conf/default/disable_ipv6", "1"),
                ("net/ipv4/conf/all/rp_filter", "0"),
                ("net/ipv4/conf/default/rp_filter", "0"),
                ("net/ipv4/conf/all/accept_local", "1"),
            ] {
                write_sysctl(key, value)?;
            }
            Ok(())
        })??;
        ns.ip(&["link", "set", "lo", "up"])?;
        Ok(ns)
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// Runs `cmd args` inside; returns stdout, or an error with the command line and stderr.
    pub fn exec(&self, cmd: &str, args: &[&str]) -> Result<String, String> {
        self.try_run_in(|| run(cmd, args, None))?
    }

    /// Like [`Netns::exec`], feeding `stdin` to the program.
    pub fn exec_stdin(&self, cmd: &str, args: &[&str], stdin: &str) -> Result<String, String> {
        self.try_run_in(|| run(cmd, args, Some(stdin)))?
    }

    /// Runs `ip -n NAME args` (iproute2 switches namespace itself).
    pub fn ip(&self, args: &[&str]) -> Result<String, String> {
        self.try_run_in(check_not_host_netns)??;
        let mut full = vec!["-n", &self.name];
        full.extend_from_slice(args);
        run("ip", &full, None)
    }

    /// Runs `ip -n NAME -batch -` with `lines`.
    pub fn ip_batch(&self, lines: &[String]) -> Result<(), String> {
        if lines.is_empty() {
            return Ok(());
        }
        self.try_run_in(check_not_host_netns)??;
        let script = lines.join("\n") + "\n";
        run("ip", &["-n", &self.name, "-batch", "-"], Some(&script)).map(drop)
    }

    /// Runs `f` on a fresh thread that joined this namespace (after checking it is not the
    /// host's); a panic in `f` is re-raised here. Sockets and `/proc/thread-self/net/*` files
    /// opened in `f` stay bound to this namespace after `f` returns.
    pub fn try_run_in<T: Send, F: FnOnce() -> T + Send>(&self, f: F) -> Result<T, String> {
        let path = format!("{NETNS_DIR}/{}", self.name);
        thread::scope(|scope| {
            let worker = scope.spawn(move || {
                enter(&path)?;
                check_not_host_netns()?;
                Ok(f())
            });
            match worker.join() {
                Ok(value) => value,
                Err(panic) => std::panic::resume_unwind(panic),
            }
        })
    }

    /// [`Netns::try_run_in`] for tests: panics if the namespace cannot be entered.
    pub fn run_in<T: Send, F: FnOnce() -> T + Send>(&self, f: F) -> T {
        match self.try_run_in(f) {
            Ok(v) => v,
            Err(e) => panic!("{e}"),
        }
    }

    /// Writes `/proc/sys/<key>` (slash-separated, e.g. `net/ipv4/ip_forward`) inside.
    pub fn sysctl_write(&self, key: &str, value: &str) -> Result<(), String> {
        self.try_run_in(|| write_sysctl(key, value))?
    }

    /// Reads `/proc/sys/<key>` inside, trimmed.
    pub fn sysctl_read(&self, key: &str) -> Result<String, String> {
        self.try_run_in(|| {
            let path = format!("/proc/sys/{key}");
            fs::read_to_string(&path)
                .map(|s| s.trim().to_string())
                .map_err(|e| format!("read {path}: {e}"))
        })?
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        lock_live().remove(&self.name);
        if self.keep {
            return;
        }
        // Deleting the namespace destroys its veth ends, and with them their peers.
        if let Err(e) = run("ip", &["netns", "del", &self.name], None) {
            eprintln!("warning: could not remove namespace {}: {e}", self.name);
        }
    }
}

fn lock_live() -> std::sync::MutexGuard<'static, BTreeSet<String>> {
    // A panic while holding the lock leaves the set itself intact.
    LIVE.lock().unwrap_or_else(|p| p.into_inner())
}

/// IPv6 settings of a [`Site`] with `ipv6`: on, silent (no router solicitations, no
/// autoconfiguration, no duplicate address detection: addresses are usable at once).
const IPV6_QUIET: [(&str, &str); 7] = [
    ("disable_ipv6", "0"),
    ("accept_dad", "0"),
    ("dad_transmits", "0"),
    ("optimistic_dad", "1"),
    ("accept_ra", "0"),
    ("autoconf", "0"),
    ("router_solicitations", "0"),
];

/// One veth pair of a [`Site`]: `name` on both ends (names are per namespace).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Link {
    pub name: String,
    pub index: u8,
}

impl Link {
    pub fn server_ip(&self) -> Ipv4Addr {
        Ipv4Addr::new(10, 77, self.index, 1)
    }
    pub fn client_ip(&self) -> Ipv4Addr {
        Ipv4Addr::new(10, 77, self.index, 2)
    }
    pub fn server_mac(&self) -> [u8; 6] {
        [0x02, 0x77, 0, 0, self.index, 1]
    }
    pub fn client_mac(&self) -> [u8; 6] {
        [0x02, 0x77, 0, 0, self.index, 2]
    }
    /// Where forwarded probes go: a neighbour on the client's side of the link whose MAC no
    /// interface has, so the client drops the frame without a word.
    pub fn sink_ip(&self) -> Ipv4Addr {
        Ipv4Addr::new(10, 77, self.index, 3)
    }
    pub fn sink_ip6(&self) -> Ipv6Addr {
        Ipv6Addr::new(0xfd77, 0, 0, u16::from(self.index), 0, 0, 0, 3)
    }
    pub fn sink_mac(&self) -> [u8; 6] {
        [0x02, 0x77, 0, 0, self.index, 3]
    }
    pub fn server_ip6(&self) -> Ipv6Addr {
        Ipv6Addr::new(0xfd77, 0, 0, u16::from(self.index), 0, 0, 0, 1)
    }
    pub fn client_ip6(&self) -> Ipv6Addr {
        Ipv6Addr::new(0xfd77, 0, 0, u16::from(self.index), 0, 0, 0, 2)
    }
    /// The server's address of `family` on this link.
    pub fn server_addr(&self, ipv6: bool) -> IpAddr {
        if ipv6 {
            self.server_ip6().into()
        } else {
            self.server_ip().into()
        }
    }
}

/// What a [`Site`] is made of.
#[derive(Clone, Debug, Default)]
pub struct SiteSpec {
    /// Server-side interface names, the first being the main link (default route both ways).
    pub links: Vec<String>,
    /// Extra addresses the server owns (on `lo`): probe destinations.
    pub server_addrs: Vec<IpAddr>,
    /// Multicast groups the server joins on every link: destinations of INPUT probes (the
    /// kernel delivers a multicast packet only to a member of its group).
    pub server_groups: Vec<IpAddr>,
    /// Extra addresses the client owns (on the main link): sources of real connections.
    pub client_addrs: Vec<IpAddr>,
    /// Name the namespaces `fwv-keep-...` and leave them in place.
    pub keep: bool,
    /// Enable IPv6 too, without autoconfiguration, duplicate address detection or router
    /// solicitations, with permanent neighbour entries (no neighbour discovery on the wire).
    pub ipv6: bool,
}

/// A client and a server namespace joined by the links of a [`SiteSpec`].
#[derive(Debug)]
pub struct Site {
    pub client: Netns,
    pub server: Netns,
    pub links: Vec<Link>,
}

fn mac_text(m: [u8; 6]) -> String {
    m.iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

impl Site {
    /// Makes `fwv-*-<tag>-c` and `fwv-*-<tag>-s` and wires them.
    pub fn new(tag: &str, spec: &SiteSpec) -> Result<Site, String> {
        let make = |t: String| {
            if spec.keep {
                Netns::new_kept(&t)
            } else {
                Netns::new(&t)
            }
        };
        if spec.links.is_empty() || spec.links.len() > 250 {
            return Err(format!(
                "a site needs 1 to 250 links, not {}",
                spec.links.len()
            ));
        }
        let site = Site {
            client: make(format!("{tag}-c"))?,
            server: make(format!("{tag}-s"))?,
            links: spec
                .links
                .iter()
                .enumerate()
                .map(|(i, name)| Link {
                    name: name.clone(),
                    index: i as u8,
                })
                .collect(),
        };
        if spec.ipv6 {
            for ns in [&site.client, &site.server] {
                ns.try_run_in(|| -> Result<(), String> {
                    // Before the links exist, so they inherit it from `default`.
                    for conf in ["all", "default"] {
                        for (key, value) in IPV6_QUIET {
                            write_sysctl(&format!("net/ipv6/conf/{conf}/{key}"), value)?;
                        }
                    }
                    Ok(())
                })??;
            }
        }
        let (mut client, mut server) = (Vec::new(), Vec::new());
        for l in &site.links {
            let n = &l.name;
            client.push(format!(
                "link add {n} address {} type veth peer name {n} address {} netns {}",
                mac_text(l.client_mac()),
                mac_text(l.server_mac()),
                site.server.name()
            ));
            client.push(format!("addr add {}/24 dev {n}", l.client_ip()));
            client.push(format!("link set {n} up"));
            client.push(format!(
                "neigh replace {} lladdr {} dev {n} nud permanent",
                l.server_ip(),
                mac_text(l.server_mac())
            ));
            server.push(format!("addr add {}/24 dev {n}", l.server_ip()));
            server.push(format!("link set {n} up"));
            server.push(format!(
                "neigh replace {} lladdr {} dev {n} nud permanent",
                l.client_ip(),
                mac_text(l.client_mac())
            ));
            server.push(format!(
                "neigh replace {} lladdr {} dev {n} nud permanent",
                l.sink_ip(),
                mac_text(l.sink_mac())
            ));
        }
        if spec.ipv6 {
            for l in &site.links {
                let n = &l.name;
                client.push(format!("addr add {}/64 dev {n} nodad", l.client_ip6()));
                client.push(format!(
                    "neigh replace {} lladdr {} dev {n} nud permanent",
                    l.server_ip6(),
                    mac_text(l.server_mac())
                ));
                server.push(format!("addr add {}/64 dev {n} nodad", l.server_ip6()));
                server.push(format!(
                    "neigh replace {} lladdr {} dev {n} nud permanent",
                    l.client_ip6(),
                    mac_text(l.client_mac())
                ));
                server.push(format!(
                    "neigh replace {} lladdr {} dev {n} nud permanent",
                    l.sink_ip6(),
                    mac_text(l.sink_mac())
                ));
            }
            let main = &site.links[0];
            client.push(format!(
                "route add default via {} dev {}",
                main.server_ip6(),
                main.name
            ));
            server.push(format!(
                "route add default via {} dev {}",
                main.client_ip6(),
                main.name
            ));
        }
        let main = &site.links[0];
        client.push(format!(
            "route add default via {} dev {}",
            main.server_ip(),
            main.name
        ));
        server.push(format!(
            "route add default via {} dev {}",
            main.client_ip(),
            main.name
        ));
        for a in &spec.client_addrs {
            client.push(match a {
                IpAddr::V4(a) => format!("addr add {a}/32 dev {}", main.name),
                IpAddr::V6(a) => format!("addr add {a}/128 dev {} nodad", main.name),
            });
        }
        server.extend(spec.server_addrs.iter().map(|a| server_addr_line(*a, true)));
        for g in &spec.server_groups {
            for l in &site.links {
                server.push(server_group_line(*g, &l.name, true));
            }
        }
        site.client.ip_batch(&client)?;
        site.server.ip_batch(&server)?;
        Ok(site)
    }

    /// The link whose server end is named `name`.
    pub fn link(&self, name: &str) -> Option<&Link> {
        self.links.iter().find(|l| l.name == name)
    }

    /// The commands that remove this site's namespaces (for `--keep`).
    pub fn removal_commands(&self) -> Vec<String> {
        [&self.client, &self.server]
            .iter()
            .map(|n| format!("ip netns del {}", n.name()))
            .collect()
    }
}

/// The `ip -batch` line that gives the server address `a` (on `lo`, without duplicate address
/// detection), or with `add` false takes it back.
pub fn server_addr_line(a: IpAddr, add: bool) -> String {
    match (a, add) {
        (IpAddr::V6(_), true) => format!("addr add {} dev lo nodad", host(a)),
        (_, true) => format!("addr add {} dev lo", host(a)),
        (_, false) => format!("addr del {} dev lo", host(a)),
    }
}

/// The `ip -batch` line that has the server join multicast group `g` on link `link` (an
/// address with `autojoin`, which also gives the group a local route), or with `add` false
/// leave it.
pub fn server_group_line(g: IpAddr, link: &str, add: bool) -> String {
    match add {
        true => format!("addr add {} dev {link} autojoin", host(g)),
        false => format!("addr del {} dev {link}", host(g)),
    }
}

/// `a/32` or `a/128`.
fn host(a: IpAddr) -> String {
    match a {
        IpAddr::V4(a) => format!("{a}/32"),
        IpAddr::V6(a) => format!("{a}/128"),
    }
}

/// The check that the calling thread is not in the host's network namespace.
///
/// "Host" is both the namespace this process started in (`/proc/self/ns/net` names the main
/// thread's, and the main thread never moves) and PID 1's. PID 1's is checked only when readable:
/// some sandboxes deny it even to root; the first check still stands there.
pub fn check_not_host_netns() -> Result<(), String> {
    let own = ns_id("/proc/thread-self/ns/net")?;
    if own == ns_id("/proc/self/ns/net")? {
        return Err("refusing to touch the network namespace this process started in".to_string());
    }
    match ns_id("/proc/1/ns/net") {
        Ok(init) if init == own => Err("refusing to touch PID 1's network namespace".to_string()),
        _ => Ok(()),
    }
}

/// The (device, inode) pair naming the namespace behind `path`.
pub fn ns_id(path: &str) -> Result<(u64, u64), String> {
    fs::metadata(path)
        .map(|meta| (meta.dev(), meta.ino()))
        .map_err(|e| format!("cannot identify the network namespace of {path}: {e}"))
}

fn enter(path: &str) -> Result<(), String> {
    let file = fs::File::open(path).map_err(|e| format!("open {path}: {e}"))?;
    // SAFETY: the descriptor is open for the duration of the call; setns only changes the calling
    // thread's namespace, and this thread is ours and ends when the closure does.
    if unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) } != 0 {
        return Err(format!("setns {path}: {}", std::io::Error::last_os_error()));
    }
    Ok(())
}

fn write_sysctl(key: &str, value: &str) -> Result<(), String> {
    let path = format!("/proc/sys/{key}");
    fs::write(&path, value).map_err(|e| format!("write {path}: {e}"))
}

/// Runs a program to completion; Ok(stdout) on exit status 0, else the command line and stderr.
/// The child inherits the calling thread's network namespace.
pub fn run(cmd: &str, args: &[&str], stdin: Option<&str>) -> Result<String, String> {
    let line = || {
        std::iter::once(cmd)
            .chain(args.iter().copied())
            .collect::<Vec<_>>()
            .join(" ")
    };
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

/// Deletes `fwv-<pid>-*` namespaces whose process is gone (a run killed with SIGKILL).
/// `fwv-keep-*` namespaces are left alone: somebody asked to keep them.
pub fn reap_stale() {
    let Ok(entries) = fs::read_dir(NETNS_DIR) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(pid) = stale_owner(&name) else {
            continue;
        };
        if pid != std::process::id() && !std::path::Path::new(&format!("/proc/{pid}")).exists() {
            let _ = run("ip", &["netns", "del", &name], None);
        }
    }
}

/// The owning pid of a reapable namespace name, `fwv-<pid>-<n>-<tag>`.
fn stale_owner(name: &str) -> Option<u32> {
    let rest = name.strip_prefix(NAME_PREFIX)?;
    rest.split('-').next()?.parse().ok()
}

static SIGNAL_PIPE: AtomicI32 = AtomicI32::new(-1);

extern "C" fn on_signal(sig: libc::c_int) {
    let fd = SIGNAL_PIPE.load(Ordering::Relaxed);
    let byte = sig as u8;
    // SAFETY: write(2) is async-signal-safe; the byte lives for the call.
    unsafe { libc::write(fd, (&byte as *const u8).cast(), 1) };
}

/// Makes SIGINT, SIGTERM and SIGHUP delete every live namespace of this process before it dies
/// of the signal. The handler only writes the signal number to a pipe; a watcher thread does
/// the deleting, then restores the default action and re-raises the signal. Idempotent.
pub fn cleanup_on_signals() -> Result<(), String> {
    static INSTALLED: Mutex<bool> = Mutex::new(false);
    let mut installed = INSTALLED.lock().unwrap_or_else(|p| p.into_inner());
    if *installed {
        return Ok(());
    }
    let mut fds = [0 as libc::c_int; 2];
    // SAFETY: fds is a live array of two c_ints.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return Err(format!("pipe: {}", std::io::Error::last_os_error()));
    }
    let [read_end, write_end] = fds;
    SIGNAL_PIPE.store(write_end, Ordering::Relaxed);
    thread::Builder::new()
        .name("fwv-signals".into())
        .spawn(move || loop {
            let mut byte = 0u8;
            // SAFETY: reading one byte into a live u8 from our own pipe.
            let n = unsafe { libc::read(read_end, (&mut byte as *mut u8).cast(), 1) };
            if n == 1 {
                let names: Vec<String> = lock_live().iter().cloned().collect();
                for name in names {
                    let _ = run("ip", &["netns", "del", &name], None);
                }
                let sig = libc::c_int::from(byte);
                // SAFETY: restoring the default action and re-raising ends the process as the
                // signal would have.
                unsafe {
                    libc::signal(sig, libc::SIG_DFL);
                    libc::raise(sig);
                }
            } else if n == 0 {
                return;
            }
        })
        .map_err(|e| format!("signal thread: {e}"))?;
    for sig in [libc::SIGINT, libc::SIGTERM, libc::SIGHUP] {
        // SAFETY: on_signal only calls write(2) on a descriptor that stays open.
        let old = unsafe {
            libc::signal(
                sig,
                on_signal as extern "C" fn(libc::c_int) as libc::sighandler_t,
            )
        };
        if old == libc::SIG_ERR {
            return Err(format!("signal {sig}: {}", std::io::Error::last_os_error()));
        }
    }
    *installed = true;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stale_owner_reads_the_pid_and_skips_kept_and_foreign_names() {
        let cases = [
            ("fwv-1234-0-legacy-s", Some(1234)),
            ("fwv-keep-1234-0-legacy-s", None),
            ("fwt-1234-0", None),
            ("other", None),
        ];
        for (name, want) in cases {
            assert_eq!(stale_owner(name), want, "{name}");
        }
    }

    #[test]
    fn host_guard_refuses_the_process_namespace() {
        // The test thread never left the namespace the process started in.
        let verdict = check_not_host_netns();
        assert!(
            verdict.as_ref().is_err_and(|e| e.contains("started in")),
            "{verdict:?}"
        );
    }
}
