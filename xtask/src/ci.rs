//! `cargo xtask ci` and `cargo xtask bench`.

use std::process::Command;
use std::time::Instant;

use anyhow::{Context, Result, bail};

use crate::pg;

#[derive(clap::Args)]
pub struct Args {
    /// Skip fmt, clippy and doc (run the tests only).
    #[arg(long)]
    tests_only: bool,
}

/// `cargo check` arguments of the feature combinations CI builds (see `run`).
const FEATURE_COMBINATIONS: &[&[&str]] = &[
    // One backend each, with the other TLS stack.
    &[
        "-p",
        "system-config",
        "--no-default-features",
        "--features",
        "sqlite",
    ],
    &[
        "-p",
        "system-config",
        "--no-default-features",
        "--features",
        "postgres,native-tls",
    ],
    // A SQLite-only application using the platform's TLS for HTTPS.
    &[
        "-p",
        "cloud-clients",
        "--no-default-features",
        "--features",
        "sqlite,native-tls",
    ],
];

fn cargo() -> Command {
    Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
}

fn step(name: &str, cmd: &mut Command) -> Result<()> {
    eprintln!("xtask ci: {name}");
    let started = Instant::now();
    let status = cmd.status().with_context(|| format!("running {name}"))?;
    eprintln!("xtask ci: {name} finished in {:.0?}", started.elapsed());
    if !status.success() {
        bail!("{name} failed ({status})");
    }
    Ok(())
}

pub fn run(args: Args) -> Result<()> {
    if !args.tests_only {
        step(
            "cargo fmt --check",
            cargo().args(["fmt", "--all", "--", "--check"]),
        )?;
        step(
            "cargo clippy",
            cargo().args([
                "clippy",
                "--workspace",
                "--all-targets",
                "--",
                "-D",
                "warnings",
            ]),
        )?;
        // Licenses, duplicate versions (warnings) and sources, from `deny.toml`. No
        // advisories: they need the advisory database from the network; these checks only
        // need the dependency graph (cargo metadata, which uses the usual crates.io cache).
        step(
            "cargo deny check bans licenses sources",
            cargo().args(["deny", "check", "bans", "licenses", "sources"]),
        )?;
        // The feature combinations a downstream application is likely to pick, beyond the
        // defaults (both backends, rustls) that every other step builds. Libraries only:
        // the tests need both backends.
        for features in FEATURE_COMBINATIONS {
            step(
                &format!("cargo check {}", features.join(" ")),
                cargo().arg("check").args(*features),
            )?;
        }
        step(
            "cargo doc",
            cargo()
                .args(["doc", "--workspace", "--no-deps"])
                .env("RUSTDOCFLAGS", "-D warnings"),
        )?;
    }
    if !args.tests_only {
        // The benchmarks, built with the bench profile (optimised): they must keep
        // compiling, and some errors only an optimised build meets (a future nested deep
        // enough to overflow the compiler's layout depth once inlined).
        step(
            "cargo bench --no-run",
            cargo().args(["bench", "--workspace", "--no-run"]),
        )?;
    }
    // Build the tests before the server starts, so its lifetime covers only the run.
    step(
        "cargo test --no-run",
        cargo().args(["test", "--workspace", "--no-run"]),
    )?;
    eprintln!(
        "xtask ci: starting a throwaway PostgreSQL server on port {}",
        pg::PORT
    );
    let server = pg::Server::start()?;
    // One run covers both backends: every store test loops over SQLite and PostgreSQL,
    // and the PostgreSQL half is mandatory here.
    let result = step(
        "cargo test (SQLite + PostgreSQL)",
        cargo()
            .args(["test", "--workspace"])
            .env(test_support::PG_URL_ENV, server.url())
            .env(test_support::REQUIRE_PG_ENV, "1"),
    );
    drop(server);
    result
}

pub fn bench(args: &[String]) -> Result<()> {
    step(
        "cargo bench",
        cargo().args(["bench", "--workspace"]).args(args),
    )
}
