"""Time ``python -m bot`` from start to "ready" (every health check passed), warm and cold.

Warm: the artefacts and the Rasa model are up to date, so the time is the build check, the
fingerprint check and the servers' start-up. Cold (``--cold``): the Rasa model is trained from
scratch into a temporary model folder first; the engine artefacts under ``models/`` are reused,
so their build time (see ``python -m recengine build``) is not part of it.

Prints a Markdown table and the command that produced it. Run from the repository root:

    .venv/bin/python benchmarks/bench_launcher.py --warm-runs 3 --cold
"""

from __future__ import annotations

import argparse
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _time_start(model_dir: Path, runs_dir: Path) -> tuple[float, float]:
    """Run the launcher with --check once; return (seconds to ready as it reports, wall seconds in all)."""
    command = [
        sys.executable, "-m", "bot", "--check", "--model-dir", str(model_dir), "--runs-dir", str(runs_dir),
        "--web-port", str(_free_port()), "--rasa-port", str(_free_port()), "--actions-port", str(_free_port()),
    ]
    started = time.perf_counter()
    completed = subprocess.run(command, cwd=REPO_ROOT, capture_output=True, text=True)
    wall = time.perf_counter() - started
    output = completed.stdout + completed.stderr
    match = re.search(r"Ready in ([0-9.]+) s", output)
    if completed.returncode != 0 or match is None:
        raise SystemExit(f"the launcher failed (status {completed.returncode}):\n{output}")
    return float(match.group(1)), wall


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--warm-runs", type=int, default=3, help="number of warm starts to time (default: %(default)s)")
    parser.add_argument("--cold", action="store_true", help="also time one start that trains the Rasa model from scratch")
    options = parser.parse_args()

    rows: list[tuple[str, str, str]] = []
    with tempfile.TemporaryDirectory(prefix="bench-launcher-") as scratch:
        runs_dir = Path(scratch) / "runs"
        if options.cold:
            cold_models = Path(scratch) / "models"
            ready, wall = _time_start(cold_models, runs_dir)
            rows.append(("cold (trains the Rasa model)", f"{ready:.1f}", f"{wall:.1f}"))
            shutil.rmtree(cold_models, ignore_errors=True)
        # The first warm start trains when the shared model is stale; it is not counted.
        _time_start(REPO_ROOT / "models", runs_dir)
        ready_times, wall_times = [], []
        for _ in range(options.warm_runs):
            ready, wall = _time_start(REPO_ROOT / "models", runs_dir)
            ready_times.append(ready)
            wall_times.append(wall)
        label = f"warm (median of {options.warm_runs})"
        rows.append((label, f"{statistics.median(ready_times):.1f}", f"{statistics.median(wall_times):.1f}"))

    print("| start | seconds to ready | seconds including shutdown |")
    print("|---|---:|---:|")
    for row in rows:
        print(f"| {row[0]} | {row[1]} | {row[2]} |")
    print()
    print(f"Command: `.venv/bin/python benchmarks/bench_launcher.py {' '.join(sys.argv[1:])}`".rstrip())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
