//! Per-socket read and write deadlines, stored as atomics so that `Socket`
//! stays `Sync` and a call that does not block never looks at them.

use core::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// Nanoseconds since [`epoch`] plus one; zero means no deadline.
#[derive(Debug, Default)]
pub(crate) struct Deadlines {
    read: AtomicU64,
    write: AtomicU64,
}

/// A process-wide origin for deadline instants.
fn epoch() -> Instant {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    *EPOCH.get_or_init(Instant::now)
}

fn encode(deadline: Option<Instant>) -> u64 {
    match deadline {
        None => 0,
        // A deadline before the epoch has passed already: store the
        // earliest representable one.
        Some(d) => {
            let nanos = d.saturating_duration_since(epoch()).as_nanos();
            u64::try_from(nanos).unwrap_or(u64::MAX - 1) + 1
        }
    }
}

fn decode(raw: u64) -> Option<Instant> {
    match raw {
        0 => None,
        n => epoch().checked_add(Duration::from_nanos(n - 1)),
    }
}

impl Deadlines {
    pub(crate) const fn new() -> Deadlines {
        Deadlines {
            read: AtomicU64::new(0),
            write: AtomicU64::new(0),
        }
    }

    #[inline]
    pub(crate) fn read(&self) -> Option<Instant> {
        decode(self.read.load(Ordering::Relaxed))
    }

    #[inline]
    pub(crate) fn write(&self) -> Option<Instant> {
        decode(self.write.load(Ordering::Relaxed))
    }

    pub(crate) fn set_read(&self, deadline: Option<Instant>) {
        self.read.store(encode(deadline), Ordering::Relaxed);
    }

    pub(crate) fn set_write(&self, deadline: Option<Instant>) {
        self.write.store(encode(deadline), Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deadlines_round_trip() {
        let d = Deadlines::new();
        assert_eq!(d.read(), None);
        let t = Instant::now() + Duration::from_millis(1500);
        d.set_read(Some(t));
        d.set_write(Some(t + Duration::from_secs(1)));
        assert_eq!(d.read(), Some(t));
        assert_eq!(d.write(), Some(t + Duration::from_secs(1)));
        d.set_read(None);
        assert_eq!(d.read(), None);
    }

    #[test]
    fn past_deadline_stays_in_the_past() {
        let d = Deadlines::new();
        let before = epoch();
        d.set_read(Some(before));
        assert!(d.read().unwrap() <= Instant::now());
    }
}
