//! Name conflicts: the typed "already exists" of every upload, and the policy for providers
//! without a conflict mode of their own (115, OpenList), applied by looking the name up
//! before any byte is sent.

use std::collections::HashSet;

use futures::TryStreamExt as _;

use super::Conflict;
use crate::error::{Error, ProviderErrorKind, Result};
use crate::storage::{CloudStorage, FileItem, join};
use crate::transport::Transport;

/// The "already exists" error of an upload to `path`, with the provider's `code` for it.
pub(crate) fn taken(transport: &Transport, code: &str, path: &str) -> Error {
    transport.refused(
        "uploading",
        ProviderErrorKind::AlreadyExists,
        code,
        &format!("{path} exists (choose another name, or rename or overwrite)"),
    )
}

/// Where an upload of `name` into a folder goes under a conflict policy.
#[derive(Debug)]
pub(crate) struct Target {
    /// The name to upload under: `name`, or a free `stem(n).ext` under [`Conflict::Rename`].
    pub name: String,
    /// Under [`Conflict::Overwrite`], the file that `name` holds now, to remove once the
    /// new one is complete.
    pub replaced: Option<FileItem>,
}

/// Applies `conflict` to `name` in `folder`: a free name is taken as it is; a taken one is
/// refused ([`Conflict::Refuse`], and always when it is a folder) with `taken`, renamed to
/// the first free `stem(n).ext`, or kept with the old file to replace.
pub(crate) async fn resolve<S>(
    drive: &S,
    folder: &FileItem,
    name: &str,
    conflict: Conflict,
    taken: impl Fn() -> Error,
) -> Result<Target>
where
    S: CloudStorage + ?Sized,
{
    let target = |name: String, replaced| Target { name, replaced };
    match (conflict, drive.stat(&join(&folder.path, name)).await?) {
        (_, None) => Ok(target(name.to_owned(), None)),
        (Conflict::Overwrite, Some(old)) if !old.is_folder() => {
            Ok(target(name.to_owned(), Some(old)))
        }
        (Conflict::Rename, Some(_)) => free_name(drive, folder, name)
            .await?
            .map(|free| target(free, None))
            .ok_or_else(taken),
        (_, Some(_)) => Err(taken()),
    }
}

/// The first `stem(n).ext` (n = 1 … 10,000) not taken in `folder`.
pub(crate) async fn free_name<S>(drive: &S, folder: &FileItem, name: &str) -> Result<Option<String>>
where
    S: CloudStorage + ?Sized,
{
    let names: HashSet<String> = drive.list(folder).map_ok(|i| i.name).try_collect().await?;
    Ok((1..=10_000)
        .map(|n| numbered(name, n))
        .find(|candidate| !names.contains(candidate)))
}

/// `stem(n).ext` for `name`.
fn numbered(name: &str, n: u32) -> String {
    match name.rsplit_once('.') {
        Some((stem, ext)) if !stem.is_empty() => format!("{stem}({n}).{ext}"),
        _ => format!("{name}({n})"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn free_names_are_numbered_before_the_extension() {
        assert_eq!(numbered("Dune.mkv", 1), "Dune(1).mkv");
        assert_eq!(numbered("README", 2), "README(2)");
        assert_eq!(numbered(".hidden", 1), ".hidden(1)");
    }
}
