# Sourced by scripts/hub and scripts/test: makes .venv and installs the project into it.
# Idempotent: pip runs again only when pyproject.toml or the wanted extras change.
# Usage: . scripts/bootstrap.sh [EXTRAS]
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
extras="${1:-}"
python="${PYTHON:-}"
if [ -z "$python" ]; then
  for candidate in python3.11 python3.12 python3.13 python3; do
    if command -v "$candidate" >/dev/null 2>&1; then python="$candidate"; break; fi
  done
fi
"$python" -c 'import sys; sys.exit(sys.version_info < (3, 11))' || {
  echo "MC Hub needs Python 3.11 or newer; found $("$python" --version 2>&1)" >&2; exit 1; }
if [ ! -x .venv/bin/python ]; then
  "$python" -m venv .venv
fi
want="$(cat pyproject.toml | sha256sum | cut -c1-16)-${extras}"
stamp=.venv/.mchub-installed
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  echo "Installing MC Hub into .venv ..." >&2
  .venv/bin/python -m pip install --quiet --disable-pip-version-check --upgrade pip 2>/dev/null || true
  spec="."
  [ -n "$extras" ] && spec=".[$extras]"
  # setuptools' notices about editable installs are for package authors, not for someone setting up
  # the hub: they are silenced; pip's own errors still show.
  PYTHONWARNINGS=ignore .venv/bin/python -m pip install --quiet --disable-pip-version-check -e "$spec" 2>&1 \
    | grep -v "is ignored: it is neither a file nor a directory" >&2 || true
  # -I: isolated, so the source tree in the current directory cannot pass for an installed package
  [ -x .venv/bin/mchub ] && .venv/bin/python -I -c 'import reconciler.entry.cli, sandbox.server, webview.app' \
    || { echo "MC Hub could not be installed into .venv (see pip's messages above)" >&2; exit 1; }
  echo "$want" > "$stamp"
fi
