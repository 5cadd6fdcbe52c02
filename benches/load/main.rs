//! `cargo bench --bench load -- [--db sqlite|postgres] [--participants N] [--connections C]
//! [--seconds S] [--scenario …] [--scale N,N,…]`: see README.md, "Performance".

#[path = "harness/mod.rs"]
mod harness;

use clap::Parser;

fn main() -> anyhow::Result<()> {
    // As the `longmarch` binary does: the server runs in this process.
    longmarch::memory::limit_malloc_arenas();
    let args = harness::Args::parse();
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    if args.scale.is_empty() {
        runtime.block_on(harness::run(&args))?;
    } else {
        runtime.block_on(harness::scale::run(&args))?;
    }
    Ok(())
}
