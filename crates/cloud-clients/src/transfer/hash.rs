//! Content hashes for transfers: SHA-1 of a whole file (streamed; the `sha1` crate uses the
//! CPU's SHA instructions when it has them), of its first bytes (alipan's pre-hash), and
//! alipan's proof of possession.

use std::io::{Read, Seek, SeekFrom};
use std::path::Path;

use base64::Engine as _;
use md5::Digest as _;
use sha1::Sha1;

/// Read size for hashing: large enough that system calls do not matter.
pub(crate) const READ_CHUNK: usize = 1 << 20;

/// Upper-case hex SHA-1 of a file and its size, read once in 1 MiB chunks; `progress` gets
/// the bytes hashed so far. Blocking: call it from `spawn_blocking` in async code.
pub fn sha1_file(path: &Path, progress: &mut dyn FnMut(u64)) -> std::io::Result<(String, u64)> {
    let mut file = std::fs::File::open(path)?;
    let mut hasher = Sha1::new();
    let mut buf = vec![0u8; READ_CHUNK];
    let mut done = 0u64;
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        done += n as u64;
        progress(done);
    }
    Ok((hex::encode_upper(hasher.finalize()), done))
}

/// Upper-case hex SHA-1 of the first `len` bytes of a file (all of it when shorter).
pub(crate) fn sha1_prefix(path: &Path, len: u64) -> std::io::Result<String> {
    let mut head = Vec::new();
    std::fs::File::open(path)?
        .take(len)
        .read_to_end(&mut head)?;
    Ok(hex::encode_upper(Sha1::digest(&head)))
}

/// alipan's `proof_code` (spec: upload.md §1.4): base64 of the 8 bytes (fewer near the
/// end) at `u64(md5_hex(token)[0..16]) mod size`; empty for an empty file.
pub(crate) fn proof_code(token: &str, path: &Path, size: u64) -> std::io::Result<String> {
    if size == 0 {
        return Ok(String::new());
    }
    let digest = md5::Md5::digest(token.as_bytes());
    let mut first = [0u8; 8];
    first.copy_from_slice(&digest[..8]);
    let index = u64::from_be_bytes(first) % size;
    let mut file = std::fs::File::open(path)?;
    file.seek(SeekFrom::Start(index))?;
    let mut bytes = Vec::with_capacity(8);
    file.take(8.min(size - index)).read_to_end(&mut bytes)?;
    Ok(base64::engine::general_purpose::STANDARD.encode(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file_with(bytes: &[u8]) -> (tempfile::TempDir, std::path::PathBuf) {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let path = dir.path().join("f");
        std::fs::write(&path, bytes).unwrap_or_else(|e| panic!("{e}"));
        (dir, path)
    }

    /// The worked examples of upload.md §1.4.
    #[test]
    fn proof_codes_match_the_spec_examples() -> std::io::Result<()> {
        let bytes: Vec<u8> = (0..1000u32).map(|i| (i % 256) as u8).collect();
        let (_dir, path) = file_with(&bytes);
        assert_eq!(
            proof_code("test-access-token", &path, 1000)?,
            "3t/g4eLj5OU="
        );
        let (_dir, path) = file_with(b"ABCDEFGHI");
        assert_eq!(proof_code("test-access-token", &path, 9)?, "SQ==");
        let (_dir, path) = file_with(b"");
        assert_eq!(proof_code("test-access-token", &path, 0)?, "");
        Ok(())
    }

    #[test]
    fn sha1_of_a_file_and_of_its_head() -> std::io::Result<()> {
        let (_dir, path) = file_with(b"abc");
        let (hash, size) = sha1_file(&path, &mut |_| {})?;
        assert_eq!(hash, "A9993E364706816ABA3E25717850C26C9CD0D89D");
        assert_eq!(size, 3);
        assert_eq!(sha1_prefix(&path, 1024)?, hash);
        assert_eq!(
            sha1_prefix(&path, 0)?,
            "DA39A3EE5E6B4B0D3255BFEF95601890AFD80709"
        );
        Ok(())
    }
}
