#!/usr/bin/env bash
# Create the separate RecBole 1.2.1 environment used only by benchmarks/recbole/run_recbole.py.
# RecBole needs PyTorch, which the product never imports, so it lives outside the repository's
# .venv, under var/ (ignored by git). Usage: bash benchmarks/recbole/setup_venv.sh [VENV_DIR]
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
VENV="${1:-$ROOT/var/recbole-venv}"
PYTHON="${RECBOLE_PYTHON:-/root/.pyenv/versions/3.11.7/bin/python}"

if [ -x "$VENV/bin/python" ] && "$VENV/bin/python" -c "import recbole, torch" 2>/dev/null; then
    echo "RecBole environment already present: $VENV"
    exit 0
fi
if [ ! -x "$PYTHON" ]; then
    echo "error: Python 3.11 not found at $PYTHON; set RECBOLE_PYTHON to a Python 3.11 interpreter." >&2
    exit 2
fi

"$PYTHON" -m venv "$VENV"
# torch 2.13.0 resolves to a local CPU wheel on these machines; a newer or unpinned torch would pull
# a multi-gigabyte CUDA build. RecBole 1.2.1 was written against NumPy 1.x and pandas 1.x/2.0.
"$VENV/bin/pip" install --quiet torch==2.13.0 'numpy<2'
"$VENV/bin/pip" install --quiet recbole==1.2.1 'numpy<2' 'pandas<2.2' 'scipy<1.12'
"$VENV/bin/python" -c "import recbole, torch; print('recbole', recbole.__version__, 'torch', torch.__version__)"
