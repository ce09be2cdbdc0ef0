"""``fetch`` and ``info``: get a dataset and show what it holds."""

from __future__ import annotations

import argparse

from recengine.datasets import KNOWN_DATASETS, resolve_dataset
from recengine.movielens import load_dataset


def _fetch(options: argparse.Namespace) -> int:
    folder = resolve_dataset(options.dataset, download=not options.offline)
    print(folder)
    return 0


def _info(options: argparse.Namespace) -> int:
    data = load_dataset(options.dataset)
    movies = data.catalog.movies
    with_metadata = int(movies["director"].notna().sum())
    print(f"dataset      {data.name} ({data.folder})")
    print(f"movies       {len(movies):,}")
    print(f"ratings      {len(data.ratings):,} by {data.ratings['user_id'].nunique():,} users")
    print(f"genres       {', '.join(data.catalog.genres)}")
    print(f"metadata     director/cast/keywords for {with_metadata:,} movies")
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    fetch = subparsers.add_parser(
        "fetch",
        help="download or unpack a dataset and print its folder",
        description=(
            "Find a dataset in the offline folder (RECENGINE_DATA_DIR) or download it from GroupLens, "
            "checking the published MD5, and unpack it under var/datasets/. "
            f"Names: {', '.join(KNOWN_DATASETS)}; a path to a zip or folder also works."
        ),
    )
    fetch.add_argument("dataset", nargs="?", default=None, help="dataset name or path (default: RECENGINE_DATASET or ml-latest-small)")
    fetch.add_argument("--offline", action="store_true", help="fail instead of downloading when the dataset is not available locally")
    fetch.set_defaults(handler=_fetch)

    info = subparsers.add_parser("info", help="print a dataset's size, genres and metadata coverage")
    info.add_argument("dataset", nargs="?", default=None, help="dataset name or path (default: ml-latest-small)")
    info.set_defaults(handler=_info)
