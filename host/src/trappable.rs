//! The one error type of the host's WIT adapters: an error the guest gets
//! (`E`, the interface's own error: wasi:sockets' `error-code`, witsock's
//! `error` record), or a trap that ends the guest (a host failure, or a
//! handle the table does not hold).
//!
//! Adapters return `Result<T, TrappableError<E>>` and use `?` on both
//! kinds: the socket layer's [`witsock::Error`] converts into the guest's
//! error, a [`ResourceTableError`] or a [`wasmtime::Error`] into a trap.
//! Only the edge where the call returns to wasmtime splits the two
//! ([`TrappableError::split`]).

use std::fmt;

use wasmtime::component::ResourceTableError;

/// An error for the guest (`E`), or a trap.
pub struct TrappableError<E>(Failure<E>);

enum Failure<E> {
    Guest(E),
    Trap(wasmtime::Error),
}

impl<E> TrappableError<E> {
    /// The guest's error `error`.
    #[inline]
    pub fn guest(error: E) -> TrappableError<E> {
        TrappableError(Failure::Guest(error))
    }

    /// A trap that says `why`.
    pub fn trap(why: impl fmt::Display) -> TrappableError<E> {
        TrappableError(Failure::Trap(wasmtime::format_err!("{why}")))
    }

    /// The guest's error, if it is not a trap.
    pub fn guest_error(&self) -> Option<&E> {
        match &self.0 {
            Failure::Guest(error) => Some(error),
            Failure::Trap(_) => None,
        }
    }

    /// The guest's error, or the trap as the error wasmtime raises.
    #[inline]
    pub fn into_guest(self) -> wasmtime::Result<E> {
        match self.0 {
            Failure::Guest(error) => Ok(error),
            Failure::Trap(trap) => Err(trap),
        }
    }

    /// A call's result as wasmtime takes it: the guest's result, inside a
    /// trap or not.
    #[inline]
    pub fn split<T>(result: Result<T, TrappableError<E>>) -> wasmtime::Result<Result<T, E>> {
        match result {
            Ok(value) => Ok(Ok(value)),
            Err(e) => e.into_guest().map(Err),
        }
    }
}

impl<E> From<ResourceTableError> for TrappableError<E> {
    fn from(e: ResourceTableError) -> TrappableError<E> {
        TrappableError(Failure::Trap(e.into()))
    }
}

impl<E> From<wasmtime::Error> for TrappableError<E> {
    fn from(e: wasmtime::Error) -> TrappableError<E> {
        TrappableError(Failure::Trap(e))
    }
}

impl<E: fmt::Debug> fmt::Debug for TrappableError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            Failure::Guest(error) => f.debug_tuple("Guest").field(error).finish(),
            Failure::Trap(trap) => f.debug_tuple("Trap").field(trap).finish(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn guest_errors_reach_the_guest_and_traps_trap() {
        let ok: Result<u8, TrappableError<&str>> = Ok(7);
        assert!(matches!(TrappableError::split(ok), Ok(Ok(7))));

        let refused = TrappableError::guest("access-denied");
        assert_eq!(refused.guest_error(), Some(&"access-denied"));
        let split = TrappableError::<&str>::split::<u8>(Err(refused));
        assert!(matches!(split, Ok(Err("access-denied"))));

        let trap = TrappableError::<&str>::trap("a host bug");
        assert_eq!(trap.guest_error(), None);
        let split = TrappableError::split::<u8>(Err(trap));
        let message = format!("{:#}", split.expect_err("a trap"));
        assert!(message.contains("a host bug"), "{message}");

        let stale: TrappableError<&str> = ResourceTableError::NotPresent.into();
        assert!(stale.into_guest().is_err());
    }
}
