//! Snapshots of fwnet's tables as the kernel holds them, and putting one back.
//!
//! A snapshot is what `apply --confirm` saves before it changes anything, and what the
//! watchdog and `fwnet rollback` restore. It is taken from the kernel, not from the state
//! file, so that whatever was really running comes back (even if it was changed by hand).
//!
//! On disk a snapshot is a small header line followed by the netlink messages that recreate
//! it (NEWTABLE, NEWCHAIN, NEWSET, NEWSETELEM, NEWOBJ, NEWRULE), exactly as the codec encodes
//! them; so the format is the kernel's own. Kernel-assigned attributes (handles, use counts, positions)
//! and attributes fwnet does not model are dropped before saving. Set elements that carry
//! expressions (hashlimit buckets, connlimit counts: elements a rule made in a dynamic set)
//! are runtime state and are not saved: after a rollback every bucket starts full again, as
//! after a reboot. Other elements are saved, those rules added to a set (an ipset's `-j SET`,
//! a `recent` list) included; one with a timeout comes back with its whole timeout.

use crate::batch::{family_name, Plan, What};
use crate::session::{Outcome, Session};
use crate::{Error, OWNED_PREFIX};
use fwnet_netlink::consts::*;
use fwnet_netlink::{
    parse_replies, Batch, Chain, Obj, Object, ReplyBody, Rule, Set, SetElemList, Table,
};

const MAGIC: &str = "fwnet-snapshot 1\n";

/// fwnet's tables as the kernel held them.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Snapshot {
    pub tables: Vec<SnapTable>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SnapTable {
    pub table: Table,
    pub chains: Vec<Chain>,
    pub sets: Vec<(Set, Option<SetElemList>)>,
    pub rules: Vec<Rule>,
    /// Stateful objects (ct helpers), restored before the rules that refer to them.
    pub objs: Vec<Obj>,
}

impl Snapshot {
    /// Reads fwnet's tables from the kernel of the calling thread's network namespace.
    pub fn take() -> Result<Snapshot, Error> {
        let mut s = Session::open()?;
        take_with(&mut s)
    }

    pub fn rule_count(&self) -> usize {
        self.tables.iter().map(|t| t.rules.len()).sum()
    }

    /// `ip fwnet_filter, ip fwnet_nat` or `no fwnet tables`.
    pub fn describe(&self) -> String {
        if self.tables.is_empty() {
            return "no fwnet tables".into();
        }
        self.tables
            .iter()
            .map(|t| format!("{} {}", family_name(t.table.family), t.table.name))
            .collect::<Vec<_>>()
            .join(", ")
    }

    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = MAGIC.as_bytes().to_vec();
        for t in &self.tables {
            out.extend(t.table.encode(NFT_MSG_NEWTABLE, NLM_F_CREATE, 0));
            for c in &t.chains {
                out.extend(c.encode(NFT_MSG_NEWCHAIN, NLM_F_CREATE, 0));
            }
            for (set, elems) in &t.sets {
                out.extend(set.encode(NFT_MSG_NEWSET, NLM_F_CREATE, 0));
                if let Some(e) = elems {
                    out.extend(e.encode(NFT_MSG_NEWSETELEM, NLM_F_CREATE, 0));
                }
            }
            for o in &t.objs {
                out.extend(o.encode(NFT_MSG_NEWOBJ, NLM_F_CREATE, 0));
            }
            for r in &t.rules {
                out.extend(r.encode(NFT_MSG_NEWRULE, NLM_F_CREATE | NLM_F_APPEND, 0));
            }
        }
        out
    }

    pub fn from_bytes(bytes: &[u8]) -> Result<Snapshot, String> {
        let body = bytes
            .strip_prefix(MAGIC.as_bytes())
            .ok_or("not an fwnet snapshot (bad header)")?;
        let mut snap = Snapshot::default();
        for r in parse_replies(body) {
            let r = r.map_err(|e| format!("damaged snapshot: {e}"))?;
            let current = snap.tables.last_mut();
            match (r.body, current) {
                (ReplyBody::Table(t), _) => snap.tables.push(SnapTable {
                    table: t,
                    ..SnapTable::default()
                }),
                (ReplyBody::Chain(c), Some(t)) => t.chains.push(c),
                (ReplyBody::Set(s), Some(t)) => t.sets.push((s, None)),
                (ReplyBody::SetElems(e), Some(t)) => {
                    if let Some(last) = t.sets.last_mut() {
                        last.1 = Some(e);
                    }
                }
                (ReplyBody::Rule(rule), Some(t)) => t.rules.push(rule),
                (ReplyBody::Obj(o), Some(t)) => t.objs.push(o),
                _ => return Err("damaged snapshot: an object outside its table".into()),
            }
        }
        Ok(snap)
    }
}

fn take_with(s: &mut Session) -> Result<Snapshot, Error> {
    let mut snap = Snapshot::default();
    let tables: Vec<Table> = s
        .tables()?
        .into_iter()
        .filter(|t| t.name.starts_with(OWNED_PREFIX))
        .collect();
    for t in tables {
        let (family, name) = (t.family, t.name.clone());
        let chains = s
            .chains(family)?
            .into_iter()
            .filter(|c| c.table == name)
            .map(|c| Chain {
                family,
                table: c.table,
                name: c.name,
                hook: c.hook.map(|h| fwnet_netlink::Hook {
                    other: Vec::new(),
                    ..h
                }),
                policy: c.policy,
                chain_type: c.chain_type,
                counters: c.counters,
                flags: c
                    .flags
                    .filter(|f| *f & !NFT_CHAIN_BASE != 0)
                    .map(|f| f & !NFT_CHAIN_BASE),
                userdata: c.userdata,
                ..Chain::default()
            })
            .collect();
        let rules: Vec<Rule> = s
            .rules(family, &name)?
            .into_iter()
            .map(|r| Rule {
                family,
                table: r.table,
                chain: r.chain,
                exprs: r.exprs.into_iter().map(without_zero_timeout).collect(),
                userdata: r.userdata,
                ..Rule::default()
            })
            .collect();
        // Sets that rules update with per-element state (hashlimit's buckets, connlimit's
        // counts): every element is runtime state, dropped below anyway, so they are not read
        // at all (65,000 hashlimit buckets took 0.8 s and 35 MB to read and drop).
        let stateful: std::collections::BTreeSet<&str> = rules
            .iter()
            .flat_map(|r| &r.exprs)
            .filter_map(|e| match e {
                fwnet_netlink::Expr::Dynset { set, exprs, .. } if !exprs.is_empty() => {
                    Some(set.as_str())
                }
                _ => None,
            })
            .collect();
        let mut sets = Vec::new();
        for set in s.sets(family, &name)? {
            let elems = if stateful.contains(set.name.as_str()) {
                None
            } else {
                let e = s.set_elems(family, &name, &set.name)?;
                // A dynamic set's elements that carry expressions (hashlimit's and connlimit's
                // per-key state) are runtime state; the others are addresses like any set's.
                let e: Vec<_> = e.into_iter().filter(|el| !has_expressions(el)).collect();
                (!e.is_empty()).then(|| SetElemList {
                    family,
                    table: name.clone(),
                    set: set.name.clone(),
                    elements: e
                        .into_iter()
                        .map(|el| fwnet_netlink::SetElem {
                            key: el.key,
                            key_end: el.key_end,
                            data: el.data,
                            flags: el.flags.filter(|f| *f != 0),
                            timeout_ms: el.timeout_ms,
                            userdata: el.userdata,
                            ..fwnet_netlink::SetElem::default()
                        })
                        .collect(),
                    ..SetElemList::default()
                })
            };
            let clean = Set {
                family,
                table: set.table,
                name: set.name,
                flags: set.flags,
                key_type: set.key_type,
                key_len: set.key_len,
                data_type: set.data_type,
                data_len: set.data_len,
                policy: set.policy,
                desc: set.desc.map(|d| fwnet_netlink::SetDesc {
                    other: Vec::new(),
                    ..d
                }),
                timeout_ms: set.timeout_ms,
                gc_interval_ms: set.gc_interval_ms,
                userdata: set.userdata,
                ..Set::default()
            };
            sets.push((clean, elems));
        }
        let objs = s
            .objs(family, &name)?
            .into_iter()
            .map(|o| Obj {
                family,
                table: o.table,
                name: o.name,
                kind: o.kind,
                data: o.data,
                userdata: o.userdata,
                ..Obj::default()
            })
            .collect();
        let table = Table {
            family,
            name,
            flags: t.flags.filter(|f| *f != 0),
            userdata: t.userdata,
            ..Table::default()
        };
        snap.tables.push(SnapTable {
            table,
            chains,
            sets,
            rules,
            objs,
        });
    }
    Ok(snap)
}

/// Replaces fwnet's tables with the snapshot's, in one transaction (an empty snapshot removes
/// them). Returns the snapshot's description.
pub fn restore(snap: &Snapshot) -> Result<String, Error> {
    let mut s = Session::open()?;
    let kernel = crate::features::probe(&mut s)?;
    for _ in 0..crate::GENERATION_RETRIES {
        let generation = s.generation()?;
        let existing = s.owned_tables()?;
        let mut b = Batch::begin(s.next_seq(1 << 20), NLM_F_ACK, Some(generation));
        let mut what = Vec::new();
        let mut set_id = 0;
        for (family, name) in &existing {
            b.push(
                NFT_MSG_DELTABLE,
                0,
                &Table {
                    family: *family,
                    name: name.clone(),
                    ..Table::default()
                },
            );
            what.push(What::Text(format!(
                "deleting table {} {name}",
                family_name(*family)
            )));
        }
        for t in &snap.tables {
            let tname = format!("table {} {}", family_name(t.table.family), t.table.name);
            b.push(NFT_MSG_NEWTABLE, NLM_F_CREATE, &t.table);
            what.push(What::Text(tname.clone()));
            for c in &t.chains {
                b.push(NFT_MSG_NEWCHAIN, NLM_F_CREATE, c);
                what.push(What::Text(format!("chain {} in {tname}", c.name)));
            }
            for (set, elems) in &t.sets {
                // The kernel requires NFTA_SET_ID on NEWSET; ids only need to be unique in
                // the batch.
                set_id += 1;
                let set = &Set {
                    id: Some(set_id),
                    ..set.clone()
                };
                b.push(NFT_MSG_NEWSET, NLM_F_CREATE, set);
                what.push(What::Text(format!("set {} in {tname}", set.name)));
                if let Some(e) = elems {
                    b.push(NFT_MSG_NEWSETELEM, NLM_F_CREATE, e);
                    what.push(What::Text(format!(
                        "elements of set {} in {tname}",
                        set.name
                    )));
                }
            }
            for o in &t.objs {
                b.push(NFT_MSG_NEWOBJ, NLM_F_CREATE, o);
                what.push(What::Text(format!("object {} in {tname}", o.name)));
            }
            for r in &t.rules {
                b.push(NFT_MSG_NEWRULE, NLM_F_CREATE | NLM_F_APPEND, r);
                what.push(What::Text(format!("rule of chain {} in {tname}", r.chain)));
            }
        }
        let plan = Plan {
            batch: b.end(),
            what,
            names: Vec::new(),
            hints: Default::default(),
            tables: Vec::new(),
            removed: Vec::new(),
            generation,
        };
        match s.run_batch(&plan, &kernel)? {
            Outcome::Done => return Ok(snap.describe()),
            Outcome::GenerationChanged => continue,
        }
    }
    Err(Error::GenerationChanged)
}

/// The kernel dumps a dynset's NFTA_DYNSET_TIMEOUT even when it is 0 (none was given), but
/// refuses the attribute (EOPNOTSUPP) for a set without the timeout flag: leave a zero out, as
/// nft does, which gives the kernel the same rule.
fn without_zero_timeout(e: fwnet_netlink::Expr) -> fwnet_netlink::Expr {
    match e {
        fwnet_netlink::Expr::Dynset {
            op,
            sreg_key,
            set,
            set_id,
            timeout_ms: Some(0),
            exprs,
        } => fwnet_netlink::Expr::Dynset {
            op,
            sreg_key,
            set,
            set_id,
            timeout_ms: None,
            exprs,
        },
        other => other,
    }
}

/// Whether a set element holds expressions of its own (NFTA_SET_ELEM_EXPR/_EXPRESSIONS).
fn has_expressions(el: &fwnet_netlink::SetElem) -> bool {
    el.other
        .iter()
        .any(|(kind, _)| matches!(*kind, NFTA_SET_ELEM_EXPR | NFTA_SET_ELEM_EXPRESSIONS))
}
