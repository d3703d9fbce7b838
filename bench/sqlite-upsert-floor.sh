#!/usr/bin/env bash
# How fast SQLite itself upserts a CSV into folksbase's contacts schema: the floor under any
# import through SQLite, set beside the plain `.import` the import benchmark compares with.
# Each line also gives plain `.import` time ÷ upsert time: the highest import ratio the benchmark
# could report for an import through that table (its target is 0.8).
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
fresh() {
    rm -f "$dir"/t.db*
    sqlite3 "$dir/t.db" <"$dir/schema.sql"
    sqlite3 "$dir/t.db" "PRAGMA journal_mode=WAL; INSERT INTO workspaces VALUES ('ws', 'w', 0);" >/dev/null
}
upsert() { # $1: cache_size, $2: the id expression
    sqlite3 "$dir/t.db" -cmd "PRAGMA synchronous=FULL" -cmd "PRAGMA cache_size=$1" \
        -cmd "CREATE TEMP TABLE t (email, first, last, company, phone)" ".import --csv --skip 1 $csv t" \
        "INSERT INTO contacts (id, workspace_id, email, first_name, last_name, company, phone, created_at,
            updated_at, import_id, import_row)
         SELECT $2, 'ws', lower(trim(email)), nullif(first, ''), nullif(last, ''), nullif(company, ''),
            nullif(phone, ''), 1, 1, 'imp', rowid FROM t WHERE true ON CONFLICT (workspace_id, email) DO NOTHING"
}
report() { # $1: what, $2: seconds
    awk -v what="$1" -v s="$2" -v plain="$plain" 'BEGIN { printf "%s: %s s, plain .import ÷ this = %.2f\n", what, s, plain / s }'
}
random_ids="'ct_' || lower(hex(randomblob(10)))"
ordered_ids="'ct_' || printf('%012d', rowid) || lower(hex(randomblob(4)))"

# The leanest table that still keeps one contact per workspace and email: the table is that key's
# B-tree, with no rowid, no id index and no index for exports.
lean() {
    sqlite3 "$dir/t.db" "DROP INDEX contacts_workspace_created_fields; DROP TABLE contacts;
        CREATE TABLE contacts (id TEXT NOT NULL, workspace_id TEXT NOT NULL, email TEXT NOT NULL, first_name TEXT,
            last_name TEXT, company TEXT, phone TEXT, created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL,
            import_id TEXT, import_row INTEGER, PRIMARY KEY (workspace_id, email)) WITHOUT ROWID;"
}

rm -f "$dir"/plain.db*
plain=$(seconds sqlite3 "$dir/plain.db" ".import --csv $csv plain")
echo "plain .import into a table without indexes: $plain s"
fresh; report "upsert, random ids, 2 MiB cache" "$(seconds upsert -2000 "$random_ids")"
fresh; report "upsert, ids in creation order, 16 MiB cache" "$(seconds upsert -16384 "$ordered_ids")"
fresh; report "upsert, ids in creation order, 256 MiB cache" "$(seconds upsert -262144 "$ordered_ids")"
fresh; lean; report "upsert into the leanest table (WITHOUT ROWID, key (workspace_id, email) only), 16 MiB cache" \
    "$(seconds upsert -16384 "$ordered_ids")"
