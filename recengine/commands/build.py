"""``build``: train or refresh the artefacts the assistant loads."""

from __future__ import annotations

import argparse

from recengine.build import BUILDERS, build_artefacts


def _build(options: argparse.Namespace) -> int:
    outcomes = build_artefacts(
        options.dataset, only=options.only or None, force=options.force, seed=options.seed, show_progress=True
    )
    for name, outcome in outcomes.items():
        print(f"{name:<12} {outcome}")
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "build",
        help="build the artefacts under models/ that are missing or out of date",
        description=(
            "Build trained artefacts for a dataset under models/<dataset>/. An artefact whose inputs "
            "(dataset files, metadata files, code version, parameters) have not changed is skipped. "
            f"Artefacts: {', '.join(builder.name for builder in BUILDERS)}."
        ),
    )
    parser.add_argument("dataset", nargs="?", default=None, help="dataset name or path (default: ml-latest-small)")
    parser.add_argument("--only", action="append", metavar="ARTEFACT", help="build only this artefact; repeatable")
    parser.add_argument("--force", action="store_true", help="rebuild even when the artefact is up to date")
    parser.add_argument("--seed", type=int, default=42, help="random seed for the models that train (default 42)")
    parser.set_defaults(handler=_build)
