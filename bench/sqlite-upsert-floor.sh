#!/usr/bin/env bash
# How fast SQLite itself upserts a CSV into folksbase's contacts schema: the floor under any
# import through SQLite, set beside the plain `.import` the import benchmark compares with.
# Usage: bench/sqlite-upsert-floor.sh SPOOL_BIN CSV
set -euo pipefail
spool_bin=$1; csv=$2
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
"$spool_bin" demo seed --spool "$dir/spool" >/dev/null
sqlite3 "$dir/spool/folksbase.sqlite" .schema >"$dir/schema.sql"
seconds() {
    local start; start=$(date +%s.%N)
    "$@" >/dev/null
    awk -v start="$start" -v end="$(date +%s.%N)" 'BEGIN { printf "%.2f", end - start }'
}
fresh() { rm -f "$dir"/t.db*; sqlite3 "$dir/t.db" <"$dir/schema.sql"; sqlite3 "$dir/t.db" "PRAGMA journal_mode=WAL; INSERT INTO workspaces VALUES ('ws', 'w', 0);" >/dev/null; }
upsert() { # $1: cache_size, $2: the id expression
    sqlite3 "$dir/t.db" -cmd "PRAGMA synchronous=FULL" -cmd "PRAGMA cache_size=$1" \
        -cmd "CREATE TEMP TABLE t (email, first, last, company, phone)" ".import --csv --skip 1 $csv t" \
        "INSERT INTO contacts (id, workspace_id, email, first_name, last_name, company, phone, created_at,
            updated_at, import_id, import_row)
         SELECT $2, 'ws', lower(trim(email)), nullif(first, ''), nullif(last, ''), nullif(company, ''),
            nullif(phone, ''), 1, 1, 'imp', rowid FROM t WHERE true ON CONFLICT (workspace_id, email) DO NOTHING"
}
rm -f "$dir"/plain.db*
echo "plain .import into a table without indexes: $(seconds sqlite3 "$dir/plain.db" ".import --csv $csv plain") s"
fresh; echo "upsert, random ids, 2 MiB cache: $(seconds upsert -2000 "'ct_' || lower(hex(randomblob(10)))") s"
fresh; echo "upsert, ids in creation order, 16 MiB cache: $(seconds upsert -16384 "'ct_' || printf('%012d', rowid) || lower(hex(randomblob(4)))") s"
fresh; echo "upsert, ids in creation order, 256 MiB cache: $(seconds upsert -262144 "'ct_' || printf('%012d', rowid) || lower(hex(randomblob(4)))") s"
