//! Paged listings as one stream of items, whatever the provider's cursor (an offset, a
//! marker).

use std::future::Future;

use futures::stream::{self, BoxStream, StreamExt, TryStreamExt};

use crate::error::{Error, Result};
use crate::storage::FileItem;

/// Every item of a paged listing. `fetch(cursor)` returns one page's items and the cursor
/// of the next page (`None` after the last); the first call gets `None`.
pub(crate) fn paged<'a, C, F, Fut>(fetch: F) -> BoxStream<'a, Result<FileItem>>
where
    C: Send + 'a,
    F: Fn(Option<C>) -> Fut + Send + Sync + 'a,
    Fut: Future<Output = Result<(Vec<FileItem>, Option<C>)>> + Send + 'a,
{
    // `None`: done; `Some(None)`: the first page; `Some(Some(cursor))`: a later one.
    stream::try_unfold((fetch, Some(None)), |(fetch, next)| async move {
        let Some(cursor) = next else {
            return Ok::<_, Error>(None);
        };
        let (items, next) = fetch(cursor).await?;
        let items = stream::iter(items.into_iter().map(Ok));
        Ok(Some((items, (fetch, next.map(Some)))))
    })
    .try_flatten()
    .boxed()
}
