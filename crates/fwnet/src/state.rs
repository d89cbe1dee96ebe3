//! The state file: `<state-dir>/ruleset.bin`, what `import` stores and `apply` programs.
//!
//! It holds a [`State`]: `{ "format": "fwnet-state", "version": 2, "fwnet": "<version>",
//! "sources": [...], "ruleset": { "tables": [...] } }`, where `ruleset` is the IR of `fwnet-nft`
//! serialized by serde. The file is a short text header, `fwnet-state\npacked 2\n`, then the
//! state in [`fwnet_nft::packed`]'s binary encoding, which reads by name as JSON does and is
//! several times cheaper to write and to read (`docs/bench/2026-11-28d.md`). `fwnet show
//! --json` prints the same state as JSON, laid out by [`write_json`].
//!
//! Earlier fwnet wrote the state as JSON, to `<state-dir>/ruleset.json`: when there is no
//! `ruleset.bin`, that file is read (and `import` removes it once `ruleset.bin` is written).
//! A state with another `format` or a newer `version`, or packed by a newer encoding, is refused
//! rather than guessed at. Version 2 writes a merged rule's lines as runs and leaves out a
//! rule's empty comment and origin (`fwnet_nft::compact`); version 1 files are still read.
//! It is written atomically (temporary file, fsync, rename), so a crash never leaves half a
//! state behind. The kernel is asked to start writing it to the disk as it is serialized, a
//! quarter megabyte at a time up to the first megabyte, then a megabyte at a time
//! ([`Writeback`]), so the fsync waits for the last part only: when the state was JSON, 3.6 ->
//! 1.1 ms on a 10k-rule state (4.3 MB), 19 -> 0.8 ms at 100k (43 MB), measured with strace here.

use anyhow::{bail, Context, Result};
use fwnet_nft::Ruleset;
use serde::{Deserialize, Serialize};
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

pub const FORMAT: &str = "fwnet-state";
pub const VERSION: u32 = 2;
pub const FILE_NAME: &str = "ruleset.bin";
/// Where fwnet before the packed encoding stored the state, as JSON.
pub const JSON_FILE_NAME: &str = "ruleset.json";
/// The start of the file, up to the encoding's version and its newline.
const HEADER: &str = "fwnet-state\npacked ";
/// The version of [`fwnet_nft::packed`]'s encoding this fwnet writes and reads.
const PACKED: u32 = 2;

#[derive(Serialize, Deserialize)]
pub struct State {
    pub format: String,
    pub version: u32,
    /// The fwnet version that wrote the file.
    pub fwnet: String,
    pub sources: Vec<Source>,
    pub ruleset: Ruleset,
}

#[derive(Serialize, Deserialize)]
pub struct Source {
    /// The path as given on the command line.
    pub file: String,
    /// `ipv4` or `ipv6`.
    pub family: String,
    pub rules: usize,
}

impl State {
    pub fn new(sources: Vec<Source>, ruleset: Ruleset) -> State {
        State {
            format: FORMAT.to_string(),
            version: VERSION,
            fwnet: env!("CARGO_PKG_VERSION").to_string(),
            sources,
            ruleset,
        }
    }
}

pub fn path(dir: &Path) -> PathBuf {
    dir.join(FILE_NAME)
}

/// When the stored ruleset was last written (by this fwnet or, as JSON, by an earlier one).
pub fn modified(dir: &Path) -> Option<std::time::SystemTime> {
    [FILE_NAME, JSON_FILE_NAME]
        .iter()
        .find_map(|name| fs::metadata(dir.join(name)).and_then(|m| m.modified()).ok())
}

pub fn load(dir: &Path) -> Result<State> {
    let mut p = path(dir);
    // Read whole, then decoded from memory: strings are borrowed from the bytes while read.
    let state = match fs::read(&p) {
        Ok(bytes) => unpack(&p, &bytes)?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            p = dir.join(JSON_FILE_NAME);
            load_json(dir, &p)?
        }
        Err(e) => return Err(e).with_context(|| format!("cannot read {}", p.display())),
    };
    if state.format != FORMAT {
        bail!(
            "{} is not an fwnet state file (format {:?})",
            p.display(),
            state.format
        );
    }
    if state.version > VERSION {
        bail!(
            "{} was written by a newer fwnet (state version {}, this fwnet reads {}): upgrade fwnet",
            p.display(),
            state.version,
            VERSION
        );
    }
    Ok(state)
}

fn unpack(p: &Path, bytes: &[u8]) -> Result<State> {
    let invalid = || format!("{} is not a valid fwnet state file", p.display());
    let Some(rest) = bytes.strip_prefix(HEADER.as_bytes()) else {
        bail!("{}: it does not start with fwnet's header", invalid());
    };
    let end = rest
        .iter()
        .position(|&b| b == b'\n')
        .with_context(|| format!("{}: its header does not end", invalid()))?;
    let packed: u32 = std::str::from_utf8(&rest[..end])
        .ok()
        .and_then(|v| v.parse().ok())
        .with_context(|| format!("{}: its header names no encoding version", invalid()))?;
    if packed > PACKED {
        bail!(
            "{} was written by a newer fwnet (packed encoding {packed}, this fwnet reads {PACKED}): upgrade fwnet",
            p.display()
        );
    }
    fwnet_nft::packed::read(&rest[end + 1..]).with_context(invalid)
}

/// The state as an fwnet before the packed encoding stored it, in `ruleset.json` (`p`).
fn load_json(dir: &Path, p: &Path) -> Result<State> {
    let bytes = match fs::read(p) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            bail!(
                "no stored ruleset in {}: run `fwnet import FILE` first (or pass --state-dir)",
                dir.display()
            )
        }
        Err(e) => return Err(e).with_context(|| format!("cannot read {}", p.display())),
    };
    // UTF-8 checked once for the whole file: from a slice, serde_json checks every string it
    // reads on its own, from a `str` none.
    let invalid = || format!("{} is not a valid fwnet state file", p.display());
    let text = String::from_utf8(bytes).with_context(invalid)?;
    serde_json::from_str(&text).with_context(invalid)
}

pub fn store(dir: &Path, state: &State) -> Result<()> {
    fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let p = path(dir);
    let tmp = dir.join(format!(".{FILE_NAME}.tmp{}", std::process::id()));
    let write = || -> std::io::Result<()> {
        let mut file = Writeback::new(fs::File::create(&tmp)?);
        file.write_all(format!("{HEADER}{PACKED}\n").as_bytes())?;
        // The packer gathers its bytes and hands them on a quarter megabyte at a time.
        fwnet_nft::packed::write(&mut file, &Stored(state))?;
        file.file.sync_all()?;
        fs::rename(&tmp, &p)
    };
    write().with_context(|| format!("cannot write {}", p.display()))?;
    // The JSON an earlier fwnet stored is out of date now; `ruleset.bin` is read first anyway.
    match fs::remove_file(dir.join(JSON_FILE_NAME)) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            Err(e).with_context(|| format!("cannot remove {}", dir.join(JSON_FILE_NAME).display()))
        }
        _ => Ok(()),
    }
}

/// A state as [`store`] writes it: the format and version this fwnet writes, whatever state
/// was read in.
struct Stored<'a>(&'a State);

impl Serialize for Stored<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let mut st = s.serialize_struct("State", 5)?;
        st.serialize_field("format", FORMAT)?;
        st.serialize_field("version", &VERSION)?;
        st.serialize_field("fwnet", env!("CARGO_PKG_VERSION"))?;
        st.serialize_field("sources", &self.0.sources)?;
        st.serialize_field("ruleset", &self.0.ruleset)?;
        st.end()
    }
}

/// The state as JSON, for `fwnet show --json`, laid out for people and for speed: the envelope
/// and tables indented, then one line per set and per rule. (Fully pretty-printed JSON of a
/// 60k-rule import is 50 MB; this is a quarter of that and still reads rule by rule with less
/// or grep.) Written straight to `out`: a 100k-rule state is 40 MB of text, which need not be
/// held in memory. The JSON reads back as a state: [`load`] reads it as `ruleset.json`.
pub fn write_json(state: &State, out: &mut impl Write) -> std::io::Result<()> {
    fn one_line<T: Serialize + ?Sized>(out: &mut impl Write, v: &T) -> std::io::Result<()> {
        serde_json::to_writer(&mut *out, v).map_err(std::io::Error::from)
    }
    /// The items of a JSON array, each on a line of its own after `indent` ("\n" and spaces),
    /// by [`crate::json`]: serde_json's bytes, written with less work (rules and sets are
    /// nearly all of a large state).
    fn one_per_line<T: Serialize>(
        out: &mut impl Write,
        items: &[T],
        indent: &[u8],
    ) -> std::io::Result<()> {
        let mut line = Vec::with_capacity(1024);
        for (i, item) in items.iter().enumerate() {
            line.clear();
            if i > 0 {
                line.push(b',');
            }
            line.extend_from_slice(indent);
            crate::json::append(&mut line, item).map_err(std::io::Error::other)?;
            out.write_all(&line)?;
        }
        Ok(())
    }
    out.write_all(b"{\n  \"format\": ")?;
    one_line(out, &state.format)?;
    // The format written is this fwnet's, whatever state was read in.
    write!(out, ",\n  \"version\": {VERSION},\n  \"fwnet\": ")?;
    one_line(out, env!("CARGO_PKG_VERSION"))?;
    out.write_all(b",\n  \"sources\": ")?;
    one_line(out, &state.sources)?;
    out.write_all(b",\n  \"ruleset\": {\"tables\": [")?;
    for (ti, t) in state.ruleset.tables.iter().enumerate() {
        out.write_all(if ti == 0 { b"\n" } else { b",\n" })?;
        out.write_all(b"    {\"family\": ")?;
        one_line(out, &t.family)?;
        out.write_all(b", \"name\": ")?;
        one_line(out, &t.name)?;
        out.write_all(b",\n     \"sets\": [")?;
        one_per_line(out, &t.sets, b"\n       ")?;
        out.write_all(b"],\n")?;
        if !t.ct_helpers.is_empty() {
            out.write_all(b"     \"ct_helpers\": ")?;
            one_line(out, &t.ct_helpers)?;
            out.write_all(b",\n")?;
        }
        out.write_all(b"     \"chains\": [")?;
        for (ci, c) in t.chains.iter().enumerate() {
            out.write_all(if ci == 0 { b"\n" } else { b",\n" })?;
            out.write_all(b"      {\"name\": ")?;
            one_line(out, &c.name)?;
            out.write_all(b", \"base\": ")?;
            one_line(out, &c.base)?;
            // An inet table's chains say their family (`inet::merge`): NAT and TPROXY need it.
            if let Some(family) = &c.family {
                out.write_all(b", \"family\": ")?;
                one_line(out, family)?;
            }
            out.write_all(b", \"rules\": [")?;
            one_per_line(out, &c.rules, b"\n        ")?;
            out.write_all(b"]}")?;
        }
        out.write_all(b"]}")?;
    }
    out.write_all(b"]}\n}\n")
}

/// A file whose written bytes the kernel starts sending to the disk while the rest of the state
/// is still being serialized, so that the final fsync waits only for the last of them: a
/// quarter megabyte at a time up to the first megabyte, then a megabyte at a time. (A 10k-rule
/// state, 0.8 MB, never reached the first megabyte, and its fsync waited for all of it: 1.0 ms
/// here, 0.35-0.5 ms with the quarter steps. Quarter steps all along made a 100k-rule
/// state's hints and fsync slower, 5.3-6.5 ms against 1.8-4.9.)
struct Writeback {
    file: fs::File,
    /// Bytes written so far, and the offset up to which writeback was started.
    written: u64,
    started: u64,
}

impl Writeback {
    const STEP: u64 = 1 << 20;
    /// The step up to the first [`Self::STEP`].
    const FIRST_STEPS: u64 = 256 << 10;

    fn new(file: fs::File) -> Writeback {
        Writeback {
            file,
            written: 0,
            started: 0,
        }
    }
}

impl Write for Writeback {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.file.write(buf)?;
        self.written += n as u64;
        let step = if self.started < Self::STEP {
            Self::FIRST_STEPS
        } else {
            Self::STEP
        };
        if self.written - self.started >= step {
            use std::os::fd::AsRawFd;
            // A hint only: if the kernel refuses it, the fsync still writes everything.
            // SAFETY: the descriptor is this open file's; the call reads no memory of ours.
            unsafe {
                libc::sync_file_range(
                    self.file.as_raw_fd(),
                    self.started as libc::off64_t,
                    (self.written - self.started) as libc::off64_t,
                    libc::SYNC_FILE_RANGE_WRITE,
                );
            }
            self.started = self.written;
        }
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.file.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writeback_passes_every_byte_and_starts_writeback_in_quarter_then_whole_megabytes() {
        let dir = std::env::temp_dir().join(format!("fwnet-writeback-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let p = dir.join("out");
        let data: Vec<u8> = (0..3_500_000u32).map(|i| (i % 251) as u8).collect();
        let mut w = Writeback::new(fs::File::create(&p).unwrap());
        let mut starts = Vec::new();
        for chunk in data.chunks(65_536) {
            w.write_all(chunk).unwrap();
            if starts.last() != Some(&w.started) {
                starts.push(w.started);
            }
        }
        assert_eq!(w.written, 3_500_000);
        // Started at the first write past each quarter megabyte up to the first megabyte, then
        // past each megabyte: 4 chunks of 64 KiB make a quarter.
        let kib: Vec<u64> = starts.iter().map(|s| s >> 10).collect();
        assert_eq!(kib, [0, 256, 512, 768, 1024, 2048, 3072]);
        w.file.sync_all().unwrap();
        assert!(fs::read(&p).unwrap() == data);
        fs::remove_dir_all(&dir).unwrap();
    }

    /// A state from an earlier fwnet, as JSON (version 1: one object per merged line, empty
    /// comments written out), loads; `store` packs it into `ruleset.bin` and removes the JSON;
    /// what it wrote loads back and prints as version 2 JSON; newer states and encodings are
    /// refused, and so are damaged files.
    #[test]
    fn json_states_load_stored_ones_are_packed_and_round_trip_newer_or_damaged_ones_are_refused() {
        let dir = std::env::temp_dir().join(format!("fwnet-state-versions-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let json_path = dir.join(JSON_FILE_NAME);
        let state = |version: u32| {
            format!(
                r#"{{"format": "fwnet-state", "version": {version}, "fwnet": "0.1.0", "sources": [],
                "ruleset": {{"tables": [{{"family": "ip", "name": "fwnet_filter", "sets": [],
                "chains": [{{"name": "INPUT", "base": null, "rules": [
                {{"stmts": [{{"verdict": "accept"}}], "comment": null,
                  "origin": {{"file": "a.rules", "line": 3}},
                  "merged": [{{"file": "a.rules", "line": 4}}, {{"file": "a.rules", "line": 5}}]}}]}}]}}]}}}}"#
            )
        };
        fs::write(&json_path, state(1)).unwrap();
        let old = load(&dir).expect("a version 1 state loads");
        let rule = &old.ruleset.tables[0].chains[0].rules[0];
        let lines: Vec<u32> = rule.merged.iter().map(|o| o.line).collect();
        assert_eq!(lines, [4, 5]);
        assert_eq!(rule.comment, None);
        let written = modified(&dir).expect("the JSON state's time");

        store(&dir, &old).unwrap();
        assert!(
            !json_path.exists(),
            "the JSON an earlier fwnet wrote is removed"
        );
        let bytes = fs::read(path(&dir)).unwrap();
        assert!(bytes.starts_with(b"fwnet-state\npacked 2\n"));
        assert!(modified(&dir).expect("the packed state's time") >= written);
        let back = load(&dir).expect("a stored state loads");
        assert_eq!(back.ruleset, old.ruleset);
        let mut text = Vec::new();
        write_json(&back, &mut text).unwrap();
        let text = String::from_utf8(text).unwrap();
        assert!(text.contains(r#""version": 2,"#), "{text}");
        assert!(
            text.contains(r#""merged":[{"file":"a.rules","lines":[[4,5]]}]"#)
                && !text.contains("comment"),
            "{text}"
        );
        // `show --json` output is itself a state: stored as JSON, it loads to the same ruleset.
        fs::write(&json_path, &text).unwrap();
        fs::remove_file(path(&dir)).unwrap();
        assert_eq!(load(&dir).expect("shown JSON loads").ruleset, old.ruleset);

        // A packed file with any byte missing is refused, never read as a shorter state.
        for end in [HEADER.len() + 2, bytes.len() / 2, bytes.len() - 1] {
            fs::write(path(&dir), &bytes[..end]).unwrap();
            let e = format!("{:#}", load(&dir).err().expect("a cut file is refused"));
            assert!(e.contains("is not a valid fwnet state file"), "{end}: {e}");
        }
        // Encoding 1 is encoding 2 without references to strings written before (this state's
        // strings are all short, so it has none): a file an earlier fwnet packed still loads.
        let mut first_encoding = bytes.clone();
        first_encoding[HEADER.len()] = b'1';
        fs::write(path(&dir), &first_encoding).unwrap();
        assert_eq!(load(&dir).expect("encoding 1 loads").ruleset, old.ruleset);
        let mut newer_encoding = bytes.clone();
        newer_encoding[HEADER.len()] = b'3';
        fs::write(path(&dir), &newer_encoding).unwrap();
        let e = load(&dir)
            .err()
            .expect("a newer encoding is refused")
            .to_string();
        assert!(
            e.contains("written by a newer fwnet (packed encoding 3"),
            "{e}"
        );
        let mut newer = Vec::from(HEADER.as_bytes());
        newer.extend_from_slice(b"2\n");
        let mut future = State::new(Vec::new(), old.ruleset.clone());
        future.version = VERSION + 1;
        fwnet_nft::packed::write(&mut newer, &future).unwrap();
        fs::write(path(&dir), &newer).unwrap();
        let e = load(&dir)
            .err()
            .expect("a newer state is refused")
            .to_string();
        assert!(
            e.contains("written by a newer fwnet (state version 3"),
            "{e}"
        );
        fs::remove_file(path(&dir)).unwrap();

        fs::write(&json_path, state(VERSION + 1)).unwrap();
        let e = load(&dir)
            .err()
            .expect("a newer state is refused")
            .to_string();
        assert!(
            e.contains("ruleset.json was written by a newer fwnet"),
            "{e}"
        );

        // JSON is checked for UTF-8 as a whole before it is parsed: a stray byte in a string
        // (here a comment's) is refused as a broken state, not read past.
        let mut bytes = state(VERSION)
            .replace(r#""comment": null"#, r#""comment": "@@""#)
            .into_bytes();
        let at = bytes.windows(2).position(|w| w == b"@@").unwrap();
        bytes[at..at + 2].copy_from_slice(&[0xff, 0xfe]);
        fs::write(&json_path, &bytes).unwrap();
        let e = format!(
            "{:#}",
            load(&dir)
                .err()
                .expect("a state that is not UTF-8 is refused")
        );
        assert!(
            e.contains("is not a valid fwnet state file") && e.contains("utf-8"),
            "{e}"
        );
        fs::remove_dir_all(&dir).unwrap();

        let e = load(&dir).err().expect("no state").to_string();
        assert!(e.contains("no stored ruleset in"), "{e}");
    }
}
