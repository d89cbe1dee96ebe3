//! [`Word`]: the text of one token of a rule line (an option name, an argument, a chain name).
//!
//! Almost every word of an iptables-save file is short (`-A`, `INPUT`, `--dport`, `22`,
//! `10.0.0.0/8`), and a 100k-rule file has about a million of them: as `String`s each was a heap
//! allocation of its own, which made the syntax tree most of `fwnet import`'s peak memory and its
//! allocator calls a tenth of its instructions. A `Word` keeps up to [`INLINE`] bytes in place
//! (the 24 bytes a `String` takes anyway) and only longer text (log prefixes, comments) on the
//! heap. It is immutable and reads as a `&str` through `Deref`; it does not intern or share.
//! Its accessors are `#[inline]`: the translator reads words in every rule, from another crate.
//!
//! [`Args`], an option's arguments, is the same idea one level up: most options have one
//! argument, which is kept in place instead of in a vector of its own.

use serde::{Serialize, Serializer};
use std::borrow::Borrow;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::ops::Deref;

/// The longest text kept without an allocation.
pub const INLINE: usize = 22;

#[derive(Clone)]
pub struct Word(Repr);

#[derive(Clone)]
enum Repr {
    /// `len` bytes of `buf`, copied whole from a `&str`.
    Inline {
        len: u8,
        buf: [u8; INLINE],
    },
    Heap(Box<str>),
}

impl Word {
    pub fn new(text: &str) -> Word {
        if text.len() <= INLINE {
            let mut buf = [0; INLINE];
            buf[..text.len()].copy_from_slice(text.as_bytes());
            // `text.len() <= INLINE` fits a u8.
            Word(Repr::Inline {
                len: text.len() as u8,
                buf,
            })
        } else {
            Word(Repr::Heap(text.into()))
        }
    }

    #[inline]
    pub fn as_str(&self) -> &str {
        match &self.0 {
            // SAFETY: `buf[..len]` is a copy of a whole `&str` (see `new`), so valid UTF-8.
            Repr::Inline { len, buf } => unsafe {
                std::str::from_utf8_unchecked(&buf[..usize::from(*len)])
            },
            Repr::Heap(s) => s,
        }
    }
}

impl Deref for Word {
    type Target = str;
    #[inline]
    fn deref(&self) -> &str {
        self.as_str()
    }
}

impl AsRef<str> for Word {
    #[inline]
    fn as_ref(&self) -> &str {
        self.as_str()
    }
}

impl Borrow<str> for Word {
    #[inline]
    fn borrow(&self) -> &str {
        self.as_str()
    }
}

impl From<&str> for Word {
    fn from(text: &str) -> Word {
        Word::new(text)
    }
}

impl From<String> for Word {
    fn from(text: String) -> Word {
        if text.len() <= INLINE {
            Word::new(&text)
        } else {
            Word(Repr::Heap(text.into_boxed_str()))
        }
    }
}

impl From<Word> for String {
    fn from(w: Word) -> String {
        match w.0 {
            Repr::Heap(s) => s.into_string(),
            Repr::Inline { .. } => w.as_str().to_owned(),
        }
    }
}

impl PartialEq for Word {
    #[inline]
    fn eq(&self, other: &Word) -> bool {
        self.as_str() == other.as_str()
    }
}

impl Eq for Word {}

impl PartialEq<str> for Word {
    #[inline]
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

impl PartialEq<&str> for Word {
    #[inline]
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl PartialEq<String> for Word {
    #[inline]
    fn eq(&self, other: &String) -> bool {
        self.as_str() == other
    }
}

impl Hash for Word {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.as_str().hash(state)
    }
}

impl PartialOrd for Word {
    fn partial_cmp(&self, other: &Word) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Word {
    fn cmp(&self, other: &Word) -> std::cmp::Ordering {
        self.as_str().cmp(other.as_str())
    }
}

impl fmt::Debug for Word {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

impl fmt::Display for Word {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for Word {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

/// The arguments of one option, read as a slice: most options have one, which is kept in place
/// instead of in a vector of its own. Generic so that the parser's tokens (words with their
/// columns) use it too before they become an [`Opt`](crate::Opt)'s words.
#[derive(Clone, PartialEq, Eq)]
pub struct Args<T = Word>(ArgsRepr<T>);

#[derive(Clone, PartialEq, Eq)]
enum ArgsRepr<T> {
    None,
    One(T),
    Many(Vec<T>),
}

impl<T> Default for Args<T> {
    fn default() -> Self {
        Args(ArgsRepr::None)
    }
}

impl<T> Args<T> {
    pub fn as_slice(&self) -> &[T] {
        match &self.0 {
            ArgsRepr::None => &[],
            ArgsRepr::One(w) => std::slice::from_ref(w),
            ArgsRepr::Many(v) => v,
        }
    }

    pub fn push(&mut self, w: T) {
        // In place where the shape stays (the enum is only rebuilt from one argument to two).
        match &mut self.0 {
            ArgsRepr::None => self.0 = ArgsRepr::One(w),
            ArgsRepr::Many(v) => v.push(w),
            ArgsRepr::One(_) => {
                if let ArgsRepr::One(first) = std::mem::replace(&mut self.0, ArgsRepr::None) {
                    self.0 = ArgsRepr::Many(vec![first, w]);
                }
            }
        }
    }

    /// The same arguments, each converted.
    pub fn map<U>(self, mut f: impl FnMut(T) -> U) -> Args<U> {
        Args(match self.0 {
            ArgsRepr::None => ArgsRepr::None,
            ArgsRepr::One(w) => ArgsRepr::One(f(w)),
            ArgsRepr::Many(v) => ArgsRepr::Many(v.into_iter().map(f).collect()),
        })
    }
}

impl<T> Deref for Args<T> {
    type Target = [T];
    fn deref(&self) -> &[T] {
        self.as_slice()
    }
}

impl<T> From<Vec<T>> for Args<T> {
    fn from(mut v: Vec<T>) -> Args<T> {
        Args(match v.len() {
            0 => ArgsRepr::None,
            1 => ArgsRepr::One(v.remove(0)),
            _ => ArgsRepr::Many(v),
        })
    }
}

impl<T> FromIterator<T> for Args<T> {
    fn from_iter<I: IntoIterator<Item = T>>(iter: I) -> Args<T> {
        let mut args = Args::default();
        for w in iter {
            args.push(w);
        }
        args
    }
}

impl<T> IntoIterator for Args<T> {
    type Item = T;
    type IntoIter = IntoIter<T>;
    fn into_iter(self) -> IntoIter<T> {
        IntoIter(match self.0 {
            ArgsRepr::None => IterRepr::One(None),
            ArgsRepr::One(w) => IterRepr::One(Some(w)),
            ArgsRepr::Many(v) => IterRepr::Many(v.into_iter()),
        })
    }
}

/// The arguments of an [`Args`], by value (no allocation for one).
pub struct IntoIter<T>(IterRepr<T>);

enum IterRepr<T> {
    One(Option<T>),
    Many(std::vec::IntoIter<T>),
}

impl<T> Iterator for IntoIter<T> {
    type Item = T;
    fn next(&mut self) -> Option<T> {
        match &mut self.0 {
            IterRepr::One(w) => w.take(),
            IterRepr::Many(v) => v.next(),
        }
    }
}

impl<'a, T> IntoIterator for &'a Args<T> {
    type Item = &'a T;
    type IntoIter = std::slice::Iter<'a, T>;
    fn into_iter(self) -> Self::IntoIter {
        self.as_slice().iter()
    }
}

impl<T: fmt::Debug> fmt::Debug for Args<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_slice(), f)
    }
}

impl<T: Serialize> Serialize for Args<T> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.as_slice().serialize(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_and_long_text_read_back_the_same() {
        for text in [
            "",
            "-A",
            "é",
            "0123456789012345678901",
            "01234567890123456789012",
            "--log-prefix with spaces and ünïcode",
        ] {
            let w = Word::new(text);
            assert_eq!(w.as_str(), text);
            assert_eq!(Word::from(text.to_owned()), w);
            assert_eq!(String::from(w.clone()), text);
            assert_eq!(format!("{w}"), text);
            assert_eq!(format!("{w:?}"), format!("{text:?}"));
        }
        assert_eq!(std::mem::size_of::<Word>(), 24);
    }

    #[test]
    fn args_read_as_the_words_pushed() {
        let words: Vec<Word> = ["a", "b", "c"].into_iter().map(Word::new).collect();
        for n in 0..=3 {
            let pushed: Args = words[..n].iter().cloned().collect();
            assert_eq!(pushed.as_slice(), &words[..n]);
            assert_eq!(Args::from(words[..n].to_vec()), pushed);
            let lengths: Vec<usize> = pushed.clone().map(|w| w.len()).into_iter().collect();
            assert_eq!(lengths, vec![1; n]);
        }
    }
}
