//! The SHA-1 and CRC-64 of a multipart upload, computed while it is still being uploaded:
//! after a part is stored, a blocking task hashes parts 1, 2, … in order as far as they are
//! there, so a Complete that lists exactly those parts (the common, sequential case) only
//! hashes what is left. Anything else — a gap, a part re-uploaded with other bytes after it
//! was hashed, a Complete that lists other parts — is detected by part number and ETag and
//! the object is hashed from scratch; the result is the same either way.

use std::sync::Arc;

use parking_lot::Mutex;
use sha1::{Digest as _, Sha1};

use super::handlers::CRC64;
use super::{Piece, for_each_chunk};
use crate::core::Core;

/// The running digests of the parts hashed so far, in part-number order.
#[derive(Clone)]
pub(crate) struct Rolling {
    sha: Sha1,
    crc: crc::Digest<'static, u64, crc::Table<16>>,
    /// `(part number, ETag)` of every part hashed, 1, 2, … .
    hashed: Vec<(u32, String)>,
}

impl Default for Rolling {
    fn default() -> Self {
        Self {
            sha: Sha1::new(),
            crc: CRC64.digest(),
            hashed: Vec::new(),
        }
    }
}

impl std::fmt::Debug for Rolling {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Rolling")
            .field("hashed", &self.hashed.len())
            .finish_non_exhaustive()
    }
}

impl Rolling {
    fn feed(&mut self, pieces: &[Piece]) {
        for_each_chunk(pieces, |c| {
            self.sha.update(c);
            self.crc.update(c);
        });
    }
}

/// Shared by an open upload and the tasks hashing it.
pub(crate) type SharedRolling = Arc<Mutex<Rolling>>;

/// Hashes, off the async threads, the stored parts that extend the hashed prefix of
/// `upload_id`. When another task is already at it, that task picks the new parts up.
pub(crate) fn advance(core: Arc<Core>, upload_id: String) {
    let work = move || {
        loop {
            let Some(rolling) = core
                .oss
                .state
                .lock()
                .uploads
                .get(&upload_id)
                .map(|u| Arc::clone(&u.rolling))
            else {
                return;
            };
            let Some(mut r) = rolling.try_lock() else {
                return;
            };
            let next = r.hashed.len() as u32 + 1;
            let part = core.oss.state.lock().uploads.get(&upload_id).and_then(|u| {
                u.parts
                    .get(&next)
                    .map(|p| (p.pieces.clone(), p.etag.clone()))
            });
            let Some((pieces, etag)) = part else {
                return;
            };
            r.feed(&pieces);
            r.hashed.push((next, etag));
        }
    };
    drop(tokio::task::spawn_blocking(work));
}

/// One part a Complete lists: number, ETag, bytes.
pub(crate) type ListedBytes = (u32, String, Vec<Piece>);

/// SHA-1 (upper hex) and CRC-64 of the listed parts, reusing what `rolling` has hashed when
/// it is a prefix of them.
pub(crate) async fn finish(rolling: SharedRolling, listed: Vec<ListedBytes>) -> (String, u64) {
    let work = move || {
        // Waits for a task that is hashing a part right now.
        let snapshot = rolling.lock().clone();
        let usable = snapshot.hashed.len() <= listed.len()
            && snapshot
                .hashed
                .iter()
                .zip(&listed)
                .all(|((n, e), (ln, le, _))| n == ln && e == le);
        let (mut r, start) = if usable {
            let k = snapshot.hashed.len();
            (snapshot, k)
        } else {
            (Rolling::default(), 0)
        };
        for (_, _, pieces) in &listed[start..] {
            r.feed(pieces);
        }
        (hex::encode_upper(r.sha.finalize()), r.crc.finalize())
    };
    tokio::task::spawn_blocking(work)
        .await
        .unwrap_or_else(|_| (String::new(), 0))
}
