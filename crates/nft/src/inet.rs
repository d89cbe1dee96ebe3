//! The inet merge (`fwnet import --inet`): each pair of tables `ip fwnet_X` + `ip6 fwnet_X`
//! becomes one table `inet fwnet_X`, and a table of one family only becomes inet too, so that
//! the user gets one table per iptables table.
//!
//! Each family keeps its own base chains, with their type, hook, priority, policy and policy
//! counters: the ip table's `INPUT` becomes `INPUT_ip`, whose first rule is `meta nfproto ipv6
//! accept`, and the ip6 table's becomes `INPUT_ip6`, whose first rule is `meta nfproto ipv4
//! accept`. `accept` ends only that base chain, and the packet goes on to the next base chain
//! on the hook, exactly as it went on to the other family's table before; so each family's
//! packets still meet their own rules and their own policy, and a packet pays one rule for the
//! other family's base chain. Regular chains get the same suffix (every chain of the ip table
//! `_ip`, of the ip6 table `_ip6`, which cannot collide: no name ends in both). Named sets and
//! ct helper objects keep their names unless both families have one of that name (the
//! hashlimit, recent and connlimit sets, `litN` shared sets, `ftp-tcp` helpers ...); then each
//! gets its family's suffix, made unique with `_2`, `_3` ... as in [`crate::dispatch`]. Every
//! reference (jump and goto targets, set lookups, updates, additions and deletions, `ct count`
//! sets, `ct helper set`) follows its renaming. Each chain records its family
//! ([`crate::ir::Chain::family`]), which the lowering uses for what took the table's family (the
//! `nat` expression's NFTA_NAT_FAMILY) and the printer for `snat ip to` / `dnat ip6 to`.
//!
//! Rules are not given `meta nfproto` tests of their own: only packets of the chain's family
//! reach them, which is the point (the family is dispatched once per base chain, not once per
//! rule as nft's implicit dependencies do).
//!
//! It runs last, after [`crate::optimize`], [`crate::shared_sets`] and [`crate::fast_path`],
//! which work on single-family tables. Tables that are inet already are left alone. It does
//! not decide whether the kernel supports inet NAT (Linux 5.2 and later); the caller chooses.

use crate::fresh_name;
use crate::ir::{CmpOp, CtCount, Expr, Family, Match, MetaKey, Rule, Stmt, Table, Value, Verdict};
use std::collections::HashMap;

/// NFPROTO_IPV4 and NFPROTO_IPV6, as `meta nfproto` loads them.
const NFPROTO_IPV4: u64 = 2;
const NFPROTO_IPV6: u64 = 10;

/// The suffix of the chains (and colliding sets and objects) of a family.
pub fn suffix(family: Family) -> &'static str {
    match family {
        Family::Ip => "_ip",
        Family::Ip6 => "_ip6",
        Family::Inet => "",
    }
}

/// Replaces every ip and ip6 table of `tables` by inet tables, one per table name, in the
/// order of their first appearance; see the module documentation.
pub fn merge(tables: &mut Vec<Table>) {
    let mut out: Vec<Table> = Vec::new();
    let mut pending: Vec<(String, Option<Table>, Option<Table>)> = Vec::new();
    for t in std::mem::take(tables) {
        match t.family {
            Family::Inet => out.push(t),
            Family::Ip | Family::Ip6 => {
                let slot = match pending.iter().position(|(n, _, _)| *n == t.name) {
                    Some(i) => i,
                    None => {
                        pending.push((t.name.clone(), None, None));
                        pending.len() - 1
                    }
                };
                let entry = &mut pending[slot];
                if t.family == Family::Ip {
                    entry.1 = Some(t);
                } else {
                    entry.2 = Some(t);
                }
            }
        }
    }
    for (name, ip, ip6) in pending {
        out.push(merge_pair(name, ip, ip6));
    }
    *tables = out;
}

/// What one family's names become in the merged table.
#[derive(Default)]
struct Renames {
    chains: HashMap<String, String>,
    sets: HashMap<String, String>,
    helpers: HashMap<String, String>,
}

fn merge_pair(name: String, ip: Option<Table>, ip6: Option<Table>) -> Table {
    let set_names = |t: &Option<Table>| -> Vec<String> {
        t.iter()
            .flat_map(|t| t.sets.iter().map(|s| s.name.clone()))
            .collect()
    };
    let helper_names = |t: &Option<Table>| -> Vec<String> {
        t.iter()
            .flat_map(|t| t.ct_helpers.iter().map(|h| h.name.clone()))
            .collect()
    };
    let (sets4, sets6) = (set_names(&ip), set_names(&ip6));
    let (helpers4, helpers6) = (helper_names(&ip), helper_names(&ip6));
    let mut taken_sets: Vec<String> = sets4.iter().chain(&sets6).cloned().collect();
    let mut taken_helpers: Vec<String> = helpers4.iter().chain(&helpers6).cloned().collect();
    let mut renames4 = Renames::default();
    let mut renames6 = Renames::default();
    for n in sets4.iter().filter(|n| sets6.contains(n)) {
        let a = fresh_name(&mut taken_sets, &format!("{n}{}", suffix(Family::Ip)));
        let b = fresh_name(&mut taken_sets, &format!("{n}{}", suffix(Family::Ip6)));
        renames4.sets.insert(n.clone(), a);
        renames6.sets.insert(n.clone(), b);
    }
    for n in helpers4.iter().filter(|n| helpers6.contains(n)) {
        let a = fresh_name(&mut taken_helpers, &format!("{n}{}", suffix(Family::Ip)));
        let b = fresh_name(&mut taken_helpers, &format!("{n}{}", suffix(Family::Ip6)));
        renames4.helpers.insert(n.clone(), a);
        renames6.helpers.insert(n.clone(), b);
    }
    let mut merged = Table {
        family: Family::Inet,
        name,
        sets: Vec::new(),
        chains: Vec::new(),
        ct_helpers: Vec::new(),
    };
    for (t, mut renames) in [(ip, renames4), (ip6, renames6)] {
        let Some(t) = t else { continue };
        let family = t.family;
        for c in &t.chains {
            renames
                .chains
                .insert(c.name.clone(), format!("{}{}", c.name, suffix(family)));
        }
        for mut s in t.sets {
            rename(&mut s.name, &renames.sets);
            merged.sets.push(s);
        }
        for mut h in t.ct_helpers {
            rename(&mut h.name, &renames.helpers);
            merged.ct_helpers.push(h);
        }
        for mut c in t.chains {
            c.name = format!("{}{}", c.name, suffix(family));
            for r in &mut c.rules {
                rename_refs(r, &renames);
            }
            if c.base.is_some() {
                c.rules.insert(0, other_family_accept(family));
            }
            c.family = Some(family);
            merged.chains.push(c);
        }
    }
    merged
}

/// `meta nfproto OTHER accept`: the first rule of a base chain of `family`.
pub fn other_family_accept(family: Family) -> Rule {
    let other = if family == Family::Ip6 {
        NFPROTO_IPV4
    } else {
        NFPROTO_IPV6
    };
    Rule {
        stmts: vec![
            Stmt::Match(Match::Cmp {
                left: Expr::Meta(MetaKey::Nfproto),
                op: CmpOp::Eq,
                right: Value::Num(other),
            }),
            Stmt::Verdict(Verdict::Accept),
        ],
        comment: None,
        origin: None,
        merged: Vec::new(),
    }
}

/// `name` as `map` renames it, if it does: a `String` or a boxed `str` (most statements that
/// name a set hold a boxed `str`).
fn rename<S: std::ops::Deref<Target = str> + for<'a> From<&'a str>>(
    name: &mut S,
    map: &HashMap<String, String>,
) {
    if let Some(n) = map.get(&**name) {
        *name = S::from(n);
    }
}

fn rename_refs(r: &mut Rule, renames: &Renames) {
    for s in &mut r.stmts {
        for v in s.verdicts_mut() {
            if let Verdict::Jump(c) | Verdict::Goto(c) = v {
                rename(c, &renames.chains);
            }
        }
        match s {
            Stmt::Match(Match::Lookup { set, .. })
            | Stmt::SetUpdate { set, .. }
            | Stmt::SetAdd { set, .. }
            | Stmt::SetDelete { set, .. } => rename(set, &renames.sets),
            Stmt::CtCount(c) => {
                if let CtCount {
                    per_key: Some(k), ..
                } = &mut **c
                {
                    rename(&mut k.set, &renames.sets);
                }
            }
            Stmt::CtHelperSet(h) => rename(h, &renames.helpers),
            _ => {}
        }
    }
}
