//! Files the runtime keeps between runs (the driver pipeline cache, the
//! learned dispatch model): checksummed, and written atomically.
//!
//! Format: an 8-byte magic naming the content and its version, the BLAKE3
//! hash of the payload, then the payload. A file whose magic or hash does not
//! match (truncated, corrupted, written by another version) is ignored with a
//! warning; a missing file silently.
//!
//! Invariant: a reader never sees a half-written file: writes go to a
//! temporary file in the same directory, which is then renamed over the old one.

use std::path::Path;

use crate::error::{Error, Result};

const HASH_LEN: usize = 32;

/// The verified payload of the file at `path`, or `None`. `what` names the
/// content in the warning.
pub(crate) fn read_checked(path: &Path, magic: &[u8; 8], what: &str) -> Option<Vec<u8>> {
    let bytes = match std::fs::read(path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return None,
        Err(e) => {
            log::warn!("switchyard: ignoring {what} {}: {e}", path.display());
            return None;
        }
    };
    match verify(&bytes, magic) {
        Some(payload) => Some(payload.to_vec()),
        None => {
            log::warn!(
                "switchyard: ignoring damaged or outdated {what} {} ({} bytes)",
                path.display(),
                bytes.len()
            );
            None
        }
    }
}

fn verify<'a>(bytes: &'a [u8], magic: &[u8; 8]) -> Option<&'a [u8]> {
    let rest = bytes.strip_prefix(magic.as_slice())?;
    if rest.len() < HASH_LEN {
        return None;
    }
    let (hash, payload) = rest.split_at(HASH_LEN);
    (blake3::hash(payload).as_bytes() == hash).then_some(payload)
}

fn encode(payload: &[u8], magic: &[u8; 8]) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(magic.len() + HASH_LEN + payload.len());
    bytes.extend_from_slice(magic);
    bytes.extend_from_slice(blake3::hash(payload).as_bytes());
    bytes.extend_from_slice(payload);
    bytes
}

/// Writes `payload` to `path` atomically, creating the directory if needed.
///
/// # Errors
/// [`Error::CacheIo`](crate::Error::CacheIo) naming the file.
pub(crate) fn write_checked(path: &Path, magic: &[u8; 8], payload: &[u8]) -> Result<()> {
    let io_error = |source| Error::CacheIo {
        path: path.to_path_buf(),
        source,
    };
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(io_error)?;
    }
    let temp = path.with_extension(format!("tmp{}", std::process::id()));
    std::fs::write(&temp, encode(payload, magic)).map_err(io_error)?;
    std::fs::rename(&temp, path).map_err(|e| {
        let _ = std::fs::remove_file(&temp);
        io_error(e)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    const MAGIC: &[u8; 8] = b"SWYTEST1";

    fn temp_dir(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!(
            "switchyard-cache-file-{name}-{}",
            std::process::id()
        ));
        let _ = std::fs::remove_dir_all(&dir);
        dir
    }

    #[test]
    fn round_trip_returns_the_exact_payload() {
        let dir = temp_dir("roundtrip");
        let path = dir.join("k.bin");
        let payload: Vec<u8> = (0..=255u8).cycle().take(10_000).collect();
        write_checked(&path, MAGIC, &payload).unwrap();
        assert_eq!(read_checked(&path, MAGIC, "test").unwrap(), payload);
        let leftovers: Vec<_> = std::fs::read_dir(&dir).unwrap().collect();
        assert_eq!(leftovers.len(), 1, "the temporary file was renamed away");
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn damaged_foreign_or_outdated_files_are_ignored() {
        let dir = temp_dir("damaged");
        let path = dir.join("k.bin");
        write_checked(&path, MAGIC, b"driver data").unwrap();
        assert_eq!(
            read_checked(&path, b"SWYTEST2", "test"),
            None,
            "other version"
        );
        let mut bytes = std::fs::read(&path).unwrap();
        *bytes.last_mut().unwrap() ^= 1;
        std::fs::write(&path, &bytes).unwrap();
        assert_eq!(read_checked(&path, MAGIC, "test"), None, "flipped bit");
        std::fs::write(&path, &bytes[..20]).unwrap();
        assert_eq!(read_checked(&path, MAGIC, "test"), None, "truncated");
        std::fs::write(&path, b"not ours at all").unwrap();
        assert_eq!(read_checked(&path, MAGIC, "test"), None, "foreign");
        assert_eq!(read_checked(&dir.join("missing.bin"), MAGIC, "test"), None);
        std::fs::remove_dir_all(dir).unwrap();
    }
}
