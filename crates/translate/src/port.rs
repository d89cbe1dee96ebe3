//! Port values shared by the tcp, udp and multiport matches: `22`, `ssh`, `1000:2000`, `:1023`,
//! `1024:`.
//!
//! iptables resolves service names through /etc/services on the machine that loads the rules.
//! fwnet knows the IANA names that are the same everywhere, and asks the importing host's
//! services database for the others, as it does for host and user names ([`crate::names`];
//! refused with `--no-resolve`).

use crate::rule::Cx;
use fwnet_iptables::Opt;
use fwnet_nft::Value;

const SERVICES: &[(&str, u16)] = &[
    ("ftp-data", 20),
    ("ftp", 21),
    ("ssh", 22),
    ("telnet", 23),
    ("smtp", 25),
    ("domain", 53),
    ("bootps", 67),
    ("bootpc", 68),
    ("tftp", 69),
    ("http", 80),
    ("www", 80),
    ("pop3", 110),
    ("sunrpc", 111),
    ("auth", 113),
    ("ntp", 123),
    ("imap", 143),
    ("snmp", 161),
    ("ldap", 389),
    ("https", 443),
    ("smtps", 465),
    ("submission", 587),
    ("ldaps", 636),
    ("imaps", 993),
    ("pop3s", 995),
    ("mysql", 3306),
    ("iax", 4569),
    ("sip", 5060),
    ("sip-tls", 5061),
    ("git", 9418),
];

/// One port number or service name.
pub(crate) fn port(s: &str) -> Option<u16> {
    if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) {
        return s.parse().ok();
    }
    SERVICES
        .iter()
        .find(|(name, _)| *name == s)
        .map(|(_, p)| *p)
}

/// A port or an inclusive range (`a:b`, `:b`, `a:`); `Num` when the range is one port.
#[cfg(test)]
fn port_or_range(s: &str) -> Result<Value, String> {
    port_or_range_with(s, &mut |_| None, false)
}

/// A port or an inclusive range in a rule: a service name fwnet does not know is asked of the rule's
/// resolver ([`crate::names`]) for `proto`, the protocol libxtables would ask with (`None`:
/// any), and reported with the port it became.
pub(crate) fn port_or_range_in(
    s: &str,
    proto: Option<&str>,
    opt: &Opt,
    cx: &mut Cx,
) -> Result<Value, String> {
    let asks = cx.names.is_some();
    port_or_range_with(s, &mut |name| host_service(name, proto, opt, cx), asks)
}

fn port_or_range_with(
    s: &str,
    other: &mut dyn FnMut(&str) -> Option<u16>,
    asks: bool,
) -> Result<Value, String> {
    let mut one = |p: &str| port(p).or_else(|| other(p)).ok_or_else(|| unknown(p, asks));
    let Some((lo, hi)) = s.split_once(':') else {
        return one(s).map(|p| Value::Num(u64::from(p)));
    };
    let lo = if lo.is_empty() { 0 } else { one(lo)? };
    let hi = if hi.is_empty() { 65535 } else { one(hi)? };
    if lo > hi {
        return Err(format!(
            "the range `{s}` starts above its end; write it as `{hi}:{lo}`"
        ));
    }
    Ok(if lo == hi {
        Value::Num(u64::from(lo))
    } else {
        Value::Range(u64::from(lo), u64::from(hi))
    })
}

/// Service `name` from the host's services database, through the rule's resolver.
fn host_service(name: &str, proto: Option<&str>, opt: &Opt, cx: &mut Cx) -> Option<u16> {
    if name.is_empty() || name.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let port = cx.names?.service(name, proto).ok()??;
    let for_proto = proto.map(|p| format!("/{p}")).unwrap_or_default();
    cx.warn(
        "translate/resolved-name",
        &opt.loc,
        format!("service `{name}` is port {port}{for_proto} in this host's services database"),
        "iptables-restore looks service names up when it loads the rules, `fwnet import` when it reads them: the stored ruleset keeps the number (fwnet knows the common IANA names itself; `--no-resolve` refuses the others)",
    );
    Some(port)
}

fn unknown(s: &str, asked: bool) -> String {
    if asked {
        format!("`{s}` is not a port number (0-65535), a service name fwnet knows, or a service of this host's services database; write the number")
    } else {
        format!(
            "`{s}` is not a port number (0-65535) or a service name fwnet knows; write the number"
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn open_ranges_run_to_the_ends() {
        assert_eq!(port_or_range(":1023"), Ok(Value::Range(0, 1023)));
        assert_eq!(port_or_range("1024:"), Ok(Value::Range(1024, 65535)));
        assert_eq!(port_or_range("22:22"), Ok(Value::Num(22)));
        assert_eq!(port_or_range("ssh"), Ok(Value::Num(22)));
        assert!(port_or_range("65536").is_err());
        assert!(port_or_range("2000:1000").is_err());
    }
}
