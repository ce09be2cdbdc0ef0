"""NLU quality on a held-out split: intent accuracy and entity F1 of the assistant's pipeline.

Splits ``data/nlu`` into training and test parts with ``rasa data split nlu`` (fixed seed),
trains the NLU pipeline of ``config.yml`` on the training part only, evaluates it on the
held-out part with ``rasa test nlu``, and prints a Markdown table of the figures Rasa reports,
followed by the command that produced it. Everything is written to a temporary folder.

    .venv/bin/python benchmarks/bench_nlu.py --training-fraction 0.8
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

REPO_ROOT = Path(__file__).resolve().parent.parent
RASA = [str(REPO_ROOT / ".venv" / "bin" / "python"), "-m", "rasa"]


def run(command: list[str], log: Path) -> None:
    env = {**os.environ, "SQLALCHEMY_SILENCE_UBER_WARNING": "1", "TF_CPP_MIN_LOG_LEVEL": "2",
           "PYTHONPATH": str(REPO_ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    with open(log, "a") as handle:
        handle.write("$ " + shlex.join(command) + "\n")
        handle.flush()
        completed = subprocess.run(command, cwd=REPO_ROOT, env=env, stdout=handle, stderr=subprocess.STDOUT)
    if completed.returncode != 0:
        raise SystemExit(f"{shlex.join(command)} failed with exit status {completed.returncode}; see {log}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--training-fraction", type=float, default=0.8,
                        help="share of each intent's examples used for training (default: %(default)s)")
    parser.add_argument("--seed", type=int, default=42, help="random seed of the split (default: %(default)s)")
    parser.add_argument("--keep", type=Path, help="folder to keep the split, model and Rasa's reports in")
    parser.add_argument("--config", default="config.yml", help="Rasa pipeline to evaluate (default: %(default)s)")
    options = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="nlu-eval-") as folder:
        work = options.keep or Path(folder)
        work.mkdir(parents=True, exist_ok=True)
        log = work / "rasa.log"
        split = work / "split"
        run([*RASA, "data", "split", "nlu", "--nlu", "data/nlu", "--training-fraction", str(options.training_fraction),
             "--random-seed", str(options.seed), "--out", str(split)], log)
        train_file = next(split.glob("training_data*.yml"))
        test_file = next(split.glob("test_data*.yml"))
        started = time.perf_counter()
        run([*RASA, "train", "nlu", "--config", options.config, "--nlu", str(train_file), "--out", str(work / "model"),
             "--fixed-model-name", "nlu"], log)
        train_seconds = time.perf_counter() - started
        results = work / "results"
        run([*RASA, "test", "nlu", "--nlu", str(test_file), "--model", str(work / "model" / "nlu.tar.gz"),
             "--out", str(results)], log)
        intents = json.loads((results / "intent_report.json").read_text())
        entities = json.loads((results / "DIETClassifier_report.json").read_text())
        errors = json.loads((results / "intent_errors.json").read_text()) if (results / "intent_errors.json").is_file() else []

    print("| measure | value |")
    print("|---|---|")
    print(f"| intent accuracy | {intents['accuracy']:.3f} |")
    print(f"| intent macro F1 | {intents['macro avg']['f1-score']:.3f} |")
    print(f"| intent weighted F1 | {intents['weighted avg']['f1-score']:.3f} |")
    for entity in ("movie_title", "person", "genre"):
        if entity in entities:
            row = entities[entity]
            print(f"| entity {entity}: precision / recall / F1 | {row['precision']:.3f} / {row['recall']:.3f} / "
                  f"{row['f1-score']:.3f} (support {row['support']}) |")
    micro = entities.get("micro avg") or entities.get("weighted avg")
    print(f"| entity micro F1 (all types) | {micro['f1-score']:.3f} |")
    # rate_movie and give_score (for example) run the same action, so confusing them costs nothing.
    rules = yaml.safe_load((REPO_ROOT / "data" / "rules.yml").read_text())["rules"]
    action_of = {rule["steps"][0]["intent"]: rule["steps"][1]["action"] for rule in rules}
    wrong_action = sum(1 for error in errors
                       if action_of.get(error["intent"]) != action_of.get(error["intent_prediction"]["name"]))
    tested = int(intents["weighted avg"]["support"])
    print(f"| share of test messages that trigger the right action | {(tested - wrong_action) / tested:.3f} |")
    print(f"| NLU training time on the training part | {train_seconds:.0f} s |")
    print()
    test_examples = int(intents["weighted avg"]["support"])
    print(f"Held-out split: {options.training_fraction:.0%} of each intent's examples for training, the other "
          f"{test_examples} messages for testing; seed {options.seed}. Machine: 2 CPU cores shared with other jobs.")
    print(f"Command: `.venv/bin/python benchmarks/{Path(__file__).name} {shlex.join(sys.argv[1:])}`".rstrip())
    worst = sorted(((name, row) for name, row in intents.items() if isinstance(row, dict) and "f1-score" in row
                    and name not in ("macro avg", "weighted avg", "micro avg")), key=lambda item: item[1]["f1-score"])[:3]
    print("Lowest intent F1: " + ", ".join(f"{name} {row['f1-score']:.2f}" for name, row in worst))
    confusions: dict[tuple[str, str], int] = {}
    for error in errors:
        pair = (error["intent"], error["intent_prediction"]["name"])
        confusions[pair] = confusions.get(pair, 0) + 1
    common = sorted(confusions.items(), key=lambda item: -item[1])[:5]
    print("Most common errors (expected → predicted): " + ", ".join(f"{a} → {b} ×{n}" for (a, b), n in common))
    return 0


if __name__ == "__main__":
    sys.exit(main())
