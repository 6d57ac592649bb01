//! The one place files are written: atomically (temp file beside the target, fsync, rename),
//! keeping the target's mode (0600 for new files), and refusing to overwrite a file that
//! changed since it was read.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

/// What a file looked like when it was read: its content hash (or that it did not exist).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileStamp(Option<[u8; 32]>);

impl FileStamp {
    /// The stamp of bytes just read from a file.
    pub fn of_bytes(bytes: &[u8]) -> FileStamp {
        FileStamp(Some(Sha256::digest(bytes).into()))
    }

    /// The stamp of a file that did not exist.
    pub fn absent() -> FileStamp {
        FileStamp(None)
    }

    /// The current stamp of `path`.
    pub fn current(path: &Path) -> io::Result<FileStamp> {
        match fs::read(path) {
            Ok(b) => Ok(FileStamp::of_bytes(&b)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(FileStamp::absent()),
            Err(e) => Err(e),
        }
    }
}

/// A write could not be completed; the target is unchanged.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum WriteError {
    /// The target changed on disk after it was read.
    #[error("{0} changed on disk since it was read; not overwriting it")]
    Changed(PathBuf),
    /// An I/O error (the target is left as it was).
    #[error("cannot write {path}: {source}")]
    Io {
        /// The target.
        path: PathBuf,
        /// The I/O error.
        source: io::Error,
    },
}

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> WriteError + '_ {
    move |source| WriteError::Io {
        path: path.to_owned(),
        source,
    }
}

/// Writes `bytes` to `path` atomically. An existing target keeps its permissions; a new one
/// gets mode 0600. With `expected`, the write is refused when the target's content is no
/// longer what was read.
pub fn write_atomic(
    path: &Path,
    bytes: &[u8],
    expected: Option<&FileStamp>,
) -> Result<(), WriteError> {
    write_with_mode(path, bytes, expected, None)
}

/// Like [`write_atomic`], but the result is always mode 0600: for decrypted plaintext.
pub fn write_private(
    path: &Path,
    bytes: &[u8],
    expected: Option<&FileStamp>,
) -> Result<(), WriteError> {
    write_with_mode(path, bytes, expected, Some(0o600))
}

fn write_with_mode(
    path: &Path,
    bytes: &[u8],
    expected: Option<&FileStamp>,
    force_mode: Option<u32>,
) -> Result<(), WriteError> {
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_owned(),
        _ => PathBuf::from("."),
    };
    let mode = force_mode.unwrap_or_else(|| match fs::metadata(path) {
        Ok(m) => m.permissions().mode() & 0o7777,
        Err(_) => 0o600,
    });
    let (tmp_path, mut tmp) = create_temp_beside(&dir, path).map_err(io_err(path))?;
    let result = (|| {
        tmp.write_all(bytes)?;
        tmp.set_permissions(fs::Permissions::from_mode(mode))?;
        tmp.sync_all()
    })();
    if let Err(e) = result {
        let _ = fs::remove_file(&tmp_path);
        return Err(io_err(path)(e));
    }
    drop(tmp);
    if let Some(expected) = expected {
        match FileStamp::current(path) {
            Ok(now) if &now == expected => {}
            Ok(_) => {
                let _ = fs::remove_file(&tmp_path);
                return Err(WriteError::Changed(path.to_owned()));
            }
            Err(e) => {
                let _ = fs::remove_file(&tmp_path);
                return Err(io_err(path)(e));
            }
        }
    }
    if let Err(e) = fs::rename(&tmp_path, path) {
        let _ = fs::remove_file(&tmp_path);
        return Err(io_err(path)(e));
    }
    if let Ok(d) = File::open(&dir) {
        let _ = d.sync_all();
    }
    Ok(())
}

/// Replaces several files as one step: every new content is written to a temp file and
/// synced, and every target checked against its stamp, before any is renamed into place. If a
/// rename fails midway, the files already replaced get their previous content back.
pub fn write_all_or_nothing(files: &[(&Path, &[u8], &FileStamp)]) -> Result<(), WriteError> {
    let mut prepared: Vec<(PathBuf, &Path, u32)> = Vec::new();
    let cleanup = |prepared: &[(PathBuf, &Path, u32)]| {
        for (tmp, _, _) in prepared {
            let _ = fs::remove_file(tmp);
        }
    };
    for (path, bytes, _) in files {
        let dir = match path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_owned(),
            _ => PathBuf::from("."),
        };
        let mode = fs::metadata(path)
            .map(|m| m.permissions().mode() & 0o7777)
            .unwrap_or(0o600);
        let step = create_temp_beside(&dir, path).and_then(|(tmp, mut f)| {
            let r = f
                .write_all(bytes)
                .and_then(|_| f.set_permissions(fs::Permissions::from_mode(mode)))
                .and_then(|_| f.sync_all());
            match r {
                Ok(()) => Ok(tmp),
                Err(e) => {
                    let _ = fs::remove_file(&tmp);
                    Err(e)
                }
            }
        });
        match step {
            Ok(tmp) => prepared.push((tmp, path, mode)),
            Err(e) => {
                cleanup(&prepared);
                return Err(io_err(path)(e));
            }
        }
    }
    for (path, _, stamp) in files {
        match FileStamp::current(path) {
            Ok(now) if &now == *stamp => {}
            Ok(_) => {
                cleanup(&prepared);
                return Err(WriteError::Changed(path.to_path_buf()));
            }
            Err(e) => {
                cleanup(&prepared);
                return Err(io_err(path)(e));
            }
        }
    }
    let originals: Vec<Option<Vec<u8>>> = files.iter().map(|(p, _, _)| fs::read(p).ok()).collect();
    for (i, (tmp, path, _)) in prepared.iter().enumerate() {
        if let Err(e) = fs::rename(tmp, path) {
            // Put back what was already replaced, then drop the remaining temp files.
            for (j, (_, done, _)) in prepared[..i].iter().enumerate() {
                if let Some(orig) = &originals[j] {
                    let _ = write_atomic(done, orig, None);
                }
            }
            cleanup(&prepared[i..]);
            return Err(io_err(path)(e));
        }
    }
    Ok(())
}

/// A private directory (mode 0700) for plaintext that must briefly exist as a file (edit
/// buffers, exec-file). Files in it are overwritten with zeros and removed when it is dropped.
pub struct PrivateDir {
    path: PathBuf,
}

impl PrivateDir {
    /// Creates the directory in the first usable base (callers pass RAM-backed places such as
    /// `/dev/shm` or `$XDG_RUNTIME_DIR` first, then the system temp dir).
    pub fn create_in(bases: &[PathBuf]) -> io::Result<PrivateDir> {
        let mut last = io::Error::other("no usable temporary directory");
        for base in bases {
            if !base.is_dir() {
                continue;
            }
            let mut r = [0u8; 8];
            getrandom::getrandom(&mut r).map_err(io::Error::other)?;
            let name: String = r.iter().map(|b| format!("{b:02x}")).collect();
            let path = base.join(format!("ccsecrets-{name}"));
            match fs::DirBuilder::new().mode(0o700).create(&path) {
                Ok(()) => {
                    // The umask may have narrowed it further; never wider than 0700.
                    fs::set_permissions(&path, fs::Permissions::from_mode(0o700))?;
                    return Ok(PrivateDir { path });
                }
                Err(e) => last = e,
            }
        }
        Err(last)
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Writes a new file (mode 0600) in the directory and returns its path.
    pub fn write_file(&self, name: &str, bytes: &[u8]) -> io::Result<PathBuf> {
        let p = self.path.join(name);
        let mut f = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&p)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        Ok(p)
    }

    /// Wipes and removes the directory now (also done on drop).
    pub fn remove(&self) {
        wipe_dir(&self.path);
    }
}

/// Overwrites every regular file under `dir` with zeros, then removes the tree.
///
/// Symlinks are never followed: a symlink at `dir` itself, or anywhere below it, is removed
/// as a link and what it points to is left alone (a planted `dir -> /etc` must not zero
/// `/etc`). Files are opened with `O_NOFOLLOW`, so one swapped for a link meanwhile is
/// skipped too.
pub fn wipe_dir(dir: &Path) {
    match fs::symlink_metadata(dir) {
        Ok(m) if m.is_dir() => {}
        Ok(_) => {
            let _ = fs::remove_file(dir);
            return;
        }
        Err(_) => return,
    }
    if let Ok(entries) = fs::read_dir(dir) {
        for e in entries.flatten() {
            let p = e.path();
            match e.file_type() {
                Ok(t) if t.is_dir() => wipe_dir(&p),
                Ok(t) if t.is_file() => {
                    let opened = OpenOptions::new()
                        .write(true)
                        .custom_flags(libc::O_NOFOLLOW)
                        .open(&p);
                    if let Ok(mut f) = opened {
                        if let Ok(meta) = f.metadata() {
                            let zeros = vec![0u8; meta.len().min(1 << 26) as usize];
                            let _ = f.write_all(&zeros).and_then(|_| f.sync_all());
                        }
                    }
                }
                _ => {}
            }
        }
    }
    let _ = fs::remove_dir_all(dir);
}

impl Drop for PrivateDir {
    fn drop(&mut self) {
        wipe_dir(&self.path);
    }
}

fn create_temp_beside(dir: &Path, target: &Path) -> io::Result<(PathBuf, File)> {
    let name = target
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "file".into());
    for _ in 0..100 {
        let mut r = [0u8; 6];
        getrandom::getrandom(&mut r).map_err(io::Error::other)?;
        let suffix: String = r.iter().map(|b| format!("{b:02x}")).collect();
        let p = dir.join(format!(".{name}.ccsecrets-{suffix}.tmp"));
        match OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&p)
        {
            Ok(f) => return Ok((p, f)),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e),
        }
    }
    Err(io::Error::other("could not create a unique temporary file"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn new_files_are_private_and_modes_kept() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("out.yaml");
        write_atomic(&p, b"one", None).unwrap();
        assert_eq!(
            fs::metadata(&p).unwrap().permissions().mode() & 0o777,
            0o600
        );
        fs::set_permissions(&p, fs::Permissions::from_mode(0o640)).unwrap();
        write_atomic(&p, b"two", None).unwrap();
        assert_eq!(fs::read(&p).unwrap(), b"two");
        assert_eq!(
            fs::metadata(&p).unwrap().permissions().mode() & 0o777,
            0o640
        );
        assert_eq!(
            fs::read_dir(d.path()).unwrap().count(),
            1,
            "no temp file left"
        );
    }

    #[test]
    fn refuses_when_changed_since_read() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("f");
        fs::write(&p, b"original").unwrap();
        let stamp = FileStamp::of_bytes(b"original");
        fs::write(&p, b"someone else").unwrap();
        assert!(matches!(
            write_atomic(&p, b"mine", Some(&stamp)),
            Err(WriteError::Changed(_))
        ));
        assert_eq!(fs::read(&p).unwrap(), b"someone else");
        assert_eq!(fs::read_dir(d.path()).unwrap().count(), 1);
    }

    #[test]
    fn all_or_nothing_refuses_if_any_changed() {
        let d = tempfile::tempdir().unwrap();
        let a = d.path().join("a");
        let b = d.path().join("b");
        fs::write(&a, b"a0").unwrap();
        fs::write(&b, b"b0").unwrap();
        let sa = FileStamp::of_bytes(b"a0");
        let stale = FileStamp::of_bytes(b"old");
        let r = write_all_or_nothing(&[(&a, b"a1", &sa), (&b, b"b1", &stale)]);
        assert!(matches!(r, Err(WriteError::Changed(_))));
        assert_eq!(fs::read(&a).unwrap(), b"a0");
        assert_eq!(fs::read(&b).unwrap(), b"b0");
        assert_eq!(fs::read_dir(d.path()).unwrap().count(), 2);
        let sb = FileStamp::of_bytes(b"b0");
        write_all_or_nothing(&[(&a, b"a1", &sa), (&b, b"b1", &sb)]).unwrap();
        assert_eq!(fs::read(&b).unwrap(), b"b1");
    }

    #[test]
    fn wipe_dir_never_follows_a_symlink() {
        let d = tempfile::tempdir().unwrap();
        let victim = d.path().join("victim");
        fs::create_dir(&victim).unwrap();
        fs::write(victim.join("precious"), b"keep me").unwrap();
        // A link where a directory to wipe is expected, and one inside a real directory.
        let link = d.path().join("planted");
        std::os::unix::fs::symlink(&victim, &link).unwrap();
        let real = d.path().join("real");
        fs::create_dir(&real).unwrap();
        std::os::unix::fs::symlink(victim.join("precious"), real.join("file-link")).unwrap();
        wipe_dir(&link);
        wipe_dir(&real);
        assert_eq!(fs::read(victim.join("precious")).unwrap(), b"keep me");
        assert!(
            fs::symlink_metadata(&link).is_err(),
            "the link itself is removed"
        );
        assert!(!real.exists());
    }

    #[test]
    fn private_dir_is_0700_files_0600_and_removed() {
        let base = tempfile::tempdir().unwrap();
        let p;
        {
            let d = PrivateDir::create_in(&[PathBuf::from("/nonexistent"), base.path().to_owned()])
                .unwrap();
            p = d.path().to_owned();
            assert_eq!(
                fs::metadata(&p).unwrap().permissions().mode() & 0o777,
                0o700
            );
            let f = d.write_file("secrets.yaml", b"x: 1").unwrap();
            assert_eq!(
                fs::metadata(&f).unwrap().permissions().mode() & 0o777,
                0o600
            );
        }
        assert!(!p.exists());
    }
}
