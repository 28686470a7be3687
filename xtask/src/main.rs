//! Developer tasks for the workspace, run as `cargo xtask <task>`.
//!
//! * `migrate [up|down|status|fresh] [--database-url URL]`: the migration runner.
//! * `ci`: everything CI checks (format, lints, docs, the whole test suite on SQLite and on
//!   a throwaway PostgreSQL server).
//! * `pg start|stop`: the throwaway PostgreSQL server on its own.
//! * `bench`: the benchmarks, printing each result next to its baseline as a ratio.

mod ci;
mod migrate;
mod pg;

use anyhow::Result;
use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "cargo xtask",
    about = "Developer tasks for the drivekeep workspace"
)]
struct Cli {
    #[command(subcommand)]
    task: Task,
}

#[derive(Subcommand)]
enum Task {
    /// Run, roll back or list the database migrations.
    Migrate(migrate::Args),
    /// Run every check CI runs: fmt, clippy, docs, tests on SQLite and PostgreSQL.
    Ci(ci::Args),
    /// Start or stop the throwaway PostgreSQL server used by the tests.
    Pg {
        #[command(subcommand)]
        action: pg::Action,
    },
    /// Run the benchmarks (each prints its ratio to a baseline measured in the same run).
    Bench {
        /// Extra arguments for `cargo bench` (e.g. a bench name filter).
        #[arg(trailing_var_arg = true)]
        args: Vec<String>,
    },
}

fn main() -> Result<()> {
    let cli = Cli::parse();
    match cli.task {
        Task::Migrate(args) => migrate::run(args),
        Task::Ci(args) => ci::run(args),
        Task::Pg { action } => pg::run(action),
        Task::Bench { args } => ci::bench(&args),
    }
}
