//! The whole conformance suite through the witsock imports: the guest
//! suite built with `--features witsock/imports`, served by this host, must
//! meet the same expectations as native Linux (`Backend::WitsockImports`
//! declares nothing of its own), side by side with the native run.

mod imports_support;

use imports_support::{guest_suite, TempDir};
use witsock_conformance::{Backend, Outcome};
use witsock_host::conformance::{Column, Driver, Matrix};
use witsock_host::imports::conformance_column;

/// `witsock-host conformance` runs the suite with [`Driver::Async`], as
/// `witsock-host run` serves guests; this runs it with the other.
#[test]
fn the_conformance_suite_passes_through_the_imports() {
    let unix_dir = TempDir::new("conformance-unix");
    let column = conformance_column(guest_suite(), None, unix_dir.path(), Driver::Sync)
        .expect("the guest runs");
    assert_eq!(column.backend, Backend::WitsockImports.name());
    let matrix = Matrix::new(vec![Column::native(None), column.clone()]);
    let text = matrix.render();
    println!("{text}");
    assert!(column.problem.is_none(), "{text}");
    assert_eq!(
        column.reports.len(),
        witsock_conformance::cases().len(),
        "{text}"
    );
    for report in &column.reports {
        assert_eq!(report.backend, Backend::WitsockImports.name());
        assert!(
            !matches!(report.outcome, Outcome::Fail(_)),
            "{report}\n\n{text}"
        );
        // The same expectation as native Linux, case by case.
        let case = witsock_conformance::cases()
            .iter()
            .find(|c| c.name == report.case)
            .expect("a known case");
        assert_eq!(
            case.expect(Backend::WitsockImports),
            case.expect(Backend::NativeLinux),
            "{}",
            case.name
        );
    }
    assert_eq!(matrix.failures(), 0, "{text}");
}

#[test]
fn the_guest_reports_what_the_host_granted() {
    let unix_dir = TempDir::new("conformance-caps");
    let column = conformance_column(
        guest_suite(),
        Some("unix_stream_pair"),
        unix_dir.path(),
        Driver::Sync,
    )
    .expect("the guest runs");
    let caps = column.capabilities.expect("capabilities reported");
    let native = witsock::capabilities();
    assert_eq!(caps.backend, "witsock-imports");
    for (name, support) in native.features() {
        assert_eq!(caps.support(name), Some(support.wit_name()), "{name}");
    }
    for &option in witsock::OptionName::ALL {
        assert_eq!(
            caps.support(option.wit_name()),
            Some(native.option(option).wit_name()),
            "{option:?}"
        );
    }
}
