//! `-m recent` against the kernel: the same packet sequence through legacy xt_recent
//! (iptables-legacy-restore) and through fwnet's translation (import + apply), each in a
//! namespace of its own, must give the same verdict for every packet.
//!
//! Packets are UDP datagrams sent on loopback from 127.0.0.N; the rules sit in OUTPUT, so a
//! drop is the sender's `EPERM`. The sequence exercises `--set`, `--rcheck --seconds`, `!
//! --rcheck`, `--update --seconds` (the refresh after a match keeps the entry alive past the
//! first window) and expiry; the approximated `--remove` (matches only an existing entry) runs
//! with `--allow-approximate`, also on a list checked within a window elsewhere (list `M`: the
//! window's set and the twin set of any age). It does not test the kernel's 100-entry eviction, which fwnet
//! does not reproduce (see crates/translate/src/recent.rs).

use crate::apply::{fwnet, fwnet_in, text, StateDir};
use crate::netns::{privileged, Netns};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, UdpSocket};
use std::time::Duration;

const RULES: &str = "*filter
:INPUT ACCEPT [0:0]
:FORWARD ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
-A OUTPUT -p udp -m udp --dport 1000 -m recent --set --name L --rsource
-A OUTPUT -p udp -m udp --dport 1001 -m recent --rcheck --seconds 2 --name L -j DROP
-A OUTPUT -p udp -m udp --dport 1002 -m recent --update --seconds 2 --name L -j DROP
-A OUTPUT -p udp -m udp --dport 1003 -m recent ! --rcheck --seconds 2 --name L -j DROP
-A OUTPUT -p udp -m udp --dport 1004 -m recent --remove --name K -j DROP
-A OUTPUT -p udp -m udp --dport 1005 -m recent --set --name K
-A OUTPUT -p udp -m udp --dport 1006 -m recent --rcheck --seconds 2 --name D --rdest -j DROP
-A OUTPUT -p udp -m udp --dport 1007 -m recent --set --name D --rdest
-A OUTPUT -p udp -m udp --dport 1008 -m recent --set --name M
-A OUTPUT -p udp -m udp --dport 1009 -m recent --rcheck --seconds 2 --name M -j DROP
-A OUTPUT -p udp -m udp --dport 1010 -m recent --remove --name M -j DROP
COMMIT
";

/// One step: wait `sleep_ms`, then send from 127.0.0.`src` to 127.0.0.`dst`:`port`.
/// One step: wait `sleep_ms`, then send one datagram from 127.0.0.`src` to 127.0.0.`dst`:`port`
/// from a fresh socket (also used by `recent_hitcount`).
pub(crate) struct Step {
    sleep_ms: u64,
    src: u8,
    dst: u8,
    port: u16,
    /// The legacy kernel's verdict: true when the packet passes.
    pub passes: bool,
}

pub(crate) const fn s(sleep_ms: u64, src: u8, dst: u8, port: u16, passes: bool) -> Step {
    Step {
        sleep_ms,
        src,
        dst,
        port,
        passes,
    }
}

const STEPS: &[Step] = &[
    s(0, 2, 1, 1001, true),     // not listed yet
    s(0, 2, 1, 1000, true),     // --set matches, no target
    s(0, 2, 1, 1001, false),    // listed within 2 s
    s(0, 3, 1, 1001, true),     // another source is not listed
    s(0, 3, 1, 1003, false),    // ! --rcheck: not listed, so dropped
    s(0, 2, 1, 1003, true),     // ! --rcheck: listed, so passes
    s(1200, 2, 1, 1002, false), // --update matches and refreshes
    s(1200, 2, 1, 1001, false), // 2.4 s after --set, 1.2 s after the refresh
    s(2300, 2, 1, 1001, true),  // expired
    s(0, 2, 1, 1002, true),     // expired: --update does not match (and does not refresh)
    s(0, 2, 1, 1001, true),     // still expired
    s(0, 4, 1, 1004, true),     // --remove of an absent entry does not match
    s(0, 4, 1, 1005, true),     // --set K
    s(0, 4, 1, 1004, false),    // --remove finds it: matches
    s(0, 4, 1, 1004, true),     // and it is gone
    s(0, 5, 7, 1007, true),     // --rdest: list the destination 127.0.0.7
    s(0, 5, 7, 1006, false),    // to .7: listed
    s(0, 5, 8, 1006, true),     // to .8: not listed
    s(0, 7, 8, 1006, true),     // from .7 to .8: the source does not count
    // M, checked within 2 s and removed at any age (the approximation's twin set)
    s(0, 6, 1, 1009, true),    // not listed
    s(0, 6, 1, 1008, true),    // --set
    s(0, 6, 1, 1009, false),   // listed within 2 s
    s(2300, 6, 1, 1009, true), // not within 2 s any more
    s(0, 6, 1, 1010, false),   // but still listed: --remove matches
    s(0, 6, 1, 1010, true),    // and it is gone
    s(0, 6, 1, 1008, true),    // --set again
    s(0, 6, 1, 1010, false),   // --remove within the window
    s(0, 6, 1, 1009, true),    // gone from the windowed check too
];

/// Sends every step's datagram inside `ns`; true where it passed (a drop in OUTPUT is the
/// sender's `EPERM`). Over IPv4, `src` and `dst` N are 127.0.0.N; over IPv6, fd00::N, which
/// [`add_ipv6_loopbacks`] puts on `lo` first.
pub(crate) fn run_steps(ns: &Netns, steps: &[Step], v6: bool) -> Vec<bool> {
    let at = move |n: u8| -> IpAddr {
        if v6 {
            IpAddr::V6(Ipv6Addr::new(0xfd00, 0, 0, 0, 0, 0, 0, u16::from(n)))
        } else {
            IpAddr::V4(Ipv4Addr::new(127, 0, 0, n))
        }
    };
    ns.run_in(|| {
        steps
            .iter()
            .map(|st| {
                std::thread::sleep(Duration::from_millis(st.sleep_ms));
                let sock = UdpSocket::bind(SocketAddr::new(at(st.src), 0))
                    .expect("bind a loopback source");
                let to = SocketAddr::new(at(st.dst), st.port);
                match sock.send_to(b"x", to) {
                    Ok(_) => true,
                    Err(e) if e.raw_os_error() == Some(libc::EPERM) => false,
                    Err(e) => panic!("send to {to}: {e}"),
                }
            })
            .collect()
    })
}

/// IPv6 on `lo` in `ns`, with fd00::N for every address the steps use.
pub(crate) fn add_ipv6_loopbacks(ns: &Netns, steps: &[Step]) {
    let used: std::collections::BTreeSet<u8> =
        steps.iter().flat_map(|st| [st.src, st.dst]).collect();
    ipv6_on_lo(ns, used);
}

/// IPv6 on `lo` in `ns`, with fd00::N for every N of `hosts`.
pub(crate) fn ipv6_on_lo(ns: &Netns, hosts: impl IntoIterator<Item = u8>) {
    ns.run_in(crate::fragments::enable_ipv6_on_lo);
    for n in hosts {
        ns.ip(&[
            "-6",
            "addr",
            "add",
            &format!("fd00::{n}/128"),
            "dev",
            "lo",
            "nodad",
        ])
        .unwrap_or_else(|e| panic!("fd00::{n} on lo: {e}"));
    }
}

#[test]
fn recent_verdicts_equal_legacy_xt_recent() {
    if !privileged("recent_verdicts_equal_legacy_xt_recent") {
        return;
    }
    let want: Vec<bool> = STEPS.iter().map(|st| st.passes).collect();

    let legacy = Netns::new("recent-legacy").expect("namespace");
    legacy
        .exec_stdin("iptables-legacy-restore", &[], RULES)
        .expect("iptables-legacy-restore");
    let got_legacy = run_steps(&legacy, STEPS, false);
    assert_eq!(
        got_legacy, want,
        "the legacy kernel disagrees with the test's expectations"
    );

    let state = StateDir::new("recent");
    let file = state.0.with_extension("rules");
    std::fs::write(&file, RULES).expect("write rules");
    let refused = fwnet(&["import", "--state-dir", state.arg(), file.to_str().unwrap()]);
    assert!(
        !refused.status.success(),
        "--remove without --allow-approximate must be refused: {}",
        text(&refused)
    );
    let o = fwnet(&[
        "import",
        "--allow-approximate",
        "--state-dir",
        state.arg(),
        file.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "import: {}", text(&o));
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("APPROXIMATED"),
        "the report must say that rules are approximated: {}",
        text(&o)
    );
    let shown = fwnet(&["show", "--state-dir", state.arg()]);
    assert!(
        String::from_utf8_lossy(&shown.stdout).contains("fwnet approximate"),
        "show must mark the approximated rules: {}",
        text(&shown)
    );
    let ours = Netns::new("recent-fwnet").expect("namespace");
    let o = fwnet_in(&ours, &["apply", "--state-dir", state.arg()], None);
    assert!(o.status.success(), "apply: {}", text(&o));
    let got_fwnet = run_steps(&ours, STEPS, false);
    let _ = std::fs::remove_file(&file);
    assert_eq!(
        got_fwnet, got_legacy,
        "fwnet's verdicts differ from xt_recent's"
    );
}
