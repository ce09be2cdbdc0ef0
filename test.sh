#!/usr/bin/env bash
# Run the whole test suite as CI does: set-up, Chromium for the browser test, then pytest.
# Extra arguments go to pytest, for example `./test.sh -m "not slow"` or `./test.sh tests/test_search.py`.
set -euo pipefail
cd "$(dirname "$0")"
scripts/setup.sh
if [ -x scripts/install-chromium.sh ]; then
  scripts/install-chromium.sh
fi
.venv/bin/python -m recengine build
exec .venv/bin/python -m pytest "$@"
