//! Cutting a file into parts: fixed-size parts numbered from 1, the last one shorter, the
//! size chosen from the file's size within a provider's limits.

use std::io::{Read, Seek, SeekFrom};
use std::path::Path;
use std::sync::Arc;

use bytes::Bytes;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// A provider's part limits.
#[derive(Debug, Clone, Copy)]
pub(crate) struct PartLimits {
    /// Smallest part (except the last). alipan: 100 KB.
    pub min: u64,
    /// Largest part. alipan: 5 GB.
    pub max: u64,
    /// Most parts. alipan: 10,000.
    pub max_count: u64,
    /// The part size we prefer when the count allows it.
    pub preferred: u64,
}

/// The parts of one file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct PartPlan {
    pub size: u64,
    pub part_size: u64,
    pub count: u64,
}

impl PartPlan {
    /// The plan for a `size`-byte file: the preferred part size, grown (in whole MiB) until
    /// the parts fit the maximum count. An empty file has one empty part.
    pub fn new(size: u64, limits: &PartLimits) -> PartPlan {
        const MIB: u64 = 1 << 20;
        let needed = size.div_ceil(limits.max_count.max(1));
        let part_size = limits
            .preferred
            .max(needed.div_ceil(MIB) * MIB)
            .clamp(limits.min, limits.max);
        let count = size.div_ceil(part_size).max(1);
        PartPlan {
            size,
            part_size,
            count,
        }
    }

    /// Byte range `[start, end)` of part `number` (from 1).
    pub fn range(&self, number: u64) -> (u64, u64) {
        let start = (number - 1) * self.part_size;
        (start, (start + self.part_size).min(self.size))
    }
}

/// A bound on the part buffers of one upload that are in memory at once, counted until
/// the last reference to a part's bytes is gone — not just until our loop lets go of them:
/// the HTTP stack can still hold the bytes of a sent part for a moment after its answer,
/// and reading the next part meanwhile would put one more part in memory than planned.
#[derive(Clone)]
pub(crate) struct PartSlots(Arc<Semaphore>);

impl PartSlots {
    /// `count` parts at most.
    pub fn new(count: usize) -> Self {
        Self(Arc::new(Semaphore::new(count)))
    }

    /// Waits for a free slot; hand it to [`slotted`] with the bytes read for it.
    pub async fn acquire(&self) -> std::io::Result<OwnedSemaphorePermit> {
        Arc::clone(&self.0)
            .acquire_owned()
            .await
            .map_err(std::io::Error::other)
    }
}

/// The bytes of a part, holding `slot` until every clone of them is dropped.
pub(crate) fn slotted(bytes: Vec<u8>, slot: OwnedSemaphorePermit) -> Bytes {
    struct Held {
        bytes: Vec<u8>,
        _slot: OwnedSemaphorePermit,
    }
    impl AsRef<[u8]> for Held {
        fn as_ref(&self) -> &[u8] {
            &self.bytes
        }
    }
    Bytes::from_owner(Held { bytes, _slot: slot })
}

/// Reads part `number` of `path` (blocking; call from `spawn_blocking`). A file that
/// became shorter is an error.
pub(crate) fn read_part(path: &Path, plan: &PartPlan, number: u64) -> std::io::Result<Vec<u8>> {
    let (start, end) = plan.range(number);
    read_range(path, start, end)
}

/// Reads bytes `[start, end)` of `path` (blocking). A file shorter than `end` is an error.
pub(crate) fn read_range(path: &Path, start: u64, end: u64) -> std::io::Result<Vec<u8>> {
    let mut file = std::fs::File::open(path)?;
    file.seek(SeekFrom::Start(start))?;
    let len = usize::try_from(end - start).map_err(std::io::Error::other)?;
    // Not zero-filled first: read straight into spare capacity.
    let mut buf = Vec::with_capacity(len);
    file.take(end - start).read_to_end(&mut buf)?;
    if buf.len() != len {
        return Err(std::io::Error::new(
            std::io::ErrorKind::UnexpectedEof,
            "the file became shorter during the upload",
        ));
    }
    Ok(buf)
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALIPAN: PartLimits = PartLimits {
        min: 100 * 1024,
        max: 5 << 30,
        max_count: 10_000,
        preferred: 16 << 20,
    };

    #[tokio::test]
    async fn a_slot_frees_only_when_every_clone_of_the_bytes_is_gone() {
        let slots = PartSlots::new(1);
        let first = slotted(vec![1; 8], slots.acquire().await.expect("a slot"));
        let held_elsewhere = first.clone();
        drop(first);
        let waiting = tokio::time::timeout(std::time::Duration::from_millis(50), slots.acquire());
        assert!(waiting.await.is_err(), "a clone still holds the slot");
        drop(held_elsewhere);
        assert!(slots.acquire().await.is_ok());
    }

    #[test]
    fn part_sizes_stay_within_the_limits() {
        let small = PartPlan::new(1_000, &ALIPAN);
        assert_eq!((small.part_size, small.count), (16 << 20, 1));
        assert_eq!(small.range(1), (0, 1_000));
        let movie = PartPlan::new(40 << 30, &ALIPAN);
        assert_eq!(movie.count, 2_560);
        assert_eq!(movie.range(2_560), ((40u64 << 30) - (16 << 20), 40 << 30));
        // 1 TiB: parts grow so that at most 10,000 are needed.
        let huge = PartPlan::new(1 << 40, &ALIPAN);
        assert!(huge.count <= 10_000, "{huge:?}");
        assert_eq!(huge.part_size % (1 << 20), 0);
        let empty = PartPlan::new(0, &ALIPAN);
        assert_eq!((empty.count, empty.range(1)), (1, (0, 0)));
    }
}
