#!/usr/bin/env bash
# Set up (virtualenv + floe) and start host h1 on http://127.0.0.1:8080 with the embedded default.yml.
# Extra arguments go to floe, e.g. ./start.sh -admin=secret -tags=linux
set -euo pipefail
cd "$(dirname "$0")"
scripts/venv-setup
echo "floe: the command is $PWD/.venv/bin/floe; to call it as floe: export PATH=\"$PWD/.venv/bin:\$PATH\""
echo "floe: dashboard http://127.0.0.1:8080/app/dash (user admin; password: the -admin token," \
     "or the generated one in ~/.floe/admin-token)"
exec .venv/bin/floe -conf=default.yml -host_name=h1 -pub_bind=127.0.0.1:8080 "$@"
