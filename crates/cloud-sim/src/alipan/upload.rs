//! alipan `create` (folders, and files: pre-hash, proof / rapid upload, upload tasks),
//! `getUploadUrl`, `listUploadedParts` and `complete`. The part PUTs are in
//! [`super::parts`].
//!
//! Choices where the platform is undocumented:
//! - a proof that fails (or content the simulator does not hold) gives a normal task;
//! - `complete` needs every part listed at create (else 400
//!   `InvalidParameter.PartNotComplete`); an empty `part_info_list` makes an empty file, and
//!   a declared `size` of 0 completes with no part uploaded;
//! - `complete` checks the assembled size against a declared `size`
//!   (`InvalidParameter.Size`) and SHA-1 against a declared `content_hash`
//!   (`InvalidParameter.ContentHash`);
//! - a missing `part_info_list` means one part.

use std::collections::{BTreeMap, HashMap};

use sha1::Digest as _;

use super::files::{
    NameOutcome, file_id, item, name_mode, not_found_file, parent_file_id, resolve_name,
};
use super::upload_state::{MAX_PARTS, Prefix, Session, known_content, part_urls, pre_hash_matches};
use super::*;

/// Parses `part_info_list`: part numbers 1..N (any order, no gaps or repeats), N ≤ 10000.
fn parse_parts(input: &Input) -> Result<(u32, HashMap<u32, u64>), Response> {
    let invalid = || {
        bad(
            "InvalidParameter.PartInfoList",
            "part_info_list must hold part_number 1..N (N <= 10000) once each",
        )
    };
    let Some(list) = input.json_value("part_info_list") else {
        return Ok((1, HashMap::new()));
    };
    let Some(items) = list.as_array() else {
        return Err(invalid());
    };
    let mut sizes = HashMap::new();
    let mut seen = Vec::with_capacity(items.len());
    for it in items {
        let n = it
            .get("part_number")
            .and_then(Value::as_u64)
            .and_then(|n| u32::try_from(n).ok())
            .ok_or_else(invalid)?;
        if let Some(size) = it.get("part_size").and_then(Value::as_u64) {
            sizes.insert(n, size);
        }
        seen.push(n);
    }
    seen.sort_unstable();
    let count = u32::try_from(seen.len()).map_err(|_| invalid())?;
    if count > MAX_PARTS || seen.iter().zip(1..).any(|(n, want)| *n != want) {
        return Err(invalid());
    }
    Ok((count, sizes))
}

fn check_name(input: &Input) -> Result<String, Response> {
    let Some(name) = input.get("name") else {
        return Err(bad("InvalidParameterMissing.Name", "name is required"));
    };
    if name.contains('/') || name.len() > 1024 {
        return Err(bad(
            "InvalidParameter.Name",
            "name must not contain '/' and must be at most 1024 bytes",
        ));
    }
    Ok(name)
}

/// `POST /adrive/v1.0/openFile/create`.
pub(super) async fn create(State(core): State<Arc<Core>>, input: Input) -> Answer {
    let drive = authed_drive(&core, &input)?;
    let parent = parent_file_id(&input)?;
    let name = check_name(&input)?;
    match input.get("type").as_deref() {
        Some("folder") => create_folder(&core, &input, &drive, parent, &name),
        Some("file") => create_file(&core, &input, &drive, parent, &name),
        _ => Err(bad("InvalidParameter.Type", "type must be file or folder")),
    }
}

fn create_folder(core: &Core, input: &Input, drive: &str, parent: u64, name: &str) -> Answer {
    let mode = name_mode(input, "ignore")?;
    let result = core
        .with_tree(drive, |t, ids, now| {
            if !t.get(parent).is_some_and(|n| n.is_dir) {
                return None;
            }
            Some(match resolve_name(t, parent, name, &mode) {
                NameOutcome::Exists(id) => (id, true),
                NameOutcome::Use(n) => (t.mkdir(parent, &n, now, ids), false),
            })
        })
        .flatten();
    let (id, exist) = result.ok_or_else(not_found_file)?;
    let node_name = core
        .with_tree(drive, |t, _, _| t.get(id).map(|n| n.name.clone()))
        .flatten()
        .unwrap_or_else(|| name.to_owned());
    Ok(ok(json!({
        "drive_id": drive, "file_id": ext_id(id), "parent_file_id": ext_id(parent),
        "file_name": node_name, "type": "folder", "status": "available", "exist": exist,
        "upload_id": "",
    })))
}

fn create_file(core: &Core, input: &Input, drive: &str, parent: u64, name: &str) -> Answer {
    let mode = input
        .get("check_name_mode")
        .unwrap_or_else(|| "ignore".to_owned());
    if !matches!(mode.as_str(), "auto_rename" | "refuse" | "ignore") {
        return Err(bad(
            "InvalidParameter.CheckNameMode",
            "check_name_mode must be auto_rename, refuse or ignore",
        ));
    }
    let size = match input.get("size").map(|s| s.parse::<u64>()) {
        None => None,
        Some(Ok(s)) => Some(s),
        Some(Err(_)) => return Err(bad("InvalidParameter.Size", "size is invalid")),
    };
    let (parts, part_sizes) = parse_parts(input)?;
    let content_hash = input.get("content_hash");
    if content_hash.is_some() {
        if size.is_none() {
            return Err(bad(
                "InvalidParameterMissing.Size",
                "size is required with content_hash",
            ));
        }
        if !input
            .get("content_hash_name")
            .is_some_and(|n| n.eq_ignore_ascii_case("sha1"))
        {
            return Err(bad(
                "InvalidParameter.ContentHashName",
                "content_hash_name must be sha1",
            ));
        }
        if input.get("proof_version").as_deref() != Some("v1") {
            return Err(bad(
                "InvalidParameter.ProofVersion",
                "proof_version must be v1",
            ));
        }
    }
    // The name first: `refuse` answers `exist` whatever the content.
    let resolved = core
        .with_tree(drive, |t, _, _| {
            t.get(parent)
                .filter(|n| n.is_dir)
                .map(|_| resolve_name(t, parent, name, &mode))
        })
        .flatten()
        .ok_or_else(not_found_file)?;
    let name = match resolved {
        NameOutcome::Exists(id) => {
            return Ok(ok(json!({
                "drive_id": drive, "file_id": ext_id(id), "parent_file_id": ext_id(parent),
                "file_name": name, "type": "file", "status": "available", "exist": true,
                "rapid_upload": false, "available": true, "part_info_list": [],
            })));
        }
        NameOutcome::Use(n) => n,
    };
    if content_hash.is_none()
        && let Some(pre_hash) = input.get("pre_hash")
        && pre_hash_matches(core, &pre_hash, size)
    {
        return Err((
            StatusCode::CONFLICT,
            axum::Json(json!({
                "code": "PreHashMatched", "message": "Pre hash matched.",
                "file_name": name, "parent_file_id": ext_id(parent), "pre_hash": pre_hash,
                "requestId": request_id(),
            })),
        )
            .into_response());
    }
    let proven = content_hash.as_deref().and_then(|hash| {
        let size = size.unwrap_or(0);
        let content = known_content(core, hash, size)?;
        let expected = upload_state::proof_code(input.bearer().unwrap_or(""), &content, size);
        let given = input.get("proof_code").unwrap_or_default();
        (given == expected).then_some((hash.to_owned(), content, size))
    });
    let upload_id = random_hex(32).to_ascii_uppercase();
    let rapid = proven.is_some();
    let file_id = core
        .with_tree(drive, |t, ids, now| match proven {
            Some((hash, content, size)) => {
                let file = match content {
                    Content::Bytes(b) => SimFile::bytes(b.as_slice()),
                    Content::Zeros => SimFile::sized(size),
                }
                .with_sha1(hash);
                t.add_file(parent, &name, file, now, ids)
            }
            None => {
                *ids += 1;
                *ids
            }
        })
        .ok_or_else(not_found_file)?;
    let now = core.now_unix();
    core.uploads.lock().insert(
        &upload_id,
        Session {
            drive: drive.to_owned(),
            file_id,
            parent,
            name: name.clone(),
            parts,
            part_sizes,
            size,
            content_hash: content_hash.clone(),
            stored: BTreeMap::new(),
            prefix: Prefix::default(),
            completed: rapid.then_some(file_id),
            created_at: now,
        },
    );
    let list = if rapid {
        core.state.lock().stats.instant_uploads += 1;
        Vec::new()
    } else {
        core.state.lock().stats.upload_sessions += 1;
        part_urls(core, &upload_id, &(1..=parts).collect::<Vec<_>>())
    };
    Ok(ok(json!({
        "drive_id": drive, "file_id": ext_id(file_id), "parent_file_id": ext_id(parent),
        "file_name": name, "type": "file", "status": "available", "upload_id": upload_id,
        "rapid_upload": rapid, "exist": false, "available": true, "part_info_list": list,
    })))
}

/// The session named by `file_id` + `upload_id` of the request, in `drive`.
fn session_of(core: &Core, input: &Input, drive: &str) -> Result<(u64, String, u32), Response> {
    let file_id = file_id(input)?;
    let Some(upload_id) = input.get("upload_id") else {
        return Err(bad(
            "InvalidParameterMissing.UploadId",
            "upload_id is required",
        ));
    };
    let store = core.uploads.lock();
    match store.session(&upload_id) {
        Some(s) if s.file_id == file_id && s.drive == drive => Ok((file_id, upload_id, s.parts)),
        _ => Err(no_upload()),
    }
}

fn no_upload() -> Response {
    err(
        StatusCode::NOT_FOUND,
        "NotFound.UploadId",
        "The resource upload_id cannot be found.",
    )
}

/// `POST /adrive/v1.0/openFile/getUploadUrl`: fresh URLs for the requested parts.
pub(super) async fn get_upload_url(State(core): State<Arc<Core>>, input: Input) -> Answer {
    let drive = authed_drive(&core, &input)?;
    let (file_id, upload_id, parts) = session_of(&core, &input, &drive)?;
    let wanted: Vec<u32> = match input.json_value("part_info_list") {
        None => (1..=parts).collect(),
        Some(list) => list
            .as_array()
            .map(|items| {
                items
                    .iter()
                    .map(|it| {
                        it.get("part_number")
                            .and_then(Value::as_u64)
                            .and_then(|n| u32::try_from(n).ok())
                            .filter(|n| (1..=parts).contains(n))
                    })
                    .collect::<Option<Vec<u32>>>()
            })
            .unwrap_or(None)
            .ok_or_else(|| {
                bad(
                    "InvalidParameter.PartNumber",
                    "part_number must be one of the parts listed at create",
                )
            })?,
    };
    let created_at = core
        .uploads
        .lock()
        .session(&upload_id)
        .map_or(0, |s| s.created_at);
    Ok(ok(json!({
        "drive_id": drive, "file_id": ext_id(file_id), "upload_id": upload_id,
        "created_at": iso8601(created_at),
        "part_info_list": part_urls(&core, &upload_id, &wanted),
    })))
}

/// `POST /adrive/v1.0/openFile/listUploadedParts`, paged by `part_number_marker`.
pub(super) async fn list_uploaded_parts(State(core): State<Arc<Core>>, input: Input) -> Answer {
    let drive = authed_drive(&core, &input)?;
    let (_, upload_id, _) = session_of(&core, &input, &drive)?;
    let marker = match input.get("part_number_marker").map(|m| m.parse::<u32>()) {
        None => 0,
        Some(Ok(m)) => m,
        Some(Err(_)) => {
            return Err(bad(
                "InvalidParameter.PartNumberMarker",
                "part_number_marker is invalid",
            ));
        }
    };
    let page = core.state.lock().settings.list_parts_page_size.max(1);
    let store = core.uploads.lock();
    let Some(session) = store.session(&upload_id) else {
        return Err(no_upload());
    };
    let mut after = session.stored.range(marker.saturating_add(1)..);
    let parts: Vec<Value> = after
        .by_ref()
        .take(page)
        .map(|(n, p)| json!({"etag": p.etag, "part_number": n, "part_size": p.len}))
        .collect();
    let next = match (after.next(), parts.last()) {
        (Some(_), Some(last)) => last["part_number"].to_string(),
        _ => String::new(),
    };
    Ok(ok(json!({
        "drive_id": drive, "upload_id": upload_id, "parallelUpload": false,
        "uploaded_parts": parts, "next_part_number_marker": next,
    })))
}

/// `POST /adrive/v1.0/openFile/complete`: assembles the parts into the file (idempotent;
/// also accepted after a rapid upload).
pub(super) async fn complete(State(core): State<Arc<Core>>, input: Input) -> Answer {
    let drive = authed_drive(&core, &input)?;
    let (_, upload_id, _) = session_of(&core, &input, &drive)?;
    // The upload lock is held across the tree update (lock order: uploads, then state)
    // so two concurrent completes create one file.
    let mut store = core.uploads.lock();
    let session = store.session_mut(&upload_id).ok_or_else(not_found_file)?;
    if let Some(id) = session.completed {
        return core
            .with_tree(&drive, |t, _, _| t.get(id).map(|n| item(&drive, n)))
            .flatten()
            .map(ok)
            .ok_or_else(not_found_file);
    }
    let (data, sha1) = assemble(session)?;
    let (parent, name, reserved) = (session.parent, session.name.clone(), session.file_id);
    let added = core.with_tree(&drive, |t, _, now| {
        if !t.get(parent).is_some_and(|n| n.is_dir) {
            return Err(data);
        }
        // Create the node under the id reserved at create.
        let mut ids = reserved - 1;
        let file = SimFile::bytes(data).with_sha1(sha1);
        Ok(t.add_file(parent, &name, file, now, &mut ids))
    });
    let id = match added {
        Some(Ok(id)) => id,
        Some(Err(data)) => {
            // The folder went: the session stays as it was (its parts in place).
            session.prefix.data = data;
            return Err(not_found_file());
        }
        None => return Err(not_found_file()),
    };
    session.completed = Some(id);
    session.stored.clear();
    drop(store);
    core.with_tree(&drive, |t, _, _| t.get(id).map(|n| item(&drive, n)))
        .flatten()
        .map(ok)
        .ok_or_else(not_found_file)
}

/// The file of a session, checking completeness, size and hash: the parts stored in order
/// are already in place and hashed (see `Prefix`); parts that arrived out of order are
/// appended and hashed now. Returns the bytes and their upper-case SHA-1 hex. Nothing
/// changes in the session when a check fails.
fn assemble(session: &mut Session) -> Result<(Vec<u8>, String), Response> {
    let empty_declared = session.size == Some(0) && session.stored.is_empty();
    if !empty_declared
        && let Some(missing) = (1..=session.parts).find(|n| !session.stored.contains_key(n))
    {
        return Err(bad(
            "InvalidParameter.PartNotComplete",
            &format!("part {missing} of {} is not uploaded", session.parts),
        ));
    }
    let prefix = &mut session.prefix;
    let rest = session.stored.range(prefix.parts.saturating_add(1)..);
    let total = prefix.len + rest.clone().map(|(_, p)| p.len).sum::<u64>();
    if let Some(size) = session.size
        && size != total
    {
        return Err(bad(
            "InvalidParameter.Size",
            &format!("size {size} does not match the {total} bytes uploaded"),
        ));
    }
    let mut hasher = prefix.sha1.clone();
    for (_, part) in rest.clone() {
        hasher.update(&part.bytes);
    }
    let sha1 = hex::encode_upper(hasher.finalize());
    if let Some(hash) = &session.content_hash
        && !sha1.eq_ignore_ascii_case(hash)
    {
        return Err(bad(
            "InvalidParameter.ContentHash",
            "content_hash does not match the uploaded content",
        ));
    }
    // Whatever a PUT in flight wrote past the stored parts goes; it finds no place left.
    prefix.writer = None;
    let mut data = std::mem::take(&mut prefix.data);
    data.truncate(usize::try_from(prefix.len).unwrap_or(0));
    for (_, part) in rest {
        data.extend_from_slice(&part.bytes);
    }
    data.shrink_to_fit();
    Ok((data, sha1))
}
