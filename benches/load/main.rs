//! `cargo bench --bench load -- [--db sqlite|postgres] [--participants N] [--connections C]
//! [--seconds S] [--scenario …]`: see README.md, "Performance".

#[path = "harness/mod.rs"]
mod harness;

use clap::Parser;

fn main() -> anyhow::Result<()> {
    let args = harness::Args::parse();
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?
        .block_on(harness::run(&args))?;
    Ok(())
}
