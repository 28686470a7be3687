//! `cloudctl download` and `cloudctl upload`: the library's resumable transfers with
//! progress — an indicatif bar (bytes, rate, ETA) on a terminal, a plain line every few
//! seconds when standard error is not one, and JSON lines on standard output with `--json`
//! (`{"event":"progress","phase":"sending","done":…,"total":…}` at most twice a second,
//! then `{"event":"done","item":{…}}` for an upload or `{"event":"done","path":…,"bytes":…}`
//! for a download).

use std::io::IsTerminal as _;
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::Result;
use cloud_clients::{Conflict, TransferPhase, UploadOptions};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde_json::json;

use crate::cli::OnConflict;
use crate::commands::{done, must_stat, open_target};
use crate::context::{Context, split_target};
use crate::exit::UsageError;
use crate::output::{bytes, line, note};

/// Where progress goes.
enum Reporter {
    Bar(ProgressBar),
    Lines {
        last: Instant,
        phase: Option<TransferPhase>,
    },
    Json,
}

const LINE_EVERY: Duration = Duration::from_secs(5);

impl Reporter {
    fn new(ctx: &Context) -> Self {
        if ctx.json {
            return Reporter::Json;
        }
        if std::io::stderr().is_terminal() {
            let bar = ProgressBar::with_draw_target(Some(0), ProgressDrawTarget::stderr());
            let style = ProgressStyle::with_template(
                "{msg:9} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} ETA {eta}",
            )
            .map(|s| s.progress_chars("=> "))
            .unwrap_or_else(|_| ProgressStyle::default_bar());
            bar.set_style(style);
            Reporter::Bar(bar)
        } else {
            Reporter::Lines {
                last: Instant::now() - LINE_EVERY,
                phase: None,
            }
        }
    }

    fn update(&mut self, phase: TransferPhase, done: u64, total: u64) {
        let word = match phase {
            TransferPhase::Hashing => "hashing",
            TransferPhase::Sending => "sending",
            TransferPhase::Done => "done",
            _ => "working",
        };
        self.show(word, phase, done, total);
    }

    fn show(&mut self, word: &'static str, phase: TransferPhase, done: u64, total: u64) {
        match self {
            Reporter::Bar(bar) => {
                bar.set_message(word);
                bar.set_length(total);
                bar.set_position(done);
            }
            Reporter::Lines { last, phase: seen } => {
                let changed = *seen != Some(phase);
                if changed || last.elapsed() >= LINE_EVERY || (done == total && total > 0) {
                    *last = Instant::now();
                    *seen = Some(phase);
                    let percent = (done * 100).checked_div(total).unwrap_or(100);
                    note(format!(
                        "{word}: {} of {} ({percent}%)",
                        bytes(done),
                        bytes(total)
                    ));
                }
            }
            Reporter::Json => {
                line(
                    json!({"event": "progress", "phase": phase, "done": done, "total": total})
                        .to_string(),
                );
            }
        }
    }

    fn finish(&self) {
        if let Reporter::Bar(bar) = self {
            bar.finish_and_clear();
        }
    }
}

pub async fn download(ctx: &Context, target: &str, dest: &Path, force: bool) -> Result<()> {
    let (drive, path) = open_target(ctx, target).await?;
    let item = must_stat(drive.as_ref(), &path).await?;
    if item.is_folder() {
        return Err(UsageError(format!("{target} is a folder; download files one by one")).into());
    }
    // The provider names the file: into a folder it goes under a name reduced to one safe
    // path component (no `/`, `..`, control characters, …), never where the name points.
    let dest = if dest.is_dir() {
        dest.join(cloud_clients::safe_file_name(&item.name))
    } else {
        dest.to_path_buf()
    };
    if dest.exists() && !force {
        return Err(UsageError(format!(
            "{} exists; pass --force to replace it",
            dest.display()
        ))
        .into());
    }
    let mut reporter = Reporter::new(ctx);
    let mut last_json = Instant::now() - LINE_EVERY;
    let json_mode = ctx.json;
    let mut progress = |done: u64, total: Option<u64>| {
        // JSON lines at most twice a second (and at the end), not per chunk.
        if json_mode && last_json.elapsed() < Duration::from_millis(500) && Some(done) != total {
            return;
        }
        last_json = Instant::now();
        reporter.show(
            "receiving",
            TransferPhase::Sending,
            done,
            total.unwrap_or(done),
        );
    };
    let result = drive.download(&item, &dest, &mut progress).await;
    reporter.finish();
    let written = result?;
    if ctx.json {
        line(json!({"event": "done", "path": dest, "bytes": written}).to_string());
        return Ok(());
    }
    done(
        ctx,
        &format!("downloaded {} to {}", bytes(written), dest.display()),
    )
}

pub async fn upload(
    ctx: &Context,
    local: &Path,
    folder: &str,
    name: Option<&str>,
    on_conflict: OnConflict,
) -> Result<()> {
    let name = match name {
        Some(name) => name.to_owned(),
        None => local
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .ok_or_else(|| UsageError(format!("{} has no file name", local.display())))?,
    };
    // A missing local file is the user's mistake, said before any provider is asked.
    let meta = std::fs::metadata(local).map_err(|source| cloud_clients::Error::LocalIo {
        path: local.to_owned(),
        source: source.into(),
    })?;
    if !meta.is_file() {
        return Err(UsageError(format!("{} is not a file", local.display())).into());
    }
    split_target(folder)?;
    let (drive, path) = open_target(ctx, folder).await?;
    let folder_item = must_stat(drive.as_ref(), &path).await?;
    if !folder_item.is_folder() {
        return Err(UsageError(format!("{folder} is not a folder")).into());
    }
    let conflict = match on_conflict {
        OnConflict::Refuse => Conflict::Refuse,
        OnConflict::Rename => Conflict::Rename,
        OnConflict::Overwrite => Conflict::Overwrite,
    };
    let options = UploadOptions::default().conflict(conflict);
    let mut reporter = Reporter::new(ctx);
    let json_mode = ctx.json;
    let mut last_json = Instant::now() - LINE_EVERY;
    let mut progress = |phase: TransferPhase, done: u64, total: u64| {
        if json_mode && last_json.elapsed() < Duration::from_millis(500) && done != total {
            return;
        }
        last_json = Instant::now();
        reporter.update(phase, done, total);
    };
    let result = drive
        .upload(local, &folder_item, &name, &options, &mut progress)
        .await;
    reporter.finish();
    let item = result?;
    if ctx.json {
        line(json!({"event": "done", "item": item}).to_string());
        return Ok(());
    }
    done(
        ctx,
        &format!(
            "uploaded {} to {}:{}",
            bytes(meta.len()),
            drive.storage_type(),
            item.path
        ),
    )
}
