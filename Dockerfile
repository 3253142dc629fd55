# Whetstone's container image: one `whet` binary (API, web UI, worker, CLI) on a slim Debian with the OpenBLAS
# and oneDNN runtime libraries the engine loads at run time. The web UI is embedded from the committed web/dist,
# so the build needs no Node. Reproducible: -trimpath, no build id, the version from a build argument.
#
#   docker build -t whetstone:dev .            # or: podman build -t whetstone:dev .
#   docker run -p 8080:8080 -v whet-data:/data whetstone:dev
#
# GO_IMAGE and RUN_IMAGE can point at a local mirror; scripts/container-check.sh builds with local images.
ARG GO_IMAGE=docker.io/library/golang:1.26-bookworm
ARG RUN_IMAGE=docker.io/library/debian:bookworm-slim

FROM ${GO_IMAGE} AS build
# oneDNN's headers for the cgo shim (the library itself is loaded at run time).
RUN apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends gcc libc6-dev libdnnl-dev \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
ENV GOTOOLCHAIN=local CGO_ENABLED=1 GOFLAGS=-buildvcs=false
COPY go.mod go.sum ./
RUN go mod download
COPY cmd ./cmd
COPY internal ./internal
COPY web/embed.go ./web/embed.go
COPY web/dist ./web/dist
ARG VERSION=dev
RUN go build -trimpath -ldflags "-s -w -buildid= -X main.version=${VERSION}" -o /out/whet ./cmd/whet

FROM ${RUN_IMAGE}
RUN apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
      libopenblas0-pthread libdnnl2 ca-certificates curl \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --user-group --home-dir /data --shell /usr/sbin/nologin whet \
    && mkdir -p /data && chown whet:whet /data
COPY --from=build /out/whet /usr/local/bin/whet
USER whet
WORKDIR /data
VOLUME /data
# Listen on every interface inside the container: with --auth auto that means auth is required
# (create a key with `whet keys create`), unless WHET_AUTH says otherwise.
ENV WHET_DATA_DIR=/data WHET_ADDR=0.0.0.0:8080 WHET_LOG_FORMAT=json
EXPOSE 8080
HEALTHCHECK --interval=10s --timeout=3s --start-period=30s --retries=3 CMD curl -fsS http://127.0.0.1:8080/health >/dev/null || exit 1
ENTRYPOINT ["whet"]
CMD ["serve"]
