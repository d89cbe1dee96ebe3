//! IP protocol names as `iptables -p` takes them: the ones iptables 1.4 knows without
//! /etc/protocols, and the common ones it reads from there. The translator reads `-p` with
//! them; `fwnet verify` names its probes of other protocols with them (`proto gre ...`).

/// Name and number; a number may have two names (`icmpv6`, `ipv6-icmp`), the first is used
/// to name it.
pub const IPTABLES: &[(&str, u8)] = &[
    ("icmp", 1),
    ("igmp", 2),
    ("ipencap", 4),
    ("tcp", 6),
    ("udp", 17),
    ("ipv6", 41),
    ("gre", 47),
    ("esp", 50),
    ("ah", 51),
    ("icmpv6", 58),
    ("ipv6-icmp", 58),
    ("ospf", 89),
    ("pim", 103),
    ("vrrp", 112),
    ("l2tp", 115),
    ("sctp", 132),
    ("udplite", 136),
];

/// The name of protocol `p`, if it has one.
pub fn name(p: u8) -> Option<&'static str> {
    IPTABLES
        .iter()
        .find(|(_, n)| *n == p)
        .map(|(name, _)| *name)
}

/// The number of protocol `name` (lower case).
pub fn number(name: &str) -> Option<u8> {
    IPTABLES.iter().find(|(n, _)| *n == name).map(|(_, p)| *p)
}
