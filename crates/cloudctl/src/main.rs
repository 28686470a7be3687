//! `cloudctl`: log cloud drives in from a terminal, watch and refresh their tokens, manage
//! the configuration and files, and run a self-contained demo.
//!
//! Exit codes ([`exit::CODES`], listed by `--help`): 0 success, 2 usage or configuration
//! error, 3 a login is needed, 4 provider error (refused, rate-limited, unreachable), 5
//! database error, 6 local file error, 7 not found, 130 cancelled (Ctrl-C, SIGINT), 143
//! stopped by SIGTERM (both after a refresh under way has finished and saved), 1 anything
//! else. One error line is printed on standard error; `-v` adds the cause chain and
//! tracing; with `--json` the error is also one JSON object on standard output:
//! `{"error": {"kind": "not_found", "exit_code": 7, "message": "…", "causes": […]}}`.

mod cli;
mod commands;
mod context;
mod database;
mod demo;
mod docs;
mod exit;
mod keepalive;
mod login;
mod output;
mod serve;
mod signals;
mod token;
mod transfer;

use clap::{CommandFactory as _, FromArgMatches as _};

#[allow(clippy::print_stdout, clippy::print_stderr)]
fn main() -> std::process::ExitCode {
    let cli = match cli::Cli::command()
        .after_help(exit::help())
        .try_get_matches()
        .and_then(|m| cli::Cli::from_arg_matches(&m))
    {
        Ok(cli) => cli,
        Err(err) => err.exit(),
    };
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
    let json = cli.json;
    match runtime.block_on(commands::run(cli)) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(err) => {
            let code = exit::code(&err);
            if json {
                // One JSON object on standard output, with a stable `kind`.
                let error = serde_json::json!({"error": {
                    "kind": exit::kind(code),
                    "exit_code": code,
                    "message": err.to_string(),
                    "causes": err.chain().skip(1).map(ToString::to_string).collect::<Vec<_>>(),
                }});
                output::line(error.to_string());
            }
            if verbose > 0 {
                eprintln!("error: {err:#}");
            } else {
                eprintln!("error: {err}");
            }
            std::process::ExitCode::from(code)
        }
    }
}
