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
    /// The part's bytes; empty when they are in the session's [`Prefix`].
    pub bytes: Bytes,
    pub len: u64,
    /// Upper-case MD5 hex (without quotes).
    pub etag: String,
}

/// Parts `1..=parts` of a session, stored in order: their bytes already in place, one after
/// the other (the file grows as the parts arrive), and the SHA-1 of those bytes — so
/// `complete` neither copies nor hashes them again. A part that arrives out of order keeps
/// its own bytes ([`StoredPart::bytes`]) and `complete` hashes it then.
#[derive(Default)]
pub(super) struct Prefix {
    /// How many parts, from 1, are in `data`.
    pub parts: u32,
    /// Their bytes, `data[..len]`; what follows is being written by the PUT `writer`.
    pub data: Vec<u8>,
    pub len: u64,
    /// SHA-1 of `data[..len]`.
    pub sha1: Sha1,
    /// The PUT writing the next part into `data`, if one is.
    pub writer: Option<u64>,
}

impl std::fmt::Debug for Prefix {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Prefix")
            .field("parts", &self.parts)
            .field("len", &self.len)
            .field("writer", &self.writer)
            .finish_non_exhaustive()
    }
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
    /// The parts stored in order, in place (see [`Prefix`]).
    pub prefix: Prefix,
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
    /// The last [`InPlace`] writer id handed out.
    writers: u64,
}

/// Most bytes reserved ahead in a [`Prefix`] for a part announced with a `Content-Length`
/// (a bigger part grows the buffer as it arrives).
const RESERVE_AHEAD: u64 = 64 << 20;

/// A part `PUT` writing its body straight into the session's [`Prefix`]: claimed when the
/// part is the next one in order and no other `PUT` is writing there. Dropped before
/// [`InPlace::commit`] — a refused or broken body, a client gone — it takes its bytes back
/// out, so the prefix only ever holds whole stored parts.
pub(super) struct InPlace<'a> {
    core: &'a Core,
    upload_id: String,
    id: u64,
    /// Where the part starts in the prefix.
    start: u64,
    /// SHA-1 of the prefix and of this part's bytes so far.
    sha1: Sha1,
    written: u64,
    /// The place was taken from us (the session completed or went away meanwhile).
    lost: bool,
    /// Committed or given back: nothing left for `drop`.
    settled: bool,
}

impl<'a> InPlace<'a> {
    /// Claims the prefix of `upload_id` for `part`, when it is the next part in order and
    /// the prefix is free; `len` is the announced body length.
    pub(super) fn claim(
        core: &'a Core,
        upload_id: &str,
        part: u32,
        len: Option<u64>,
    ) -> Option<Self> {
        let mut store = core.uploads.lock();
        store.writers += 1;
        let id = store.writers;
        let session = store.session_mut(upload_id)?;
        if session.completed.is_some()
            || session.prefix.writer.is_some()
            || session.prefix.parts.checked_add(1) != Some(part)
            || session.stored.contains_key(&part)
        {
            return None;
        }
        let prefix = &mut session.prefix;
        prefix.data.truncate(usize::try_from(prefix.len).ok()?);
        prefix
            .data
            .reserve(usize::try_from(len.unwrap_or(0).min(RESERVE_AHEAD)).ok()?);
        prefix.writer = Some(id);
        Some(InPlace {
            core,
            upload_id: upload_id.to_owned(),
            id,
            start: prefix.len,
            sha1: prefix.sha1.clone(),
            written: 0,
            lost: false,
            settled: false,
        })
    }

    /// Appends body bytes (and hashes them).
    pub(super) fn append(&mut self, chunk: &[u8]) {
        if self.lost {
            return;
        }
        {
            let mut store = self.core.uploads.lock();
            match store
                .session_mut(&self.upload_id)
                .filter(|s| s.completed.is_none() && s.prefix.writer == Some(self.id))
            {
                Some(session) => session.prefix.data.extend_from_slice(chunk),
                None => {
                    self.lost = true;
                    return;
                }
            }
        }
        self.sha1.update(chunk);
        self.written += chunk.len() as u64;
    }

    /// Makes the bytes written part `part` of `session`'s prefix (the caller holds the
    /// upload lock and has checked the part is not stored yet). False when the place was
    /// lost meanwhile: nothing is stored then.
    pub(super) fn commit(mut self, session: &mut Session, part: u32) -> bool {
        self.settled = true;
        let prefix = &mut session.prefix;
        if prefix.writer != Some(self.id) {
            return false;
        }
        prefix.writer = None;
        if self.lost || prefix.data.len() as u64 != self.start + self.written {
            prefix
                .data
                .truncate(usize::try_from(prefix.len).unwrap_or(0));
            return false;
        }
        prefix.parts = part;
        prefix.len += self.written;
        prefix.sha1 = self.sha1.clone();
        true
    }

    /// Takes the bytes written back out of `session`'s prefix (the caller holds the upload
    /// lock): the part is not stored after all.
    pub(super) fn give_back(mut self, session: &mut Session) {
        self.settled = true;
        let prefix = &mut session.prefix;
        if prefix.writer == Some(self.id) {
            prefix.writer = None;
            prefix
                .data
                .truncate(usize::try_from(prefix.len).unwrap_or(0));
        }
    }
}

impl Drop for InPlace<'_> {
    fn drop(&mut self) {
        if self.settled {
            return;
        }
        let mut store = self.core.uploads.lock();
        if let Some(session) = store.session_mut(&self.upload_id)
            && session.prefix.writer == Some(self.id)
        {
            let len = usize::try_from(session.prefix.len).unwrap_or(0);
            session.prefix.data.truncate(len);
            session.prefix.writer = None;
        }
    }
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
