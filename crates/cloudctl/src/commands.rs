//! Every command but `demo`.

use anyhow::{Result, anyhow};
use cloud_clients::{CloudStorage, FileItem, SummaryState};
use futures::TryStreamExt;
use serde_json::{Map, Value, json};
use storage_helper::{StorageConf, redact_config};
use system_config::redact_url;

use crate::cli::{Cli, Command, ConfigAction, MigrateAction, StorageAction};
use crate::context::{Context, split_target};
use crate::exit::{NotFound, UsageError};
use crate::output::{bytes, json, line, note, time};

pub async fn run(cli: Cli) -> Result<()> {
    // Before any work: from here on SIGINT/SIGTERM stop the command cleanly.
    let mut signals = crate::signals::Signals::install()?;
    let location =
        crate::database::resolve(cli.database_url, cli.db, cli.moviepilot_config, &|key| {
            std::env::var(key).ok()
        })?;
    // Only these create or migrate a database; the rest need one that exists.
    let creates = matches!(
        cli.command,
        Command::Migrate { .. } | Command::Login(_) | Command::Demo(_)
    );
    let ctx = Context::new(location, creates, &cli.endpoints, cli.json)?;
    // Generated from the command definition; no database needed.
    match &cli.command {
        Command::Completions { shell } => return crate::docs::completions(*shell),
        Command::Man { dir } => return crate::docs::man(dir.as_deref()),
        _ => {}
    }
    if let Command::Keepalive(args) = cli.command {
        // A foreground service: a signal is its normal end, handled inside.
        return crate::keepalive::run(&ctx, args, &mut signals).await;
    }
    if let Command::Serve(args) = cli.command {
        // A foreground service too: a signal ends it cleanly (exit 0).
        return crate::serve::run(&ctx, args, &mut signals).await;
    }
    tokio::select! {
        result = dispatch(&ctx, cli.command) => result,
        signal = signals.recv() => Err(signals.wind_down(&ctx, signal).await),
    }
}

async fn dispatch(ctx: &Context, command: Command) -> Result<()> {
    match command {
        Command::Migrate { action } => migrate(ctx, action).await,
        Command::Config { action } => config(ctx, action).await,
        Command::Storage { action } => storage(ctx, action).await,
        Command::Login(args) => crate::login::run(ctx, args).await,
        Command::Token { action } => crate::token::run(ctx, action).await,
        Command::Ls { target } => ls(ctx, &target).await,
        Command::Stat { target } => stat(ctx, &target).await,
        Command::Mkdir { target } => {
            let (drive, path) = open_target(ctx, &target).await?;
            let folder = drive.make_path(&path).await?;
            show_item(ctx, &folder)
        }
        Command::Mv { source, folder } => transfer(ctx, &source, &folder, false).await,
        Command::Cp { source, folder } => transfer(ctx, &source, &folder, true).await,
        Command::Rm { target } => {
            let (drive, path) = open_target(ctx, &target).await?;
            let item = must_stat(drive.as_ref(), &path).await?;
            drive.delete(&item).await?;
            done(ctx, &format!("deleted {target}"))
        }
        Command::Url { target } => {
            let (drive, path) = open_target(ctx, &target).await?;
            let item = must_stat(drive.as_ref(), &path).await?;
            let link = drive.download_url(&item).await?;
            if ctx.json {
                json(&json!({"url": link.url, "user_agent": link.user_agent}))
            } else {
                line(&link.url);
                if let Some(agent) = link.user_agent {
                    note(format!("fetch it with User-Agent: {agent}"));
                }
                Ok(())
            }
        }
        Command::Usage { storage } => {
            let storages = ctx.storages().await?;
            let drive = ctx.drive(&storages, &storage)?;
            let usage = drive.usage().await?;
            if ctx.json {
                json(
                    &json!({"total": usage.total, "used": usage.used, "available": usage.available()}),
                )
            } else {
                line(format!(
                    "{storage}: {} used of {} ({} free)",
                    bytes(usage.used),
                    bytes(usage.total),
                    bytes(usage.available())
                ));
                Ok(())
            }
        }
        Command::Download {
            target,
            dest,
            force,
        } => crate::transfer::download(ctx, &target, &dest, force).await,
        Command::Upload {
            local,
            folder,
            name,
            on_conflict,
        } => crate::transfer::upload(ctx, &local, &folder, name.as_deref(), on_conflict).await,
        Command::Demo(args) => crate::demo::run(ctx, args).await,
        Command::Completions { shell } => crate::docs::completions(shell),
        Command::Man { dir } => crate::docs::man(dir.as_deref()),
        Command::Keepalive(args) => {
            let mut signals = crate::signals::Signals::install()?;
            crate::keepalive::run(ctx, args, &mut signals).await
        }
        Command::Serve(args) => {
            let mut signals = crate::signals::Signals::install()?;
            crate::serve::run(ctx, args, &mut signals).await
        }
    }
}

pub(crate) fn done(ctx: &Context, message: &str) -> Result<()> {
    if ctx.json {
        json(&json!({"ok": true, "message": message}))
    } else {
        line(message);
        Ok(())
    }
}

/// Applies the pending migrations of the context's database.
pub async fn migrate_up(ctx: &Context) -> Result<system_config::migrations::MigrationReport> {
    let db = system_config::connect(&ctx.database_url, &Default::default()).await?;
    let report = system_config::migrations::run_up(&db).await.map_err(|e| {
        anyhow!(
            "{}",
            system_config::scrub_url_secrets(&e.to_string(), &ctx.database_url)
        )
    })?;
    db.close().await.ok();
    Ok(report)
}

async fn migrate(ctx: &Context, action: MigrateAction) -> Result<()> {
    let shown = redact_url(&ctx.database_url);
    let scrub = |e: system_config::sea_orm::DbErr| {
        anyhow!(
            "{}",
            system_config::scrub_url_secrets(&e.to_string(), &ctx.database_url)
        )
    };
    match action {
        MigrateAction::Up => {
            let report = migrate_up(ctx).await?;
            if ctx.json {
                json(
                    &json!({"database": shown, "applied": report.applied, "adopted_existing": report.adopted_existing,
                             "duplicates_removed": report.duplicates_removed, "pending": report.pending}),
                )
            } else {
                line(format!("{shown}: {report}"));
                Ok(())
            }
        }
        MigrateAction::Down => {
            let db = system_config::connect(&ctx.database_url, &Default::default()).await?;
            let report = system_config::migrations::run_down(&db, Some(1))
                .await
                .map_err(scrub)?;
            done(
                ctx,
                &format!("{shown}: rolled back {}", report.applied.join(", ")),
            )
        }
        MigrateAction::Status => {
            let db = system_config::connect(&ctx.database_url, &Default::default()).await?;
            let list = system_config::migrations::status(&db)
                .await
                .map_err(scrub)?;
            if ctx.json {
                let list: Vec<Value> = list
                    .iter()
                    .map(|(n, a)| json!({"name": n, "applied": a}))
                    .collect();
                json(&list)
            } else {
                for (name, applied) in list {
                    line(format!(
                        "{name}: {}",
                        if applied { "applied" } else { "pending" }
                    ));
                }
                Ok(())
            }
        }
    }
}

async fn config(ctx: &Context, action: ConfigAction) -> Result<()> {
    let store = ctx.store().await?;
    match action {
        ConfigAction::Get { key, show_secrets } => match store.get(&key)? {
            Some(value) if show_secrets => json(&value),
            Some(value) => json(&redacted(&key, value)),
            None => Err(NotFound(format!("no key `{key}`")).into()),
        },
        ConfigAction::Set { key, value } => {
            let value: Value = serde_json::from_str(&value).map_err(|e| {
                UsageError(format!(
                    "the value is not JSON ({e}); quote strings as '\"text\"'"
                ))
            })?;
            let outcome = store.set(&key, value).await?;
            done(
                ctx,
                &format!(
                    "{key}: {}",
                    if outcome.is_changed() {
                        "changed"
                    } else {
                        "unchanged"
                    }
                ),
            )
        }
        ConfigAction::Delete { key } => {
            let existed = store.delete(&key).await?;
            done(
                ctx,
                &format!("{key}: {}", if existed { "deleted" } else { "was not set" }),
            )
        }
        ConfigAction::List => {
            let keys: Vec<String> = store.all().into_keys().collect();
            let corrupt = store.corrupt_keys();
            if ctx.json {
                json(&json!({"keys": keys, "corrupt": corrupt}))
            } else {
                for key in keys {
                    line(key);
                }
                for key in corrupt {
                    line(format!("{key} (corrupt: not valid JSON)"));
                }
                Ok(())
            }
        }
    }
}

/// `value` of `key` fit to show: the rule of `storage show` (secret-looking members such as
/// `*token*`, `*password*`, `*secret*`, `*cookie*` become `[redacted]`, passwords in URLs
/// `***`) applied at every depth — to every entry of `Storages` and its config alike — and
/// to the key itself (a key named like a secret has its whole value redacted).
fn redacted(key: &str, value: Value) -> Value {
    let mut wrapper = Map::new();
    wrapper.insert(key.to_owned(), value);
    redact_config(&wrapper).remove(key).unwrap_or(Value::Null)
}

fn shown_conf(conf: &StorageConf, show_secrets: bool) -> Value {
    let config = if show_secrets {
        conf.config.clone()
    } else {
        redact_config(&conf.config)
    };
    let mut entry = Map::new();
    entry.insert("type".into(), json!(conf.kind));
    entry.insert("name".into(), json!(conf.name));
    entry.insert("config".into(), Value::Object(config));
    let extra = if show_secrets {
        conf.extra.clone()
    } else {
        redact_config(&conf.extra)
    };
    entry.extend(extra);
    Value::Object(entry)
}

async fn storage(ctx: &Context, action: StorageAction) -> Result<()> {
    let storages = ctx.storages().await?;
    match action {
        StorageAction::List { show_secrets } => {
            let list = storages.list()?;
            if ctx.json {
                let list: Vec<Value> = list.iter().map(|c| shown_conf(c, show_secrets)).collect();
                return json(&json!({"storages": list, "duplicates": storages.duplicates()?}));
            }
            for conf in &list {
                let summary = crate::token::summary_of(conf);
                let state = match summary.state {
                    SummaryState::LoggedOut => "-",
                    SummaryState::Valid | SummaryState::Due => "logged in",
                    other => other.label(),
                };
                line(format!(
                    "{:<10} {:<12} {}",
                    conf.kind.as_deref().unwrap_or("(none)"),
                    conf.name.as_deref().unwrap_or("(none)"),
                    state
                ));
            }
            for dup in storages.duplicates()? {
                note(format!(
                    "warning: storage type `{dup}` appears more than once; the first entry is used"
                ));
            }
            Ok(())
        }
        StorageAction::Show {
            storage,
            show_secrets,
        } => {
            let conf = storages
                .get(&storage)?
                .ok_or_else(|| NotFound(format!("no storage `{storage}`")))?;
            json(&shown_conf(&conf, show_secrets))
        }
        StorageAction::Add { storage, name } => {
            let name = name.unwrap_or_else(|| storage.clone());
            storages
                .add(StorageConf::new(storage.as_str(), name))
                .await?;
            done(ctx, &format!("added {storage}"))
        }
        StorageAction::Patch { storage, patch } => {
            let patch: Value = serde_json::from_str(&patch)
                .map_err(|e| UsageError(format!("the patch is not JSON: {e}")))?;
            if !patch.is_object() {
                return Err(UsageError("the patch must be a JSON object".into()).into());
            }
            let changed = storages.patch(&storage, &patch).await?;
            done(
                ctx,
                &format!(
                    "{storage}: {}",
                    if changed { "changed" } else { "unchanged" }
                ),
            )
        }
        StorageAction::Reset { storage } => {
            storages.reset(&storage).await?;
            done(ctx, &format!("{storage}: config emptied"))
        }
        StorageAction::Remove { storage } => {
            let removed = storages.remove(&storage).await?;
            done(
                ctx,
                &format!(
                    "{storage}: {}",
                    if removed { "removed" } else { "was not there" }
                ),
            )
        }
    }
}

pub(crate) async fn open_target(
    ctx: &Context,
    target: &str,
) -> Result<(Box<dyn CloudStorage>, String)> {
    let (storage, path) = split_target(target)?;
    let storages = ctx.storages().await?;
    Ok((ctx.drive(&storages, storage)?, path))
}

pub(crate) async fn must_stat(drive: &dyn CloudStorage, path: &str) -> Result<FileItem> {
    drive
        .stat(path)
        .await?
        .ok_or_else(|| NotFound(format!("{}:{path} does not exist", drive.storage_type())).into())
}

fn show_item(ctx: &Context, item: &FileItem) -> Result<()> {
    if ctx.json {
        return json(item);
    }
    line(format!(
        "{}  {:>10}  {}  {}",
        if item.is_folder() { "d" } else { "-" },
        item.size.map(bytes).unwrap_or_default(),
        item.modified.map(time).unwrap_or_default(),
        item.path
    ));
    Ok(())
}

async fn ls(ctx: &Context, target: &str) -> Result<()> {
    let (drive, path) = open_target(ctx, target).await?;
    let folder = must_stat(drive.as_ref(), &path).await?;
    if !folder.is_folder() {
        return show_item(ctx, &folder);
    }
    let items: Vec<FileItem> = drive.list(&folder).try_collect().await?;
    if ctx.json {
        return json(&items);
    }
    for item in &items {
        line(format!(
            "{}  {:>10}  {}  {}",
            if item.is_folder() { "d" } else { "-" },
            item.size.map(bytes).unwrap_or_default(),
            item.modified.map(time).unwrap_or_default(),
            item.name
        ));
    }
    note(format!("{} item(s)", items.len()));
    Ok(())
}

async fn stat(ctx: &Context, target: &str) -> Result<()> {
    let (drive, path) = open_target(ctx, target).await?;
    let item = must_stat(drive.as_ref(), &path).await?;
    show_item(ctx, &item)
}

async fn transfer(ctx: &Context, source: &str, folder: &str, copy: bool) -> Result<()> {
    let (storage, path) = split_target(source)?;
    let (dest_storage, dest_path) = split_target(folder)?;
    if storage != dest_storage {
        return Err(
            UsageError("moving or copying between storages is not supported".into()).into(),
        );
    }
    let storages = ctx.storages().await?;
    let drive = ctx.drive(&storages, storage)?;
    let item = must_stat(drive.as_ref(), &path).await?;
    let folder_item = must_stat(drive.as_ref(), &dest_path).await?;
    if !folder_item.is_folder() {
        return Err(UsageError(format!("{folder} is not a folder")).into());
    }
    if copy {
        drive.copy_to(&item, &folder_item).await?;
    } else {
        drive.move_to(&item, &folder_item).await?;
    }
    done(
        ctx,
        &format!(
            "{} {source} into {folder}",
            if copy { "copied" } else { "moved" }
        ),
    )
}
