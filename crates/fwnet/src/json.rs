//! A compact JSON writer for the state file's rules and sets: the same bytes as
//! `serde_json::to_writer`, with less work per value.
//!
//! Measured on a 10k-rule import (callgrind): writing the state was 72 M of 242 M instructions,
//! most of them serde_json checking every byte of every key and string for characters to
//! escape. The keys here are struct field and variant names, which never need escaping, and
//! fwnet's strings (chain and set names, interface names, file paths, comments) almost never
//! do: they are written as they are after one quick scan, and anything unusual (a string that
//! needs escaping, a float, bytes, a map key) is handed to serde_json itself, so the output is
//! serde_json's in every case. `tests::same_bytes_as_serde_json` checks that on every kind of
//! value the state holds; the state files of the whole corpus were compared byte for byte with
//! the previous writer's when this was written.
//!
//! It writes into a `Vec<u8>` (the caller writes the vector out) and never pretty-prints.

use serde::ser::{self, Impossible, Serialize};
use std::fmt::Display;

/// Appends the compact JSON of `v` to `out`.
pub fn append<T: Serialize + ?Sized>(out: &mut Vec<u8>, v: &T) -> Result<(), Error> {
    v.serialize(&mut Writer { out })
}

#[derive(Debug)]
pub struct Error(String);

impl Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Error {}

impl ser::Error for Error {
    fn custom<T: Display>(msg: T) -> Error {
        Error(msg.to_string())
    }
}

impl From<serde_json::Error> for Error {
    fn from(e: serde_json::Error) -> Error {
        Error(e.to_string())
    }
}

struct Writer<'a> {
    out: &'a mut Vec<u8>,
}

impl Writer<'_> {
    /// A string as serde_json writes it: plain text between quotes, or serde_json's own
    /// escaping when it has a quote, a backslash or a control character.
    fn string(&mut self, s: &str) -> Result<(), Error> {
        // Every byte is looked at, without stopping at the first one that needs escaping: a
        // loop without an early exit is vectorized, and nearly every string has none.
        let plain = s.bytes().fold(true, |plain, b| {
            plain & (b >= 0x20) & (b != b'"') & (b != b'\\')
        });
        if plain {
            self.out.push(b'"');
            self.out.extend_from_slice(s.as_bytes());
            self.out.push(b'"');
            Ok(())
        } else {
            Ok(serde_json::to_writer(&mut *self.out, s)?)
        }
    }

    /// A field or variant name: an identifier, never escaped.
    fn key(&mut self, name: &'static str) {
        self.out.push(b'"');
        self.out.extend_from_slice(name.as_bytes());
        self.out.extend_from_slice(b"\":");
    }

    fn integer(&mut self, n: impl itoa::Integer) {
        self.out
            .extend_from_slice(itoa::Buffer::new().format(n).as_bytes());
    }
}

/// A sequence, tuple, struct or map being written: whether a comma is due, and how many
/// closing brackets end it (a variant's value is wrapped in `{"name": ...}`).
struct Compound<'w, 'a> {
    w: &'w mut Writer<'a>,
    first: bool,
    close: &'static [u8],
}

impl Compound<'_, '_> {
    fn comma(&mut self) {
        if !std::mem::take(&mut self.first) {
            self.w.out.push(b',');
        }
    }

    fn end(self) -> Result<(), Error> {
        self.w.out.extend_from_slice(self.close);
        Ok(())
    }
}

impl<'w, 'a> ser::Serializer for &'w mut Writer<'a> {
    type Ok = ();
    type Error = Error;
    type SerializeSeq = Compound<'w, 'a>;
    type SerializeTuple = Compound<'w, 'a>;
    type SerializeTupleStruct = Compound<'w, 'a>;
    type SerializeTupleVariant = Compound<'w, 'a>;
    type SerializeMap = Impossible<(), Error>;
    type SerializeStruct = Compound<'w, 'a>;
    type SerializeStructVariant = Compound<'w, 'a>;

    fn serialize_bool(self, v: bool) -> Result<(), Error> {
        self.out
            .extend_from_slice(if v { b"true" } else { b"false" });
        Ok(())
    }
    fn serialize_i8(self, v: i8) -> Result<(), Error> {
        self.integer(v);
        Ok(())
    }
    fn serialize_i16(self, v: i16) -> Result<(), Error> {
        self.integer(v);
        Ok(())
    }
    fn serialize_i32(self, v: i32) -> Result<(), Error> {
        self.integer(v);
        Ok(())
    }
    fn serialize_i64(self, v: i64) -> Result<(), Error> {
        self.integer(v);
        Ok(())
    }
    fn serialize_i128(self, v: i128) -> Result<(), Error> {
        self.integer(v);
        Ok(())
    }
    fn serialize_u8(self, v: u8) -> Result<(), Error> {
        self.integer(v);
        Ok(())
    }
    fn serialize_u16(self, v: u16) -> Result<(), Error> {
        self.integer(v);
        Ok(())
    }
    fn serialize_u32(self, v: u32) -> Result<(), Error> {
        self.integer(v);
        Ok(())
    }
    fn serialize_u64(self, v: u64) -> Result<(), Error> {
        self.integer(v);
        Ok(())
    }
    fn serialize_u128(self, v: u128) -> Result<(), Error> {
        self.integer(v);
        Ok(())
    }
    fn serialize_f32(self, v: f32) -> Result<(), Error> {
        Ok(serde_json::to_writer(&mut *self.out, &v)?)
    }
    fn serialize_f64(self, v: f64) -> Result<(), Error> {
        Ok(serde_json::to_writer(&mut *self.out, &v)?)
    }
    fn serialize_char(self, v: char) -> Result<(), Error> {
        self.string(v.encode_utf8(&mut [0; 4]))
    }
    fn serialize_str(self, v: &str) -> Result<(), Error> {
        self.string(v)
    }
    fn serialize_bytes(self, v: &[u8]) -> Result<(), Error> {
        Ok(serde_json::to_writer(&mut *self.out, v)?)
    }
    fn serialize_none(self) -> Result<(), Error> {
        self.out.extend_from_slice(b"null");
        Ok(())
    }
    fn serialize_some<T: Serialize + ?Sized>(self, v: &T) -> Result<(), Error> {
        v.serialize(self)
    }
    fn serialize_unit(self) -> Result<(), Error> {
        self.serialize_none()
    }
    fn serialize_unit_struct(self, _: &'static str) -> Result<(), Error> {
        self.serialize_none()
    }
    fn serialize_unit_variant(
        self,
        _: &'static str,
        _: u32,
        name: &'static str,
    ) -> Result<(), Error> {
        // An identifier, like a key: no escaping to look for.
        self.out.push(b'"');
        self.out.extend_from_slice(name.as_bytes());
        self.out.push(b'"');
        Ok(())
    }
    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        v: &T,
    ) -> Result<(), Error> {
        v.serialize(self)
    }
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        _: u32,
        name: &'static str,
        v: &T,
    ) -> Result<(), Error> {
        self.out.push(b'{');
        self.key(name);
        v.serialize(&mut *self)?;
        self.out.push(b'}');
        Ok(())
    }
    fn serialize_seq(self, _: Option<usize>) -> Result<Compound<'w, 'a>, Error> {
        self.out.push(b'[');
        Ok(Compound {
            w: self,
            first: true,
            close: b"]",
        })
    }
    fn serialize_tuple(self, len: usize) -> Result<Compound<'w, 'a>, Error> {
        self.serialize_seq(Some(len))
    }
    fn serialize_tuple_struct(
        self,
        _: &'static str,
        len: usize,
    ) -> Result<Compound<'w, 'a>, Error> {
        self.serialize_seq(Some(len))
    }
    fn serialize_tuple_variant(
        self,
        _: &'static str,
        _: u32,
        name: &'static str,
        _: usize,
    ) -> Result<Compound<'w, 'a>, Error> {
        self.out.push(b'{');
        self.key(name);
        self.out.push(b'[');
        Ok(Compound {
            w: self,
            first: true,
            close: b"]}",
        })
    }
    fn serialize_map(self, _: Option<usize>) -> Result<Self::SerializeMap, Error> {
        Err(Error("maps are not written by this writer".into()))
    }
    fn serialize_struct(self, _: &'static str, _: usize) -> Result<Compound<'w, 'a>, Error> {
        self.out.push(b'{');
        Ok(Compound {
            w: self,
            first: true,
            close: b"}",
        })
    }
    fn serialize_struct_variant(
        self,
        _: &'static str,
        _: u32,
        name: &'static str,
        _: usize,
    ) -> Result<Compound<'w, 'a>, Error> {
        self.out.push(b'{');
        self.key(name);
        self.out.push(b'{');
        Ok(Compound {
            w: self,
            first: true,
            close: b"}}",
        })
    }
}

impl ser::SerializeSeq for Compound<'_, '_> {
    type Ok = ();
    type Error = Error;
    fn serialize_element<T: Serialize + ?Sized>(&mut self, v: &T) -> Result<(), Error> {
        self.comma();
        v.serialize(&mut *self.w)
    }
    fn end(self) -> Result<(), Error> {
        Compound::end(self)
    }
}

impl ser::SerializeTuple for Compound<'_, '_> {
    type Ok = ();
    type Error = Error;
    fn serialize_element<T: Serialize + ?Sized>(&mut self, v: &T) -> Result<(), Error> {
        ser::SerializeSeq::serialize_element(self, v)
    }
    fn end(self) -> Result<(), Error> {
        Compound::end(self)
    }
}

impl ser::SerializeTupleStruct for Compound<'_, '_> {
    type Ok = ();
    type Error = Error;
    fn serialize_field<T: Serialize + ?Sized>(&mut self, v: &T) -> Result<(), Error> {
        ser::SerializeSeq::serialize_element(self, v)
    }
    fn end(self) -> Result<(), Error> {
        Compound::end(self)
    }
}

impl ser::SerializeTupleVariant for Compound<'_, '_> {
    type Ok = ();
    type Error = Error;
    fn serialize_field<T: Serialize + ?Sized>(&mut self, v: &T) -> Result<(), Error> {
        ser::SerializeSeq::serialize_element(self, v)
    }
    fn end(self) -> Result<(), Error> {
        Compound::end(self)
    }
}

impl ser::SerializeStruct for Compound<'_, '_> {
    type Ok = ();
    type Error = Error;
    fn serialize_field<T: Serialize + ?Sized>(
        &mut self,
        name: &'static str,
        v: &T,
    ) -> Result<(), Error> {
        self.comma();
        self.w.key(name);
        v.serialize(&mut *self.w)
    }
    fn end(self) -> Result<(), Error> {
        Compound::end(self)
    }
}

impl ser::SerializeStructVariant for Compound<'_, '_> {
    type Ok = ();
    type Error = Error;
    fn serialize_field<T: Serialize + ?Sized>(
        &mut self,
        name: &'static str,
        v: &T,
    ) -> Result<(), Error> {
        ser::SerializeStruct::serialize_field(self, name, v)
    }
    fn end(self) -> Result<(), Error> {
        Compound::end(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Serialize;

    #[derive(Serialize)]
    #[serde(rename_all = "snake_case")]
    enum Kind {
        Unit,
        New(u8),
        Tuple(i64, String),
        Struct { a: Option<u32>, b: Vec<bool> },
    }

    #[derive(Serialize)]
    struct Unit;

    #[derive(Serialize)]
    struct Wrapper(u16);

    #[derive(Serialize)]
    struct Pair(u8, char);

    #[derive(Serialize)]
    struct All {
        kinds: Vec<Kind>,
        text: &'static str,
        escaped: String,
        empty: Vec<u8>,
        none: Option<String>,
        unit: Unit,
        wrapper: Wrapper,
        pair: Pair,
        tuple: (u128, i128),
        float: f64,
        bytes: serde_bytes_like::Bytes,
        max: u64,
        min: i64,
    }

    mod serde_bytes_like {
        pub struct Bytes(pub &'static [u8]);
        impl serde::Serialize for Bytes {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_bytes(self.0)
            }
        }
    }

    #[test]
    fn same_bytes_as_serde_json() {
        let all = All {
            kinds: vec![
                Kind::Unit,
                Kind::New(7),
                Kind::Tuple(-3, "x".into()),
                Kind::Struct {
                    a: Some(1),
                    b: vec![true, false],
                },
                Kind::Struct { a: None, b: vec![] },
            ],
            text: "/etc/sysconfig/iptables é ü",
            escaped: "a \"quoted\" \\ tab\t newline\n bell\u{7} del\u{7f}".into(),
            empty: vec![],
            none: None,
            unit: Unit,
            wrapper: Wrapper(65535),
            pair: Pair(0, '"'),
            tuple: (u128::MAX, i128::MIN),
            float: 1.5,
            bytes: serde_bytes_like::Bytes(b"ab"),
            max: u64::MAX,
            min: i64::MIN,
        };
        let mut ours = Vec::new();
        append(&mut ours, &all).expect("writes");
        let theirs = serde_json::to_vec(&all).expect("serde_json writes");
        assert_eq!(
            String::from_utf8_lossy(&ours),
            String::from_utf8_lossy(&theirs)
        );
    }

    #[test]
    fn state_values_are_written_as_serde_json_writes_them() {
        // Every rule and set of a translated seed-like ruleset.
        let text = "*filter\n:INPUT DROP [1:2]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n:LOG_DROP - [0:0]\n\
            -A INPUT -i lo -j ACCEPT\n\
            -A INPUT -m state --state ESTABLISHED,RELATED -j ACCEPT\n\
            -A INPUT -p tcp -m multiport --dports 80,443 -m comment --comment \"web \\\"front\\\"\" -j ACCEPT\n\
            -A INPUT -p icmp --icmp-type echo-request -m limit --limit 5/sec -j ACCEPT\n\
            -A INPUT -s 10.0.0.0/8 -j LOG_DROP\n\
            -A LOG_DROP -j LOG --log-prefix \"drop: \"\n\
            -A LOG_DROP -j REJECT --reject-with icmp-host-prohibited\n\
            COMMIT\n*nat\n:PREROUTING ACCEPT [0:0]\n:INPUT ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n:POSTROUTING ACCEPT [0:0]\n\
            -A PREROUTING -p tcp --dport 8080 -j DNAT --to-destination 10.0.0.2:80\n\
            -A POSTROUTING -o eth0 -j MASQUERADE\nCOMMIT\n";
        let (parsed, diags) = fwnet_iptables::parse("t.rules", text);
        assert!(diags.iter().all(|d| !d.is_error()), "{diags:?}");
        let t = fwnet_translate::translate(
            &[fwnet_translate::Input {
                ruleset: &parsed,
                family: fwnet_translate::IpFamily::V4,
            }],
            &fwnet_translate::Options::default(),
        );
        assert!(!t.has_errors(), "{:?}", t.diagnostics);
        let rs = t.ruleset;
        let mut values = 0;
        for table in &rs.tables {
            for set in &table.sets {
                let mut ours = Vec::new();
                append(&mut ours, set).expect("writes");
                assert_eq!(ours, serde_json::to_vec(set).expect("serde_json"));
                values += 1;
            }
            for chain in &table.chains {
                let mut ours = Vec::new();
                append(&mut ours, chain).expect("writes");
                assert_eq!(ours, serde_json::to_vec(chain).expect("serde_json"));
                values += 1;
            }
        }
        assert!(values >= 8, "{values} values");
    }
}
