//! Composing the replace transaction: BEGIN (with the generation id), deletes of the owned
//! tables that exist (which deletes their objects too), then for each new table: table,
//! chains, sets and their elements, ct helper objects, rules; END (or no END for a dry run).
//! Each message remembers what it was and which input line it came from, so a kernel error can
//! name it.

use crate::report::{Applied, TableReport};
use crate::{Features, Mode};
use fwnet_netlink::consts::*;
use fwnet_netlink::{
    Batch, Chain, Counters, CtHelper, EncodedBatch, Hook, Obj, ObjData, Rule, Set, SetDesc,
    SetElem, SetElemList, Table,
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
    /// One entry per pushed message, in order: what it was and where it came from.
    pub what: Vec<(String, Option<String>)>,
    /// The expression names of each rule message, by push index, to name the feature a kernel
    /// lacks when it refuses one.
    pub exprs: HashMap<usize, Vec<String>>,
    pub tables: Vec<TableReport>,
    pub removed: Vec<String>,
    pub generation: u32,
}

impl Plan {
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
    let mut exprs = HashMap::new();
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
        what.push((
            format!("deleting table {} {name}", family_name(*family)),
            None,
        ));
        if !new_keys.contains(&(*family, name.clone())) {
            removed.push(format!("{} {name}", family_name(*family)));
        }
    }
    let mut tables = Vec::new();
    let mut next_set_id = 1;
    for t in &rs.tables {
        let code = lower::table(t, next_set_id);
        next_set_id += code.sets.len() as u32;
        push_table(&mut b, &mut what, &mut exprs, &code);
        tables.push(TableReport {
            family: family_name(code.family),
            name: code.name.clone(),
            chains: code.chains.len(),
            sets: t.sets.len(),
            rules: code.rules.len(),
        });
    }
    let batch = match mode {
        Mode::Commit => b.end(),
        Mode::Check => b.end_without_commit(),
    };
    Plan {
        batch,
        what,
        exprs,
        tables,
        removed,
        generation,
    }
}

fn push_table(
    b: &mut Batch,
    what: &mut Vec<(String, Option<String>)>,
    exprs: &mut HashMap<usize, Vec<String>>,
    t: &lower::TableCode,
) {
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
    what.push((tname.clone(), None));
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
        what.push((format!("chain {} in {tname}", c.name), None));
    }
    // Named sets go first; an anonymous set goes right before the first rule that uses it, the
    // order nft sends them in. (The kernel's bind of an anonymous set walks the whole
    // transaction list whatever the order: see ARCHITECTURE.md, "Load time and the kernel".)
    let (anonymous, named): (Vec<&lower::SetCode>, Vec<&lower::SetCode>) =
        t.sets.iter().partition(|s| s.name.starts_with("__set"));
    for s in named {
        push_set(b, what, fam, &tname, &t.name, s);
    }
    let mut pending: HashMap<u32, &lower::SetCode> =
        anonymous.into_iter().map(|s| (s.id, s)).collect();
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
        what.push((format!("ct helper {} in {tname}", h.name), None));
    }
    let mut index_in_chain: Vec<(String, usize)> = Vec::new();
    for r in &t.rules {
        let n = match index_in_chain.iter_mut().find(|(c, _)| *c == r.chain) {
            Some((_, n)) => {
                *n += 1;
                *n
            }
            None => {
                index_in_chain.push((r.chain.clone(), 1));
                1
            }
        };
        for e in &r.exprs {
            if let fwnet_netlink::Expr::Lookup {
                set_id: Some(id), ..
            } = e
            {
                if let Some(s) = pending.remove(id) {
                    push_set(b, what, fam, &tname, &t.name, s);
                }
            }
        }
        let rule = Rule {
            family: fam,
            table: t.name.clone(),
            chain: r.chain.clone(),
            exprs: r.exprs.clone(),
            userdata: r.userdata.clone(),
            ..Rule::default()
        };
        b.push(NFT_MSG_NEWRULE, NLM_F_CREATE | NLM_F_APPEND, &rule);
        exprs.insert(
            what.len(),
            r.exprs.iter().map(|e| e.name().to_string()).collect(),
        );
        what.push((
            format!("rule {n} of chain {} in {tname}", r.chain),
            r.origin.as_ref().map(|o| o.to_string()),
        ));
    }
    // An anonymous set no rule uses (lowering does not make one) is still sent, in id order.
    let mut rest: Vec<&lower::SetCode> = pending.into_values().collect();
    rest.sort_by_key(|s| s.id);
    for s in rest {
        push_set(b, what, fam, &tname, &t.name, s);
    }
}

/// A set and its elements.
fn push_set(
    b: &mut Batch,
    what: &mut Vec<(String, Option<String>)>,
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
    } else {
        format!("set {}", s.name)
    };
    what.push((format!("{sname} in {tname}"), None));
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
                    ..SetElem::default()
                })
                .collect(),
            ..SetElemList::default()
        };
        b.push(NFT_MSG_NEWSETELEM, NLM_F_CREATE, &list);
        what.push((format!("elements of {sname} in {tname}"), None));
    }
}
