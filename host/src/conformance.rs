//! The conformance matrix: the shared cases run natively in this process
//! and inside the guest suite component, side by side, then each backend's
//! capabilities.

use std::fmt::Write as _;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::Path;
use std::time::{Duration, Instant};

use witsock::OptionName;
use witsock_conformance::{Backend, Outcome, Report};
use witsock_guest_tests::{parse_guest_output, CapabilityReport, FEATURE_NAMES};

use crate::{
    AddressRule, Guest, GuestStatus, HostError, Limits, Policy, RunOptions, RunOutcome, Stdio,
};

/// The longest reason or message shown in a matrix cell; longer ones are
/// cut there and printed whole below the matrix.
const CELL_WIDTH: usize = 60;

/// One backend's results.
#[derive(Clone, Debug)]
pub struct Column {
    /// The backend name.
    pub backend: String,
    /// One report per case that ran.
    pub reports: Vec<Report>,
    /// The backend's capabilities, if it reported them.
    pub capabilities: Option<CapabilityReport>,
    /// What went wrong with the run as a whole (a trap, an exit code that
    /// disagrees with the reports, no capabilities), if anything.
    pub problem: Option<String>,
    /// Wall time of the run.
    pub run_time: Duration,
}

/// The environment variable that tells the guest suite where to put Unix
/// socket files (a directory the host grants and preopens).
pub const UNIX_SOCKET_DIR_VAR: &str = "WITSOCK_UNIX_SOCKET_DIR";

/// The policy both guest suites run under: what a native process on
/// loopback may do (every loopback address for every use; binding the
/// unspecified addresses, as a listen on an unbound socket does natively,
/// and the few addresses off loopback the address matrix binds, so that
/// the kernel answers those binds: a bind sends nothing), with quotas
/// large enough for the burst case's thousand connections (two sockets
/// each). The imports suite gets more
/// ([`imports_conformance_policy`]).
pub fn conformance_policy() -> Policy {
    let mut policy = Policy::loopback().with_limits(Limits {
        max_sockets: 8192,
        max_backlog: 4096,
        ..Limits::default()
    });
    let bound = witsock_conformance::addresses::BOUND_OFF_LOOPBACK;
    for ip in [
        IpAddr::from(Ipv4Addr::UNSPECIFIED),
        Ipv6Addr::UNSPECIFIED.into(),
    ]
    .into_iter()
    .chain(bound.iter().copied())
    {
        let full = if ip.is_ipv4() { 32 } else { 128 };
        if let Some(rule) = AddressRule::new(ip, full, 0, u16::MAX) {
            policy = policy.allow_bind(rule);
        }
    }
    policy
}

impl Column {
    /// Runs the cases whose name contains `filter` in this process, on the
    /// native backend.
    pub fn native(filter: Option<&str>) -> Column {
        let started = Instant::now();
        let reports = witsock_conformance::cases()
            .iter()
            .filter(|case| filter.is_none_or(|f| case.name.contains(f)))
            .map(Report::run)
            .collect();
        Column {
            backend: Backend::current().name().to_string(),
            reports,
            capabilities: Some(CapabilityReport::of(witsock::capabilities())),
            problem: None,
            run_time: started.elapsed(),
        }
    }

    /// Runs the guest suite component `guest` under the conformance
    /// policy with `driver`, passing `filter` on, and reads its reports.
    pub fn guest(guest: &Guest, filter: Option<&str>, driver: Driver) -> Result<Column, HostError> {
        let options = RunOptions {
            args: filter.map(str::to_string).into_iter().collect(),
            policy: conformance_policy(),
            stdout: Stdio::Capture,
            stderr: Stdio::Capture,
            ..RunOptions::default()
        };
        let outcome = driver.run(guest, &options)?;
        Ok(Column::from_guest_run(&outcome, Backend::WasiP2))
    }

    /// The column of a guest suite's run: the reports and capabilities it
    /// printed, and what went wrong with the run as a whole. `backend`
    /// names the column when the guest did not say.
    pub(crate) fn from_guest_run(outcome: &RunOutcome, backend: Backend) -> Column {
        let output = parse_guest_output(&String::from_utf8_lossy(&outcome.stdout));
        let backend = output
            .capabilities
            .as_ref()
            .map(|caps| caps.backend.clone())
            .or_else(|| output.reports.first().map(|r| r.backend.clone()))
            .unwrap_or_else(|| backend.name().to_string());
        let any_failed = output
            .reports
            .iter()
            .any(|r| matches!(r.outcome, Outcome::Fail(_)));
        let stderr = String::from_utf8_lossy(&outcome.stderr);
        let stderr = stderr.trim();
        let problem = match (&outcome.status, any_failed) {
            (GuestStatus::Exited(0), _) | (GuestStatus::Exited(1), true) => output
                .capabilities
                .is_none()
                .then(|| "the guest reported no capabilities".to_string()),
            (status, _) if stderr.is_empty() => Some(format!("the guest {status}")),
            (status, _) => Some(format!("the guest {status}; its stderr:\n{stderr}")),
        };
        Column {
            backend,
            reports: output.reports,
            capabilities: output.capabilities,
            problem,
            run_time: outcome.run_time,
        }
    }

    fn outcome(&self, case: &str) -> Option<&Outcome> {
        self.reports
            .iter()
            .find(|r| r.case == case)
            .map(|r| &r.outcome)
    }
}

/// The results of several backends, case by case.
#[derive(Clone, Debug)]
pub struct Matrix {
    columns: Vec<Column>,
    cases: Vec<String>,
}

/// One cell of the matrix.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Cell {
    /// Passed.
    Pass,
    /// Unsupported as declared, with the reason.
    Unsupported(String),
    /// Failed, with the message.
    Fail(String),
    /// The case did not run on this backend (the run stopped early, or the
    /// case is missing there).
    NotRun,
}

impl Cell {
    /// A failure: FAIL or not run.
    pub fn is_failure(&self) -> bool {
        matches!(self, Cell::Fail(_) | Cell::NotRun)
    }
}

impl Matrix {
    /// The matrix of `columns`. Its rows are the cases run anywhere, in
    /// [`CASES`] order, then any case only a guest knows.
    pub fn new(columns: Vec<Column>) -> Matrix {
        let mut cases: Vec<String> = witsock_conformance::cases()
            .iter()
            .map(|c| c.name.to_string())
            .filter(|name| columns.iter().any(|col| col.outcome(name).is_some()))
            .collect();
        for column in &columns {
            for report in &column.reports {
                if !cases.contains(&report.case) {
                    cases.push(report.case.clone());
                }
            }
        }
        // A filter that matched nothing anywhere still shows what ran.
        Matrix { columns, cases }
    }

    /// The columns.
    pub fn columns(&self) -> &[Column] {
        &self.columns
    }

    /// The case names, in row order.
    pub fn cases(&self) -> &[String] {
        &self.cases
    }

    /// The cell of `case` in `column`.
    pub fn cell(&self, case: &str, column: &Column) -> Cell {
        match column.outcome(case) {
            Some(Outcome::Pass) => Cell::Pass,
            Some(Outcome::Unsupported(why)) => Cell::Unsupported(why.clone()),
            Some(Outcome::Fail(msg)) => Cell::Fail(msg.clone()),
            None => Cell::NotRun,
        }
    }

    /// The number of failed cells plus the runs that went wrong as a whole.
    pub fn failures(&self) -> usize {
        let cells = self
            .cases
            .iter()
            .flat_map(|case| self.columns.iter().map(move |col| self.cell(case, col)))
            .filter(Cell::is_failure)
            .count();
        let runs = self.columns.iter().filter(|c| c.problem.is_some()).count();
        let empty = usize::from(self.cases.is_empty());
        cells + runs + empty
    }

    /// The area a case belongs to: `tcp_v4 matrix` for the cells of the
    /// state matrix, `tcp_v4 addresses` for those of the address matrix
    /// (named `addr_tcp_v4__…`), `scenarios` for the rest.
    fn area(case: &str) -> String {
        match case.split_once("__") {
            Some((cell, _)) => {
                let (cell, area) = match cell.strip_prefix("addr_") {
                    Some(cell) => (cell, "addresses"),
                    None => (cell, "matrix"),
                };
                let mut parts = cell.splitn(3, '_');
                let proto = parts.next().unwrap_or_default();
                let family = parts.next().unwrap_or_default();
                format!("{proto}_{family} {area}")
            }
            None => "scenarios".to_string(),
        }
    }

    /// Passed, unsupported and failed cells of `column` per area, in row
    /// order.
    fn area_counts(&self, column: &Column) -> Vec<(String, [usize; 3])> {
        let mut areas: Vec<(String, [usize; 3])> = Vec::new();
        for case in &self.cases {
            let area = Matrix::area(case);
            let slot = match areas.iter().position(|(a, _)| *a == area) {
                Some(i) => i,
                None => {
                    areas.push((area, [0; 3]));
                    areas.len() - 1
                }
            };
            let index = match self.cell(case, column) {
                Cell::Pass => 0,
                Cell::Unsupported(_) => 1,
                Cell::Fail(_) | Cell::NotRun => 2,
            };
            areas[slot].1[index] += 1;
        }
        areas
    }

    /// What `cargo xtask conformance` prints: a summary per area and
    /// backend (cells passed / unsupported / failed), then only the rows
    /// that are not a pass everywhere (failures, and unsupported cells
    /// with their reasons), any long messages in full, run problems, the
    /// capability matrix and the run times. The whole matrix is
    /// [`render_markdown`](Matrix::render_markdown).
    pub fn render(&self) -> String {
        let mut out = String::new();
        let mut header = vec!["area".to_string()];
        header.extend(self.columns.iter().map(|c| c.backend.clone()));
        let mut summary = vec![header];
        let counts: Vec<_> = self.columns.iter().map(|c| self.area_counts(c)).collect();
        if let Some(first) = counts.first() {
            for (i, (area, _)) in first.iter().enumerate() {
                let mut row = vec![area.clone()];
                for column in &counts {
                    let [p, u, f] = column.get(i).map_or([0; 3], |(_, c)| *c);
                    row.push(format!("{p} passed / {u} unsupported / {f} failed"));
                }
                summary.push(row);
            }
        }
        table(&mut out, &summary);
        out.push('\n');

        let mut header = vec!["case".to_string()];
        header.extend(self.columns.iter().map(|c| c.backend.clone()));
        let mut rows = vec![header];
        let mut notes = Vec::new();
        for case in &self.cases {
            let all_pass = self
                .columns
                .iter()
                .all(|column| self.cell(case, column) == Cell::Pass);
            if all_pass {
                continue;
            }
            let mut row = vec![case.clone()];
            for column in &self.columns {
                let (text, full) = match self.cell(case, column) {
                    Cell::Pass => ("pass".to_string(), None),
                    Cell::Unsupported(why) => {
                        let (short, cut) = shorten(&why);
                        (format!("unsupported ({short})"), cut.then_some(why))
                    }
                    Cell::Fail(msg) => {
                        let (short, cut) = shorten(&msg);
                        (format!("FAIL ({short})"), cut.then_some(msg))
                    }
                    Cell::NotRun => ("FAIL (not run)".to_string(), None),
                };
                if let Some(full) = full {
                    notes.push(format!("{case} [{}]: {full}", column.backend));
                }
                row.push(text);
            }
            rows.push(row);
        }
        if self.cases.is_empty() {
            out.push_str("no case ran\n");
        } else if rows.len() == 1 {
            out.push_str("every case passed on every backend\n");
        } else {
            table(&mut out, &rows);
        }
        for note in &notes {
            let _ = writeln!(out, "  {note}");
        }
        for column in &self.columns {
            if let Some(problem) = &column.problem {
                let _ = writeln!(out, "{}: {problem}", column.backend);
            }
        }

        out.push('\n');
        let mut header = vec!["capability".to_string()];
        header.extend(self.columns.iter().map(|c| c.backend.clone()));
        let mut rows = vec![header];
        let names = FEATURE_NAMES
            .iter()
            .copied()
            .chain(OptionName::ALL.iter().map(|o| o.wit_name()));
        for (i, name) in names.enumerate() {
            let label = if i < FEATURE_NAMES.len() {
                name.to_string()
            } else {
                format!("option {name}")
            };
            let mut row = vec![label];
            for column in &self.columns {
                let support = column
                    .capabilities
                    .as_ref()
                    .and_then(|caps| caps.support(name))
                    .unwrap_or("?");
                row.push(support.to_string());
            }
            rows.push(row);
        }
        table(&mut out, &rows);

        out.push('\n');
        for column in &self.columns {
            let (mut passed, mut failed, mut skipped) = (0, 0, 0);
            for case in &self.cases {
                match self.cell(case, column) {
                    Cell::Pass => passed += 1,
                    Cell::Unsupported(_) => skipped += 1,
                    Cell::Fail(_) | Cell::NotRun => failed += 1,
                }
            }
            let _ = writeln!(
                out,
                "{}: {passed} passed, {failed} failed, {skipped} unsupported; ran in {} ms",
                column.backend,
                column.run_time.as_millis()
            );
        }
        out
    }
}

impl Matrix {
    /// The whole matrix as Markdown: the per-area summary, then one row
    /// per case with each backend's outcome and reason (no run times, so
    /// that the file changes only when an outcome does).
    pub fn render_markdown(&self) -> String {
        let mut out = String::from(
            "# The witsock conformance matrix\n\n\
             Written by `cargo xtask conformance`: every case, every cell of the state \
             matrix (`tests/conformance/src/matrix.rs`) and every cell of the address \
             matrix (`tests/conformance/src/addresses.rs`) on each backend. A cell named \
             `PROTO_FAMILY_STATE__CALL` is CALL made on a socket in STATE; one named \
             `addr_PROTO_FAMILY__CALL__CLASS` is CALL given an address of CLASS.\n\n",
        );
        let names: Vec<&str> = self.columns.iter().map(|c| c.backend.as_str()).collect();
        let _ = writeln!(out, "| area | {} |", names.join(" | "));
        let _ = writeln!(out, "|---|{}", "---|".repeat(names.len()));
        let counts: Vec<_> = self.columns.iter().map(|c| self.area_counts(c)).collect();
        if let Some(first) = counts.first() {
            for (i, (area, _)) in first.iter().enumerate() {
                let cells: Vec<String> = counts
                    .iter()
                    .map(|column| {
                        let [p, u, f] = column.get(i).map_or([0; 3], |(_, c)| *c);
                        format!("{p} / {u} / {f}")
                    })
                    .collect();
                let _ = writeln!(out, "| {area} | {} |", cells.join(" | "));
            }
        }
        out.push_str("\n(passed / unsupported / failed)\n\n");
        let _ = writeln!(out, "| case | {} |", names.join(" | "));
        let _ = writeln!(out, "|---|{}", "---|".repeat(names.len()));
        for case in &self.cases {
            let cells: Vec<String> = self
                .columns
                .iter()
                .map(|column| match self.cell(case, column) {
                    Cell::Pass => "pass".to_string(),
                    Cell::Unsupported(why) => format!("unsupported: {}", why.replace('|', "/")),
                    Cell::Fail(msg) => format!("**FAIL**: {}", msg.replace('|', "/")),
                    Cell::NotRun => "**FAIL**: not run".to_string(),
                })
                .collect();
            let _ = writeln!(out, "| `{case}` | {} |", cells.join(" | "));
        }
        out
    }
}

/// The first [`CELL_WIDTH`] characters of one line of `text`, and whether
/// anything was cut.
fn shorten(text: &str) -> (String, bool) {
    let first_line = text.lines().next().unwrap_or_default();
    let short: String = first_line.chars().take(CELL_WIDTH).collect();
    let cut = short.len() < text.len();
    if cut {
        (format!("{short}…"), true)
    } else {
        (short, false)
    }
}

/// Writes `rows` as left-aligned columns.
fn table(out: &mut String, rows: &[Vec<String>]) {
    let columns = rows.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> = (0..columns)
        .map(|i| {
            rows.iter()
                .filter_map(|r| r.get(i))
                .map(|s| s.chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    for row in rows {
        let mut line = String::new();
        for (i, cell) in row.iter().enumerate() {
            if i + 1 == row.len() {
                line.push_str(cell);
            } else {
                let pad = widths[i] - cell.chars().count();
                line.push_str(cell);
                line.extend(std::iter::repeat_n(' ', pad + 2));
            }
        }
        out.push_str(&line);
        out.push('\n');
    }
}

/// The policy the conformance suite runs under through the imports:
/// [`conformance_policy`], and what the imports reach beyond wasi:sockets
/// (Unix sockets in `unix_dir` and under the suite's abstract names,
/// socket pairs, multicast, lingering, name lookup).
pub fn imports_conformance_policy(unix_dir: &Path) -> std::io::Result<Policy> {
    Ok(conformance_policy()
        .allow_unix_dir(unix_dir)?
        .allow_abstract_prefix("witsock-conformance-")
        .allow_socket_pairs(true)
        .allow_multicast(true)
        .allow_linger(Duration::from_secs(3600))
        .allow_name_lookup(true))
}

/// How a guest suite is run: the two ways the host serves a guest, each of
/// which must meet the whole suite.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Driver {
    /// [`Guest::run`]: blocking calls wait in the calling thread.
    Sync,
    /// [`Guest::run_async`] on a runtime of its own (as `witsock-host
    /// run`): blocking calls await the reactor.
    Async,
}

impl Driver {
    /// Runs `guest` under `options` this way.
    pub fn run(self, guest: &Guest, options: &RunOptions) -> Result<RunOutcome, HostError> {
        match self {
            Driver::Sync => guest.run(options),
            Driver::Async => tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| HostError::Instantiate {
                    path: guest.path().to_path_buf(),
                    reason: format!("cannot start the async runtime: {e}"),
                })?
                .block_on(guest.run_async(options)),
        }
    }
}

/// Runs the guest suite `guest` (built with `--features witsock/imports`)
/// under [`imports_conformance_policy`] with `driver`, passing `filter`
/// on, and reads its reports as the `witsock-imports` column. Unix socket
/// files go to `unix_dir`, which the guest gets preopened at the same
/// path.
pub fn conformance_column(
    guest: &Guest,
    filter: Option<&str>,
    unix_dir: &Path,
    driver: Driver,
) -> Result<Column, HostError> {
    let policy = imports_conformance_policy(unix_dir).map_err(|e| HostError::Instantiate {
        path: unix_dir.to_path_buf(),
        reason: format!("cannot grant the Unix socket directory: {e}"),
    })?;
    let outcome = driver.run(
        guest,
        &RunOptions {
            args: filter.map(str::to_string).into_iter().collect(),
            env: vec![(
                UNIX_SOCKET_DIR_VAR.to_string(),
                unix_dir.to_string_lossy().into_owned(),
            )],
            preopens: vec![unix_dir.to_path_buf()],
            policy,
            stdout: Stdio::Capture,
            stderr: Stdio::Capture,
            ..RunOptions::default()
        },
    )?;
    Ok(Column::from_guest_run(&outcome, Backend::WitsockImports))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn column(backend: &str, outcomes: &[(&str, Outcome)]) -> Column {
        Column {
            backend: backend.to_string(),
            reports: outcomes
                .iter()
                .map(|(case, outcome)| Report {
                    case: case.to_string(),
                    backend: backend.to_string(),
                    outcome: outcome.clone(),
                })
                .collect(),
            capabilities: Some(CapabilityReport::of(witsock::capabilities())),
            problem: None,
            run_time: Duration::from_millis(7),
        }
    }

    #[test]
    fn a_matrix_of_passes_and_declared_unsupported_has_no_failure() {
        let a = &*witsock_conformance::cases()[0].name;
        let matrix = Matrix::new(vec![
            column("native-linux", &[(a, Outcome::Pass)]),
            column(
                "wasi-p2",
                &[(a, Outcome::Unsupported("no such thing".into()))],
            ),
        ]);
        assert_eq!(matrix.failures(), 0);
        let text = matrix.render();
        assert!(text.contains(a), "{text}");
        assert!(text.contains("unsupported (no such thing)"), "{text}");
        assert!(text.contains("option reuse-address"), "{text}");
        assert!(!text.contains("FAIL"), "{text}");
    }

    #[test]
    fn failed_and_missing_cells_count_as_failures() {
        let matrix = Matrix::new(vec![
            column(
                "native-linux",
                &[("one", Outcome::Pass), ("two", Outcome::Pass)],
            ),
            column("wasi-p2", &[("one", Outcome::Fail("boom".into()))]),
        ]);
        assert_eq!(matrix.cases(), ["one", "two"]);
        assert_eq!(matrix.failures(), 2);
        let text = matrix.render();
        assert!(text.contains("FAIL (boom)"), "{text}");
        assert!(text.contains("FAIL (not run)"), "{text}");
    }

    #[test]
    fn a_run_problem_is_a_failure_and_is_shown() {
        let mut guest = column("wasi-p2", &[("one", Outcome::Pass)]);
        guest.problem = Some("the guest trapped: unreachable".into());
        let matrix = Matrix::new(vec![
            column("native-linux", &[("one", Outcome::Pass)]),
            guest,
        ]);
        assert_eq!(matrix.failures(), 1);
        assert!(matrix.render().contains("wasi-p2: the guest trapped"));
    }

    #[test]
    fn long_messages_are_cut_in_cells_and_printed_whole_below() {
        let long = "x".repeat(CELL_WIDTH * 2);
        let matrix = Matrix::new(vec![column(
            "wasi-p2",
            &[("one", Outcome::Fail(long.clone()))],
        )]);
        let text = matrix.render();
        let cell_line = text
            .lines()
            .find(|line| line.starts_with("one "))
            .expect("a row");
        assert!(!cell_line.contains(&long), "{text}");
        assert!(text.contains(&format!("one [wasi-p2]: {long}")), "{text}");
    }

    #[test]
    fn rows_that_pass_everywhere_are_only_counted_and_the_file_has_all() {
        let matrix = Matrix::new(vec![
            column(
                "native-linux",
                &[
                    ("one", Outcome::Pass),
                    ("tcp_v4_fresh__bind", Outcome::Pass),
                ],
            ),
            column(
                "wasi-p2",
                &[
                    ("one", Outcome::Pass),
                    ("tcp_v4_fresh__bind", Outcome::Unsupported("why".into())),
                ],
            ),
        ]);
        let text = matrix.render();
        assert!(!text.lines().any(|l| l.starts_with("one ")), "{text}");
        assert!(
            text.lines().any(|l| l.starts_with("tcp_v4_fresh__bind ")),
            "{text}"
        );
        assert!(
            text.lines().any(|l| l.starts_with("tcp_v4 matrix ")
                && l.contains("1 passed / 0 unsupported / 0 failed")
                && l.contains("0 passed / 1 unsupported / 0 failed")),
            "{text}"
        );
        assert!(text.lines().any(|l| l.starts_with("scenarios ")), "{text}");
        let file = matrix.render_markdown();
        assert!(file.contains("| `one` | pass | pass |"), "{file}");
        assert!(
            file.contains("| `tcp_v4_fresh__bind` | pass | unsupported: why |"),
            "{file}"
        );
    }

    #[test]
    fn an_empty_matrix_fails() {
        let matrix = Matrix::new(vec![column("wasi-p2", &[])]);
        assert_eq!(matrix.failures(), 1);
        assert!(matrix.render().contains("no case ran"));
    }

    #[test]
    fn missing_capabilities_show_as_unknown() {
        let mut guest = column("wasi-p2", &[("one", Outcome::Pass)]);
        guest.capabilities = None;
        let text = Matrix::new(vec![guest]).render();
        assert!(
            text.lines()
                .any(|l| l.starts_with("peek") && l.ends_with('?')),
            "{text}"
        );
    }
}
