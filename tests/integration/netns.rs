//! The kernel tests' gate and the namespace plumbing they share with `fwnet verify`.
//!
//! Namespaces, sites and the host guard are product code (`fwnet_apply::verify::netns`); this
//! module only adds [`privileged`], which decides whether a kernel test can run here, and
//! [`assert_not_host_netns`], the panicking form of the guard for tests. It never touches the
//! host's namespace itself.

pub use fwnet_apply::verify::netns::{check_not_host_netns, ns_id, Netns, Site, SiteSpec};
use std::io::Write;
use std::sync::OnceLock;

/// Panics if the calling thread is in the host's network namespace.
pub fn assert_not_host_netns() {
    if let Err(e) = check_not_host_netns() {
        panic!("{e}");
    }
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

#[test]
fn netns_is_private_and_removed_on_drop() {
    if !privileged("netns_is_private_and_removed_on_drop") {
        return;
    }
    let ns = Netns::new("self").unwrap_or_else(|e| panic!("{e}"));
    let path = format!("/run/netns/{}", ns.name());
    assert!(
        std::fs::metadata(&path).is_ok(),
        "{path} should exist while the namespace lives"
    );
    let inside = ns
        .run_in(|| ns_id("/proc/thread-self/ns/net"))
        .unwrap_or_else(|e| panic!("{e}"));
    assert_ne!(Ok(inside), ns_id("/proc/self/ns/net"));
    // A program run inside sees the same namespace: readlink prints net:[INODE].
    let link = ns
        .exec("readlink", &["/proc/thread-self/ns/net"])
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(link.trim(), format!("net:[{}]", inside.1));
    for (key, want) in [
        ("net/ipv6/conf/all/disable_ipv6", "1"),
        ("net/ipv4/conf/all/rp_filter", "0"),
    ] {
        assert_eq!(ns.sysctl_read(key).as_deref(), Ok(want), "{key}");
    }
    drop(ns);
    assert!(
        std::fs::metadata(&path).is_err(),
        "{path} should be gone after drop"
    );
}

#[test]
fn site_is_wired_without_arp() {
    if !privileged("site_is_wired_without_arp") {
        return;
    }
    let spec = SiteSpec {
        links: vec!["eth0".into(), "eth1".into()],
        server_addrs: vec!["192.0.2.10".parse().unwrap()],
        client_addrs: vec!["198.18.0.9".parse().unwrap()],
        keep: false,
        ipv6: false,
        ..SiteSpec::default()
    };
    let site = Site::new("wire", &spec).unwrap_or_else(|e| panic!("{e}"));
    for link in &site.links {
        let neigh = site
            .server
            .ip(&["neigh", "show", "dev", &link.name])
            .unwrap();
        let want = format!(
            "{} lladdr 02:77:00:00:{:02x}:02 PERMANENT",
            link.client_ip(),
            link.index
        );
        assert!(
            neigh.contains(&want),
            "server neighbours lack `{want}`:\n{neigh}"
        );
    }
    let addrs = site
        .server
        .ip(&["-4", "-o", "addr", "show", "dev", "lo"])
        .unwrap();
    assert!(addrs.contains("inet 192.0.2.10/32"), "{addrs}");
    let addrs = site
        .client
        .ip(&["-4", "-o", "addr", "show", "dev", "eth0"])
        .unwrap();
    assert!(addrs.contains("inet 198.18.0.9/32"), "{addrs}");
}
