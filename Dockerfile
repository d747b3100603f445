# One image for every PMD binary: pmd (all-in-one + dev tools), pmd-ingestion,
# pmd-storage, pmd-consent, pmd-audit, pmd-statistics and pmd-edge, all in
# /usr/local/bin. The container's command picks the binary (see compose.yaml and k8s/).
#
#   docker build -t pmd:local .
#
# Stages:
#   skeleton  the workspace reduced to its manifests plus empty stand-ins for every
#             crate root, so the dependency layer below changes only when a manifest,
#             Cargo.lock or the set of crate targets changes (no cargo-chef needed);
#   builder   compiles every third-party dependency against the skeleton (cached
#             layer), then the real sources;
#   runtime   debian:bookworm-slim, CA certificates, non-root user 10001.
#
# No system protoc is needed: libs/proto generates the gRPC code with protox.

ARG RUST_IMAGE=rust:1.95-bookworm
ARG RUNTIME_IMAGE=debian:bookworm-slim

# ---------------------------------------------------------------------------------------
FROM ${RUST_IMAGE} AS skeleton
WORKDIR /src
COPY . .
# Keep Cargo.toml/Cargo.lock, .cargo/ config and the files cargo discovers targets from
# (src/lib.rs, src/main.rs, src/bin/*.rs, build.rs, tests/benches/examples *.rs); delete
# everything else, then replace each kept .rs file by a stub: an empty library root, or
# `fn main() {}` for binaries, build scripts and test/bench/example targets.
RUN set -eu; \
    find . -type f \
        ! -name Cargo.toml ! -name Cargo.lock \
        ! -path './.cargo/*' ! -name 'rust-toolchain*' \
        ! -path '*/src/lib.rs' ! -path '*/src/main.rs' ! -path '*/src/bin/*.rs' \
        ! -name build.rs \
        ! -path '*/tests/*.rs' ! -path '*/benches/*.rs' ! -path '*/examples/*.rs' \
        -delete; \
    find . -depth -type d -empty -delete; \
    find . -type f -name '*.rs' ! -path '*/src/lib.rs' \
        -exec sh -c 'for f; do echo "fn main() { }" > "$f"; done' sh {} +; \
    find . -type f -path '*/src/lib.rs' \
        -exec sh -c 'for f; do : > "$f"; done' sh {} +

# ---------------------------------------------------------------------------------------
FROM ${RUST_IMAGE} AS builder
WORKDIR /src
ENV CARGO_TERM_COLOR=never
ARG PMD_PACKAGES="-p pmd -p pmd-ingestion -p pmd-storage -p pmd-consent -p pmd-audit -p pmd-statistics -p pmd-edge"

# Dependency layer: reused as long as the skeleton is byte-for-byte the same.
COPY --from=skeleton /src ./
RUN cargo build --release --locked ${PMD_PACKAGES}

# The real sources. COPY keeps the files' original modification times, which can be
# older than the stub builds above; touching them makes cargo rebuild every workspace
# crate instead of keeping a stub.
COPY . .
RUN set -eu; \
    find . -path ./target -prune -o -type f -exec touch {} +; \
    cargo build --release --locked ${PMD_PACKAGES}; \
    mkdir -p /out; \
    for bin in pmd pmd-ingestion pmd-storage pmd-consent pmd-audit pmd-statistics pmd-edge; do \
        install -m 0755 "target/release/$bin" /out/; \
    done

# ---------------------------------------------------------------------------------------
FROM ${RUNTIME_IMAGE} AS runtime
# /var/lib/pmd/* are mount points owned by the service user, so a fresh named volume
# (compose) starts with the right owner: audit checkpoints, the dev issuer's key
# (compose, development only) and a data directory for `pmd up`.
RUN set -eu; \
    apt-get update; \
    apt-get install -y --no-install-recommends ca-certificates; \
    rm -rf /var/lib/apt/lists/*; \
    groupadd --system --gid 10001 pmd; \
    useradd --system --uid 10001 --gid 10001 --no-create-home \
        --home-dir /nonexistent --shell /usr/sbin/nologin pmd; \
    mkdir -p /var/lib/pmd/audit-checkpoints /var/lib/pmd/dev-issuer /var/lib/pmd/data; \
    chown -R 10001:10001 /var/lib/pmd

COPY --from=builder /out/ /usr/local/bin/

USER 10001:10001
WORKDIR /var/lib/pmd

# edge HTTP; gRPC of ingestion, storage, consent, audit, statistics; their admin ports.
EXPOSE 8080 50051 50052 50053 50054 50055 9101 9102 9103 9104 9105

# The binary is chosen by the container's command, e.g. `pmd-storage`; the default only
# prints the all-in-one tool's help.
CMD ["pmd", "--help"]
