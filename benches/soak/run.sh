#!/usr/bin/env bash
# Soak run: mixed load on loopback against `cadena serve` for a bounded time, checking
# that nothing but rate limits is refused and that memory stays within the caches' bounds.
#
#   benches/soak/run.sh [SECONDS]                                   (default 600; SQLite)
#   SOAK_POSTGRES=postgres://postgres@127.0.0.1:5432 benches/soak/run.sh [SECONDS]
#
# Starts a fresh store (SQLite in $OUT/data, or the PostgreSQL database `cadena_soak`,
# dropped and created anew on the server SOAK_POSTGRES names) with the demo data and
# 20,000 generated watchlist entries, then for SECONDS runs at once:
#   - wrk, 8 connections: screenings and agency searches (benches/soak/mixed.lua);
#   - a batch audit of 5,000 supplier rows every minute, followed to completion;
#   - an admin upload of 2,000 changed supplier rows every 45 s (queued, loaded by the
#     worker, taken in by the index);
#   - the server's RSS sampled every 30 s (into $OUT/rss.csv).
# Prints the figures and its verdict, and exits 1 if any response other than 2xx or 429
# was seen, any audit it started did not complete with all its rows, an upload failed,
# or RSS grew by more than 25% after the first two minutes.
# Needs wrk (Debian: apt-get install wrk), curl and python3 (and psql for PostgreSQL).
set -euo pipefail
for tool in wrk curl python3; do
    command -v "$tool" > /dev/null || { echo "soak: $tool is not installed" >&2; exit 2; }
done
cd "$(dirname "$0")/../.."
seconds="${1:-600}"
port=18090
out="${OUT:-$(mktemp -d /tmp/cadena-soak.XXXXXX)}"
mkdir -p "$out"
export CADENA_DATA_DIR="$out/data" CADENA_LOG=warn
unset CADENA_DATABASE_URL
if [ -n "${SOAK_POSTGRES:-}" ]; then
    psql "$SOAK_POSTGRES/postgres" -qc 'DROP DATABASE IF EXISTS cadena_soak WITH (FORCE)' -c 'CREATE DATABASE cadena_soak'
    export CADENA_DATABASE_URL="$SOAK_POSTGRES/cadena_soak"
fi
base="http://127.0.0.1:$port"

cargo build --release --quiet
cadena=target/release/cadena

python3 - "$out" <<'PY'
import sys
out = sys.argv[1]
with open(f"{out}/watchlist.csv", "w") as f:
    f.write("entity_id,list,name,aliases,tax_id,country,reason\n")
    for i in range(20000):
        f.write(f"SOAK-W-{i:06},Soak list,Empresa Generada {i} Transportes SAC,Generada {i},2060{i:07},PE,generated\n")
with open(f"{out}/audit.csv", "w") as f:
    f.write("supplier_id,name,country\n")
    for i in range(5000):
        name = "Minera Ficticia Oro Verde SAC" if i % 10 == 0 else f"Proveedor Auditado {i} SRL"
        f.write(f"A-{i:05},{name},PE\n")
PY
"$cadena" ingest watchlist "$out/watchlist.csv" --source soak > /dev/null
admin_key="$("$cadena" keys create --role admin --name soak-admin | tail -n 1)"
CADENA_KEY="$("$cadena" keys create --role admin --name soak-load | tail -n 1)"
export CADENA_KEY

"$cadena" serve --demo --bind "127.0.0.1:$port" --rate-limit 100000 > "$out/serve.log" 2>&1 &
server=$!
cleanup() { kill "$server" 2>/dev/null; wait "$server" 2>/dev/null || true; }
trap cleanup EXIT
for _ in $(seq 1 120); do
    curl -sf "$base/healthz" > /dev/null && break
    sleep 1
done

# RSS sampler.
(
    echo "seconds,rss_kib"
    start=$(date +%s)
    while kill -0 "$server" 2>/dev/null; do
        echo "$(( $(date +%s) - start )),$(ps -o rss= -p "$server" | tr -d ' ')"
        sleep 30
    done
) > "$out/rss.csv" &

# Batch audits, one a minute, each followed to completion. Every audit started prints
# exactly one line, whatever became of it (`set +e`: a failed request must not end the
# loop silently), so the verdict counts them all.
(
    set +e +o pipefail
    deadline=$(( $(date +%s) + seconds - 30 ))
    while [ "$(date +%s)" -lt "$deadline" ]; do
        started=$(date +%s)
        id=$(curl -sf -H "Authorization: Bearer $admin_key" -H 'Content-Type: text/csv' \
            --data-binary @"$out/audit.csv" "$base/v1/audits?name=soak.csv" \
            | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])' 2>/dev/null)
        if [ -z "$id" ]; then
            echo "audit upload failed"
            sleep 5
            continue
        fi
        status=""
        until [ "$status" = completed ] || [ "$status" = failed ] || [ "$status" = cancelled ]; do
            sleep 2
            status=$(curl -sf -H "Authorization: Bearer $admin_key" "$base/v1/audits/$id" \
                | python3 -c 'import json,sys; print(json.load(sys.stdin)["audit"]["status"])' 2>/dev/null)
            [ -n "$status" ] || { status="unreachable"; break; }
        done
        rows=0
        if [ "$status" = completed ]; then
            rows=$(( $(curl -sf -H "Authorization: Bearer $admin_key" "$base/v1/audits/$id/report?format=csv" | wc -l) - 1 ))
        fi
        echo "audit $id: $status, $rows report rows, $(( $(date +%s) - started )) s"
        sleep $(( 60 - ($(date +%s) - started) > 0 ? 60 - ($(date +%s) - started) : 0 ))
    done
) > "$out/audits.log" 2>&1 &
audits=$!

# Admin uploads, every 45 s, each changing the suppliers' names.
(
    set +e
    deadline=$(( $(date +%s) + seconds - 30 ))
    round=0
    while [ "$(date +%s)" -lt "$deadline" ]; do
        round=$((round + 1))
        python3 - "$round" > "$out/suppliers.csv" <<'PY'
import sys
r = int(sys.argv[1])
print("supplier_id,name,country")
for i in range(2000):
    print(f"SOAK-S-{i:05},Proveedor Cargado {i} Ronda {r} SAC,PE")
PY
        answer=$(curl -s -w ' %{http_code}' -H "Authorization: Bearer $admin_key" -H 'Content-Type: text/csv' \
            --data-binary @"$out/suppliers.csv" "$base/v1/datasets?kind=suppliers&source=soak&name=suppliers.csv")
        echo "upload $round: HTTP ${answer##* }"
        sleep 45
    done
) > "$out/uploads.log" 2>&1 &
uploads=$!

wrk -t2 -c8 -d"${seconds}s" --timeout 10s --latency -s benches/soak/mixed.lua "$base" > "$out/wrk.log" 2> "$out/wrk.err" || true
wait "$audits" "$uploads" || true

echo "== soak: ${seconds} s, output in $out"
grep -E '^(requests|latency):' "$out/wrk.log"
echo "audits:  $(grep -c ': completed, 5000 report rows' "$out/audits.log") completed with 5000 rows, of $(wc -l < "$out/audits.log")"
echo "uploads: $(grep -c 'HTTP 20[0-9]' "$out/uploads.log") answered 2xx, of $(wc -l < "$out/uploads.log")"
rss_ok=0
python3 - "$out/rss.csv" "$seconds" <<'PY' || rss_ok=1
import csv, sys
rows = [(int(r["seconds"]), int(r["rss_kib"])) for r in csv.DictReader(open(sys.argv[1])) if r["rss_kib"]]
warm = [rss for s, rss in rows if s >= 120][:1] or [rows[len(rows) // 5][1]]
last = rows[-1][1]
peak = max(rss for _, rss in rows)
print("rss (MiB) every 30 s: " + " ".join(f"{rss / 1024:.0f}" for _, rss in rows))
print(f"rss: after 2 min {warm[0] / 1024:.0f} MiB, peak {peak / 1024:.0f} MiB, at the end {last / 1024:.0f} MiB "
      f"(growth after warm-up {100 * (last - warm[0]) / warm[0]:+.1f}%)")
sys.exit(0 if last <= warm[0] * 1.25 else 1)
PY
failed=$(sed -nE 's/.*other statuses ([0-9]+), socket errors ([0-9]+).*/\1 \2/p' "$out/wrk.log")
audits_total=$(wc -l < "$out/audits.log")
audits_ok=$(grep -c ': completed, 5000 report rows' "$out/audits.log" || true)
uploads_total=$(wc -l < "$out/uploads.log")
uploads_ok=$(grep -c 'HTTP 20[0-9]' "$out/uploads.log" || true)
verdict=passed
[ "$failed" = "0 0" ] || { echo "soak: wrk saw other statuses or socket errors ($failed)"; verdict=FAILED; }
[ "$audits_total" -gt 0 ] && [ "$audits_ok" = "$audits_total" ] \
    || { echo "soak: $audits_ok of $audits_total audits completed with all their rows"; verdict=FAILED; }
[ "$uploads_ok" = "$uploads_total" ] || { echo "soak: $uploads_ok of $uploads_total uploads answered 2xx"; verdict=FAILED; }
[ "$rss_ok" = 0 ] || { echo "soak: RSS grew by more than 25% after the first two minutes"; verdict=FAILED; }
echo "soak $verdict"
[ "$verdict" = passed ]
