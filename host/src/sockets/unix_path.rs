//! Unix socket paths confined to granted directories, resolved once.
//!
//! A path string handed to bind(2) or connect(2) is resolved again by the
//! kernel, so checking it first and using it afterwards leaves a window in
//! which a directory inside a grant can become a symlink that leads out.
//! Here nothing is resolved twice:
//!
//! - each granted directory is held open ([`GrantedDir`]);
//! - a guest's path is walked beneath it one component at a time with
//!   `openat(O_PATH | O_NOFOLLOW)`, so that no symlink and no `..` is ever
//!   followed;
//! - the kernel is handed the descriptor the walk ended on, as
//!   `/proc/PID/fd/N/NAME` for a bind (the socket file is created in the
//!   directory the walk pinned) and `/proc/PID/fd/N` for a connect or a
//!   send (the socket file the walk opened, which must not be a symlink),
//!   PID being the host's own.
//!
//! The kernel keeps the name it was given for bound sockets, so
//! `getsockname`, `getpeername` and `recvfrom` report `/proc/PID/fd/N/NAME`.
//! Naming the host's PID (not `/proc/self`) matters for other processes
//! that use that address, say a datagram server replying to a guest: the
//! name resolves through the host's descriptor table, so it leads to the
//! pinned directory inside the grant or, for a process not allowed to
//! look at the host's descriptors, nowhere; never through a descriptor of
//! the other process's own. Each bind registers the name with the path the
//! guest asked for ([`UnixBinding`], held by the socket and its accepted
//! connections, which also keeps N open and so the name unique), and
//! [`guest_name`] turns it back before any address reaches a guest; a
//! descriptor name no live binding holds reads as unnamed, so no stale or
//! reused number is ever shown.
//!
//! An embedder must not preopen for the guest a directory that holds a
//! grant's parent: a guest could then hard-link or move sockets from
//! outside into the grant (the CLI preopens exactly the grants).
//!
//! A directory moved out of a grant after the walk opened it stays usable
//! for that one call: the walk pins what was inside the grant when it was
//! looked at, and only the host or another process can move directories
//! across a grant's boundary (wasmtime-wasi confines a guest's renames to
//! its preopens).

use std::collections::HashMap;
use std::ffi::OsStr;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};

use rustix::fs::{FileType, Mode, OFlags};

/// Where descriptors are named as paths. Only Linux has it: elsewhere no
/// directory can be granted ([`GrantError::NoProcFs`]).
const FD_DIR: &str = "/proc/self/fd/";

/// `/proc/PID/fd/`, PID being this process's: the prefix of the names the
/// kernel is handed.
fn fd_prefix() -> &'static str {
    static PREFIX: OnceLock<String> = OnceLock::new();
    PREFIX.get_or_init(|| format!("/proc/{}/fd/", std::process::id()))
}

/// Opens a path without reading or writing it (`O_PATH`; where there is
/// none no grant is made, see [`FD_DIR`]).
#[cfg(any(target_os = "linux", target_os = "android"))]
const PATH_ONLY: OFlags = OFlags::PATH;
#[cfg(not(any(target_os = "linux", target_os = "android")))]
const PATH_ONLY: OFlags = OFlags::RDONLY;

/// A directory Unix socket paths are granted in, held open.
#[derive(Clone, Debug)]
pub(crate) struct GrantedDir {
    /// Its canonical path.
    path: PathBuf,
    /// Its path as it was granted, made absolute, when that differs.
    alias: Option<PathBuf>,
    dir: Arc<OwnedFd>,
}

impl GrantedDir {
    /// Its canonical path.
    pub(crate) fn path(&self) -> &Path {
        &self.path
    }
}

/// Why a directory cannot be granted.
#[derive(Debug)]
pub(crate) enum GrantError {
    Io(std::io::Error),
    NotADirectory,
    /// Anybody can create entries in it (`/tmp`): granting it lets the
    /// guest reach every socket any user puts there.
    WorldWritable,
    /// `/proc/self/fd` is missing: paths cannot be pinned.
    NoProcFs,
}

impl std::fmt::Display for GrantError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            GrantError::Io(e) => e.fmt(f),
            GrantError::NotADirectory => f.write_str("not a directory"),
            GrantError::WorldWritable => f.write_str(
                "the directory is world-writable, so a grant would reach every user's sockets in it; \
                 grant a private directory (mode 0700) instead, or force it with --allow-unix-shared",
            ),
            GrantError::NoProcFs => f.write_str(
                "/proc/self/fd is not available, and Unix paths cannot be confined without it",
            ),
        }
    }
}

impl From<GrantError> for std::io::Error {
    fn from(e: GrantError) -> std::io::Error {
        match e {
            GrantError::Io(e) => e,
            GrantError::NotADirectory => {
                std::io::Error::new(std::io::ErrorKind::NotADirectory, e.to_string())
            }
            other => std::io::Error::new(std::io::ErrorKind::PermissionDenied, other.to_string()),
        }
    }
}

impl GrantedDir {
    /// Opens `dir` to grant it. A world-writable directory is refused
    /// unless `shared`.
    pub(crate) fn open(dir: &Path, shared: bool) -> Result<GrantedDir, GrantError> {
        if !Path::new(FD_DIR).is_dir() {
            return Err(GrantError::NoProcFs);
        }
        let path = std::fs::canonicalize(dir).map_err(GrantError::Io)?;
        let fd = rustix::fs::open(
            &path,
            PATH_ONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .map_err(|e| match e {
            rustix::io::Errno::NOTDIR => GrantError::NotADirectory,
            e => GrantError::Io(e.into()),
        })?;
        let stat = rustix::fs::fstat(&fd).map_err(|e| GrantError::Io(e.into()))?;
        if stat.st_mode & 0o002 != 0 && !shared {
            return Err(GrantError::WorldWritable);
        }
        let given = std::path::absolute(dir).map_err(GrantError::Io)?;
        Ok(GrantedDir {
            alias: (given != path).then_some(given),
            path,
            dir: Arc::new(fd),
        })
    }

    /// The path beneath this directory that `path` names, if it starts
    /// with the directory's path (canonical or as granted).
    fn relative<'p>(&self, path: &'p Path) -> Option<&'p Path> {
        path.strip_prefix(&self.path)
            .ok()
            .or_else(|| path.strip_prefix(self.alias.as_ref()?).ok())
    }
}

/// Why a Unix path is refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum PathRefusal {
    /// Outside every granted directory, through a symlink or `..`, or
    /// relative.
    Denied,
    /// Inside a granted directory, but a directory on the way (or, to
    /// connect to, the socket file) does not exist.
    Missing,
    /// Not a path that names a socket (`/`, a granted directory itself, a
    /// trailing `/`), or too long once pinned.
    Invalid,
}

/// What a confined path needs kept open while the kernel uses its name.
#[derive(Clone, Debug)]
enum Pin {
    Granted(Arc<OwnedFd>),
    Walked(Arc<OwnedFd>),
}

impl Pin {
    fn fd(&self) -> &OwnedFd {
        match self {
            Pin::Granted(fd) | Pin::Walked(fd) => fd,
        }
    }
}

/// A Unix path resolved beneath a granted directory: the name to hand the
/// kernel and the descriptor that name goes through.
#[derive(Debug)]
pub(crate) struct ConfinedPath {
    /// `/proc/self/fd/N/NAME` (to bind) or `/proc/self/fd/N` (to connect).
    pub(crate) kernel_name: Vec<u8>,
    /// The path as the guest gave it.
    guest_name: Vec<u8>,
    pin: Pin,
}

/// Whether the path names a socket to create (bind) or one that exists
/// (connect, send).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum PathUse {
    Create,
    Existing,
}

/// Resolves `path` beneath the first of `grants` it lies in, without
/// following any symlink.
pub(crate) fn confine(
    grants: &[GrantedDir],
    path: &Path,
    use_: PathUse,
) -> Result<ConfinedPath, PathRefusal> {
    let name = final_name(path)?;
    if !path.is_absolute() {
        return Err(PathRefusal::Denied);
    }
    let (grant, relative) = grants
        .iter()
        .find_map(|grant| Some((grant, grant.relative(path)?)))
        .ok_or(PathRefusal::Denied)?;
    let mut components = Vec::new();
    for component in relative.components() {
        match component {
            Component::Normal(part) => components.push(part),
            Component::CurDir => {}
            // `..` could climb out of the grant; a root or prefix cannot
            // appear in a relative path.
            _ => return Err(PathRefusal::Denied),
        }
    }
    // The final name came from the same path: it is the last component.
    let Some((_, directories)) = components.split_last() else {
        return Err(PathRefusal::Invalid);
    };
    let mut dir = Pin::Granted(grant.dir.clone());
    for part in directories {
        let next = rustix::fs::openat(
            dir.fd(),
            *part,
            PATH_ONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .map_err(walk_refusal)?;
        dir = Pin::Walked(Arc::new(next));
    }
    match use_ {
        PathUse::Create => {
            let mut kernel_name = fd_name(dir.fd());
            kernel_name.push(b'/');
            kernel_name.extend_from_slice(name.as_bytes());
            Ok(ConfinedPath {
                kernel_name,
                guest_name: path.as_os_str().as_bytes().to_vec(),
                pin: dir,
            })
        }
        PathUse::Existing => {
            let file = rustix::fs::openat(
                dir.fd(),
                name,
                PATH_ONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                Mode::empty(),
            )
            .map_err(walk_refusal)?;
            let stat = rustix::fs::fstat(&file).map_err(walk_refusal)?;
            // O_PATH | O_NOFOLLOW opens a symlink itself; the kernel would
            // follow it through /proc/self/fd.
            if FileType::from_raw_mode(stat.st_mode) == FileType::Symlink {
                return Err(PathRefusal::Denied);
            }
            Ok(ConfinedPath {
                kernel_name: fd_name(&file),
                guest_name: path.as_os_str().as_bytes().to_vec(),
                pin: Pin::Walked(Arc::new(file)),
            })
        }
    }
}

/// `/proc/PID/fd/N`.
fn fd_name(fd: impl AsFd) -> Vec<u8> {
    format!("{}{}", fd_prefix(), fd.as_fd().as_raw_fd()).into_bytes()
}

/// A missing component is `Missing` (the guest may see what is in its
/// grant); a symlink, a file where a directory should be, or anything else
/// is `Denied`.
fn walk_refusal(e: rustix::io::Errno) -> PathRefusal {
    if e == rustix::io::Errno::NOENT {
        PathRefusal::Missing
    } else {
        PathRefusal::Denied
    }
}

/// The last component of a path that names a socket file.
fn final_name(path: &Path) -> Result<&OsStr, PathRefusal> {
    let bytes = path.as_os_str().as_bytes();
    // `Path` forgets a trailing `/` or `/.`; the kernel does not.
    if bytes.ends_with(b"/") || bytes.ends_with(b"/.") || bytes == b"." {
        return Err(PathRefusal::Invalid);
    }
    match path.components().next_back() {
        Some(Component::Normal(name)) => Ok(name),
        _ => Err(PathRefusal::Invalid),
    }
}

/// A socket the host bound through a pinned directory: registers the
/// kernel's name for it with the guest's, until dropped. Shared by the
/// socket and the connections it accepts.
#[derive(Debug)]
pub(crate) struct UnixBinding {
    kernel_name: Vec<u8>,
    /// Keeps the directory, and so the number in `kernel_name`, open.
    _pin: Pin,
}

/// Kernel names of bound sockets, each with the guest's name and how many
/// live bindings hold it (a name can be bound again once its file is
/// removed, through the same descriptor).
type Names = HashMap<Vec<u8>, (Vec<u8>, usize)>;

fn registry() -> &'static Mutex<Names> {
    static NAMES: OnceLock<Mutex<Names>> = OnceLock::new();
    NAMES.get_or_init(Mutex::default)
}

impl UnixBinding {
    /// Registers the bind of `confined`, which the socket is now bound to.
    pub(crate) fn register(confined: ConfinedPath) -> UnixBinding {
        let mut names = registry().lock().unwrap_or_else(|e| e.into_inner());
        let entry = names
            .entry(confined.kernel_name.clone())
            .or_insert_with(|| (Vec::new(), 0));
        entry.0 = confined.guest_name;
        entry.1 += 1;
        UnixBinding {
            kernel_name: confined.kernel_name,
            _pin: confined.pin,
        }
    }
}

impl Drop for UnixBinding {
    fn drop(&mut self) {
        let mut names = registry().lock().unwrap_or_else(|e| e.into_inner());
        if let Some(entry) = names.get_mut(&self.kernel_name) {
            entry.1 -= 1;
            if entry.1 == 0 {
                names.remove(&self.kernel_name);
            }
        }
    }
}

/// The name a guest knows for the Unix path `kernel_name` the kernel
/// reported: the guest's own for a socket this host bound, none (unnamed)
/// for a descriptor name no live binding holds, else `kernel_name` itself.
pub(crate) fn guest_name(kernel_name: &[u8]) -> Option<Vec<u8>> {
    if kernel_name.starts_with(fd_prefix().as_bytes()) {
        let names = registry().lock().unwrap_or_else(|e| e.into_inner());
        return names.get(kernel_name).map(|(guest, _)| guest.clone());
    }
    Some(kernel_name.to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Scratch(PathBuf);

    impl Scratch {
        fn new(name: &str) -> Scratch {
            let path = std::env::temp_dir()
                .join(format!("witsock-unix-path-{name}-{}", std::process::id()));
            let _ = std::fs::remove_dir_all(&path);
            std::fs::create_dir_all(&path).unwrap();
            Scratch(std::fs::canonicalize(path).unwrap())
        }
    }

    impl Drop for Scratch {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    fn refusal(grants: &[GrantedDir], path: &Path, use_: PathUse) -> Option<PathRefusal> {
        confine(grants, path, use_).err()
    }

    #[test]
    fn paths_resolve_beneath_the_grant_without_symlinks() {
        let root = Scratch::new("walk");
        let granted = root.0.join("granted");
        let outside = root.0.join("outside");
        std::fs::create_dir_all(granted.join("sub")).unwrap();
        std::fs::create_dir_all(&outside).unwrap();
        std::os::unix::fs::symlink(&outside, granted.join("escape")).unwrap();
        std::os::unix::fs::symlink("../outside", granted.join("relative-escape")).unwrap();
        std::os::unix::fs::symlink(granted.join("sub"), granted.join("inside-link")).unwrap();
        std::os::unix::fs::symlink(outside.join("s.sock"), granted.join("link.sock")).unwrap();
        std::fs::write(granted.join("sub/plain"), b"").unwrap();
        let grants = [GrantedDir::open(&granted, false).unwrap()];
        use PathRefusal::*;
        use PathUse::*;

        let bind = confine(&grants, &granted.join("sub/a.sock"), Create).unwrap();
        assert!(bind.kernel_name.starts_with(fd_prefix().as_bytes()));
        assert!(!bind.kernel_name.starts_with(b"/proc/self/"));
        assert!(bind.kernel_name.ends_with(b"/a.sock"));
        let connect = confine(&grants, &granted.join("sub/plain"), Existing).unwrap();
        assert!(!connect.kernel_name.ends_with(b"plain"));

        for (path, use_, expected) in [
            (granted.join("missing/a.sock"), Create, Missing),
            (granted.join("sub/missing.sock"), Existing, Missing),
            (granted.join("sub/../a.sock"), Create, Denied),
            (granted.join("../outside/a.sock"), Create, Denied),
            (granted.join("escape/a.sock"), Create, Denied),
            (granted.join("relative-escape/a.sock"), Existing, Denied),
            (granted.join("inside-link/a.sock"), Create, Denied),
            (granted.join("link.sock"), Existing, Denied),
            (granted.join("sub/plain/a.sock"), Create, Denied),
            (outside.join("a.sock"), Create, Denied),
            (PathBuf::from("granted/a.sock"), Create, Denied),
            (granted.clone(), Create, Invalid),
            (granted.join("a.sock/"), Create, Invalid),
            (PathBuf::from("/"), Create, Invalid),
        ] {
            assert_eq!(
                refusal(&grants, &path, use_),
                Some(expected),
                "{} for {use_:?}",
                path.display()
            );
        }
    }

    #[test]
    fn world_writable_directories_need_to_be_forced() {
        use std::os::unix::fs::PermissionsExt;
        let root = Scratch::new("shared");
        std::fs::set_permissions(&root.0, std::fs::Permissions::from_mode(0o1777)).unwrap();
        assert!(matches!(
            GrantedDir::open(&root.0, false),
            Err(GrantError::WorldWritable)
        ));
        assert!(GrantedDir::open(&root.0, true).is_ok());
        let file = root.0.join("file");
        std::fs::write(&file, b"").unwrap();
        assert!(matches!(
            GrantedDir::open(&file, false),
            Err(GrantError::NotADirectory)
        ));
    }

    #[test]
    fn kernel_names_of_bound_sockets_read_back_as_the_guests() {
        let root = Scratch::new("names");
        let grants = [GrantedDir::open(&root.0, false).unwrap()];
        let guest = root.0.join("a.sock");
        let confined = confine(&grants, &guest, PathUse::Create).unwrap();
        let kernel = confined.kernel_name.clone();
        let binding = UnixBinding::register(confined);
        assert_eq!(
            guest_name(&kernel).as_deref(),
            Some(guest.as_os_str().as_bytes())
        );
        drop(binding);
        // Gone: the number may be reused, so the name means nothing now.
        assert_eq!(guest_name(&kernel), None);
        assert_eq!(
            guest_name(b"/elsewhere/x.sock").as_deref(),
            Some(&b"/elsewhere/x.sock"[..])
        );
    }
}
