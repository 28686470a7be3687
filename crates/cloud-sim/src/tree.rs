//! The in-memory file tree of one drive.
//!
//! Node ids are allocated from one counter per simulator, so 115 file ids (`fid`) are unique
//! across accounts; the root is id 0 (115 `cid` 0, alipan `root`). Deleting or trashing a
//! node detaches it from its parent; it stays in the map so trashed content could be
//! inspected.

use std::collections::HashMap;
use std::sync::Arc;

use serde::Serialize;
use sha1::{Digest, Sha1};

use crate::error::{Error, Result};
use crate::token::random_string;
use crate::util::split_path;

/// The id of every tree's root folder.
pub(crate) const ROOT: u64 = 0;

/// Content of a file seeded through the control API.
#[derive(Clone, Debug)]
pub struct SimFile {
    content: Content,
    size: u64,
    sha1: Option<String>,
}

impl SimFile {
    /// A file with these bytes (served by download links; SHA-1 computed).
    pub fn bytes(bytes: impl Into<Vec<u8>>) -> Self {
        let bytes = bytes.into();
        Self {
            size: bytes.len() as u64,
            content: Content::Bytes(Arc::new(bytes)),
            sha1: None,
        }
    }

    /// A file of `size` bytes without content: downloads serve zeros, and its SHA-1 is
    /// random unless set with [`SimFile::with_sha1`]. Use it for large media files.
    pub fn sized(size: u64) -> Self {
        Self {
            content: Content::Zeros,
            size,
            sha1: None,
        }
    }

    /// Overrides the SHA-1 (hex, any case) the provider reports for the file.
    pub fn with_sha1(mut self, sha1: impl Into<String>) -> Self {
        self.sha1 = Some(sha1.into().to_ascii_uppercase());
        self
    }
}

impl From<&[u8]> for SimFile {
    fn from(bytes: &[u8]) -> Self {
        SimFile::bytes(bytes)
    }
}

impl From<Vec<u8>> for SimFile {
    fn from(bytes: Vec<u8>) -> Self {
        SimFile::bytes(bytes)
    }
}

impl From<u64> for SimFile {
    fn from(size: u64) -> Self {
        SimFile::sized(size)
    }
}

/// An entry of a simulated drive, as the control API reports it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct EntryInfo {
    /// The provider's id for the entry (115 `fid`/`cid`, alipan `file_id`).
    pub id: String,
    /// The provider's id of its parent folder.
    pub parent_id: String,
    /// The name.
    pub name: String,
    /// Whether it is a folder.
    pub is_dir: bool,
    /// Size in bytes (zero for folders).
    pub size: u64,
    /// Upper-case SHA-1 of the content ("" for folders).
    pub sha1: String,
    /// 115 pick code (alipan: unused but present).
    pub pick_code: String,
}

#[derive(Clone, Debug)]
pub(crate) enum Content {
    Bytes(Arc<Vec<u8>>),
    Zeros,
}

#[derive(Clone, Debug)]
pub(crate) struct Node {
    pub id: u64,
    pub parent: u64,
    pub name: String,
    pub is_dir: bool,
    pub size: u64,
    pub content: Content,
    pub sha1: String,
    pub created: u64,
    pub modified: u64,
    pub pick_code: String,
    pub children: Vec<u64>,
    pub trashed: bool,
}

/// One drive's tree.
#[derive(Debug)]
pub(crate) struct Tree {
    nodes: HashMap<u64, Node>,
}

fn pick_code() -> String {
    random_string(18).to_ascii_lowercase()
}

impl Tree {
    pub(crate) fn new(now: u64) -> Self {
        let root = Node {
            id: ROOT,
            parent: ROOT,
            name: String::new(),
            is_dir: true,
            size: 0,
            content: Content::Zeros,
            sha1: String::new(),
            created: now,
            modified: now,
            pick_code: String::new(),
            children: Vec::new(),
            trashed: false,
        };
        Self {
            nodes: HashMap::from([(ROOT, root)]),
        }
    }

    /// A live (not trashed) node.
    pub(crate) fn get(&self, id: u64) -> Option<&Node> {
        self.nodes.get(&id).filter(|n| !n.trashed)
    }

    /// A live node, to change in place (e.g. its modification time).
    pub(crate) fn get_mut(&mut self, id: u64) -> Option<&mut Node> {
        self.nodes.get_mut(&id).filter(|n| !n.trashed)
    }

    pub(crate) fn children(&self, id: u64) -> &[u64] {
        self.get(id).map(|n| n.children.as_slice()).unwrap_or(&[])
    }

    pub(crate) fn child(&self, parent: u64, name: &str) -> Option<u64> {
        self.children(parent)
            .iter()
            .copied()
            .find(|c| self.get(*c).is_some_and(|n| n.name == name))
    }

    pub(crate) fn lookup(&self, path: &str) -> Option<u64> {
        let parts = split_path(path)?;
        parts
            .iter()
            .try_fold(ROOT, |cur, part| self.child(cur, part))
    }

    pub(crate) fn find_pick_code(&self, pick_code: &str) -> Option<u64> {
        self.nodes
            .values()
            .find(|n| !n.trashed && !n.pick_code.is_empty() && n.pick_code == pick_code)
            .map(|n| n.id)
    }

    pub(crate) fn find_sha1(&self, sha1: &str) -> Option<&Node> {
        self.nodes
            .values()
            .find(|n| !n.trashed && !n.is_dir && n.sha1.eq_ignore_ascii_case(sha1))
    }

    /// Every live (not trashed) file of the tree, in no particular order.
    pub(crate) fn files(&self) -> impl Iterator<Item = &Node> {
        self.nodes.values().filter(|n| !n.trashed && !n.is_dir)
    }

    /// Ancestors of `id` from the root (exclusive of `id`), as `(id, name)`.
    pub(crate) fn ancestors(&self, id: u64) -> Vec<(u64, String)> {
        let mut out = Vec::new();
        let mut cur = self.get(id).map(|n| n.parent);
        while let Some(p) = cur {
            let Some(node) = self.get(p) else { break };
            out.push((p, node.name.clone()));
            if p == ROOT {
                break;
            }
            cur = Some(node.parent);
        }
        out.reverse();
        out
    }

    /// Whether `id` is `ancestor` or lies below it.
    fn is_within(&self, id: u64, ancestor: u64) -> bool {
        let mut cur = id;
        loop {
            if cur == ancestor {
                return true;
            }
            if cur == ROOT {
                return false;
            }
            match self.get(cur) {
                Some(n) => cur = n.parent,
                None => return false,
            }
        }
    }

    fn insert(&mut self, node: Node) -> u64 {
        let id = node.id;
        if let Some(parent) = self.nodes.get_mut(&node.parent) {
            parent.children.push(id);
            parent.modified = node.modified;
        }
        self.nodes.insert(id, node);
        id
    }

    pub(crate) fn mkdir(&mut self, parent: u64, name: &str, now: u64, next_id: &mut u64) -> u64 {
        *next_id += 1;
        self.insert(Node {
            id: *next_id,
            parent,
            name: name.to_owned(),
            is_dir: true,
            size: 0,
            content: Content::Zeros,
            sha1: String::new(),
            created: now,
            modified: now,
            pick_code: pick_code(),
            children: Vec::new(),
            trashed: false,
        })
    }

    pub(crate) fn add_file(
        &mut self,
        parent: u64,
        name: &str,
        file: SimFile,
        now: u64,
        next_id: &mut u64,
    ) -> u64 {
        let sha1 = match (&file.sha1, &file.content) {
            (Some(s), _) => s.clone(),
            (None, Content::Bytes(b)) => hex::encode_upper(Sha1::digest(b.as_slice())),
            (None, Content::Zeros) => crate::token::random_hex(40).to_ascii_uppercase(),
        };
        *next_id += 1;
        self.insert(Node {
            id: *next_id,
            parent,
            name: name.to_owned(),
            is_dir: false,
            size: file.size,
            content: file.content,
            sha1,
            created: now,
            modified: now,
            pick_code: pick_code(),
            children: Vec::new(),
            trashed: false,
        })
    }

    /// Creates every missing folder of `path`; returns the last one's id.
    pub(crate) fn mkdir_p(&mut self, path: &str, now: u64, next_id: &mut u64) -> Result<u64> {
        let parts = split_path(path).ok_or_else(|| Error::InvalidPath(path.to_owned()))?;
        let mut cur = ROOT;
        for part in parts {
            cur = match self.child(cur, part) {
                Some(id) if self.get(id).is_some_and(|n| n.is_dir) => id,
                Some(_) => return Err(Error::NotAFolder(path.to_owned())),
                None => self.mkdir(cur, part, now, next_id),
            };
        }
        Ok(cur)
    }

    pub(crate) fn rename(&mut self, id: u64, name: &str, now: u64) -> bool {
        match self
            .nodes
            .get_mut(&id)
            .filter(|n| !n.trashed && n.id != ROOT)
        {
            Some(node) => {
                node.name = name.to_owned();
                node.modified = now;
                true
            }
            None => false,
        }
    }

    fn detach(&mut self, id: u64) {
        let parent = self.nodes.get(&id).map(|n| n.parent);
        if let Some(parent) = parent.and_then(|p| self.nodes.get_mut(&p)) {
            parent.children.retain(|c| *c != id);
        }
    }

    /// Moves `id` into folder `to`. Fails when either is missing, `to` is not a folder, or
    /// `to` lies inside `id`.
    pub(crate) fn move_to(&mut self, id: u64, to: u64, now: u64) -> bool {
        if id == ROOT
            || self.get(id).is_none()
            || !self.get(to).is_some_and(|n| n.is_dir)
            || self.is_within(to, id)
        {
            return false;
        }
        self.detach(id);
        if let Some(node) = self.nodes.get_mut(&id) {
            node.parent = to;
            node.modified = now;
        }
        if let Some(parent) = self.nodes.get_mut(&to) {
            parent.children.push(id);
        }
        true
    }

    /// Copies `id` (recursively) into folder `to`; returns the copy's id.
    pub(crate) fn copy_to(&mut self, id: u64, to: u64, now: u64, next_id: &mut u64) -> Option<u64> {
        if id == ROOT || !self.get(to).is_some_and(|n| n.is_dir) || self.is_within(to, id) {
            return None;
        }
        let node = self.get(id)?.clone();
        *next_id += 1;
        let new_id = *next_id;
        let children = node.children.clone();
        self.insert(Node {
            id: new_id,
            parent: to,
            pick_code: pick_code(),
            children: Vec::new(),
            created: now,
            modified: now,
            ..node
        });
        for child in children {
            self.copy_to(child, new_id, now, next_id);
        }
        Some(new_id)
    }

    /// Detaches `id` and marks it (not its descendants) trashed.
    pub(crate) fn trash(&mut self, id: u64) -> bool {
        if id == ROOT || self.get(id).is_none() {
            return false;
        }
        self.detach(id);
        if let Some(node) = self.nodes.get_mut(&id) {
            node.trashed = true;
        }
        true
    }

    /// Total size of the files reachable from the root.
    pub(crate) fn used_bytes(&self) -> u64 {
        let mut total = 0u64;
        let mut stack = vec![ROOT];
        while let Some(id) = stack.pop() {
            if let Some(node) = self.get(id) {
                total = total.saturating_add(node.size);
                stack.extend(node.children.iter().copied());
            }
        }
        total
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mkdir_lookup_move_copy_trash() {
        let mut ids = 100;
        let mut t = Tree::new(0);
        let b = t.mkdir_p("/a/b", 1, &mut ids).unwrap();
        let f = t.add_file(b, "x.mkv", SimFile::bytes(b"abc".to_vec()), 1, &mut ids);
        assert_eq!(t.lookup("/a/b/x.mkv"), Some(f));
        assert_eq!(
            t.get(f).unwrap().sha1,
            "A9993E364706816ABA3E25717850C26C9CD0D89D"
        );
        let a = t.lookup("/a").unwrap();
        assert!(!t.move_to(a, b, 2), "a folder cannot move into itself");
        let c = t.copy_to(b, ROOT, 2, &mut ids).unwrap();
        assert_eq!(t.lookup("/b/x.mkv").map(|id| id != f), Some(true));
        assert_eq!(t.used_bytes(), 6);
        assert!(t.trash(c));
        assert_eq!(t.lookup("/b"), None);
        assert_eq!(t.used_bytes(), 3);
        assert_eq!(
            t.ancestors(f)
                .iter()
                .map(|(_, n)| n.as_str())
                .collect::<Vec<_>>(),
            ["", "a", "b"]
        );
    }
}
