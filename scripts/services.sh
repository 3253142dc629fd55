#!/usr/bin/env bash
# Starts PostgreSQL, Redis and an S3 server (versitygw) on 127.0.0.1 when they
# are not running, as the backend test suites need real servers.
set -euo pipefail
if ! (exec 3<>/dev/tcp/127.0.0.1/5432) 2>/dev/null; then
  echo "starting PostgreSQL"
  ver=$(ls /etc/postgresql 2>/dev/null | sort -V | tail -1)
  if [ -z "$ver" ]; then
    ver=$(ls /usr/lib/postgresql | sort -V | tail -1)
    pg_createcluster "$ver" main >/dev/null
  fi
  # Tests connect as postgres over TCP without a password (trust on
  # loopback only), as on the build machine; a fresh cluster asks for one.
  hba="/etc/postgresql/$ver/main/pg_hba.conf"
  if ! grep -Eq '^host[[:space:]]+all[[:space:]]+all[[:space:]]+127\.0\.0\.1/32[[:space:]]+trust' "$hba"; then
    { printf 'local all all trust\nhost all all 127.0.0.1/32 trust\n'; cat "$hba"; } >"$hba.new" && mv "$hba.new" "$hba"
    chown postgres:postgres "$hba" 2>/dev/null || true
  fi
  pg_ctlcluster --skip-systemctl-redirect "$ver" main start
  for _ in $(seq 50); do (exec 3<>/dev/tcp/127.0.0.1/5432) 2>/dev/null && break; sleep 0.2; done
fi
if ! (exec 3<>/dev/tcp/127.0.0.1/6379) 2>/dev/null; then
  echo "starting Redis"
  mkdir -p /var/lib/redis /var/log/redis
  redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no --dir /var/lib/redis --logfile /var/log/redis/ci.log
  for _ in $(seq 50); do (exec 3<>/dev/tcp/127.0.0.1/6379) 2>/dev/null && break; sleep 0.2; done
fi
# S3: versitygw (Apache-2.0, a maintained S3 gateway; MinIO's server is AGPL
# and Debian packages no S3 server) on a posix folder. Built once with
# `go install` (~6 min cold) and kept in $(go env GOPATH)/bin.
S3_PORT=${WHET_TEST_S3_PORT:-7070}
if ! (exec 3<>/dev/tcp/127.0.0.1/"$S3_PORT") 2>/dev/null; then
  gobin="$(go env GOPATH)/bin"
  if [ ! -x "$gobin/versitygw" ]; then
    echo "installing versitygw v1.8.0 (go install, a few minutes once)"
    GOFLAGS=-mod=mod GOTOOLCHAIN=local go install github.com/versity/versitygw/cmd/versitygw@v1.8.0
  fi
  echo "starting versitygw (S3) on 127.0.0.1:$S3_PORT"
  s3root="${TMPDIR:-/tmp}/whet-s3"
  mkdir -p "$s3root/root/whet-test"   # a folder under the root is a bucket
  setsid "$gobin/versitygw" --access whet-test --secret whet-test-secret --port "127.0.0.1:$S3_PORT" --quiet \
    posix "$s3root/root" >"$s3root/versitygw.log" 2>&1 < /dev/null &
  for _ in $(seq 100); do (exec 3<>/dev/tcp/127.0.0.1/"$S3_PORT") 2>/dev/null && break; sleep 0.1; done
  (exec 3<>/dev/tcp/127.0.0.1/"$S3_PORT") 2>/dev/null || { echo "versitygw did not start:"; cat "$s3root/versitygw.log"; exit 1; }
fi
