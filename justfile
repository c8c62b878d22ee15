# witsock tasks. Each recipe is one `cargo xtask` task, so nothing here
# needs `just` to run: `cargo xtask <task>` does the same.

# The conformance suite on every backend, and the capability matrix.
conformance:
    cargo xtask conformance

# Format check, clippy -D warnings, the macOS check, and every test.
test:
    cargo xtask test

# Build everything.
build:
    cargo build --workspace

# cargo fmt --check and clippy -D warnings.
lint:
    cargo xtask lint

# cargo check and clippy for aarch64- and x86_64-apple-darwin.
macos-check:
    cargo xtask macos-check

# The criterion benchmarks.
bench *ARGS:
    cargo xtask bench {{ARGS}}
