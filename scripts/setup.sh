#!/usr/bin/env bash
# Create .venv with Python 3.10 and install the pinned dependencies.
# A second run checks a stamp of the requirement files and returns at once when nothing changed.
set -euo pipefail
cd "$(dirname "$0")/.."

find_python() {
  # Rasa 3.6 supports Python 3.10 and nothing newer; .python-version makes pyenv pick it here.
  for candidate in "${PYTHON:-}" "$(command -v pyenv >/dev/null 2>&1 && pyenv which python3.10 2>/dev/null || true)" python3.10 python3 python; do
    [ -n "$candidate" ] || continue
    if "$candidate" -c 'import sys; raise SystemExit(sys.version_info[:2] != (3, 10))' 2>/dev/null; then
      echo "$candidate"
      return 0
    fi
  done
  return 1
}

if [ ! -x .venv/bin/python ]; then
  if ! python=$(find_python); then
    echo "error: Python 3.10 not found. Install it (for example 'pyenv install 3.10') or set PYTHON=/path/to/python3.10." >&2
    exit 1
  fi
  echo "Creating .venv with $("$python" --version)"
  "$python" -m venv .venv
fi

stamp_file=.venv/.requirements.sha256
stamp=$(cat requirements.txt constraints.txt scripts/setup.sh | sha256sum | cut -d' ' -f1)
if [ -f "$stamp_file" ] && [ "$(cat "$stamp_file")" = "$stamp" ]; then
  exit 0
fi

pip=(.venv/bin/python -m pip install --disable-pip-version-check --quiet)
echo "Installing dependencies into .venv (the first time takes several minutes)"
"${pip[@]}" "pip>=23,<25" "setuptools==70.3.0" "wheel==0.45.1"
# scikit-surprise 1.1.4 has no wheel for this set-up and compiles against the installed numpy,
# so numpy and Cython come first and the build reuses them instead of an isolated newer numpy.
"${pip[@]}" -c constraints.txt numpy Cython
"${pip[@]}" -c constraints.txt --no-build-isolation scikit-surprise
"${pip[@]}" -c constraints.txt -r requirements.txt
.venv/bin/python -m pip check >/dev/null || { .venv/bin/python -m pip check; exit 1; }
echo "$stamp" > "$stamp_file"
echo "Dependencies installed."
