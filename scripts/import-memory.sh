#!/usr/bin/env bash
# Measures the peak memory (VmHWM) of `spool serve` while it imports N generated rows.
# Usage: scripts/import-memory.sh SPOOL_BIN [ROWS]   (default 1,000,000)
set -euo pipefail
spool_bin=$1; rows=${2:-1000000}
dir=$(mktemp -d); spool="$dir/spool"
trap 'kill -TERM $server 2>/dev/null; wait $server 2>/dev/null; rm -rf "$dir"' EXIT
ids=$("$spool_bin" demo seed --spool "$spool")
workspace=$(sed -n 's/.*"workspaceId" : "\(.*\)".*/\1/p' <<<"$ids")
user=$(sed -n 's/.*"userId" : "\(.*\)".*/\1/p' <<<"$ids")
"$spool_bin" demo csv --rows "$rows" --seed 7 --out "$dir/contacts.csv"
"$spool_bin" serve --spool "$spool" --log-level warning &
server=$!
start=$(date +%s.%N)
"$spool_bin" import "$dir/contacts.csv" --workspace "$workspace" --user "$user" --spool "$spool" >/dev/null
end=$(date +%s.%N)
peak=$(awk '/VmHWM/ {print $2}' "/proc/$server/status")
size=$(stat -c %s "$dir/contacts.csv")
awk -v rows="$rows" -v size="$size" -v start="$start" -v end="$end" -v peak="$peak" 'BEGIN {
    printf "rows %d, file %.1f MB, import %.1f s (%.0f rows/s), serve peak RSS %.1f MB\n",
        rows, size / 1048576, end - start, rows / (end - start), peak / 1024 }'
