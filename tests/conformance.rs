//! Runs the conformance suite on the native backend: every case, its
//! outcome judged against the declared expectation, and no descriptor
//! leaked by the whole suite.

use witsock_conformance::support::open_descriptors;
use witsock_conformance::{Backend, Outcome, Report};

#[test]
fn conformance_suite_native() {
    let before = open_descriptors();
    let mut failed = Vec::new();
    let (mut passed, mut unsupported) = (0usize, 0usize);
    for case in witsock_conformance::cases() {
        let report = Report::run(case);
        println!("{report}");
        match report.outcome {
            Outcome::Pass => passed += 1,
            Outcome::Unsupported(_) => unsupported += 1,
            Outcome::Fail(_) => failed.push(report.to_string()),
        }
    }
    println!(
        "{} cases on {}: {passed} passed, {unsupported} unsupported as declared, {} failed",
        witsock_conformance::cases().len(),
        Backend::current().name(),
        failed.len()
    );
    assert!(failed.is_empty(), "failing cases:\n{}", failed.join("\n"));
    // /proc/self/fd on Linux, /dev/fd on macOS: every socket the suite
    // opened is closed again.
    let after = open_descriptors();
    assert!(
        before.is_some() || !cfg!(target_os = "linux"),
        "cannot list /proc/self/fd"
    );
    assert_eq!(before, after, "descriptors open before and after the suite");
}
