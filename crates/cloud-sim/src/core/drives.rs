//! The simulator core's drives and download links: the per-account trees, file lookups
//! by content, and links that expire and may be bound to a User-Agent.

use super::*;

impl Core {
    // ----- drives ---------------------------------------------------------------------

    /// The drive id of `account`'s drive of `kind`.
    pub(crate) fn drive_id(&self, account: &str, kind: DriveKind) -> Option<String> {
        let st = self.state.lock();
        let a = st.accounts.get(account)?;
        match kind {
            DriveKind::Default => Some(a.default_drive.clone()),
            DriveKind::Resource => a.resource_drive.clone(),
        }
    }

    /// Whether `drive` belongs to `account`.
    pub(crate) fn owns_drive(&self, account: &str, drive: &str) -> bool {
        let st = self.state.lock();
        st.accounts
            .get(account)
            .is_some_and(|a| a.default_drive == drive || a.resource_drive.as_deref() == Some(drive))
    }

    /// Runs `f` on a drive's tree with the id counter and the current time.
    pub(crate) fn with_tree<R>(
        &self,
        drive: &str,
        f: impl FnOnce(&mut Tree, &mut u64, u64) -> R,
    ) -> Option<R> {
        let now = self.now_unix();
        let mut st = self.state.lock();
        let State {
            drives, next_id, ..
        } = &mut *st;
        let tree = drives.get_mut(drive)?;
        Some(f(tree, next_id, now))
    }

    pub(super) fn seed_drive(&self, account: &str, kind: DriveKind) -> Result<String> {
        {
            let mut st = self.state.lock();
            self.ensure_account(&mut st, account);
        }
        self.drive_id(account, kind)
            .ok_or_else(|| Error::NotFound(format!("{kind:?} drive of {account}")))
    }

    /// Seeds a folder (and missing parents).
    pub(crate) fn add_folder(&self, account: &str, kind: DriveKind, path: &str) -> Result<u64> {
        let drive = self.seed_drive(account, kind)?;
        self.with_tree(&drive, |t, ids, now| t.mkdir_p(path, now, ids))
            .ok_or_else(|| Error::NotFound(drive.clone()))?
    }

    /// Seeds a file (and missing parent folders).
    pub(crate) fn add_file(
        &self,
        account: &str,
        kind: DriveKind,
        path: &str,
        file: SimFile,
    ) -> Result<u64> {
        let drive = self.seed_drive(account, kind)?;
        let parts = split_path(path).ok_or_else(|| Error::InvalidPath(path.to_owned()))?;
        let Some((name, dirs)) = parts.split_last() else {
            return Err(Error::InvalidPath(path.to_owned()));
        };
        let parent_path = format!("/{}", dirs.join("/"));
        self.with_tree(&drive, |t, ids, now| {
            let parent = t.mkdir_p(&parent_path, now, ids)?;
            if t.child(parent, name).is_some() {
                return Err(Error::AlreadyExists(path.to_owned()));
            }
            Ok(t.add_file(parent, name, file, now, ids))
        })
        .ok_or_else(|| Error::NotFound(drive.clone()))?
    }

    /// Seeds `count` files named `{prefix}{i:05}.mkv` (i from 1) in `folder`.
    pub(crate) fn add_files(
        &self,
        account: &str,
        kind: DriveKind,
        folder: &str,
        count: usize,
        prefix: &str,
        size: u64,
    ) -> Result<Vec<u64>> {
        let drive = self.seed_drive(account, kind)?;
        self.with_tree(&drive, |t, ids, now| {
            let parent = t.mkdir_p(folder, now, ids)?;
            Ok((1..=count)
                .map(|i| {
                    let name = format!("{prefix}{i:05}.mkv");
                    t.add_file(parent, &name, SimFile::sized(size), now, ids)
                })
                .collect())
        })
        .ok_or_else(|| Error::NotFound(drive.clone()))?
    }

    /// Looks a path up in a drive.
    pub(crate) fn stat(&self, account: &str, kind: DriveKind, path: &str) -> Option<Node> {
        let drive = self.drive_id(account, kind)?;
        self.with_tree(&drive, |t, _, _| {
            t.lookup(path).and_then(|id| t.get(id).cloned())
        })
        .flatten()
    }

    /// Names in a folder of a drive, in listing order.
    pub(crate) fn list_names(
        &self,
        account: &str,
        kind: DriveKind,
        path: &str,
    ) -> Result<Vec<String>> {
        let drive = self
            .drive_id(account, kind)
            .ok_or_else(|| Error::UnknownAccount(account.to_owned()))?;
        self.with_tree(&drive, |t, _, _| {
            let id = t
                .lookup(path)
                .ok_or_else(|| Error::NotFound(path.to_owned()))?;
            Ok(t.children(id)
                .iter()
                .filter_map(|c| t.get(*c).map(|n| n.name.clone()))
                .collect())
        })
        .ok_or_else(|| Error::NotFound(drive.clone()))?
    }

    /// Total bytes used by all of `account`'s drives.
    pub(crate) fn used_bytes(&self, account: &str) -> u64 {
        let st = self.state.lock();
        let Some(a) = st.accounts.get(account) else {
            return 0;
        };
        [Some(&a.default_drive), a.resource_drive.as_ref()]
            .into_iter()
            .flatten()
            .filter_map(|d| st.drives.get(d))
            .map(Tree::used_bytes)
            .sum()
    }

    /// Finds a file by SHA-1 in any drive (115 instant upload).
    pub(crate) fn known_sha1(&self, sha1: &str) -> Option<(u64, Content)> {
        let st = self.state.lock();
        st.drives
            .values()
            .find_map(|t| t.find_sha1(sha1))
            .map(|n| (n.size, n.content.clone()))
    }

    // ----- downloads ------------------------------------------------------------------

    /// Creates a download link for a node; bound to `user_agent` when given.
    pub(crate) fn create_download(
        &self,
        drive: &str,
        node: u64,
        user_agent: Option<String>,
    ) -> (String, u64) {
        let mut st = self.state.lock();
        let expires_at = unix_after(self.clock.now(), st.settings.download_lifetime);
        let token = random_string(40);
        st.downloads.insert(
            token.clone(),
            DownloadLink {
                drive: drive.to_owned(),
                node,
                user_agent,
                expires_at,
            },
        );
        (format!("{}/__sim/dl/{token}", self.base_url), expires_at)
    }

    /// Resolves a download link requested with `user_agent`.
    pub(crate) fn download(
        &self,
        token: &str,
        user_agent: &str,
    ) -> Result<Download, DownloadError> {
        let now = self.now_unix();
        let st = self.state.lock();
        let link = st.downloads.get(token).ok_or(DownloadError::Unknown)?;
        if now >= link.expires_at {
            return Err(DownloadError::Expired);
        }
        if link
            .user_agent
            .as_deref()
            .is_some_and(|ua| ua != user_agent)
        {
            return Err(DownloadError::UserAgent);
        }
        let node = st
            .drives
            .get(&link.drive)
            .and_then(|t| t.get(link.node))
            .filter(|n| !n.is_dir)
            .ok_or(DownloadError::Unknown)?;
        Ok(Download {
            name: node.name.clone(),
            size: node.size,
            content: node.content.clone(),
        })
    }
}
