//! `cargo xtask migrate`: the migration runner, calling the `migrations` crate directly.

use anyhow::{Context, Result};
use clap::ValueEnum;
use system_config::{DEFAULT_DATABASE_URL, StoreOptions, redact_url, scrub_url_secrets};

#[derive(Clone, Copy, ValueEnum, Default)]
pub enum Direction {
    /// Apply every pending migration (creates or adopts `systemconfig`).
    #[default]
    Up,
    /// Roll back the most recent migration.
    Down,
    /// List the migrations and whether each is applied.
    Status,
    /// Roll back every migration of this project and apply them again.
    Fresh,
}

#[derive(clap::Args)]
pub struct Args {
    /// What to do.
    #[arg(value_enum, default_value_t)]
    direction: Direction,
    /// The database; defaults to the embedded SQLite file.
    #[arg(long, env = "DATABASE_URL", default_value = DEFAULT_DATABASE_URL)]
    database_url: String,
}

#[allow(clippy::print_stdout)]
pub fn run(args: Args) -> Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let shown = redact_url(&args.database_url);
        let db = system_config::connect(&args.database_url, &StoreOptions::default()).await?;
        let outcome = match args.direction {
            Direction::Up => migrations::run_up(&db).await.map(|r| r.to_string()),
            Direction::Down => migrations::run_down(&db, Some(1)).await.map(|r| {
                if r.applied.is_empty() {
                    "nothing to roll back".to_owned()
                } else {
                    format!("rolled back {}", r.applied.join(", "))
                }
            }),
            Direction::Fresh => migrations::run_fresh(&db)
                .await
                .map(|r| format!("fresh: {r}")),
            Direction::Status => migrations::status(&db).await.map(|list| {
                list.iter()
                    .map(|(name, applied)| {
                        format!("{name}: {}", if *applied { "applied" } else { "pending" })
                    })
                    .collect::<Vec<_>>()
                    .join("\n")
            }),
        }
        .map_err(|e| anyhow::anyhow!("{}", scrub_url_secrets(&e.to_string(), &args.database_url)))
        .with_context(|| format!("migrating {shown}"))?;
        println!("{shown}\n{outcome}");
        Ok(())
    })
}
