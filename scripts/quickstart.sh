#!/usr/bin/env bash
# The README's first command: engine, images, .venv, then `stackup up` on the root
# stack.yaml (nginx serving examples/site on http://127.0.0.1:8080/).
# Arguments go to `stackup up`. A dockerd started here keeps running (the stack needs it);
# the pid to stop it is printed.
set -euo pipefail
# shellcheck source=scripts/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$STACKUP_ROOT"

URL="http://127.0.0.1:8080/"

bash scripts/setup-engine.sh
load_engine_env
bash scripts/build-images.sh
bash scripts/install.sh

say "stackup up (stack.yaml)"
.venv/bin/stackup up "$@"

# Wait (bounded) for nginx to answer, without any proxy, then show where it is.
if .venv/bin/python - "$URL" <<'PY'; then
import sys, time, urllib.request
opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
deadline = time.monotonic() + 30
while True:
    try:
        with opener.open(sys.argv[1], timeout=2) as resp:
            sys.exit(0 if resp.status < 500 else 1)
    except OSError:
        if time.monotonic() > deadline:
            sys.exit(1)
        time.sleep(0.3)
PY
  say "nginx answers: open $URL"
else
  warn "nothing answers on $URL yet; see: .venv/bin/stackup ps and .venv/bin/stackup logs"
fi
if pid="$(pidfile_pid "$STACKUP_DOCKERD_PIDFILE")"; then
  say "dockerd was started by these scripts (pid $pid); stop it with: kill $pid"
fi
