//! `fwnet diff`: what `apply` would change, the stored ruleset against what the kernel holds
//! now, rule by rule.
//!
//! Rules are compared by bytecode (as `status` does, counters aside). Within a chain the
//! common beginning and end are kept and the differing middle is shown as the kernel's rules
//! going (`-`) and the stored ones coming (`+`); that is linear in the number of rules, so it
//! stays fast on 100k-rule tables, at the price of not finding moved blocks.

use crate::batch::family_name;
use crate::session::Session;
use crate::status::same_rule;
use crate::{Error, OWNED_PREFIX};
use fwnet_netlink::consts::*;
use fwnet_nft::{lower, print, Ruleset};
use serde::Serialize;

#[derive(Debug, Serialize)]
pub struct TableDiff {
    pub family: &'static str,
    pub name: String,
    /// `added`, `removed` or `changed` (tables with no difference are not listed).
    pub change: &'static str,
    pub chains: Vec<ChainDiff>,
}

#[derive(Debug, Serialize)]
pub struct ChainDiff {
    pub name: String,
    /// `added`, `removed` or `changed`.
    pub change: &'static str,
    /// `drop -> accept` when the base chain's policy or hook changes.
    pub base: Option<String>,
    pub rules: Vec<RuleDiff>,
}

#[derive(Debug, Serialize)]
pub struct RuleDiff {
    /// `+` (apply adds it) or `-` (apply removes it).
    pub op: char,
    /// nft syntax for stored rules; kernel bytecode for rules only the kernel has.
    pub text: String,
    /// `file:line` for stored rules.
    pub origin: Option<String>,
    /// The kernel's handle for rules the kernel has.
    pub handle: Option<u64>,
}

/// A stored chain: name, base-chain text, and its rules (bytecode with the IR they came from).
type StoredChain<'a> = (
    String,
    Option<String>,
    Vec<(&'a lower::RuleCode, &'a fwnet_nft::Rule)>,
);

struct KChain {
    name: String,
    base: Option<String>,
    rules: Vec<fwnet_netlink::Rule>,
}

fn base_text(
    hook: Option<&fwnet_netlink::Hook>,
    kind: Option<&str>,
    policy: Option<u32>,
) -> Option<String> {
    hook.map(|h| {
        format!(
            "type {} hook {} priority {}; policy {}",
            kind.unwrap_or("filter"),
            crate::status::hook_name(h.hooknum),
            h.priority,
            if policy == Some(NF_DROP as u32) {
                "drop"
            } else {
                "accept"
            }
        )
    })
}

/// The differences between `stored` and fwnet's tables in the kernel; empty when none.
pub fn diff(stored: &Ruleset) -> Result<Vec<TableDiff>, Error> {
    let mut s = Session::open()?;
    let kernel: Vec<_> = s
        .tables()?
        .into_iter()
        .filter(|t| t.name.starts_with(OWNED_PREFIX))
        .collect();
    let mut out = Vec::new();
    for t in &stored.tables {
        let code = lower::table(t, 1);
        let fam = code.family;
        let stored_chains: Vec<StoredChain> = code
            .chains
            .iter()
            .map(|c| {
                let ir = t
                    .chains
                    .iter()
                    .find(|ic| ic.name == c.name)
                    .map(|ic| &ic.rules[..])
                    .unwrap_or(&[]);
                let rules = code
                    .rules
                    .iter()
                    .filter(|r| r.chain == c.name)
                    .zip(ir.iter())
                    .collect();
                let hook = c.hook.as_ref().map(|h| fwnet_netlink::Hook {
                    hooknum: h.hooknum,
                    priority: h.priority,
                    ..Default::default()
                });
                (
                    c.name.clone(),
                    base_text(
                        hook.as_ref(),
                        c.hook.as_ref().map(|h| h.kind),
                        c.hook.as_ref().map(|h| h.policy),
                    ),
                    rules,
                )
            })
            .collect();
        if !kernel.iter().any(|k| k.family == fam && k.name == t.name) {
            out.push(TableDiff {
                family: family_name(fam),
                name: t.name.clone(),
                change: "added",
                chains: stored_chains
                    .into_iter()
                    .map(|(name, base, rules)| ChainDiff {
                        name,
                        change: "added",
                        base,
                        rules: rules.iter().map(|(c, ir)| added(c, ir)).collect(),
                    })
                    .collect(),
            });
            continue;
        }
        let kchains = kernel_chains(&mut s, fam, &t.name)?;
        let mut chains = Vec::new();
        for (name, base, rules) in &stored_chains {
            let Some(k) = kchains.iter().find(|k| &k.name == name) else {
                chains.push(ChainDiff {
                    name: name.clone(),
                    change: "added",
                    base: base.clone(),
                    rules: rules.iter().map(|(c, ir)| added(c, ir)).collect(),
                });
                continue;
            };
            let rule_diff = rules_diff(&k.rules, rules);
            let base_change = (k.base != *base).then(|| {
                format!(
                    "{} -> {}",
                    k.base.as_deref().unwrap_or("regular chain"),
                    base.as_deref().unwrap_or("regular chain")
                )
            });
            if !rule_diff.is_empty() || base_change.is_some() {
                chains.push(ChainDiff {
                    name: name.clone(),
                    change: "changed",
                    base: base_change,
                    rules: rule_diff,
                });
            }
        }
        for k in &kchains {
            if !stored_chains.iter().any(|(n, _, _)| *n == k.name) {
                chains.push(ChainDiff {
                    name: k.name.clone(),
                    change: "removed",
                    base: k.base.clone(),
                    rules: k.rules.iter().map(removed).collect(),
                });
            }
        }
        if !chains.is_empty() {
            out.push(TableDiff {
                family: family_name(fam),
                name: t.name.clone(),
                change: "changed",
                chains,
            });
        }
    }
    for k in &kernel {
        let fam_name = family_name(k.family);
        if !stored
            .tables
            .iter()
            .any(|t| lower::family_code(t.family) == k.family && t.name == k.name)
        {
            let kchains = kernel_chains(&mut s, k.family, &k.name)?;
            out.push(TableDiff {
                family: fam_name,
                name: k.name.clone(),
                change: "removed",
                chains: kchains
                    .into_iter()
                    .map(|c| ChainDiff {
                        name: c.name,
                        change: "removed",
                        base: c.base,
                        rules: c.rules.iter().map(removed).collect(),
                    })
                    .collect(),
            });
        }
    }
    Ok(out)
}

fn kernel_chains(s: &mut Session, family: u8, table: &str) -> Result<Vec<KChain>, Error> {
    let rules = s.rules(family, table)?;
    Ok(s.chains(family)?
        .into_iter()
        .filter(|c| c.table == table)
        .map(|c| KChain {
            base: base_text(c.hook.as_ref(), c.chain_type.as_deref(), c.policy),
            rules: rules
                .iter()
                .filter(|r| r.chain == c.name)
                .cloned()
                .collect(),
            name: c.name,
        })
        .collect())
}

fn added(code: &lower::RuleCode, ir: &fwnet_nft::Rule) -> RuleDiff {
    let plain = fwnet_nft::Rule {
        stmts: ir
            .stmts
            .iter()
            .filter(|s| !matches!(s, fwnet_nft::Stmt::Counter(_)))
            .cloned()
            .collect(),
        ..ir.clone()
    };
    RuleDiff {
        op: '+',
        text: print::rule_text(&plain),
        origin: code.origin.as_ref().map(|o| o.to_string()),
        handle: None,
    }
}

fn removed(r: &fwnet_netlink::Rule) -> RuleDiff {
    let text = r
        .exprs
        .iter()
        .filter(|e| !matches!(e, fwnet_netlink::Expr::Counter { .. }))
        .map(|e| e.to_string())
        .collect::<Vec<_>>()
        .join(" ");
    RuleDiff {
        op: '-',
        text,
        origin: None,
        handle: r.handle,
    }
}

fn same(k: &fwnet_netlink::Rule, s: &(&lower::RuleCode, &fwnet_nft::Rule)) -> bool {
    same_rule(&k.exprs, &s.0.exprs) && k.userdata == s.0.userdata
}

/// Cells of the LCS table above which the middle part is shown as a plain replacement.
const LCS_CELLS: usize = 4_000_000;

/// How kernel rules (`k`) line up with stored rules (`s`) of one chain.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Step {
    Same(usize, usize),
    Removed(usize),
    Added(usize),
}

/// The smallest edit from `kernel` to `stored`: common beginning and end, then a longest
/// common subsequence over the middle (or a plain replacement when the middle is huge).
fn align(
    kernel: &[fwnet_netlink::Rule],
    stored: &[(&lower::RuleCode, &fwnet_nft::Rule)],
) -> Vec<Step> {
    let prefix = kernel
        .iter()
        .zip(stored)
        .take_while(|(k, s)| same(k, s))
        .count();
    let (k_rest, s_rest) = (&kernel[prefix..], &stored[prefix..]);
    let suffix = k_rest
        .iter()
        .rev()
        .zip(s_rest.iter().rev())
        .take_while(|(k, s)| same(k, s))
        .count();
    let (n, m) = (k_rest.len() - suffix, s_rest.len() - suffix);
    let mut out: Vec<Step> = (0..prefix).map(|i| Step::Same(i, i)).collect();
    if n.saturating_mul(m) > LCS_CELLS {
        out.extend((0..n).map(|i| Step::Removed(prefix + i)));
        out.extend((0..m).map(|j| Step::Added(prefix + j)));
    } else {
        let (k_mid, s_mid) = (&k_rest[..n], &s_rest[..m]);
        let mut lcs = vec![vec![0u32; m + 1]; n + 1];
        for i in (0..n).rev() {
            for j in (0..m).rev() {
                lcs[i][j] = if same(&k_mid[i], &s_mid[j]) {
                    lcs[i + 1][j + 1] + 1
                } else {
                    lcs[i + 1][j].max(lcs[i][j + 1])
                };
            }
        }
        let (mut i, mut j) = (0, 0);
        while i < n || j < m {
            if i < n && j < m && same(&k_mid[i], &s_mid[j]) {
                out.push(Step::Same(prefix + i, prefix + j));
                i += 1;
                j += 1;
            } else if j < m && (i == n || lcs[i][j + 1] >= lcs[i + 1][j]) {
                out.push(Step::Added(prefix + j));
                j += 1;
            } else {
                out.push(Step::Removed(prefix + i));
                i += 1;
            }
        }
    }
    out.extend((0..suffix).map(|x| Step::Same(prefix + n + x, prefix + m + x)));
    out
}

fn rules_diff(
    kernel: &[fwnet_netlink::Rule],
    stored: &[(&lower::RuleCode, &fwnet_nft::Rule)],
) -> Vec<RuleDiff> {
    align(kernel, stored)
        .into_iter()
        .filter_map(|step| match step {
            Step::Same(..) => None,
            Step::Removed(i) => Some(removed(&kernel[i])),
            Step::Added(j) => Some(added(stored[j].0, stored[j].1)),
        })
        .collect()
}

/// `apply --keep-counters`: copies the kernel's packet and byte counters into `rs` for every
/// rule that is unchanged (same bytecode, aligned as `diff` aligns them) and for base-chain
/// policies, so a re-apply does not reset them. Returns how many rules kept their counters.
pub fn carry_counters(rs: &mut Ruleset) -> Result<usize, Error> {
    let mut s = Session::open()?;
    let kernel: Vec<_> = s
        .tables()?
        .into_iter()
        .filter(|t| t.name.starts_with(OWNED_PREFIX))
        .collect();
    let mut kept = 0;
    for t in rs.tables.iter_mut() {
        let code = lower::table(t, 1);
        if !kernel
            .iter()
            .any(|k| k.family == code.family && k.name == t.name)
        {
            continue;
        }
        let kchains = s.chains(code.family)?;
        let krules = s.rules(code.family, &t.name)?;
        for chain in t.chains.iter_mut() {
            let Some(kc) = kchains
                .iter()
                .find(|c| c.table == t.name && c.name == chain.name)
            else {
                continue;
            };
            if let (Some(base), Some(c)) = (chain.base.as_mut(), kc.counters) {
                base.counters = Some(fwnet_nft::Counters {
                    packets: c.packets,
                    bytes: c.bytes,
                });
            }
            let kr: Vec<fwnet_netlink::Rule> = krules
                .iter()
                .filter(|r| r.chain == chain.name)
                .cloned()
                .collect();
            let codes: Vec<&lower::RuleCode> = code
                .rules
                .iter()
                .filter(|r| r.chain == chain.name)
                .collect();
            let snapshot = chain.rules.clone();
            let stored: Vec<(&lower::RuleCode, &fwnet_nft::Rule)> =
                codes.into_iter().zip(snapshot.iter()).collect();
            for step in align(&kr, &stored) {
                let Step::Same(i, j) = step else { continue };
                let counter = kr[i].exprs.iter().find_map(|e| match e {
                    fwnet_netlink::Expr::Counter { packets, bytes } => Some((*packets, *bytes)),
                    _ => None,
                });
                if let Some((packets, bytes)) = counter {
                    for st in chain.rules[j].stmts.iter_mut() {
                        if let fwnet_nft::Stmt::Counter(c) = st {
                            *c = fwnet_nft::Counters { packets, bytes };
                            kept += 1;
                        }
                    }
                }
            }
        }
    }
    Ok(kept)
}
