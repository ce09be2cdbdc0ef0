"""Train RecBole 1.2.1's BERT4Rec or SASRec on our exported split and score it with our metric code.

Runs in the separate RecBole environment (``benchmarks/recbole/setup_venv.sh``), never in the
product's. RecBole trains with its own early stopping on its validation NDCG@10. Its built-in evaluation
never removes already-rated movies for sequential models, so this script rescores the best
checkpoint itself. For every user of ``split.json`` it feeds the history (training items, plus
the validation item for the test) to ``full_sort_predict`` and ranks every movie of our universe.
It then removes the history's movies and computes HR@10 and NDCG@10 with
``recengine.nextwatch.metrics``.

    var/recbole-venv/bin/python benchmarks/recbole/run_recbole.py --dataset ml-100k --model SASRec \\
        --max-len 50 --max-minutes 20 --output var/benchmarks/recbole-ml-100k-SASRec.json

Prints one Markdown row and writes a JSON file that ``benchmarks/nextwatch_eval.py --recbole`` reads.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from recengine.nextwatch.metrics import score_ranks, target_ranks  # noqa: E402  (NumPy only)

log = logging.getLogger("run_recbole")


class _TimeUp(Exception):
    """Raised from RecBole's epoch callback when the wall-clock budget is spent; the best checkpoint is kept."""


def _config(options: argparse.Namespace, name: str) -> dict:
    return {
        "data_path": str(options.data),
        "dataset": name,
        "checkpoint_dir": str(options.work / "saved"),
        "USER_ID_FIELD": "user_id", "ITEM_ID_FIELD": "item_id", "TIME_FIELD": "timestamp",
        "load_col": {"inter": ["user_id", "item_id", "timestamp"]},
        "normalize_all": False, "normalize_field": None,
        "user_inter_num_interval": None, "item_inter_num_interval": None, "val_interval": None,
        "MAX_ITEM_LIST_LENGTH": options.max_len,
        "eval_args": {"split": {"LS": "valid_and_test"}, "order": "TO", "mode": "full", "group_by": "user"},
        "metrics": ["Hit", "NDCG"], "topk": [10], "valid_metric": "NDCG@10",
        "train_neg_sample_args": None,  # cross-entropy over all items, RecBole's default loss for both models
        "epochs": options.max_epochs, "stopping_step": options.patience, "eval_step": 1,
        "train_batch_size": options.batch_size, "eval_batch_size": 4096,
        "learning_rate": options.learning_rate,
        "seed": options.seed, "reproducibility": True,
        "device": "cpu", "use_gpu": False, "gpu_id": "", "worker": 0,
        "show_progress": False, "log_wandb": False,
    }


def _history_batch(histories: list[list[int]], max_len: int) -> tuple[np.ndarray, np.ndarray]:
    """RecBole's sequence layout: the last ``max_len`` internal ids, left-aligned, zero padding after."""
    sequences = np.zeros((len(histories), max_len), dtype=np.int64)
    lengths = np.zeros(len(histories), dtype=np.int64)
    for row, history in enumerate(histories):
        tail = history[-max_len:]
        sequences[row, :len(tail)] = tail
        lengths[row] = len(tail)
    return sequences, lengths


def _score(model, dataset, split: dict, part: str, max_len: int):
    import torch
    from recbole.data.interaction import Interaction

    universe = np.asarray(split["movie_ids"], dtype=np.int64)
    column_of = {int(movie): column for column, movie in enumerate(universe)}
    # RecBole column of each universe movie; movies RecBole never saw get -1 and score -inf.
    token_ids = dataset.field2token_id["item_id"]
    recbole_column = np.asarray([token_ids.get(str(movie), -1) for movie in universe])
    known = recbole_column >= 0

    users = split["users"]
    histories, targets = [], []
    for user in users:
        history = list(split["train"][str(user)])
        if part == "test":
            history.append(split["valid"][str(user)])
        histories.append(history)
        targets.append(column_of[int(split[part][str(user)])])
    ranks = []
    batch = 256
    with torch.no_grad():
        for start in range(0, len(users), batch):
            chunk = histories[start:start + batch]
            internal = [[token_ids[str(movie)] for movie in history if str(movie) in token_ids] for history in chunk]
            sequences, lengths = _history_batch(internal, max_len)
            interaction = Interaction({"item_id_list": torch.from_numpy(sequences), "item_length": torch.from_numpy(lengths)})
            raw = model.full_sort_predict(interaction).numpy()  # (batch, RecBole items incl. padding id 0)
            scores = np.full((len(chunk), universe.size), -np.inf)
            scores[:, known] = raw[:, recbole_column[known]]
            seen = [np.asarray([column_of[int(movie)] for movie in history]) for history in chunk]
            ranks.append(target_ranks(scores, np.asarray(targets[start:start + batch]), seen))
    return score_ranks(np.concatenate(ranks), 10)


def _check_split(dataset, test_data, split: dict) -> None:
    """Raise when RecBole's test items differ from ours: the comparison would not be on the same split."""
    inter = test_data.dataset.inter_feat
    users = dataset.id2token("user_id", inter["user_id"].numpy())
    items = dataset.id2token("item_id", inter["item_id"].numpy())
    theirs = {int(user): int(item) for user, item in zip(users, items)}
    ours = {int(user): int(item) for user, item in split["test"].items()}
    if theirs != ours:
        differing = [user for user in ours if theirs.get(user) != ours[user]]
        raise SystemExit(f"RecBole's test split differs from ours for {len(differing)} users, e.g. user {differing[:1]}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", required=True, help="ml-100k or ml-latest-small (exported by export_split.py)")
    parser.add_argument("--model", required=True, choices=("BERT4Rec", "SASRec"))
    parser.add_argument("--data", type=Path, default=REPO / "var" / "recbole" / "data")
    parser.add_argument("--work", type=Path, default=REPO / "var" / "recbole" / "work")
    # NOTE: RecBole trains on every prefix of every sequence (about 96,000 samples per epoch on
    # ml-100k), padded to MAX_ITEM_LIST_LENGTH, so 200 was out of reach on a shared 2-core machine.
    parser.add_argument("--max-len", type=int, default=50, help="MAX_ITEM_LIST_LENGTH (RecBole's default 50)")
    parser.add_argument("--max-epochs", type=int, default=300)
    parser.add_argument("--max-minutes", type=float, default=None, help="stop after the epoch that passes this wall-clock budget")
    parser.add_argument("--patience", type=int, default=10, help="RecBole stopping_step")
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--learning-rate", type=float, default=0.001)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seed", type=int, default=2020)
    parser.add_argument("--output", type=Path)
    options = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")

    os.environ.setdefault("TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD", "1")
    import torch
    from recbole.config import Config
    from recbole.data import create_dataset, data_preparation
    from recbole.utils import get_model, get_trainer, init_seed

    torch.set_num_threads(options.threads)
    name = f"loo-{options.dataset}"
    options.data = options.data.resolve()
    split = json.loads((options.data / name / "split.json").read_text())
    # RecBole writes log/ and log_tensorboard/ into the working directory; keep them out of the repository.
    options.work = options.work.resolve()
    options.output = options.output.resolve() if options.output else None
    options.work.mkdir(parents=True, exist_ok=True)
    os.chdir(options.work)
    config = Config(model=options.model, dataset=name, config_dict=_config(options, name))
    init_seed(config["seed"], config["reproducibility"])
    dataset = create_dataset(config)
    train_data, valid_data, test_data = data_preparation(config, dataset)
    _check_split(dataset, test_data, split)
    model = get_model(config["model"])(config, train_data.dataset).to("cpu")
    trainer = get_trainer(config["MODEL_TYPE"], config["model"])(config, model)

    started = time.perf_counter()
    deadline = started + options.max_minutes * 60 if options.max_minutes else None
    epochs_run = 0
    stopped = "early stopping"

    def after_epoch(epoch, valid_score):
        nonlocal epochs_run
        epochs_run = epoch + 1
        log.info("epoch %d: RecBole validation NDCG@10 (rated items not removed) %.4f", epoch, valid_score)
        if deadline is not None and time.perf_counter() > deadline:
            raise _TimeUp()

    try:
        trainer.fit(train_data, valid_data, saved=True, show_progress=False, callback_fn=after_epoch)
    except _TimeUp:
        stopped = f"time limit {options.max_minutes:.0f} min"
    seconds = time.perf_counter() - started
    if epochs_run >= options.max_epochs:
        stopped = "max epochs"
    checkpoint = torch.load(trainer.saved_model_file, map_location="cpu", weights_only=False)
    model.load_state_dict(checkpoint["state_dict"])
    model.eval()
    best_epoch = int(checkpoint["epoch"]) + 1  # RecBole stores the 0-based epoch index

    valid = _score(model, dataset, split, "valid", options.max_len)
    test = _score(model, dataset, split, "test", options.max_len)
    row = {
        "model": f"RecBole {options.model}",
        "valid": {"hr": valid.hr, "ndcg": valid.ndcg, "users": valid.users, "k": valid.k},
        "test": {"hr": test.hr, "ndcg": test.ndcg, "users": test.users, "k": test.k},
        "seconds": seconds,
        "epochs": f"{best_epoch} best / {epochs_run} run",
        "notes": f"max length {options.max_len}, batch {options.batch_size}, {stopped}",
    }
    print(f"| {row['model']} | {valid.hr:.4f} | {valid.ndcg:.4f} | {test.hr:.4f} | {test.ndcg:.4f} | "
          f"{seconds:.0f} s | {row['epochs']} | {row['notes']} |")
    if options.output:
        options.output.parent.mkdir(parents=True, exist_ok=True)
        options.output.write_text(json.dumps({"dataset": options.dataset, "rows": [row]}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
