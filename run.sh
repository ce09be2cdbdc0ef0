#!/usr/bin/env bash
# Set up and start the assistant: dependencies, data, artefacts, Rasa model, servers, web chat.
# Every step is skipped when its inputs have not changed. Options go to `python -m bot` (see --help).
set -euo pipefail
cd "$(dirname "$0")"
scripts/setup.sh
exec .venv/bin/python -m bot "$@"
