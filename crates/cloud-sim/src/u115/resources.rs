//! 115's resource endpoints in the simulator: user info, listing, folder info, make,
//! rename, move, copy, delete and download links. Uploads are in `upload.rs`. Login and
//! refresh are in `mod.rs`.

use super::*;

/// Authenticates a resource request; returns the account name and its drive id.
pub(super) fn authed(core: &Core, input: &Input) -> Result<(String, String), Response> {
    match core.authenticate(input.bearer()) {
        Ok(account) => {
            let drive = core
                .account(&account)
                .map(|a| a.default_drive)
                .unwrap_or_default();
            Ok((account, drive))
        }
        Err(AuthError::RateLimited(reset)) => Err(style_answer(core, reset)),
        Err(AuthError::Expired | AuthError::Revoked) => Err(res_err(
            code::ACCESS_INVALID,
            "access token is invalid or expired",
        )),
        Err(AuthError::Missing | AuthError::Unknown) => {
            Err(res_err(code::ACCESS_CHECK, "access token check failed"))
        }
    }
}

pub(super) fn fid(id: u64) -> String {
    id.to_string()
}

pub(super) fn parse_fid(s: &str) -> Option<u64> {
    s.trim().parse().ok()
}

fn item(n: &Node) -> Value {
    json!({
        "fid": fid(n.id),
        "aid": "1",
        "pid": fid(n.parent),
        "fc": if n.is_dir { "0" } else { "1" },
        "fn": n.name,
        "fs": n.size,
        "upt": n.modified,
        "uet": n.modified,
        "uppt": n.created,
        "pc": n.pick_code,
        "ico": if n.is_dir { String::new() } else { extension(&n.name) },
        "sha1": n.sha1,
        "isv": 0,
    })
}

pub(super) async fn user_info(State(core): State<Arc<Core>>, input: Input) -> Response {
    let (account, _) = match authed(&core, &input) {
        Ok(a) => a,
        Err(r) => return r,
    };
    let Some(a) = core.account(&account) else {
        return res_err(code::ACCESS_CHECK, "access token check failed");
    };
    let used = core.used_bytes(&account);
    let size =
        |n: u64| json!({"size": n, "size_format": format!("{:.2}GB", n as f64 / 1073741824.0)});
    res_ok(json!({
        "user_id": a.user_id,
        "user_name": a.display_name,
        "user_face_s": "",
        "user_face_m": "",
        "user_face_l": "",
        "rt_space_info": {
            "all_total": size(TOTAL_SPACE),
            "all_remain": size(TOTAL_SPACE.saturating_sub(used)),
            "all_use": size(used),
        },
        "vip_info": {"level_name": "", "expire": 0},
    }))
}

pub(super) async fn files(State(core): State<Arc<Core>>, input: Input) -> Response {
    let (_, drive) = match authed(&core, &input) {
        Ok(a) => a,
        Err(r) => return r,
    };
    let cid = match input.get("cid").map(|c| parse_fid(&c)) {
        None => ROOT,
        Some(Some(c)) => c,
        Some(None) => return res_err(code::MISSING_PARAM, "cid is invalid"),
    };
    let limit = input
        .get("limit")
        .and_then(|l| l.parse::<usize>().ok())
        .unwrap_or(20)
        .clamp(1, 1000);
    let offset = input
        .get("offset")
        .and_then(|o| o.parse::<usize>().ok())
        .unwrap_or(0);
    let show_dir = input.get("show_dir").is_some_and(|s| s == "1");
    let answer = core.with_tree(&drive, |t: &mut Tree, _, _| {
        let folder = t.get(cid).filter(|n| n.is_dir)?;
        let (dirs, files): (Vec<&Node>, Vec<&Node>) = folder
            .children
            .iter()
            .filter_map(|c| t.get(*c))
            .partition(|n| n.is_dir);
        let all: Vec<&Node> = if show_dir {
            dirs.into_iter().chain(files).collect()
        } else {
            files
        };
        let page: Vec<Value> = all
            .iter()
            .skip(offset)
            .take(limit)
            .map(|n| item(n))
            .collect();
        let mut path: Vec<Value> = t
            .ancestors(cid)
            .into_iter()
            .map(|(id, name)| json!({"cid": fid(id), "name": name}))
            .collect();
        if cid != ROOT {
            path.push(json!({"cid": fid(cid), "name": folder.name}));
        }
        Some((page, all.len(), path))
    });
    match answer.flatten() {
        Some((page, count, path)) => json_response(
            StatusCode::OK,
            json!({
                "state": true, "code": 0, "message": "",
                "data": page, "count": count, "cid": fid(cid),
                "offset": offset, "limit": limit, "path": path,
            }),
        ),
        None => res_err(code::NOT_FOUND, "文件夹不存在或已删除"),
    }
}

fn info(t: &Tree, n: &Node) -> Value {
    let (count, folder_count) =
        n.children
            .iter()
            .filter_map(|c| t.get(*c))
            .fold(
                (0u64, 0u64),
                |(f, d), c| if c.is_dir { (f, d + 1) } else { (f + 1, d) },
            );
    let mut paths: Vec<Value> = t
        .ancestors(n.id)
        .into_iter()
        .map(|(id, name)| json!({"file_id": fid(id), "file_name": name}))
        .collect();
    if n.id == ROOT {
        paths.clear();
    }
    json!({
        "count": count.to_string(),
        "size": format!("{}B", n.size),
        "size_byte": n.size,
        "folder_count": folder_count.to_string(),
        "play_long": 0,
        "show_play_long": 0,
        "ptime": n.created.to_string(),
        "utime": n.modified.to_string(),
        "file_name": n.name,
        "pick_code": n.pick_code,
        "sha1": n.sha1,
        "file_id": fid(n.id),
        "is_mark": "0",
        "open_time": 0,
        "file_category": if n.is_dir { "0" } else { "1" },
        "paths": paths,
    })
}

pub(super) async fn get_info(State(core): State<Arc<Core>>, input: Input) -> Response {
    let (_, drive) = match authed(&core, &input) {
        Ok(a) => a,
        Err(r) => return r,
    };
    let path = input.get("path");
    let file_id = input.get("file_id");
    if path.is_none() && file_id.is_none() {
        return res_err(code::MISSING_PARAM, "path or file_id is required");
    }
    let found = core
        .with_tree(&drive, |t, _, _| {
            let id = match (&file_id, &path) {
                (Some(f), _) => parse_fid(f)?,
                (None, Some(p)) => t.lookup(p)?,
                (None, None) => return None,
            };
            t.get(id).map(|n| info(t, n))
        })
        .flatten();
    match found {
        Some(data) => res_ok(data),
        None => json_response(
            StatusCode::OK,
            json!({"state": false, "code": code::NOT_FOUND, "message": "文件不存在或已删除", "data": []}),
        ),
    }
}

pub(super) async fn folder_add(State(core): State<Arc<Core>>, input: Input) -> Response {
    let (_, drive) = match authed(&core, &input) {
        Ok(a) => a,
        Err(r) => return r,
    };
    let (Some(pid), Some(name)) = (input.get("pid"), input.get("file_name")) else {
        return res_err(code::MISSING_PARAM, "pid and file_name are required");
    };
    let Some(pid) = parse_fid(&pid) else {
        return res_err(code::MISSING_PARAM, "pid is invalid");
    };
    if name.contains('/') {
        return res_err(code::MISSING_PARAM, "file_name is invalid");
    }
    let result = core
        .with_tree(&drive, |t, ids, now| {
            if !t.get(pid).is_some_and(|n| n.is_dir) {
                return Err(res_err(code::NOT_FOUND, "父目录不存在"));
            }
            if t.child(pid, &name).is_some() {
                return Err(res_err(code::EXISTS, "该目录名称已存在。"));
            }
            Ok(t.mkdir(pid, &name, now, ids))
        })
        .unwrap_or_else(|| Err(res_err(code::NOT_FOUND, "父目录不存在")));
    match result {
        Ok(id) => res_ok(json!({"file_name": name, "file_id": fid(id)})),
        Err(r) => r,
    }
}

pub(super) async fn update(State(core): State<Arc<Core>>, input: Input) -> Response {
    let (_, drive) = match authed(&core, &input) {
        Ok(a) => a,
        Err(r) => return r,
    };
    let (Some(id), Some(name)) = (input.get("file_id"), input.get("file_name")) else {
        return res_err(code::MISSING_PARAM, "file_id and file_name are required");
    };
    let Some(id) = parse_fid(&id) else {
        return res_err(code::MISSING_PARAM, "file_id is invalid");
    };
    let ok = core
        .with_tree(&drive, |t, _, now| t.rename(id, &name, now))
        .unwrap_or(false);
    if ok {
        res_ok(json!({"file_name": name}))
    } else {
        res_err(code::NOT_FOUND, "文件不存在或已删除")
    }
}

fn id_list(s: &str) -> Option<Vec<u64>> {
    let ids: Option<Vec<u64>> = s
        .split(',')
        .filter(|p| !p.trim().is_empty())
        .map(parse_fid)
        .collect();
    ids.filter(|v| !v.is_empty())
}

/// Applies `op` to every id; fails when any id is missing or the target is invalid.
fn bulk(
    core: &Core,
    drive: &str,
    ids: &[u64],
    target: Option<u64>,
    op: impl Fn(&mut Tree, u64, u64, u64, &mut u64) -> bool,
) -> Response {
    let result = core.with_tree(drive, |t, next, now| {
        if ids.iter().any(|id| t.get(*id).is_none() || *id == ROOT) {
            return Err(res_err(code::NOT_FOUND, "文件不存在或已删除"));
        }
        if let Some(to) = target
            && !t.get(to).is_some_and(|n| n.is_dir)
        {
            return Err(res_err(code::NOT_FOUND, "目标目录不存在"));
        }
        for id in ids {
            if !op(t, *id, target.unwrap_or(ROOT), now, next) {
                return Err(res_err(code::BAD_TARGET, "不能移动或复制到自身或子目录"));
            }
        }
        Ok(())
    });
    match result {
        Some(Ok(())) => res_ok(json!([])),
        Some(Err(r)) => r,
        None => res_err(code::NOT_FOUND, "文件不存在或已删除"),
    }
}

pub(super) async fn move_files(State(core): State<Arc<Core>>, input: Input) -> Response {
    let (_, drive) = match authed(&core, &input) {
        Ok(a) => a,
        Err(r) => return r,
    };
    let (Some(ids), Some(to)) = (
        input.get("file_ids").and_then(|s| id_list(&s)),
        input.get("to_cid").and_then(|s| parse_fid(&s)),
    ) else {
        return res_err(code::MISSING_PARAM, "file_ids and to_cid are required");
    };
    bulk(&core, &drive, &ids, Some(to), |t, id, to, now, _| {
        t.move_to(id, to, now)
    })
}

pub(super) async fn copy_files(State(core): State<Arc<Core>>, input: Input) -> Response {
    let (_, drive) = match authed(&core, &input) {
        Ok(a) => a,
        Err(r) => return r,
    };
    let (Some(ids), Some(to)) = (
        input.get("file_id").and_then(|s| id_list(&s)),
        input.get("pid").and_then(|s| parse_fid(&s)),
    ) else {
        return res_err(code::MISSING_PARAM, "file_id and pid are required");
    };
    bulk(&core, &drive, &ids, Some(to), |t, id, to, now, next| {
        t.copy_to(id, to, now, next).is_some()
    })
}

pub(super) async fn delete_files(State(core): State<Arc<Core>>, input: Input) -> Response {
    let (_, drive) = match authed(&core, &input) {
        Ok(a) => a,
        Err(r) => return r,
    };
    let Some(ids) = input.get("file_ids").and_then(|s| id_list(&s)) else {
        return res_err(code::MISSING_PARAM, "file_ids is required");
    };
    bulk(&core, &drive, &ids, None, |t, id, _, _, _| t.trash(id))
}

pub(super) async fn downurl(State(core): State<Arc<Core>>, input: Input) -> Response {
    let (_, drive) = match authed(&core, &input) {
        Ok(a) => a,
        Err(r) => return r,
    };
    let Some(codes) = input.get("pick_code") else {
        return res_err(code::MISSING_PARAM, "pick_code is required");
    };
    let user_agent = input.user_agent();
    let mut data = Map::new();
    for pc in codes.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let node = core
            .with_tree(&drive, |t, _, _| {
                t.find_pick_code(pc).and_then(|id| t.get(id).cloned())
            })
            .flatten();
        let Some(node) = node.filter(|n| !n.is_dir) else {
            return res_err(code::NOT_FOUND, "文件不存在或已删除");
        };
        let (url, _) = core.create_download(&drive, node.id, Some(user_agent.clone()));
        data.insert(
            fid(node.id),
            json!({
                "file_name": node.name,
                "file_size": node.size,
                "pick_code": node.pick_code,
                "sha1": node.sha1,
                "url": {"url": url},
            }),
        );
    }
    res_ok(Value::Object(data))
}
