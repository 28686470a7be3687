//! alipan upload state: sessions (`upload_id` → file, declared parts, stored parts), the
//! part URLs handed out for them, and the instant-upload checks (pre-hash, proof code).
//!
//! Sessions live as long as the simulator: a client that restarts can resume one with
//! `listUploadedParts` and `getUploadUrl`.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use axum::body::Bytes;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use md5::Md5;
use sha1::{Digest, Sha1};

use crate::core::Core;
use crate::handle::{SimAlipan, SimHandle};
use crate::token::random_hex;
use crate::tree::Content;
use crate::util::unix_after;

/// Smallest part except the last one listed at create (100 KB, as OSS counts it).
pub(super) const MIN_PART: u64 = 102_400;
/// Largest part (5 GB).
pub(super) const MAX_PART: u64 = 5 * 1024 * 1024 * 1024;
/// Most parts an upload may list.
pub(super) const MAX_PARTS: u32 = 10_000;

/// One stored part.
#[derive(Clone, Debug)]
pub(super) struct StoredPart {
    pub bytes: Bytes,
    /// Upper-case MD5 hex (without quotes).
    pub etag: String,
}

/// One upload task.
#[derive(Debug)]
pub(super) struct Session {
    pub drive: String,
    /// The file id reserved at create (the file appears under it on complete).
    pub file_id: u64,
    pub parent: u64,
    pub name: String,
    /// Parts listed at create: 1..=parts.
    pub parts: u32,
    /// `part_size` values the client declared, echoed back.
    pub part_sizes: HashMap<u32, u64>,
    pub size: Option<u64>,
    pub content_hash: Option<String>,
    pub stored: BTreeMap<u32, StoredPart>,
    /// The node once completed (or at once for a rapid upload).
    pub completed: Option<u64>,
    pub created_at: u64,
}

/// A part URL: which part of which upload, until when.
#[derive(Clone, Debug)]
pub(super) struct PartUrl {
    pub upload_id: String,
    pub part: u32,
    pub expires_at: u64,
}

/// Every upload session and part URL of a simulator.
#[derive(Debug, Default)]
pub(crate) struct UploadStore {
    sessions: HashMap<String, Session>,
    urls: HashMap<String, PartUrl>,
}

impl UploadStore {
    pub(super) fn insert(&mut self, upload_id: &str, session: Session) {
        self.sessions.insert(upload_id.to_owned(), session);
    }

    pub(super) fn session(&self, upload_id: &str) -> Option<&Session> {
        self.sessions.get(upload_id)
    }

    pub(super) fn session_mut(&mut self, upload_id: &str) -> Option<&mut Session> {
        self.sessions.get_mut(upload_id)
    }

    pub(super) fn url(&self, token: &str) -> Option<PartUrl> {
        self.urls.get(token).cloned()
    }

    /// Issues a fresh URL for one part.
    pub(super) fn issue_url(
        &mut self,
        base_url: &str,
        upload_id: &str,
        part: u32,
        expires_at: u64,
    ) -> String {
        let token = random_hex(40);
        self.urls.insert(
            token.clone(),
            PartUrl {
                upload_id: upload_id.to_owned(),
                part,
                expires_at,
            },
        );
        format!(
            "{base_url}/__sim/up/{token}?partNumber={part}&uploadId={upload_id}\
             &x-oss-expires={expires_at}&x-oss-signature-version=OSS2"
        )
    }
}

/// When a part URL issued now expires.
pub(super) fn url_expiry(core: &Core) -> u64 {
    let lifetime = core.state.lock().settings.upload_url_lifetime;
    unix_after(core.clock.now(), lifetime)
}

/// `upload_url` entries for `parts` of a session: `{part_number, upload_url, part_size?}`.
pub(super) fn part_urls(core: &Core, upload_id: &str, parts: &[u32]) -> Vec<serde_json::Value> {
    let expires_at = url_expiry(core);
    let mut store = core.uploads.lock();
    let sizes = store
        .session(upload_id)
        .map(|s| s.part_sizes.clone())
        .unwrap_or_default();
    parts
        .iter()
        .map(|&n| {
            let url = store.issue_url(&core.base_url, upload_id, n, expires_at);
            let mut v = serde_json::json!({"part_number": n, "upload_url": url});
            if let (Some(size), Some(obj)) = (sizes.get(&n), v.as_object_mut()) {
                obj.insert("part_size".to_owned(), serde_json::json!(size));
            }
            v
        })
        .collect()
}

/// The bytes `[start, end)` of a stored file's content.
fn slice(content: &Content, start: u64, end: u64) -> Vec<u8> {
    match content {
        Content::Bytes(b) => b
            .get(start as usize..end as usize)
            .map(<[u8]>::to_vec)
            .unwrap_or_default(),
        Content::Zeros => vec![0u8; end.saturating_sub(start) as usize],
    }
}

/// Whether any file the simulator holds (with real bytes) has this pre-hash: SHA-1 of its
/// first `min(1024, size)` bytes, compared case-insensitively, and the size when given.
pub(super) fn pre_hash_matches(core: &Core, pre_hash: &str, size: Option<u64>) -> bool {
    let st = core.state.lock();
    st.drives.values().flat_map(|t| t.files()).any(|n| {
        matches!(n.content, Content::Bytes(_))
            && size.is_none_or(|s| s == n.size)
            && hex::encode(Sha1::digest(slice(&n.content, 0, n.size.min(1024))))
                .eq_ignore_ascii_case(pre_hash)
    })
}

/// The content of a file the simulator holds with this SHA-1 and size.
pub(super) fn known_content(core: &Core, sha1: &str, size: u64) -> Option<Content> {
    let st = core.state.lock();
    st.drives
        .values()
        .flat_map(|t| t.files())
        .find(|n| n.size == size && n.sha1.eq_ignore_ascii_case(sha1))
        .map(|n| n.content.clone())
}

/// The proof code of `content` for `token`: base64 of the 8 bytes (fewer near the end) at
/// `u64(md5_hex(token)[0..16]) mod size`; "" for an empty file.
pub(super) fn proof_code(token: &str, content: &Content, size: u64) -> String {
    if size == 0 {
        return String::new();
    }
    let digest = hex::encode(Md5::digest(token.as_bytes()));
    let n = u64::from_str_radix(&digest[..16], 16).unwrap_or(0);
    let start = n % size;
    STANDARD.encode(slice(content, start, (start + 8).min(size)))
}

impl SimHandle<SimAlipan> {
    /// Sets how long part URLs issued from now on stay valid (simulated clock).
    pub fn set_upload_url_lifetime(&self, lifetime: Duration) {
        self.core.state.lock().settings.upload_url_lifetime = lifetime;
    }

    /// Sets the page size of `listUploadedParts` (at least 1).
    pub fn set_list_parts_page_size(&self, size: usize) {
        self.core.state.lock().settings.list_parts_page_size = size.max(1);
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    #[test]
    fn proof_codes_of_the_spec() {
        let bytes: Vec<u8> = (0..1000u32).map(|i| (i % 256) as u8).collect();
        let content = Content::Bytes(Arc::new(bytes));
        assert_eq!(
            proof_code("test-access-token", &content, 1000),
            "3t/g4eLj5OU="
        );
        let abc = Content::Bytes(Arc::new(b"ABCDEFGHI".to_vec()));
        assert_eq!(proof_code("test-access-token", &abc, 9), "SQ==");
        assert_eq!(proof_code("t", &Content::Zeros, 0), "");
    }
}
