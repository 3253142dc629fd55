#!/usr/bin/env bash
# Checks the deployment files: the Prometheus rules (promtool check + unit tests), the Grafana dashboard and
# compose file parse, and the container image is BUILT from the Dockerfile with podman and RUN: /health and
# /readyz answer, the healthcheck passes, it runs as a non-root user with the native kernels loaded (whet doctor
# inside it). There is no container registry here, so the base images are made locally: Debian bookworm with
# debootstrap (cached), and a "golang" stage image that is that Debian with the host's Go toolchain mounted in.
# The Dockerfile itself runs unchanged. compose.yaml's services use registry images (postgres, redis,
# versitygw), which cannot be pulled here: it is parsed and rendered, not started.
#
# WHET_CONTAINER_CHECK=0 skips the image build (the file checks still run).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
say() { printf '== container: %s\n' "$*"; }

need=()
for p in podman runc podman-compose debootstrap prometheus; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || need+=("$p")
done
if [ ${#need[@]} -gt 0 ]; then
  say "installing ${need[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq "${need[@]}" >/dev/null
  # Debian starts the Prometheus server on install; only promtool is wanted.
  (systemctl stop prometheus prometheus-node-exporter 2>/dev/null || true; pkill -x prometheus || true; pkill -x prometheus-node-exporter || true) >/dev/null 2>&1
fi

say "prometheus rules"
promtool check rules deploy/prometheus/alerts.yaml
(cd deploy/prometheus && promtool test rules alerts_test.yaml)

say "dashboard and compose files parse"
python3 - <<'PY'
import json, yaml
d = json.load(open("deploy/grafana/whetstone.json"))
exprs = [t["expr"] for p in d["panels"] for t in p.get("targets", [])]
assert len(d["panels"]) >= 10 and all("whet_" in e or "process_" in e for e in exprs), "dashboard panels"
c = yaml.safe_load(open("compose.yaml"))
for s in ("api", "worker", "postgres", "redis", "s3"):
    assert s in c["services"], s
assert c["services"]["api"]["command"] == ["serve", "--no-worker"]
assert "healthcheck" in c["services"]["api"]
print("dashboard: %d panels; compose: %s" % (len(d["panels"]), ", ".join(c["services"])))
PY
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
if [[ "${WHET_CONTAINER_CHECK:-1}" == 0 ]]; then
  say "image build skipped (WHET_CONTAINER_CHECK=0)"
  exit 0
fi

# podman as root on this VM: runc (crun fails on hybrid cgroups) and rlimits it may set.
export CONTAINERS_CONF="$tmp/containers.conf"
hn=$(ulimit -Hn)
printf '[containers]\ndefault_ulimits=["nofile=%s:%s","nproc=4096:4096"]\n[engine]\nruntime="runc"\n' "$hn" "$hn" >"$CONTAINERS_CONF"

base=localhost/whet-debian:bookworm
if ! podman image exists "$base"; then
  cache=/var/cache/whet/debian-bookworm-minbase.tar
  if [ ! -s "$cache" ]; then
    say "debootstrap bookworm (once per machine)"
    mkdir -p "$(dirname "$cache")"
    rfs="$tmp/rootfs"
    debootstrap --variant=minbase bookworm "$rfs" >"$tmp/debootstrap.log" 2>&1 || { tail -20 "$tmp/debootstrap.log"; exit 1; }
    rm -rf "$rfs"/var/cache/apt/archives/*.deb
    tar -C "$rfs" -cf "$cache" .
  fi
  podman import --change 'CMD ["/bin/bash"]' "$cache" "$base" >/dev/null
fi
# A container must start at all here; if not, the machine has no usable engine and that is reported.
if ! podman run --rm --network=host "$base" true 2>"$tmp/smoke.err"; then
  echo "SKIP image build: podman cannot run a container on this machine:"; cat "$tmp/smoke.err"
  exit 0
fi
gobase=localhost/whet-golang:1.26
if ! podman image exists "$gobase"; then
  printf 'FROM %s\nENV PATH=/usr/local/go/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin GOPATH=/go GOMODCACHE=/go/pkg/mod GOCACHE=/root/.cache/go-build\nRUN mkdir -p /usr/local/go /go/pkg/mod /root/.cache/go-build\n' "$base" >"$tmp/Containerfile.go"
  podman build -q -t "$gobase" -f "$tmp/Containerfile.go" "$tmp" >/dev/null
fi

say "podman build (the Dockerfile, unchanged)"
modcache="$(go env GOMODCACHE)"; gocache="$(go env GOCACHE)"
mkdir -p "$modcache" "$gocache"
# The build runs offline against the host's module cache: fill it here (through the host's proxy and CAs)
# with every module go.mod lists, not only those the host has built so far.
go mod download
podman build --format docker --pull=never --network=host -t whetstone:check \
  --build-arg GO_IMAGE="$gobase" --build-arg RUN_IMAGE="$base" --build-arg VERSION=check \
  -v /usr/local/go:/usr/local/go:ro -v "$modcache":/go/pkg/mod -v "$gocache":/root/.cache/go-build \
  -f Dockerfile . 2>&1 | tail -5

say "run the image"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
name="whet-check-$$"
# The image's defaults: every interface, so auth is required; /health, /readyz and the UI's files stay open.
podman run -d --name "$name" -p "127.0.0.1:$port:8080" whetstone:check >/dev/null
cleanup() { podman rm -f "$name" >/dev/null 2>&1 || true; rm -rf "$tmp"; }
trap cleanup EXIT
ok=0
for _ in $(seq 120); do
  if curl -fsS "http://127.0.0.1:$port/health" >"$tmp/health.json" 2>/dev/null; then ok=1; break; fi
  sleep 0.5
done
if [ $ok != 1 ]; then podman logs "$name" | tail -30; echo "FAIL: /health never answered"; exit 1; fi
cat "$tmp/health.json"; echo
curl -fsS "http://127.0.0.1:$port/readyz" >/dev/null
curl -fsS "http://127.0.0.1:$port/" | grep -qi "<html" || { echo "FAIL: no web UI at /"; exit 1; }
podman healthcheck run "$name" || { echo "FAIL: the image's HEALTHCHECK fails"; exit 1; }
uid=$(podman exec "$name" id -u)
[ "$uid" != 0 ] || { echo "FAIL: runs as root"; exit 1; }
podman exec "$name" whet doctor --addr 127.0.0.1:0 | tee "$tmp/doctor.txt"
grep -q "^ok    blas      openblas" "$tmp/doctor.txt" || { echo "FAIL: OpenBLAS not loaded in the image"; exit 1; }
grep -q "^ok    onednn" "$tmp/doctor.txt" || { echo "FAIL: oneDNN not loaded in the image"; exit 1; }
podman logs "$name" >"$tmp/logs.txt" 2>&1
python3 -c 'import json,sys; [json.loads(l) for l in open(sys.argv[1]) if l.strip()]' "$tmp/logs.txt" || { echo "FAIL: logs are not JSON lines"; head -5 "$tmp/logs.txt"; exit 1; }
say "compose: podman-compose renders compose.yaml with .env.example (dry run: its images are not pullable here)"
cp compose.yaml "$tmp/" && cp .env.example "$tmp/.env" && cp -r "$tmp/.env" "$tmp/env.check"
(cd "$tmp" && WHET_IMAGE=whetstone:check timeout 120 podman-compose --dry-run up -d --no-build >"$tmp/rendered.txt" 2>&1) || { tail -20 "$tmp/rendered.txt"; exit 1; }
grep -q "WHET_DATABASE=postgres://whet:change-me-postgres@postgres:5432/whet" "$tmp/rendered.txt" || { echo "FAIL: compose did not render the database URL from .env"; tail -20 "$tmp/rendered.txt"; exit 1; }
grep -q "serve --no-worker" "$tmp/rendered.txt" || { echo "FAIL: compose api command"; exit 1; }
say "image ok: non-root uid $uid, /health, /readyz, UI, HEALTHCHECK, native kernels, JSON logs"
