# Trellis in a container. Build from the repository root:
#
#   docker build -f deploy/Dockerfile -t trellis .
#
# Run on its own, with SQLite and uploads in a volume (development mode):
#
#   docker run --rm -p 8000:8000 -v trellis-data:/data trellis
#
# Other commands take the place of the default `trellis serve`:
#
#   docker run --rm -it -v trellis-data:/data trellis trellis createsuperuser
#
# For production with PostgreSQL, Redis, object storage and nginx, see deploy/compose.yaml and
# docs/deployment.md. Nothing here needs BuildKit: the classic builder works too.
#
# This file exists twice, as deploy/Dockerfile and as Dockerfile at the repository root, with the same
# content: Heroku (heroku.yml) always builds with the Dockerfile's own directory as the context, and the
# build needs the repository root. `.ci/deploy-lint` fails when the two differ; edit both.

# ---- build ------------------------------------------------------------------------------------------------
FROM rust:1.95-bookworm AS builder
WORKDIR /src

# Dependencies first, in their own layer. Only the manifests and the lock file are copied, with empty
# sources standing in for the three crates, so this layer is rebuilt only when a manifest or Cargo.lock
# changes, not on every edit of our code. A new crate under crates/ needs its own line here: without it
# `--locked` fails, because the lock file names a package that is missing.
COPY Cargo.toml Cargo.lock ./
COPY crates/trellis/Cargo.toml crates/trellis/
COPY crates/trellis-roadmap/Cargo.toml crates/trellis-roadmap/
COPY crates/trellis-sentiment/Cargo.toml crates/trellis-sentiment/
# None of the crates has a build script, a [[bin]] or [lib] path of its own, or a bench target, so a
# src/lib.rs (and src/main.rs for the binary) is all cargo needs to find. The stand-in binary exits with
# an error, so the check after the real build below notices if it were ever shipped.
RUN mkdir -p crates/trellis/src crates/trellis-roadmap/src crates/trellis-sentiment/src \
 && touch crates/trellis/src/lib.rs crates/trellis-roadmap/src/lib.rs crates/trellis-sentiment/src/lib.rs \
 && printf 'fn main() {\n    std::process::exit(1);\n}\n' > crates/trellis/src/main.rs \
 && cargo build --release --locked -p trellis --features postgres-tls

# Then our own code. data/ is needed at compile time: trellis-sentiment embeds
# data/sentiment/movie_split.json. Docs, deploy files and the rest of the repository are not copied, so
# editing them does not rebuild anything.
COPY crates crates
COPY data data
# COPY keeps the files' modification times, which may be older than the stand-ins built above; cargo
# would then take our crates as up to date. Touching their roots makes it rebuild them (and only them).
RUN touch crates/trellis/src/main.rs crates/trellis/src/lib.rs \
          crates/trellis-roadmap/src/lib.rs crates/trellis-sentiment/src/lib.rs \
 && cargo build --release --locked -p trellis --features postgres-tls \
 && install -m 0755 target/release/trellis /usr/local/bin/trellis \
 && trellis --version

# ---- run --------------------------------------------------------------------------------------------------
FROM debian:bookworm-slim
# The binary needs glibc and nothing else from the system: SQLite is built in, and TLS is rustls. Object
# storage over HTTPS reads the system's CA bundle, copied from the build image instead of installing
# ca-certificates with apt. `trellis dbshell` would need sqlite3 or psql, which are not installed here.
COPY --from=builder /etc/ssl/certs/ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
RUN groupadd --system --gid 10001 trellis \
 && useradd --system --uid 10001 --gid trellis --home-dir /data --no-create-home \
      --shell /usr/sbin/nologin trellis \
 && mkdir -p /data /app \
 && chown trellis:trellis /data
COPY --from=builder /usr/local/bin/trellis /usr/local/bin/trellis

# Settings: see the README. A trellis.toml mounted at /app/trellis.toml is read too.
ENV TRELLIS_BIND=0.0.0.0:8000 \
    TRELLIS_DATA_DIR=/data
WORKDIR /app
# By number, so platforms that refuse to run as root (Kubernetes' runAsNonRoot) can tell it is not.
USER 10001:10001
VOLUME ["/data"]
EXPOSE 8000

# curl is not in the slim image; bash can speak enough HTTP to ask /healthz. The port follows TRELLIS_BIND.
# `trellis worker` serves no HTTP: deploy/compose.yaml turns this check off for it.
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
  CMD ["bash", "-c", "exec 3<>/dev/tcp/127.0.0.1/${TRELLIS_BIND##*:} && printf 'GET /healthz HTTP/1.0\\r\\nHost: localhost\\r\\n\\r\\n' >&3 && head -n 1 <&3 | grep -q ' 200 '"]

# Trellis stops gracefully on SIGTERM (docker stop), finishing in-flight requests. The command is a plain
# CMD, not an ENTRYPOINT, so platforms that replace the command (Compose, Render, Heroku) give the whole
# command line, e.g. `trellis worker`.
CMD ["trellis", "serve"]
