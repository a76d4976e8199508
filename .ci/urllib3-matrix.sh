#!/usr/bin/env bash
# Run the CONNECT tests (tests/test_tunnel.py) against the oldest and the newest
# urllib3 that ChallengeAdapter supports, each in a throwaway venv.
#
#   .ci/urllib3-matrix.sh                      # urllib3 1.26.* and newest 2.x
#   .ci/urllib3-matrix.sh 'urllib3==2.0.*'     # just the given requirement(s)
#   PYTHON=python3.9 .ci/urllib3-matrix.sh     # with another interpreter
#
# ChallengeAdapter replaces urllib3's CONNECT exchange (requests_challenge/_tunnel.py
# names every internal it leans on); this is where a urllib3 release that moves
# one of them shows up. The venvs live in a temporary directory removed on exit.
set -euo pipefail
cd "$(dirname "$0")/.."

python=${PYTHON:-python3}
if [ $# -gt 0 ]; then
    specs=("$@")
else
    specs=("urllib3==1.26.*" "urllib3>=2,<3")
fi

workdir=$(mktemp -d "${TMPDIR:-/tmp}/urllib3-matrix.XXXXXX")
trap 'rm -rf "$workdir"' EXIT
export PIP_DISABLE_PIP_VERSION_CHECK=1

status=0
for spec in "${specs[@]}"; do
    venv="$workdir/venv-$(printf '%s' "$spec" | tr -c 'A-Za-z0-9.' '_')"
    "$python" -m venv "$venv"
    "$venv/bin/python" -m pip install -q "$spec" requests pytest responses
    # Editable, so the tests import this checkout; --no-deps keeps the urllib3 chosen above.
    "$venv/bin/python" -m pip install -q --no-deps -e .
    "$venv/bin/python" - <<'EOF'
import sys, urllib3, requests
print(f"== Python {sys.version.split()[0]}, urllib3 {urllib3.__version__}, requests {requests.__version__}")
EOF
    if ! "$venv/bin/python" -m pytest -q -p no:cacheprovider tests/test_tunnel.py; then
        echo "FAILED with $spec" >&2
        status=1
    fi
done
exit $status
