//! The verdict observer of `fwnet verify` against the real kernel: it must tell drop from
//! accept, and the kernel must take the probes' hand-made checksums.
//!
//! The observer itself is product code (`fwnet_apply::verify::observe`); this file only tests
//! it with a one-rule nft ruleset loaded by the `nft` oracle.

use crate::netns::{privileged, Site, SiteSpec};
use fwnet_apply::verify::observe::{Observer, PacketKey, Seen};
use fwnet_apply::verify::packet::{LinkSender, Packet, SYN};

#[test]
fn observer_tells_drop_from_accept_and_kernel_takes_our_checksums() {
    let test = "observer_tells_drop_from_accept_and_kernel_takes_our_checksums";
    if !privileged(test) {
        return;
    }
    let spec = SiteSpec {
        links: vec!["eth0".into()],
        ..SiteSpec::default()
    };
    let site = Site::new("observe", &spec).unwrap_or_else(|e| panic!("{e}"));
    let link = site.links[0].clone();
    let (client, server) = (link.client_ip(), link.server_ip());
    // Only UDP to port 9 is dropped; everything else reaches the server's stack.
    let ruleset = "table ip t {\n chain in {\n type filter hook input priority 0;\n udp dport 9 drop\n }\n}\n";
    site.server
        .exec_stdin("nft", &["-f", "-"], ruleset)
        .unwrap_or_else(|e| panic!("{e}"));
    let sender = site
        .client
        .run_in(|| LinkSender::open(&link.name, link.server_mac()))
        .unwrap_or_else(|e| panic!("{e}"));
    let mut observer = Observer::start(&site.server, &[]).unwrap_or_else(|e| panic!("{e}"));
    // (packet, verdict, the server counter that must move by one, proving the stack took it)
    let cases = [
        (
            Packet::udp(client, 5000, server, 9),
            Seen::Dropped,
            ("Udp", "NoPorts"),
            0,
        ),
        (
            Packet::udp(client, 5000, server, 10),
            Seen::Accepted,
            ("Udp", "NoPorts"),
            1,
        ),
        (
            Packet::tcp(client, 5001, server, 22, SYN),
            Seen::Accepted,
            ("Tcp", "OutRsts"),
            1,
        ),
        (
            Packet::echo_request(client, server, 7, 1),
            Seen::Accepted,
            ("Icmp", "OutEchoReps"),
            1,
        ),
    ];
    for (n, (packet, want, (group, field), moves)) in cases.into_iter().enumerate() {
        let packet = packet.with_id(0x100 + n as u16);
        let key =
            PacketKey::of(&packet.to_bytes()).unwrap_or_else(|| panic!("no key for {packet:?}"));
        let before = observer
            .counter(group, field)
            .unwrap_or_else(|e| panic!("{e}"));
        let mark = observer.mark().unwrap_or_else(|e| panic!("{e}"));
        sender.send(&packet).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(observer.verdict(&key, mark), Ok(want), "{packet:?}");
        let after = observer
            .counter(group, field)
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(after - before, moves, "{group}:{field} for {packet:?}");
    }
    for group in ["Ip", "Icmp", "Tcp", "Udp"] {
        let field = if group == "Ip" {
            "InHdrErrors"
        } else {
            "InCsumErrors"
        };
        assert_eq!(
            observer.counter(group, field),
            Ok(0),
            "{group}:{field}: a crafted checksum is wrong"
        );
    }
}
