"""Compare the next-watch network with popularity and item-to-item transitions on leave-one-out splits.

Each dataset gets its split, both baselines and the network once per positional encoding, all in
one run. ml-100k uses the published split files; other datasets are split here the same way. Validation picks
the encoding (the higher validation NDCG@10 becomes the recommended default); test figures are
reported for every row. When ``--recbole`` names result files written by
``benchmarks/recbole/run_recbole.py`` for the same split, their rows join the table.

Prints Markdown tables and the command line; writes the rows as JSON with ``--output``.

    nice -n 10 .venv/bin/python benchmarks/nextwatch_eval.py --dataset ml-100k --dataset ml-latest-small \\
        --max-train-seconds 900 --output var/benchmarks/nextwatch.json
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import os
import shlex
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from recengine.nextwatch.evaluation import (  # noqa: E402
    ModelResult, encode_split, evaluate_baselines, evaluate_nextwatch, load_benchmark_split, markdown_table,
)
from recengine.nextwatch.metrics import RankingScores  # noqa: E402
from recengine.nextwatch.model import NextWatchConfig  # noqa: E402

log = logging.getLogger("nextwatch_eval")


def _recbole_rows(paths: list[Path], dataset: str) -> list[ModelResult]:
    rows = []
    for path in paths:
        saved = json.loads(path.read_text())
        if saved.get("dataset") != dataset:
            continue
        for row in saved["rows"]:
            rows.append(ModelResult(
                model=row["model"], valid=RankingScores(**row["valid"]), test=RankingScores(**row["test"]),
                seconds=row["seconds"], epochs=row["epochs"], notes=row.get("notes", ""),
            ))
    return rows


def _rows_from_json(rows: list[dict]) -> list[ModelResult]:
    return [
        ModelResult(model=row["model"], valid=RankingScores(**row["valid"]), test=RankingScores(**row["test"]),
                    seconds=row["seconds"], epochs=row["epochs"], notes=row.get("notes", ""))
        for row in rows
    ]


def _report(paths: list[Path], recbole: list[Path]) -> int:
    merged: dict[str, list[ModelResult]] = {}
    for path in paths:
        for dataset, rows in json.loads(path.read_text()).items():
            merged.setdefault(dataset, []).extend(_rows_from_json(rows))
    for dataset, rows in merged.items():
        rows.extend(_recbole_rows(recbole, dataset))
        print(markdown_table(rows, f"{dataset} (leave-one-out, full ranking, rated movies removed)") + "\n")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", action="append", help="dataset name; repeatable (default: ml-100k and ml-latest-small)")
    parser.add_argument("--positional", action="append", choices=("learned", "sinusoidal"),
                        help="positional encoding to train; repeatable (default: both)")
    parser.add_argument("--max-epochs", type=int, default=NextWatchConfig.max_epochs)
    parser.add_argument("--max-train-seconds", type=float, default=None, help="wall-clock bound per network training")
    parser.add_argument("--patience", type=int, default=NextWatchConfig.patience)
    parser.add_argument("--hidden-size", type=int, default=NextWatchConfig.hidden_size)
    parser.add_argument("--learning-rate", type=float, default=NextWatchConfig.learning_rate)
    parser.add_argument("--seed", type=int, default=NextWatchConfig.seed)
    parser.add_argument("--no-baselines", action="store_true", help="skip popularity and transitions")
    parser.add_argument("--recbole", action="append", type=Path, default=[], help="RecBole result JSON to add as rows")
    parser.add_argument("--output", type=Path, help="write all rows as JSON here")
    parser.add_argument("--report-only", type=Path, action="append", default=[], metavar="JSON",
                        help="print the tables of earlier --output files (and --recbole rows) without training")
    options = parser.parse_args(argv)
    if options.report_only:
        return _report(options.report_only, options.recbole)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")

    datasets = options.dataset or ["ml-100k", "ml-latest-small"]
    encodings = options.positional or ["learned", "sinusoidal"]
    report: dict[str, list[dict]] = {}
    tables = []
    for dataset in datasets:
        split = load_benchmark_split(dataset)
        encoded = encode_split(split)
        log.info("%s", split.summary())
        rows: list[ModelResult] = [] if options.no_baselines else evaluate_baselines(encoded)
        for positional in encodings:
            config = NextWatchConfig(
                positional=positional, max_epochs=options.max_epochs, max_train_seconds=options.max_train_seconds,
                patience=options.patience, hidden_size=options.hidden_size, learning_rate=options.learning_rate,
                seed=options.seed,
            )
            started = time.perf_counter()
            result, _ = evaluate_nextwatch(encoded, config, progress=sys.stderr.isatty())
            log.info("%s on %s: valid %s, test %s (%.0f s)", result.model, dataset, result.valid, result.test,
                     time.perf_counter() - started)
            rows.append(result)
        rows.extend(_recbole_rows(options.recbole, split.name))
        networks = [row for row in rows if row.model.startswith("nextwatch")]
        if networks:
            best = max(networks, key=lambda row: row.valid.ndcg)
            best.notes = f"{best.notes}; best on validation".lstrip("; ")
        tables.append(markdown_table(rows, f"{split.summary()} (leave-one-out, full ranking, rated movies removed)"))
        report[split.name] = [
            dataclasses.asdict(row) for row in rows
        ]
        if options.output:
            options.output.parent.mkdir(parents=True, exist_ok=True)
            options.output.write_text(json.dumps(report, indent=2))
    print("\n\n".join(tables))
    print(f"\nCommand: {shlex.join(['.venv/bin/python', *sys.argv])}")
    print(f"Machine: {os.cpu_count()} CPU cores, shared with other jobs: times are wall-clock and noisy.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
