//! Reading fwnet's tables back from the kernel, decoded by fwnet's own codec, and matching
//! each kernel rule against the stored ruleset so it can be shown with its source line.
//!
//! A kernel rule "matches" a stored rule when their bytecode is the same once the parts the
//! kernel fills in differently are set aside: counter values, set ids, the number the kernel
//! gave an anonymous set, and attributes the kernel always dumps (bitwise op).

use crate::batch::family_name;
use crate::report::{ChainStatus, HookStatus, RuleStatus, TableStatus};
use crate::session::Session;
use crate::{Error, OWNED_PREFIX};
use fwnet_netlink::consts::*;
use fwnet_netlink::Expr;
use fwnet_nft::{lower, print, Ruleset};

/// What the kernel holds in fwnet's tables. `stored` (the last import) is used to name each
/// rule's source line and to detect drift; without it rules are shown as bytecode.
pub fn status(stored: Option<&Ruleset>) -> Result<Vec<TableStatus>, Error> {
    let mut s = Session::open()?;
    let mut out = Vec::new();
    let tables: Vec<_> = s
        .tables()?
        .into_iter()
        .filter(|t| t.name.starts_with(OWNED_PREFIX))
        .collect();
    for t in tables {
        let chains: Vec<_> = s
            .chains(t.family)?
            .into_iter()
            .filter(|c| c.table == t.name)
            .collect();
        let rules = s.rules(t.family, &t.name)?;
        let sets: Vec<String> = s
            .sets(t.family, &t.name)?
            .into_iter()
            .filter(|set| set.flags.unwrap_or(0) & NFT_SET_ANONYMOUS == 0)
            .map(|set| set.name)
            .collect();
        let ir_table = stored.and_then(|rs| {
            rs.tables
                .iter()
                .find(|it| lower::family_code(it.family) == t.family && it.name == t.name)
        });
        let lowered = ir_table.map(|it| lower::table(it, 1));
        let mut drift = ir_table.is_none() && stored.is_some();
        let mut chain_out = Vec::new();
        for c in &chains {
            let stored_rules: Vec<(&lower::RuleCode, &fwnet_nft::Rule)> = match (&lowered, ir_table)
            {
                (Some(l), Some(it)) => {
                    let ir_rules = it
                        .chains
                        .iter()
                        .find(|ic| ic.name == c.name)
                        .map(|ic| &ic.rules[..])
                        .unwrap_or(&[]);
                    l.rules
                        .iter()
                        .filter(|r| r.chain == c.name)
                        .zip(ir_rules.iter())
                        .collect()
                }
                _ => Vec::new(),
            };
            let kernel_rules: Vec<_> = rules.iter().filter(|r| r.chain == c.name).collect();
            if lowered.is_some() && kernel_rules.len() != stored_rules.len() {
                drift = true;
            }
            let mut rule_out = Vec::new();
            for (i, kr) in kernel_rules.iter().enumerate() {
                let counter = kr.exprs.iter().find_map(|e| match e {
                    Expr::Counter { packets, bytes } => Some((*packets, *bytes)),
                    _ => None,
                });
                let matched = stored_rules.get(i).filter(|(code, _)| {
                    same_rule(&kr.exprs, &code.exprs) && kr.userdata == code.userdata
                });
                let (origin, text, rule_drift) = match matched {
                    Some((code, ir)) => (
                        code.origin.as_ref().map(|o| o.to_string()),
                        // The live counters have their own columns.
                        print::rule_text(&fwnet_nft::Rule {
                            stmts: ir
                                .stmts
                                .iter()
                                .filter(|s| !matches!(s, fwnet_nft::Stmt::Counter(_)))
                                .cloned()
                                .collect(),
                            ..(*ir).clone()
                        }),
                        false,
                    ),
                    None => (
                        None,
                        kr.exprs
                            .iter()
                            .map(|e| e.to_string())
                            .collect::<Vec<_>>()
                            .join(" "),
                        lowered.is_some(),
                    ),
                };
                drift |= rule_drift;
                rule_out.push(RuleStatus {
                    handle: kr.handle.unwrap_or(0),
                    packets: counter.map(|c| c.0),
                    bytes: counter.map(|c| c.1),
                    origin,
                    text,
                    drift: rule_drift,
                });
            }
            chain_out.push(ChainStatus {
                name: c.name.clone(),
                hook: c.hook.as_ref().map(|h| HookStatus {
                    kind: c.chain_type.clone().unwrap_or_else(|| "filter".into()),
                    hook: hook_name(h.hooknum),
                    priority: h.priority,
                    policy: match c.policy {
                        Some(p) if p == NF_DROP as u32 => "drop",
                        _ => "accept",
                    },
                    packets: c.counters.map(|c| c.packets),
                    bytes: c.counters.map(|c| c.bytes),
                }),
                rules: rule_out,
            });
        }
        out.push(TableStatus {
            family: family_name(t.family),
            name: t.name,
            chains: chain_out,
            sets,
            drift,
        });
    }
    Ok(out)
}

pub(crate) fn hook_name(h: u32) -> &'static str {
    match h {
        NF_INET_PRE_ROUTING => "prerouting",
        NF_INET_LOCAL_IN => "input",
        NF_INET_FORWARD => "forward",
        NF_INET_LOCAL_OUT => "output",
        NF_INET_POST_ROUTING => "postrouting",
        _ => "unknown",
    }
}

/// Equal bytecode, ignoring what the kernel fills in on its own.
pub fn same_rule(kernel: &[Expr], stored: &[Expr]) -> bool {
    kernel.len() == stored.len()
        && kernel
            .iter()
            .zip(stored)
            .all(|(a, b)| normalize(a) == normalize(b))
}

/// What the kernel makes of a nat expression: it fills in the range's upper registers with the
/// lower ones and sets MAP_IPS / PROTO_SPECIFIED when addresses / ports are given, so a
/// dumped rule differs from the sent one in exactly those attributes.
fn nat_regs(r: fwnet_netlink::NatRegs) -> fwnet_netlink::NatRegs {
    let mut flags = r.flags.unwrap_or(0);
    if r.addr_min.is_some() {
        flags |= NF_NAT_RANGE_MAP_IPS;
    }
    if r.proto_min.is_some() {
        flags |= NF_NAT_RANGE_PROTO_SPECIFIED;
    }
    fwnet_netlink::NatRegs {
        addr_max: r.addr_max.or(r.addr_min),
        proto_max: r.proto_max.or(r.proto_min),
        flags: (flags != 0).then_some(flags),
        ..r
    }
}

/// masquerade/redirect ports, as the kernel dumps them (see [`nat_regs`]).
fn port_regs(r: fwnet_netlink::PortRegs) -> fwnet_netlink::PortRegs {
    let mut flags = r.flags.unwrap_or(0);
    if r.proto_min.is_some() {
        flags |= NF_NAT_RANGE_PROTO_SPECIFIED;
    }
    fwnet_netlink::PortRegs {
        proto_max: r.proto_max.or(r.proto_min),
        flags: (flags != 0).then_some(flags),
        ..r
    }
}

fn normalize(e: &Expr) -> Expr {
    match e.clone() {
        Expr::Nat { kind, family, regs } => Expr::Nat {
            kind,
            family,
            regs: nat_regs(regs),
        },
        Expr::Masq(p) => Expr::Masq(port_regs(p)),
        Expr::Redir(p) => Expr::Redir(port_regs(p)),
        // The kernel dumps the syslog level it uses, warning (4), when none was sent.
        Expr::Log {
            prefix,
            level,
            flags,
            group: None,
            snaplen,
            qthreshold,
        } => Expr::Log {
            prefix,
            level: level.or(Some(4)),
            flags: flags.filter(|f| *f != 0),
            group: None,
            snaplen,
            qthreshold,
        },
        Expr::Counter { .. } => Expr::Counter {
            packets: 0,
            bytes: 0,
        },
        Expr::Bitwise {
            sreg,
            dreg,
            len,
            mask,
            xor,
            ..
        } => Expr::Bitwise {
            sreg,
            dreg,
            len,
            mask,
            xor,
            op: None,
        },
        Expr::Lookup {
            sreg,
            set,
            dreg,
            flags,
            ..
        } => Expr::Lookup {
            sreg,
            set: anon(set),
            set_id: None,
            dreg,
            flags,
        },
        Expr::Dynset {
            op,
            sreg_key,
            set,
            exprs,
            timeout_ms,
            ..
        } => Expr::Dynset {
            op,
            sreg_key,
            set: anon(set),
            set_id: None,
            timeout_ms: timeout_ms.filter(|t| *t != 0),
            exprs: exprs.iter().map(normalize).collect(),
        },
        // The kernel dumps every checksum attribute of a payload write, 0 when none was sent.
        Expr::PayloadSet(w) => Expr::PayloadSet(fwnet_netlink::PayloadWrite {
            csum_type: Some(w.csum_type.unwrap_or(0)),
            csum_offset: Some(w.csum_offset.unwrap_or(0)),
            csum_flags: Some(w.csum_flags.unwrap_or(0)),
            ..w
        }),
        // The kernel dumps the FLAGS of an exthdr write, 0 when none was sent.
        Expr::ExthdrSet(w) => Expr::ExthdrSet(fwnet_netlink::ExthdrWrite {
            flags: Some(w.flags.unwrap_or(0)),
            ..w
        }),
        other => other,
    }
}

/// Anonymous sets and maps are numbered per table (`__set0`, `__map1`, ...): the number says
/// nothing about the rule, so it is not compared.
fn anon(name: String) -> String {
    for prefix in ["__set", "__map"] {
        if name.starts_with(prefix) {
            return prefix.into();
        }
    }
    name
}

/// The packet counter of every rule of fwnet's table `family name`, per chain, in kernel
/// order (0 for a rule without a counter). One rules dump and nothing else: cheap enough to
/// sample before and after every packet, as `fwnet verify` does.
pub fn rule_counters(
    family: fwnet_nft::Family,
    table: &str,
) -> Result<Vec<(String, Vec<u64>)>, Error> {
    let mut s = Session::open()?;
    let mut out: Vec<(String, Vec<u64>)> = Vec::new();
    for (of, packets) in s.rule_counters(lower::family_code(family), table)? {
        let packets = packets.unwrap_or(0);
        match out.last_mut() {
            Some((chain, list)) if *chain == of => list.push(packets),
            _ => out.push((of, vec![packets])),
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use fwnet_netlink::NatRegs;

    /// Regression: a DNAT rule read back from the kernel showed as drift, because the kernel
    /// dumps `addr_max` and the MAP_IPS flag that fwnet (like nft) does not send.
    #[test]
    fn dnat_read_back_from_the_kernel_is_not_drift() {
        let sent = Expr::Nat {
            kind: 1,
            family: 2,
            regs: NatRegs {
                addr_min: Some(1),
                ..NatRegs::default()
            },
        };
        let dumped = Expr::Nat {
            kind: 1,
            family: 2,
            regs: NatRegs {
                addr_min: Some(1),
                addr_max: Some(1),
                flags: Some(NF_NAT_RANGE_MAP_IPS),
                ..NatRegs::default()
            },
        };
        assert!(same_rule(&[dumped], &[sent]));
    }
}
