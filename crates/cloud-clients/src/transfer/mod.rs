//! Moving files in and out of drives: what every provider shares.
//!
//! * [`download`]: resumable downloads with link renewal and SHA-1 checks.
//! * [`hash`]: SHA-1 of files, alipan's pre-hash and proof code.
//! * [`resume`]: upload sessions kept on disk so an interrupted upload continues where it
//!   stopped, in a later process.
//! * [`parts`]: cutting a file into parts within a provider's limits, read part by part.
//! * [`local`]: the local file an upload reads, checked before anything is sent.
//! * [`conflict`]: name conflicts for providers without a conflict mode of their own.
//! * [`sending`]: upload bodies that count what the connection takes, and the watch that
//!   gives up on a stalled one (uploads have no deadline).
//!
//! The public face is [`CloudStorage::download`](crate::CloudStorage::download) and
//! [`CloudStorage::upload`](crate::CloudStorage::upload) with [`UploadOptions`],
//! [`Conflict`] and [`UploadProgress`]; `docs/transfers.md` describes the guarantees.

pub(crate) mod conflict;
pub(crate) mod download;
pub mod hash;
pub(crate) mod local;
pub(crate) mod parts;
pub(crate) mod resume;
pub(crate) mod sending;

use std::path::PathBuf;

/// What an upload does when the folder already holds an item of that name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum Conflict {
    /// Fail with an "already exists" error; nothing is sent. The default.
    #[default]
    Refuse,
    /// Upload under a free name the provider picks (`name(1).mkv`).
    Rename,
    /// Replace the existing file — only once the new one is complete: the old one is
    /// removed after the upload succeeded, so a failed upload loses nothing.
    Overwrite,
}

/// How to upload.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct UploadOptions {
    /// What to do about a name that is taken. Default [`Conflict::Refuse`].
    pub conflict: Conflict,
    /// Where upload sessions are kept for resuming (see `docs/transfers.md`). Default:
    /// `$XDG_STATE_HOME/drivekeep/uploads` (`~/.local/state/drivekeep/uploads`).
    pub session_dir: Option<PathBuf>,
}

impl UploadOptions {
    /// Sets [`conflict`](Self::conflict).
    pub fn conflict(mut self, value: Conflict) -> Self {
        self.conflict = value;
        self
    }
    /// Sets [`session_dir`](Self::session_dir).
    pub fn session_dir(mut self, value: impl Into<PathBuf>) -> Self {
        self.session_dir = Some(value.into());
        self
    }
}

/// Which part of an upload is under way.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum TransferPhase {
    /// Reading the file to compute its hash (instant upload).
    Hashing,
    /// Sending bytes (parts the provider already has count as sent when resuming).
    Sending,
    /// Done: the provider has the file.
    Done,
}

/// Progress of an upload: the phase, bytes done in it, and the total.
pub type UploadProgress<'a> = &'a mut (dyn FnMut(TransferPhase, u64, u64) + Send);
