//! The witsock guest suite's output format.
//!
//! The guest suite (`src/main.rs`, built for `wasm32-wasip2`) prints on
//! stdout one JSON line per conformance case
//! ([`Report::to_json_line`](witsock_conformance::Report::to_json_line)),
//! then one [`CapabilityReport`] line, and its summary on stderr. The host
//! (`witsock-host conformance`) reads stdout back with
//! [`parse_guest_output`]; any other line is ignored.

#![deny(missing_docs)]

use witsock::{Capabilities, OptionName, Support};
use witsock_conformance::{json, Report};

/// The backend-wide features of [`Capabilities`], by their WIT names, in
/// the order of the `capabilities` record.
pub const FEATURE_NAMES: [&str; 7] = [
    "dual-stack",
    "vectored-io",
    "batched-datagrams",
    "unix-sockets",
    "peek",
    "out-of-band",
    "blocking-mode",
];

/// The key that marks a capabilities line; its value is the backend name.
const CAPABILITIES_KEY: &str = "capabilities";

/// Each backend-wide feature of `caps` with its support, in
/// [`FEATURE_NAMES`] order.
pub fn features(caps: &Capabilities) -> [(&'static str, Support); 7] {
    let values = [
        caps.dual_stack,
        caps.vectored_io,
        caps.batched_datagrams,
        caps.unix_sockets,
        caps.peek,
        caps.out_of_band,
        caps.blocking_mode,
    ];
    let mut out = [("", Support::Unsupported); 7];
    for (slot, (name, support)) in out.iter_mut().zip(FEATURE_NAMES.iter().zip(values)) {
        *slot = (name, support);
    }
    out
}

/// A backend's capabilities as text: what a guest reports and a host reads
/// back. Support values are the WIT names (`native`, `emulated`,
/// `unsupported`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CapabilityReport {
    /// The backend name (`wasi-p2`, `native-linux`, …).
    pub backend: String,
    /// Each backend-wide feature and its support, by WIT name.
    pub features: Vec<(String, String)>,
    /// Each socket option and its support, by WIT name.
    pub options: Vec<(String, String)>,
}

impl CapabilityReport {
    /// The report of `caps`.
    pub fn of(caps: &Capabilities) -> CapabilityReport {
        CapabilityReport {
            backend: caps.backend.to_string(),
            features: features(caps)
                .iter()
                .map(|(name, s)| (name.to_string(), s.wit_name().to_string()))
                .collect(),
            options: OptionName::ALL
                .iter()
                .map(|&o| {
                    (
                        o.wit_name().to_string(),
                        caps.option(o).wit_name().to_string(),
                    )
                })
                .collect(),
        }
    }

    /// The support of a feature or option by WIT name, if reported.
    pub fn support(&self, name: &str) -> Option<&str> {
        self.features
            .iter()
            .chain(&self.options)
            .find(|(n, _)| n == name)
            .map(|(_, s)| s.as_str())
    }

    /// One flat JSON object:
    /// `{"capabilities":"wasi-p2","dual-stack":"unsupported",…,"reuse-address":"native",…}`.
    pub fn to_json_line(&self) -> String {
        let header = (CAPABILITIES_KEY, self.backend.as_str());
        let entries = self.features.iter().chain(&self.options);
        json::object(
            std::iter::once(header).chain(entries.map(|(name, s)| (name.as_str(), s.as_str()))),
        )
    }

    /// Parses a line written by [`CapabilityReport::to_json_line`]; None
    /// for any other line. Keys in [`FEATURE_NAMES`] are features, every
    /// other key an option.
    pub fn from_json_line(line: &str) -> Option<CapabilityReport> {
        let pairs = json::parse_object(line.trim())?;
        let mut pairs = pairs.into_iter();
        let (key, backend) = pairs.next()?;
        if key != CAPABILITIES_KEY {
            return None;
        }
        let mut report = CapabilityReport {
            backend,
            features: Vec::new(),
            options: Vec::new(),
        };
        for (name, support) in pairs {
            if !matches!(support.as_str(), "native" | "emulated" | "unsupported") {
                return None;
            }
            if FEATURE_NAMES.contains(&name.as_str()) {
                report.features.push((name, support));
            } else {
                report.options.push((name, support));
            }
        }
        Some(report)
    }
}

/// What a guest suite run printed on stdout.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct GuestOutput {
    /// One report per case, in the order printed.
    pub reports: Vec<Report>,
    /// The capabilities line, if one was printed.
    pub capabilities: Option<CapabilityReport>,
}

/// Reads a guest suite's stdout: report lines and the capabilities line;
/// every other line is ignored.
pub fn parse_guest_output(stdout: &str) -> GuestOutput {
    let mut out = GuestOutput::default();
    for line in stdout.lines() {
        if let Some(report) = Report::from_json_line(line) {
            out.reports.push(report);
        } else if let Some(caps) = CapabilityReport::from_json_line(line) {
            out.capabilities = Some(caps);
        }
    }
    out
}

/// The closing line of a run: `wasi-p2: 5 passed, 0 failed, 2 skipped`
/// (a skipped case is one that observed `unsupported` as declared).
pub fn summary_line(backend: &str, passed: usize, failed: usize, skipped: usize) -> String {
    format!("{backend}: {passed} passed, {failed} failed, {skipped} skipped")
}

#[cfg(test)]
mod tests {
    use super::*;
    use witsock_conformance::Outcome;

    #[test]
    fn capabilities_lines_round_trip() {
        let report = CapabilityReport::of(witsock::capabilities());
        assert_eq!(report.features.len(), FEATURE_NAMES.len());
        assert_eq!(report.options.len(), OptionName::ALL.len());
        let line = report.to_json_line();
        assert!(!line.contains('\n'));
        assert_eq!(CapabilityReport::from_json_line(&line), Some(report));
    }

    #[test]
    fn capabilities_lines_keep_each_value() {
        let caps = witsock::capabilities();
        let report = CapabilityReport::of(caps);
        assert_eq!(report.backend, caps.backend);
        assert_eq!(report.support("peek"), Some(caps.peek.wit_name()));
        assert_eq!(
            report.support("no-delay"),
            Some(caps.option(OptionName::NoDelay).wit_name())
        );
        assert_eq!(report.support("no-such-option"), None);
    }

    #[test]
    fn other_lines_are_not_capabilities() {
        for line in [
            "",
            "{}",
            "hello",
            "{\"case\":\"x\",\"backend\":\"y\",\"outcome\":\"pass\",\"detail\":\"\"}",
            "{\"capabilities\":\"wasi-p2\",\"peek\":\"sometimes\"}",
            "{\"capabilities\":\"wasi-p2\",\"peek\":\"native\"",
            "{\"capabilities\":\"wasi-p2\",\"peek\":\"native\"}x",
        ] {
            assert_eq!(CapabilityReport::from_json_line(line), None, "{line:?}");
        }
    }

    #[test]
    fn guest_output_keeps_reports_and_capabilities_and_skips_the_rest() {
        let report = Report {
            case: "tcp \"quoted\"".into(),
            backend: "wasi-p2".into(),
            outcome: Outcome::Fail("line\nbreak".into()),
        };
        let caps = CapabilityReport::of(witsock::capabilities());
        let stdout = format!(
            "noise\n{}\n{}\nwasi-p2: 0 passed, 1 failed, 0 skipped\n",
            report.to_json_line(),
            caps.to_json_line()
        );
        let parsed = parse_guest_output(&stdout);
        assert_eq!(parsed.reports, vec![report]);
        assert_eq!(parsed.capabilities, Some(caps));
    }

    #[test]
    fn summary_line_is_the_plain_closing_line() {
        assert_eq!(
            summary_line("wasi-p2", 3, 1, 2),
            "wasi-p2: 3 passed, 1 failed, 2 skipped"
        );
    }
}
