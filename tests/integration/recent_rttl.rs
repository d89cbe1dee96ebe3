//! `-m recent --rttl` against the kernel, where fwnet leaves it out because an earlier `--set`
//! makes it always true (crates/translate/src/recent.rs, `recorded_before`): the same datagrams,
//! sent with changing TTLs, get the same verdicts from legacy xt_recent and from fwnet's
//! translation.
//!
//! Two lists, in the two shapes fwnet accepts: `F` is the corpus' ICMP-flood recipe (a chain
//! whose first rule is a bare `--set`, then `--update --rttl`), `S` the SSH recipe (`--set` and
//! `--update --rttl` behind the same `-p udp --dport -m state --state NEW` tests). The TTL
//! changes with every datagram, so a check that compared it with anything but the datagram's
//! own TTL would stop matching; the legacy verdicts written here show it matches anyway. A
//! control rule, loaded into the legacy namespace only, shows that the kernel does see the
//! TTLs: there `--rttl` without a `--set` before it fails for a TTL other than the stored one.
//! Datagrams go over loopback from 127.0.0.2 (fd00::2) to .1 (fd00::1), each from a fresh
//! socket (a NEW connection), through OUTPUT, where a drop is the sender's `EPERM`.

use crate::apply::{fwnet_with, legacy_with, text};
use crate::netns::{privileged, Netns};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, UdpSocket};
use std::os::fd::AsRawFd;
use std::time::Duration;

const RULES: &str = "*filter
:INPUT ACCEPT [0:0]
:FORWARD ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
:FLOOD - [0:0]
-A OUTPUT -p udp -m udp --dport 3000 -j FLOOD
-A OUTPUT -p udp -m udp --dport 3001 -m state --state NEW -m recent --set --name S --rsource
-A OUTPUT -p udp -m udp --dport 3001 -m state --state NEW -m recent --update --seconds 2 --hitcount 3 --rttl --name S --rsource -j DROP
-A FLOOD -m recent --set --name F --rsource
-A FLOOD -m recent --update --seconds 2 --hitcount 3 --rttl --name F --rsource -j DROP
";

/// Legacy only: `--rttl` with no `--set` before it, which fwnet refuses.
const CONTROL: &str =
    "-A OUTPUT -p udp -m udp --dport 3009 -m recent --rcheck --seconds 2 --rttl --name F -j DROP\n";

struct Step {
    sleep_ms: u64,
    ttl: u32,
    port: u16,
    /// The legacy kernel's verdict: true when the datagram passes.
    passes: bool,
}

const fn s(sleep_ms: u64, ttl: u32, port: u16, passes: bool) -> Step {
    Step {
        sleep_ms,
        ttl,
        port,
        passes,
    }
}

/// Comments: the list's times within the 2 s window after the step.
const STEPS: &[Step] = &[
    s(0, 64, 3000, true),    // F: 1
    s(0, 50, 3000, true),    // F: 2 (--set stored TTL 50 before the check)
    s(0, 64, 3000, false),   // F: 3 within 2 s: dropped, --update adds a 4th
    s(0, 50, 3000, false),   // F: still counted, whatever the TTL
    s(0, 63, 3001, true),    // S: 1
    s(0, 40, 3001, true),    // S: 2
    s(0, 63, 3001, false),   // S: 3: dropped
    s(0, 41, 3001, false),   // S: again
    s(2300, 50, 3000, true), // F: the old times are out of the window: 1
    s(0, 64, 3000, true),    // F: 2
    s(0, 32, 3000, false),   // F: 3
];

/// Legacy only, after [`STEPS`]: F's entry holds TTL 32, from the last datagram.
const CONTROL_STEPS: &[Step] = &[
    s(0, 64, 3009, true),  // another TTL: xt_recent finds no entry for this datagram
    s(0, 32, 3009, false), // the stored TTL: found, within 2 s
];

fn at(n: u16, v6: bool) -> IpAddr {
    if v6 {
        IpAddr::V6(Ipv6Addr::new(0xfd00, 0, 0, 0, 0, 0, 0, n))
    } else {
        IpAddr::V4(Ipv4Addr::new(127, 0, 0, n as u8))
    }
}

/// Sends every step's datagram inside `ns` with the step's TTL (hop limit); true where it passed.
fn run(ns: &Netns, steps: &[Step], v6: bool) -> Vec<bool> {
    ns.run_in(|| {
        steps
            .iter()
            .map(|st| {
                std::thread::sleep(Duration::from_millis(st.sleep_ms));
                let sock = UdpSocket::bind(SocketAddr::new(at(2, v6), 0)).expect("bind");
                if v6 {
                    let hops: libc::c_int = st.ttl as libc::c_int;
                    // SAFETY: a valid socket, an int option and its size.
                    let rc = unsafe {
                        libc::setsockopt(
                            sock.as_raw_fd(),
                            libc::IPPROTO_IPV6,
                            libc::IPV6_UNICAST_HOPS,
                            (&hops as *const libc::c_int).cast(),
                            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
                        )
                    };
                    assert_eq!(
                        rc,
                        0,
                        "IPV6_UNICAST_HOPS: {}",
                        std::io::Error::last_os_error()
                    );
                } else {
                    sock.set_ttl(st.ttl).expect("IP_TTL");
                }
                let to = SocketAddr::new(at(1, v6), st.port);
                match sock.send_to(b"x", to) {
                    Ok(_) => true,
                    Err(e) if e.raw_os_error() == Some(libc::EPERM) => false,
                    Err(e) => panic!("send to {to}: {e}"),
                }
            })
            .collect()
    })
}

/// fd00::1 and fd00::2 on `lo` for the IPv6 runs.
fn prepare(v6: bool) -> impl Fn(&Netns) {
    move |ns| {
        if v6 {
            crate::recent::ipv6_on_lo(ns, [1, 2]);
        }
    }
}

#[test]
fn recent_rttl_after_set_verdicts_equal_legacy_xt_recent() {
    if privileged("recent_rttl_after_set_verdicts_equal_legacy_xt_recent") {
        legacy_then_fwnet(false);
    }
}

#[test]
fn recent_rttl_after_set_verdicts_equal_legacy_xt_recent_over_ipv6() {
    if privileged("recent_rttl_after_set_verdicts_equal_legacy_xt_recent_over_ipv6") {
        legacy_then_fwnet(true);
    }
}

fn legacy_then_fwnet(v6: bool) {
    let tag = if v6 { "rttl6" } else { "rttl" };
    let legacy = legacy_with(tag, &format!("{RULES}{CONTROL}COMMIT\n"), v6, prepare(v6));
    let want: Vec<bool> = STEPS.iter().map(|st| st.passes).collect();
    let got_legacy = run(&legacy, STEPS, v6);
    assert_eq!(
        got_legacy, want,
        "the legacy kernel disagrees with the test's expectations"
    );
    let want_control: Vec<bool> = CONTROL_STEPS.iter().map(|st| st.passes).collect();
    assert_eq!(
        run(&legacy, CONTROL_STEPS, v6),
        want_control,
        "the legacy kernel does not see the TTLs the test sets, so the test proves nothing"
    );

    let (ours, import) = fwnet_with(tag, &format!("{RULES}COMMIT\n"), v6, prepare(v6));
    let said = text(&import);
    assert_eq!(
        said.matches("warning[translate/recent-rttl]").count(),
        2,
        "both --rttl checks must be left out with a warning: {said}"
    );
    assert_eq!(
        run(&ours, STEPS, v6),
        got_legacy,
        "fwnet's verdicts differ from the legacy kernel's xt_recent"
    );
}
