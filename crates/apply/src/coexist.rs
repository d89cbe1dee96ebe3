//! Other firewalls on the same hooks: docker, libvirt, firewalld, fail2ban, iptables-nft (all
//! nf_tables tables fwnet does not own) and legacy iptables (x_tables, which nf_tables cannot
//! list; the kernel names its loaded tables in /proc/net/ip_tables_names).
//!
//! What matters for a user is netfilter's rule: on one hook every base chain sees the packet
//! in priority order, an accept only ends *that* chain, and a drop anywhere is final. So a
//! foreign chain that drops can override fwnet's accepts, and fwnet's drops override foreign
//! accepts. This module lists the foreign chains and says where that happens; it reads only.

use crate::batch::family_name;
use crate::session::Session;
use crate::status::hook_name;
use crate::{Error, OWNED_PREFIX};
use fwnet_netlink::consts::*;
use fwnet_netlink::{Expr, ImmData, Verdict};
use serde::Serialize;

#[derive(Debug, Default, Serialize)]
pub struct Neighbours {
    /// Base chains of tables fwnet does not own.
    pub chains: Vec<ForeignChain>,
    /// Legacy iptables tables loaded in this network namespace (`filter`, `nat`, ...), per
    /// family (`ip`, `ip6`).
    pub legacy: Vec<String>,
    pub warnings: Vec<String>,
}

#[derive(Debug, Serialize)]
pub struct ForeignChain {
    pub family: &'static str,
    pub table: String,
    pub chain: String,
    pub hook: &'static str,
    pub priority: i32,
    pub policy: &'static str,
    pub rules: usize,
    /// Rules that end in a drop (or reject) verdict.
    pub drop_rules: usize,
}

struct Base {
    family: u8,
    hook: u32,
    drops: bool,
}

fn drops(rule: &fwnet_netlink::Rule) -> bool {
    rule.exprs.iter().any(|e| {
        matches!(
            e,
            Expr::Immediate {
                data: ImmData::Verdict(Verdict::Drop),
                ..
            } | Expr::Reject { .. }
        )
    })
}

/// Families whose hooks a table in `family` shares: inet tables see both IPv4 and IPv6.
fn overlaps(a: u8, b: u8) -> bool {
    a == b
        || a == NFPROTO_INET && (b == NFPROTO_IPV4 || b == NFPROTO_IPV6)
        || b == NFPROTO_INET && (a == NFPROTO_IPV4 || a == NFPROTO_IPV6)
}

pub fn neighbours() -> Result<Neighbours, Error> {
    let mut s = Session::open()?;
    let mut out = Neighbours::default();
    let tables = s.tables()?;
    let mut ours: Vec<Base> = Vec::new();
    let mut theirs: Vec<(ForeignChain, Base)> = Vec::new();
    for t in &tables {
        let chains: Vec<_> = s
            .chains(t.family)?
            .into_iter()
            .filter(|c| c.table == t.name && c.hook.is_some())
            .collect();
        if chains.is_empty() {
            continue;
        }
        let rules = s.rules(t.family, &t.name)?;
        for c in chains {
            let Some(h) = &c.hook else { continue };
            let mine: Vec<_> = rules.iter().filter(|r| r.chain == c.name).collect();
            let drop_policy = c.policy == Some(NF_DROP as u32);
            let drop_rules = mine.iter().filter(|r| drops(r)).count();
            let base = Base {
                family: t.family,
                hook: h.hooknum,
                drops: drop_policy || drop_rules > 0,
            };
            if t.name.starts_with(OWNED_PREFIX) {
                ours.push(base);
            } else {
                theirs.push((
                    ForeignChain {
                        family: family_name(t.family),
                        table: t.name.clone(),
                        chain: c.name.clone(),
                        hook: hook_name(h.hooknum),
                        priority: h.priority,
                        policy: if drop_policy { "drop" } else { "accept" },
                        rules: mine.len(),
                        drop_rules,
                    },
                    base,
                ));
            }
        }
    }
    for (fc, base) in &theirs {
        let shared: Vec<&Base> = ours
            .iter()
            .filter(|o| o.hook == base.hook && overlaps(o.family, base.family))
            .collect();
        if shared.is_empty() {
            continue;
        }
        if fc.policy == "drop" || fc.drop_rules > 0 {
            out.warnings.push(format!(
                "table {} {} chain {} (hook {}, priority {}) drops packets ({}): a drop there is final, so it overrides fwnet's accepts on the same hook",
                fc.family,
                fc.table,
                fc.chain,
                fc.hook,
                fc.priority,
                if fc.policy == "drop" { "policy drop".to_string() } else { format!("{} drop rule(s)", fc.drop_rules) }
            ));
        }
        if shared.iter().any(|o| o.drops) {
            out.warnings.push(format!(
                "fwnet's drops on hook {} are final for table {} {} too: its accepts cannot let through what fwnet drops",
                fc.hook, fc.family, fc.table
            ));
        }
    }
    out.chains = theirs.into_iter().map(|(fc, _)| fc).collect();
    for (file, fam) in [
        ("/proc/thread-self/net/ip_tables_names", "ip"),
        ("/proc/thread-self/net/ip6_tables_names", "ip6"),
    ] {
        if let Ok(text) = std::fs::read_to_string(file) {
            for name in text.split_whitespace() {
                out.legacy.push(format!("{fam} {name}"));
            }
        }
    }
    if !out.legacy.is_empty() {
        out.warnings.push(format!(
            "legacy iptables tables are loaded ({}): they filter the same packets alongside fwnet's; remove them (iptables-legacy -F/-X, or stop the iptables service) once fwnet is in place",
            out.legacy.join(", ")
        ));
    }
    Ok(out)
}
