//! Runs the conformance suite on the native backend: every case, its
//! outcome judged against the declared expectation, and no descriptor
//! leaked by the whole suite.

use witsock_conformance::{Outcome, Report, CASES};

#[cfg(target_os = "linux")]
fn open_descriptors() -> usize {
    std::fs::read_dir("/proc/self/fd")
        .map(|d| d.count())
        .unwrap_or(0)
}

#[test]
fn conformance_suite_native() {
    #[cfg(target_os = "linux")]
    let before = open_descriptors();
    let mut failed = Vec::new();
    for case in CASES {
        let report = Report::run(case);
        println!("{report}");
        if matches!(report.outcome, Outcome::Fail(_)) {
            failed.push(report.to_string());
        }
    }
    assert!(failed.is_empty(), "failing cases:\n{}", failed.join("\n"));
    #[cfg(target_os = "linux")]
    {
        let after = open_descriptors();
        assert_eq!(before, after, "descriptors open before and after the suite");
    }
}
