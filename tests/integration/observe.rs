//! The verdict observer of `fwnet verify` against the real kernel: it must tell drop from
//! accept, the kernel must take the probes' hand-made checksums, and a barrier frame behind a
//! probe must end the wait for its verdict.
//!
//! The observer itself is product code (`fwnet_apply::verify::observe`); this file only tests
//! it with a one-rule nft ruleset loaded by the `nft` oracle.

use crate::netns::{privileged, Site, SiteSpec};
use fwnet_apply::verify::observe::{Observer, PacketKey, Seen, GRACE};
use fwnet_apply::verify::packet::{LinkSender, OneCpu, Packet, SYN};
use std::time::Instant;

/// A site whose server drops UDP to port 9 (nft) and lets everything else reach its stack, a
/// sender on the client's side of its link and an observer in the server.
fn udp_9_dropped(name: &str) -> (Site, LinkSender, Observer) {
    let spec = SiteSpec {
        links: vec!["eth0".into()],
        ..SiteSpec::default()
    };
    let site = Site::new(name, &spec).unwrap_or_else(|e| panic!("{e}"));
    let link = site.links[0].clone();
    let ruleset = "table ip t {\n chain in {\n type filter hook input priority 0;\n udp dport 9 drop\n }\n}\n";
    site.server
        .exec_stdin("nft", &["-f", "-"], ruleset)
        .unwrap_or_else(|e| panic!("{e}"));
    let sender = site
        .client
        .run_in(|| LinkSender::open(&link.name, link.server_mac()))
        .unwrap_or_else(|e| panic!("{e}"));
    let observer = Observer::start(&site.server, &[]).unwrap_or_else(|e| panic!("{e}"));
    (site, sender, observer)
}

#[test]
fn observer_tells_drop_from_accept_and_kernel_takes_our_checksums() {
    let test = "observer_tells_drop_from_accept_and_kernel_takes_our_checksums";
    if !privileged(test) {
        return;
    }
    let (site, sender, mut observer) = udp_9_dropped("observe");
    let link = &site.links[0];
    let (client, server) = (link.client_ip(), link.server_ip());
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

/// A barrier frame sent behind a probe's packets from one CPU lets the observer decide as soon
/// as it arrives instead of waiting out [`GRACE`] for a drop, and never before the kernel has
/// judged the packets: every accepted packet, whole or in two fragments, is seen passing.
#[test]
fn a_barrier_behind_the_packets_decides_a_drop_without_waiting_out_the_grace() {
    let test = "a_barrier_behind_the_packets_decides_a_drop_without_waiting_out_the_grace";
    if !privileged(test) {
        return;
    }
    // INPUT sees a datagram whole (the kernel reassembles it before the hook): both fragments
    // of one to port 9 are dropped with it.
    let (site, sender, mut observer) = udp_9_dropped("barrier");
    let link = &site.links[0];
    let (client, server) = (link.client_ip(), link.server_ip());
    let rounds: u16 = 100;
    let started = Instant::now();
    let mut drops = 0;
    for n in 0..rounds {
        let cases = [
            (9, false, Seen::Dropped),
            (10, false, Seen::Accepted),
            (10, true, Seen::Accepted),
            (9, true, Seen::Dropped),
        ];
        for (i, (dport, fragmented, want)) in cases.into_iter().enumerate() {
            let id = 0x1000 + n * 4 + i as u16;
            let packet = Packet::udp(client, 20000 + n, server, dport).with_id(id);
            let wire = match fragmented {
                true => packet.fragments().to_vec(),
                false => vec![packet.to_bytes()],
            };
            let key = PacketKey::of(&wire[0]).unwrap_or_else(|| panic!("no key: {packet:?}"));
            let mark = observer.mark().unwrap_or_else(|e| panic!("{e}"));
            let one_cpu = OneCpu::hold().unwrap_or_else(|| panic!("cannot hold one CPU"));
            sender
                .send_pieces(&packet, &wire)
                .unwrap_or_else(|e| panic!("{e}"));
            sender
                .send_barrier(u32::from(id))
                .unwrap_or_else(|e| panic!("{e}"));
            drop(one_cpu);
            observer.barrier_follows(u32::from(id));
            let got = observer.verdict(&key, mark);
            assert_eq!(got, Ok(want), "{packet:?}, fragmented: {fragmented}");
            drops += u32::from(want == Seen::Dropped);
        }
    }
    // Waiting out the grace, the drops alone would take 200 x 20 ms.
    let took = started.elapsed();
    assert!(
        took < GRACE * drops / 4,
        "{drops} drops took {took:?}: the barrier did not end the wait"
    );
}
