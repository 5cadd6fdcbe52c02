//! The `longmarch` command: parse, load settings, start telemetry, call into the library.

use clap::Parser;

fn main() -> std::process::ExitCode {
    longmarch::memory::limit_malloc_arenas();
    let cli = longmarch::cli::Cli::parse();
    longmarch::cli::run(cli)
}
