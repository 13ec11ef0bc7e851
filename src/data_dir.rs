//! The data directory holds secrets: the SQLite database (password hashes, refresh-token
//! hashes, private messages) with its `-wal` and `-shm` files, the generated JWT key, and
//! the outbox `.eml` files with live password-reset links. So it is created `0700` and its
//! files `0600`, whatever the process umask, and an existing directory made looser by an
//! older version or by hand is tightened at start-up, each change logged.
//!
//! Shared by the modules that write there (the store, the JWT key in `app`, the file
//! mailer); it knows nothing of what the files contain. On platforms without Unix modes it
//! does nothing.

use std::io;
use std::path::Path;

/// Owner-only: what a file or directory here may allow at most.
#[cfg(unix)]
const OWNER_ONLY: u32 = 0o700;

/// Creates `dir` (and missing parents) owner-only, or tightens it if it exists.
pub fn create_private_dir(dir: &Path) -> io::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir)?;
    tighten(dir)
}

/// Options that create a file readable and writable by its owner only (`0600`).
pub fn private_file_options() -> std::fs::OpenOptions {
    #[allow(unused_mut)]
    let mut options = std::fs::OpenOptions::new();
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options
}

/// The same, for files written from async code.
pub fn private_file_options_async() -> tokio::fs::OpenOptions {
    tokio::fs::OpenOptions::from(private_file_options())
}

/// At start-up: tightens the data directory, every file directly in it and the outbox
/// directory's files, if the directory exists. Nothing is created here; each writer creates
/// what it needs.
pub fn secure_existing(data_dir: &Path) -> io::Result<()> {
    if !data_dir.is_dir() {
        return Ok(());
    }
    tighten_tree(data_dir, 1)
}

/// Tightens `dir` and what is in it, descending `depth` more levels. Symbolic links are
/// left alone: what they point at is not ours to change.
fn tighten_tree(dir: &Path, depth: usize) -> io::Result<()> {
    tighten(dir)?;
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let kind = entry.file_type()?;
        if kind.is_file() {
            tighten(&entry.path())?;
        } else if kind.is_dir() && depth > 0 {
            tighten_tree(&entry.path(), depth - 1)?;
        }
    }
    Ok(())
}

/// Takes every permission from group and others, keeping the owner's as they are (a
/// read-only file stays read-only).
#[cfg(unix)]
fn tighten(path: &Path) -> io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::symlink_metadata(path)?.permissions().mode() & 0o7777;
    let tight = mode & OWNER_ONLY;
    if mode != tight {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(tight))?;
        tracing::warn!(
            path = %path.display(),
            was = format!("{mode:04o}"),
            now = format!("{tight:04o}"),
            "tightened the permissions of the data directory: group and others had access"
        );
    }
    Ok(())
}

#[cfg(not(unix))]
fn tighten(_path: &Path) -> io::Result<()> {
    Ok(())
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn mode(path: &Path) -> u32 {
        std::fs::metadata(path).unwrap().permissions().mode() & 0o7777
    }

    #[test]
    fn a_loose_tree_is_tightened_and_a_read_only_file_stays_read_only() {
        let root = tempfile::tempdir().unwrap();
        let data = root.path().join("data");
        std::fs::create_dir_all(data.join("outbox/deeper")).unwrap();
        for (path, loose) in [
            (data.clone(), 0o755),
            (data.join("outbox"), 0o777),
            (data.join("outbox/deeper"), 0o755),
        ] {
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(loose)).unwrap();
        }
        for (name, loose) in [("db", 0o644), ("outbox/a.eml", 0o666), ("key", 0o444)] {
            std::fs::write(data.join(name), b"x").unwrap();
            std::fs::set_permissions(data.join(name), std::fs::Permissions::from_mode(loose))
                .unwrap();
        }
        secure_existing(&data).unwrap();
        assert_eq!(mode(&data), 0o700);
        assert_eq!(mode(&data.join("outbox")), 0o700);
        assert_eq!(mode(&data.join("db")), 0o600);
        assert_eq!(mode(&data.join("outbox/a.eml")), 0o600);
        assert_eq!(mode(&data.join("key")), 0o400);
        // Two levels down is not the data directory's own: left as it was.
        assert_eq!(mode(&data.join("outbox/deeper")), 0o755);
    }

    #[test]
    fn a_missing_directory_is_created_owner_only_and_not_by_secure_existing() {
        let root = tempfile::tempdir().unwrap();
        let data = root.path().join("a/b");
        secure_existing(&data).unwrap();
        assert!(!data.exists());
        create_private_dir(&data).unwrap();
        assert_eq!(mode(&data), 0o700);
    }
}
