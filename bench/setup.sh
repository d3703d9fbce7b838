#!/usr/bin/env bash
# Installs what the benchmark's peers need, once: redis-server and the sqlite3 CLI from apt,
# a virtual environment with Huey and the Redis client from PyPI, and the disk-limit probe.
# Fails with a message naming what is missing when something cannot be installed.
# procrastinate (an optional peer) is installed when possible; it runs only where a
# PostgreSQL server is installed, and the results say why when it did not run.
set -euo pipefail
cd "$(dirname "$0")"

HUEY_VERSION=3.5.4
REDIS_PY_VERSION=8.1.0
PROCRASTINATE_VERSION=3.10.0
PSYCOPG_VERSION=3.3.9
APT_PACKAGES=(redis-server sqlite3 gcc libc6-dev)

die() { echo "bench/setup.sh: $*" >&2; exit 1; }

missing_tools() {
    local tool
    for tool in redis-server redis-cli sqlite3 cc; do
        command -v "$tool" >/dev/null || echo "$tool"
    done
}

install_apt_packages() {
    local sudo=""
    [ "$(id -u)" = 0 ] || sudo=sudo
    command -v apt-get >/dev/null || die "missing $(missing_tools | xargs) and apt-get is not available; install ${APT_PACKAGES[*]} by hand"
    echo "installing ${APT_PACKAGES[*]} (apt)"
    $sudo apt-get update -qq || die "apt-get update failed; install ${APT_PACKAGES[*]} by hand"
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${APT_PACKAGES[@]}" >/dev/null \
        || die "apt-get install ${APT_PACKAGES[*]} failed"
}

venv_is_ready() {
    .venv/bin/python - <<EOF 2>/dev/null
import huey, redis, sys
sys.exit(0 if (huey.__version__, redis.__version__) == ("$HUEY_VERSION", "$REDIS_PY_VERSION") else 1)
EOF
}

make_venv() {
    echo "creating bench/.venv with huey $HUEY_VERSION and redis $REDIS_PY_VERSION (PyPI)"
    python3 -m venv .venv || die "python3 -m venv failed (on Debian: apt-get install python3-venv)"
    .venv/bin/pip install -q --disable-pip-version-check "huey==$HUEY_VERSION" "redis==$REDIS_PY_VERSION" \
        || die "pip could not install huey and redis into bench/.venv"
}

install_procrastinate() {
    [ "${BENCH_PROCRASTINATE:-1}" != 0 ] || return 0
    .venv/bin/python -c "import procrastinate, sys; sys.exit(procrastinate.__version__ != '$PROCRASTINATE_VERSION')" \
        2>/dev/null && return 0
    echo "installing procrastinate $PROCRASTINATE_VERSION into bench/.venv (PyPI; optional peer)"
    .venv/bin/pip install -q --disable-pip-version-check "procrastinate==$PROCRASTINATE_VERSION" \
        "psycopg[binary]==$PSYCOPG_VERSION" \
        || echo "bench/setup.sh: could not install procrastinate; the results will say it was not run" >&2
}

if [ -n "$(missing_tools)" ]; then install_apt_packages; fi
[ -z "$(missing_tools)" ] || die "still missing after apt: $(missing_tools | xargs)"
venv_is_ready || make_venv
venv_is_ready || die "bench/.venv does not import huey $HUEY_VERSION and redis $REDIS_PY_VERSION"
install_procrastinate

mkdir -p .work
if [ ! -x .work/disk_limit ] || [ disk_limit.c -nt .work/disk_limit ]; then
    cc -O2 -Wall -o .work/disk_limit disk_limit.c || die "cc could not build bench/disk_limit.c"
fi
if [ ! -x .work/layout_floor ] || [ layout_floor.c -nt .work/layout_floor ]; then
    cc -O2 -Wall -pthread -o .work/layout_floor layout_floor.c || die "cc could not build bench/layout_floor.c"
fi
