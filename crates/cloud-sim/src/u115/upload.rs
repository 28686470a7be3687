//! 115 uploads: `POST /open/upload/init`, `GET /open/upload/get_token`,
//! `POST /open/upload/resume` (spec upload.md §2.3–§2.6, §4.2 items 2–6). The bytes go to
//! the simulator's OSS service ([`crate::oss`]), whose upload callback registers the file
//! (`callback.rs`, §2.7, §4.2 items 8–9).
//!
//! Bodies may be form-urlencoded (what clients send) or `multipart/form-data` (what DOC115
//! names).
//!
//! `init`:
//! - requires `file_name` (no `/`), `file_size` (integer ≥ 0), `target` `U_1_<cid>` naming an
//!   existing folder, `fileid` (40 hex digits, any case); `preid`, when sent, must be 40 hex
//!   digits but is not compared with anything (MoviePilot sends the SHA-1 of the first
//!   128 MiB, the documentation says 128 KiB); `topupload`, `path` and other fields are
//!   ignored;
//! - content the simulator holds (same SHA-1 and size, in any drive): under 1 MiB → status 2
//!   (instant upload, the file is created); 1 MiB or more → a challenge `status 7 / code 701`
//!   with `sign_key` and an inclusive `sign_check` "S-E" chosen at random. A follow-up init
//!   with that `sign_key` and `sign_val` = upper-case SHA-1 of bytes S..=E → status 2; a
//!   wrong value (lower case counts as wrong, as documented) → `status 8 / code 702`, and the
//!   client may upload the bytes instead. The challenge, the follow-up and `resume` carry the
//!   same `pick_code`, `bucket`, `object` and `callback`;
//! - an empty file (size 0, SHA-1 `DA39A3EE…`) is always an instant upload (an OSS Complete
//!   needs at least one part);
//! - anything else → status 1 with `pick_code`, `target`, `bucket`, `object` and
//!   `callback: {callback, callback_var}` (JSON texts). `code` is also put inside `data`.
//!
//! Name conflicts (undocumented): when the target folder already holds the name, the new
//! file is created as `name(1).ext` (then `(2)`, …), both by instant uploads and by the
//! callback; the answer's `file_name` is the name given. Nothing is ever overwritten.
//!
//! Errors: HTTP 200 with `state: false`; a bad parameter is code 10002 (the simulator's
//! choice, deliberately not a `401…` code, which SDK115 would take for an expired token);
//! a missing target folder 20018; auth as every 115 resource endpoint (40140125 / 40140126).

use std::collections::HashMap;

use super::form::FormInput;
use super::resources::{authed, fid, parse_fid};
use super::*;
use rand::RngExt as _;

use crate::oss::Credentials;

/// The bucket 115 uploads go to.
pub(crate) const BUCKET: &str = "fhnfile";
/// Content at or above this size needs the second verification.
const SIGN_THRESHOLD: u64 = 1024 * 1024;
/// SHA-1 of nothing.
const EMPTY_SHA1: &str = "DA39A3EE5E6B4B0D3255BFEF95601890AFD80709";
/// A malformed upload parameter (simulator's choice).
pub(crate) const INVALID_PARAM: i64 = 10002;

/// One upload task (`pick_code`).
#[derive(Clone, Debug)]
pub(crate) struct Session {
    pub account: String,
    pub drive: String,
    pub target: String,
    pub cid: u64,
    pub name: String,
    pub size: u64,
    /// `fileid`, upper case.
    pub sha1: String,
    pub pick_code: String,
    pub object: String,
    pub callback: String,
    pub callback_var: String,
    /// The challenge: `(sign_key, start, end)`, inclusive.
    pub sign: Option<(String, u64, u64)>,
    /// The file once registered.
    pub file_id: Option<u64>,
}

/// Every 115 upload task, by pick code.
#[derive(Debug, Default)]
pub(crate) struct UploadStore {
    pub sessions: HashMap<String, Session>,
}

fn is_hex40(s: &str) -> bool {
    s.len() == 40 && s.bytes().all(|b| b.is_ascii_hexdigit())
}

fn invalid(msg: &str) -> Response {
    res_err(INVALID_PARAM, msg)
}

/// The init/resume `data` fields shared by status 1, 7, 8 and `resume`.
fn task_fields(s: &Session) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert("pick_code".into(), json!(s.pick_code));
    m.insert("target".into(), json!(s.target));
    m.insert("bucket".into(), json!(BUCKET));
    m.insert("object".into(), json!(s.object));
    m.insert(
        "callback".into(),
        json!({"callback": s.callback, "callback_var": s.callback_var}),
    );
    m
}

fn with(mut m: Map<String, Value>, pairs: &[(&str, Value)]) -> Value {
    for (k, v) in pairs {
        m.insert((*k).to_owned(), v.clone());
    }
    Value::Object(m)
}

/// `name` or, when the folder holds it, `stem(1).ext`, `stem(2).ext`, …
pub(crate) fn free_name(t: &Tree, parent: u64, name: &str) -> String {
    if t.child(parent, name).is_none() {
        return name.to_owned();
    }
    let (stem, ext) = match name.rfind('.') {
        Some(i) if i > 0 => (&name[..i], &name[i..]),
        _ => (name, ""),
    };
    (1..)
        .map(|n| format!("{stem}({n}){ext}"))
        .find(|c| t.child(parent, c).is_none())
        .unwrap_or_else(|| name.to_owned())
}

/// Creates the file of `s` in its target folder with `content`; returns `(id, name)`.
pub(crate) fn register(
    core: &Core,
    s: &Session,
    content: crate::tree::Content,
) -> Result<(u64, String), String> {
    let file = match content {
        crate::tree::Content::Bytes(b) => {
            SimFile::bytes(std::sync::Arc::try_unwrap(b).unwrap_or_else(|b| b.as_ref().clone()))
        }
        crate::tree::Content::Zeros => SimFile::sized(s.size),
    }
    .with_sha1(s.sha1.clone());
    let made = core
        .with_tree(&s.drive, |t, ids, now| {
            if !t.get(s.cid).is_some_and(|n| n.is_dir) {
                return Err("the target folder no longer exists".to_owned());
            }
            let name = free_name(t, s.cid, &s.name);
            let id = t.add_file(s.cid, &name, file, now, ids);
            if let Some(n) = t.get_mut(id) {
                n.pick_code = s.pick_code.clone();
            }
            Ok((id, name))
        })
        .unwrap_or_else(|| Err("the drive no longer exists".to_owned()))?;
    core.u115_uploads
        .lock()
        .sessions
        .entry(s.pick_code.clone())
        .and_modify(|x| x.file_id = Some(made.0));
    Ok(made)
}

/// The status 2 answer after registering `s` with `content`.
fn instant(core: &Core, s: &Session, content: crate::tree::Content) -> Response {
    match register(core, s, content) {
        Ok((id, name)) => {
            core.state.lock().stats.instant_uploads += 1;
            res_ok(json!({
                "status": 2, "code": 0, "statuscode": 0,
                "file_id": fid(id), "file_name": name, "pick_code": s.pick_code,
                "target": s.target, "sign_key": "", "sign_check": "",
            }))
        }
        Err(e) => res_err(code::NOT_FOUND, &e),
    }
}

/// A new task for `init`.
fn new_session(core: &Core, account: &str, drive: &str, req: Req) -> Session {
    let pick_code = random_string(18).to_ascii_lowercase();
    let user_id = core.account(account).map(|a| a.user_id).unwrap_or_default();
    let object = format!("sim/{user_id}/{}", random_hex(32));
    let callback = json!({
        "callbackUrl": format!("{}/__sim/u115/upload_callback", core.base_url),
        "callbackBody": "bucket=${bucket}&object=${object}&size=${size}&sha1=${sha1}\
            &pick_code=${x:pick_code}&user_id=${x:user_id}&behavior_type=${x:behavior_type}\
            &source=${x:source}&target=${x:target}&task_uid=${x:task_uid}",
    })
    .to_string();
    let callback_var = json!({
        "x:pick_code": pick_code, "x:user_id": user_id, "x:behavior_type": "0",
        "x:source": "100", "x:target": req.target, "x:task_uid": user_id,
    })
    .to_string();
    core.oss.grant(BUCKET, &object);
    Session {
        account: account.to_owned(),
        drive: drive.to_owned(),
        target: req.target,
        cid: req.cid,
        name: req.name,
        size: req.size,
        sha1: req.sha1,
        pick_code,
        object,
        callback,
        callback_var,
        sign: None,
        file_id: None,
    }
}

/// The validated fields of an `init`.
struct Req {
    name: String,
    size: u64,
    target: String,
    cid: u64,
    sha1: String,
}

fn parse_init(core: &Core, drive: &str, input: &Input) -> Result<Req, Response> {
    let name = input
        .get("file_name")
        .filter(|n| !n.contains('/'))
        .ok_or_else(|| invalid("file_name is required and must not contain '/'"))?;
    let size = input
        .get("file_size")
        .and_then(|s| s.trim().parse::<u64>().ok())
        .ok_or_else(|| invalid("file_size must be an integer >= 0"))?;
    let target = input
        .get("target")
        .ok_or_else(|| invalid("target (U_1_<cid>) is required"))?;
    let cid = target
        .strip_prefix("U_1_")
        .filter(|c| !c.is_empty() && c.bytes().all(|b| b.is_ascii_digit()))
        .and_then(parse_fid)
        .ok_or_else(|| invalid("target must be U_1_<cid>"))?;
    let sha1 = input
        .get("fileid")
        .filter(|f| is_hex40(f))
        .ok_or_else(|| invalid("fileid must be the file's SHA-1 (40 hex digits)"))?
        .to_ascii_uppercase();
    if let Some(preid) = input.get("preid") {
        if !is_hex40(&preid) {
            return Err(invalid("preid must be 40 hex digits"));
        }
        tracing::debug!(preid = %preid, "115 init: preid is advisory, not checked");
    }
    let folder = core
        .with_tree(drive, |t, _, _| t.get(cid).is_some_and(|n| n.is_dir))
        .unwrap_or(false);
    if !folder {
        return Err(res_err(code::NOT_FOUND, "目标目录不存在"));
    }
    Ok(Req {
        name,
        size,
        target,
        cid,
        sha1,
    })
}

pub(super) async fn upload_init(
    State(core): State<Arc<Core>>,
    FormInput(input): FormInput,
) -> Response {
    let (account, drive) = match authed(&core, &input) {
        Ok(a) => a,
        Err(r) => return r,
    };
    let req = match parse_init(&core, &drive, &input) {
        Ok(r) => r,
        Err(resp) => return resp,
    };
    if let Some(sign_key) = input.get("sign_key") {
        return verify(&core, &account, &req, &sign_key, input.get("sign_val"));
    }
    let known = if req.size == 0 && req.sha1 == EMPTY_SHA1 {
        Some((0, crate::tree::Content::Zeros))
    } else {
        core.known_sha1(&req.sha1).filter(|(s, _)| *s == req.size)
    };
    let mut session = new_session(&core, &account, &drive, req);
    match known {
        Some((_, content)) if session.size < SIGN_THRESHOLD => {
            core.u115_uploads
                .lock()
                .sessions
                .insert(session.pick_code.clone(), session.clone());
            instant(&core, &session, content)
        }
        Some(_) => {
            let mut rng = rand::rng();
            let start = rng.random_range(0..session.size);
            let longest = (session.size - start).min(SIGN_THRESHOLD);
            let end = start + rng.random_range(0..longest);
            let sign_key = random_hex(40);
            session.sign = Some((sign_key.clone(), start, end));
            core.u115_uploads
                .lock()
                .sessions
                .insert(session.pick_code.clone(), session.clone());
            core.state.lock().stats.u115_sign_challenges += 1;
            res_ok(with(
                task_fields(&session),
                &[
                    ("status", json!(7)),
                    ("code", json!(701)),
                    ("statuscode", json!(701)),
                    ("sign_key", json!(sign_key)),
                    ("sign_check", json!(format!("{start}-{end}"))),
                    ("file_id", json!("")),
                ],
            ))
        }
        None => {
            core.u115_uploads
                .lock()
                .sessions
                .insert(session.pick_code.clone(), session.clone());
            res_ok(with(
                task_fields(&session),
                &[
                    ("status", json!(1)),
                    ("code", json!(0)),
                    ("statuscode", json!(0)),
                    ("sign_key", json!("")),
                    ("sign_check", json!("")),
                    ("file_id", json!("")),
                ],
            ))
        }
    }
}

/// The follow-up init of a second verification.
fn verify(
    core: &Core,
    account: &str,
    req: &Req,
    sign_key: &str,
    sign_val: Option<String>,
) -> Response {
    let session = core
        .u115_uploads
        .lock()
        .sessions
        .values()
        .find(|s| s.account == account && s.sign.as_ref().is_some_and(|(k, _, _)| k == sign_key))
        .cloned();
    let Some(session) = session else {
        core.state.lock().stats.u115_sign_failures += 1;
        return res_ok(json!({
            "status": 8, "code": 702, "statuscode": 702, "sign_key": "", "sign_check": "",
            "message": "sign_key is unknown",
        }));
    };
    let fail = |why: &str| {
        core.state.lock().stats.u115_sign_failures += 1;
        let (key, s, e) = session.sign.clone().unwrap_or_default();
        res_ok(with(
            task_fields(&session),
            &[
                ("status", json!(8)),
                ("code", json!(702)),
                ("statuscode", json!(702)),
                ("sign_key", json!(key)),
                ("sign_check", json!(format!("{s}-{e}"))),
                ("file_id", json!("")),
                ("message", json!(why)),
            ],
        ))
    };
    if session.sha1 != req.sha1 || session.size != req.size {
        return fail("fileid or file_size differ from the challenged init");
    }
    let Some((_, start, end)) = session.sign else {
        return fail("no challenge");
    };
    let Some(content) = core
        .known_sha1(&session.sha1)
        .filter(|(s, _)| *s == session.size)
        .map(|(_, c)| c)
    else {
        return fail("the content is no longer held");
    };
    let expected = range_sha1(&content, start, end);
    if sign_val.as_deref() != Some(expected.as_str()) {
        return fail("sign_val is not the upper-case SHA-1 of the sign_check range");
    }
    instant(core, &session, content)
}

/// Upper-case SHA-1 of bytes `start..=end`.
fn range_sha1(content: &crate::tree::Content, start: u64, end: u64) -> String {
    use sha1::Digest as _;
    let mut h = sha1::Sha1::new();
    match content {
        crate::tree::Content::Bytes(b) => {
            h.update(b.get(start as usize..=end as usize).unwrap_or_default());
        }
        crate::tree::Content::Zeros => {
            h.update(vec![0u8; (end - start + 1) as usize]);
        }
    }
    hex::encode_upper(h.finalize())
}

pub(super) async fn upload_token(
    State(core): State<Arc<Core>>,
    FormInput(input): FormInput,
) -> Response {
    if let Err(r) = authed(&core, &input) {
        return r;
    }
    let expires_at = core.now_unix() + core.oss.sts_lifetime().as_secs();
    let id = format!("STS.{}", random_string(24));
    let secret = random_string(40);
    let token = format!("CAIS{}", random_string(200));
    core.oss.add_credentials(
        &id,
        Credentials {
            secret: secret.clone(),
            token: token.clone(),
            expires_at,
        },
    );
    core.state.lock().stats.u115_sts_issued += 1;
    let expiration = crate::util::iso8601(expires_at).replace(".000Z", "Z");
    let data: BTreeMap<&str, Value> = BTreeMap::from([
        ("endpoint", json!(core.oss.endpoint())),
        ("AccessKeyId", json!(id)),
        ("AccessKeySecret", json!(secret)),
        ("SecurityToken", json!(token)),
        ("Expiration", json!(expiration)),
    ]);
    res_ok(json!(data))
}

pub(super) async fn upload_resume(
    State(core): State<Arc<Core>>,
    FormInput(input): FormInput,
) -> Response {
    let (account, _) = match authed(&core, &input) {
        Ok(a) => a,
        Err(r) => return r,
    };
    let Some(pick_code) = input.get("pick_code") else {
        return invalid("pick_code is required");
    };
    let session = core.u115_uploads.lock().sessions.get(&pick_code).cloned();
    let Some(session) = session.filter(|s| s.account == account) else {
        return invalid("pick_code is unknown");
    };
    if input.get("target").as_deref() != Some(session.target.as_str()) {
        return invalid("target is required and must be the upload's");
    }
    if session.file_id.is_some() {
        return invalid("the upload is already complete");
    }
    res_ok(with(task_fields(&session), &[("version", json!(""))]))
}
