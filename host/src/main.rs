//! `witsock-host`: run a wasm32-wasip2 component under a socket policy, or
//! the conformance matrix across witsock's backends.

use std::ffi::{OsStr, OsString};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use witsock_conformance::differential::Program;
use witsock_conformance::Backend;
use witsock_host::conformance::{Column, Matrix};
use witsock_host::differential;
use witsock_host::imports::WitsockRunOptions;
use witsock_host::{imports, layout};
use witsock_host::{
    AddressRule, CompileCache, Guest, GuestLimits, GuestStatus, LoadOptions, Policy, Stdio,
    WitsockGuest, WitsockPolicy,
};

const USAGE: &str = "\
usage: witsock-host run GUEST.wasm [--allow-bind RULE]... [--allow-connect RULE]... [--allow-lookup]
                            [--allow-unix DIR]... [--allow-unix-shared DIR]...
                            [--max-sockets N] [--max-memory SIZE] [--max-wall-time SECONDS]
                            [--no-compile-cache] [-- ARGS...]
       witsock-host conformance [--guest GUEST.wasm] [--imports-guest GUEST.wasm] [--filter NAME]
                                [--matrix-file FILE.md]
       witsock-host differential [--guest GUEST.wasm] [--imports-guest GUEST.wasm]
                                 [--programs N] [--seed FIRST] [--length OPS] [--program TEXT]

A RULE is ADDRESS[/PREFIX]:PORTS, e.g. 127.0.0.1:8080, 127.0.0.0/8:*, [::1]:1024-65535.
Without rules the guest has no network. `run` serves both wasi:sockets
and the witsock interface (`witsock:sockets/sockets`, imported by guests
built with `--features witsock/imports`), under the same rules:
--allow-bind RULE     bind (and listen) on the addresses of RULE
--allow-connect RULE  connect, send datagrams to and receive them from
                      the addresses of RULE
--allow-lookup        name lookup
--allow-unix DIR      Unix sockets inside the existing private directory
                      DIR (witsock interface only), preopened for the
                      guest at its absolute path; a world-writable
                      directory such as /tmp is refused
--allow-unix-shared DIR
                      the same for a world-writable DIR: the guest reaches
                      every socket any user puts there
--max-sockets N       the most sockets the guest may hold at once, on each
                      interface (default 1024)
--max-memory SIZE     the most all linear memories of the guest may grow
                      to together, in bytes or with a K, M or G suffix
                      (default 1G)
--max-wall-time SECONDS
                      stop the guest after this long (default: no limit);
                      one blocked in a host call is stopped half a second
                      later, with exit code 134
--no-compile-cache    compile the guest even if it was compiled before
                      (by default compiled guests are kept, and loaded
                      next time, in $WITSOCK_HOST_CACHE_DIR, else
                      $XDG_CACHE_HOME/witsock-host, else
                      ~/.cache/witsock-host; a cache that is not private
                      to this user is not used)
With any RULE, a listener accepts connections from any peer. `run` exits
with the guest's code (134 when it traps). Arguments for the guest must
be UTF-8: WASI passes them as strings.

`conformance` runs the shared cases (those whose name contains NAME) on
three backends: natively in this process; in the guest suite on
wasi:sockets (--guest); and in the guest suite built with
`--features witsock/imports`, its sockets served by this host
(--imports-guest; its Unix sockets go to a fresh temporary directory,
removed afterwards). The guests are by default the ones `cargo xtask
conformance` builds next to this binary (<target>/release/witsock-host):
  <target>/wasm32-wasip2/release/witsock-guest-tests.wasm
  <target>/witsock-imports-guests/wasm32-wasip2/release/witsock-guest-tests.wasm
It prints a summary per area and backend, the cases that do not pass
everywhere (failures, and unsupported cells with their reasons), the
capability matrix and the run times, writes the whole matrix as
Markdown to FILE.md when asked, and exits 1 if any cell fails.

`differential` runs seeded random programs of socket operations (N of
them, default 1000, from seed FIRST, default 1, OPS operations each,
default 40), or the one program TEXT, natively in this process and in
both guest suites, and compares every outcome with the native one. A
difference the guest's capabilities do not declare is a disagreement:
its program is shrunk to the shortest that still disagrees and printed
with both sides' outcomes. Exits 1 if there is one.";

/// Exit code for a trapped guest, as for a process killed by SIGABRT.
const TRAP_EXIT: u8 = 134;
/// How long past `--max-wall-time` a guest blocked in a host call is given
/// before the process ends (a guest running its own code traps at the
/// deadline itself).
const WALL_TIME_GRACE: Duration = Duration::from_millis(500);

/// Exit code for bad usage or a guest that cannot be loaded.
const USAGE_EXIT: u8 = 2;

fn main() -> ExitCode {
    // Arguments as the OS gives them: a path need not be UTF-8, and an
    // argument that must be is refused with a message, not a panic.
    let args: Vec<OsString> = std::env::args_os().skip(1).collect();
    let result = match args.first().map(|a| a.to_str()) {
        Some(Some("run")) => parse_run(&args[1..]).and_then(run),
        Some(Some("conformance")) => parse_conformance(&args[1..]).and_then(conformance),
        Some(Some("differential")) => parse_differential(&args[1..]).and_then(differential),
        Some(Some("help" | "-h" | "--help")) => {
            println!("{USAGE}");
            Ok(ExitCode::SUCCESS)
        }
        Some(_) => Err(Failure::usage(format!(
            "unknown command `{}`",
            args[0].to_string_lossy()
        ))),
        None => Err(Failure::usage("no command given".to_string())),
    };
    match result {
        Ok(code) => code,
        Err(failure) => {
            eprintln!("witsock-host: {}", failure.message);
            if failure.show_usage {
                eprintln!("{USAGE}");
            }
            ExitCode::from(failure.exit)
        }
    }
}

/// `value` as text, or a usage error naming `what` it is.
fn utf8<'a>(value: &'a OsStr, what: &str) -> Result<&'a str, Failure> {
    value.to_str().ok_or_else(|| {
        Failure::error(format!(
            "{what} `{}` is not valid UTF-8",
            value.to_string_lossy()
        ))
    })
}

/// A reason to stop, with the exit code.
struct Failure {
    message: String,
    exit: u8,
    show_usage: bool,
}

impl Failure {
    fn usage(message: String) -> Failure {
        Failure {
            message,
            exit: USAGE_EXIT,
            show_usage: true,
        }
    }

    fn error(message: impl ToString) -> Failure {
        Failure {
            message: message.to_string(),
            exit: USAGE_EXIT,
            show_usage: false,
        }
    }
}

struct RunArgs {
    guest: PathBuf,
    policy: Policy,
    /// The `--allow-unix` and `--allow-unix-shared` directories, as given,
    /// each with whether it may be world-writable.
    unix_dirs: Vec<(PathBuf, bool)>,
    limits: GuestLimits,
    /// Where compiled guests are cached.
    compile_cache: CompileCache,
    guest_args: Vec<String>,
}

fn parse_run(args: &[OsString]) -> Result<RunArgs, Failure> {
    let mut guest = None;
    let mut policy = Policy::deny_all();
    let mut unix_dirs = Vec::new();
    let mut limits = GuestLimits::default();
    let mut compile_cache = CompileCache::User;
    let mut iter = args.iter();
    while let Some(arg) = iter.next() {
        let mut value = |what: &str| {
            iter.next()
                .ok_or_else(|| Failure::usage(format!("{} needs {what}", arg.to_string_lossy())))
        };
        match arg.to_str() {
            Some(flag @ ("--allow-bind" | "--allow-connect")) => {
                let rule: AddressRule = utf8(value("a RULE")?, "the rule")?
                    .parse()
                    .map_err(Failure::error)?;
                policy = if flag == "--allow-bind" {
                    policy.allow_bind(rule)
                } else {
                    policy.allow_connect(rule)
                };
            }
            Some("--allow-lookup") => policy = policy.allow_ip_name_lookup(true),
            Some(flag @ ("--allow-unix" | "--allow-unix-shared")) => {
                let dir = value("a DIR")?;
                // The guest is given the directory at the same path, as a
                // string.
                utf8(dir, "the directory")?;
                unix_dirs.push((PathBuf::from(dir), flag == "--allow-unix-shared"));
            }
            Some("--max-sockets") => {
                let text = utf8(value("N")?, "the count")?;
                let max: usize = text.parse().map_err(|_| {
                    Failure::error(format!("--max-sockets `{text}` is not a count"))
                })?;
                policy = policy.with_max_sockets(max);
            }
            Some("--max-memory") => {
                limits.max_memory = parse_size(utf8(value("a SIZE")?, "the size")?)?;
            }
            Some("--max-wall-time") => {
                let text = utf8(value("SECONDS")?, "the time")?;
                let seconds: f64 = text
                    .parse()
                    .ok()
                    .filter(|s: &f64| s.is_finite() && *s > 0.0)
                    .ok_or_else(|| {
                        Failure::error(format!(
                            "--max-wall-time `{text}` is not a positive number of seconds"
                        ))
                    })?;
                limits.max_wall_time = Some(
                    Duration::try_from_secs_f64(seconds)
                        .map_err(|e| Failure::error(format!("--max-wall-time `{text}`: {e}")))?,
                );
            }
            Some("--no-compile-cache") => compile_cache = CompileCache::Disabled,
            Some("--") => break,
            _ if arg.as_encoded_bytes().starts_with(b"-") => {
                return Err(Failure::usage(format!(
                    "unknown option `{}`",
                    arg.to_string_lossy()
                )))
            }
            _ if guest.is_none() => guest = Some(PathBuf::from(arg)),
            _ => {
                return Err(Failure::usage(format!(
                    "unexpected argument `{}` (guest arguments go after `--`)",
                    arg.to_string_lossy()
                )))
            }
        }
    }
    let guest_args = iter
        .enumerate()
        .map(|(i, arg)| utf8(arg, &format!("guest argument {}", i + 1)).map(str::to_string))
        .collect::<Result<_, _>>()?;
    Ok(RunArgs {
        guest: guest.ok_or_else(|| Failure::usage("no GUEST.wasm given".to_string()))?,
        policy,
        unix_dirs,
        limits,
        compile_cache,
        guest_args,
    })
}

/// A size in bytes: a number with an optional K, M or G (binary) suffix.
fn parse_size(text: &str) -> Result<usize, Failure> {
    let (digits, shift) = match text.char_indices().last() {
        Some((i, 'K' | 'k')) => (&text[..i], 10),
        Some((i, 'M' | 'm')) => (&text[..i], 20),
        Some((i, 'G' | 'g')) => (&text[..i], 30),
        _ => (text, 0),
    };
    digits
        .parse::<usize>()
        .ok()
        .and_then(|n| n.checked_mul(1usize << shift))
        .filter(|&n| n > 0)
        .ok_or_else(|| {
            Failure::error(format!(
                "--max-memory `{text}` is not a size (bytes, or a number with K, M or G)"
            ))
        })
}

fn run(args: RunArgs) -> Result<ExitCode, Failure> {
    // The directories are checked before the guest loads, as the rules are.
    let mut witsock = WitsockPolicy::from_wasi_policy(&args.policy);
    let mut preopens = Vec::with_capacity(args.unix_dirs.len());
    for (dir, shared) in &args.unix_dirs {
        let flag = if *shared {
            "--allow-unix-shared"
        } else {
            "--allow-unix"
        };
        let granted = std::fs::canonicalize(dir)
            .and_then(|canonical| {
                let policy = std::mem::take(&mut witsock);
                witsock = if *shared {
                    policy.allow_shared_unix_dir(&canonical)?
                } else {
                    policy.allow_unix_dir(&canonical)?
                };
                Ok(canonical)
            })
            .map_err(|e| Failure::error(format!("{flag} {}: {e}", dir.display())))?;
        preopens.push(granted);
    }
    // The witsock imports are linked next to wasmtime-wasi: a guest that
    // imports only wasi:sockets runs as it would without them.
    let load = LoadOptions {
        compile_cache: args.compile_cache,
    };
    let guest = WitsockGuest::load_with(&args.guest, &load).map_err(Failure::error)?;
    if let Some(limit) = args.limits.max_wall_time {
        // The run's deadline stops guest code; a guest blocked in a host
        // call (a blocking accept, receive or wait) is stopped here, a
        // moment later, with the whole process.
        let guest_path = args.guest.display().to_string();
        std::thread::spawn(move || {
            std::thread::sleep(limit + WALL_TIME_GRACE);
            eprintln!(
                "witsock-host: {guest_path} stopped: --max-wall-time of {} s passed while it waited in a host call",
                limit.as_secs_f64()
            );
            std::process::exit(i32::from(TRAP_EXIT));
        });
    }
    let outcome = guest
        .run(&WitsockRunOptions {
            args: args.guest_args,
            preopens,
            witsock,
            wasi: args.policy,
            stdout: Stdio::Inherit,
            stderr: Stdio::Inherit,
            limits: args.limits,
            ..WitsockRunOptions::default()
        })
        .map_err(Failure::error)?;
    match outcome.status {
        GuestStatus::Exited(code) => Ok(ExitCode::from(u8::try_from(code).unwrap_or(1))),
        GuestStatus::Trapped(why) => Err(Failure {
            message: format!("{} trapped: {why}", args.guest.display()),
            exit: TRAP_EXIT,
            show_usage: false,
        }),
    }
}

struct ConformanceArgs {
    guest: PathBuf,
    imports_guest: PathBuf,
    filter: Option<String>,
    /// Where to write the whole matrix as Markdown.
    matrix_file: Option<PathBuf>,
}

/// Reads `--flag VALUE` pairs: each flag of `flags` at most once, in any
/// order; anything else is a usage error.
fn flag_values<const N: usize>(
    args: &[OsString],
    flags: [&str; N],
) -> Result<[Option<OsString>; N], Failure> {
    let mut values: [Option<OsString>; N] = std::array::from_fn(|_| None);
    let mut iter = args.iter();
    while let Some(arg) = iter.next() {
        let Some(index) = arg
            .to_str()
            .and_then(|a| flags.iter().position(|f| *f == a))
        else {
            return Err(Failure::usage(format!(
                "unexpected argument `{}`",
                arg.to_string_lossy()
            )));
        };
        let value = iter
            .next()
            .ok_or_else(|| Failure::usage(format!("{} needs a value", arg.to_string_lossy())))?;
        if let Some(slot) = values.get_mut(index) {
            *slot = Some(value.clone());
        }
    }
    Ok(values)
}

/// The two guest suites: as given, or where `cargo xtask` builds them.
fn guest_paths(
    guest: Option<OsString>,
    imports_guest: Option<OsString>,
) -> Result<(PathBuf, PathBuf), Failure> {
    let guest = match guest {
        Some(path) => PathBuf::from(path),
        None => layout::wasi_guest_suite(&host_target_dir("--guest")?),
    };
    let imports_guest = match imports_guest {
        Some(path) => PathBuf::from(path),
        None => layout::imports_guest_suite(&host_target_dir("--imports-guest")?),
    };
    Ok((guest, imports_guest))
}

fn parse_conformance(args: &[OsString]) -> Result<ConformanceArgs, Failure> {
    let [guest, imports_guest, filter, matrix_file] = flag_values(
        args,
        ["--guest", "--imports-guest", "--filter", "--matrix-file"],
    )?;
    let filter = filter
        .map(|f| utf8(&f, "the filter").map(str::to_string))
        .transpose()?;
    let (guest, imports_guest) = guest_paths(guest, imports_guest)?;
    Ok(ConformanceArgs {
        guest,
        imports_guest,
        filter,
        matrix_file: matrix_file.map(PathBuf::from),
    })
}

struct DifferentialArgs {
    guest: PathBuf,
    imports_guest: PathBuf,
    settings: differential::Settings,
    program: Option<Program>,
}

fn parse_differential(args: &[OsString]) -> Result<DifferentialArgs, Failure> {
    let [guest, imports_guest, programs, seed, length, program] = flag_values(
        args,
        [
            "--guest",
            "--imports-guest",
            "--programs",
            "--seed",
            "--length",
            "--program",
        ],
    )?;
    let number = |value: Option<OsString>, flag: &str, default: u64| -> Result<u64, Failure> {
        match value {
            None => Ok(default),
            Some(v) => utf8(&v, flag)?
                .parse()
                .map_err(|_| Failure::usage(format!("{flag} takes a number"))),
        }
    };
    let program = program
        .map(|p| Program::parse(utf8(&p, "--program")?).map_err(Failure::usage))
        .transpose()?;
    let (guest, imports_guest) = guest_paths(guest, imports_guest)?;
    let len = number(length, "--length", 40)?;
    Ok(DifferentialArgs {
        guest,
        imports_guest,
        settings: differential::Settings {
            first_seed: number(seed, "--seed", 1)?,
            programs: number(programs, "--programs", 1000)?,
            len: usize::try_from(len).map_err(|e| Failure::usage(format!("--length: {e}")))?,
            max_reported: 3,
        },
        program,
    })
}

/// Both guest suites, loaded before anything runs so that a missing or
/// broken one stops the command at once, and a directory for the imports
/// guest's Unix sockets.
fn load_guests(
    guest: &Path,
    imports_guest: &Path,
) -> Result<(Guest, WitsockGuest, ScratchDir), Failure> {
    let guest = Guest::load(guest).map_err(Failure::error)?;
    let imports_guest = WitsockGuest::load(imports_guest).map_err(Failure::error)?;
    let unix_dir = ScratchDir::new().map_err(|e| {
        Failure::error(format!(
            "cannot create a directory for the guest's Unix sockets: {e}"
        ))
    })?;
    Ok((guest, imports_guest, unix_dir))
}

fn differential(args: DifferentialArgs) -> Result<ExitCode, Failure> {
    let (guest, imports_guest, unix_dir) = load_guests(&args.guest, &args.imports_guest)?;
    let subjects = [
        differential::Subject::Wasi(&guest),
        differential::Subject::Imports(&imports_guest, unix_dir.path()),
    ];
    let mut failed = false;
    match &args.program {
        Some(program) => {
            for subject in &subjects {
                match differential::compare_program(subject, program).map_err(Failure::error)? {
                    Some(d) => {
                        failed = true;
                        print!("{}", d.render());
                    }
                    None => println!("agrees: {program}"),
                }
            }
        }
        None => {
            let s = args.settings;
            println!(
                "differential: {} programs of {} operations from seed {}, against native-linux",
                s.programs, s.len, s.first_seed
            );
            for subject in &subjects {
                let summary = differential::compare(subject, s).map_err(Failure::error)?;
                failed |= !summary.disagreements.is_empty();
                print!("{}", summary.render());
            }
        }
    }
    unix_dir.remove().map_err(|e| {
        Failure::error(format!(
            "cannot remove the Unix socket directory {}: {e}",
            unix_dir.path().display()
        ))
    })?;
    if failed {
        Err(Failure {
            message: "differential: undeclared disagreements".into(),
            exit: 1,
            show_usage: false,
        })
    } else {
        Ok(ExitCode::SUCCESS)
    }
}

/// The target directory this program was built in: `<target>` of the
/// `<target>/<profile>/witsock-host` that is running. `flag` is the option
/// that names a guest instead.
fn host_target_dir(flag: &str) -> Result<PathBuf, Failure> {
    let exe = std::env::current_exe()
        .map_err(|e| Failure::error(format!("cannot find this program's path: {e}")))?;
    exe.parent()
        .and_then(|profile_dir| profile_dir.parent())
        .map(Path::to_path_buf)
        .ok_or_else(|| Failure::usage(format!("cannot find the guest suite: pass {flag}")))
}

fn conformance(args: ConformanceArgs) -> Result<ExitCode, Failure> {
    let filter = args.filter.as_deref();
    let (guest, imports_guest, unix_dir) = load_guests(&args.guest, &args.imports_guest)?;

    let native = Column::native(filter);
    let wasi = Column::guest(&guest, filter).map_err(Failure::error)?;
    let mut imports = imports::conformance_column(&imports_guest, filter, unix_dir.path())
        .map_err(Failure::error)?;
    let expected = Backend::WitsockImports.name();
    if imports.backend != expected && imports.problem.is_none() {
        imports.problem = Some(format!(
            "{} reports the {} backend, not {expected}: build it with `--features {}`",
            imports_guest.path().display(),
            imports.backend,
            layout::IMPORTS_FEATURE,
        ));
    }
    let cleanup = unix_dir.remove();

    let compiled = [
        (&wasi.backend, guest.path(), guest.compile_time()),
        (
            &imports.backend,
            imports_guest.path(),
            imports_guest.compile_time(),
        ),
    ]
    .map(|(backend, path, time)| {
        format!(
            "{backend} guest suite {}: compiled in {} ms",
            path.display(),
            time.as_millis()
        )
    });
    let matrix = Matrix::new(vec![native, wasi, imports]);
    print!("{}", matrix.render());
    if let Some(path) = &args.matrix_file {
        std::fs::write(path, matrix.render_markdown()).map_err(|e| {
            Failure::error(format!(
                "cannot write the matrix to {}: {e}",
                path.display()
            ))
        })?;
        println!("the whole matrix: {}", path.display());
    }
    for line in compiled {
        println!("{line}");
    }
    cleanup.map_err(|e| {
        Failure::error(format!(
            "cannot remove the Unix socket directory {}: {e}",
            unix_dir.path().display()
        ))
    })?;
    let failures = matrix.failures();
    if failures == 0 {
        Ok(ExitCode::SUCCESS)
    } else {
        Err(Failure {
            message: format!("conformance: {failures} failure(s)"),
            exit: 1,
            show_usage: false,
        })
    }
}

/// A fresh, private directory under the system's temporary directory,
/// removed with everything in it by [`remove`](ScratchDir::remove) or, on
/// any early return, on drop.
struct ScratchDir {
    path: PathBuf,
}

impl ScratchDir {
    fn new() -> std::io::Result<ScratchDir> {
        let base = std::env::temp_dir();
        let mut attempt = 0u32;
        loop {
            // Short: a Unix socket path inside it must fit in `sun_path`.
            let path = base.join(format!("witsock-{}-{attempt}", std::process::id()));
            let mut builder = std::fs::DirBuilder::new();
            #[cfg(unix)]
            std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
            match builder.create(&path) {
                Ok(()) => {
                    // Created first, so that a failure below still removes it.
                    let mut dir = ScratchDir { path };
                    // The guest is granted the directory by this path and
                    // opens it by the same path: no symbolic link in it.
                    dir.path = std::fs::canonicalize(&dir.path)?;
                    return Ok(dir);
                }
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists && attempt < 1000 => {
                    attempt += 1;
                }
                Err(e) => return Err(e),
            }
        }
    }

    fn path(&self) -> &Path {
        &self.path
    }

    /// Removes the directory now, reporting what went wrong (dropping it
    /// afterwards does nothing more).
    fn remove(&self) -> std::io::Result<()> {
        std::fs::remove_dir_all(&self.path)
    }
}

impl Drop for ScratchDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_usage_names_the_default_guests() {
        let target = Path::new("<target>");
        for guest in [
            layout::wasi_guest_suite(target),
            layout::imports_guest_suite(target),
        ] {
            let guest = guest.display().to_string();
            assert!(USAGE.contains(&format!("  {guest}\n")), "{guest}");
        }
    }

    #[test]
    fn the_default_guests_are_next_to_the_host() {
        let args = parse_conformance(&[]).unwrap_or_else(|f| panic!("{}", f.message));
        let exe = std::env::current_exe().expect("this test's path");
        let target = exe.parent().and_then(Path::parent).expect("a target dir");
        assert_eq!(args.guest, layout::wasi_guest_suite(target));
        assert_eq!(args.imports_guest, layout::imports_guest_suite(target));
        assert_ne!(args.guest, args.imports_guest);
    }

    #[test]
    fn guests_and_filter_can_be_named() {
        let args: Vec<OsString> = [
            "--imports-guest",
            "b.wasm",
            "--filter",
            "tcp",
            "--guest",
            "a.wasm",
        ]
        .map(OsString::from)
        .to_vec();
        let args = parse_conformance(&args).unwrap_or_else(|f| panic!("{}", f.message));
        assert_eq!(args.guest, Path::new("a.wasm"));
        assert_eq!(args.imports_guest, Path::new("b.wasm"));
        assert_eq!(args.filter.as_deref(), Some("tcp"));
        let missing = parse_conformance(&["--imports-guest".into()]);
        assert!(missing.is_err_and(|f| f.exit == USAGE_EXIT && f.show_usage));
    }

    #[test]
    fn run_collects_unix_directories_and_leaves_guest_arguments_alone() {
        let args: Vec<OsString> = [
            "g.wasm",
            "--allow-unix",
            "a",
            "--allow-lookup",
            "--allow-unix",
            "b",
            "--",
            "--allow-unix",
            "c",
        ]
        .map(OsString::from)
        .to_vec();
        let args = parse_run(&args).unwrap_or_else(|f| panic!("{}", f.message));
        assert_eq!(args.guest, Path::new("g.wasm"));
        assert_eq!(
            args.unix_dirs,
            [(PathBuf::from("a"), false), (PathBuf::from("b"), false)]
        );
        assert!(args.policy.allows_ip_name_lookup());
        assert!(!args.policy.allows_sockets());
        assert_eq!(args.guest_args, ["--allow-unix", "c"]);
        assert_eq!(args.compile_cache, CompileCache::User);
    }

    #[test]
    fn run_caches_compiled_guests_unless_told_not_to() {
        let parse = |args: &[&str]| {
            let args: Vec<OsString> = args.iter().map(OsString::from).collect();
            parse_run(&args).unwrap_or_else(|f| panic!("{}", f.message))
        };
        assert_eq!(parse(&["g.wasm"]).compile_cache, CompileCache::User);
        let off = parse(&["--no-compile-cache", "g.wasm"]);
        assert_eq!(off.compile_cache, CompileCache::Disabled);
        assert_eq!(off.guest, Path::new("g.wasm"));
        // After `--` it is the guest's.
        let guests = parse(&["g.wasm", "--", "--no-compile-cache"]);
        assert_eq!(guests.compile_cache, CompileCache::User);
        assert_eq!(guests.guest_args, ["--no-compile-cache"]);
    }

    #[test]
    fn a_scratch_dir_is_fresh_private_and_removed_with_its_contents() {
        let first = ScratchDir::new().expect("a scratch dir");
        let second = ScratchDir::new().expect("another scratch dir");
        assert_ne!(first.path(), second.path());
        assert!(first.path().is_absolute());
        assert_eq!(std::fs::read_dir(first.path()).expect("listed").count(), 0);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(first.path())
                .expect("metadata")
                .permissions();
            assert_eq!(mode.mode() & 0o777, 0o700);
        }
        let inner = first.path().join("sub");
        std::fs::create_dir(&inner).expect("a subdirectory");
        std::fs::write(inner.join("file"), b"x").expect("a file");
        let (first_path, second_path) = (first.path().to_path_buf(), second.path().to_path_buf());
        first.remove().expect("removed");
        assert!(!first_path.exists());
        drop(first);
        drop(second);
        assert!(!second_path.exists());
    }
}
