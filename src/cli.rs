//! Command-line interface (clap derive). Each command loads settings, starts telemetry and
//! calls one library function.

use std::{io::Read, process::ExitCode};

use clap::{Parser, Subcommand};

use crate::{settings::Settings, startup::Application, telemetry};

/// longmarch: step-to-mileage campaigns along the Long March.
///
/// Settings come from config/default.toml ← config/{LONGMARCH_ENV}.toml (default
/// `development`) ← LONGMARCH__SECTION__KEY environment variables.
#[derive(Debug, Parser)]
#[command(name = "longmarch", version)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the HTTP server (the default): migrates the database, seeds an empty one, serves.
    Serve,
    /// Apply pending database migrations and exit.
    Migrate,
    /// Print the OpenAPI specification (JSON) to standard output.
    Openapi,
    /// Rebuild a campaign's totals and unlocks from its step days.
    Recompute {
        /// The campaign's slug.
        #[arg(long)]
        campaign: String,
    },
    /// Create N participants in a campaign's cohorts and ingest D days of realistic steps.
    Simulate {
        /// The campaign's slug.
        #[arg(long)]
        campaign: String,
        /// How many participants to create.
        #[arg(long, default_value_t = 100)]
        participants: u32,
        /// How many days (ending today, within the campaign window) to fill.
        #[arg(long, default_value_t = 7)]
        days: u32,
    },
    /// Copy the SQLite database to a new file while the service runs (PostgreSQL: use pg_dump).
    Backup {
        /// The file to create; an existing file is never overwritten.
        #[arg(long)]
        to: std::path::PathBuf,
    },
    /// Manage organiser accounts.
    Organiser {
        #[command(subcommand)]
        command: OrganiserCommand,
    },
}

#[derive(Debug, Subcommand)]
pub enum OrganiserCommand {
    /// Create an organiser; the password (10+ characters) is read from standard input.
    Create {
        #[arg(long)]
        username: String,
        /// Make this organiser an admin (every campaign, grants).
        #[arg(long)]
        admin: bool,
    },
}

/// Runs a parsed command line and returns the process exit code.
pub fn run(cli: Cli) -> ExitCode {
    let settings = match Settings::load() {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    if !matches!(cli.command, Some(Command::Openapi)) {
        telemetry::init(&settings.log);
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(dispatch(cli.command.unwrap_or(Command::Serve), settings));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = format!("{e:#}"), "command failed");
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn dispatch(command: Command, settings: Settings) -> anyhow::Result<()> {
    match command {
        Command::Serve => {
            let app = Application::build(settings).await?;
            let db = app.state().db.clone();
            tracing::info!(port = app.port(), "listening");
            app.run_until_stopped().await?;
            // Every in-flight request has finished (or timed out): close the pool so PostgreSQL
            // sees clean disconnects and SQLite checkpoints its WAL into the database file.
            if let Err(e) = db.close().await {
                tracing::warn!(error = %e, "closing the database pool failed");
            }
            tracing::info!("stopped");
            Ok(())
        }
        Command::Migrate => {
            let db = crate::db::connect(&settings.database).await?;
            crate::db::migrate(&db).await?;
            println!("migrations applied");
            Ok(())
        }
        Command::Openapi => {
            println!("{}", crate::http::openapi::spec_json()?);
            Ok(())
        }
        Command::Organiser {
            command: OrganiserCommand::Create { username, admin },
        } => {
            let mut password = String::new();
            std::io::stdin().read_to_string(&mut password)?;
            let password = password.trim_end_matches(['\r', '\n']).to_owned();
            let db = crate::db::connect(&settings.database).await?;
            crate::db::migrate(&db).await?;
            let role = if admin { "admin" } else { "organiser" };
            let created =
                crate::services::identity::organiser_accounts::create(&db, &username, &password, role).await?;
            println!("created {} `{}` (id {})", created.role, created.username, created.id);
            Ok(())
        }
        Command::Recompute { campaign } => {
            let db = crate::db::connect(&settings.database).await?;
            crate::db::migrate(&db).await?;
            let report = crate::services::progress::recompute_campaign(&db, &campaign).await?;
            println!("{report}");
            Ok(())
        }
        Command::Backup { to } => {
            let done = crate::db::backup::backup(&settings.database, &to).await?;
            println!("{done}");
            Ok(())
        }
        Command::Simulate {
            campaign,
            participants,
            days,
        } => {
            let db = crate::db::connect(&settings.database).await?;
            crate::db::migrate(&db).await?;
            crate::services::campaigns::seed::run(&db, &settings.seed).await?;
            let report = crate::services::steps::simulate::run(&db, &campaign, participants, days, true).await?;
            println!("{report}");
            Ok(())
        }
    }
}
