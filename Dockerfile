# Container image of the travel-planner service (one binary, `travel-planner`).
#
#   docker build -t travel-planner .
#   docker run --rm -p 8080:8080 -e ADMIN_TOKEN="$(openssl rand -hex 24)" travel-planner
#
# The image listens on 0.0.0.0:8080 (BIND below). The service refuses to bind anything but a
# loopback address unless ADMIN_TOKEN (at least 32 characters) is set, so `docker run` without
# ADMIN_TOKEN exits at once with that message: pass one (as above), or override BIND for a
# loopback-only run. With no LLM configured the built-in demo model answers; workflows and plans
# go to /data (a volume) unless DATABASE_URL / AZURE_STORAGE_ACCOUNT say otherwise (README,
# "Configuration"). `azd up` builds this file for Azure Container Apps (azure.yaml, infra/).

# ---- build: the official Rust toolchain image (Debian 12 "bookworm", like the runtime below) ----
FROM rust:1-bookworm AS build
WORKDIR /src
# The whole workspace (see .dockerignore for what stays out); Cargo.lock pins every crate.
COPY . .
RUN cargo build --release --locked --bin travel-planner \
 && install -D -m 0755 target/release/travel-planner /out/travel-planner \
 && install -d -m 0755 /out/data

# ---- run: distroless "cc" = glibc, libgcc, OpenSSL 3 and CA certificates; no shell, no package
# manager; the ":nonroot" tag runs as uid/gid 65532 ----
FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=build /out/travel-planner /usr/local/bin/travel-planner
# The data folder, owned by the non-root user so the service can write to it (also when Docker
# fills a new volume from the image).
COPY --from=build --chown=65532:65532 /out/data /data
USER 65532:65532
ENV BIND=0.0.0.0:8080 \
    DATA_DIR=/data
VOLUME /data
EXPOSE 8080
# `travel-planner health` GETs http://127.0.0.1:8080/healthz (or --url) and exits 0 on 200, else 1:
# no curl or shell is needed in the image.
HEALTHCHECK --interval=30s --timeout=5s --start-period=10s --retries=3 \
  CMD ["/usr/local/bin/travel-planner", "health"]
ENTRYPOINT ["/usr/local/bin/travel-planner"]
CMD ["serve"]
