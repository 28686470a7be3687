//! 115's side of the OSS upload callback: the callback server behind the `callbackUrl`
//! that `init` issues (spec upload.md §2.7, §4.2 items 8–9).
//!
//! The OSS service posts the filled `callbackBody` (form-encoded: `bucket`, `object`,
//! `size`, `sha1`, `pick_code`, …) together with the callback and callback variables as the
//! client sent them. The callback fails (the client gets 203 `CallbackFailed`, the object
//! stays in OSS, no file appears) when:
//! - the `pick_code` is not an upload task, or the task already has its file;
//! - the decoded `x-oss-callback` / `x-oss-callback-var` are not exactly the `callback` /
//!   `callback_var` texts that init (or resume) issued for that task;
//! - the bucket or object is not the task's;
//! - the object's size or SHA-1 is not init's `file_size` / `fileid`;
//! - the target folder was removed meanwhile.
//!
//! Otherwise the file is created at once (visible to listing and `folder/get_info`; a name
//! already in the folder gives `name(1).ext`, see `upload.rs`) and the answer is
//! `{"state": true, "code": 0, "message": "", "data": {aid, cid, file_id, file_name,
//! file_size, is_video, pick_code, sha1, thumb_url}}`.

use std::sync::Arc;

use serde_json::json;

use super::upload::{BUCKET, register};
use crate::core::Core;
use crate::oss::{CallbackHook, CallbackRequest};

/// Prepares a 115 simulator's upload side: the OSS bucket and the callback server.
pub(crate) fn setup_uploads(core: &Core) {
    core.oss.add_bucket(BUCKET);
    core.oss.set_hook(Arc::new(Callbacks));
}

struct Callbacks;

impl CallbackHook for Callbacks {
    fn post(&self, core: &Core, req: &CallbackRequest<'_>) -> Result<String, String> {
        if !req.body_type.contains("x-www-form-urlencoded") {
            return Err(format!(
                "callbackBodyType {:?} is not the form issued",
                req.body_type
            ));
        }
        if !req.url.starts_with(&core.base_url) {
            return Err(format!("callbackUrl {:?} is not 115's", req.url));
        }
        let fields: Vec<(String, String)> = url::form_urlencoded::parse(req.body.as_bytes())
            .into_owned()
            .collect();
        let field = |k: &str| {
            fields
                .iter()
                .find(|(name, _)| name == k)
                .map(|(_, v)| v.as_str())
        };
        let pick_code = field("pick_code").ok_or("the callback body has no pick_code")?;
        let session = core
            .u115_uploads
            .lock()
            .sessions
            .get(pick_code)
            .cloned()
            .ok_or_else(|| format!("pick_code {pick_code:?} is not an upload task"))?;
        if session.file_id.is_some() {
            return Err("the upload task already has its file".to_owned());
        }
        if req.callback != session.callback {
            return Err("x-oss-callback is not the callback issued by init".to_owned());
        }
        if req.callback_var != session.callback_var {
            return Err("x-oss-callback-var is not the callback_var issued by init".to_owned());
        }
        if req.bucket != BUCKET || req.key != session.object {
            return Err("the object is not the one issued for this pick_code".to_owned());
        }
        if req.object.size != session.size {
            return Err(format!(
                "the object has {} bytes, init announced {}",
                req.object.size, session.size
            ));
        }
        if !req.object.sha1.eq_ignore_ascii_case(&session.sha1) {
            return Err(format!(
                "the object's SHA-1 {} is not init's fileid {}",
                req.object.sha1, session.sha1
            ));
        }
        let (id, name) = register(core, &session, req.object.content())?;
        Ok(json!({
            "state": true,
            "code": 0,
            "message": "",
            "data": {
                "aid": 1,
                "cid": session.cid.to_string(),
                "file_id": id.to_string(),
                "file_name": name,
                "file_size": session.size,
                "is_video": 0,
                "pick_code": session.pick_code,
                "sha1": session.sha1,
                "thumb_url": "",
            },
        })
        .to_string())
    }
}
