//! Non-first IPv4 fragments against transport-header tests, legacy kernel vs fwnet, in a
//! ruleset without conntrack (so the fragments are not reassembled before the rules).
//!
//! The same three packets leave each namespace over loopback (a whole TCP segment to port 80,
//! a non-first fragment whose payload carries port 80 where a TCP header would have it, and a
//! whole UDP datagram), through OUTPUT rules that only count; the counters must agree rule by
//! rule. Without fwnet's `ip frag-off & 8191 == 0` guard nft's `tcp dport 80` counts the
//! fragment too.

use crate::apply::{fwnet_in, StateDir};
use crate::netns::{assert_not_host_netns, privileged, Netns};

const RULES: &str = "*filter\n:OUTPUT ACCEPT [0:0]\n\
-A OUTPUT -p tcp\n\
-A OUTPUT -p tcp --dport 80\n\
-A OUTPUT -p tcp -m multiport --dports 80,81\n\
-A OUTPUT -p udp --dport 80\n\
-A OUTPUT -f\n\
COMMIT\n";

fn checksum(b: &[u8]) -> u16 {
    let mut sum: u32 = b
        .chunks(2)
        .map(|c| u32::from(c[0]) << 8 | u32::from(*c.get(1).unwrap_or(&0)))
        .sum();
    while sum > 0xffff {
        sum = (sum >> 16) + (sum & 0xffff);
    }
    !(sum as u16)
}

/// An IPv4 packet from and to 127.0.0.1 with `frag` as its flags/offset field.
fn ipv4(proto: u8, frag: u16, payload: &[u8]) -> Vec<u8> {
    let len = (20 + payload.len()) as u16;
    let mut p = vec![0x45, 0];
    p.extend(len.to_be_bytes());
    p.extend(7u16.to_be_bytes());
    p.extend(frag.to_be_bytes());
    p.extend([64, proto, 0, 0, 127, 0, 0, 1, 127, 0, 0, 1]);
    let c = checksum(&p);
    p[10..12].copy_from_slice(&c.to_be_bytes());
    p.extend(payload);
    p
}

/// Source port 40000, destination port 80, then a TCP header's worth of zeros.
fn ports_then_zeros() -> Vec<u8> {
    let mut b = Vec::new();
    b.extend(40000u16.to_be_bytes());
    b.extend(80u16.to_be_bytes());
    b.extend([0u8; 16]);
    b[12] = 5 << 4;
    b
}

fn send_packets() {
    assert_not_host_netns();
    let packets = [
        ipv4(6, 0, &ports_then_zeros()),
        // Offset 3 (24 bytes), no more fragments.
        ipv4(6, 3, &ports_then_zeros()),
        ipv4(17, 0, &ports_then_zeros()[..8]),
    ];
    // SAFETY: plain socket calls on a descriptor this function owns and closes.
    unsafe {
        let fd = libc::socket(libc::AF_INET, libc::SOCK_RAW, libc::IPPROTO_RAW);
        assert!(fd >= 0, "raw socket: {}", std::io::Error::last_os_error());
        let mut to: libc::sockaddr_in = std::mem::zeroed();
        to.sin_family = libc::AF_INET as u16;
        to.sin_addr.s_addr = u32::from_ne_bytes([127, 0, 0, 1]);
        for p in &packets {
            let n = libc::sendto(
                fd,
                p.as_ptr().cast(),
                p.len(),
                0,
                (&to as *const libc::sockaddr_in).cast(),
                std::mem::size_of::<libc::sockaddr_in>() as u32,
            );
            assert_eq!(n, p.len() as isize, "{}", std::io::Error::last_os_error());
        }
        libc::close(fd);
    }
}

/// The packet counters of `iptables-legacy -L OUTPUT -vnx`, rule by rule.
fn legacy_counts(ns: &Netns) -> Vec<u64> {
    let out = ns
        .exec("iptables-legacy", &["-L", "OUTPUT", "-v", "-n", "-x"])
        .unwrap_or_else(|e| panic!("{e}"));
    out.lines()
        .skip(2)
        .filter_map(|l| l.split_whitespace().next()?.parse().ok())
        .collect()
}

/// The packet counters of fwnet's OUTPUT chain, rule by rule, from `fwnet status --json`.
fn fwnet_counts(ns: &Netns, state: &StateDir) -> Vec<u64> {
    let out = fwnet_in(ns, &["status", "--json", "--state-dir", state.arg()], None);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("status json");
    let chain = v["tables"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|t| t["name"] == "fwnet_filter")
        .flat_map(|t| t["chains"].as_array().cloned().unwrap_or_default())
        .find(|c| c["name"] == "OUTPUT")
        .unwrap_or_else(|| panic!("no OUTPUT chain in {v}"));
    chain["rules"]
        .as_array()
        .expect("rules")
        .iter()
        .map(|r| r["packets"].as_u64().expect("packets"))
        .collect()
}

#[test]
fn non_first_fragments_meet_port_tests_as_in_iptables() {
    let test = "non_first_fragments_meet_port_tests_as_in_iptables";
    if !privileged(test) {
        return;
    }
    let legacy = Netns::new("frag-legacy").expect("namespace");
    let fwnet = Netns::new("frag-fwnet").expect("namespace");
    for ns in [&legacy, &fwnet] {
        ns.ip(&["link", "set", "lo", "up"]).expect("lo up");
    }
    legacy
        .exec_stdin("iptables-legacy-restore", &[], RULES)
        .unwrap_or_else(|e| panic!("{e}"));
    let dir = std::env::temp_dir().join(format!("fwt-frag-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let rules = dir.join("fragments.rules");
    std::fs::write(&rules, RULES).unwrap();
    let state = StateDir::new("frag");
    crate::apply::import(&rules, &state);
    let out = fwnet_in(&fwnet, &["apply", "--state-dir", state.arg()], None);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    legacy.run_in(send_packets);
    fwnet.run_in(send_packets);
    let want = legacy_counts(&legacy);
    // -p tcp: both TCP packets; --dport 80 and --dports 80,81: the whole one only; -p udp
    // --dport 80: the datagram; -f: the fragment.
    assert_eq!(want, vec![2, 1, 1, 1, 1], "legacy");
    assert_eq!(fwnet_counts(&fwnet, &state), want, "fwnet against legacy");
    let _ = std::fs::remove_dir_all(&dir);
}
