//! `-m u32 --u32 TESTS`: raw 32-bit reads at fixed offsets from the network header, as nft
//! `@nh,BITS,32` tests.
//!
//! The match, from the kernel's xt_u32 (checked against Linux 6.18): TESTS is `T && T ...`, each
//! test `LOCATION=VALUES`. A location is a number POS then operations `&N`, `<<N`, `>>N`, `@N`;
//! the value is the big-endian 32-bit word at byte POS of `skb->data`, which at the IP hooks of
//! both iptables and ip6tables is the network header, transformed by the operations in order
//! (`@N` adds the value to a base and reads the word at base + N). VALUES is a `,` list of
//! numbers or `A:B` inclusive ranges; the test holds when the value is in any of them. The match
//! holds when every test does; a read past the end of the packet makes the whole match false,
//! and `!` inverts the result after that (`ret ^ invert`), so a packet too short for a read
//! matches `! --u32`.
//!
//! nft's `@nh,BITS,32` loads the same 4 bytes from the network header; nft_payload breaks the
//! rule when they lie past the end of the packet (`skb_copy_bits` fails), the same bound as
//! xt_u32's `pos > skb->len - 4`. So each test of a match without `!` is exact as one nft test:
//! `&`, `<<` and `>>` fold ([`fold`]) into a mask and the value list into ranges of the masked
//! word, giving `@nh,BITS,32 [& MASK] VALUE | A-B | { ... }`; a read past the end ends the rule
//! in both.
//!
//! `!` on one test is `!=` (a word outside the values) where every packet holds the word (inside
//! the 20-byte IPv4 or 40-byte IPv6 fixed header; the kernel drops shorter packets before the
//! hooks). Past it, a packet too short for the read matches in xt but never matches nft's `!=`,
//! so the rule becomes two disjoint rules ([`Either`]): `meta length < POS+4` (nft_meta's
//! length is `skb->len`, xt_u32's bound) and the `!=` test, whose load fails on exactly those
//! short packets.
//!
//! Refused, with the reason: `@` (the offset depends on the packet; nft has no such load, and
//! `@th` is not the same, see [`AT_HELP`]); `!` on several tests (NOT of an AND is an OR of
//! several reads, which one nft rule cannot express); the two-rule `!` with a stateful match in
//! the rule (`limit` would count twice, see `rule::check_either`); a read past byte 65535 (the
//! kernel's largest payload offset); shifts of 32 or more (C leaves them undefined; the legacy
//! kernel refuses them); and tests that cannot depend on the packet's bytes (everything masked
//! away, or no value left).
//!
//! Numbers are read as libxt_u32 reads them (strtoul base 0: decimal, `0x` hex, leading-`0`
//! octal, an optional `+`, at most 0xffffffff); at most 10 tests, 10 numbers in a location and
//! 10 values in a list, as iptables allows.

use crate::rule::{Cx, Either};
use crate::IpFamily;
use fwnet_iptables::diag::Loc;
use fwnet_iptables::Opt;
use fwnet_nft::{CmpOp, Expr, Match, MetaKey, OrderOp, Stmt, Value};

pub(crate) const OPTIONS: &[&[&str]] = &[&["--u32"]];

/// XT_U32_MAXSIZE: tests per match, numbers per location, values per test.
const MAX: usize = 10;

/// Why `@` has no nft form, and what comes nearest.
const AT_HELP: &str = "`@` reads at an offset taken from the packet, which nft cannot load; the common `0>>22&0x3C@N` (N bytes past the IPv4 header) is nft's `@th,BITS,32` only for packets that are not non-first fragments: for a non-first fragment xt_u32 reads the fragment's data at that offset while nft's transport-header load never matches, and for IPv6 `@th` starts after the extension headers; for TCP flags, ports and ICMP types use the tcp, udp and icmp matches";

/// One operation of a location, after its first number.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Op {
    And(u32),
    Shl(u32),
    Shr(u32),
    At(u32),
}

/// `LOCATION=VALUES`.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Test {
    /// The first number: where the first word is read.
    pos: u32,
    ops: Vec<Op>,
    /// Inclusive `(min, max)` pairs; a pair with min > max holds for no value.
    values: Vec<(u32, u32)>,
}

/// A location without `@` is `(word & mask)` shifted left by `shift` bits (right when
/// negative), where no bit of `mask` is shifted out: so the shifted value determines the masked
/// word and the other way round.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Folded {
    mask: u32,
    shift: i32,
}

/// The bits 0..n of a word (all for n >= 32, none for n <= 0).
fn low_bits(n: i32) -> u32 {
    match n {
        i32::MIN..=0 => 0,
        1..=31 => (1u32 << n) - 1,
        _ => u32::MAX,
    }
}

/// The location's operations as one [`Folded`]; `None` when there is an `@` or a shift of 32
/// or more.
fn fold(ops: &[Op]) -> Option<Folded> {
    let mut f = Folded {
        mask: u32::MAX,
        shift: 0,
    };
    for op in ops {
        match *op {
            // Bit p of the shifted value is bit p - shift of the masked word.
            Op::And(m) => {
                f.mask &= if f.shift >= 0 {
                    m >> f.shift
                } else {
                    m << -f.shift
                };
            }
            // Word bits that would land at 32 or above are lost.
            Op::Shl(s) if s < 32 => {
                f.mask &= low_bits(32 - f.shift - s as i32);
                f.shift += s as i32;
            }
            // Word bits that would land below 0 are lost.
            Op::Shr(s) if s < 32 => {
                f.mask &= !low_bits(s as i32 - f.shift);
                f.shift -= s as i32;
            }
            Op::Shl(_) | Op::Shr(_) | Op::At(_) => return None,
        }
        if f.mask == 0 {
            // Nothing is left to shift; keep the shift small.
            f.shift = 0;
        }
    }
    Some(f)
}

/// The masked words whose shifted value is in `min..=max`, as an inclusive range; `None` when
/// there are none.
fn word_range(f: Folded, (min, max): (u32, u32)) -> Option<(u32, u32)> {
    if min > max {
        return None;
    }
    let (min, max) = (u64::from(min), u64::from(max));
    let (lo, hi) = if f.shift >= 0 {
        // value = word << shift exactly: word in [ceil(min / 2^s), floor(max / 2^s)].
        let s = f.shift as u32;
        let step = 1u64 << s.min(32);
        (min.div_ceil(step), max / step)
    } else {
        // value = word >> j: word in [min << j, (max << j) | (2^j - 1)]; the mask keeps no
        // bit below j, so the masked word is in [min << j, max << j].
        let j = (-f.shift) as u32;
        (min << j, max << j)
    };
    let hi = hi.min(u64::from(u32::MAX));
    (lo <= hi).then_some((lo as u32, hi as u32))
}

/// Sorted, with overlapping and adjacent ranges joined.
fn merge(mut ranges: Vec<(u32, u32)>) -> Vec<(u32, u32)> {
    ranges.sort_unstable();
    let mut out: Vec<(u32, u32)> = Vec::new();
    for (a, b) in ranges {
        match out.last_mut() {
            Some(last) if u64::from(a) <= u64::from(last.1) + 1 => last.1 = last.1.max(b),
            _ => out.push((a, b)),
        }
    }
    out
}

/// The xt_u32 value of a location over `packet`, for tests: `None` when a read is past the end.
#[cfg(test)]
fn eval(t: &Test, packet: &[u8]) -> Option<u32> {
    let word = |at: usize| -> Option<u32> {
        let b = packet.get(at..at.checked_add(4)?)?;
        Some(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    };
    let mut val = word(t.pos as usize)?;
    let mut base: u32 = 0;
    for op in &t.ops {
        match *op {
            Op::And(n) => val &= n,
            Op::Shl(n) => val <<= n,
            Op::Shr(n) => val >>= n,
            Op::At(n) => {
                base = base.checked_add(val)?;
                val = word(base as usize + n as usize)?;
            }
        }
    }
    Some(val)
}

/// A parse error: the byte offset in the argument and what was expected.
#[derive(Debug, PartialEq, Eq)]
struct ParseError {
    at: usize,
    what: &'static str,
}

/// Reads TESTS as libxt_u32 does (whitespace between tokens is skipped).
fn parse(arg: &str) -> Result<Vec<Test>, ParseError> {
    let b = arg.as_bytes();
    let mut i = 0;
    let skip = |i: &mut usize| {
        while b.get(*i).is_some_and(u8::is_ascii_whitespace) {
            *i += 1;
        }
    };
    let number = |i: &mut usize| -> Result<u32, ParseError> {
        skip(i);
        let start = *i;
        if b.get(*i) == Some(&b'+') {
            *i += 1;
        }
        let (radix, skip_prefix) = match (b.get(*i), b.get(*i + 1)) {
            (Some(b'0'), Some(b'x' | b'X')) if b.get(*i + 2).is_some_and(u8::is_ascii_hexdigit) => {
                (16, 2)
            }
            (Some(b'0'), _) => (8, 0),
            _ => (10, 0),
        };
        *i += skip_prefix;
        let from = *i;
        while b.get(*i).is_some_and(|c| (*c as char).is_digit(radix)) {
            *i += 1;
        }
        let err = ParseError {
            at: start,
            what: "a number up to 0xffffffff",
        };
        if *i == from {
            return Err(err);
        }
        u32::from_str_radix(&arg[from..*i], radix).map_err(|_| err)
    };
    let mut tests = Vec::new();
    loop {
        let pos = number(&mut i)?;
        let mut ops = Vec::new();
        loop {
            skip(&mut i);
            let (op, len): (fn(u32) -> Op, usize) = match (b.get(i), b.get(i + 1)) {
                (Some(b'='), _) => break,
                (Some(b'&'), _) => (Op::And, 1),
                (Some(b'<'), Some(b'<')) => (Op::Shl, 2),
                (Some(b'>'), Some(b'>')) => (Op::Shr, 2),
                (Some(b'@'), _) => (Op::At, 1),
                _ => {
                    return Err(ParseError {
                        at: i,
                        what: "`&`, `<<`, `>>`, `@` or `=`",
                    })
                }
            };
            i += len;
            ops.push(op(number(&mut i)?));
            if ops.len() + 1 > MAX {
                return Err(ParseError {
                    at: i,
                    what: "at most 10 numbers in a location",
                });
            }
        }
        i += 1;
        let mut values = Vec::new();
        loop {
            let min = number(&mut i)?;
            skip(&mut i);
            let max = if b.get(i) == Some(&b':') {
                i += 1;
                number(&mut i)?
            } else {
                min
            };
            values.push((min, max));
            if values.len() > MAX {
                return Err(ParseError {
                    at: i,
                    what: "at most 10 values in a list",
                });
            }
            skip(&mut i);
            match (b.get(i), b.get(i + 1)) {
                (Some(b','), _) => i += 1,
                (Some(b'&'), Some(b'&')) | (None, _) => break,
                _ => {
                    return Err(ParseError {
                        at: i,
                        what: "`,`, `&&` or the end",
                    })
                }
            }
        }
        tests.push(Test { pos, ops, values });
        if tests.len() > MAX {
            return Err(ParseError {
                at: i,
                what: "at most 10 tests",
            });
        }
        if i >= b.len() {
            return Ok(tests);
        }
        i += 2;
    }
}

/// The bytes every packet has from the network header on: the fixed IPv4 or IPv6 header (the
/// kernel drops shorter packets before the first hook).
fn header_min(family: IpFamily) -> u64 {
    match family {
        IpFamily::V4 => 20,
        IpFamily::V6 => 40,
    }
}

/// `-m u32`.
pub(crate) fn translate(opts: &[&Opt], loc: &Loc, cx: &mut Cx) -> Vec<Stmt> {
    let opt = match opts {
        [opt] => opt,
        [] => {
            cx.error(
                "translate/bad-value",
                loc,
                "`-m u32` needs `--u32`",
                "iptables refuses the match otherwise",
            );
            return Vec::new();
        }
        // Reported as given twice.
        _ => return Vec::new(),
    };
    let Some(arg) = cx.one_arg(opt) else {
        return Vec::new();
    };
    let tests = match parse(arg) {
        Ok(tests) => tests,
        Err(e) => {
            cx.bad_value(
                opt,
                arg,
                format!(
                    "at byte {} of the argument, expected {}; the grammar is `LOCATION=VALUE[,VALUE...][&&...]`, a location a number followed by `&N`, `<<N`, `>>N` or `@N`, a value N or N:M",
                    e.at, e.what
                ),
            );
            return Vec::new();
        }
    };
    let negated = opt.negated.is_negated();
    if negated && tests.len() > 1 {
        cx.error(
            "translate/inexact",
            &opt.loc,
            format!("`! --u32` with {} tests has no exact nft translation", tests.len()),
            "`!` negates the whole AND of the tests, which is an OR of negated tests, and an nft rule is an AND; with a final target (ACCEPT, DROP, REJECT) one rule per test, `! --u32 \"TEST\"`, is the same; otherwise jump to a user chain whose first rule is `-m u32 --u32 \"TESTS\" -j RETURN` and whose second applies the target",
        );
        return Vec::new();
    }
    let mut stmts = Vec::new();
    for t in &tests {
        if let Some(stmt) = test(t, arg, negated, opt, cx) {
            stmts.push(stmt);
        }
    }
    if stmts.len() != tests.len() {
        return Vec::new();
    }
    match (negated, tests.as_slice()) {
        (true, [t]) if u64::from(t.pos) + 4 > header_min(cx.family) => {
            // A packet too short for the read matches `! --u32` in xt; nft's `!=` never
            // matches it. So two disjoint rules: the short packets, and the others whose word
            // is not in the values (the load fails on every short packet).
            let short = Stmt::Match(Match::Order {
                left: Expr::Meta(MetaKey::Len),
                op: OrderOp::Lt,
                right: u64::from(t.pos) + 4,
            });
            cx.either = Some(Either {
                loc: opt.loc.clone(),
                what: format!("`! --u32 {arg}`"),
                alternatives: [vec![short], stmts],
                at: 0,
            });
            Vec::new()
        }
        _ => stmts,
    }
}

/// One test as one nft statement, or an error.
fn test(t: &Test, arg: &str, negated: bool, opt: &Opt, cx: &mut Cx) -> Option<Stmt> {
    if t.ops.iter().any(|op| matches!(op, Op::At(_))) {
        cx.error(
            "translate/inexact",
            &opt.loc,
            format!("`@` in `--u32 {arg}` has no exact nft translation"),
            AT_HELP,
        );
        return None;
    }
    let Some(f) = fold(&t.ops) else {
        cx.bad_value(
            opt,
            arg,
            "a shift is 0 to 31 bits; the legacy kernel refuses a rule with a larger one",
        );
        return None;
    };
    let ranges = merge(t.values.iter().filter_map(|v| word_range(f, *v)).collect());
    if f.mask == 0 || ranges.is_empty() {
        cx.error(
            "translate/bad-value",
            &opt.loc,
            format!("a test in `--u32 {arg}` does not depend on the packet's bytes"),
            "its operations mask every bit away, or no value can ever match; fix the mask or the values, or remove the test",
        );
        return None;
    }
    // The kernel refuses a payload offset above 65535 (ERANGE for NFTA_PAYLOAD_OFFSET, checked
    // on Linux 6.18), which is also what `Expr::NhWord` holds.
    let Ok(pos) = u16::try_from(t.pos) else {
        cx.error(
            "translate/inexact",
            &opt.loc,
            format!("`--u32 {arg}` reads at byte {}", t.pos),
            "nf_tables loads at most 65535 bytes past the network header; only a GSO packet of more than 64 KiB could hold such a word, so the test is a mistake on any other packet: remove it",
        );
        return None;
    };
    let elem = |(a, b): (u32, u32)| {
        if a == b {
            Value::Num(u64::from(a))
        } else {
            Value::Range(u64::from(a), u64::from(b))
        }
    };
    let right = match ranges.as_slice() {
        [one] => elem(*one),
        _ => Value::Set(ranges.iter().copied().map(elem).collect()),
    };
    let op = if negated { CmpOp::Ne } else { CmpOp::Eq };
    let left = Expr::NhWord(pos);
    Some(Stmt::Match(if f.mask == u32::MAX {
        Match::Cmp { left, op, right }
    } else {
        Match::Masked {
            left,
            mask: Box::new(Value::Num(u64::from(f.mask))),
            op,
            value: right,
        }
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arguments_read_as_libxt_u32_reads_them() {
        let t = |pos, ops: &[Op], values: &[(u32, u32)]| Test {
            pos,
            ops: ops.to_vec(),
            values: values.to_vec(),
        };
        let cases: &[(&str, Result<Vec<Test>, usize>)] = &[
            (
                "0x34=0x18030000:0x1803ffff",
                Ok(vec![t(0x34, &[], &[(0x18030000, 0x1803ffff)])]),
            ),
            (
                " 0 >> 28 = 4 && 8&0xff0000>>16=6,17",
                Ok(vec![
                    t(0, &[Op::Shr(28)], &[(4, 4)]),
                    t(8, &[Op::And(0xff0000), Op::Shr(16)], &[(6, 6), (17, 17)]),
                ]),
            ),
            ("010=+1 : 2 ", Ok(vec![t(8, &[], &[(1, 2)])])),
            (
                "0>>22&0x3C@12<<1=0",
                Ok(vec![t(
                    0,
                    &[Op::Shr(22), Op::And(0x3c), Op::At(12), Op::Shl(1)],
                    &[(0, 0)],
                )]),
            ),
            ("0x100000000=1", Err(0)),
            ("-1=1", Err(0)),
            ("0=1,", Err(4)),
            ("0=1&&", Err(5)),
            ("0=1&2", Err(3)),
            ("0<1=1", Err(1)),
            ("0x34=0x18030000:0x1803ffffz", Err(26)),
            ("=1", Err(0)),
            ("0x=1", Err(1)),
            ("09=1", Err(1)),
            (
                "0&1&2&3&4&5&6&7&8&9=1",
                Ok(vec![t(
                    0,
                    &(1..10).map(Op::And).collect::<Vec<_>>(),
                    &[(1, 1)],
                )]),
            ),
            ("0&1&2&3&4&5&6&7&8&9&10=1", Err(22)),
            ("0=1,2,3,4,5,6,7,8,9,10,11", Err(25)),
        ];
        for (arg, want) in cases {
            let got = parse(arg).map_err(|e| e.at);
            assert_eq!(&got, want, "{arg}");
        }
        let ten = ["0=1"; 10].join("&&");
        assert_eq!(parse(&ten).map(|t| t.len()), Ok(10));
        assert!(parse(&format!("{ten}&&0=1")).is_err());
    }

    #[test]
    fn folding_examples() {
        let f = |mask, shift| Some(Folded { mask, shift });
        let cases: &[(&[Op], Option<Folded>)] = &[
            (&[], f(u32::MAX, 0)),
            (&[Op::Shr(28)], f(0xf000_0000, -28)),
            (&[Op::And(0xff0000), Op::Shr(16)], f(0xff0000, -16)),
            (&[Op::Shr(16), Op::And(0xff)], f(0xff0000, -16)),
            (&[Op::Shl(8)], f(0x00ff_ffff, 8)),
            (&[Op::Shl(8), Op::Shr(8)], f(0x00ff_ffff, 0)),
            (&[Op::Shr(8), Op::Shl(8)], f(0xffff_ff00, 0)),
            (&[Op::And(0), Op::Shl(3)], f(0, 0)),
            (&[Op::Shl(32)], None),
            (&[Op::At(4)], None),
        ];
        for (ops, want) in cases {
            assert_eq!(fold(ops), *want, "{ops:?}");
        }
        let shr = |s| Folded {
            mask: !low_bits(s),
            shift: -s,
        };
        assert_eq!(
            word_range(shr(28), (4, 4)),
            Some((0x4000_0000, 0x4000_0000))
        );
        assert_eq!(
            word_range(shr(28), (4, 5)),
            Some((0x4000_0000, 0x5000_0000))
        );
        assert_eq!(word_range(shr(8), (0, u32::MAX)), Some((0, u32::MAX)));
        assert_eq!(word_range(shr(8), (0x0100_0000, u32::MAX)), None);
        let shl8 = Folded {
            mask: 0x00ff_ffff,
            shift: 8,
        };
        assert_eq!(word_range(shl8, (0x101, 0x2ff)), Some((2, 2)));
        assert_eq!(word_range(shl8, (0x101, 0x1ff)), None);
        assert_eq!(word_range(shl8, (5, 3)), None);
        assert_eq!(
            merge(vec![(9, 12), (1, 3), (4, 5), (10, 11), (20, 20)]),
            vec![(1, 5), (9, 12), (20, 20)]
        );
        assert_eq!(merge(vec![(5, u32::MAX), (0, 4)]), vec![(0, u32::MAX)]);
    }

    /// xorshift64: a fixed sequence, so a failure reproduces.
    struct Rng(u64);
    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }
        /// A 32-bit number, often one with few or many bits set, or small.
        fn word(&mut self) -> u32 {
            let r = self.next();
            match r % 5 {
                0 => (r >> 8) as u32 & 0xff,
                1 => low_bits((r >> 8) as i32 % 33) << ((r >> 16) % 32),
                2 => u32::MAX >> ((r >> 8) % 32),
                _ => (r >> 16) as u32,
            }
        }
    }

    /// The folded test (mask, then ranges of the masked word) accepts exactly the words whose
    /// value after xt_u32's own `&`, `<<`, `>>` (u32 arithmetic) is in a range.
    #[test]
    fn folded_tests_agree_with_xt_u32_on_random_words() {
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
        for _ in 0..20_000 {
            let ops: Vec<Op> = (0..rng.next() % 5)
                .map(|_| match rng.next() % 3 {
                    0 => Op::And(rng.word()),
                    1 => Op::Shl((rng.next() % 32) as u32),
                    _ => Op::Shr((rng.next() % 32) as u32),
                })
                .collect();
            let (a, b) = (rng.word(), rng.word());
            let values = vec![(a.min(b), a.max(b)), (rng.word(), rng.word())];
            let t = Test {
                pos: 0,
                ops: ops.clone(),
                values: values.clone(),
            };
            let f = fold(&ops).expect("shifts below 32 and no `@` always fold");
            let ranges = merge(values.iter().filter_map(|v| word_range(f, *v)).collect());
            for _ in 0..20 {
                // Words near the ranges' ends, and random ones.
                let w = match rng.next() % 3 {
                    0 => rng.word(),
                    _ => {
                        let (lo, hi) = values[(rng.next() % 2) as usize];
                        let end = if rng.next() & 1 == 0 { lo } else { hi };
                        let shifted = match f.shift {
                            s if s >= 0 => end >> s.min(31),
                            s => end.checked_shl((-s) as u32).unwrap_or(0),
                        };
                        shifted ^ (rng.next() as u32 & 3) ^ (rng.word() & !f.mask)
                    }
                };
                let xt = eval(&t, &w.to_be_bytes()).expect("4 bytes");
                let xt = values.iter().any(|(lo, hi)| *lo <= xt && xt <= *hi);
                let masked = w & f.mask;
                let nft = ranges.iter().any(|(lo, hi)| *lo <= masked && masked <= *hi);
                assert_eq!(xt, nft, "word {w:#x} ops {ops:?} values {values:?}");
            }
        }
    }
}
