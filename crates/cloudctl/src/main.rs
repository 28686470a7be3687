//! `cloudctl`: log cloud drives in from a terminal, watch and refresh their tokens, manage
//! the configuration and files, and run a self-contained demo.
//!
//! Exit codes: 0 success, 2 usage or configuration error, 3 a login is needed, 4 provider
//! error (refused, rate-limited, unreachable), 5 database error, 6 local file error (a
//! download's destination missing or not writable, disk full), 130 cancelled (Ctrl-C,
//! SIGINT), 143 stopped by SIGTERM (both after a refresh under way has finished and saved),
//! 1 anything else. One error line is printed; `-v` adds the cause chain and tracing.

mod cli;
mod commands;
mod context;
mod demo;
mod exit;
mod keepalive;
mod login;
mod output;
mod signals;
mod token;

use clap::Parser;

fn main() -> std::process::ExitCode {
    let cli = cli::Cli::parse();
    let filter = match cli.verbose {
        0 => "error",
        // -v: every event inside its spans (`token_refresh{storage=u115}:provider_request{
        // provider="u115" endpoint=/open/refreshToken}: provider answered status="2xx"
        // latency_ms=41`), store writes included.
        1 => "info,cloud_clients=debug,system_config=debug,storage_helper=debug",
        // sea-orm's own TRACE spans print its connect options, a PostgreSQL password
        // included: never below DEBUG for it.
        _ => "trace,sea_orm=debug",
    };
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("CLOUDCTL_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(filter)),
        )
        .with_writer(std::io::stderr)
        .with_target(false)
        .init();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("error: cannot start the async runtime: {err}");
            return std::process::ExitCode::from(1);
        }
    };
    let verbose = cli.verbose;
    match runtime.block_on(commands::run(cli)) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(err) => {
            let code = exit::code(&err);
            if verbose > 0 {
                eprintln!("error: {err:#}");
            } else {
                eprintln!("error: {err}");
            }
            std::process::ExitCode::from(code)
        }
    }
}
