//! The state file's binary encoding: serde's data model written as tagged values, with struct
//! field and enum variant names written once per file and referred to by number after that.
//!
//! Why not JSON: reading a 100k-rule state with serde_json was 58% of `fwnet apply`'s
//! instructions (1.00 of 1.75 G), most of it scanning quoted keys and strings; writing it was
//! most of `fwnet import`'s last phase. This encoding keeps JSON's one property the state needs,
//! that it is read by name (a field or variant is found by its name, never by its position, so
//! a later fwnet that reorders or adds fields reads an older file as it would read the JSON),
//! and drops the text: a value is a tag byte and its payload, a number is a LEB128 varint, a
//! string its length and its bytes.
//!
//! Layout of a value (tags in `tag`):
//! - `NONE`, `UNIT`, `FALSE`, `TRUE`: the tag alone; `SOME` is followed by the value;
//! - `UINT n` a non-negative integer, `NEG n` the integer `-1 - n`, `F64` eight bytes
//!   little-endian;
//! - `STR len bytes` (UTF-8, checked when read), `BYTES len bytes`;
//! - `STR_AGAIN offset`: the string of the `STR` value at that byte offset (counted from the
//!   start of the encoding), earlier in the file. A long string the writer met shortly before
//!   is written this way: a rule's origin names its file, the same long path in every rule,
//!   which was over a third of a state's bytes (encoding 2; encoding 1 has no such tag);
//! - `SEQ n` then n values (sequences, tuples, tuple structs);
//! - `MAP n` then n key/value pairs;
//! - `STRUCT` then `name value` pairs up to the end name `0`;
//! - `UNIT_VARIANT name`, `NEWTYPE_VARIANT name value`, `TUPLE_VARIANT name n values`,
//!   `STRUCT_VARIANT name` then pairs as in `STRUCT`.
//!
//! A name is a varint: `0` ends a struct, `1` is followed by a new name (`len bytes`), which gets
//! the next number, and `k >= 2` is the name numbered `k - 2`. Newtype structs are written as
//! their content, as serde_json writes them. Addresses and other types with two forms take
//! serde's compact form (`is_human_readable` is false on both sides).
//!
//! What this does not do: it is not a general serde format. A sequence or map must say its
//! length (every type the state holds does), and 128-bit integers are refused. Nesting deeper
//! than [`MAX_DEPTH`] is refused when read, so a damaged file cannot exhaust the stack.

use serde::de::{self, DeserializeSeed, Visitor};
use serde::ser::{self, Serialize};
use std::collections::HashMap;
use std::fmt::Display;
use std::io::Write;

/// Value tags.
mod tag {
    pub const NONE: u8 = 0;
    pub const SOME: u8 = 1;
    pub const UNIT: u8 = 2;
    pub const FALSE: u8 = 3;
    pub const TRUE: u8 = 4;
    pub const UINT: u8 = 5;
    pub const NEG: u8 = 6;
    pub const F64: u8 = 7;
    pub const STR: u8 = 8;
    pub const BYTES: u8 = 9;
    pub const SEQ: u8 = 10;
    pub const MAP: u8 = 11;
    pub const STRUCT: u8 = 12;
    pub const UNIT_VARIANT: u8 = 13;
    pub const NEWTYPE_VARIANT: u8 = 14;
    pub const TUPLE_VARIANT: u8 = 15;
    pub const STRUCT_VARIANT: u8 = 16;
    pub const STR_AGAIN: u8 = 17;
}

/// Strings at least this long are looked for among the last few written ([`RECENT`]); a
/// shorter one is written again (its bytes cost about what a reference does).
const REPEAT_MIN: usize = 16;
/// How many of the latest long strings the writer remembers.
const RECENT: usize = 4;

/// The name number that ends a struct's fields, and the one that introduces a new name.
const END: u64 = 0;
const NEW_NAME: u64 = 1;

/// How deeply values may nest when read (the state's deepest is under 20).
pub const MAX_DEPTH: u32 = 128;

/// Slots in the writer's cache of names (a power of two).
const CACHE_BITS: u32 = 8;
const CACHE: usize = 1 << CACHE_BITS;

/// The writer hands its bytes on whenever this many have gathered.
const FLUSH_AT: usize = 1 << 18;

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

impl de::Error for Error {
    fn custom<T: Display>(msg: T) -> Error {
        Error(msg.to_string())
    }
}

/// Writes `v` to `out`.
pub fn write<W: Write, T: Serialize + ?Sized>(out: W, v: &T) -> std::io::Result<()> {
    let mut p = Packer {
        out,
        buf: Vec::with_capacity(FLUSH_AT + 4096),
        names: HashMap::default(),
        cache: Box::new([(0, 0, 0); CACHE]),
        handed_on: 0,
        recent: Default::default(),
        next_recent: 0,
        failed: None,
    };
    let done = v.serialize(&mut p);
    if let Some(e) = p.failed.take() {
        return Err(e);
    }
    done.map_err(std::io::Error::other)?;
    p.out.write_all(&p.buf)
}

/// Reads a value of type `T` that [`write()`] wrote; every byte of `bytes` must belong to it.
pub fn read<'de, T: de::Deserialize<'de>>(bytes: &'de [u8]) -> Result<T, Error> {
    let mut u = Unpacker {
        input: bytes,
        pos: 0,
        names: Vec::new(),
        depth: 0,
        again: None,
    };
    let v = T::deserialize(&mut u).map_err(|e| u.at(e))?;
    if u.pos != bytes.len() {
        return Err(u.at(Error(format!(
            "{} bytes left over after the value",
            bytes.len() - u.pos
        ))));
    }
    Ok(v)
}

#[inline]
fn put_varint(buf: &mut Vec<u8>, mut n: u64) {
    if n < 0x80 {
        buf.push(n as u8);
        return;
    }
    while n >= 0x80 {
        buf.push(n as u8 | 0x80);
        n >>= 7;
    }
    buf.push(n as u8);
}

struct Packer<W> {
    out: W,
    buf: Vec<u8>,
    /// Names written so far, by the address and length of their `'static` text. Two copies of
    /// one text at two addresses get two numbers, which costs a few bytes and nothing else.
    names: HashMap<(usize, usize), u64, std::hash::BuildHasherDefault<crate::Fold>>,
    /// Recently used names by a hash of their address: (address, length, number).
    cache: Box<[(usize, usize, u64); CACHE]>,
    /// Bytes handed on to `out` so far: the offset of `buf`'s first byte.
    handed_on: usize,
    /// The latest long strings written as `STR`: the offset of their tag and their bytes
    /// (compared by content: a string's address may be reused by another once it is freed).
    recent: [(usize, Vec<u8>); RECENT],
    /// The slot of `recent` the next long string takes.
    next_recent: usize,
    /// The first write error: serde's error type is this module's, so it waits here.
    failed: Option<std::io::Error>,
}

impl<W: Write> Packer<W> {
    /// A field or variant name: its number, or the name itself the first time.
    #[inline]
    fn name(&mut self, name: &'static str) {
        let key = (name.as_ptr() as usize, name.len());
        // Most names are found in the cache, a slot per address: a field's name is one text
        // at one address, looked up tens of times per rule.
        let slot = (key.0 as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15) as usize
            >> (usize::BITS - CACHE_BITS);
        match self.cache[slot] {
            (addr, len, number) if (addr, len) == key && number < 0x7e => {
                self.buf.push(number as u8 + 2);
            }
            _ => self.uncached_name(name, slot),
        }
    }

    #[cold]
    fn uncached_name(&mut self, name: &'static str, slot: usize) {
        let key = (name.as_ptr() as usize, name.len());
        let next = self.names.len() as u64;
        let number = *self.names.entry(key).or_insert(next);
        self.cache[slot] = (key.0, key.1, number);
        if number == next {
            put_varint(&mut self.buf, NEW_NAME);
            put_varint(&mut self.buf, name.len() as u64);
            self.buf.extend_from_slice(name.as_bytes());
        } else {
            put_varint(&mut self.buf, number + 2);
        }
    }

    #[inline]
    fn tagged(&mut self, tag: u8, n: u64) {
        if n < 0x80 {
            // Most counts and lengths: one capacity check for both bytes.
            self.buf.extend_from_slice(&[tag, n as u8]);
        } else {
            self.buf.push(tag);
            put_varint(&mut self.buf, n);
        }
    }

    fn text(&mut self, tag: u8, bytes: &[u8]) {
        self.tagged(tag, bytes.len() as u64);
        self.buf.extend_from_slice(bytes);
    }

    /// A string: a reference to the same text written shortly before, if it is long.
    fn string(&mut self, s: &str) {
        let bytes = s.as_bytes();
        if bytes.len() >= REPEAT_MIN {
            if let Some((at, _)) = self.recent.iter().find(|(_, b)| b.as_slice() == bytes) {
                let at = *at as u64;
                self.tagged(tag::STR_AGAIN, at);
                return;
            }
            let at = self.handed_on + self.buf.len();
            let slot = &mut self.recent[self.next_recent];
            slot.0 = at;
            slot.1.clear();
            slot.1.extend_from_slice(bytes);
            self.next_recent = (self.next_recent + 1) % RECENT;
        }
        self.text(tag::STR, bytes);
    }

    fn uint(&mut self, n: u64) {
        self.tagged(tag::UINT, n);
    }

    fn int(&mut self, n: i64) {
        if n >= 0 {
            self.uint(n as u64);
        } else {
            // -1 - n, without overflow at i64::MIN.
            self.tagged(tag::NEG, !(n as u64));
        }
    }

    /// Between the elements of a sequence: hands the bytes on once enough have gathered.
    fn maybe_flush(&mut self) {
        if self.buf.len() >= FLUSH_AT && self.failed.is_none() {
            if let Err(e) = self.out.write_all(&self.buf) {
                self.failed = Some(e);
            }
            self.handed_on += self.buf.len();
            self.buf.clear();
        }
    }

    fn length(len: Option<usize>) -> Result<u64, Error> {
        len.map(|n| n as u64).ok_or_else(|| {
            Error("a sequence or map of unknown length cannot be written".to_string())
        })
    }
}

impl<'a, W: Write> ser::Serializer for &'a mut Packer<W> {
    type Ok = ();
    type Error = Error;
    type SerializeSeq = &'a mut Packer<W>;
    type SerializeTuple = &'a mut Packer<W>;
    type SerializeTupleStruct = &'a mut Packer<W>;
    type SerializeTupleVariant = &'a mut Packer<W>;
    type SerializeMap = &'a mut Packer<W>;
    type SerializeStruct = &'a mut Packer<W>;
    type SerializeStructVariant = &'a mut Packer<W>;

    fn is_human_readable(&self) -> bool {
        false
    }

    fn serialize_bool(self, v: bool) -> Result<(), Error> {
        self.buf.push(if v { tag::TRUE } else { tag::FALSE });
        Ok(())
    }
    fn serialize_i8(self, v: i8) -> Result<(), Error> {
        self.int(v.into());
        Ok(())
    }
    fn serialize_i16(self, v: i16) -> Result<(), Error> {
        self.int(v.into());
        Ok(())
    }
    fn serialize_i32(self, v: i32) -> Result<(), Error> {
        self.int(v.into());
        Ok(())
    }
    fn serialize_i64(self, v: i64) -> Result<(), Error> {
        self.int(v);
        Ok(())
    }
    fn serialize_u8(self, v: u8) -> Result<(), Error> {
        self.uint(v.into());
        Ok(())
    }
    fn serialize_u16(self, v: u16) -> Result<(), Error> {
        self.uint(v.into());
        Ok(())
    }
    fn serialize_u32(self, v: u32) -> Result<(), Error> {
        self.uint(v.into());
        Ok(())
    }
    fn serialize_u64(self, v: u64) -> Result<(), Error> {
        self.uint(v);
        Ok(())
    }
    fn serialize_f32(self, v: f32) -> Result<(), Error> {
        self.serialize_f64(v.into())
    }
    fn serialize_f64(self, v: f64) -> Result<(), Error> {
        self.buf.push(tag::F64);
        self.buf.extend_from_slice(&v.to_le_bytes());
        Ok(())
    }
    fn serialize_char(self, v: char) -> Result<(), Error> {
        self.text(tag::STR, v.encode_utf8(&mut [0; 4]).as_bytes());
        Ok(())
    }
    fn serialize_str(self, v: &str) -> Result<(), Error> {
        self.string(v);
        Ok(())
    }
    fn serialize_bytes(self, v: &[u8]) -> Result<(), Error> {
        self.text(tag::BYTES, v);
        Ok(())
    }
    fn serialize_none(self) -> Result<(), Error> {
        self.buf.push(tag::NONE);
        Ok(())
    }
    fn serialize_some<T: Serialize + ?Sized>(self, v: &T) -> Result<(), Error> {
        self.buf.push(tag::SOME);
        v.serialize(self)
    }
    fn serialize_unit(self) -> Result<(), Error> {
        self.buf.push(tag::UNIT);
        Ok(())
    }
    fn serialize_unit_struct(self, _: &'static str) -> Result<(), Error> {
        self.serialize_unit()
    }
    fn serialize_unit_variant(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
    ) -> Result<(), Error> {
        self.buf.push(tag::UNIT_VARIANT);
        self.name(variant);
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
        variant: &'static str,
        v: &T,
    ) -> Result<(), Error> {
        self.buf.push(tag::NEWTYPE_VARIANT);
        self.name(variant);
        v.serialize(self)
    }
    fn serialize_seq(self, len: Option<usize>) -> Result<Self, Error> {
        let n = Packer::<W>::length(len)?;
        self.tagged(tag::SEQ, n);
        Ok(self)
    }
    fn serialize_tuple(self, len: usize) -> Result<Self, Error> {
        self.serialize_seq(Some(len))
    }
    fn serialize_tuple_struct(self, _: &'static str, len: usize) -> Result<Self, Error> {
        self.serialize_seq(Some(len))
    }
    fn serialize_tuple_variant(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
        len: usize,
    ) -> Result<Self, Error> {
        self.buf.push(tag::TUPLE_VARIANT);
        self.name(variant);
        put_varint(&mut self.buf, len as u64);
        Ok(self)
    }
    fn serialize_map(self, len: Option<usize>) -> Result<Self, Error> {
        let n = Packer::<W>::length(len)?;
        self.tagged(tag::MAP, n);
        Ok(self)
    }
    fn serialize_struct(self, _: &'static str, _: usize) -> Result<Self, Error> {
        self.buf.push(tag::STRUCT);
        Ok(self)
    }
    fn serialize_struct_variant(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
        _: usize,
    ) -> Result<Self, Error> {
        self.buf.push(tag::STRUCT_VARIANT);
        self.name(variant);
        Ok(self)
    }
    fn serialize_i128(self, _: i128) -> Result<(), Error> {
        Err(Error("128-bit integers are not written".to_string()))
    }
    fn serialize_u128(self, _: u128) -> Result<(), Error> {
        Err(Error("128-bit integers are not written".to_string()))
    }
}

impl<W: Write> ser::SerializeSeq for &mut Packer<W> {
    type Ok = ();
    type Error = Error;
    fn serialize_element<T: Serialize + ?Sized>(&mut self, v: &T) -> Result<(), Error> {
        v.serialize(&mut **self)?;
        self.maybe_flush();
        Ok(())
    }
    fn end(self) -> Result<(), Error> {
        Ok(())
    }
}

/// Tuples, tuple structs and tuple variants: their items one after the other (the count was
/// written before them).
macro_rules! items {
    ($($kind:ident :: $method:ident),*) => {$(
        impl<W: Write> ser::$kind for &mut Packer<W> {
            type Ok = ();
            type Error = Error;
            fn $method<T: Serialize + ?Sized>(&mut self, v: &T) -> Result<(), Error> {
                v.serialize(&mut **self)
            }
            fn end(self) -> Result<(), Error> {
                Ok(())
            }
        }
    )*};
}

items!(
    SerializeTuple::serialize_element,
    SerializeTupleStruct::serialize_field,
    SerializeTupleVariant::serialize_field
);

impl<W: Write> ser::SerializeMap for &mut Packer<W> {
    type Ok = ();
    type Error = Error;
    fn serialize_key<T: Serialize + ?Sized>(&mut self, k: &T) -> Result<(), Error> {
        k.serialize(&mut **self)
    }
    fn serialize_value<T: Serialize + ?Sized>(&mut self, v: &T) -> Result<(), Error> {
        v.serialize(&mut **self)
    }
    fn end(self) -> Result<(), Error> {
        Ok(())
    }
}

/// Structs and struct variants: `name value` pairs, then the end mark.
macro_rules! fields {
    ($($kind:ident),*) => {$(
        impl<W: Write> ser::$kind for &mut Packer<W> {
            type Ok = ();
            type Error = Error;
            fn serialize_field<T: Serialize + ?Sized>(
                &mut self,
                key: &'static str,
                v: &T,
            ) -> Result<(), Error> {
                self.name(key);
                v.serialize(&mut **self)
            }
            fn end(self) -> Result<(), Error> {
                put_varint(&mut self.buf, END);
                Ok(())
            }
        }
    )*};
}

fields!(SerializeStruct, SerializeStructVariant);

struct Unpacker<'de> {
    input: &'de [u8],
    pos: usize,
    /// Names in the order they were introduced.
    names: Vec<&'de str>,
    depth: u32,
    /// The last string a `STR_AGAIN` referred to, by its offset: the next reference is nearly
    /// always to the same one (the file of the rule before), which is then not checked again.
    again: Option<(usize, &'de str)>,
}

impl<'de> Unpacker<'de> {
    /// `e` with the offset where reading stopped.
    fn at(&self, e: Error) -> Error {
        Error(format!("at byte {}: {}", self.pos, e.0))
    }

    #[inline(always)]
    fn byte(&mut self) -> Result<u8, Error> {
        let b = *self
            .input
            .get(self.pos)
            .ok_or_else(|| Error("the file ends inside a value".to_string()))?;
        self.pos += 1;
        Ok(b)
    }

    #[inline(always)]
    fn peek(&self) -> Result<u8, Error> {
        self.input
            .get(self.pos)
            .copied()
            .ok_or_else(|| Error("the file ends inside a value".to_string()))
    }

    #[inline]
    fn varint(&mut self) -> Result<u64, Error> {
        // Nearly every number (names, lengths, counts, small integers) takes one byte.
        match self.input.get(self.pos) {
            Some(&b) if b < 0x80 => {
                self.pos += 1;
                Ok(u64::from(b))
            }
            _ => self.long_varint(),
        }
    }

    fn long_varint(&mut self) -> Result<u64, Error> {
        let mut n = 0u64;
        for shift in (0..64).step_by(7) {
            let b = self.byte()?;
            let bits = u64::from(b & 0x7f);
            if shift == 63 && bits > 1 {
                break;
            }
            n |= bits << shift;
            if b & 0x80 == 0 {
                return Ok(n);
            }
        }
        Err(Error("a number longer than 64 bits".to_string()))
    }

    #[inline]
    fn slice(&mut self) -> Result<&'de [u8], Error> {
        let len = self.varint()?;
        let end = usize::try_from(len)
            .ok()
            .and_then(|l| self.pos.checked_add(l))
            .filter(|&e| e <= self.input.len())
            .ok_or_else(|| Error("a string runs past the end of the file".to_string()))?;
        let s = &self.input[self.pos..end];
        self.pos = end;
        Ok(s)
    }

    #[inline]
    fn str(&mut self) -> Result<&'de str, Error> {
        let bytes = self.slice()?;
        std::str::from_utf8(bytes).map_err(|_| Error("a string is not UTF-8".to_string()))
    }

    /// The string a `STR_AGAIN` refers to (its tag read): a `STR` value before this one.
    fn str_again(&mut self) -> Result<&'de str, Error> {
        let here = self.pos - 1;
        let at = usize::try_from(self.varint()?).ok();
        if let Some((last, s)) = self.again.filter(|(last, _)| Some(*last) == at) {
            // Checked when first referred to, at an offset before this one.
            debug_assert!(last < here);
            return Ok(s);
        }
        let at = at
            .filter(|&at| at < here && self.input[at] == tag::STR)
            .ok_or_else(|| Error("a repeated string refers to no string before it".to_string()))?;
        let back = std::mem::replace(&mut self.pos, at + 1);
        let s = self.str();
        self.pos = back;
        self.again = s.as_ref().ok().map(|s| (at, *s));
        s
    }

    /// A field or variant name; `None` at the end of a struct's fields.
    #[inline(always)]
    fn name(&mut self) -> Result<Option<&'de str>, Error> {
        // Nearly every name is one of the first 126, written as one byte, or the end.
        if let Some(&b) = self.input.get(self.pos) {
            if b as u64 == END {
                self.pos += 1;
                return Ok(None);
            }
            if let Some(&s) = (2..0x80)
                .contains(&b)
                .then(|| self.names.get(usize::from(b - 2)))
                .flatten()
            {
                self.pos += 1;
                return Ok(Some(s));
            }
        }
        self.any_name()
    }

    #[cold]
    fn any_name(&mut self) -> Result<Option<&'de str>, Error> {
        match self.varint()? {
            END => Ok(None),
            NEW_NAME => {
                let s = self.str()?;
                self.names.push(s);
                Ok(Some(s))
            }
            k => usize::try_from(k - 2)
                .ok()
                .and_then(|i| self.names.get(i).copied())
                .map(Some)
                .ok_or_else(|| Error(format!("name number {} is not defined", k - 2))),
        }
    }

    #[inline]
    fn enter(&mut self) -> Result<(), Error> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(Error(format!("values nested deeper than {MAX_DEPTH}")));
        }
        Ok(())
    }

    #[inline]
    fn count(&mut self) -> Result<usize, Error> {
        let n = self.varint()?;
        // Every element takes at least a byte: a larger count is damage, not a large state.
        usize::try_from(n)
            .ok()
            .filter(|&n| n <= self.input.len() - self.pos)
            .ok_or_else(|| Error(format!("a count of {n} runs past the end of the file")))
    }

    /// Reads past one value.
    fn skip(&mut self) -> Result<(), Error> {
        self.enter()?;
        match self.byte()? {
            tag::NONE | tag::UNIT | tag::FALSE | tag::TRUE => {}
            tag::SOME => self.skip()?,
            tag::UINT | tag::NEG => {
                self.varint()?;
            }
            tag::F64 => {
                self.fixed::<8>()?;
            }
            tag::STR | tag::BYTES => {
                self.slice()?;
            }
            tag::STR_AGAIN => {
                self.str_again()?;
            }
            tag::SEQ => {
                for _ in 0..self.count()? {
                    self.skip()?;
                }
            }
            tag::MAP => {
                for _ in 0..self.count()? {
                    self.skip()?;
                    self.skip()?;
                }
            }
            tag::STRUCT => self.skip_fields()?,
            tag::UNIT_VARIANT => {
                self.variant_name()?;
            }
            tag::NEWTYPE_VARIANT => {
                self.variant_name()?;
                self.skip()?;
            }
            tag::TUPLE_VARIANT => {
                self.variant_name()?;
                for _ in 0..self.count()? {
                    self.skip()?;
                }
            }
            tag::STRUCT_VARIANT => {
                self.variant_name()?;
                self.skip_fields()?;
            }
            t => return Err(Error(format!("unknown value tag {t}"))),
        }
        self.depth -= 1;
        Ok(())
    }

    fn skip_fields(&mut self) -> Result<(), Error> {
        while self.name()?.is_some() {
            self.skip()?;
        }
        Ok(())
    }

    #[inline(always)]
    fn variant_name(&mut self) -> Result<&'de str, Error> {
        self.name()?
            .ok_or_else(|| Error("a variant without a name".to_string()))
    }

    #[inline]
    fn fixed<const N: usize>(&mut self) -> Result<[u8; N], Error> {
        let end = self.pos + N;
        let b = self
            .input
            .get(self.pos..end)
            .ok_or_else(|| Error("the file ends inside a value".to_string()))?;
        self.pos = end;
        Ok(b.try_into().expect("a slice of N bytes"))
    }
}

impl<'de> de::Deserializer<'de> for &mut Unpacker<'de> {
    type Error = Error;

    fn is_human_readable(&self) -> bool {
        false
    }

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        let t = self.byte()?;
        match t {
            tag::NONE => visitor.visit_none(),
            tag::UNIT => visitor.visit_unit(),
            tag::FALSE => visitor.visit_bool(false),
            tag::TRUE => visitor.visit_bool(true),
            tag::UINT => visitor.visit_u64(self.varint()?),
            tag::NEG => visitor.visit_i64(!(self.varint()? as i64)),
            tag::F64 => visitor.visit_f64(f64::from_le_bytes(self.fixed::<8>()?)),
            tag::STR => visitor.visit_borrowed_str(self.str()?),
            tag::STR_AGAIN => visitor.visit_borrowed_str(self.str_again()?),
            tag::BYTES => visitor.visit_borrowed_bytes(self.slice()?),
            _ => {
                self.enter()?;
                let v = match t {
                    tag::SOME => visitor.visit_some(&mut *self),
                    tag::SEQ => {
                        let left = self.count()?;
                        visitor.visit_seq(Counted { de: self, left })
                    }
                    tag::MAP => {
                        let left = self.count()?;
                        visitor.visit_map(Counted { de: self, left })
                    }
                    tag::STRUCT => visitor.visit_map(Fields { de: self }),
                    tag::UNIT_VARIANT
                    | tag::NEWTYPE_VARIANT
                    | tag::TUPLE_VARIANT
                    | tag::STRUCT_VARIANT => visitor.visit_enum(Variant { de: self, tag: t }),
                    t => Err(Error(format!("unknown value tag {t}"))),
                }?;
                self.depth -= 1;
                Ok(v)
            }
        }
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match self.peek()? {
            tag::NONE | tag::UNIT => {
                self.pos += 1;
                visitor.visit_none()
            }
            tag::SOME => {
                self.pos += 1;
                self.enter()?;
                let v = visitor.visit_some(&mut *self)?;
                self.depth -= 1;
                Ok(v)
            }
            _ => visitor.visit_some(self),
        }
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _: &'static str,
        visitor: V,
    ) -> Result<V::Value, Error> {
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_ignored_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        self.skip()?;
        visitor.visit_unit()
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf
        unit unit_struct seq tuple tuple_struct map struct enum identifier
    }
}

/// The items of a sequence, or the pairs of a map, whose count has been read.
struct Counted<'a, 'de> {
    de: &'a mut Unpacker<'de>,
    left: usize,
}

impl Counted<'_, '_> {
    /// Whether there is another item (or pair), counting it off.
    fn next(&mut self) -> bool {
        let more = self.left > 0;
        self.left = self.left.saturating_sub(1);
        more
    }
}

impl<'de> de::SeqAccess<'de> for Counted<'_, 'de> {
    type Error = Error;
    fn next_element_seed<T: DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, Error> {
        match self.next() {
            true => seed.deserialize(&mut *self.de).map(Some),
            false => Ok(None),
        }
    }
    fn size_hint(&self) -> Option<usize> {
        Some(self.left)
    }
}

impl<'de> de::MapAccess<'de> for Counted<'_, 'de> {
    type Error = Error;
    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, Error> {
        match self.next() {
            true => seed.deserialize(&mut *self.de).map(Some),
            false => Ok(None),
        }
    }
    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, Error> {
        seed.deserialize(&mut *self.de)
    }
    fn size_hint(&self) -> Option<usize> {
        Some(self.left)
    }
}

/// A struct's fields, up to the end name.
struct Fields<'a, 'de> {
    de: &'a mut Unpacker<'de>,
}

impl<'de> de::MapAccess<'de> for Fields<'_, 'de> {
    type Error = Error;
    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, Error> {
        match self.de.name()? {
            None => Ok(None),
            Some(name) => seed
                .deserialize(de::value::BorrowedStrDeserializer::new(name))
                .map(Some),
        }
    }
    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, Error> {
        seed.deserialize(&mut *self.de)
    }
}

/// An enum value whose tag has been read.
struct Variant<'a, 'de> {
    de: &'a mut Unpacker<'de>,
    tag: u8,
}

impl<'a, 'de> de::EnumAccess<'de> for Variant<'a, 'de> {
    type Error = Error;
    type Variant = Variant<'a, 'de>;
    fn variant_seed<V: DeserializeSeed<'de>>(self, seed: V) -> Result<(V::Value, Self), Error> {
        let name = self.de.variant_name()?;
        let v = seed.deserialize(de::value::BorrowedStrDeserializer::new(name))?;
        Ok((v, self))
    }
}

impl<'de> de::VariantAccess<'de> for Variant<'_, 'de> {
    type Error = Error;
    fn unit_variant(self) -> Result<(), Error> {
        match self.tag {
            tag::UNIT_VARIANT => Ok(()),
            _ => Err(Error("expected a variant without content".to_string())),
        }
    }
    fn newtype_variant_seed<T: DeserializeSeed<'de>>(self, seed: T) -> Result<T::Value, Error> {
        match self.tag {
            tag::NEWTYPE_VARIANT => seed.deserialize(&mut *self.de),
            _ => Err(Error("expected a variant with one value".to_string())),
        }
    }
    fn tuple_variant<V: Visitor<'de>>(self, _: usize, visitor: V) -> Result<V::Value, Error> {
        match self.tag {
            tag::TUPLE_VARIANT => {
                let left = self.de.count()?;
                visitor.visit_seq(Counted { de: self.de, left })
            }
            _ => Err(Error("expected a variant with a tuple".to_string())),
        }
    }
    fn struct_variant<V: Visitor<'de>>(
        self,
        _: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Error> {
        match self.tag {
            tag::STRUCT_VARIANT => visitor.visit_map(Fields { de: self.de }),
            _ => Err(Error("expected a variant with fields".to_string())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::{Deserialize, Serialize};
    use std::collections::BTreeMap;
    use std::net::IpAddr;
    use std::sync::Arc;

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct Unit;

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct Newtype(u16);

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct Pair(i8, String);

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    #[serde(rename_all = "snake_case")]
    enum Kind {
        Plain,
        One(Box<Kind>),
        Two(u32, Option<u8>),
        Named { addr: IpAddr, len: u8 },
    }

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct Every {
        yes: bool,
        no: bool,
        small: (i8, i16, i32, i64),
        large: (u8, u16, u32, u64),
        float: f64,
        letter: char,
        text: String,
        empty: String,
        shared: Arc<str>,
        none: Option<u32>,
        some: Option<Option<u32>>,
        unit: (),
        unit_struct: Unit,
        newtype: Newtype,
        pair: Pair,
        list: Vec<Kind>,
        map: BTreeMap<String, Vec<u8>>,
        masks: Box<[Option<IpAddr>]>,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        skipped: Vec<u32>,
    }

    fn every() -> Every {
        Every {
            yes: true,
            no: false,
            small: (i8::MIN, -300, i32::MIN, i64::MIN),
            large: (u8::MAX, 300, u32::MAX, u64::MAX),
            float: -0.125,
            letter: 'ü',
            text: "a \"quoted\" \\ line\nand more, ünïcode".to_string(),
            empty: String::new(),
            shared: Arc::from("a.rules"),
            none: None,
            some: Some(None),
            unit: (),
            unit_struct: Unit,
            newtype: Newtype(8080),
            pair: Pair(-1, "x".repeat(300)),
            list: vec![
                Kind::Plain,
                Kind::One(Box::new(Kind::One(Box::new(Kind::Plain)))),
                Kind::Two(7, Some(0)),
                Kind::Two(0, None),
                Kind::Named {
                    addr: "192.0.2.1".parse().unwrap(),
                    len: 32,
                },
                Kind::Named {
                    addr: "2001:db8::1".parse().unwrap(),
                    len: 128,
                },
            ],
            map: BTreeMap::from([("k".to_string(), vec![0, 255]), (String::new(), vec![])]),
            masks: vec![None, Some("255.255.255.0".parse().unwrap())].into_boxed_slice(),
            skipped: Vec::new(),
        }
    }

    fn pack<T: Serialize + ?Sized>(v: &T) -> Vec<u8> {
        let mut out = Vec::new();
        write(&mut out, v).expect("packed");
        out
    }

    #[test]
    fn every_kind_of_value_reads_back_as_written() {
        let v = every();
        let bytes = pack(&v);
        assert_eq!(read::<Every>(&bytes).expect("read"), v);
        // A field left out by `skip_serializing_if` takes its default.
        let mut with = every();
        with.skipped = vec![1, 2];
        assert_eq!(read::<Every>(&pack(&with)).expect("read"), with);
        // Larger than the writer's buffer: the bytes are handed on in pieces, in order.
        let many: Vec<Every> = (0..3000).map(|_| every()).collect();
        let bytes = pack(&many);
        assert!(bytes.len() > 2 * FLUSH_AT);
        assert_eq!(read::<Vec<Every>>(&bytes).expect("read"), many);
    }

    /// Fields and variants are found by name, as in the JSON: a later fwnet may reorder,
    /// add or drop them and still read an earlier file.
    #[test]
    fn fields_and_variants_are_read_by_name_not_position() {
        #[derive(Serialize)]
        enum Before {
            A,
            B(u32),
        }
        #[derive(Serialize)]
        struct Old {
            x: u32,
            gone: Vec<String>,
            y: Before,
            z: Before,
        }
        #[derive(Debug, PartialEq, Deserialize)]
        enum After {
            C,
            B(u32),
            A,
        }
        #[derive(Debug, PartialEq, Deserialize)]
        struct New {
            z: After,
            #[serde(default)]
            added: Option<u8>,
            y: After,
            x: u32,
        }
        let old = Old {
            x: 5,
            gone: vec!["skipped".to_string()],
            y: Before::B(9),
            z: Before::A,
        };
        assert_eq!(
            read::<New>(&pack(&old)).expect("read"),
            New {
                z: After::A,
                added: None,
                y: After::B(9),
                x: 5
            }
        );
    }

    #[test]
    fn a_name_is_written_once_then_referred_to_by_number() {
        let bytes = pack(&vec![every(), every(), every()]);
        let count = |needle: &[u8]| bytes.windows(needle.len()).filter(|w| w == &needle).count();
        assert_eq!(count(b"unit_struct"), 1);
        assert_eq!(count(b"named"), 1);
        // Values are not names, though a long one met again is written once as well (see
        // `a_long_string_met_again_is_a_reference_to_the_first`).
        assert_eq!(count("ünïcode".as_bytes()), 1);
    }

    /// A long string met again shortly after is written as a reference to the first, also
    /// once the first has been handed on; a short one, or one that many others have pushed
    /// out of the writer's memory, is written out again.
    #[test]
    fn a_long_string_met_again_is_a_reference_to_the_first() {
        let path = "/etc/sysconfig/iptables".to_string();
        let count = |bytes: &[u8], needle: &str| {
            bytes
                .windows(needle.len())
                .filter(|w| *w == needle.as_bytes())
                .count()
        };
        // Each element a string of its own at its own address, with the same text.
        let same: Vec<String> = (0..1000).map(|_| path.clone()).collect();
        let bytes = pack(&same);
        assert_eq!(count(&bytes, &path), 1);
        assert!(
            bytes.len() < 1000 * 5 + path.len() + 8,
            "{} bytes",
            bytes.len()
        );
        assert_eq!(read::<Vec<String>>(&bytes).expect("read"), same);

        let short: Vec<&str> = vec!["fifteen bytes.."; 10];
        assert_eq!(count(&pack(&short), "fifteen bytes.."), 10);

        // Four others in between push the first out; three do not.
        let others = |n: usize| (0..n).map(|i| format!("another long string {i}"));
        for (between, copies) in [(3, 1), (4, 2)] {
            let v: Vec<String> = std::iter::once(path.clone())
                .chain(others(between))
                .chain([path.clone()])
                .collect();
            let bytes = pack(&v);
            assert_eq!(count(&bytes, &path), copies, "{between} in between");
            assert_eq!(read::<Vec<String>>(&bytes).expect("read"), v);
        }

        // Past the writer's buffer: the reference counts the bytes handed on before it.
        let big = "y".repeat(FLUSH_AT + 10);
        let v = vec![path.clone(), big.clone(), path.clone()];
        let bytes = pack(&v);
        assert_eq!(count(&bytes, &path), 1);
        assert_eq!(read::<Vec<String>>(&bytes).expect("read"), v);
    }

    /// A reference must name a string before it: anything else is refused, never followed.
    #[test]
    fn a_reference_to_no_string_before_it_is_refused() {
        let path = "/etc/sysconfig/iptables";
        let bytes = pack(&[path, path]);
        let again = bytes.len() - 2;
        assert_eq!(bytes[again], tag::STR_AGAIN);
        assert_eq!(read::<Vec<String>>(&bytes).expect("read"), [path, path]);
        // To itself, to after itself, past the end, to the sequence's tag.
        for to in [again as u8, again as u8 + 1, 0x7f, 0] {
            let mut damaged = bytes.clone();
            damaged[again + 1] = to;
            let e = read::<Vec<String>>(&damaged).expect_err("a bad reference");
            assert!(
                e.to_string().contains("refers to no string before it"),
                "{e}"
            );
        }
        for at in 0..bytes.len() {
            for b in [0u8, 1, 0x7f, 0x80, 0xff, tag::STR_AGAIN, bytes[at] ^ 1] {
                let mut damaged = bytes.clone();
                damaged[at] = b;
                let _ = read::<Vec<String>>(&damaged);
                let _ = read::<serde::de::IgnoredAny>(&damaged);
            }
        }
    }

    /// Past the 126 names written as one byte each (the state has about a hundred), and
    /// twice over so that the later uses hit the writer's cache: read as a map, every value
    /// under its own name.
    #[test]
    fn hundreds_of_names_keep_their_numbers() {
        struct Wide(&'static [&'static str]);
        impl Serialize for Wide {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                use serde::ser::SerializeStruct;
                let mut st = s.serialize_struct("Wide", self.0.len())?;
                for (i, name) in self.0.iter().enumerate() {
                    st.serialize_field(name, &(i as u32))?;
                }
                st.end()
            }
        }
        let names: &'static [&'static str] = Vec::leak(
            (0..300)
                .map(|i| &*String::leak(format!("field_{i}")))
                .collect(),
        );
        let bytes = pack(&[Wide(names), Wide(names)]);
        let back: Vec<BTreeMap<String, u32>> = read(&bytes).expect("read");
        let want: BTreeMap<String, u32> = (0..300).map(|i| (format!("field_{i}"), i)).collect();
        assert_eq!(back, [want.clone(), want]);
    }

    /// No panic on a damaged file: every cut is refused, every byte changed is refused or read
    /// as some value, deep nesting and impossible counts are refused.
    #[test]
    fn damaged_bytes_are_refused_without_panicking() {
        let bytes = pack(&every());
        for end in 0..bytes.len() {
            assert!(read::<Every>(&bytes[..end]).is_err(), "cut at {end}");
        }
        let mut more = bytes.clone();
        more.push(tag::UNIT);
        let e = read::<Every>(&more).expect_err("a byte left over");
        assert!(e.to_string().contains("1 bytes left over"), "{e}");
        for at in 0..bytes.len() {
            for b in [0u8, 1, 2, 0x7f, 0x80, 0xff, bytes[at] ^ 1] {
                let mut damaged = bytes.clone();
                damaged[at] = b;
                let _ = read::<Every>(&damaged);
            }
        }
        let deep: Vec<u8> = [tag::SEQ, 1]
            .repeat(200)
            .into_iter()
            .chain([tag::UNIT])
            .collect();
        let e = read::<serde::de::IgnoredAny>(&deep).expect_err("too deep");
        assert!(e.to_string().contains("nested deeper than 128"), "{e}");
        let e = read::<Vec<u8>>(&[tag::SEQ, 0xff, 0xff, 0xff, 0xff, 0x0f])
            .expect_err("a count past the end");
        assert!(e.to_string().contains("runs past the end"), "{e}");
        let e = read::<u32>(&[
            tag::UINT,
            0x80,
            0x80,
            0x80,
            0x80,
            0x80,
            0x80,
            0x80,
            0x80,
            0x80,
            0x02,
        ])
        .expect_err("too long a number");
        assert!(e.to_string().contains("longer than 64 bits"), "{e}");
    }

    #[test]
    fn what_cannot_be_written_is_refused() {
        struct Unsized;
        impl Serialize for Unsized {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                use serde::ser::SerializeSeq;
                s.serialize_seq(None)?.end()
            }
        }
        let mut out = Vec::new();
        assert!(write(&mut out, &Unsized).is_err());
        assert!(write(&mut out, &1u128).is_err());
    }
}
