#!/usr/bin/env bash
# Checks the web UI: installs its npm packages from the lock file, type-checks,
# runs the Vitest component tests, rebuilds the app and checks the committed
# web/dist is byte-identical to the fresh build, then runs the Playwright
# end-to-end suite against a real `whet serve` built from this repo.
#
# Needs Node 20+, npm, and Debian's chromium at /usr/bin/chromium (apt-get
# install chromium). Set WEB_SKIP_E2E=1 to skip the browser suite,
# WEB_UPDATE_DIST=1 to overwrite web/dist with the fresh build instead of
# failing. Screenshots go to $WEB_SCREENSHOTS (default web/e2e/screenshots).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root/web"

echo "== web: npm ci"
npm ci --no-audit --no-fund --loglevel=error

echo "== web: typecheck"
npx tsc --noEmit -p .

echo "== web: vitest"
npx vitest run

echo "== web: build and compare with committed web/dist"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
npx vite build --outDir "$tmp/dist" --emptyOutDir --logLevel warn
if ! diff -r "$root/web/dist" "$tmp/dist" >/dev/null; then
  if [[ "${WEB_UPDATE_DIST:-}" == 1 ]]; then
    rm -rf "$root/web/dist" && cp -r "$tmp/dist" "$root/web/dist"
    echo "web/dist updated"
  else
    diff -r "$root/web/dist" "$tmp/dist" | head -20 || true
    echo "FAIL: web/dist is not the build of web/src; run WEB_UPDATE_DIST=1 scripts/web-check.sh and commit web/dist" >&2
    exit 1
  fi
else
  echo "web/dist is current"
fi

echo "== web: go test ./web/"
(cd "$root" && go test ./web/)

if [[ "${WEB_SKIP_E2E:-}" == 1 ]]; then
  echo "== web: e2e skipped (WEB_SKIP_E2E=1)"
  exit 0
fi
echo "== web: e2e (playwright-core + /usr/bin/chromium against whet serve)"
(cd "$root" && go build -o "$tmp/whet" ./cmd/whet)
WHET_BIN="$tmp/whet" REPO_ROOT="$root" node e2e/run.mjs
echo "== web: editor e2e"
WHET_BIN="$tmp/whet" REPO_ROOT="$root" node e2e/editor.mjs
echo "== web: list and run pages e2e (runs, compare, models, 400 px)"
WHET_BIN="$tmp/whet" REPO_ROOT="$root" node e2e/pages.mjs
echo "== web: sign-in e2e (whet serve --auth required)"
WHET_BIN="$tmp/whet" REPO_ROOT="$root" node e2e/auth.mjs
echo "== web: playground e2e"
WHET_BIN="$tmp/whet" REPO_ROOT="$root" node e2e/playground.mjs

echo "== /v1 with the official openai npm client (tools/openai-client)"
npm ci --prefix "$root/tools/openai-client" --no-audit --no-fund --loglevel=error
WHET_BIN="$tmp/whet" REPO_ROOT="$root" node "$root/tools/openai-client/check.mjs"
