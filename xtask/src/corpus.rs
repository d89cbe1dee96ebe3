//! `cargo xtask corpus`: import every file of ../shared/corpus with fwnet and tabulate the
//! outcome against the reference translator's results (RESULTS.tsv).

use anyhow::{bail, Result};

pub fn run(_args: &[String]) -> Result<()> {
    bail!("the corpus measurement is not implemented yet (issue 4)")
}
