#!/usr/bin/env bash
# Installs Autobahn|Testsuite (wstest, Python 2.7 only) into a virtualenv under target/.
#
#   scripts/autobahn/install.sh                # idempotent: does nothing when already installed
#   scripts/autobahn/install.sh --find-python  # only print the Python 2.7 it would use; exit 1
#                                              # with the reason on stderr when there is none
#   WSBENCH_CACHE=/some/dir scripts/autobahn/install.sh
#
# Python 2.7 is looked up as: $WSBENCH_PY27, then pyenv's 2.7.x, then python2.7 on PATH
# (scripts/test.sh skips the Autobahn step when `--find-python` finds none).
# The first install downloads the pinned packages of requirements-py27.txt (next to this
# script) from the Python Package Index (PyPI), through whatever index pip is configured for.
# Everything it writes goes under ${WSBENCH_CACHE:-<repo>/target/autobahn/cache}: the
# virtualenv (autobahn-venv), the virtualenv bootstrap and pip's download cache; nothing is
# written outside the repository, and `cargo clean` removes it. Prints the path of wstest on
# its last line.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
req="$here/requirements-py27.txt"
cache="${WSBENCH_CACHE:-$repo/target/autobahn/cache}"
venv="$cache/autobahn-venv"
bootstrap="$cache/virtualenv-16.7.12-py27"
stamp="$venv/.wsbench-requirements.sha256"
# pip's own cache would default to ~/.cache/pip.
export PIP_CACHE_DIR="$cache/pip"
# virtualenv 16.7.12 is the last single-module virtualenv that runs on Python 2.7 and ships
# pip 20.3.4 / setuptools 44 wheels for it, so creating the venv needs no further downloads.
virtualenv_pin="virtualenv==16.7.12"

log() { printf 'autobahn-install: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

# Prints the path of a Python 2.7 interpreter, or fails with the reason.
find_py27() {
    local py=""
    if [[ -n "${WSBENCH_PY27:-}" ]]; then
        [[ -x "$WSBENCH_PY27" ]] || die "WSBENCH_PY27=$WSBENCH_PY27 is not executable"
        py="$WSBENCH_PY27"
    elif command -v pyenv >/dev/null 2>&1; then
        local root ver
        root="$(pyenv root)"
        ver="$(pyenv versions --bare 2>/dev/null | grep -E '^2\.7(\.[0-9]+)?$' | sort -V | tail -n1 || true)"
        if [[ -x "$root/versions/2.7.18/bin/python" ]]; then
            py="$root/versions/2.7.18/bin/python"
        elif [[ -n "$ver" && -x "$root/versions/$ver/bin/python" ]]; then
            py="$root/versions/$ver/bin/python"
        fi
    fi
    if [[ -z "$py" ]] && command -v python2.7 >/dev/null 2>&1; then
        py="$(command -v python2.7)"
    fi
    [[ -n "$py" ]] || die "no Python 2.7 found (tried \$WSBENCH_PY27, pyenv, python2.7 on PATH); get one with 'pyenv install 2.7.18' or set WSBENCH_PY27"
    "$py" -c 'import sys; sys.exit(0 if sys.version_info[:2] == (2, 7) else 1)' >/dev/null 2>&1 \
        || die "$py is not a working Python 2.7"
    printf '%s\n' "$py"
}

case "${1:-}" in
    "") ;;
    --find-python) find_py27; exit 0 ;;
    *) die "unknown argument '$1' (usage: install.sh [--find-python])" ;;
esac

want_sum="$(sha256sum "$req" | cut -d' ' -f1)"
if [[ -x "$venv/bin/wstest" && -f "$stamp" && "$(cat "$stamp")" == "$want_sum" ]] \
    && "$venv/bin/python" -c 'import autobahntestsuite' >/dev/null 2>&1; then
    log "already installed in $venv"
    printf '%s\n' "$venv/bin/wstest"
    exit 0
fi

py27="$(find_py27)"
log "using $py27 ($("$py27" -V 2>&1))"

mkdir -p "$cache"
if [[ ! -f "$bootstrap/virtualenv.py" ]]; then
    log "bootstrapping $virtualenv_pin into $bootstrap"
    rm -rf "$bootstrap"
    "$py27" -m pip install --disable-pip-version-check --no-warn-script-location \
        --target "$bootstrap" "$virtualenv_pin" >&2
fi

if [[ ! -x "$venv/bin/python" ]]; then
    log "creating virtualenv $venv"
    rm -rf "$venv"
    PYTHONPATH="$bootstrap" "$py27" -m virtualenv --no-download -p "$py27" "$venv" >&2
fi

log "installing pinned requirements from $req"
rm -f "$stamp"
"$venv/bin/python" -m pip install --disable-pip-version-check --no-warn-script-location \
    -r "$req" >&2
"$venv/bin/python" -c 'import autobahntestsuite, autobahn, twisted' \
    || die "autobahntestsuite does not import after install"
[[ -x "$venv/bin/wstest" ]] || die "wstest missing from $venv/bin after install"
printf '%s\n' "$want_sum" >"$stamp"
log "installed: $("$venv/bin/wstest" --autobahnversion 2>&1 | head -n1 || true)"
printf '%s\n' "$venv/bin/wstest"
