//! alipan file resources: drive info, listing, lookups, rename/move/copy/trash and
//! download URLs. (`create` lives in [`super::upload`].)

use super::*;

fn category(name: &str) -> &'static str {
    match extension(name).as_str() {
        "mkv" | "mp4" | "avi" | "ts" | "mov" | "iso" | "rmvb" | "m2ts" | "webm" => "video",
        "mp3" | "flac" | "aac" | "wav" | "ape" => "audio",
        "jpg" | "jpeg" | "png" | "gif" | "webp" => "image",
        "srt" | "ass" | "ssa" | "txt" | "nfo" | "pdf" => "doc",
        _ => "others",
    }
}

pub(super) fn item(drive: &str, n: &Node) -> Value {
    let mut v = json!({
        "drive_id": drive,
        "file_id": ext_id(n.id),
        "parent_file_id": ext_id(n.parent),
        "name": n.name,
        "type": if n.is_dir { "folder" } else { "file" },
        "created_at": iso8601(n.created),
        "updated_at": iso8601(n.modified),
        "status": "available",
        "trashed": false,
    });
    if let (false, Some(obj)) = (n.is_dir, v.as_object_mut()) {
        obj.insert("size".to_owned(), json!(n.size));
        obj.insert("file_extension".to_owned(), json!(extension(&n.name)));
        obj.insert("content_hash".to_owned(), json!(n.sha1));
        obj.insert("content_hash_name".to_owned(), json!("sha1"));
        obj.insert("category".to_owned(), json!(category(&n.name)));
    }
    v
}

pub(super) fn not_found_file() -> Response {
    err(
        StatusCode::NOT_FOUND,
        "NotFound.File",
        "The resource file cannot be found. file not exist",
    )
}

fn file_id_param(input: &Input, key: &str, missing: &str) -> Result<u64, Response> {
    let Some(raw) = input.get(key) else {
        return Err(bad(missing, &format!("{key} is required")));
    };
    parse_id(&raw).ok_or_else(not_found_file)
}

/// The request's `file_id`.
pub(super) fn file_id(input: &Input) -> Result<u64, Response> {
    file_id_param(input, "file_id", "InvalidParameterMissing.FileId")
}

/// The request's `parent_file_id`.
pub(super) fn parent_file_id(input: &Input) -> Result<u64, Response> {
    file_id_param(
        input,
        "parent_file_id",
        "InvalidParameterMissing.ParentFileId",
    )
}

/// The request's `to_parent_file_id`.
fn to_parent_file_id(input: &Input) -> Result<u64, Response> {
    file_id_param(
        input,
        "to_parent_file_id",
        "InvalidParameterMissing.ToParentFileId",
    )
}

/// The outcome of a tree update: `None` (no such file or folder) answers
/// [`not_found_file`], an inner error answers as itself.
fn found<T>(result: Option<Result<T, Response>>) -> Result<T, Response> {
    result.unwrap_or_else(|| Err(not_found_file()))
}

pub(super) async fn drive_info(State(core): State<Arc<Core>>, input: Input) -> Answer {
    let account = authed(&core, &input)?;
    let Some(a) = core.account(&account) else {
        return Err(err(
            StatusCode::UNAUTHORIZED,
            "AccessTokenInvalid",
            "AccessToken is invalid",
        ));
    };
    let mut body = json!({
        "user_id": a.user_id,
        "name": a.display_name,
        "nick_name": a.display_name,
        "avatar": format!("{}/__sim/avatar/{}.png", core.base_url, a.user_id),
        "default_drive_id": a.default_drive,
        "backup_drive_id": a.default_drive,
    });
    if let (Some(r), Some(obj)) = (&a.resource_drive, body.as_object_mut()) {
        obj.insert("resource_drive_id".to_owned(), json!(r));
    }
    Ok(ok(body))
}

pub(super) async fn space_info(State(core): State<Arc<Core>>, input: Input) -> Answer {
    let account = authed(&core, &input)?;
    let used = core.used_bytes(&account);
    Ok(ok(json!({
        "personal_space_info": {"total_size": 6u64 * 1024 * 1024 * 1024 * 1024, "used_size": used}
    })))
}

fn encode_marker(offset: usize) -> String {
    URL_SAFE_NO_PAD.encode(format!("sim-offset:{offset}"))
}

fn decode_marker(marker: &str) -> Option<usize> {
    let raw = URL_SAFE_NO_PAD.decode(marker).ok()?;
    let text = String::from_utf8(raw).ok()?;
    text.strip_prefix("sim-offset:")?.parse().ok()
}

pub(super) async fn list(State(core): State<Arc<Core>>, input: Input) -> Answer {
    let drive = authed_drive(&core, &input)?;
    let parent = parent_file_id(&input)?;
    let limit = match input.get("limit").map(|l| l.parse::<usize>()) {
        None => 50,
        Some(Ok(l)) if (1..=100).contains(&l) => l,
        Some(_) => {
            return Err(bad(
                "InvalidParameter.Limit",
                "limit must be between 1 and 100",
            ));
        }
    };
    let offset = match input.get("marker") {
        None => 0,
        Some(m) => match decode_marker(&m) {
            Some(o) => o,
            None => return Err(bad("InvalidParameter.Marker", "marker is invalid")),
        },
    };
    let type_filter = input.get("type");
    let page = core
        .with_tree(&drive, |t: &mut Tree, _, _| {
            let folder = t.get(parent).filter(|n| n.is_dir)?;
            let all: Vec<&Node> = folder
                .children
                .iter()
                .filter_map(|c| t.get(*c))
                .filter(|n| match type_filter.as_deref() {
                    Some("file") => !n.is_dir,
                    Some("folder") => n.is_dir,
                    _ => true,
                })
                .collect();
            let items: Vec<Value> = all
                .iter()
                .skip(offset)
                .take(limit)
                .map(|n| item(&drive, n))
                .collect();
            let next = offset + items.len();
            let next_marker = if next < all.len() {
                encode_marker(next)
            } else {
                String::new()
            };
            Some((items, next_marker))
        })
        .flatten()
        .ok_or_else(not_found_file)?;
    let (items, next_marker) = page;
    Ok(ok(json!({"items": items, "next_marker": next_marker})))
}

pub(super) async fn get_file(State(core): State<Arc<Core>>, input: Input) -> Answer {
    let drive = authed_drive(&core, &input)?;
    let id = file_id(&input)?;
    core.with_tree(&drive, |t, _, _| t.get(id).map(|n| item(&drive, n)))
        .flatten()
        .map(ok)
        .ok_or_else(not_found_file)
}

pub(super) async fn get_by_path(State(core): State<Arc<Core>>, input: Input) -> Answer {
    let drive = authed_drive(&core, &input)?;
    let Some(path) = input.get("file_path") else {
        return Err(bad(
            "InvalidParameterMissing.FilePath",
            "file_path is required",
        ));
    };
    core.with_tree(&drive, |t, _, _| {
        t.lookup(&path)
            .and_then(|id| t.get(id))
            .map(|n| item(&drive, n))
    })
    .flatten()
    .map(ok)
    .ok_or_else(not_found_file)
}

/// The outcome of applying a `check_name_mode` to a name in a folder.
pub(super) enum NameOutcome {
    Use(String),
    Exists(u64),
}

pub(super) fn resolve_name(t: &Tree, parent: u64, name: &str, mode: &str) -> NameOutcome {
    let Some(existing) = t.child(parent, name) else {
        return NameOutcome::Use(name.to_owned());
    };
    match mode {
        "refuse" => NameOutcome::Exists(existing),
        "auto_rename" => {
            let (stem, ext) = match name.rsplit_once('.') {
                Some((s, e)) if !s.is_empty() => (s.to_owned(), format!(".{e}")),
                _ => (name.to_owned(), String::new()),
            };
            let candidate = (1..)
                .map(|i| format!("{stem}({i}){ext}"))
                .find(|c| t.child(parent, c).is_none())
                .unwrap_or_else(|| format!("{stem}({}){ext}", random_hex(6)));
            NameOutcome::Use(candidate)
        }
        _ => NameOutcome::Use(name.to_owned()),
    }
}

pub(super) fn name_mode(input: &Input, default: &str) -> Result<String, Response> {
    let mode = input
        .get("check_name_mode")
        .unwrap_or_else(|| default.to_owned());
    if matches!(
        mode.as_str(),
        "refuse" | "auto_rename" | "ignore" | "overwrite"
    ) {
        Ok(mode)
    } else {
        Err(bad(
            "InvalidParameter.CheckNameMode",
            "check_name_mode must be refuse, auto_rename or ignore",
        ))
    }
}

pub(super) async fn update(State(core): State<Arc<Core>>, input: Input) -> Answer {
    let drive = authed_drive(&core, &input)?;
    let id = file_id(&input)?;
    let Some(name) = input.get("name").filter(|n| !n.contains('/')) else {
        return Err(bad("InvalidParameterMissing.Name", "name is required"));
    };
    let mode = name_mode(&input, "ignore")?;
    let result = core
        .with_tree(&drive, |t, _, now| {
            let parent = t.get(id).filter(|_| id != ROOT)?.parent;
            if let NameOutcome::Exists(other) = resolve_name(t, parent, &name, &mode)
                && other != id
            {
                return Some(Err(err(
                    StatusCode::CONFLICT,
                    "AlreadyExist.File",
                    "a file with the same name already exists",
                )));
            }
            t.rename(id, &name, now);
            t.get(id).map(|n| Ok(item(&drive, n)))
        })
        .flatten();
    found(result).map(ok)
}

pub(super) async fn move_file(State(core): State<Arc<Core>>, input: Input) -> Answer {
    let drive = authed_drive(&core, &input)?;
    let id = file_id(&input)?;
    let to = to_parent_file_id(&input)?;
    let mode = name_mode(&input, "refuse")?;
    let new_name = input.get("new_name");
    let result = core
        .with_tree(&drive, |t, _, now| {
            let node = t.get(id).filter(|_| id != ROOT)?;
            let name = new_name.clone().unwrap_or_else(|| node.name.clone());
            if !t.get(to).is_some_and(|n| n.is_dir) {
                return None;
            }
            match resolve_name(t, to, &name, &mode) {
                NameOutcome::Exists(other) if other != id => Some(Ok(true)),
                NameOutcome::Exists(_) => Some(Ok(false)),
                NameOutcome::Use(name) => {
                    if !t.move_to(id, to, now) {
                        return Some(Err(bad(
                            "InvalidParameter.ToParentFileId",
                            "cannot move a folder into itself",
                        )));
                    }
                    t.rename(id, &name, now);
                    Some(Ok(false))
                }
            }
        })
        .flatten();
    let exist = found(result)?;
    Ok(ok(json!({
        "drive_id": drive, "file_id": ext_id(id), "async_task_id": "", "exist": exist,
    })))
}

pub(super) async fn copy_file(State(core): State<Arc<Core>>, input: Input) -> Answer {
    let drive = authed_drive(&core, &input)?;
    let id = file_id(&input)?;
    let to = to_parent_file_id(&input)?;
    if input.get("to_drive_id").is_some_and(|d| d != drive) {
        return Err(bad(
            "InvalidParameter.ToDriveId",
            "copying between drives is not supported by the simulator",
        ));
    }
    let auto_rename = input
        .json_value("auto_rename")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let result = core
        .with_tree(&drive, |t, ids, now| {
            let name = t.get(id).filter(|_| id != ROOT)?.name.clone();
            if !t.get(to).is_some_and(|n| n.is_dir) {
                return None;
            }
            let target_name = match resolve_name(
                t,
                to,
                &name,
                if auto_rename { "auto_rename" } else { "ignore" },
            ) {
                NameOutcome::Use(n) => n,
                NameOutcome::Exists(e) => return Some(Ok(e)),
            };
            match t.copy_to(id, to, now, ids) {
                Some(new_id) => {
                    t.rename(new_id, &target_name, now);
                    Some(Ok(new_id))
                }
                None => Some(Err(bad(
                    "InvalidParameter.ToParentFileId",
                    "cannot copy a folder into itself",
                ))),
            }
        })
        .flatten();
    let new_id = found(result)?;
    Ok(ok(json!({
        "drive_id": drive, "file_id": ext_id(new_id), "async_task_id": "",
    })))
}

pub(super) async fn trash(State(core): State<Arc<Core>>, input: Input) -> Answer {
    let drive = authed_drive(&core, &input)?;
    let id = file_id(&input)?;
    if core
        .with_tree(&drive, |t, _, _| t.trash(id))
        .unwrap_or(false)
    {
        Ok(ok(
            json!({"drive_id": drive, "file_id": ext_id(id), "async_task_id": ""}),
        ))
    } else {
        Err(not_found_file())
    }
}

pub(super) async fn download_url(State(core): State<Arc<Core>>, input: Input) -> Answer {
    let drive = authed_drive(&core, &input)?;
    let id = file_id(&input)?;
    let node = core
        .with_tree(&drive, |t, _, _| t.get(id).cloned())
        .flatten();
    match node {
        None => Err(not_found_file()),
        Some(n) if n.is_dir => Err(bad(
            "InvalidResource.FileTypeFolder",
            "a folder has no download url",
        )),
        Some(n) => {
            let (url, expires_at) = core.create_download(&drive, n.id, None);
            Ok(ok(json!({
                "url": url,
                "expiration": iso8601(expires_at),
                "method": "GET",
                "size": n.size,
            })))
        }
    }
}
