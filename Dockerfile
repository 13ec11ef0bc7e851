# syntax=docker/dockerfile:1
#
# Build:  docker build -t agora .
# Run:    docker run --rm -p 3000:3000 -e APP__AUTH__JWT_SECRET=... agora
#
# Needs BuildKit (the default builder of current Docker releases) for the
# cache mounts and the heredoc below.

# ---------------------------------------------------------------------------
FROM rust:1.95-bookworm AS builder
WORKDIR /src

# The cargo registry, git checkouts and target dir live in BuildKit cache
# mounts, so a source change only recompiles the crate itself. The target dir
# is not part of the image, hence the copy of the binary out of it.
COPY . .
RUN --mount=type=cache,id=agora-cargo-registry,target=/usr/local/cargo/registry \
    --mount=type=cache,id=agora-cargo-git,target=/usr/local/cargo/git \
    --mount=type=cache,id=agora-target,target=/src/target \
    cargo build --release --locked --bin agora \
    && install -D -m 0755 target/release/agora /out/agora

# ---------------------------------------------------------------------------
FROM debian:bookworm-slim AS runtime

# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/*

RUN groupadd --system --gid 10001 agora \
    && useradd --system --uid 10001 --gid agora --home-dir /app --no-create-home \
       --shell /usr/sbin/nologin agora \
    && mkdir -p /app/data \
    && chown -R agora:agora /app

# `healthcheck [PATH] [PORT]`: HTTP GET over bash's /dev/tcp, succeeds on a 2xx
# status line. Saves installing curl into the slim image.
COPY --chmod=0755 <<'EOF' /usr/local/bin/healthcheck
#!/bin/bash
set -euo pipefail
path="${1:-/health}"
port="${2:-3000}"
exec 3<>"/dev/tcp/127.0.0.1/${port}"
printf 'GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n' "$path" >&3
IFS= read -r -t 5 status <&3
[[ "$status" =~ ^HTTP/1\.[01]\ 2[0-9][0-9] ]]
EOF

COPY --from=builder /out/agora /usr/local/bin/agora

WORKDIR /app
# Numeric, so runtimes can verify "non-root" without reading /etc/passwd.
USER 10001:10001

ENV APP__HTTP__BIND=0.0.0.0:3000
VOLUME ["/app/data"]
EXPOSE 3000

HEALTHCHECK --interval=15s --timeout=5s --start-period=15s --retries=3 \
    CMD ["healthcheck", "/health", "3000"]

ENTRYPOINT ["agora"]
CMD ["serve"]
