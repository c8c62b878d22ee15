//! The differential tester: the seeded programs of
//! [`witsock_conformance::differential`] run natively in this process and
//! inside both guest suites (wasi:sockets and the witsock imports), every
//! outcome compared with the native one. A difference the guest's
//! capabilities do not declare is a disagreement; its program is shrunk
//! to the shortest that still disagrees, and printed so that it can be
//! run again (`witsock-host differential --program '…'`).

use std::fmt::Write as _;
use std::path::Path;
use std::time::{Duration, Instant};

use witsock_conformance::differential::{self, Missing, Op, Outcomes, Program};
use witsock_guest_tests::CapabilityReport;

use crate::{Guest, GuestStatus, HostError, RunOptions, RunOutcome, Stdio};

/// Programs a guest runs per instantiation: enough to make the
/// instantiation cheap next to them, few enough to keep the captured
/// output small.
const BATCH: u64 = 250;

/// A guest suite under test.
pub enum Subject<'a> {
    /// The suite on wasi:sockets.
    Wasi(&'a Guest),
    /// The suite on the witsock imports; the directory is the one its
    /// conformance policy grants for Unix sockets.
    Imports(&'a Guest, &'a Path),
}

/// What one guest run printed.
struct GuestLines {
    programs: Vec<(String, Outcomes)>,
    capabilities: Option<CapabilityReport>,
}

impl Subject<'_> {
    fn run(&self, args: Vec<String>) -> Result<GuestLines, String> {
        let outcome: Result<RunOutcome, HostError> = match self {
            Subject::Wasi(guest) => guest.run(&RunOptions {
                args,
                policy: crate::conformance::conformance_policy(),
                stdout: Stdio::Capture,
                stderr: Stdio::Capture,
                ..RunOptions::default()
            }),
            Subject::Imports(guest, unix_dir) => {
                let policy = crate::imports::conformance_policy(unix_dir)
                    .map_err(|e| format!("cannot grant {}: {e}", unix_dir.display()))?;
                guest.run(&RunOptions {
                    args,
                    policy,
                    stdout: Stdio::Capture,
                    stderr: Stdio::Capture,
                    ..Default::default()
                })
            }
        };
        let outcome = outcome.map_err(|e| e.to_string())?;
        if outcome.status != GuestStatus::Exited(0) {
            return Err(format!(
                "the guest {}; its stderr:\n{}",
                outcome.status,
                String::from_utf8_lossy(&outcome.stderr).trim()
            ));
        }
        let stdout = String::from_utf8_lossy(&outcome.stdout);
        let mut lines = GuestLines {
            programs: Vec::new(),
            capabilities: None,
        };
        for line in stdout.lines() {
            if let Some((label, outcomes)) = differential::parse_outcome_line(line) {
                lines.programs.push((label.to_string(), outcomes));
            } else if let Some(caps) = CapabilityReport::from_json_line(line) {
                lines.capabilities = Some(caps);
            }
        }
        Ok(lines)
    }

    /// Runs one program written as text.
    fn run_program(&self, program: &Program) -> Result<(Outcomes, CapabilityReport), String> {
        let lines = self.run(vec!["--differential-program".into(), program.to_string()])?;
        let caps = lines
            .capabilities
            .ok_or("the guest reported no capabilities")?;
        let (_, outcomes) = lines
            .programs
            .into_iter()
            .next()
            .ok_or("the guest printed no outcomes")?;
        Ok((outcomes, caps))
    }
}

/// Where a guest first differs from native without a declared reason.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Disagreement {
    /// The guest's backend.
    pub backend: String,
    /// The seed whose program showed it (`None` for a program given as
    /// text).
    pub seed: Option<u64>,
    /// The shortest program found that still disagrees.
    pub program: Program,
    /// The index of its first undeclared difference.
    pub at: usize,
    /// Native outcomes of `program`.
    pub native: Outcomes,
    /// The guest's outcomes of `program`.
    pub theirs: Outcomes,
    /// Operations in the program the seed made, before shrinking.
    pub original_len: usize,
}

/// What `caps` declares missing.
fn missing(caps: &CapabilityReport) -> Missing<'_> {
    Missing {
        features: &caps.features,
        options: &caps.options,
    }
}

/// `program` natively, skipping what `caps` declares missing.
fn run_native(program: &Program, caps: &CapabilityReport) -> Outcomes {
    let missing = missing(caps);
    differential::run_skipping(program, |op| missing.skips(op))
}

/// The first undeclared difference between native outcomes (from
/// [`run_native`]) and a guest's, if any. The declared ones are counted
/// into `excused`: an operation skipped natively and refused by the
/// guest, a read the guest's capabilities excuse (neither changes what
/// follows), and a difference the WIT documents
/// ([`differential::documented`]), after which the two runs may go on
/// from different states, so the rest of the program is not compared.
fn first_disagreement(
    program: &Program,
    native: &[String],
    theirs: &[String],
    caps: &CapabilityReport,
    excused: &mut Vec<(String, usize)>,
) -> Option<usize> {
    let missing = missing(caps);
    let len = program.ops.len();
    let mut count = |why: String| match excused.iter_mut().find(|(w, _)| *w == why) {
        Some((_, n)) => *n += 1,
        None => excused.push((why, 1)),
    };
    for (i, op) in program.ops.iter().enumerate() {
        let (Some(n), Some(t)) = (native.get(i), theirs.get(i)) else {
            return Some(i);
        };
        if n == t {
            continue;
        }
        let why = match differential::skipped_reason(n) {
            Some(why) => differential::is_refusal(t).then(|| why.to_string()),
            None => missing.excuses(op, t),
        };
        if let Some(why) = why {
            count(why);
            continue;
        }
        return match differential::documented(&caps.backend, program, i, native, t) {
            Some(why) => {
                count(why.to_string());
                None
            }
            None => Some(i),
        };
    }
    (native.len() != len || theirs.len() != len).then_some(len.min(native.len()).min(theirs.len()))
}

/// Whether `program` disagrees on `subject`; the run's details if so.
fn disagrees(
    subject: &Subject<'_>,
    program: &Program,
) -> Result<Option<(usize, Outcomes, Outcomes)>, String> {
    let (theirs, caps) = subject.run_program(program)?;
    let native = run_native(program, &caps);
    let mut excused = Vec::new();
    Ok(
        first_disagreement(program, &native, &theirs, &caps, &mut excused)
            .map(|at| (at, native, theirs)),
    )
}

/// A program that disagrees, with the run that showed it.
type Shown = (Program, (usize, Outcomes, Outcomes));

/// The shortest program found, by removing runs of operations while it
/// still disagrees (first everything after the difference, then halves,
/// quarters, … down to single operations), with the run that last showed
/// the disagreement.
fn shrink(subject: &Subject<'_>, (program, shown): Shown) -> Result<Shown, String> {
    let mut best = (program, shown);
    let cut = Program {
        ops: best.0.ops.iter().take(best.1 .0 + 1).copied().collect(),
    };
    if let Some(seen) = disagrees(subject, &cut)? {
        best = (cut, seen);
    }
    let mut chunk = best.0.ops.len().div_ceil(2);
    loop {
        let mut start = 0;
        let mut removed_any = false;
        while start < best.0.ops.len() {
            let mut candidate = best.0.clone();
            let end = (start + chunk).min(candidate.ops.len());
            candidate.ops.drain(start..end);
            match (candidate.ops.is_empty(), disagrees(subject, &candidate)?) {
                (false, Some(seen)) => {
                    best = (candidate, seen);
                    removed_any = true;
                }
                _ => start += chunk,
            }
        }
        if chunk == 1 {
            if !removed_any {
                return Ok(best);
            }
        } else {
            chunk = chunk.div_ceil(2).min(chunk - 1);
        }
    }
}

/// One guest's results.
#[derive(Clone, Debug)]
pub struct Summary {
    /// The guest's backend.
    pub backend: String,
    /// Programs compared.
    pub programs: u64,
    /// Programs with no undeclared difference.
    pub agreed: u64,
    /// Declared differences by reason, with how often each was seen.
    pub excused: Vec<(String, usize)>,
    /// Undeclared differences, each shrunk.
    pub disagreements: Vec<Disagreement>,
    /// Seeds of disagreeing programs past the first `max_reported`, which
    /// are shrunk and shown.
    pub more_disagreeing: Vec<u64>,
    /// Outcomes that reproduced as agreement when their program ran
    /// again: differences in timing the model did not wait for.
    pub unreproduced: Vec<(u64, usize, String, String)>,
    /// Wall time of the guest's runs (native runs included).
    pub time: Duration,
}

/// How many programs, from which seed, how long.
#[derive(Clone, Copy, Debug)]
pub struct Settings {
    /// The first seed.
    pub first_seed: u64,
    /// Programs to run.
    pub programs: u64,
    /// Operations per program.
    pub len: usize,
    /// Undeclared disagreements to shrink and show; the seeds of the rest
    /// are listed.
    pub max_reported: usize,
}

/// Runs `settings.programs` programs natively and on `subject`.
pub fn compare(subject: &Subject<'_>, settings: Settings) -> Result<Summary, String> {
    let started = Instant::now();
    let mut summary = Summary {
        backend: String::new(),
        programs: 0,
        agreed: 0,
        excused: Vec::new(),
        disagreements: Vec::new(),
        more_disagreeing: Vec::new(),
        unreproduced: Vec::new(),
        time: Duration::ZERO,
    };
    let end = settings.first_seed.saturating_add(settings.programs);
    let mut first = settings.first_seed;
    while first < end {
        let count = BATCH.min(end - first);
        let lines = subject.run(vec![
            "--differential".into(),
            first.to_string(),
            count.to_string(),
            settings.len.to_string(),
        ])?;
        let caps = lines
            .capabilities
            .ok_or("the guest reported no capabilities")?;
        summary.backend.clone_from(&caps.backend);
        if lines.programs.len() as u64 != count {
            return Err(format!(
                "the guest ran {} of {count} programs from seed {first}",
                lines.programs.len()
            ));
        }
        for (seed, (label, theirs)) in (first..).zip(lines.programs) {
            if label != format!("seed {seed}") {
                return Err(format!("the guest answered `{label}` for seed {seed}"));
            }
            let program = Program::generate(seed, settings.len);
            let native = run_native(&program, &caps);
            summary.programs += 1;
            match first_disagreement(&program, &native, &theirs, &caps, &mut summary.excused) {
                None => summary.agreed += 1,
                Some(at) => match disagrees(subject, &program)? {
                    None => summary.unreproduced.push((
                        seed,
                        at,
                        native.get(at).cloned().unwrap_or_default(),
                        theirs.get(at).cloned().unwrap_or_default(),
                    )),
                    Some(seen) if summary.disagreements.len() < settings.max_reported => {
                        let original_len = program.ops.len();
                        let (program, (at, native, theirs)) = shrink(subject, (program, seen))?;
                        summary.disagreements.push(Disagreement {
                            backend: caps.backend.clone(),
                            seed: Some(seed),
                            program,
                            at,
                            native,
                            theirs,
                            original_len,
                        });
                    }
                    Some(_) => summary.more_disagreeing.push(seed),
                },
            }
        }
        first += count;
    }
    summary
        .excused
        .sort_by_key(|(_, count)| std::cmp::Reverse(*count));
    summary.time = started.elapsed();
    Ok(summary)
}

/// Runs one program natively and on `subject`: the disagreement, if any.
pub fn compare_program(
    subject: &Subject<'_>,
    program: &Program,
) -> Result<Option<Disagreement>, String> {
    let (theirs, caps) = subject.run_program(program)?;
    let native = run_native(program, &caps);
    let mut excused = Vec::new();
    Ok(
        first_disagreement(program, &native, &theirs, &caps, &mut excused).map(|at| Disagreement {
            backend: caps.backend,
            seed: None,
            program: program.clone(),
            at,
            native,
            theirs,
            original_len: program.ops.len(),
        }),
    )
}

impl Summary {
    /// A few lines: counts, declared differences, time.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "{}: {} of {} programs agree with native-linux; {} disagree; {} timing differences did not reproduce; {:.1} s",
            self.backend,
            self.agreed,
            self.programs,
            self.programs - self.agreed - self.unreproduced.len() as u64,
            self.unreproduced.len(),
            self.time.as_secs_f64()
        );
        for (why, count) in &self.excused {
            let _ = writeln!(out, "  declared: {why} (seen {count} times)");
        }
        for (seed, at, native, theirs) in &self.unreproduced {
            let _ = writeln!(
                out,
                "  not reproduced: seed {seed} operation {at}: native `{native}`, {} `{theirs}`",
                self.backend
            );
        }
        for d in &self.disagreements {
            out.push_str(&d.render());
        }
        if !self.more_disagreeing.is_empty() {
            let shown: Vec<String> = self
                .more_disagreeing
                .iter()
                .take(20)
                .map(u64::to_string)
                .collect();
            let _ = writeln!(
                out,
                "  {} more disagreeing programs, seeds {}{}",
                self.more_disagreeing.len(),
                shown.join(", "),
                if self.more_disagreeing.len() > 20 {
                    ", …"
                } else {
                    ""
                }
            );
        }
        out
    }
}

impl Disagreement {
    /// The program, where it differs, and both sides' outcomes.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let op = self
            .program
            .ops
            .get(self.at)
            .map(Op::to_string)
            .unwrap_or_default();
        let seed = self
            .seed
            .map(|s| {
                format!(
                    "seed {s} ({} operations, shrunk to {})",
                    self.original_len,
                    self.program.ops.len()
                )
            })
            .unwrap_or_else(|| "the program".into());
        let _ = writeln!(
            out,
            "disagreement on {}: {seed}, at operation {} `{op}`: native `{}`, {} `{}`",
            self.backend,
            self.at,
            self.native.get(self.at).map_or("(none)", String::as_str),
            self.backend,
            self.theirs.get(self.at).map_or("(none)", String::as_str),
        );
        for (i, op) in self.program.ops.iter().enumerate() {
            let n = self.native.get(i).map_or("", String::as_str);
            let t = self.theirs.get(i).map_or("", String::as_str);
            let mark = if n == t { ' ' } else { '*' };
            let _ = writeln!(
                out,
                "  {mark} {i:>3} {op:<32} native: {n:<28} {}: {t}",
                self.backend
            );
        }
        let _ = writeln!(
            out,
            "  run it again: witsock-host differential --program '{}'",
            self.program
        );
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(items: &[&str]) -> Vec<String> {
        items.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn declared_differences_are_excused_and_counted_and_others_are_not() {
        let program = Program::parse("new 0 tcp4; set 0 no-delay on; bind 0 loopback-v4")
            .unwrap_or_else(|e| panic!("{e}"));
        let caps = CapabilityReport {
            backend: "wasi-p2".into(),
            features: Vec::new(),
            options: vec![("no-delay".into(), "unsupported".into())],
        };
        let native = run_native(&program, &caps);
        assert_eq!(native.first().map(String::as_str), Some("ok"));
        let mut excused = Vec::new();
        let theirs = strings(&["ok", "option-not-supported", "ok"]);
        assert_eq!(
            first_disagreement(&program, &native, &theirs, &caps, &mut excused),
            None
        );
        assert_eq!(excused.len(), 1);
        // A backend that declares the option missing and sets it anyway
        // disagrees.
        let theirs = strings(&["ok", "ok", "ok"]);
        assert_eq!(
            first_disagreement(&program, &native, &theirs, &caps, &mut excused),
            Some(1)
        );
        // Any other difference disagrees, and so do missing outcomes.
        let theirs = strings(&["ok", "option-not-supported", "address-in-use"]);
        assert_eq!(
            first_disagreement(&program, &native, &theirs, &caps, &mut excused),
            Some(2)
        );
        let theirs = strings(&["ok", "option-not-supported"]);
        assert_eq!(
            first_disagreement(&program, &native, &theirs, &caps, &mut excused),
            Some(2)
        );
    }
}
