//! `cargo bench --bench load -- [--db sqlite|postgres] [--participants N] [--connections C]
//! [--seconds S] [--scenario …]`: see README.md, "Performance".

#[path = "harness/mod.rs"]
mod harness;

use clap::Parser;

fn main() -> anyhow::Result<()> {
    // As the `longmarch` binary does: the server runs in this process.
    longmarch::memory::limit_malloc_arenas();
    let args = harness::Args::parse();
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?
        .block_on(harness::run(&args))?;
    Ok(())
}
