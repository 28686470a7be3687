//! `/api/fs/list`, `/api/fs/get` and `/api/fs/dirs` (any method), and the object shape
//! they share.
//!
//! Listing order is by name (the Local driver's `ReadDir` order); `total` counts before
//! paging, `per_page < 1` returns everything and an empty page is `content: null`. Times
//! are Go's RFC3339Nano in the configured offset, with a seven-digit fraction.

use std::sync::Arc;

use axum::extract::State;
use axum::http::{HeaderMap, Method};
use axum::response::Response;
use serde_json::{Map, Value, json};

use super::auth::authenticate;
use super::bind::{self, bind, join_base, parent};
use super::state::Store;
use super::{STORAGE, fail, ok, record_ignored, with_storage};
use crate::core::Core;
use crate::input::Input;
use crate::tree::{Node, Tree};
use crate::util::rfc3339_nano;

/// OpenList's `type`: 0 unknown, 1 folder, 2 video, 3 audio, 4 text, 5 image, by the
/// default extension lists of a fresh install.
pub(super) fn file_type(name: &str) -> u8 {
    const AUDIO: &[&str] = &["mp3", "flac", "ogg", "m4a", "wav", "opus", "wma"];
    const VIDEO: &[&str] = &["mp4", "mkv", "avi", "mov", "rmvb", "webm", "flv", "m3u8"];
    const IMAGE: &[&str] = &[
        "jpg", "tiff", "jpeg", "png", "gif", "bmp", "svg", "ico", "swf", "webp", "avif",
    ];
    const TEXT: &[&str] = &[
        "txt",
        "htm",
        "html",
        "xml",
        "java",
        "properties",
        "sql",
        "js",
        "md",
        "json",
        "conf",
        "ini",
        "vue",
        "php",
        "py",
        "bat",
        "gitignore",
        "yml",
        "go",
        "sh",
        "c",
        "cpp",
        "h",
        "hpp",
        "tsx",
        "vtt",
        "srt",
        "ass",
        "rs",
        "lrc",
        "strm",
    ];
    let ext = name
        .rsplit_once('.')
        .map(|(_, e)| e.to_ascii_lowercase())
        .unwrap_or_default();
    let ext = ext.as_str();
    if AUDIO.contains(&ext) {
        3
    } else if VIDEO.contains(&ext) {
        2
    } else if IMAGE.contains(&ext) {
        5
    } else if TEXT.contains(&ext) {
        4
    } else {
        0
    }
}

/// The sub-second part of a node's times: recorded from an upload's `Last-Modified`,
/// else a fixed seven-digit fraction (last digit odd, so never trimmed) from the id.
fn nanos(store: &Store, node: &Node) -> u32 {
    let seven_digits = (node.id.wrapping_mul(2_654_435_761) % 9_000_000 + 1_000_000) | 1;
    store
        .nanos
        .get(&node.id)
        .copied()
        .unwrap_or(seven_digits as u32 * 100)
}

/// The `ObjResp` of a node in folder `parent` (`type` as list reports it, or by
/// extension only as get does).
pub(super) fn obj(
    store: &Store,
    node: &Node,
    parent: &str,
    now: u64,
    type_by_name: bool,
) -> Map<String, Value> {
    let frac = nanos(store, node);
    let offset = store.utc_offset_minutes;
    let sign = if node.is_dir || !store.needs_sign() {
        String::new()
    } else {
        store.sign(&bind::join(parent, &node.name), now)
    };
    let kind = if node.is_dir && !type_by_name {
        1
    } else {
        file_type(&node.name)
    };
    let Value::Object(map) = json!({
        "name": node.name,
        "size": node.size,
        "is_dir": node.is_dir,
        "modified": rfc3339_nano(node.modified, frac, offset),
        "created": rfc3339_nano(node.created, frac, offset),
        "sign": sign,
        "thumb": "",
        "type": kind,
        "hashinfo": "null",
        "hash_info": null,
    }) else {
        return Map::new();
    };
    map
}

/// Children of a folder, sorted by name.
pub(super) fn sorted_children(tree: &Tree, id: u64) -> Vec<Node> {
    let mut nodes: Vec<Node> = tree
        .children(id)
        .iter()
        .filter_map(|c| tree.get(*c).cloned())
        .collect();
    nodes.sort_by(|a, b| a.name.cmp(&b.name));
    nodes
}

macro_rules! try_400 {
    ($e:expr) => {
        match $e {
            Ok(v) => v,
            Err(message) => return fail(400, &message),
        }
    };
}
pub(super) use try_400;

/// `/api/fs/list`.
pub(super) async fn list(State(core): State<Arc<Core>>, method: Method, input: Input) -> Response {
    let caller = match authenticate(&core, &input.headers) {
        Ok(c) => c,
        Err(answer) => return answer,
    };
    let b = try_400!(bind(&input, &method, "ListReq"));
    record_ignored(
        &core,
        "/api/fs/list",
        b.unknown(&["path", "password", "page", "per_page", "refresh"]),
    );
    let path = try_400!(b.string("path"));
    let page = try_400!(b.int("page")).max(1);
    let per_page = match try_400!(b.int("per_page")) {
        n if n < 1 => i64::MAX,
        n => n,
    };
    let refresh = try_400!(b.bool("refresh"));
    let user = caller.user;
    let req_path = match join_base(&user.base_path, &path) {
        Ok(p) => p,
        Err(message) => return fail(403, message),
    };
    if refresh && !user.can(3) {
        return fail(403, "Refresh without permission");
    }
    let answer = with_storage(&core, |tree, store, _, now| {
        let id = tree
            .lookup(&req_path)
            .ok_or("failed get objs: failed get dir: object not found")?;
        if tree.get(id).is_some_and(|n| !n.is_dir) {
            return Err("failed get objs: not a folder");
        }
        let all = sorted_children(tree, id);
        let total = all.len();
        let start = usize::try_from((page - 1).saturating_mul(per_page)).unwrap_or(usize::MAX);
        let take = usize::try_from(per_page).unwrap_or(usize::MAX);
        let content: Vec<Value> = all
            .iter()
            .skip(start)
            .take(take)
            .map(|n| Value::Object(obj(store, n, &req_path, now, false)))
            .collect();
        let alist = store.flavor.is_alist();
        let mut data = json!({
            "content": if content.is_empty() { Value::Null } else { Value::Array(content) },
            "total": total,
            "readme": "",
            "header": "",
            "write": true,
        });
        if !alist {
            data["write_content_bypass"] = json!(false);
        }
        data["provider"] = json!(if alist { "Local" } else { "unknown" });
        Ok(data)
    });
    match answer {
        Some(Ok(data)) => ok(data),
        Some(Err(message)) => fail(500, message),
        None => fail(500, "failed get storage: storage not found"),
    }
}

/// `api_url`: `http(s)://<X-Forwarded-Host or Host>`.
fn api_url(headers: &HeaderMap, fallback: &str) -> String {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let scheme = if header("x-forwarded-proto") == Some("https") {
        "https"
    } else {
        "http"
    };
    match header("x-forwarded-host").or_else(|| header("host")) {
        Some(host) if !host.is_empty() => format!("{scheme}://{host}"),
        _ => fallback.to_owned(),
    }
}

/// `/api/fs/get`.
pub(super) async fn get(State(core): State<Arc<Core>>, method: Method, input: Input) -> Response {
    let caller = match authenticate(&core, &input.headers) {
        Ok(c) => c,
        Err(answer) => return answer,
    };
    let b = try_400!(bind(&input, &method, "FsGetReq"));
    // MoviePilot sends page, per_page and refresh here; the server has no such fields.
    record_ignored(&core, "/api/fs/get", b.unknown(&["path", "password"]));
    let path = try_400!(b.string("path"));
    let req_path = match join_base(&caller.user.base_path, &path) {
        Ok(p) => p,
        Err(message) => return fail(403, message),
    };
    let api = api_url(&input.headers, &core.base_url);
    let found = with_storage(&core, |tree, store, _, now| {
        let node = tree
            .lookup(&req_path)
            .and_then(|id| tree.get(id).cloned())?;
        let dir = parent(&req_path);
        let mut data = obj(store, &node, &dir, now, true);
        let stem = node
            .name
            .rsplit_once('.')
            .map_or(node.name.as_str(), |(s, _)| s)
            .to_owned();
        let related: Vec<Value> = tree
            .lookup(&dir)
            .map(|pid| sorted_children(tree, pid))
            .unwrap_or_default()
            .iter()
            .filter(|n| n.name != node.name && n.name.starts_with(&stem))
            .map(|n| Value::Object(obj(store, n, &dir, now, false)))
            .collect();
        let raw = if node.is_dir || store.direct_links {
            String::new()
        } else {
            let query = if store.needs_sign() {
                format!("?sign={}", store.sign(&req_path, now))
            } else {
                String::new()
            };
            format!("{api}/p{}{query}", bind::escape_path(&req_path))
        };
        data.insert("raw_url".into(), json!(raw));
        data.insert("readme".into(), json!(""));
        data.insert("header".into(), json!(""));
        let provider = if store.direct_links {
            "SimDirect"
        } else {
            "Local"
        };
        data.insert("provider".into(), json!(provider));
        let related = if related.is_empty() {
            Value::Null
        } else {
            Value::Array(related)
        };
        data.insert("related".into(), related);
        Some((data, node))
    });
    let Some(Some((mut data, node))) = found else {
        return fail(500, "object not found");
    };
    let direct = core.state.lock().openlist.direct_links;
    if direct && !node.is_dir {
        // The storage's own link: a third-party host that must not see the API token.
        let (url, _) = core.create_download(STORAGE, node.id, None);
        data.insert("raw_url".into(), json!(url));
    }
    ok(Value::Object(data))
}

/// `/api/fs/dirs`: the folders of a path.
pub(super) async fn dirs(State(core): State<Arc<Core>>, method: Method, input: Input) -> Response {
    let caller = match authenticate(&core, &input.headers) {
        Ok(c) => c,
        Err(answer) => return answer,
    };
    let b = try_400!(bind(&input, &method, "DirReq"));
    let path = try_400!(b.string("path"));
    let force_root = try_400!(b.bool("force_root"));
    let req_path = if force_root {
        if caller.user.role != super::state::ROLE_ADMIN {
            return fail(403, "Permission denied");
        }
        bind::fix_and_clean(&path)
    } else {
        match join_base(&caller.user.base_path, &path) {
            Ok(p) => p,
            Err(message) => return fail(403, message),
        }
    };
    let answer = with_storage(&core, |tree, store, _, _| {
        let id = tree
            .lookup(&req_path)
            .ok_or("failed get objs: failed get dir: object not found")?;
        let dirs: Vec<Value> = sorted_children(tree, id)
            .iter()
            .filter(|n| n.is_dir)
            .map(|n| {
                let frac = nanos(store, n);
                json!({"name": n.name, "modified": rfc3339_nano(n.modified, frac, store.utc_offset_minutes)})
            })
            .collect();
        Ok::<_, &str>(if dirs.is_empty() {
            Value::Null
        } else {
            Value::Array(dirs)
        })
    });
    match answer {
        Some(Ok(data)) => ok(data),
        Some(Err(message)) => fail(500, message),
        None => fail(500, "failed get storage: storage not found"),
    }
}
