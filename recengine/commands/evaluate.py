"""``evaluate``: compare popularity, content, SVD and the hybrid on held-out ratings."""

from __future__ import annotations

import argparse
import shlex
from pathlib import Path

from recengine.commands._shared import positive_int
from recengine.config import get_settings

DEFAULT_PLOT = "evaluation.png"


def _fraction(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number between 0 and 1, got {text!r}") from None
    if not 0 < value < 1:
        raise argparse.ArgumentTypeError(f"expected a number between 0 and 1 (exclusive), got {value}")
    return value


def _model_names(text: str) -> tuple[str, ...]:
    from recengine.evaluation import MODEL_NAMES

    names = tuple(dict.fromkeys(name.strip() for name in text.split(",") if name.strip()))
    unknown = [name for name in names if name not in MODEL_NAMES]
    if unknown or not names:
        raise argparse.ArgumentTypeError(f"unknown model(s) {', '.join(unknown) or '(none given)'}; choose from {', '.join(MODEL_NAMES)}")
    return names


def _evaluate(options: argparse.Namespace) -> int:
    from recengine.evaluation import (
        MODEL_NAMES, EvaluationConfig, markdown_table, plot_scores, run_leave_one_out, run_temporal,
    )

    models = options.models or MODEL_NAMES
    config = EvaluationConfig(
        dataset=options.dataset or "ml-latest-small", test_fraction=options.test_fraction, k=options.k,
        relevance_threshold=options.threshold, max_users=options.max_users, leave_one_out=not options.skip_leave_one_out,
        models=models,
    )
    settings = get_settings()
    k = config.k
    if options.tune_hybrid:
        return _tune_hybrid(options, config, settings)
    if options.tune_seeded:
        return _tune_seeded(options, config, settings)
    split, results = run_temporal(config, settings)
    print(f"## {split.name}\n\n{split.description}; relevant = test ratings >= {config.relevance_threshold:g}; "
          f"each model ranks every movie the user has not rated in training.\n")
    print(markdown_table(results, [f"precision@{k}", f"recall@{k}", f"ndcg@{k}", "coverage"]))
    panels = [(split.name, [f"precision@{k}", f"recall@{k}", f"ndcg@{k}", "coverage"])]
    if config.leave_one_out:
        loo, loo_results = run_leave_one_out(config, settings)
        print(f"\n## {loo.name}\n\n{loo.description}; HR and NDCG against all items, seen items masked.\n")
        print(markdown_table(loo_results, [f"hit_rate@{k}", f"ndcg@{k}", "coverage"]))
        results = results + loo_results
        panels.append((loo.name, [f"hit_rate@{k}", f"ndcg@{k}"]))
    plot = Path(options.plot) if options.plot else settings.var_dir / DEFAULT_PLOT
    plot_scores(results, panels, plot)
    answered = {result.model: result.answered_by for result in results if set(result.answered_by) - {result.model, "svd"}}
    if answered:
        print(f"\nLists answered by a fallback: {answered}")
    print(f"\nPlot: {plot}")
    print(f"Command: {_command_line(options)}")
    return 0


def _tune_hybrid(options: argparse.Namespace, config, settings) -> int:
    from recengine.evaluation import markdown_table, tune_hybrid

    split, results = tune_hybrid(config, options.tune_hybrid, settings)
    print(f"## {split.name}\n\nThe temporal hold-out's training part split again by time; relevant = ratings >= "
          f"{config.relevance_threshold:g}.\n")
    print(markdown_table(results, [f"precision@{config.k}", f"recall@{config.k}", f"ndcg@{config.k}", "coverage"]))
    print(f"\nCommand: {_command_line(options)}")
    return 0


def _tune_seeded(options: argparse.Namespace, config, settings) -> int:
    from recengine.evaluation import markdown_table, tune_seeded

    split, results = tune_seeded(config, settings)
    print(f"## {split.name}\n\nThe temporal hold-out's training part split again by time; the seed is each user's latest "
          f"training movie rated >= {config.relevance_threshold:g}, relevant = later ratings >= {config.relevance_threshold:g}.\n")
    print(markdown_table(results, [f"precision@{config.k}", f"recall@{config.k}", f"ndcg@{config.k}", "coverage"]))
    print(f"\nCommand: {_command_line(options)}")
    return 0


def _weights(text: str) -> list[float]:
    try:
        weights = [float(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated numbers such as 0,0.5,1, got {text!r}") from None
    if not weights or min(weights) < 0:
        raise argparse.ArgumentTypeError(f"expected one or more weights of 0 or more, got {text!r}")
    return weights


def _command_line(options: argparse.Namespace) -> str:
    """Return the command that reproduces this run, with the options that differ from the defaults."""
    parts = ["python", "-m", "recengine", "evaluate"]
    if options.dataset:
        parts += ["--dataset", options.dataset]
    if options.models:
        parts += ["--models", ",".join(options.models)]
    for flag, value, default in (("--test-fraction", options.test_fraction, 0.2), ("--k", options.k, 10),
                                 ("--threshold", options.threshold, 4.0), ("--max-users", options.max_users, None)):
        if value != default:
            parts += [flag, f"{value:g}" if isinstance(value, float) else str(value)]
    if options.skip_leave_one_out:
        parts.append("--skip-leave-one-out")
    if options.tune_hybrid:
        parts += ["--tune-hybrid", ",".join(f"{weight:g}" for weight in options.tune_hybrid)]
    if options.tune_seeded:
        parts.append("--tune-seeded")
    if options.plot:
        parts += ["--plot", options.plot]
    return " ".join(shlex.quote(part) for part in parts)


def register(subparsers: argparse._SubParsersAction) -> None:
    from recengine.evaluation import MODEL_NAMES

    parser = subparsers.add_parser(
        "evaluate",
        help="score popularity, content, SVD and the hybrid on held-out ratings (Markdown table and PNG plot)",
        description=(
            "Per-user temporal hold-out on a MovieLens dataset (each user's most recent ratings are the test set): "
            "precision, recall and NDCG at k, and catalogue coverage, for every model side by side; then hit rate "
            "and NDCG on the ml-100k leave-one-out split. Models are trained on the training part only, which takes "
            "a few minutes."
        ),
    )
    parser.add_argument("--dataset", default=None, help="dataset of the temporal hold-out (default: ml-latest-small)")
    parser.add_argument("--models", type=_model_names, default=None, help=f"comma-separated rows to run (default: {','.join(MODEL_NAMES)})")
    parser.add_argument("--test-fraction", type=_fraction, default=0.2, help="share of each user's latest ratings held out (default 0.2)")
    parser.add_argument("--k", type=positive_int, default=10, help="length of the scored lists (default 10)")
    parser.add_argument("--threshold", type=float, default=4.0, help="lowest test rating that counts as relevant (default 4)")
    parser.add_argument("--max-users", type=positive_int, default=None, help="use only the first N users by id (quick runs)")
    parser.add_argument("--skip-leave-one-out", action="store_true", help="skip the ml-100k leave-one-out split")
    parser.add_argument("--plot", default=None, help=f"PNG file for the bar chart (default: <var dir>/{DEFAULT_PLOT})")
    parser.add_argument("--tune-hybrid", type=_weights, metavar="WEIGHTS", default=None,
                        help="instead, score the hybrid for these content weights (e.g. 0,0.25,0.5,1) on a validation cut "
                             "of the training ratings")
    parser.add_argument("--tune-seeded", action="store_true",
                        help="instead, score 'more like this' lists for both hybrid seed orders and the content model "
                             "on a validation cut of the training ratings")
    parser.set_defaults(handler=_evaluate)
