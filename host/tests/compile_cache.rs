//! The compile cache: a second load of a component is a cache hit that
//! runs as the first did; a corrupt artifact is replaced; a cache that
//! cannot be written, or is not private to this user, never fails a load
//! and is not used. Every test has a cache directory of its own, never the
//! user's.

mod common;
mod imports_support;

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;

use imports_support::TempDir;
use witsock_conformance::{Outcome, Report};
use witsock_host::{
    CacheOutcome, CompileCache, Guest, LoadOptions, Policy, RunOptions, Stdio, CACHE_DIR_VAR,
};

/// The case each loaded guest runs, to show it works.
const CASE: &str = "tcp_v4_connect_accept_send_receive";

fn options(dir: &Path) -> LoadOptions {
    LoadOptions {
        compile_cache: CompileCache::Dir(dir.to_path_buf()),
    }
}

/// The guest suite, loaded with the compile cache in `dir`.
fn load(dir: &Path) -> Guest {
    Guest::load_with(common::guest_path(), &options(dir)).unwrap_or_else(|e| panic!("{e}"))
}

/// Runs [`CASE`] in `guest` and fails unless it passes.
fn assert_runs(guest: &Guest) {
    let outcome = guest
        .run(&RunOptions {
            args: vec![CASE.to_string()],
            policy: Policy::loopback(),
            stdout: Stdio::Capture,
            stderr: Stdio::Capture,
            ..RunOptions::default()
        })
        .expect("the guest runs");
    let stdout = String::from_utf8_lossy(&outcome.stdout);
    assert!(outcome.status.success(), "{:?}: {stdout}", outcome.status);
    let reports: Vec<Report> = stdout.lines().filter_map(Report::from_json_line).collect();
    assert_eq!(reports.len(), 1, "{stdout}");
    assert_eq!(reports[0].case, CASE);
    assert_eq!(reports[0].outcome, Outcome::Pass, "{stdout}");
}

/// The names in `dir`, sorted.
fn names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| {
            entry
                .expect("an entry")
                .file_name()
                .into_string()
                .expect("a UTF-8 name")
        })
        .collect();
    names.sort();
    names
}

/// The one artifact in `dir` (and nothing else there, no temporary file).
fn the_artifact(dir: &Path) -> PathBuf {
    let names = names(dir);
    assert_eq!(names.len(), 1, "{names:?}");
    assert!(names[0].ends_with(".cwasm"), "{names:?}");
    assert_eq!(names[0].len(), 64 + ".cwasm".len(), "{names:?}");
    dir.join(&names[0])
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).expect("metadata").mode() & 0o7777
}

fn assert_skipped(guest: &Guest, reason: &str) {
    match guest.cache_outcome() {
        CacheOutcome::Skipped(why) => assert!(why.contains(reason), "{why}"),
        other => panic!("expected the cache to be skipped ({reason}), got {other:?}"),
    }
    assert!(!guest.from_cache());
}

#[test]
fn the_library_loads_without_a_cache_by_default() {
    let guest = Guest::load(common::guest_path()).expect("loads");
    assert_eq!(guest.cache_outcome(), &CacheOutcome::Disabled);
    assert!(!guest.from_cache());
    assert_eq!(LoadOptions::default().compile_cache, CompileCache::Disabled);
}

#[test]
fn the_second_load_is_a_hit_and_runs_the_same() {
    let root = TempDir::new("compile-cache-hit");
    // Created by the host, private, with its parents.
    let dir = root.path().join("parent/cache");

    let first = load(&dir);
    assert_eq!(first.cache_outcome(), &CacheOutcome::Stored);
    assert!(!first.from_cache());
    assert_eq!(mode(&dir), 0o700);
    assert_eq!(mode(&root.path().join("parent")), 0o700);
    let artifact = the_artifact(&dir);
    assert_eq!(mode(&artifact), 0o600);
    let stored = std::fs::read(&artifact).expect("the artifact");
    assert_runs(&first);

    // Dated back: a hit renews the date eviction goes by.
    let long_ago = std::time::SystemTime::now() - std::time::Duration::from_secs(86400);
    std::fs::File::options()
        .write(true)
        .open(&artifact)
        .and_then(|file| file.set_modified(long_ago))
        .expect("dated back");
    let second = load(&dir);
    assert_eq!(second.cache_outcome(), &CacheOutcome::Hit);
    let used = std::fs::metadata(&artifact).expect("metadata").modified();
    assert!(used.expect("a date") > long_ago);
    assert!(second.from_cache());
    assert_runs(&second);
    // Read, not rewritten.
    assert_eq!(the_artifact(&dir), artifact);
    assert_eq!(std::fs::read(&artifact).expect("the artifact"), stored);

    // A witsock guest has the same engine: it finds the same artifact.
    let witsock = Guest::load_with(common::guest_path(), &options(&dir)).expect("loads");
    assert!(witsock.from_cache());
    assert_eq!(witsock.cache_outcome(), &CacheOutcome::Hit);
    assert_eq!(the_artifact(&dir), artifact);
}

#[test]
fn a_different_component_gets_an_artifact_of_its_own() {
    let root = TempDir::new("compile-cache-two");
    let dir = root.path().join("cache");
    load(&dir);
    let first = the_artifact(&dir);
    // The empty component: valid, another hash.
    let empty = root.path().join("empty.wasm");
    std::fs::write(&empty, b"\0asm\x0d\0\x01\0").expect("a component");
    let guest = Guest::load_with(&empty, &options(&dir)).expect("loads");
    assert_eq!(guest.cache_outcome(), &CacheOutcome::Stored);
    let names = names(&dir);
    assert_eq!(names.len(), 2, "{names:?}");
    assert!(first.exists());
    let again = Guest::load_with(&empty, &options(&dir)).expect("loads");
    assert!(again.from_cache());
}

#[test]
fn a_corrupt_artifact_is_recompiled_and_replaced() {
    let root = TempDir::new("compile-cache-corrupt");
    let dir = root.path().join("cache");
    load(&dir);
    let artifact = the_artifact(&dir);
    let good = std::fs::read(&artifact).expect("the artifact");
    let corruptions: [(&str, Vec<u8>); 4] = [
        ("garbage", b"not an artifact at all".to_vec()),
        ("truncated", good[..good.len() / 2].to_vec()),
        ("empty", Vec::new()),
        // The right header, nothing after it.
        ("header only", good[..64].to_vec()),
    ];
    for (what, bytes) in corruptions {
        std::fs::write(&artifact, &bytes).expect("corrupted");
        let guest = load(&dir);
        assert_eq!(guest.cache_outcome(), &CacheOutcome::Stored, "{what}");
        assert_runs(&guest);
        assert_eq!(the_artifact(&dir), artifact, "{what}");
        assert_eq!(std::fs::read(&artifact).expect("replaced"), good, "{what}");
        assert!(load(&dir).from_cache(), "{what}");
    }
}

#[test]
fn an_artifact_others_may_write_is_not_used_but_replaced() {
    let root = TempDir::new("compile-cache-file-mode");
    let dir = root.path().join("cache");
    load(&dir);
    let artifact = the_artifact(&dir);
    for unsafe_mode in [0o620, 0o602, 0o666] {
        std::fs::set_permissions(&artifact, std::fs::Permissions::from_mode(unsafe_mode))
            .expect("chmod");
        let guest = load(&dir);
        assert_eq!(
            guest.cache_outcome(),
            &CacheOutcome::Stored,
            "{unsafe_mode:o}"
        );
        assert_eq!(mode(&artifact), 0o600, "{unsafe_mode:o}");
        assert!(load(&dir).from_cache());
    }
}

#[test]
fn a_symbolic_link_in_place_of_an_artifact_is_not_followed() {
    let root = TempDir::new("compile-cache-symlink");
    let dir = root.path().join("cache");
    load(&dir);
    let artifact = the_artifact(&dir);
    // A valid artifact, elsewhere, linked in.
    let elsewhere = root.path().join("elsewhere.cwasm");
    std::fs::rename(&artifact, &elsewhere).expect("moved");
    std::os::unix::fs::symlink(&elsewhere, &artifact).expect("linked");
    let guest = load(&dir);
    assert_eq!(guest.cache_outcome(), &CacheOutcome::Stored);
    // The link was replaced by a file of its own.
    let meta = std::fs::symlink_metadata(&artifact).expect("metadata");
    assert!(meta.file_type().is_file(), "{meta:?}");
    assert!(elsewhere.exists());
}

#[test]
fn a_cache_dir_others_may_write_is_not_used() {
    for unsafe_mode in [0o770, 0o707, 0o777, 0o1777] {
        let root = TempDir::new("compile-cache-dir-mode");
        let dir = root.path().join("cache");
        std::fs::create_dir(&dir).expect("the directory");
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(unsafe_mode))
            .expect("chmod");
        let guest = load(&dir);
        assert_skipped(&guest, "writable by its group or others");
        assert_runs(&guest);
        assert_eq!(names(&dir), Vec::<String>::new(), "{unsafe_mode:o}");
        // Left as it was.
        assert_eq!(mode(&dir), unsafe_mode);

        // An artifact put there (by anyone who may write there) is not
        // loaded either.
        let private = root.path().join("private");
        load(&private);
        let artifact = the_artifact(&private);
        let planted = dir.join(artifact.file_name().expect("a name"));
        std::fs::copy(&artifact, &planted).expect("copied");
        let guest = load(&dir);
        assert_skipped(&guest, "writable by its group or others");
        assert_runs(&guest);
    }
}

#[test]
fn a_cache_dir_readable_by_others_is_used() {
    // Only writing matters: a directory made by a plain `mkdir`.
    let root = TempDir::new("compile-cache-dir-readable");
    let dir = root.path().join("cache");
    std::fs::create_dir(&dir).expect("the directory");
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    assert_eq!(load(&dir).cache_outcome(), &CacheOutcome::Stored);
    assert!(load(&dir).from_cache());
}

#[test]
fn a_cache_of_another_user_is_not_used() {
    // Only the superuser can give a directory away.
    let root = TempDir::new("compile-cache-owner");
    let dir = root.path().join("cache");
    load(&dir);
    let artifact = the_artifact(&dir);
    const NOBODY: u32 = 65534;
    if std::os::unix::fs::chown(&artifact, Some(NOBODY), None).is_err() {
        eprintln!("not the superuser: cannot give a file away, nothing to test");
        return;
    }
    // Another user's artifact in our directory: not loaded, replaced.
    let guest = load(&dir);
    assert_eq!(guest.cache_outcome(), &CacheOutcome::Stored);
    assert_eq!(
        std::fs::metadata(&artifact).expect("metadata").uid(),
        std::fs::metadata(root.path()).expect("metadata").uid()
    );
    // Another user's directory: not used at all.
    std::os::unix::fs::chown(&artifact, Some(NOBODY), None).expect("chown");
    std::os::unix::fs::chown(&dir, Some(NOBODY), None).expect("chown");
    let guest = load(&dir);
    assert_skipped(&guest, &format!("owned by uid {NOBODY}"));
    assert_runs(&guest);
    assert_eq!(
        std::fs::metadata(&artifact).expect("metadata").uid(),
        NOBODY
    );
}

#[test]
fn a_cache_dir_that_cannot_be_created_still_runs_the_guest() {
    let root = TempDir::new("compile-cache-uncreatable");
    let file = root.path().join("a-file");
    std::fs::write(&file, b"").expect("a file");
    let guest = load(&file.join("cache"));
    assert_skipped(&guest, "cannot create the cache directory");
    assert_runs(&guest);
    // A file where the directory should be.
    let guest = load(&file);
    assert_skipped(&guest, "cannot");
    assert_runs(&guest);
}

#[test]
fn an_artifact_that_cannot_be_written_still_runs_the_guest() {
    let root = TempDir::new("compile-cache-unwritable");
    let private = root.path().join("private");
    load(&private);
    let name = the_artifact(&private)
        .file_name()
        .expect("a name")
        .to_owned();

    // A directory, not empty, in the artifact's place: no rename replaces
    // it, whoever runs the test.
    let dir = root.path().join("cache");
    std::fs::create_dir_all(dir.join(&name).join("inside")).expect("a directory");
    let guest = load(&dir);
    assert_skipped(&guest, "cannot write to the cache directory");
    assert_runs(&guest);
    // Nothing left behind: no temporary file.
    assert_eq!(names(&dir), [name.to_string_lossy()]);

    // A directory this user may not write to (the superuser may).
    let read_only = root.path().join("read-only");
    std::fs::create_dir(&read_only).expect("a directory");
    std::fs::set_permissions(&read_only, std::fs::Permissions::from_mode(0o500)).expect("chmod");
    let writable = std::fs::write(read_only.join("probe"), b"").is_ok();
    let guest = load(&read_only);
    assert_runs(&guest);
    if writable {
        eprintln!("the superuser writes to a read-only directory: the cache is used");
        assert_eq!(guest.cache_outcome(), &CacheOutcome::Stored);
    } else {
        assert_skipped(&guest, "cannot write to the cache directory");
        assert_eq!(names(&read_only), Vec::<String>::new());
    }
    std::fs::set_permissions(&read_only, std::fs::Permissions::from_mode(0o700)).expect("chmod");
}

#[test]
fn concurrent_loads_never_see_a_partial_artifact() {
    let root = TempDir::new("compile-cache-concurrent");
    let dir = root.path().join("cache");
    let outcomes: Vec<CacheOutcome> = std::thread::scope(|scope| {
        let loads: Vec<_> = (0..3)
            .map(|_| scope.spawn(|| load(&dir).cache_outcome().clone()))
            .collect();
        loads
            .into_iter()
            .map(|load| load.join().expect("loaded"))
            .collect()
    });
    for outcome in &outcomes {
        assert!(
            matches!(outcome, CacheOutcome::Stored | CacheOutcome::Hit),
            "{outcomes:?}"
        );
    }
    the_artifact(&dir);
    assert!(load(&dir).from_cache());
}

/// Runs `witsock-host run` on the guest suite, running no case, with
/// `configure` setting its environment; returns its stderr.
fn run_cli(extra: &[&str], configure: impl FnOnce(&mut Command)) -> String {
    let guest = common::guest_path();
    let mut command = Command::new(env!("CARGO_BIN_EXE_witsock-host"));
    command
        .arg("run")
        .args(extra)
        .arg(&guest)
        .args(["--", "no_case_is_named_this"])
        .env_remove(CACHE_DIR_VAR)
        .env_remove("XDG_CACHE_HOME")
        .env_remove("HOME");
    configure(&mut command);
    let output = command.output().expect("witsock-host runs");
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    // The guest ran: it says that nothing matched, and exits 1.
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("no case matches"), "{stderr}");
    stderr
}

#[test]
fn run_caches_in_the_user_cache_directory() {
    let root = TempDir::new("compile-cache-cli");
    let explicit = root.path().join("explicit");
    let xdg = root.path().join("xdg");
    let home = root.path().join("home");
    let everything = |command: &mut Command| {
        command
            .env(CACHE_DIR_VAR, &explicit)
            .env("XDG_CACHE_HOME", &xdg)
            .env("HOME", &home);
    };
    run_cli(&[], everything);
    let artifact = the_artifact(&explicit);
    assert!(!xdg.exists() && !home.exists());
    run_cli(&[], everything);
    assert_eq!(the_artifact(&explicit), artifact);

    run_cli(&[], |command| {
        command.env("XDG_CACHE_HOME", &xdg).env("HOME", &home);
    });
    the_artifact(&xdg.join("witsock-host"));
    assert!(!home.exists());

    // A relative XDG_CACHE_HOME is ignored, as the XDG spec says.
    run_cli(&[], |command| {
        command.env("XDG_CACHE_HOME", "relative").env("HOME", &home);
    });
    the_artifact(&home.join(".cache/witsock-host"));

    // Nowhere to cache: the guest runs all the same.
    run_cli(&[], |_| {});
}

#[test]
fn run_without_the_compile_cache_writes_nothing() {
    let root = TempDir::new("compile-cache-cli-off");
    let dir = root.path().join("cache");
    run_cli(&["--no-compile-cache"], |command| {
        command.env(CACHE_DIR_VAR, &dir);
    });
    assert!(!dir.exists());
}
