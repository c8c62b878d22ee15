//! What a backend can do: `capabilities` in `wit/sockets.wit`.

use crate::OptionName;

wit_enum! {
    $ __for_each_support, "support";
    /// How a backend provides a feature: `support` in the WIT.
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
    pub enum Support {
        /// One native call.
        Native = "native",
        /// Built by the backend from other calls; the feature's docs say how.
        Emulated = "emulated",
        /// Not available: the call returns `unsupported` or
        /// `option-not-supported`.
        Unsupported = "unsupported",
    }
}

impl Support {
    /// Native or emulated.
    #[inline]
    pub const fn is_available(self) -> bool {
        !matches!(self, Support::Unsupported)
    }
}

const OPTION_COUNT: usize = OptionName::ALL.len();

/// What the running backend can do, so callers branch on facts rather than
/// on `cfg`. Get it from [`capabilities`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Capabilities {
    /// The name of the backend (`native-linux`, `native-macos`, …).
    pub backend: &'static str,
    /// An IPv6 socket with IPV6_V6ONLY off accepts IPv4 peers.
    pub dual_stack: Support,
    /// Vectored send and receive.
    pub vectored_io: Support,
    /// Batched datagram send and receive.
    pub batched_datagrams: Support,
    /// AF_UNIX sockets.
    pub unix_sockets: Support,
    /// Receive with [`RecvFlags::PEEK`](crate::RecvFlags::PEEK).
    pub peek: Support,
    /// Out-of-band data.
    pub out_of_band: Support,
    /// Blocking mode (calls that wait in the kernel).
    pub blocking_mode: Support,
    pub(crate) options: [Support; OPTION_COUNT],
}

impl Capabilities {
    /// A table where every feature and option has the given support, for
    /// backends to refine.
    pub(crate) const fn uniform(backend: &'static str, s: Support) -> Capabilities {
        Capabilities {
            backend,
            dual_stack: s,
            vectored_io: s,
            batched_datagrams: s,
            unix_sockets: s,
            peek: s,
            out_of_band: s,
            blocking_mode: s,
            options: [s; OPTION_COUNT],
        }
    }

    /// The same table with one option's support changed.
    #[cfg_attr(not(target_vendor = "apple"), allow(dead_code))]
    pub(crate) const fn with_option(mut self, name: OptionName, s: Support) -> Capabilities {
        self.options[name as usize] = s;
        self
    }

    /// Each feature's support with its field name in the WIT `capabilities`
    /// record, in record order: every field but `options` (see
    /// [`option`](Capabilities::option)). `backend` is not in the record.
    pub const fn features(&self) -> [(&'static str, Support); 7] {
        // Exhaustive on purpose: a new field does not compile until it is
        // listed here (or explicitly left out), and the WIT drift test then
        // compares this list with the record.
        let Capabilities {
            backend: _,
            dual_stack,
            vectored_io,
            batched_datagrams,
            unix_sockets,
            peek,
            out_of_band,
            blocking_mode,
            options: _,
        } = *self;
        [
            ("dual-stack", dual_stack),
            ("vectored-io", vectored_io),
            ("batched-datagrams", batched_datagrams),
            ("unix-sockets", unix_sockets),
            ("peek", peek),
            ("out-of-band", out_of_band),
            ("blocking-mode", blocking_mode),
        ]
    }

    /// How this backend provides an option.
    #[inline]
    pub const fn option(&self, name: OptionName) -> Support {
        self.options[name as usize]
    }
}

/// The running backend's capabilities.
#[inline]
pub fn capabilities() -> &'static Capabilities {
    crate::sys::capabilities()
}
