//! Mapping caller paths (absolute, or relative to the work tree root) to git's
//! repository-relative, slash-separated paths.

use std::path::{Component, Path, PathBuf};

use gix::bstr::{BString, ByteSlice};

use super::Repo;

/// A path that cannot name a file in the work tree.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PathError {
    /// The absolute path is not inside the work tree.
    #[error("{} is outside the work tree {}", path.display(), workdir.display())]
    OutsideWorkTree {
        /// The path given.
        path: PathBuf,
        /// The work tree root.
        workdir: PathBuf,
    },
    /// The path is empty, names the work tree root, or climbs with `..`.
    #[error("{} does not name a file in the work tree", path.display())]
    Invalid {
        /// The path given.
        path: PathBuf,
    },
    /// The path points into the `.git` directory.
    #[error("{} is inside the .git directory", path.display())]
    GitDir {
        /// The path given.
        path: PathBuf,
    },
    /// The path is not valid UTF-8 on a platform where git paths must be.
    #[error("{} is not a valid git path", path.display())]
    Encoding {
        /// The path given.
        path: PathBuf,
    },
}

impl Repo {
    /// `path` (absolute, or relative to the work tree root) as a repository-relative git path
    /// (`secrets/secrets.yaml`).
    pub(crate) fn rela_path(&self, path: &Path) -> Result<BString, PathError> {
        let relative: PathBuf = if path.is_absolute() {
            match path.strip_prefix(&self.workdir) {
                Ok(rel) => rel.to_owned(),
                Err(_) => self.strip_canonical(path)?,
            }
        } else {
            path.to_owned()
        };
        let mut parts: Vec<&[u8]> = Vec::new();
        for component in relative.components() {
            match component {
                Component::Normal(part) => {
                    let bytes =
                        gix::path::os_str_into_bstr(part).map_err(|_| PathError::Encoding {
                            path: path.to_owned(),
                        })?;
                    parts.push(bytes.as_bytes());
                }
                Component::CurDir => {}
                Component::ParentDir | Component::RootDir | Component::Prefix(_) => {
                    return Err(PathError::Invalid {
                        path: path.to_owned(),
                    })
                }
            }
        }
        if parts.is_empty() {
            return Err(PathError::Invalid {
                path: path.to_owned(),
            });
        }
        if parts[0].eq_ignore_ascii_case(b".git") {
            return Err(PathError::GitDir {
                path: path.to_owned(),
            });
        }
        Ok(BString::from(parts.join(&b'/')))
    }

    /// The absolute path of a repository-relative path.
    pub(crate) fn abs_path(&self, rela: &BString) -> PathBuf {
        let mut out = self.workdir.clone();
        for part in rela.split_str("/") {
            out.push(part.to_path_lossy());
        }
        out
    }

    /// A repository-relative path as a (relative) native path; lossless on Unix.
    pub(crate) fn native(rela: &gix::bstr::BStr) -> PathBuf {
        rela.to_path_lossy().into_owned()
    }

    /// Strips the work tree from an absolute path whose spelling differs from the canonical
    /// work tree (symlinked temp dirs and the like): canonicalises the longest existing parent directory.
    fn strip_canonical(&self, path: &Path) -> Result<PathBuf, PathError> {
        let outside = || PathError::OutsideWorkTree {
            path: path.to_owned(),
            workdir: self.workdir.clone(),
        };
        // Never canonicalise the file itself: a symlink must keep its own name.
        let (Some(mut existing), Some(name)) = (path.parent(), path.file_name()) else {
            return Err(outside());
        };
        let mut rest: Vec<&std::ffi::OsStr> = vec![name];
        loop {
            if let Ok(canonical) = std::fs::canonicalize(existing) {
                let rel = canonical
                    .strip_prefix(&self.workdir)
                    .map_err(|_| outside())?;
                let mut out = rel.to_owned();
                for part in rest.iter().rev() {
                    out.push(part);
                }
                return Ok(out);
            }
            match (existing.parent(), existing.file_name()) {
                (Some(parent), Some(name)) => {
                    rest.push(name);
                    existing = parent;
                }
                _ => return Err(outside()),
            }
        }
    }
}
