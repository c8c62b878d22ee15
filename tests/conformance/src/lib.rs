//! The witsock conformance suite: one list of cases, each with its
//! expected outcome per backend, run natively by `cargo test` (see
//! `tests/conformance.rs`) and inside wasm by the guest suite.
//!
//! Cases are plain functions returning [`CaseResult`]; they never panic
//! (a panic aborts a wasm guest) and never spawn threads (wasm32-wasip2
//! has none), and every wait is bounded.

use core::fmt;
use std::borrow::Cow;
use std::sync::OnceLock;

pub mod addresses;
mod cases;
pub mod differential;
pub mod json;
pub mod matrix;
pub mod support;

pub use cases::CASES;

/// Every case: the scenarios of [`CASES`], then the cells of the
/// [state matrix](matrix), then those of the
/// [address matrix](addresses), in report order.
pub fn cases() -> &'static [Case] {
    static ALL: OnceLock<Vec<Case>> = OnceLock::new();
    ALL.get_or_init(|| {
        let scenarios = CASES.iter().map(|case| Case {
            name: case.name.clone(),
            unsupported_on: case.unsupported_on.clone(),
            run: case.run,
        });
        let cells = matrix::cells().into_iter().map(|cell| Case {
            name: Cow::Owned(cell.name()),
            unsupported_on: Cow::Owned(
                Backend::ALL
                    .iter()
                    .filter_map(|&backend| Some((backend, matrix::limit(&cell, backend)?)))
                    .collect(),
            ),
            run: CaseBody::Cell(cell),
        });
        let addresses = addresses::cells().into_iter().map(|cell| Case {
            name: Cow::Owned(cell.name()),
            unsupported_on: Cow::Owned(
                Backend::ALL
                    .iter()
                    .filter_map(|&backend| Some((backend, addresses::limit(&cell, backend)?)))
                    .collect(),
            ),
            run: CaseBody::Address(cell),
        });
        scenarios.chain(cells).chain(addresses).collect()
    })
}

/// A backend the suite runs on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Backend {
    /// The libc backend on Linux.
    NativeLinux,
    /// The libc backend on macOS.
    NativeMacos,
    /// The wasi:sockets backend on wasm32-wasip2.
    WasiP2,
    /// A wasm guest importing the witsock WIT, served by the witsock host.
    WitsockImports,
}

impl Backend {
    /// Every backend, in matrix order.
    pub const ALL: &'static [Backend] = &[
        Backend::NativeLinux,
        Backend::NativeMacos,
        Backend::WasiP2,
        Backend::WitsockImports,
    ];

    /// The backend this code was built for.
    pub fn current() -> Backend {
        match witsock::capabilities().backend {
            "native-linux" => Backend::NativeLinux,
            "native-macos" => Backend::NativeMacos,
            "wasi-p2" => Backend::WasiP2,
            _ => Backend::WitsockImports,
        }
    }

    /// The name used in reports and the matrix.
    pub const fn name(self) -> &'static str {
        match self {
            Backend::NativeLinux => "native-linux",
            Backend::NativeMacos => "native-macos",
            Backend::WasiP2 => "wasi-p2",
            Backend::WitsockImports => "witsock-imports",
        }
    }
}

/// How a case fails or finds a feature missing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CaseError {
    /// The backend returned `unsupported` or `option-not-supported`.
    Unsupported(String),
    /// The behaviour differs from the contract.
    Fail(String),
}

/// What a case body returns.
pub type CaseResult = Result<(), CaseError>;

impl From<witsock::Error> for CaseError {
    /// `?` on a witsock call: `unsupported`/`option-not-supported` become
    /// [`CaseError::Unsupported`], anything else a failure.
    fn from(e: witsock::Error) -> CaseError {
        match e.code() {
            witsock::ErrorCode::Unsupported | witsock::ErrorCode::OptionNotSupported => {
                CaseError::Unsupported(e.to_string())
            }
            _ => CaseError::Fail(e.to_string()),
        }
    }
}

/// One conformance case.
pub struct Case {
    /// A unique snake_case name.
    pub name: Cow<'static, str>,
    /// Backends where the case must observe `unsupported` /
    /// `option-not-supported`, with the reason. Everywhere else it must
    /// pass.
    pub unsupported_on: Cow<'static, [(Backend, &'static str)]>,
    /// The body.
    pub run: CaseBody,
}

/// What a case runs.
#[derive(Clone, Copy)]
pub enum CaseBody {
    /// A scenario written as a function.
    Fn(fn() -> CaseResult),
    /// A cell of the state matrix.
    Cell(matrix::Cell),
    /// A cell of the address matrix.
    Address(addresses::Cell),
}

impl CaseBody {
    /// Runs it.
    pub fn run(&self) -> CaseResult {
        match self {
            CaseBody::Fn(f) => f(),
            CaseBody::Cell(cell) => cell.run(),
            CaseBody::Address(cell) => cell.run(),
        }
    }
}

impl Case {
    /// The expected outcome on `backend`.
    pub fn expect(&self, backend: Backend) -> Expect {
        self.unsupported_on
            .iter()
            .find(|(b, _)| *b == backend)
            .map_or(Expect::Pass, |(_, why)| Expect::Unsupported(why))
    }
}

/// What a case is expected to do on a backend.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Expect {
    /// Pass.
    Pass,
    /// Observe `unsupported`, for this reason.
    Unsupported(&'static str),
}

/// What a case did, judged against its expectation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Passed as expected.
    Pass,
    /// Unsupported as expected (the declared reason).
    Unsupported(String),
    /// Anything else.
    Fail(String),
}

impl Outcome {
    /// `pass`, `unsupported` or `fail`.
    pub const fn label(&self) -> &'static str {
        match self {
            Outcome::Pass => "pass",
            Outcome::Unsupported(_) => "unsupported",
            Outcome::Fail(_) => "fail",
        }
    }

    /// The reason or failure message, empty for a pass.
    pub fn detail(&self) -> &str {
        match self {
            Outcome::Pass => "",
            Outcome::Unsupported(s) | Outcome::Fail(s) => s,
        }
    }
}

/// Runs one case on the current backend and judges it.
pub fn run_case(case: &Case) -> Outcome {
    judge(case.expect(Backend::current()), case.run.run())
}

/// Judges a case's result against its expectation.
pub fn judge(expect: Expect, result: CaseResult) -> Outcome {
    match (expect, result) {
        (Expect::Pass, Ok(())) => Outcome::Pass,
        (Expect::Pass, Err(CaseError::Unsupported(msg))) => {
            Outcome::Fail(format!("unexpectedly unsupported: {msg}"))
        }
        (Expect::Unsupported(why), Err(CaseError::Unsupported(_))) => {
            Outcome::Unsupported(why.to_string())
        }
        (Expect::Unsupported(why), Ok(())) => Outcome::Fail(format!(
            "declared unsupported ({why}) but passed: a faked or newly added feature"
        )),
        (_, Err(CaseError::Fail(msg))) => Outcome::Fail(msg),
    }
}

/// The keys of a report line, in order.
const REPORT_KEYS: [&str; 4] = ["case", "backend", "outcome", "detail"];

/// One line of a report: what the guest suite prints and the host reads.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Report {
    /// The case name.
    pub case: String,
    /// The backend name.
    pub backend: String,
    /// The outcome.
    pub outcome: Outcome,
}

impl Report {
    /// Runs `case` and reports it.
    pub fn run(case: &Case) -> Report {
        Report {
            case: case.name.to_string(),
            backend: Backend::current().name().to_string(),
            outcome: run_case(case),
        }
    }

    /// `{"case":"…","backend":"…","outcome":"pass","detail":"…"}`
    pub fn to_json_line(&self) -> String {
        json::object(REPORT_KEYS.into_iter().zip([
            self.case.as_str(),
            &self.backend,
            self.outcome.label(),
            self.outcome.detail(),
        ]))
    }

    /// Parses a line written by [`Report::to_json_line`]; None for any other
    /// line.
    pub fn from_json_line(line: &str) -> Option<Report> {
        let pairs = json::parse_object(line.trim())?;
        if !pairs.iter().map(|(key, _)| key.as_str()).eq(REPORT_KEYS) {
            return None;
        }
        let values: Vec<String> = pairs.into_iter().map(|(_, value)| value).collect();
        let [case, backend, outcome, detail] = <[String; 4]>::try_from(values).ok()?;
        let outcome = match outcome.as_str() {
            "pass" => Outcome::Pass,
            "unsupported" => Outcome::Unsupported(detail),
            "fail" => Outcome::Fail(detail),
            _ => return None,
        };
        Some(Report {
            case,
            backend,
            outcome,
        })
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} [{}]: {}",
            self.case,
            self.backend,
            self.outcome.label()
        )?;
        if !self.outcome.detail().is_empty() {
            write!(f, " ({})", self.outcome.detail())?;
        }
        Ok(())
    }
}

/// Fails a case with a message unless `cond` holds.
#[macro_export]
macro_rules! ensure {
    ($cond:expr, $($msg:tt)+) => {
        if !$cond {
            return Err($crate::CaseError::Fail(format!($($msg)+)));
        }
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn report_lines_round_trip() {
        for outcome in [
            Outcome::Pass,
            Outcome::Unsupported("no \"dual-stack\"\non wasi".into()),
            Outcome::Fail("bad\\path \u{1}".into()),
        ] {
            let r = Report {
                case: "tcp_v4".into(),
                backend: "wasi-p2".into(),
                outcome,
            };
            assert_eq!(Report::from_json_line(&r.to_json_line()), Some(r));
        }
        assert_eq!(Report::from_json_line("hello"), None);
        assert_eq!(Report::from_json_line("{\"case\":\"x\"}"), None);
    }

    #[test]
    fn judging_follows_the_declared_expectation() {
        let unsupported = || Err(CaseError::Unsupported("x".into()));
        assert_eq!(judge(Expect::Pass, Ok(())), Outcome::Pass);
        assert!(matches!(
            judge(Expect::Pass, unsupported()),
            Outcome::Fail(_)
        ));
        assert_eq!(
            judge(Expect::Unsupported("why"), unsupported()),
            Outcome::Unsupported("why".into())
        );
        assert!(matches!(
            judge(Expect::Unsupported("why"), Ok(())),
            Outcome::Fail(_)
        ));
        assert!(matches!(
            judge(Expect::Pass, Err(CaseError::Fail("f".into()))),
            Outcome::Fail(_)
        ));
    }
}
