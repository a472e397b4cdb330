#!/usr/bin/env bash
# Run the official STAC API validator (stac-api-validator, offline schemas) against a live geostudies
# server on a loopback port, for every conformance class we advertise. Prints its report; exit 1 on errors.
# Usage: scripts/validate-api.sh [DB]   (default: builds a fresh catalogue into a temporary file)
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
db="${1:-}"
tmp="$(mktemp -d)"
trap 'kill $server 2>/dev/null || true; rm -rf "$tmp"' EXIT
cd "$here"  # this checkout's code, whichever geostudies is installed
if [ -z "$db" ]; then db="$tmp/geostudies.db"; python3 -m service.cli build --db "$db" >/dev/null; fi
port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
python3 -m service.cli serve --db "$db" --port "$port" --workers 2 >"$tmp/server.log" 2>&1 & server=$!
for _ in $(seq 50); do curl -sf "http://127.0.0.1:$port/conformance" >/dev/null && break; sleep 0.2; done
taiwan='{"type":"Polygon","coordinates":[[[119,21],[122,21],[122,24],[119,24],[119,21]]]}'
python3 "$here/scripts/stac_api_validator_offline.py" --root-url "http://127.0.0.1:$port/" --log-level WARN \
  --conformance core --conformance browseable --conformance collections --conformance features \
  --conformance item-search --conformance filter \
  --conformance item-search#sort --conformance item-search#fields --conformance item-search#query \
  --conformance features#sort --conformance features#fields --conformance features#query \
  --collection studies --geometry "$taiwan" --fields-nested-property properties.title \
  --query-comparison-field geostudies:year --query-eq-value 2025 --query-neq-value 2025 \
  --query-lt-value 2025 --query-lte-value 2025 --query-gt-value 2024 --query-gte-value 2024 \
  --query-substring-field geostudies:journal --query-starts-with-value Nature \
  --query-ends-with-value Environment --query-contains-value Earth \
  --query-in-field geostudies:disciplines --query-in-values seismology,hydrology \
  | tee "$tmp/report.txt"
grep -q '^Errors: none' "$tmp/report.txt" && ! grep -q '^Failed' "$tmp/report.txt"
