//! A pure nf_tables netlink codec: typed messages and kernel expressions, to bytes and back.
//!
//! No sockets, no files: `fwnet-apply` owns I/O. Encoding is byte-exact with what `nft` 1.0.6
//! sends (see the golden tests over `test_data/`); decoding never fails on attributes or
//! expressions it does not know, it keeps them (`other` fields, [`Expr::Other`]), and never
//! panics on truncated or garbage bytes ([`DecodeError`]).
//!
//! Map of the crate:
//! - [`consts`]: uapi constants under their kernel names.
//! - [`attr`]: the nlattr TLV writer and reader.
//! - [`Table`], [`Chain`], [`Set`], [`SetElemList`], [`Rule`], [`Gen`], [`Obj`] (stateful
//!   objects: ct helpers): objects, each an
//!   [`Object`] with `encode` / `decode`.
//! - [`Expr`]: kernel expressions; `Display` prints them as `nft --debug=netlink` does.
//! - [`Batch`]: BEGIN .. messages .. END with seq -> message mapping.
//! - [`dump`]: GET requests. [`parse_replies`]: what the kernel sends back.
//! - [`conntrack`]: ctnetlink requests that add and remove one connection (for `fwnet verify`).

pub mod attr;
mod batch;
mod chain;
pub mod conntrack;
pub mod consts;
mod data;
pub mod dump;
mod error;
pub mod expr;
mod gen;
mod msg;
mod obj;
mod rule;
mod set;
mod setelem;
mod table;

pub use batch::{Batch, EncodedBatch};
pub use chain::{Chain, Counters, Hook};
pub use error::DecodeError;
pub use expr::*;
pub use gen::Gen;
pub use msg::{
    decode_reply, frames, nft_type, parse_replies, write_message, Frames, Header, NfGenMsg,
    NlError, Object, Replies, Reply, ReplyBody,
};
pub use obj::{CtHelper, Obj, ObjData};
pub use rule::{comment_userdata, counter_of, userdata_comment, Rule};
pub use set::{Set, SetDesc};
pub use setelem::{SetElem, SetElemList};
pub use table::Table;
