"""Per-turn latency of the assistant over the REST channel: a greeting against each recommendation kind.

Starts the action server and a Rasa server on loopback (training the Rasa model first if its
inputs changed), then times whole REST round trips: the greeting measures Rasa's own overhead
(NLU, policies, one custom action that reads one count), and each recommendation kind adds the
engine's work. Users asking for personal picks and next-watch have rated three movies first.
Prints a Markdown table with p50 and p95 per kind and each kind's p50 and p95 as multiples of
the greeting's (goal: p95 within 1.5 times the greeting's), followed by the command that
produced it.

    .venv/bin/python benchmarks/bench_chat_latency.py --turns 60
"""

from __future__ import annotations

import argparse
import shlex
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))

from tests.e2e_servers import ensure_model, running_servers  # noqa: E402

# (kind, messages sent in turn; the first ones prepare the user and only the last is timed)
KINDS: list[tuple[str, list[str]]] = [
    ("greeting", ["hello"]),
    ("similar", ["movies like The Matrix"]),
    ("chart", ["best 90s thrillers"]),
    ("chart (genre only)", ["top comedies"]),
    ("person", ["movies with Tom Hanks"]),
    ("info", ["who directed Heat?"]),
    ("rating", ["Heat 4 stars"]),
    ("personal", ["Heat 4 stars", "Alien 5 stars", "Toy Story 3.5", "recommend me something"]),
    ("next-watch", ["Heat 4 stars", "Alien 5 stars", "Toy Story 3.5", "what should I watch next?"]),
]


def percentile(values: list[float], fraction: float) -> float:
    """Return the nearest-rank percentile of ``values`` (fraction between 0 and 1)."""
    ordered = sorted(values)
    index = max(0, min(len(ordered) - 1, int(round(fraction * len(ordered) + 0.5)) - 1))
    return ordered[index]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--turns", type=int, default=30, help="timed turns per kind (default: %(default)s)")
    parser.add_argument("--warmup", type=int, default=3, help="untimed turns per kind first (default: %(default)s)")
    options = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="chat-latency-") as folder:
        work = Path(folder)
        model = ensure_model(work / "train.log")
        with running_servers(work, model) as servers:
            timings: dict[str, list[float]] = {kind: [] for kind, _ in KINDS}
            # Kinds take turns round by round, so load from other processes spreads over all of them.
            for turn in range(options.warmup + options.turns):
                for kind, messages in KINDS:
                    sender = f"bench-{uuid.uuid4().hex}"
                    for message in messages[:-1]:
                        servers.send(sender, message)
                    started = time.perf_counter()
                    replies = servers.send(sender, messages[-1])
                    elapsed = (time.perf_counter() - started) * 1000
                    if not replies:
                        raise SystemExit(f"{kind}: empty reply to {messages[-1]!r}; see {work}")
                    if turn >= options.warmup:
                        timings[kind].append(elapsed)

    greeting_p50 = percentile(timings["greeting"], 0.5)
    greeting_p95 = percentile(timings["greeting"], 0.95)
    print("| turn | p50 (ms) | p95 (ms) | mean (ms) | p50 / greeting p50 | p95 / greeting p95 |")
    print("|---|---|---|---|---|---|")
    for kind, samples in timings.items():
        p50, p95 = percentile(samples, 0.5), percentile(samples, 0.95)
        print(f"| {kind} | {p50:.0f} | {p95:.0f} | {statistics.fmean(samples):.0f} | {p50 / greeting_p50:.2f} | "
              f"{p95 / greeting_p95:.2f} |")
    print()
    print(f"{options.turns} timed turns per kind after {options.warmup} warm-up turns, kinds interleaved, one request "
          "at a time, REST channel on 127.0.0.1, ml-latest-small, 2 CPU cores shared with other jobs.")
    print(f"Command: `.venv/bin/python benchmarks/{Path(__file__).name} {shlex.join(sys.argv[1:])}`".rstrip())
    return 0


if __name__ == "__main__":
    sys.exit(main())
