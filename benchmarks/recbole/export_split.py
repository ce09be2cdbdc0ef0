"""Write our leave-one-out split as RecBole atomic files, so RecBole trains on exactly our sequences.

Run with the project's environment (it uses recengine's split code):

    .venv/bin/python benchmarks/recbole/export_split.py --dataset ml-100k --out var/recbole/data

Writes ``<out>/loo-<dataset>/loo-<dataset>.inter`` and ``split.json`` beside it; the ``loo-``
prefix keeps RecBole from applying its own preset for a dataset named ``ml-100k``. In the ``.inter``
file the timestamp column contains each interaction's position in our time order (1, 2, 3, ...)
instead of the original seconds: RecBole only uses it to order and split the interactions, and
distinct values rule out any tie-breaking difference. RecBole's ``LS: valid_and_test`` split then
gives the same validation and test item per user, which ``run_recbole.py`` checks.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from recengine.nextwatch.evaluation import load_benchmark_split  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", required=True, help="ml-100k (the published split) or ml-latest-small")
    parser.add_argument("--out", type=Path, default=Path("var/recbole/data"))
    options = parser.parse_args(argv)

    split = load_benchmark_split(options.dataset)
    folder = options.out / f"loo-{split.name}"
    folder.mkdir(parents=True, exist_ok=True)
    position = 0
    with open(folder / f"loo-{split.name}.inter", "w") as handle:
        handle.write("user_id:token\titem_id:token\ttimestamp:float\n")
        for user in split.users:
            for item in [*split.train[user].tolist(), split.valid[user], split.test[user]]:
                position += 1
                handle.write(f"{user}\t{item}\t{position}\n")
    payload = {
        "dataset": split.name,
        "users": split.users,
        "train": {str(user): split.train[user].tolist() for user in split.users},
        "valid": {str(user): split.valid[user] for user in split.users},
        "test": {str(user): split.test[user] for user in split.users},
        "movie_ids": split.movie_ids.tolist(),
    }
    (folder / "split.json").write_text(json.dumps(payload))
    print(f"{split.summary()} -> {folder}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
