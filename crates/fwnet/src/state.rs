//! The state file: `<state-dir>/ruleset.json`, what `import` stores and `apply` programs.
//!
//! Format (documented in README.md): a JSON object
//! `{ "format": "fwnet-state", "version": 1, "fwnet": "<version>", "sources": [...],
//!    "ruleset": { "tables": [...] } }` where `ruleset` is the IR of `fwnet-nft` serialized by
//! serde. A file with another `format` or a newer `version` is refused rather than guessed at.
//! It is written atomically (temporary file, fsync, rename), so a crash never leaves half a
//! state behind.

use anyhow::{bail, Context, Result};
use fwnet_nft::Ruleset;
use serde::{Deserialize, Serialize};
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

pub const FORMAT: &str = "fwnet-state";
pub const VERSION: u32 = 1;
pub const FILE_NAME: &str = "ruleset.json";

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

pub fn load(dir: &Path) -> Result<State> {
    let p = path(dir);
    let text = match fs::read_to_string(&p) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            bail!(
                "no stored ruleset in {}: run `fwnet import FILE` first (or pass --state-dir)",
                dir.display()
            )
        }
        Err(e) => return Err(e).with_context(|| format!("cannot read {}", p.display())),
    };
    let state: State = serde_json::from_str(&text)
        .with_context(|| format!("{} is not a valid fwnet state file", p.display()))?;
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

/// JSON laid out for people and for speed: the envelope and tables indented, then one line per
/// set and per rule. (Fully pretty-printed JSON of a 60k-rule import is 50 MB; this is a
/// quarter of that and still reads rule by rule with less or grep.)
fn to_json(state: &State) -> serde_json::Result<String> {
    use serde_json::to_string as one_line;
    let mut out = String::with_capacity(256 * 1024);
    out.push_str("{\n");
    out.push_str(&format!("  \"format\": {},\n", one_line(&state.format)?));
    out.push_str(&format!("  \"version\": {},\n", state.version));
    out.push_str(&format!("  \"fwnet\": {},\n", one_line(&state.fwnet)?));
    out.push_str(&format!("  \"sources\": {},\n", one_line(&state.sources)?));
    out.push_str("  \"ruleset\": {\"tables\": [");
    for (ti, t) in state.ruleset.tables.iter().enumerate() {
        out.push_str(if ti == 0 { "\n" } else { ",\n" });
        out.push_str(&format!(
            "    {{\"family\": {}, \"name\": {},\n     \"sets\": [",
            one_line(&t.family)?,
            one_line(&t.name)?
        ));
        for (si, set) in t.sets.iter().enumerate() {
            out.push_str(if si == 0 { "\n       " } else { ",\n       " });
            out.push_str(&one_line(set)?);
        }
        out.push_str("],\n");
        if !t.ct_helpers.is_empty() {
            out.push_str(&format!(
                "     \"ct_helpers\": {},\n",
                one_line(&t.ct_helpers)?
            ));
        }
        out.push_str("     \"chains\": [");
        for (ci, c) in t.chains.iter().enumerate() {
            out.push_str(if ci == 0 { "\n" } else { ",\n" });
            out.push_str(&format!(
                "      {{\"name\": {}, \"base\": {}, \"rules\": [",
                one_line(&c.name)?,
                one_line(&c.base)?
            ));
            for (ri, r) in c.rules.iter().enumerate() {
                out.push_str(if ri == 0 { "\n        " } else { ",\n        " });
                out.push_str(&one_line(r)?);
            }
            out.push_str("]}");
        }
        out.push_str("]}");
    }
    out.push_str("]}\n}\n");
    Ok(out)
}

pub fn store(dir: &Path, state: &State) -> Result<()> {
    fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let p = path(dir);
    let tmp = dir.join(format!(".{FILE_NAME}.tmp{}", std::process::id()));
    let json = to_json(state).context("cannot serialize the state")?;
    let write = || -> std::io::Result<()> {
        let mut f = fs::File::create(&tmp)?;
        f.write_all(json.as_bytes())?;
        f.sync_all()?;
        fs::rename(&tmp, &p)
    };
    write().with_context(|| format!("cannot write {}", p.display()))
}
