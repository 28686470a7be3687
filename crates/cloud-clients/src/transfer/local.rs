//! The local side of an upload: the file checked before anything is sent, and the typed
//! error for reading it, shared by every provider.

use std::fs::Metadata;
use std::io;
use std::path::Path;

use crate::error::{Error, Result};

/// Maps an I/O failure on `path` to [`Error::LocalIo`].
pub(crate) fn local_error(path: &Path) -> impl Fn(io::Error) -> Error + '_ {
    move |source| Error::LocalIo {
        path: path.to_owned(),
        source: source.into(),
    }
}

/// The metadata of the file an upload reads, once it is known to be a regular file that
/// can be opened: a missing or unreadable file fails here, before anything is created
/// remotely.
pub(crate) fn source_file(path: &Path) -> Result<Metadata> {
    let meta = std::fs::metadata(path).map_err(local_error(path))?;
    if !meta.is_file() {
        return Err(local_error(path)(io::Error::other("not a regular file")));
    }
    std::fs::File::open(path).map_err(local_error(path))?;
    Ok(meta)
}

/// The result of a blocking read of `path` (hashing, a part), with a task that died
/// reported as a failure to read it.
pub(crate) async fn finished<T>(
    path: &Path,
    task: tokio::task::JoinHandle<io::Result<T>>,
) -> Result<T> {
    task.await
        .map_err(|e| local_error(path)(io::Error::other(e)))?
        .map_err(local_error(path))
}
