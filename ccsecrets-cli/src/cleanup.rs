//! Removal of private scratch directories on every exit path, signals included.
//!
//! A directory registered here is wiped and removed if SIGINT, SIGTERM or SIGHUP arrives; the
//! normal paths remove it through `PrivateDir`'s drop.

use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};

use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
use signal_hook::iterator::Signals;

fn registry() -> &'static Mutex<Vec<PathBuf>> {
    static DIRS: OnceLock<Mutex<Vec<PathBuf>>> = OnceLock::new();
    DIRS.get_or_init(|| {
        if let Ok(mut signals) = Signals::new([SIGINT, SIGTERM, SIGHUP]) {
            std::thread::spawn(move || {
                if let Some(sig) = signals.forever().next() {
                    if let Some(dirs) = DIRS_FOR_SIGNAL.get() {
                        let dirs = dirs.lock().map(|d| d.clone()).unwrap_or_default();
                        for d in dirs {
                            ccsecrets_core::fsutil::wipe_dir(&d);
                        }
                    }
                    crate::output::error("interrupted; temporary plaintext removed");
                    std::process::exit(128 + sig);
                }
            });
        }
        Mutex::new(Vec::new())
    })
}

static DIRS_FOR_SIGNAL: OnceLock<&'static Mutex<Vec<PathBuf>>> = OnceLock::new();

/// Registers a directory to remove if a signal ends the process.
pub fn register(dir: &Path) {
    let reg = registry();
    let _ = DIRS_FOR_SIGNAL.set(reg);
    if let Ok(mut d) = reg.lock() {
        d.push(dir.to_owned());
    }
}

/// Forgets a directory (it was removed normally).
pub fn unregister(dir: &Path) {
    if let Ok(mut d) = registry().lock() {
        d.retain(|p| p != dir);
    }
}
