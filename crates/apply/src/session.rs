//! A conversation with nf_tables over one socket: dumps, the generation id, and running a
//! batch to a definite outcome.

use crate::batch::{Plan, TableKey};
use crate::socket::Socket;
use crate::{Error, Features, Rejection, OWNED_PREFIX};
use fwnet_netlink::consts::*;
use fwnet_netlink::{dump, parse_replies, Header, Reply, ReplyBody};
use std::io;

pub struct Session {
    sock: Socket,
    seq: u32,
}

pub enum Outcome {
    Done,
    GenerationChanged,
}

/// Linux's ERESTART: the batch's generation id is stale.
const ERESTART: i32 = 85;

impl Session {
    pub fn open() -> Result<Session, Error> {
        let sock = Socket::open().map_err(|e| Error::Io("socket", e))?;
        // Sequence numbers only need to be distinct on this socket; start from the clock so
        // that two runs never look alike in a trace.
        let seq = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs() as u32)
            .unwrap_or(1);
        Ok(Session { sock, seq })
    }

    /// Reserves `n` sequence numbers and returns the first.
    pub fn next_seq(&mut self, n: u32) -> u32 {
        let first = self.seq;
        self.seq = self.seq.wrapping_add(n);
        first
    }

    /// Sends a request and collects every reply up to NLMSG_DONE (or the ack/error of a
    /// non-dump request).
    pub fn request(&mut self, bytes: &[u8]) -> Result<Vec<Reply>, Error> {
        let mut out = Vec::new();
        self.request_frames(bytes, |header, body| {
            let r = fwnet_netlink::decode_reply(header, body)
                .map_err(|e| Error::Protocol(e.to_string()))?;
            out.push(r);
            Ok(())
        })?;
        Ok(out)
    }

    /// Like [`Session::request`], handing each message of the answer to `each` as its header
    /// and undecoded payload instead: the end of a dump, an ack and an error are handled here.
    pub fn request_frames(
        &mut self,
        bytes: &[u8],
        mut each: impl FnMut(Header, &[u8]) -> Result<(), Error>,
    ) -> Result<(), Error> {
        self.sock.send(bytes).map_err(send_error)?;
        let mut buf = Vec::new();
        loop {
            self.sock.recv(&mut buf, true).map_err(recv_error)?;
            for frame in fwnet_netlink::frames(&buf) {
                let (header, body) = frame.map_err(|e| Error::Protocol(e.to_string()))?;
                match header.ty {
                    NLMSG_DONE => return Ok(()),
                    NLMSG_ERROR => {
                        let r = fwnet_netlink::decode_reply(header, body)
                            .map_err(|e| Error::Protocol(e.to_string()))?;
                        match r.body {
                            ReplyBody::Error(e) if !e.is_ack() => {
                                return Err(errno_error(e.errno()))
                            }
                            _ => return Ok(()),
                        }
                    }
                    _ => {}
                }
                let multi = header.flags & NLM_F_MULTI != 0;
                each(header, body)?;
                if !multi {
                    return Ok(());
                }
            }
        }
    }

    /// Sends one request that asks for an ack (`NLM_F_ACK`) and returns the kernel's answer:
    /// 0 for the ack, else the positive errno, for callers to whom some errors are no failure
    /// (ENOENT on removing what is already gone).
    pub fn acked(&mut self, bytes: &[u8]) -> Result<i32, Error> {
        self.fetched(bytes).map(|(errno, _)| errno)
    }

    /// Sends one request that asks for an ack and may be answered by a message before it (a
    /// ctnetlink GET): the kernel's errno (0 for the ack) and that message's payload, after
    /// the netlink header.
    pub fn fetched(&mut self, bytes: &[u8]) -> Result<(i32, Option<Vec<u8>>), Error> {
        self.sock.send(bytes).map_err(send_error)?;
        let mut buf = Vec::new();
        let mut answer = None;
        loop {
            self.sock.recv(&mut buf, true).map_err(recv_error)?;
            for r in parse_replies(&buf) {
                let r = r.map_err(|e| Error::Protocol(e.to_string()))?;
                match r.body {
                    ReplyBody::Error(e) => return Ok((e.errno(), answer)),
                    ReplyBody::Other(payload) => answer = Some(payload),
                    _ => {}
                }
            }
        }
    }

    pub fn generation(&mut self) -> Result<u32, Error> {
        let seq = self.next_seq(1);
        for r in self.request(&dump::get_gen(seq))? {
            if let ReplyBody::Gen(g) = r.body {
                return Ok(g.id);
            }
        }
        Err(Error::Protocol(
            "no generation id in the answer to GETGEN".into(),
        ))
    }

    /// Sends a dump request built for a fresh sequence number and keeps the replies `pick`
    /// recognises.
    fn dump<T>(
        &mut self,
        request: impl FnOnce(u32) -> Vec<u8>,
        pick: impl FnMut(ReplyBody) -> Option<T>,
    ) -> Result<Vec<T>, Error> {
        let seq = self.next_seq(1);
        Ok(self
            .request(&request(seq))?
            .into_iter()
            .map(|r| r.body)
            .filter_map(pick)
            .collect())
    }

    /// Every table in the kernel, all families.
    pub fn tables(&mut self) -> Result<Vec<fwnet_netlink::Table>, Error> {
        self.dump(
            |seq| dump::get_tables(NFPROTO_UNSPEC, seq),
            |b| match b {
                ReplyBody::Table(t) => Some(t),
                _ => None,
            },
        )
    }

    pub fn owned_tables(&mut self) -> Result<Vec<TableKey>, Error> {
        Ok(self
            .tables()?
            .into_iter()
            .filter(|t| t.name.starts_with(OWNED_PREFIX))
            .map(|t| (t.family, t.name))
            .collect())
    }

    pub fn chains(&mut self, family: u8) -> Result<Vec<fwnet_netlink::Chain>, Error> {
        self.dump(
            |seq| dump::get_chains(family, seq),
            |b| match b {
                ReplyBody::Chain(c) => Some(c),
                _ => None,
            },
        )
    }

    /// The names of the chains of one table, in the kernel's order.
    fn chain_names(&mut self, family: u8, table: &str) -> Result<Vec<String>, Error> {
        Ok(self
            .chains(family)?
            .into_iter()
            .filter(|c| c.table == table)
            .map(|c| c.name)
            .collect())
    }

    /// The rules of one table, in chain order, asked for chain by chain: for every message of
    /// a rule dump the kernel walks the chain again from its first rule to where the last
    /// message stopped, so a dump costs the square of the rules it covers (`fwnet status` of a
    /// 100k-rule table spent 84% of its time there). Rules of another chain, which a kernel that
    /// ignored the chain filter would send, are left out.
    pub fn rules(&mut self, family: u8, table: &str) -> Result<Vec<fwnet_netlink::Rule>, Error> {
        let chains = self.chain_names(family, table)?;
        let mut out = Vec::new();
        for chain in &chains {
            out.extend(self.dump(
                |seq| dump::get_rules(family, Some(table), Some(chain), seq),
                |b| match b {
                    ReplyBody::Rule(r) if r.chain == *chain => Some(r),
                    _ => None,
                },
            )?);
        }
        Ok(out)
    }

    /// The chain and packet counter ([`fwnet_netlink::counter_of`]) of every rule of one
    /// table, in the order of [`Session::rules`], decoding nothing else of them.
    pub fn rule_counters(
        &mut self,
        family: u8,
        table: &str,
    ) -> Result<Vec<(String, Option<u64>)>, Error> {
        let chains = self.chain_names(family, table)?;
        let mut out = Vec::new();
        for chain in &chains {
            let seq = self.next_seq(1);
            let request = dump::get_rules(family, Some(table), Some(chain), seq);
            self.request_frames(&request, |header, body| {
                if header.nft_msg() != Some(NFT_MSG_NEWRULE) {
                    return Ok(());
                }
                let attrs = body.get(NFGENMSG_LEN..).unwrap_or_default();
                let (of, packets) =
                    fwnet_netlink::counter_of(attrs).map_err(|e| Error::Protocol(e.to_string()))?;
                if of == *chain {
                    out.push((of, packets));
                }
                Ok(())
            })?;
        }
        Ok(out)
    }

    /// The stateful objects (ct helpers ...) of one table.
    pub fn objs(&mut self, family: u8, table: &str) -> Result<Vec<fwnet_netlink::Obj>, Error> {
        self.dump(
            |seq| dump::get_objs(family, Some(table), seq),
            |b| match b {
                ReplyBody::Obj(o) => Some(o),
                _ => None,
            },
        )
    }

    pub fn sets(&mut self, family: u8, table: &str) -> Result<Vec<fwnet_netlink::Set>, Error> {
        self.dump(
            |seq| dump::get_sets(family, Some(table), seq),
            |b| match b {
                ReplyBody::Set(s) => Some(s),
                _ => None,
            },
        )
    }

    /// The elements of one set.
    pub fn set_elems(
        &mut self,
        family: u8,
        table: &str,
        set: &str,
    ) -> Result<Vec<fwnet_netlink::SetElem>, Error> {
        let lists = self.dump(
            |seq| dump::get_set_elems(family, table, set, seq),
            |b| match b {
                ReplyBody::SetElems(e) => Some(e.elements),
                _ => None,
            },
        )?;
        Ok(lists.into_iter().flatten().collect())
    }

    /// Sends a batch and returns every acknowledgement and error it brought, as (seq, errno),
    /// errno 0 for an acknowledgement. For probes: nothing is interpreted here.
    pub fn exchange(&mut self, bytes: &[u8]) -> Result<Vec<(u32, i32)>, Error> {
        self.sock.send(bytes).map_err(send_error)?;
        let mut out = Vec::new();
        let mut buf = Vec::new();
        while self
            .sock
            .recv(&mut buf, false)
            .map_err(recv_error)?
            .is_some()
        {
            for r in parse_replies(&buf) {
                let r = r.map_err(|e| Error::Protocol(e.to_string()))?;
                if let ReplyBody::Error(e) = &r.body {
                    out.push((e.request.seq, e.errno()));
                }
            }
        }
        Ok(out)
    }

    /// Sends the batch and reads the kernel's verdict on it. The kernel processes a batch
    /// inside sendmsg, so every answer is queued when `send` returns: drain without blocking.
    /// On kernels that acknowledge BATCH_END (`kernel.batch_ack`), a commit counts as done only
    /// when that acknowledgement came; older kernels say nothing on success.
    pub fn run_batch(&mut self, plan: &Plan, kernel: &Features) -> Result<Outcome, Error> {
        let batch = &plan.batch;
        self.sock.send(&batch.bytes).map_err(send_error)?;
        let mut rejections = Vec::new();
        let mut end_acked = false;
        let mut buf = Vec::new();
        while self
            .sock
            .recv(&mut buf, false)
            .map_err(recv_error)?
            .is_some()
        {
            for r in parse_replies(&buf) {
                let r = r.map_err(|e| Error::Protocol(e.to_string()))?;
                let ReplyBody::Error(e) = &r.body else {
                    continue;
                };
                if e.is_ack() {
                    end_acked |= Some(e.request.seq) == batch.end_seq;
                    continue;
                }
                let errno = e.errno();
                if e.request.seq == batch.begin_seq {
                    return match errno {
                        ERESTART => Ok(Outcome::GenerationChanged),
                        _ => Err(errno_error(errno)),
                    };
                }
                let index = batch.index_of_seq(e.request.seq);
                let needs = match errno {
                    libc::EOPNOTSUPP | libc::ENOENT => {
                        index.and_then(|i| plan.hints.get(&i)).cloned()
                    }
                    _ => None,
                };
                let (object, origin) = index
                    .and_then(|i| plan.describe(i))
                    .unwrap_or_else(|| (format!("message {}", e.request.seq), None));
                if errno == libc::EPERM {
                    return Err(Error::NotPermitted);
                }
                rejections.push(Rejection {
                    errno,
                    error: errno_text(errno),
                    object,
                    origin,
                    detail: e.msg.clone(),
                    needs,
                });
            }
        }
        if rejections.is_empty() {
            if kernel.batch_ack && batch.end_seq.is_some() && !end_acked {
                return Err(Error::OutcomeUnknown);
            }
            Ok(Outcome::Done)
        } else {
            Err(Error::Rejected(rejections))
        }
    }
}

fn send_error(e: io::Error) -> Error {
    match e.raw_os_error() {
        Some(libc::EPERM) => Error::NotPermitted,
        _ => Error::Io("send", e),
    }
}

fn recv_error(e: io::Error) -> Error {
    match e.raw_os_error() {
        Some(libc::ENOBUFS) => Error::OutcomeUnknown,
        _ => Error::Io("receive", e),
    }
}

pub(crate) fn errno_error(errno: i32) -> Error {
    match errno {
        libc::EPERM => Error::NotPermitted,
        libc::EOPNOTSUPP | libc::EPROTONOSUPPORT => Error::NoNfTables,
        _ => Error::Protocol(errno_text(errno)),
    }
}

/// `No such file or directory (ENOENT)`.
pub fn errno_text(errno: i32) -> String {
    let name = match errno {
        libc::EPERM => "EPERM",
        libc::ENOENT => "ENOENT",
        libc::E2BIG => "E2BIG",
        libc::ENOMEM => "ENOMEM",
        libc::EBUSY => "EBUSY",
        libc::EEXIST => "EEXIST",
        libc::EINVAL => "EINVAL",
        libc::ENFILE => "ENFILE",
        libc::ENOSPC => "ENOSPC",
        libc::ERANGE => "ERANGE",
        libc::EMLINK => "EMLINK",
        libc::ELOOP => "ELOOP",
        libc::EOPNOTSUPP => "EOPNOTSUPP",
        libc::ENOBUFS => "ENOBUFS",
        libc::EAFNOSUPPORT => "EAFNOSUPPORT",
        _ => "",
    };
    let text = io::Error::from_raw_os_error(errno).to_string();
    let text = text.split(" (os error").next().unwrap_or(&text).to_string();
    if name.is_empty() {
        format!("{text} (errno {errno})")
    } else {
        format!("{text} ({name})")
    }
}
