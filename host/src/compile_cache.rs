//! The compile cache: a component compiled once is kept as a wasmtime
//! artifact in a private directory and loaded from there next time, in
//! place of compiling it again.
//!
//! An artifact is named by a SHA-256 of the component's bytes (and their
//! length) and of the engine's compatibility hash (target, CPU features,
//! compiler settings, wasmtime version), so a changed component or engine
//! never finds a stale one; wasmtime checks the artifact's header against
//! the engine again when loading it. An artifact that does not load
//! (corrupt, truncated, from another engine) is compiled again and
//! replaced. Artifacts are written to a temporary file in the same
//! directory and renamed into place, so a host never reads a half-written
//! one.
//!
//! Loading an artifact runs its native code in the host, so the cache is
//! used only in a directory the host's user owns and no one else may write
//! to, and only files in it the user owns and no one else may write to:
//! otherwise the component is compiled and the cache left alone. A cache
//! that cannot be created, read or written never fails a load.

use std::fs::File;
use std::hash::{Hash, Hasher};
use std::io::{Read, Write};
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};

use rustix::fs::{FileType, Mode, OFlags};
use sha2::{Digest, Sha256};
use wasmtime::component::Component;
use wasmtime::Engine;

/// The most the artifacts in one cache directory may take together: past
/// it, storing an artifact removes the least recently used others.
const CACHE_LIMIT: u64 = 256 << 20;

/// How old, in seconds, a temporary file of an unfinished write (its host
/// was killed while writing) must be to be removed.
const STALE_TEMP_SECONDS: i64 = 3600;

/// The environment variable that names the compile cache directory of
/// [`CompileCache::User`].
pub const CACHE_DIR_VAR: &str = "WITSOCK_HOST_CACHE_DIR";

/// Where compiled components are kept between loads.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum CompileCache {
    /// No cache: every load compiles (the default of
    /// [`LoadOptions`], so that a library load touches no files).
    #[default]
    Disabled,
    /// The user's cache directory: `$WITSOCK_HOST_CACHE_DIR` if set, else
    /// `$XDG_CACHE_HOME/witsock-host` (an absolute `XDG_CACHE_HOME`), else
    /// `$HOME/.cache/witsock-host`. What `witsock-host run` uses.
    User,
    /// This directory.
    Dir(PathBuf),
}

/// How to load a component.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LoadOptions {
    /// Where compiled components are cached (nowhere by default).
    pub compile_cache: CompileCache,
}

impl LoadOptions {
    /// Options that cache in the user's cache directory
    /// ([`CompileCache::User`]).
    pub fn cached() -> LoadOptions {
        LoadOptions {
            compile_cache: CompileCache::User,
        }
    }
}

/// What the compile cache did for one load.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CacheOutcome {
    /// No cache was asked for: the component was compiled.
    Disabled,
    /// The compiled component came from the cache.
    Hit,
    /// The component was compiled and the artifact stored (or an unusable
    /// one replaced) for the next load.
    Stored,
    /// The component was compiled; the cache could not be used, for this
    /// reason (no cache directory, one that is not private, a failed read
    /// or write).
    Skipped(String),
}

impl CompileCache {
    /// The directory, `None` when disabled, or why there is none.
    fn dir(&self) -> Option<Result<PathBuf, String>> {
        match self {
            CompileCache::Disabled => None,
            CompileCache::Dir(dir) => Some(Ok(dir.clone())),
            CompileCache::User => Some(user_cache_dir()),
        }
    }
}

/// The user's cache directory, as [`CompileCache::User`] describes.
fn user_cache_dir() -> Result<PathBuf, String> {
    let var = |name: &str| std::env::var_os(name).filter(|value| !value.is_empty());
    if let Some(dir) = var(CACHE_DIR_VAR) {
        return Ok(PathBuf::from(dir));
    }
    // The XDG base directory spec: a relative path is to be ignored.
    if let Some(base) = var("XDG_CACHE_HOME").map(PathBuf::from) {
        if base.is_absolute() {
            return Ok(base.join("witsock-host"));
        }
    }
    match var("HOME") {
        Some(home) => Ok(PathBuf::from(home).join(".cache/witsock-host")),
        None => Err(format!(
            "no cache directory: none of {CACHE_DIR_VAR}, XDG_CACHE_HOME and HOME is set"
        )),
    }
}

/// Compiles `bytes` with `engine`, or loads the artifact of an earlier
/// compilation from `cache`. Only a component that does not compile is an
/// error; whatever goes wrong with the cache is reported in the outcome.
pub(crate) fn load(
    engine: &Engine,
    bytes: &[u8],
    cache: &CompileCache,
) -> wasmtime::Result<(Component, CacheOutcome)> {
    let dir = match cache.dir() {
        None => return Ok((Component::new(engine, bytes)?, CacheOutcome::Disabled)),
        Some(Err(why)) => return Ok((Component::new(engine, bytes)?, CacheOutcome::Skipped(why))),
        Some(Ok(dir)) => dir,
    };
    let dir_fd = match open_private_dir(&dir) {
        Ok(fd) => fd,
        Err(why) => return Ok((Component::new(engine, bytes)?, CacheOutcome::Skipped(why))),
    };
    let name = artifact_name(engine, bytes);
    if let Some(artifact) = read_artifact(&dir_fd, &name) {
        // `Component::deserialize` requires bytes that wasmtime itself
        // serialized, and runs their native code in this process.
        // wasmtime checks the header and that the artifact is compatible
        // with `engine`, not the code, so the trust rests on who can write
        // the file: it was opened (without following a symbolic link) in
        // a directory that the host's user owns and no one else may write
        // to, checked on the open descriptors, so a directory or file
        // swapped in afterwards is not what is read; the file is owned by
        // that user and writable by no one else; and what is put there is
        // whole `Component::serialize` output, renamed into place under
        // the hash of the component and the engine's configuration. Only
        // that user (or the superuser), who can run native code as that
        // user anyway, could have put anything else there. A file that is
        // not an artifact, or not one for this engine, is refused by
        // wasmtime's checks and compiled again below.
        // SAFETY: only this user can have written the artifact (see above),
        // as `Component::serialize` output; wasmtime checks its header.
        if let Ok(component) = unsafe { Component::deserialize(engine, &artifact) } {
            return Ok((component, CacheOutcome::Hit));
        }
    }
    let component = Component::new(engine, bytes)?;
    let outcome = match component
        .serialize()
        .map_err(|e| format!("{e:#}"))
        .and_then(|artifact| store_artifact(&dir_fd, &name, &artifact))
    {
        Ok(()) => {
            evict(&dir_fd, &name, CACHE_LIMIT);
            CacheOutcome::Stored
        }
        Err(why) => CacheOutcome::Skipped(format!(
            "cannot write to the cache directory {}: {why}",
            dir.display()
        )),
    };
    Ok((component, outcome))
}

/// A [`Hasher`] that feeds a SHA-256 digest, for the engine's
/// compatibility hash (only `write` matters: `Hash` implementations never
/// call `finish`).
struct DigestHasher(Sha256);

impl Hasher for DigestHasher {
    fn write(&mut self, bytes: &[u8]) {
        self.0.update(bytes);
    }

    fn finish(&self) -> u64 {
        let digest = self.0.clone().finalize();
        let mut first = [0; 8];
        first.copy_from_slice(&digest[..8]);
        u64::from_le_bytes(first)
    }
}

/// The file name of the artifact of `bytes` compiled by `engine`: the
/// SHA-256, in hex, of a format tag, the component's length and bytes and
/// the engine's compatibility hash.
fn artifact_name(engine: &Engine, bytes: &[u8]) -> String {
    let mut hasher = DigestHasher(Sha256::new());
    hasher.write(b"witsock-host compile cache 1\0");
    hasher.write(&u64::try_from(bytes.len()).unwrap_or(u64::MAX).to_le_bytes());
    hasher.write(bytes);
    engine.precompile_compatibility_hash().hash(&mut hasher);
    let digest = hasher.0.finalize();
    let mut name: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    name.push_str(".cwasm");
    name
}

/// Whether a file or directory with `stat` is one the host may trust: its
/// owner is the host's user, and neither its group nor others may write to
/// it.
fn private(stat: &rustix::fs::Stat) -> Result<(), String> {
    let uid = rustix::process::getuid().as_raw();
    if stat.st_uid != uid {
        return Err(format!("owned by uid {}, not {uid}", stat.st_uid));
    }
    // Group and others' write bits.
    if stat.st_mode & 0o022 != 0 {
        return Err(format!(
            "writable by its group or others (mode {:o})",
            stat.st_mode & 0o7777
        ));
    }
    Ok(())
}

/// Opens the cache directory `dir`, creating it (and its parents) with
/// mode 0700 if needed, and checks that the directory opened is private.
fn open_private_dir(dir: &Path) -> Result<OwnedFd, String> {
    use std::os::unix::fs::DirBuilderExt;
    let fail = |what: &str, why: &dyn std::fmt::Display| {
        format!("{what} the cache directory {}: {why}", dir.display())
    };
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|e| fail("cannot create", &e))?;
    let fd = rustix::fs::open(
        dir,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| fail("cannot open", &std::io::Error::from(e)))?;
    let stat = rustix::fs::fstat(&fd).map_err(|e| fail("cannot read", &std::io::Error::from(e)))?;
    private(&stat).map_err(|why| fail("not using", &why))?;
    Ok(fd)
}

/// The artifact `name` in the cache directory `dir`, if there is one the
/// host may trust: a regular file (not a symbolic link) that is private.
/// Anything else is as good as missing, and is replaced.
fn read_artifact(dir: &OwnedFd, name: &str) -> Option<Vec<u8>> {
    let fd = rustix::fs::openat(
        dir,
        name,
        OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .ok()?;
    let stat = rustix::fs::fstat(&fd).ok()?;
    if FileType::from_raw_mode(stat.st_mode) != FileType::RegularFile || private(&stat).is_err() {
        return None;
    }
    // Used now: the last to be evicted (best effort).
    let now = rustix::fs::Timespec {
        tv_sec: 0,
        tv_nsec: rustix::fs::UTIME_NOW,
    };
    let _ = rustix::fs::futimens(
        &fd,
        &rustix::fs::Timestamps {
            last_access: now,
            last_modification: now,
        },
    );
    let mut artifact = Vec::with_capacity(usize::try_from(stat.st_size).unwrap_or(0));
    File::from(fd).read_to_end(&mut artifact).ok()?;
    Some(artifact)
}

/// The status of `name` in `dir`, if it is a regular file.
fn regular_file(dir: &OwnedFd, name: impl rustix::path::Arg) -> Option<rustix::fs::Stat> {
    rustix::fs::statat(dir, name, rustix::fs::AtFlags::SYMLINK_NOFOLLOW)
        .ok()
        .filter(|stat| FileType::from_raw_mode(stat.st_mode) == FileType::RegularFile)
}

/// Keeps the cache directory `dir` within `limit` bytes: removes the
/// artifacts used longest ago (by modification time, which a cache hit
/// renews) until the rest fit, never `kept` (the one just stored), and
/// temporary files of writes that never finished. Best effort: a file
/// another host removes first is skipped.
fn evict(dir: &OwnedFd, kept: &str, limit: u64) {
    let Ok(entries) = rustix::fs::Dir::read_from(dir) else {
        return;
    };
    let Some(now) = regular_file(dir, kept) else {
        return;
    };
    let mut artifacts = Vec::new();
    let mut total = 0u64;
    for entry in entries.flatten() {
        let name = entry.file_name().to_owned();
        let Some(text) = name.to_str().ok().map(str::to_string) else {
            continue;
        };
        let Some(stat) = regular_file(dir, name.as_c_str()) else {
            continue;
        };
        let size = u64::try_from(stat.st_size).unwrap_or(0);
        if text.starts_with('.') && text.ends_with(".tmp") {
            if stat.st_mtime + STALE_TEMP_SECONDS < now.st_mtime {
                let _ = rustix::fs::unlinkat(dir, &name, rustix::fs::AtFlags::empty());
            }
        } else if text.ends_with(".cwasm") {
            total = total.saturating_add(size);
            if text != kept {
                artifacts.push(((stat.st_mtime, stat.st_mtime_nsec), name, size));
            }
        }
    }
    artifacts.sort();
    for (_, name, size) in artifacts {
        if total <= limit {
            break;
        }
        if rustix::fs::unlinkat(dir, &name, rustix::fs::AtFlags::empty()).is_ok() {
            total -= size;
        }
    }
}

/// Writes `artifact` as `name` in the cache directory `dir`: to a fresh
/// temporary file there (mode 0600), renamed over `name` once complete.
fn store_artifact(dir: &OwnedFd, name: &str, artifact: &[u8]) -> Result<(), String> {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let temp = format!(
        ".{name}.{}-{}.tmp",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    );
    let fd = rustix::fs::openat(
        dir,
        &temp,
        OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::from_raw_mode(0o600),
    )
    .map_err(|e| std::io::Error::from(e).to_string())?;
    let written = File::from(fd)
        .write_all(artifact)
        .map_err(|e| e.to_string())
        .and_then(|()| {
            rustix::fs::renameat(dir, &temp, dir, name)
                .map_err(|e| std::io::Error::from(e).to_string())
        });
    if written.is_err() {
        let _ = rustix::fs::unlinkat(dir, &temp, rustix::fs::AtFlags::empty());
    }
    written
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_name_depends_on_the_bytes_and_the_engine() {
        let engine = Engine::default();
        let mut config = wasmtime::Config::new();
        config.epoch_interruption(true);
        let other = Engine::new(&config).expect("an engine");
        let name = artifact_name(&engine, b"\0asm component");
        assert_eq!(name.len(), 64 + ".cwasm".len());
        assert!(name.ends_with(".cwasm"));
        assert_eq!(name, artifact_name(&Engine::default(), b"\0asm component"));
        assert_ne!(name, artifact_name(&engine, b"\0asm componenT"));
        assert_ne!(name, artifact_name(&other, b"\0asm component"));
    }

    #[test]
    fn eviction_removes_the_least_recently_used_and_stale_temporary_files() {
        use std::time::{Duration, SystemTime};
        let dir = std::env::temp_dir().join(format!("witsock-evict-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir(&dir).expect("a directory");
        let now = SystemTime::now();
        let file = |name: &str, size: usize, age_seconds: u64| {
            let file = File::create(dir.join(name)).expect("a file");
            file.set_len(size as u64).expect("sized");
            file.set_modified(now - Duration::from_secs(age_seconds))
                .expect("dated");
        };
        file("oldest.cwasm", 100, 300);
        file("older.cwasm", 100, 200);
        file("recent.cwasm", 100, 100);
        // Just stored; older than anything, say, but never removed.
        file("kept.cwasm", 100, 400);
        file(".x.cwasm.1-0.tmp", 1000, 2 * 3600);
        file(".y.cwasm.2-0.tmp", 1000, 10);
        file("other-file", 1000, 3600);
        let fd = open_private_dir(&dir).expect("private");
        // 400 bytes of artifacts, 250 allowed: the two oldest but the
        // kept one go.
        evict(&fd, "kept.cwasm", 250);
        let mut left: Vec<String> = std::fs::read_dir(&dir)
            .expect("listed")
            .map(|e| {
                e.expect("an entry")
                    .file_name()
                    .into_string()
                    .expect("UTF-8")
            })
            .collect();
        left.sort();
        std::fs::remove_dir_all(&dir).expect("removed");
        assert_eq!(
            left,
            [
                ".y.cwasm.2-0.tmp",
                "kept.cwasm",
                "other-file",
                "recent.cwasm"
            ]
        );
    }
}
