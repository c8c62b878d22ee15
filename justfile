# witsock tasks. Each recipe is one cargo command (a `cargo xtask` task but
# for `host`), so nothing here needs `just` to run.

# The conformance matrix (native, and the guest suite under the witsock
# host on wasi:sockets and on the witsock imports), and the capability matrix.
conformance:
    cargo xtask conformance

# The differential tester at length: `just soak 100000 1`.
soak *ARGS:
    cargo xtask soak {{ARGS}}

# Format check, clippy -D warnings, the macOS check, every test, and the
# conformance matrix.
test:
    cargo xtask test

# Build everything: the library, the host (release: it links wasmtime) and
# the guest suite components (wasi:sockets, and witsock imports).
build:
    cargo xtask build

# Run the witsock host: `just host run guest.wasm --allow-connect 127.0.0.1:80`.
host *ARGS:
    cargo run --quiet --release --package witsock-host -- {{ARGS}}

# cargo fmt --check and clippy -D warnings (the workspace, its wasm32-wasip2
# builds with and without the witsock imports, the host's probe guest).
lint:
    cargo xtask lint

# cargo check and clippy for aarch64- and x86_64-apple-darwin.
macos-check:
    cargo xtask macos-check

# The criterion benchmarks.
bench *ARGS:
    cargo xtask bench {{ARGS}}

# Interleaved A/B timings of witsock against its peers.
bench-ab:
    cargo xtask bench-ab

# Syscalls and heap allocations per operation, counted under strace.
syscalls:
    cargo xtask syscalls
