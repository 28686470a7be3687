//! `cloudctl completions SHELL` and `cloudctl man`: generated from the command definition
//! by the clap ecosystem's `clap_complete` and `clap_mangen`.

use std::path::Path;

use anyhow::{Context as _, Result};
use clap::CommandFactory as _;

use crate::cli::Cli;

fn command() -> clap::Command {
    Cli::command().after_help(crate::exit::help())
}

/// Prints the completion script for `shell`.
pub fn completions(shell: clap_complete::Shell) -> Result<()> {
    let mut cmd = command();
    clap_complete::generate(shell, &mut cmd, "cloudctl", &mut std::io::stdout());
    Ok(())
}

/// Prints `cloudctl.1`, or writes `cloudctl.1` and one page per command (`cloudctl-login.1`,
/// …) into `dir`.
pub fn man(dir: Option<&Path>) -> Result<()> {
    let cmd = command();
    match dir {
        None => clap_mangen::Man::new(cmd)
            .render(&mut std::io::stdout())
            .context("writing the manual page"),
        Some(dir) => {
            std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
            clap_mangen::generate_to(cmd, dir)
                .with_context(|| format!("writing manual pages into {}", dir.display()))
        }
    }
}
