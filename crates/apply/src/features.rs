//! What the running kernel's nf_tables can do, found by asking it: one batch that is never
//! committed, whose every message asks for an acknowledgement. Version strings are not read
//! (distribution kernels backport features), and nothing here changes the kernel's state.
//!
//! Also the table of expressions fwnet emits with the Linux release that brought each, so that
//! a kernel that refuses one can be named in the error. This module does not decide what to
//! send; `batch` and `session` consult [`Features`].

use crate::session::Session;
use crate::Error;
use fwnet_netlink::consts::*;
use fwnet_netlink::{Batch, Table};
use serde::Serialize;

/// The nf_tables features whose presence changes what fwnet sends or how it reads answers.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Features {
    /// The kernel acknowledges BATCH_BEGIN and BATCH_END (Linux 6.10): a commit is confirmed
    /// by the END acknowledgement instead of by the absence of errors.
    pub batch_ack: bool,
    /// NFT_MSG_DESTROYTABLE, a delete that succeeds when the table is absent (Linux 6.3).
    pub destroy_table: bool,
    /// NFT_TABLE_F_OWNER, a table removed with the socket that made it (Linux 5.12).
    pub table_owner: bool,
    /// NFT_TABLE_F_PERSIST, an owned table that outlives its owner (Linux 6.9).
    pub table_persist: bool,
}

/// Table names of the probe; the batch is aborted, so they never exist in the kernel.
const PROBE_DESTROY: &str = "fwnet_probe_destroy";
const PROBE_OWNER: &str = "fwnet_probe_owner";
const PROBE_PERSIST: &str = "fwnet_probe_persist";

/// Asks the kernel: BEGIN (ack requested), DESTROYTABLE of an absent table, NEWTABLE with the
/// owner flag, NEWTABLE with owner and persist, each with NLM_F_ACK, and no END, so the kernel
/// validates the messages, answers each one, then aborts. An unknown message type is EINVAL, an
/// unknown table flag EOPNOTSUPP; before 6.10 BEGIN is never acknowledged.
pub(crate) fn probe(s: &mut Session) -> Result<Features, Error> {
    let mut b = Batch::begin(s.next_seq(8), NLM_F_ACK, None);
    let table = |name: &str, flags: Option<u32>| Table {
        family: NFPROTO_IPV4,
        name: name.to_string(),
        flags,
        ..Table::default()
    };
    let destroy = b.push(NFT_MSG_DESTROYTABLE, NLM_F_ACK, &table(PROBE_DESTROY, None));
    let owner = b.push(
        NFT_MSG_NEWTABLE,
        NLM_F_CREATE | NLM_F_ACK,
        &table(PROBE_OWNER, Some(NFT_TABLE_F_OWNER)),
    );
    let persist = b.push(
        NFT_MSG_NEWTABLE,
        NLM_F_CREATE | NLM_F_ACK,
        &table(PROBE_PERSIST, Some(NFT_TABLE_F_OWNER | NFT_TABLE_F_PERSIST)),
    );
    let batch = b.end_without_commit();
    let answers = s.exchange(&batch.bytes)?;
    let acked = |seq: u32| answers.iter().any(|&(s, errno)| s == seq && errno == 0);
    if let Some(&(_, errno)) = answers.iter().find(|&&(_, errno)| errno == libc::EPERM) {
        return Err(crate::session::errno_error(errno));
    }
    Ok(Features {
        batch_ack: acked(batch.begin_seq),
        destroy_table: acked(destroy),
        table_owner: acked(owner),
        table_persist: acked(persist),
    })
}

/// Where [`cached`] keeps the answer: tmpfs, emptied at every boot.
const CACHE: &str = "/run/fwnet/kernel-features";

/// The kernel's identity for [`CACHE`]: its release and this boot's id. nf_tables' features
/// are the kernel's, the same in every network namespace.
fn kernel_identity() -> Option<String> {
    let read = |p: &str| {
        std::fs::read_to_string(p)
            .ok()
            .map(|s| s.trim().to_string())
    };
    Some(format!(
        "{} {}",
        read("/proc/sys/kernel/osrelease")?,
        read("/proc/sys/kernel/random/boot_id")?
    ))
}

fn encode(id: &str, f: &Features) -> String {
    let bit = |b: bool| if b { '1' } else { '0' };
    format!(
        "{id}\n{}{}{}{}\n",
        bit(f.batch_ack),
        bit(f.destroy_table),
        bit(f.table_owner),
        bit(f.table_persist)
    )
}

fn decode(id: &str, text: &str) -> Option<Features> {
    let (cached_id, bits) = text.split_once('\n')?;
    let bits = bits.trim_end().as_bytes();
    if cached_id != id || bits.len() != 4 || !bits.iter().all(|b| matches!(b, b'0' | b'1')) {
        return None;
    }
    Some(Features {
        batch_ack: bits[0] == b'1',
        destroy_table: bits[1] == b'1',
        table_owner: bits[2] == b'1',
        table_persist: bits[3] == b'1',
    })
}

/// [`probe`], remembered for the rest of the boot: the probe is a batch the kernel aborts, and
/// an abort waits for an RCU grace period (about 14 ms here, a fifth of a 1000-rule apply).
/// Any problem with the cache (unreadable, stale, /run not writable) only means probing again.
pub(crate) fn cached(s: &mut Session) -> Result<Features, Error> {
    let id = kernel_identity();
    if let Some(id) = &id {
        if let Some(f) = std::fs::read_to_string(CACHE)
            .ok()
            .and_then(|t| decode(id, &t))
        {
            return Ok(f);
        }
    }
    let f = probe(s)?;
    if let Some(id) = &id {
        let dir = std::path::Path::new(CACHE).parent();
        let tmp = format!("{CACHE}.{}", std::process::id());
        let written = dir.is_some_and(|d| std::fs::create_dir_all(d).is_ok())
            && std::fs::write(&tmp, encode(id, &f)).is_ok()
            && std::fs::rename(&tmp, CACHE).is_ok();
        if !written {
            let _ = std::fs::remove_file(&tmp);
        }
    }
    Ok(f)
}

/// The Linux release that brought the kernel side of an nf_tables expression fwnet emits, and
/// what it does in words; `None` for names fwnet does not know.
pub fn expression_since(name: &str) -> Option<(&'static str, &'static str)> {
    Some(match name {
        "payload" | "cmp" | "meta" | "immediate" | "bitwise" | "lookup" | "ct" | "log"
        | "limit" | "reject" | "nat" | "counter" => ("3.13", "nf_tables itself"),
        "masq" => ("3.18", "masquerading"),
        "redir" => ("3.19", "redirect"),
        "dynset" => ("4.3", "sets updated from the packet path"),
        "exthdr" => ("4.3", "extension header matching"),
        "range" => ("4.9", "range comparison"),
        "quota" => ("4.9", "quotas"),
        "numgen" => ("4.9", "number generators"),
        "hash" => ("4.9", "hashing"),
        "fib" => ("4.10", "routing lookups (fib)"),
        "objref" => ("4.10", "stateful object references"),
        "rt" => ("4.14", "routing header data"),
        "connlimit" => ("4.18", "connection limits"),
        "socket" => ("4.18", "socket matching"),
        "tproxy" => ("4.19", "transparent proxying"),
        "xfrm" => ("5.3", "IPsec state matching"),
        // Two abilities of older expressions, named by `feature_of`.
        "dynset delete" => ("5.4", "deleting set elements from the packet path"),
        "meta time" => ("5.4", "the clock: meta time, day and hour"),
        "synproxy" => ("5.3", "synproxy"),
        "last" => ("5.14", "last-used timestamps"),
        "inner" => ("6.2", "inner header matching"),
        _ => return None,
    })
}

/// Why a kernel may have refused a rule with EOPNOTSUPP or ENOENT: the expressions it uses,
/// the newest of them (by the release that brought it) named with that release. Expressions as
/// old as nf_tables itself (3.13) are never the reason and give no hint.
pub fn feature_hint<'a>(expressions: impl IntoIterator<Item = &'a str>) -> Option<String> {
    let mut needs: Vec<(&str, &str, &str)> = expressions
        .into_iter()
        .filter_map(|e| expression_since(e).map(|(v, what)| (v, what, e)))
        .filter(|(v, _, _)| *v != "3.13")
        .collect();
    needs.sort_by_key(|(v, _, _)| std::cmp::Reverse(version_key(v)));
    needs.dedup();
    let (v, what, e) = needs.first()?;
    let module = e.split(' ').next().unwrap_or(e);
    Some(format!(
        "the rule needs the `{e}` expression ({what}), in Linux since {v}: check that the kernel is {v} or newer and has the nft_{module} module"
    ))
}

/// What [`expression_since`] knows an expression by: its name, or for an ability a later
/// release added to an older expression (dynset's delete, meta's clock keys), that ability.
pub fn feature_of(e: &fwnet_netlink::Expr) -> &str {
    match e {
        fwnet_netlink::Expr::Dynset { op, .. } if *op == NFT_DYNSET_OP_DELETE => "dynset delete",
        fwnet_netlink::Expr::Meta { key, .. }
            if matches!(
                *key,
                NFT_META_TIME_NS | NFT_META_TIME_DAY | NFT_META_TIME_HOUR
            ) =>
        {
            "meta time"
        }
        _ => e.name(),
    }
}

fn version_key(v: &str) -> (u32, u32) {
    let mut it = v.split('.').map(|p| p.parse().unwrap_or(0));
    (it.next().unwrap_or(0), it.next().unwrap_or(0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cached_features_are_used_only_for_the_same_kernel_and_boot() {
        let f = Features {
            batch_ack: true,
            destroy_table: true,
            table_owner: false,
            table_persist: true,
        };
        let text = encode("6.18.44 abc", &f);
        assert_eq!(decode("6.18.44 abc", &text), Some(f));
        assert_eq!(decode("6.18.44 other-boot", &text), None);
        assert_eq!(decode("6.18.44 abc", "6.18.44 abc\n10\n"), None);
        assert_eq!(decode("6.18.44 abc", ""), None);
    }

    #[test]
    fn hints_name_the_newest_expression_a_rule_needs() {
        let cases: &[(&[&str], Option<&str>)] = &[
            (&["payload", "cmp", "counter"], None),
            (
                &["meta", "fib", "cmp"],
                Some("`fib` expression (routing lookups (fib)), in Linux since 4.10"),
            ),
            (
                &["fib", "range", "inner"],
                Some("`inner` expression (inner header matching), in Linux since 6.2"),
            ),
            (
                &["range", "dynset"],
                Some("`range` expression (range comparison), in Linux since 4.9"),
            ),
            (
                &["dynset", "dynset delete", "range"],
                Some("`dynset delete` expression (deleting set elements from the packet path), in Linux since 5.4: check that the kernel is 5.4 or newer and has the nft_dynset module"),
            ),
            (&["mystery"], None),
        ];
        let dynset = |op| fwnet_netlink::Expr::Dynset {
            op,
            sreg_key: 1,
            set: "s".into(),
            set_id: None,
            timeout_ms: None,
            exprs: Vec::new(),
        };
        let meta = |key| fwnet_netlink::Expr::Meta { key, dreg: 1 };
        assert_eq!(feature_of(&dynset(NFT_DYNSET_OP_UPDATE)), "dynset");
        assert_eq!(feature_of(&dynset(NFT_DYNSET_OP_DELETE)), "dynset delete");
        assert_eq!(feature_of(&meta(NFT_META_TIME_HOUR)), "meta time");
        assert_eq!(feature_of(&meta(NFT_META_MARK)), "meta");
        for (exprs, want) in cases {
            let got = feature_hint(exprs.iter().copied());
            match want {
                None => assert_eq!(got, None, "{exprs:?}"),
                Some(w) => assert!(
                    got.as_deref().is_some_and(|g| g.contains(w)),
                    "{exprs:?}: {got:?}"
                ),
            }
        }
    }

    #[test]
    fn version_keys_order_numerically() {
        assert!(version_key("4.10") > version_key("4.9"));
        assert!(version_key("6.2") > version_key("5.14"));
    }
}
