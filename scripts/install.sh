#!/usr/bin/env bash
# Install stackup and its test tools into <repo>/.venv (never into the system Python,
# which Debian 12 refuses anyway). Safe to run twice: when .venv already holds an install
# made from the current pyproject.toml, nothing is done.
#
#   STACKUP_PYTHON   the interpreter that creates the venv (default: python3, >= 3.11)
set -euo pipefail
# shellcheck source=scripts/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

PY="${STACKUP_PYTHON:-python3}"
VENV="$STACKUP_ROOT/.venv"
MARK="$VENV/.stackup-install"
cd "$STACKUP_ROOT"

have "$PY" || {
  if can_apt; then apt_ensure python3; else die "$PY not found; install Python >= 3.11"; fi
}
"$PY" -c 'import sys; sys.exit(sys.version_info < (3, 11))' ||
  die "$PY is $("$PY" -V 2>&1); stackup needs Python >= 3.11 (set STACKUP_PYTHON)"

# An editable install leaves stackup's own modules uncompiled, and where PYTHONDONTWRITEBYTECODE
# is set (as in some CI and container images) every run compiled them again: 0.15-0.3 s of a
# 0.5 s `stackup diff`. Python reads .pyc files whatever that variable says, so write them now
# (quick when they are current).
compile_stackup() { "$VENV/bin/python" -m compileall -q stackup >/dev/null 2>&1 || true; }

want="$(sha256sum pyproject.toml | cut -d' ' -f1) $("$PY" -V 2>&1)"
if [ -x "$VENV/bin/python" ] && [ -f "$MARK" ] && [ "$(cat "$MARK")" = "$want" ] &&
  "$VENV/bin/python" -c 'import stackup' 2>/dev/null; then
  compile_stackup
  say "already installed in $VENV (pyproject.toml unchanged)"
  exit 0
fi

venv_ok() { [ -x "$VENV/bin/python" ] && "$VENV/bin/python" -m pip --version >/dev/null 2>&1; }

if ! venv_ok; then
  # A half-made venv (ensurepip missing) is useless: start again.
  [ -e "$VENV" ] && {
    say "removing the incomplete virtualenv $VENV"
    rm -rf "$VENV"
  }
  say "creating $VENV with $("$PY" -V 2>&1) ($(command -v "$PY"))"
  if ! "$PY" -m venv "$VENV" >"$STACKUP_LOG_DIR/venv.log" 2>&1; then
    rm -rf "$VENV"
    can_apt || {
      cat "$STACKUP_LOG_DIR/venv.log" >&2
      die "'$PY -m venv' failed; install your distribution's venv package (Debian: python3-venv)"
    }
    say "'$PY -m venv' failed (ensurepip missing): installing Debian's python3-venv"
    apt_ensure python3-venv
    "$PY" -m venv "$VENV"
  fi
fi

say "pip install -e '.[test]' into $VENV (log: $STACKUP_LOG_DIR/pip.log)"
t0=$SECONDS
if ! "$VENV/bin/python" -m pip install --disable-pip-version-check -q -e '.[test]' \
  >"$STACKUP_LOG_DIR/pip.log" 2>&1; then
  tail -n 30 "$STACKUP_LOG_DIR/pip.log" >&2
  die "pip install failed (log: $STACKUP_LOG_DIR/pip.log)"
fi
printf '%s\n' "$want" >"$MARK"
compile_stackup
say "installed in $((SECONDS - t0))s: $("$VENV/bin/stackup" --version 2>/dev/null || echo 'stackup (no --version yet)')"
