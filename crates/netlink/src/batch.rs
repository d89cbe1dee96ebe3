//! The atomic batch: NFNL_MSG_BATCH_BEGIN, nf_tables messages, NFNL_MSG_BATCH_END, each with
//! its own sequence number, and the map from a reply's seq back to the message pushed.
//!
//! BEGIN and END are nfnetlink control messages: family AF_UNSPEC, `res_id` =
//! NFNL_SUBSYS_NFTABLES, BEGIN optionally carrying NFNL_BATCH_GENID (be32) so the kernel
//! refuses the batch (ERESTART) if the ruleset changed since GETGEN. Nothing is sent here.

use crate::attr;
use crate::consts::*;
use crate::msg::{nft_type, write_message, NfGenMsg, Object};

/// A batch being built. Start with [`Batch::begin`], [`Batch::push`] messages, finish with
/// [`Batch::end`] (commit) or [`Batch::end_without_commit`] (dry run, like `nft --check`).
#[derive(Clone, Debug)]
pub struct Batch {
    bytes: Vec<u8>,
    begin_seq: u32,
    next_seq: u32,
    control_flags: u16,
    /// Sequence numbers of pushed messages, in push order.
    seqs: Vec<u32>,
}

/// The finished batch: the bytes to send in one `sendmsg`, and the sequence numbers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EncodedBatch {
    pub bytes: Vec<u8>,
    pub begin_seq: u32,
    /// `None` for a dry run.
    pub end_seq: Option<u32>,
    /// Sequence number of each pushed message, in push order (index = push index).
    pub seqs: Vec<u32>,
}

impl EncodedBatch {
    /// The push index of the message a reply with this `seq` answers (`NlError::request.seq`),
    /// `None` for BEGIN, END or an unknown seq.
    pub fn index_of_seq(&self, seq: u32) -> Option<usize> {
        // Sequence numbers are consecutive from begin_seq + 1 (wrapping), so this is O(1).
        let idx = seq.wrapping_sub(self.begin_seq).wrapping_sub(1) as usize;
        (self.seqs.get(idx) == Some(&seq)).then_some(idx)
    }
}

impl Batch {
    /// Writes BATCH_BEGIN with sequence number `first_seq`; messages get the following numbers.
    /// `control_flags` go on BEGIN and END (e.g. `NLM_F_ACK` to get both acknowledged on
    /// kernels >= 6.10; nft 1.0.6 sends 0). `genid` adds NFNL_BATCH_GENID.
    pub fn begin(first_seq: u32, control_flags: u16, genid: Option<u32>) -> Batch {
        let mut bytes = Vec::new();
        write_message(
            &mut bytes,
            NFNL_MSG_BATCH_BEGIN,
            control_flags,
            first_seq,
            control_nfgen(),
            |out| {
                if let Some(id) = genid {
                    attr::put_be32(out, NFNL_BATCH_GENID, id);
                }
            },
        );
        Batch {
            bytes,
            begin_seq: first_seq,
            next_seq: first_seq.wrapping_add(1),
            control_flags,
            seqs: Vec::new(),
        }
    }

    /// Appends `obj` as message NFT_MSG_* `msg` with `flags` (NLM_F_REQUEST is always added;
    /// nft uses NLM_F_CREATE for tables/chains/sets/elements, NLM_F_CREATE | NLM_F_APPEND for
    /// rules). Returns the message's sequence number.
    pub fn push<O: Object>(&mut self, msg: u8, flags: u16, obj: &O) -> u32 {
        let seq = self.next_seq;
        let nfgen = NfGenMsg {
            family: obj.family(),
            version: NFNETLINK_V0,
            res_id: 0,
        };
        write_message(&mut self.bytes, nft_type(msg), flags, seq, nfgen, |out| {
            obj.put_attrs(out)
        });
        self.seqs.push(seq);
        self.next_seq = seq.wrapping_add(1);
        seq
    }

    /// Number of messages pushed so far.
    pub fn len(&self) -> usize {
        self.seqs.len()
    }

    /// True when nothing was pushed.
    pub fn is_empty(&self) -> bool {
        self.seqs.is_empty()
    }

    /// Writes BATCH_END: the kernel commits everything or nothing.
    pub fn end(mut self) -> EncodedBatch {
        let seq = self.next_seq;
        write_message(
            &mut self.bytes,
            NFNL_MSG_BATCH_END,
            self.control_flags,
            seq,
            control_nfgen(),
            |_| {},
        );
        EncodedBatch {
            bytes: self.bytes,
            begin_seq: self.begin_seq,
            end_seq: Some(seq),
            seqs: self.seqs,
        }
    }

    /// Finishes without BATCH_END: the kernel validates every message, reports every error and
    /// then aborts, committing nothing.
    pub fn end_without_commit(self) -> EncodedBatch {
        EncodedBatch {
            bytes: self.bytes,
            begin_seq: self.begin_seq,
            end_seq: None,
            seqs: self.seqs,
        }
    }
}

fn control_nfgen() -> NfGenMsg {
    NfGenMsg {
        family: NFPROTO_UNSPEC,
        version: NFNETLINK_V0,
        res_id: NFNL_SUBSYS_NFTABLES,
    }
}
