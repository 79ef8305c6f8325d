#!/usr/bin/env bash
# Checks the OpenAPI document against the server that serves it:
#
#   tests/schemathesis/run.sh [SCHEMATHESIS_OPTION …]
#
# Starts `cadena serve --demo` on a free loopback port with a fresh data directory,
# validates /openapi.json as OpenAPI 3.1 (openapi-spec-validator), then runs
# `schemathesis run --checks all` against it with the demo's admin key, and exits
# non-zero on any invalid document or any failure. schemathesis and the validator are
# installed into a venv ($CADENA_ST_VENV, default /tmp/venv-schemathesis) on first use
# (from PyPI); the versions are pinned in requirements.txt beside this script.
# Settings schemathesis reads are in schemathesis.toml beside this script.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
cd "$here/../.."
venv="${CADENA_ST_VENV:-/tmp/venv-schemathesis}"

if [ ! -x "$venv/bin/schemathesis" ] || [ ! -x "$venv/bin/openapi-spec-validator" ]; then
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet -r "$here/requirements.txt"
fi

cargo build --locked --quiet
work="$(mktemp -d)"
server=""
cleanup() {
    if [ -n "$server" ]; then
        kill "$server" 2> /dev/null || true
        wait "$server" 2> /dev/null || true
    fi
    rm -rf "$work"
}
trap cleanup EXIT

# Port 0: the server says which port it got. The rate limit is lifted so that the run
# is not slowed by 429s (which the document lists all the same).
CADENA_LOG=warn target/debug/cadena --data-dir "$work/data" serve --demo --bind 127.0.0.1:0 \
    --rate-limit 1000000 > "$work/serve.log" 2>&1 &
server=$!
base=""
key=""
for _ in $(seq 1 600); do
    base="$(sed -n 's|^cadena is listening on \(http://[^/]*\)/.*|\1|p' "$work/serve.log")"
    key="$(grep -A1 '^demo API key' "$work/serve.log" | sed -n 2p || true)"
    [ -n "$base" ] && [ -n "$key" ] && break
    kill -0 "$server" 2> /dev/null || { cat "$work/serve.log" >&2; exit 1; }
    sleep 0.2
done
[ -n "$key" ] || { echo "cadena serve did not start:" >&2; cat "$work/serve.log" >&2; exit 1; }
for _ in $(seq 1 300); do
    curl -sf "$base/readyz" > /dev/null && break
    sleep 0.2
done

curl -sf "$base/openapi.json" > "$work/openapi.json"
# The validator prints the whole document with an error: keep its last lines.
if ! "$venv/bin/openapi-spec-validator" "$work/openapi.json" > "$work/validator.log" 2>&1; then
    tail -c 3000 "$work/validator.log" >&2
    exit 1
fi
# Every schema a $ref names is in the document (the validator stops at the first).
python3 - "$work/openapi.json" <<'PY'
import json, re, sys
text = open(sys.argv[1]).read()
defined = set(json.loads(text)["components"]["schemas"])
missing = sorted(set(re.findall(r'"#/components/schemas/([^"]+)"', text)) - defined)
if missing:
    sys.exit(f"schemas referred to but not defined: {', '.join(missing)}")
PY

cd "$here"
"$venv/bin/schemathesis" run "$base/openapi.json" \
    --checks all \
    --header "Authorization: Bearer $key" \
    --seed 1 \
    --no-color \
    "$@"
