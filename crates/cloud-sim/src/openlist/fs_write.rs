//! `/api/fs/mkdir`, `rename`, `move`, `copy` and `remove` (POST only).
//!
//! The one storage implements move and copy, so both are synchronous. OpenList refuses an
//! existing target with `403 "file [x] exists"` unless `overwrite` (then it is replaced)
//! or `skip_existing` (then the name is skipped); AList v3.38 has neither check and
//! replaces. Names that escape the source folder are dropped silently; removing a name
//! that does not exist is a success.

use std::sync::Arc;

use axum::extract::State;
use axum::http::Method;
use axum::response::Response;
use serde_json::{Value, json};

use super::auth::authenticate;
use super::bind::{self, RELATIVE_PATH, bind, join_base, parent};
use super::fs_read::try_400;
use super::{fail, ok, record_ignored, with_storage};
use crate::core::Core;
use crate::input::Input;
use crate::tree::{ROOT, Tree};

/// Permission bits.
const WRITE: u32 = 3;
const RENAME: u32 = 4;
const MOVE: u32 = 5;
const COPY: u32 = 6;
const REMOVE: u32 = 7;

fn permission_denied() -> Response {
    fail(403, "permission denied")
}

/// `/api/fs/mkdir`: `mkdir -p`; an existing folder is a success, a file in the way is not.
pub(super) async fn mkdir(State(core): State<Arc<Core>>, input: Input) -> Response {
    let caller = match authenticate(&core, &input.headers) {
        Ok(c) => c,
        Err(answer) => return answer,
    };
    let b = try_400!(bind(&input, &Method::POST, "MkdirOrLinkReq"));
    let path = try_400!(b.string("path"));
    let req_path = match join_base(&caller.user.base_path, &path) {
        Ok(p) => p,
        Err(message) => return fail(403, message),
    };
    if !caller.user.can(WRITE) {
        return permission_denied();
    }
    let result = with_storage(&core, |tree, _, ids, now| {
        let parts: Vec<&str> = req_path.split('/').filter(|p| !p.is_empty()).collect();
        let mut cur = ROOT;
        for (i, part) in parts.iter().enumerate() {
            cur = match tree.child(cur, part) {
                Some(id) if tree.get(id).is_some_and(|n| n.is_dir) => id,
                Some(_) if i + 1 == parts.len() => return Err("file exists".to_owned()),
                Some(_) => {
                    let dir = format!("/{}/", parts[..=i].join("/"));
                    return Err(format!("failed to make parent dir [{dir}]: file exists"));
                }
                None => tree.mkdir(cur, part, now, ids),
            };
        }
        Ok(())
    });
    match result {
        Some(Ok(())) => ok(Value::Null),
        Some(Err(message)) => fail(500, &message),
        None => fail(500, "failed get storage: storage not found"),
    }
}

/// `/api/fs/rename`.
pub(super) async fn rename(State(core): State<Arc<Core>>, input: Input) -> Response {
    let caller = match authenticate(&core, &input.headers) {
        Ok(c) => c,
        Err(answer) => return answer,
    };
    let b = try_400!(bind(&input, &Method::POST, "RenameReq"));
    let (path, name) = (try_400!(b.string("path")), try_400!(b.string("name")));
    let overwrite = try_400!(b.bool("overwrite"));
    if !caller.user.can(RENAME) {
        return permission_denied();
    }
    let req_path = match join_base(&caller.user.base_path, &path) {
        Ok(p) => p,
        Err(message) => return fail(403, message),
    };
    if name.is_empty() || name == "." || name == ".." || name.contains(['/', '\\']) {
        return fail(403, RELATIVE_PATH);
    }
    let result = with_storage(&core, |tree, store, _, now| {
        let dst = bind::join(&parent(&req_path), &name);
        let target = tree.lookup(&dst).filter(|_| dst != req_path);
        if target.is_some() && !overwrite && !store.flavor.is_alist() {
            return Err((403, format!("file [{name}] exists")));
        }
        if req_path == "/" {
            return Err((500, "rename root folder is not allowed".to_owned()));
        }
        let src = tree
            .lookup(&req_path)
            .ok_or((500, "failed to get src object: object not found".to_owned()))?;
        if let Some(target) = target {
            tree.trash(target);
        }
        tree.rename(src, &name, now);
        Ok(())
    });
    match result {
        Some(Ok(())) => ok(Value::Null),
        Some(Err((code, message))) => fail(code, &message),
        None => fail(500, "failed get storage: storage not found"),
    }
}

/// `/api/fs/move`.
pub(super) async fn move_items(State(core): State<Arc<Core>>, input: Input) -> Response {
    transfer(&core, &input, false)
}

/// `/api/fs/copy`.
pub(super) async fn copy_items(State(core): State<Arc<Core>>, input: Input) -> Response {
    transfer(&core, &input, true)
}

fn transfer(core: &Core, input: &Input, copy: bool) -> Response {
    let caller = match authenticate(core, &input.headers) {
        Ok(c) => c,
        Err(answer) => return answer,
    };
    let b = try_400!(bind(input, &Method::POST, "MoveCopyReq"));
    let route = if copy { "/api/fs/copy" } else { "/api/fs/move" };
    let known = [
        "src_dir",
        "dst_dir",
        "names",
        "overwrite",
        "skip_existing",
        "merge",
    ];
    record_ignored(core, route, b.unknown(&known));
    let (src_dir, dst_dir) = (try_400!(b.string("src_dir")), try_400!(b.string("dst_dir")));
    let names = try_400!(b.strings("names"));
    let overwrite = try_400!(b.bool("overwrite"));
    let skip_existing = try_400!(b.bool("skip_existing"));
    if names.is_empty() {
        return fail(400, "Empty file names");
    }
    if !caller.user.can(if copy { COPY } else { MOVE }) {
        return permission_denied();
    }
    let base = &caller.user.base_path;
    let (src_dir, dst_dir) = match (join_base(base, &src_dir), join_base(base, &dst_dir)) {
        (Ok(s), Ok(d)) => (s, d),
        (Err(message), _) | (_, Err(message)) => return fail(403, message),
    };
    let result = with_storage(core, |tree, store, ids, now| {
        let alist = store.flavor.is_alist();
        let prefix = if src_dir.ends_with('/') {
            src_dir.clone()
        } else {
            format!("{src_dir}/")
        };
        let mut sources = Vec::new();
        for name in &names {
            let src = bind::join(&src_dir, name);
            if !format!("{src}/").starts_with(&prefix) {
                continue;
            }
            let target = bind::join(&dst_dir, &bind::base(&src));
            if !overwrite && !alist {
                let base_name = bind::base(&src);
                if base_name == "." || base_name == "/" {
                    return Err((400, format!("invalid file name [{name}]")));
                }
                if tree.lookup(&target).is_some() {
                    if skip_existing {
                        continue;
                    }
                    return Err((403, format!("file [{name}] exists")));
                }
            }
            sources.push((src, target));
        }
        for (src, target) in sources {
            transfer_one(tree, ids, now, &src, &dst_dir, &target, copy)?;
        }
        Ok(alist)
    });
    match result {
        Some(Ok(true)) if copy => ok(json!({"tasks": []})),
        Some(Ok(true)) => ok(Value::Null),
        Some(Ok(false)) => {
            let kind = if copy { "Copy" } else { "Move" };
            ok(json!({"message": format!("{kind} operations completed immediately")}))
        }
        Some(Err((code, message))) => fail(code, &message),
        None => fail(500, "failed get storage: storage not found"),
    }
}

/// `op.Move` / `op.Copy` within the storage; an existing target is replaced.
fn transfer_one(
    tree: &mut Tree,
    ids: &mut u64,
    now: u64,
    src: &str,
    dst_dir: &str,
    target: &str,
    copy: bool,
) -> Result<(), (u16, String)> {
    let verb = if copy { "copy" } else { "move" };
    if !copy && src == "/" {
        return Err((500, "move root folder is not allowed".to_owned()));
    }
    if parent(src) == dst_dir {
        return Err((500, format!("{verb} in place")));
    }
    let src_id = tree
        .lookup(src)
        .ok_or((500, "failed to get src object: object not found".to_owned()))?;
    let dst_id = tree
        .lookup(dst_dir)
        .ok_or((500, "failed to get dst dir: object not found".to_owned()))?;
    if !tree.get(dst_id).is_some_and(|n| n.is_dir) {
        return Err((500, "not a folder".to_owned()));
    }
    if let Some(existing) = tree.lookup(target).filter(|id| *id != src_id) {
        tree.trash(existing);
    }
    let done = if copy {
        tree.copy_to(src_id, dst_id, now, ids).is_some()
    } else {
        tree.move_to(src_id, dst_id, now)
    };
    if done {
        Ok(())
    } else {
        Err((
            500,
            format!("failed to {verb}: a folder cannot go into itself"),
        ))
    }
}

/// `/api/fs/remove`.
pub(super) async fn remove(State(core): State<Arc<Core>>, input: Input) -> Response {
    let caller = match authenticate(&core, &input.headers) {
        Ok(c) => c,
        Err(answer) => return answer,
    };
    let b = try_400!(bind(&input, &Method::POST, "RemoveReq"));
    let dir = try_400!(b.string("dir"));
    let names = try_400!(b.strings("names"));
    if names.is_empty() {
        return fail(400, "Empty file names");
    }
    if !caller.user.can(REMOVE) {
        return permission_denied();
    }
    let req_dir = match join_base(&caller.user.base_path, &dir) {
        Ok(p) => p,
        Err(message) => return fail(403, message),
    };
    let prefix = if req_dir.ends_with('/') {
        req_dir.clone()
    } else {
        format!("{req_dir}/")
    };
    let result = with_storage(&core, |tree, _, _, _| {
        for name in &names {
            let full = bind::join(&req_dir, name);
            if !format!("{full}/").starts_with(&prefix) {
                continue;
            }
            if full == "/" {
                return Err("delete root folder is not allowed");
            }
            // "if object not found, it's ok"
            if let Some(id) = tree.lookup(&full) {
                tree.trash(id);
            }
        }
        Ok(())
    });
    match result {
        Some(Ok(())) => ok(Value::Null),
        Some(Err(message)) => fail(500, message),
        None => fail(500, "failed get storage: storage not found"),
    }
}
