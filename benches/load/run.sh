#!/usr/bin/env bash
# Load benchmark of single screenings against a running `cadena serve` on loopback.
#
#   [CONNECTIONS=16] benches/load/run.sh DATA_DIR [DURATION]
#
# DATA_DIR holds a store and index to serve (for example the one that
# `CADENA_BENCH_DIR=DIR cargo bench --bench matching` leaves, with 1,000,000 entities).
# Needs `wrk` (Debian: apt-get install wrk). Prints wrk's summary and the script's
# p50/p99 latency line.
set -euo pipefail
cd "$(dirname "$0")/../.."
data_dir="${1:?usage: benches/load/run.sh DATA_DIR [DURATION]}"
duration="${2:-30s}"
connections="${CONNECTIONS:-16}"
port=18080

cargo build --release --quiet
cadena=target/release/cadena
export CADENA_DATA_DIR="$data_dir" CADENA_LOG=warn
CADENA_KEY="$("$cadena" keys create --role officer --name load-benchmark | tail -n 1)"
export CADENA_KEY

"$cadena" serve --bind "127.0.0.1:$port" --rate-limit 1000000 > /dev/null &
server=$!
trap 'kill $server 2>/dev/null; wait $server 2>/dev/null' EXIT
for _ in $(seq 1 120); do
    curl -sf "http://127.0.0.1:$port/healthz" > /dev/null && break
    sleep 1
done

# Warm up (page the index in), then measure.
wrk -t2 -c16 -d5s -s benches/load/screen.lua "http://127.0.0.1:$port" > /dev/null
wrk -t2 -c"$connections" -d"$duration" --latency -s benches/load/screen.lua "http://127.0.0.1:$port"
