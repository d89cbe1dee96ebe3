//! Rules (NFT_MSG_NEWRULE / GETRULE / DELRULE): NFTA_RULE_TABLE, NFTA_RULE_CHAIN,
//! NFTA_RULE_HANDLE be64, NFTA_RULE_POSITION be64, NFTA_RULE_EXPRESSIONS { NFTA_LIST_ELEM
//! { NFTA_EXPR_NAME, NFTA_EXPR_DATA } ... }, NFTA_RULE_USERDATA, NFTA_RULE_ID be32
//! (net/netfilter/nf_tables_api.c), and nft's comment userdata TLV.
//!
//! Expressions themselves are in `expr.rs` and `expr/`.

use crate::attr::{self, Attrs};
use crate::consts::*;
use crate::error::DecodeError;
use crate::expr::{self, Expr};
use crate::msg::Object;

/// An nf_tables rule.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Rule {
    pub family: u8,
    pub table: String,
    pub chain: String,
    pub handle: Option<u64>,
    /// NFTA_RULE_POSITION: the handle to insert after (with NLM_F_APPEND) or before.
    pub position: Option<u64>,
    /// Sent only when non-empty (a delete by handle carries none).
    pub exprs: Vec<Expr>,
    /// nft's TLVs; see [`comment_userdata`] and [`userdata_comment`].
    pub userdata: Option<Vec<u8>>,
    /// NFTA_RULE_ID: names the rule inside one batch.
    pub id: Option<u32>,
    /// Attributes this codec does not know: `(raw type, payload)`, re-sent unchanged.
    pub other: Vec<(u16, Vec<u8>)>,
}

impl Object for Rule {
    const NEW_MSG: u8 = NFT_MSG_NEWRULE;
    const MSGS: &'static [u8] = &[
        NFT_MSG_NEWRULE,
        NFT_MSG_GETRULE,
        NFT_MSG_DELRULE,
        NFT_MSG_DESTROYRULE,
    ];

    fn family(&self) -> u8 {
        self.family
    }

    fn put_attrs(&self, out: &mut Vec<u8>) {
        attr::put_str(out, NFTA_RULE_TABLE, &self.table);
        attr::put_str(out, NFTA_RULE_CHAIN, &self.chain);
        if let Some(h) = self.handle {
            attr::put_be64(out, NFTA_RULE_HANDLE, h);
        }
        if let Some(p) = self.position {
            attr::put_be64(out, NFTA_RULE_POSITION, p);
        }
        if !self.exprs.is_empty() {
            expr::put_list(out, NFTA_RULE_EXPRESSIONS, &self.exprs);
        }
        if let Some(u) = &self.userdata {
            attr::put(out, NFTA_RULE_USERDATA, u);
        }
        if let Some(id) = self.id {
            attr::put_be32(out, NFTA_RULE_ID, id);
        }
        attr::put_other(out, &self.other);
    }

    fn read_attrs(family: u8, attrs: &[u8]) -> Result<Self, DecodeError> {
        let mut r = Rule {
            family,
            ..Rule::default()
        };
        let (mut table, mut chain) = (None, None);
        for a in Attrs::new(attrs) {
            let a = a?;
            match a.kind() {
                NFTA_RULE_TABLE => table = Some(a.str("NFTA_RULE_TABLE")?),
                NFTA_RULE_CHAIN => chain = Some(a.str("NFTA_RULE_CHAIN")?),
                NFTA_RULE_HANDLE => r.handle = Some(a.be64("NFTA_RULE_HANDLE")?),
                NFTA_RULE_POSITION => r.position = Some(a.be64("NFTA_RULE_POSITION")?),
                NFTA_RULE_EXPRESSIONS => r.exprs = expr::read_list(a.payload)?,
                NFTA_RULE_USERDATA => r.userdata = Some(a.payload.to_vec()),
                NFTA_RULE_ID => r.id = Some(a.be32("NFTA_RULE_ID")?),
                _ => r.other.push(a.to_owned_pair()),
            }
        }
        r.table = table.ok_or(DecodeError::Missing {
            what: "NFTA_RULE_TABLE",
        })?;
        r.chain = chain.ok_or(DecodeError::Missing {
            what: "NFTA_RULE_CHAIN",
        })?;
        Ok(r)
    }
}

/// nft's rule-comment userdata type (NFTNL_UDATA_RULE_COMMENT).
const UDATA_RULE_COMMENT: u8 = 0;

/// The NFTA_RULE_USERDATA nft writes for `comment "TEXT"`: type 0, length (text + NUL), text,
/// NUL. Comments longer than 254 bytes are cut to fit the one-byte length, as nft limits
/// comments to 128 bytes anyway.
pub fn comment_userdata(comment: &str) -> Vec<u8> {
    let text = &comment.as_bytes()[..comment.len().min(254)];
    let mut out = vec![UDATA_RULE_COMMENT, (text.len() + 1) as u8];
    out.extend_from_slice(text);
    out.push(0);
    out
}

/// The comment in nft rule userdata, if there is one.
pub fn userdata_comment(userdata: &[u8]) -> Option<String> {
    let mut rest = userdata;
    while let [ty, len, tail @ ..] = rest {
        let value = tail.get(..usize::from(*len))?;
        if *ty == UDATA_RULE_COMMENT {
            let end = value.iter().position(|&b| b == 0).unwrap_or(value.len());
            return String::from_utf8(value[..end].to_vec()).ok();
        }
        rest = &tail[usize::from(*len)..];
    }
    None
}

/// The chain of a rule message (its attributes, after the nfgenmsg) and the packet count of
/// its first `counter` expression (`None` without one), read without decoding anything else:
/// what `fwnet verify` needs of every rule before and after each probe, where decoding whole
/// rules was most of its time at 10,000 rules.
pub fn counter_of(attrs: &[u8]) -> Result<(String, Option<u64>), DecodeError> {
    let (mut chain, mut packets) = (None, None);
    for a in Attrs::new(attrs) {
        let a = a?;
        match a.kind() {
            NFTA_RULE_CHAIN => chain = Some(a.str("NFTA_RULE_CHAIN")?),
            NFTA_RULE_EXPRESSIONS => {
                for elem in a.nested() {
                    let (mut name, mut data) = (None, None);
                    for e in elem?.nested() {
                        let e = e?;
                        match e.kind() {
                            NFTA_EXPR_NAME => name = Some(e.payload),
                            NFTA_EXPR_DATA => data = Some(e.payload),
                            _ => {}
                        }
                    }
                    // The name is NUL-terminated.
                    if name.is_some_and(|n| n.strip_suffix(b"\0").unwrap_or(n) == b"counter") {
                        // As the whole decoding reads it: no count is 0.
                        packets = Some(0);
                        for c in Attrs::new(data.unwrap_or_default()) {
                            let c = c?;
                            if c.kind() == NFTA_COUNTER_PACKETS {
                                packets = Some(c.be64("NFTA_COUNTER_PACKETS")?);
                            }
                        }
                        break;
                    }
                }
            }
            _ => {}
        }
    }
    let chain = chain.ok_or(DecodeError::Missing {
        what: "NFTA_RULE_CHAIN",
    })?;
    Ok((chain, packets))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_rules_counter_is_read_as_the_whole_decoding_reads_it() {
        let rule = |exprs: Vec<Expr>| Rule {
            family: NFPROTO_IPV4,
            table: "fwnet_filter".into(),
            chain: "INPUT".into(),
            handle: Some(4),
            exprs,
            userdata: Some(comment_userdata("file:12")),
            ..Rule::default()
        };
        let meta = Expr::Meta {
            key: NFT_META_L4PROTO,
            dreg: 1,
        };
        let counter = |packets| Expr::Counter {
            packets,
            bytes: 60 * packets,
        };
        let cases = [
            (vec![meta.clone(), counter(7), counter(3)], Some(7)),
            (vec![counter(0)], Some(0)),
            (vec![meta.clone()], None),
            (Vec::new(), None),
        ];
        for (exprs, want) in cases {
            let mut attrs = Vec::new();
            rule(exprs.clone()).put_attrs(&mut attrs);
            let whole = Rule::read_attrs(NFPROTO_IPV4, &attrs).map(|r| {
                let first = r.exprs.iter().find_map(|e| match e {
                    Expr::Counter { packets, .. } => Some(*packets),
                    _ => None,
                });
                (r.chain, first)
            });
            assert_eq!(whole, Ok(("INPUT".to_string(), want)), "{exprs:?}");
            assert_eq!(counter_of(&attrs), whole, "{exprs:?}");
        }
        assert!(counter_of(&[]).is_err(), "a rule without its chain");
    }
}
