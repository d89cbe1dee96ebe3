//! Composing the replace transaction: BEGIN (with the generation id), deletes of the owned
//! tables that exist (which deletes their objects too), then for each new table: table,
//! chains, sets and their elements, ct helper objects, rules; END (or no END for a dry run).
//! Each message remembers what it was and which input line it came from, so a kernel error can
//! name it.

use crate::report::{Applied, TableReport};
use crate::{Features, Mode};
use fwnet_netlink::consts::*;
use fwnet_netlink::{
    Batch, Chain, Counters, CtHelper, EncodedBatch, Hook, ImmData, Obj, ObjData, Rule, Set,
    SetDesc, SetElem, SetElemList, Table,
};
use fwnet_nft::lower;
use fwnet_nft::Ruleset;
use std::collections::HashMap;

/// Elements per NEWSETELEM message; keeps each message far below the netlink size limits.
const ELEMENTS_PER_MESSAGE: usize = 2048;

/// A table the kernel holds now: (family, name).
pub type TableKey = (u8, String);

pub struct Plan {
    pub batch: EncodedBatch,
    /// One entry per pushed message, in order: what it was and where it came from
    /// ([`Plan::describe`]).
    pub what: Vec<What>,
    /// Names [`What::Rule`] refers to: "table ip fwnet_filter", chain names.
    pub names: Vec<String>,
    /// The newer kernel features a rule message needs (by push index), for the rules that
    /// need any: said when a kernel refuses one.
    pub hints: HashMap<usize, String>,
    pub tables: Vec<TableReport>,
    pub removed: Vec<String>,
    pub generation: u32,
}

/// One message of the batch, as an error names it. Rules, by far the most messages, are kept
/// as indices and formatted only when the kernel refuses one.
pub enum What {
    Text(String),
    /// Rule `n` (from 1) of chain `names[chain]` in `names[table]`.
    Rule {
        table: u32,
        chain: u32,
        n: u32,
        origin: Option<fwnet_nft::Origin>,
    },
}

impl Plan {
    /// What message `i` was and the input line it came from.
    pub fn describe(&self, i: usize) -> Option<(String, Option<String>)> {
        let name = |k: &u32| self.names.get(*k as usize).map_or("?", String::as_str);
        Some(match self.what.get(i)? {
            What::Text(t) => (t.clone(), None),
            What::Rule {
                table,
                chain,
                n,
                origin,
            } => (
                format!("rule {n} of chain {} in {}", name(chain), name(table)),
                origin.as_ref().map(|o| o.to_string()),
            ),
        })
    }

    pub fn report(self, mode: Mode, kernel: Features) -> Applied {
        Applied {
            messages: self.what.len() + 1 + usize::from(self.batch.end_seq.is_some()),
            bytes: self.batch.bytes.len(),
            tables: self.tables,
            removed: self.removed,
            generation: self.generation,
            check_only: mode == Mode::Check,
            kernel,
        }
    }
}

pub fn family_name(f: u8) -> &'static str {
    match f {
        NFPROTO_IPV4 => "ip",
        NFPROTO_IPV6 => "ip6",
        NFPROTO_INET => "inet",
        NFPROTO_ARP => "arp",
        NFPROTO_BRIDGE => "bridge",
        NFPROTO_NETDEV => "netdev",
        _ => "unknown",
    }
}

pub fn compose(
    rs: &Ruleset,
    generation: u32,
    existing: &[TableKey],
    mode: Mode,
    first_seq: u32,
    kernel: &Features,
) -> Plan {
    let mut b = Batch::begin(first_seq, NLM_F_ACK, Some(generation));
    let mut what = Vec::new();
    let mut names = Vec::new();
    let mut hints = HashMap::new();
    let mut removed = Vec::new();
    let new_keys: Vec<TableKey> = rs
        .tables
        .iter()
        .map(|t| (lower::family_code(t.family), t.name.clone()))
        .collect();
    for (family, name) in existing {
        let t = Table {
            family: *family,
            name: name.clone(),
            ..Table::default()
        };
        // Both are safe under the generation id (the table was in the dump); DESTROYTABLE
        // (6.3) also tolerates a table that vanished meanwhile.
        let delete = if kernel.destroy_table {
            NFT_MSG_DESTROYTABLE
        } else {
            NFT_MSG_DELTABLE
        };
        b.push(delete, 0, &t);
        what.push(What::Text(format!(
            "deleting table {} {name}",
            family_name(*family)
        )));
        if !new_keys.contains(&(*family, name.clone())) {
            removed.push(format!("{} {name}", family_name(*family)));
        }
    }
    let mut tables = Vec::new();
    let mut next_set_id = 1;
    for t in &rs.tables {
        // The table's rules are lowered one at a time, straight into the batch: a 100k-rule
        // table lowered all at once would hold its bytecode twice.
        let (code, mut rules) = lower::table_head(t, next_set_id);
        let rule_count = push_table(&mut b, &mut what, &mut names, &mut hints, &code, &mut rules);
        next_set_id = rules.next_set_id();
        tables.push(TableReport {
            family: family_name(code.family),
            name: code.name.clone(),
            chains: code.chains.len(),
            sets: t.sets.len(),
            rules: rule_count,
        });
    }
    let batch = match mode {
        Mode::Commit => b.end(),
        Mode::Check => b.end_without_commit(),
    };
    Plan {
        batch,
        what,
        names,
        hints,
        tables,
        removed,
        generation,
    }
}

fn push_table(
    b: &mut Batch,
    what: &mut Vec<What>,
    names: &mut Vec<String>,
    hints: &mut HashMap<usize, String>,
    t: &lower::TableCode,
    rules: &mut lower::RuleLowering,
) -> usize {
    let fam = t.family;
    let tname = format!("table {} {}", family_name(fam), t.name);
    b.push(
        NFT_MSG_NEWTABLE,
        NLM_F_CREATE,
        &Table {
            family: fam,
            name: t.name.clone(),
            ..Table::default()
        },
    );
    what.push(What::Text(tname.clone()));
    let table_index = names.len() as u32;
    names.push(tname.clone());
    for c in &t.chains {
        let chain = Chain {
            family: fam,
            table: t.name.clone(),
            name: c.name.clone(),
            hook: c.hook.as_ref().map(|h| Hook {
                hooknum: h.hooknum,
                priority: h.priority,
                ..Hook::default()
            }),
            policy: c.hook.as_ref().map(|h| h.policy),
            chain_type: c.hook.as_ref().map(|h| h.kind.to_string()),
            counters: c
                .hook
                .as_ref()
                .and_then(|h| h.counters)
                .map(|(packets, bytes)| Counters { packets, bytes }),
            ..Chain::default()
        };
        b.push(NFT_MSG_NEWCHAIN, NLM_F_CREATE, &chain);
        what.push(What::Text(format!("chain {} in {tname}", c.name)));
    }
    // Named sets go first; an anonymous set goes right before the first rule that uses it, the
    // order nft sends them in. (The kernel's bind of an anonymous set walks the whole
    // transaction list whatever the order: see ARCHITECTURE.md, "Load time and the kernel".)
    for set in &t.sets {
        push_set(b, what, fam, &tname, &t.name, set);
    }
    for h in &t.ct_helpers {
        let obj = Obj {
            family: fam,
            table: t.name.clone(),
            name: h.name.clone(),
            kind: NFT_OBJECT_CT_HELPER,
            data: Some(ObjData::CtHelper(CtHelper {
                name: h.helper.clone(),
                l3proto: Some(h.l3proto),
                l4proto: Some(h.l4proto),
                other: Vec::new(),
            })),
            ..Obj::default()
        };
        b.push(NFT_MSG_NEWOBJ, NLM_F_CREATE, &obj);
        what.push(What::Text(format!("ct helper {} in {tname}", h.name)));
    }
    // (chain, its index in `names`, rules so far)
    let mut index_in_chain: Vec<(String, u32, u32)> = Vec::new();
    let mut count = 0;
    rules.each(|anonymous, r| {
        count += 1;
        let (chain_index, n) = match index_in_chain.iter_mut().find(|(c, _, _)| *c == r.chain) {
            Some((_, i, n)) => {
                *n += 1;
                (*i, *n)
            }
            None => {
                let i = names.len() as u32;
                names.push(r.chain.clone());
                index_in_chain.push((r.chain.clone(), i, 1));
                (i, 1)
            }
        };
        for set in &anonymous {
            push_set(b, what, fam, &tname, &t.name, set);
        }
        if let Some(hint) =
            crate::features::feature_hint(r.exprs.iter().map(crate::features::feature_of))
        {
            hints.insert(what.len(), hint);
        }
        let rule = Rule {
            family: fam,
            table: t.name.clone(),
            chain: r.chain,
            exprs: r.exprs,
            userdata: r.userdata,
            ..Rule::default()
        };
        b.push(NFT_MSG_NEWRULE, NLM_F_CREATE | NLM_F_APPEND, &rule);
        what.push(What::Rule {
            table: table_index,
            chain: chain_index,
            n,
            origin: r.origin,
        });
    });
    count
}

/// A set and its elements.
fn push_set(
    b: &mut Batch,
    what: &mut Vec<What>,
    fam: u8,
    tname: &str,
    table: &str,
    s: &lower::SetCode,
) {
    let set = Set {
        family: fam,
        table: table.to_string(),
        name: s.name.clone(),
        flags: Some(s.flags),
        key_type: Some(s.key_type),
        key_len: Some(s.key_len),
        // nft sends a length of 0 with a verdict map's data type; the kernel knows the size.
        data_type: s.data_type,
        data_len: s.data_type.map(|_| 0),
        id: Some(s.id),
        desc: s.size.map(|size| SetDesc {
            size: Some(size),
            ..SetDesc::default()
        }),
        timeout_ms: s.timeout_ms,
        userdata: Some(s.userdata.clone()),
        ..Set::default()
    };
    b.push(NFT_MSG_NEWSET, NLM_F_CREATE, &set);
    let sname = if s.name.starts_with("__set") {
        "anonymous set".to_string()
    } else if s.name.starts_with("__map") {
        "anonymous verdict map".to_string()
    } else {
        format!("set {}", s.name)
    };
    what.push(What::Text(format!("{sname} in {tname}")));
    for chunk in s.elements.chunks(ELEMENTS_PER_MESSAGE) {
        let list = SetElemList {
            family: fam,
            table: table.to_string(),
            set: s.name.clone(),
            set_id: Some(s.id),
            elements: chunk
                .iter()
                .map(|e| SetElem {
                    key: e.key.clone(),
                    flags: (e.flags != 0).then_some(e.flags),
                    data: e.verdict.clone().map(ImmData::Verdict),
                    ..SetElem::default()
                })
                .collect(),
            ..SetElemList::default()
        };
        b.push(NFT_MSG_NEWSETELEM, NLM_F_CREATE, &list);
        what.push(What::Text(format!("elements of {sname} in {tname}")));
    }
}
