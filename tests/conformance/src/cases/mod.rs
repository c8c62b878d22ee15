//! The case list. Each entry names a scenario, the backends where it must
//! observe `unsupported` (with the reason, from [`limits`]), and its body.
//!
//! Case bodies are plain functions: single-threaded, bounded waits
//! ([`WAIT`](crate::support::WAIT)), no panics (the lints below hold them
//! to it) and no platform calls; what needs the platform is in
//! [`support`](crate::support).
#![deny(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic
)]

use witsock::OptionName;

use crate::Case;

mod io;
mod limits;
mod options;
mod state;
mod tcp;
mod udp;
mod unix;

use self::limits::Limits;

/// A case named after its function.
macro_rules! case {
    ($module:ident :: $name:ident) => {
        case!($module::$name, limits::NONE)
    };
    ($module:ident :: $name:ident, $limits:expr) => {
        Case {
            name: std::borrow::Cow::Borrowed(stringify!($name)),
            unsupported_on: std::borrow::Cow::Borrowed($limits),
            run: crate::CaseBody::Fn($module::$name),
        }
    };
}

/// Where an option is unsupported.
const fn option(name: OptionName) -> Limits {
    limits::option(name)
}

/// Every conformance case, in report order.
pub static CASES: &[Case] = &[
    // TCP.
    case!(tcp::tcp_v4_connect_accept_send_receive),
    case!(tcp::tcp_v6_connect_accept_send_receive),
    case!(tcp::try_accept_empty_backlog_is_none),
    case!(tcp::accepted_socket_is_nonblocking_and_close_on_exec),
    case!(
        tcp::accepted_socket_is_nonblocking_from_a_blocking_listener,
        limits::BLOCKING_MODE
    ),
    case!(tcp::accept_peer_address_is_client_local_address_v4),
    case!(tcp::accept_peer_address_is_client_local_address_v6),
    case!(tcp::connect_to_closed_port_is_refused_v4),
    case!(tcp::connect_to_closed_port_is_refused_v6),
    case!(tcp::bind_port_in_use_is_address_in_use),
    case!(tcp::bind_port_in_time_wait_after_server_close_is_ok),
    case!(tcp::bind_same_socket_twice_is_invalid_state),
    case!(tcp::bind_v4_address_on_v6_only_socket_is_invalid_argument),
    case!(
        tcp::dual_stack_v6_listener_accepts_v4_client,
        limits::DUAL_STACK
    ),
    case!(tcp::receive_after_peer_shutdown_write_is_end_of_stream),
    case!(tcp::shutdown_write_after_large_write_delivers_every_byte),
    case!(tcp::send_after_peer_closed_is_shutdown_or_reset_without_sigpipe),
    case!(tcp::send_after_own_shutdown_write_is_shutdown),
    case!(tcp::try_accept_burst_of_1000_connections),
    // UDP.
    case!(udp::udp_v4_send_to_receive_from),
    case!(udp::udp_v6_send_to_receive_from),
    case!(udp::udp_truncation_is_reported),
    case!(udp::udp_connected_socket_ignores_other_peers),
    case!(udp::udp_unconnected_socket_hears_every_sender),
    case!(udp::udp_reconnect_to_another_peer_delivers_only_from_the_new_peer),
    case!(udp::udp_connect_drops_what_others_queued_for_receive),
    case!(udp::udp_connect_drops_what_others_queued_for_receive_from),
    case!(
        udp::udp_connect_drops_what_others_queued_for_peek,
        limits::PEEK
    ),
    case!(udp::udp_connect_drops_what_others_queued_for_receive_batch),
    case!(udp::udp_reconnect_drops_what_the_old_peer_queued),
    case!(udp::udp_disconnect_hears_every_sender_again),
    case!(udp::udp_disconnect_sends_only_with_a_destination),
    case!(udp::udp_disconnect_without_a_peer_changes_nothing),
    case!(udp::udp_reconnect_after_disconnect_works),
    case!(udp::udp_disconnect_stops_dropping_what_others_queued),
    // Vectored I/O, peek, out-of-band, deadlines, blocking mode, poll.
    case!(io::tcp_vectored_8_buffers),
    case!(io::tcp_vectored_64_buffers),
    case!(io::tcp_vectored_1024_buffers),
    case!(io::vectored_more_than_1024_buffers_is_invalid_argument),
    case!(io::peek_leaves_data_for_the_next_receive, limits::PEEK),
    case!(
        io::out_of_band_byte_arrives_apart_from_the_stream,
        limits::OUT_OF_BAND
    ),
    case!(io::read_deadline_turns_would_block_into_timed_out),
    case!(io::write_deadline_turns_would_block_into_timed_out),
    case!(
        io::blocking_mode_waits_and_switches_back,
        limits::BLOCKING_MODE
    ),
    case!(io::poll_reports_only_the_ready_socket),
    // Options: every one read back as set.
    case!(
        options::option_reuse_address_round_trip,
        option(OptionName::ReuseAddress)
    ),
    case!(
        options::option_reuse_address_follows_tcp_binds,
        option(OptionName::ReuseAddress)
    ),
    case!(
        options::option_reuse_port_round_trip,
        option(OptionName::ReusePort)
    ),
    case!(
        options::option_keep_alive_round_trip,
        option(OptionName::KeepAlive)
    ),
    case!(
        options::option_linger_round_trip,
        option(OptionName::Linger)
    ),
    case!(
        options::option_receive_buffer_size_round_trip,
        option(OptionName::ReceiveBufferSize)
    ),
    case!(
        options::option_send_buffer_size_round_trip,
        option(OptionName::SendBufferSize)
    ),
    case!(
        options::option_receive_timeout_round_trip,
        option(OptionName::ReceiveTimeout)
    ),
    case!(
        options::option_send_timeout_round_trip,
        option(OptionName::SendTimeout)
    ),
    case!(
        options::option_broadcast_round_trip,
        option(OptionName::Broadcast)
    ),
    case!(options::option_error_round_trip, option(OptionName::Error)),
    case!(
        options::option_error_reports_pending_connect_error,
        option(OptionName::Error)
    ),
    case!(
        options::option_socket_type_round_trip,
        option(OptionName::SocketType)
    ),
    case!(
        options::option_no_delay_round_trip,
        option(OptionName::NoDelay)
    ),
    case!(
        options::option_keep_alive_idle_round_trip,
        option(OptionName::KeepAliveIdle)
    ),
    case!(
        options::option_keep_alive_interval_round_trip,
        option(OptionName::KeepAliveInterval)
    ),
    case!(
        options::option_keep_alive_count_round_trip,
        option(OptionName::KeepAliveCount)
    ),
    case!(
        options::option_defer_accept_round_trip,
        option(OptionName::DeferAccept)
    ),
    case!(options::option_cork_round_trip, option(OptionName::Cork)),
    case!(
        options::option_user_timeout_round_trip,
        option(OptionName::UserTimeout)
    ),
    case!(
        options::option_not_sent_low_water_round_trip,
        option(OptionName::NotSentLowWater)
    ),
    case!(
        options::option_traffic_class_round_trip,
        option(OptionName::TrafficClass)
    ),
    case!(
        options::option_tcp_info_reads_the_connection,
        option(OptionName::TcpInfo)
    ),
    case!(
        options::option_receive_queue_and_send_queue_count_unread_and_unacknowledged_bytes,
        option(OptionName::ReceiveQueue)
    ),
    case!(
        options::option_ipv6_only_round_trip,
        option(OptionName::Ipv6Only)
    ),
    case!(
        options::option_hop_limit_round_trip,
        option(OptionName::HopLimit)
    ),
    case!(
        options::option_multicast_ttl_v4_round_trip,
        option(OptionName::MulticastTtlV4)
    ),
    case!(
        options::option_multicast_loop_v4_round_trip,
        option(OptionName::MulticastLoopV4)
    ),
    case!(
        options::option_multicast_hops_v6_round_trip,
        option(OptionName::MulticastHopsV6)
    ),
    case!(
        options::option_multicast_loop_v6_round_trip,
        option(OptionName::MulticastLoopV6)
    ),
    case!(
        options::option_join_multicast_v4_then_leave_multicast_v4,
        option(OptionName::JoinMulticastV4)
    ),
    case!(
        options::option_join_multicast_v6_then_leave_multicast_v6,
        option(OptionName::JoinMulticastV6)
    ),
    // Options: invalid values, rejected the same way everywhere.
    case!(options::option_zero_buffer_sizes_are_invalid_argument),
    case!(options::option_zero_hop_limit_is_invalid_argument),
    case!(options::option_bad_keep_alive_values_are_invalid_argument),
    case!(options::option_fractional_seconds_are_invalid_argument),
    case!(options::option_zero_timeouts_are_invalid_argument),
    case!(options::option_setting_read_only_is_invalid_argument),
    case!(options::option_getting_write_only_is_invalid_argument),
    case!(options::option_join_non_multicast_group_is_invalid_argument),
    case!(options::capabilities_agree_with_behaviour),
    // Operations in the wrong state.
    case!(state::accept_on_socket_not_listening_is_invalid_state),
    case!(state::listen_on_udp_is_operation_not_supported),
    case!(state::accept_on_udp_is_operation_not_supported),
    case!(state::listen_backlog_zero_is_invalid_argument),
    case!(state::listen_on_connected_socket_is_invalid_state),
    case!(state::connect_twice_is_already_connected),
    case!(state::finish_connect_without_connect_is_invalid_state),
    case!(state::local_address_of_unbound_socket_is_invalid_state),
    case!(state::remote_address_unconnected_is_not_connected),
    case!(state::send_on_unconnected_tcp_is_not_connected),
    case!(state::send_on_unconnected_udp_is_not_connected),
    case!(state::shutdown_unconnected_is_not_connected),
    case!(state::receive_from_on_a_stream_names_the_peer),
    case!(state::disconnect_on_a_stream_is_operation_not_supported),
    case!(state::resolve_checks_names_before_any_resolver),
    // Unix sockets.
    case!(unix::unix_stream_pair_round_trip, limits::UNIX_SOCKETS),
    case!(
        unix::unix_datagram_pair_keeps_boundaries,
        limits::UNIX_SOCKETS
    ),
    case!(
        unix::unix_datagram_pair_disconnect_forgets_the_peer,
        limits::UNIX_SOCKETS
    ),
    case!(
        unix::unix_path_bind_listen_accept_connect,
        limits::UNIX_SOCKETS
    ),
    case!(
        unix::unix_path_too_long_is_invalid_argument,
        limits::UNIX_SOCKETS
    ),
    case!(
        unix::unix_peer_credentials_name_the_peer,
        limits::UNIX_SOCKETS
    ),
    case!(
        unix::unix_abstract_name_bind_listen_accept_connect,
        limits::ABSTRACT_UNIX_NAMES
    ),
];

#[cfg(test)]
mod tests {
    use super::CASES;
    use crate::Backend;

    #[test]
    fn case_names_are_unique_snake_case() {
        let mut seen = std::collections::HashSet::new();
        for case in CASES {
            assert!(seen.insert(&case.name), "duplicate case {}", case.name);
            assert!(
                case.name
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_'),
                "{} is not snake_case",
                case.name
            );
        }
    }

    #[test]
    fn witsock_imports_expects_what_native_linux_does() {
        for case in CASES {
            assert!(
                case.unsupported_on
                    .iter()
                    .all(|(b, _)| *b != Backend::WitsockImports && *b != Backend::NativeLinux),
                "{} is declared unsupported on Linux or through the witsock imports",
                case.name
            );
        }
    }

    #[test]
    fn every_option_has_a_round_trip_case() {
        for name in witsock::OptionName::ALL {
            let snake = name.wit_name().replace('-', "_");
            assert!(
                CASES.iter().any(|c| c.name.contains(&snake)),
                "no case covers the {} option",
                name.wit_name()
            );
        }
    }
}
