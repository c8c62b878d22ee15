//! The wasi:sockets `error-code` table: the portable code and the WIT name
//! of each case, indexed by the case's discriminant (the raw code an
//! [`Error`](crate::Error) keeps on this backend).
//!
//! This file does not depend on the `wasi` crate, so the table is also
//! compiled and tested natively; the wasm unit test in `super` checks that
//! every index matches the discriminant of the `wasi` crate's enum.

use crate::ErrorCode;

/// Each wasi:sockets 0.2 `error-code` case at the index of its
/// discriminant: its name in the WIT and the portable code it maps to.
pub(super) const WASI_ERROR_CODES: [(&str, ErrorCode); 21] = [
    ("unknown", ErrorCode::Other),
    ("access-denied", ErrorCode::AccessDenied),
    ("not-supported", ErrorCode::Unsupported),
    ("invalid-argument", ErrorCode::InvalidArgument),
    ("out-of-memory", ErrorCode::NoBufferSpace),
    ("timeout", ErrorCode::TimedOut),
    ("concurrency-conflict", ErrorCode::AlreadyInProgress),
    ("not-in-progress", ErrorCode::InvalidState),
    ("would-block", ErrorCode::WouldBlock),
    ("invalid-state", ErrorCode::InvalidState),
    ("new-socket-limit", ErrorCode::TooManySockets),
    ("address-not-bindable", ErrorCode::AddressNotAvailable),
    ("address-in-use", ErrorCode::AddressInUse),
    ("remote-unreachable", ErrorCode::HostUnreachable),
    ("connection-refused", ErrorCode::ConnectionRefused),
    ("connection-reset", ErrorCode::ConnectionReset),
    ("connection-aborted", ErrorCode::ConnectionAborted),
    ("datagram-too-large", ErrorCode::MessageSize),
    ("name-unresolvable", ErrorCode::NameUnresolvable),
    (
        "temporary-resolver-failure",
        ErrorCode::TemporaryResolverFailure,
    ),
    (
        "permanent-resolver-failure",
        ErrorCode::PermanentResolverFailure,
    ),
];

/// The portable code for a raw wasi:sockets `error-code` discriminant;
/// values outside the enum are [`ErrorCode::Other`].
///
/// `unknown` is discriminant 0, which an [`Error`](crate::Error) cannot
/// keep as a raw code (0 means "none"): it is `other` without a raw code.
#[inline]
pub fn error_code(raw: i32) -> ErrorCode {
    usize::try_from(raw)
        .ok()
        .and_then(|i| WASI_ERROR_CODES.get(i))
        .map_or(ErrorCode::Other, |&(_, code)| code)
}

/// The WIT name of a raw wasi:sockets `error-code` discriminant
/// (`connection-refused`), if it is one.
pub fn errno_name(raw: i32) -> Option<&'static str> {
    usize::try_from(raw)
        .ok()
        .and_then(|i| WASI_ERROR_CODES.get(i))
        .map(|&(name, _)| name)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The mapping the backend promises, case by case.
    const EXPECTED: &[(&str, ErrorCode)] = &[
        ("would-block", ErrorCode::WouldBlock),
        ("invalid-state", ErrorCode::InvalidState),
        ("access-denied", ErrorCode::AccessDenied),
        ("not-supported", ErrorCode::Unsupported),
        ("invalid-argument", ErrorCode::InvalidArgument),
        ("out-of-memory", ErrorCode::NoBufferSpace),
        ("timeout", ErrorCode::TimedOut),
        ("concurrency-conflict", ErrorCode::AlreadyInProgress),
        ("not-in-progress", ErrorCode::InvalidState),
        ("address-in-use", ErrorCode::AddressInUse),
        ("address-not-bindable", ErrorCode::AddressNotAvailable),
        ("remote-unreachable", ErrorCode::HostUnreachable),
        ("connection-refused", ErrorCode::ConnectionRefused),
        ("connection-reset", ErrorCode::ConnectionReset),
        ("connection-aborted", ErrorCode::ConnectionAborted),
        ("datagram-too-large", ErrorCode::MessageSize),
        ("name-unresolvable", ErrorCode::NameUnresolvable),
        (
            "temporary-resolver-failure",
            ErrorCode::TemporaryResolverFailure,
        ),
        (
            "permanent-resolver-failure",
            ErrorCode::PermanentResolverFailure,
        ),
        ("new-socket-limit", ErrorCode::TooManySockets),
        ("unknown", ErrorCode::Other),
    ];

    fn raw_of(name: &str) -> i32 {
        let index = WASI_ERROR_CODES
            .iter()
            .position(|&(n, _)| n == name)
            .unwrap_or_else(|| panic!("`{name}` is not in the wasi error table"));
        index as i32
    }

    #[test]
    fn every_wasi_code_maps_as_promised() {
        for &(name, expected) in EXPECTED {
            let raw = raw_of(name);
            assert_eq!(error_code(raw), expected, "wasi `{name}` (raw {raw})");
            assert_eq!(errno_name(raw), Some(name), "name of raw {raw}");
        }
    }

    #[test]
    fn the_table_has_every_case_once() {
        assert_eq!(EXPECTED.len(), WASI_ERROR_CODES.len());
        for (i, &(name, _)) in WASI_ERROR_CODES.iter().enumerate() {
            assert!(
                EXPECTED.iter().any(|&(n, _)| n == name),
                "`{name}` has no expected mapping"
            );
            assert_eq!(raw_of(name), i as i32, "`{name}` appears twice");
        }
    }

    #[test]
    fn values_outside_the_enum_are_other() {
        for raw in [-1, WASI_ERROR_CODES.len() as i32, i32::MAX, i32::MIN] {
            assert_eq!(error_code(raw), ErrorCode::Other, "raw {raw}");
            assert_eq!(errno_name(raw), None, "raw {raw}");
        }
    }
}
