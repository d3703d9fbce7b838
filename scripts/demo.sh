#!/usr/bin/env bash
# Seeds the demo workspace, imports N generated contacts, exports them, and says where to look.
# Uses a server already serving the spool if there is one, else starts one for the demo.
set -euo pipefail
spool_bin=$1; spool_dir=$2; rows=${3:-100000}
ids=$("$spool_bin" demo seed --spool "$spool_dir")
workspace=$(sed -n 's/.*"workspaceId" : "\(.*\)".*/\1/p' <<<"$ids")
user=$(sed -n 's/.*"userId" : "\(.*\)".*/\1/p' <<<"$ids")
csv="$spool_dir/demo-contacts.csv"
"$spool_bin" demo csv --rows "$rows" --seed 42 --out "$csv"

server=""
if ! pgrep -f "spool serve --spool $spool_dir" >/dev/null; then
    "$spool_bin" serve --spool "$spool_dir" --log-level warning &
    server=$!
    trap 'kill -TERM $server 2>/dev/null; wait $server 2>/dev/null' EXIT
fi

echo "== import $csv ($rows rows) into $workspace"
"$spool_bin" import "$csv" --workspace "$workspace" --user "$user" --spool "$spool_dir" | tee "$spool_dir/.demo-import"
echo "== export $workspace"
"$spool_bin" export --workspace "$workspace" --user "$user" --spool "$spool_dir" | tee "$spool_dir/.demo-export"

import_run=$(sed -n 's/^run *//p' "$spool_dir/.demo-import")
export_run=$(sed -n 's/^run *//p' "$spool_dir/.demo-export")
rm -f "$spool_dir/.demo-import" "$spool_dir/.demo-export"
echo
echo "Where to look:"
echo "  import run:  $spool_bin show $import_run --spool $spool_dir"
echo "               ls $(dirname "$(find "$spool_dir/done" -maxdepth 2 -name "$import_run")")/$import_run   (chunks/ beside steps/)"
echo "  export run:  ls $(dirname "$(find "$spool_dir/done" -maxdepth 2 -name "$export_run")")/$export_run   (parts/ beside steps/)"
echo "  exported:    ls $spool_dir/blobs/exports/"
echo "  emails:      ls $spool_dir/outbox/"
echo "  all imports: $spool_bin imports --spool $spool_dir"
