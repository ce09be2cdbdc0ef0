"""Title search accuracy and latency, with a plain rapidfuzz baseline in the same run.

Accuracy: top-1 on a labelled set of mentions built from ml-latest-small (``data/title_mentions.csv``,
written by ``--write-mentions``): exact and lower-case titles, articles dropped or moved, one or
two typos, a year hint, accents removed, alternative titles, digits for Roman numerals and the
reverse, punctuation removed. Latency: ``TitleIndex.resolve`` per query on the real catalog and
on a 45,000-movie catalog (the real one plus synthesised titles).

The baseline is what a first implementation would do: ``rapidfuzz.process.extractOne`` with
``fuzz.WRatio`` over the display titles.

    python benchmarks/bench_title_search.py
"""

from __future__ import annotations

import argparse
import csv
import re
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
from rapidfuzz import fuzz, process

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from recengine.catalog import Catalog  # noqa: E402
from recengine.movielens import load_dataset  # noqa: E402
from recengine.search import TitleIndex, title_key  # noqa: E402
from recengine.text import fold  # noqa: E402

MENTIONS = Path(__file__).parent / "data" / "title_mentions.csv"
ROMAN = {"II": "2", "III": "3", "IV": "4", "V": "5", "VI": "6"}
DIGITS = {value: key for key, value in ROMAN.items()}


def _typo(word: str, rng: np.random.Generator) -> str:
    """Apply one random edit (swap, drop, double or replace a letter) inside a word."""
    position = int(rng.integers(1, len(word) - 1))
    kind = int(rng.integers(0, 4))
    if kind == 0:
        return word[:position] + word[position + 1] + word[position] + word[position + 2:]
    if kind == 1:
        return word[:position] + word[position + 1:]
    if kind == 2:
        return word[:position] + word[position] + word[position:]
    letter = "aeiou"[int(rng.integers(0, 5))] if word[position] not in "aeiou" else "y"
    return word[:position] + letter + word[position + 1:]


def build_mentions(catalog: Catalog, seed: int = 7, per_variant: int = 30) -> list[tuple[str, int, str]]:
    """Build (mention, movie_id, variant) rows from the catalog with a seeded generator."""
    rng = np.random.default_rng(seed)
    movies = catalog.movies
    known = movies[movies["rating_count"] >= 5]
    keys = movies["title"].map(title_key)
    unique = known[keys[known.index].map(keys.value_counts()) == 1]
    rows: list[tuple[str, int, str]] = []

    def sample(frame: pd.DataFrame, count: int) -> pd.DataFrame:
        return frame.iloc[rng.permutation(len(frame))[:count]]

    for movie_id, row in sample(unique, per_variant).iterrows():
        rows.append((row["title"], movie_id, "exact"))
    for movie_id, row in sample(unique, per_variant).iterrows():
        rows.append((row["title"].lower(), movie_id, "lower case"))
    with_article = unique[unique["title"].str.match(r"^(The|A|An) ")]
    for movie_id, row in sample(with_article, per_variant).iterrows():
        article, rest = row["title"].split(" ", 1)
        variant = rest if rng.random() < 0.5 else f"{rest}, {article}"
        rows.append((variant, movie_id, "article"))
    long_words = unique[unique["title"].map(lambda title: any(re.fullmatch(r"[A-Za-z]{6,}", word) for word in title.split()))]
    for movie_id, row in sample(long_words, per_variant * 2).iterrows():
        words = row["title"].split()
        candidates = [i for i, word in enumerate(words) if re.fullmatch(r"[A-Za-z]{6,}", word)]
        index = candidates[int(rng.integers(0, len(candidates)))]
        words[index] = _typo(words[index], rng)
        edits = "1 typo"
        if len(row["title"]) >= 14 and rng.random() < 0.5:
            others = [i for i in candidates if i != index] or [index]
            other = others[int(rng.integers(0, len(others)))]
            words[other] = _typo(words[other], rng)
            edits = "2 typos"
        rows.append((" ".join(words), movie_id, edits))
    shared = known[keys[known.index].map(keys.value_counts()) > 1].dropna(subset=["year"])
    for movie_id, row in sample(shared, per_variant).iterrows():
        rows.append((f"{row['title']} {int(row['year'])}", movie_id, "year hint"))
    accented = unique[unique["title"].map(lambda title: fold(title) != title.casefold())]
    for movie_id, row in sample(accented, per_variant).iterrows():
        rows.append((fold(row["title"]), movie_id, "accents removed"))
    alternatives = known[known["alt_titles"].map(len) > 0]
    for movie_id, row in sample(alternatives, per_variant).iterrows():
        alternative = row["alt_titles"][0]
        if len(catalog.movies.index[keys == title_key(alternative)]) <= 1:
            rows.append((alternative, movie_id, "alternative title"))
    sequels = unique[unique["title"].str.contains(r"\b(?:II|III|IV|V|VI|[2-6])\b")]
    for movie_id, row in sample(sequels, per_variant).iterrows():
        swapped = re.sub(r"\b(II|III|IV|V|VI)\b", lambda m: ROMAN[m.group(1)], row["title"])
        if swapped == row["title"]:
            swapped = re.sub(r"\b([2-6])\b", lambda m: DIGITS[m.group(1)], row["title"])
        rows.append((swapped, movie_id, "roman/digits"))
    punctuated = unique[unique["title"].str.contains(r"[:,.!?'/&-]")]
    for movie_id, row in sample(punctuated, per_variant).iterrows():
        rows.append((re.sub(r"[:,.!?'/&-]+", " ", row["title"]).strip(), movie_id, "punctuation removed"))
    return rows


def synthetic_catalog(catalog: Catalog, size: int, seed: int = 11) -> Catalog:
    """Return the catalog grown to ``size`` movies with titles made of words from real titles."""
    rng = np.random.default_rng(seed)
    movies = catalog.movies
    vocabulary = sorted({word for title in movies["title"] for word in title.split() if word.isalpha()})
    extra = size - len(movies)
    lengths = rng.integers(1, 6, size=extra)
    titles = [" ".join(vocabulary[i] for i in rng.integers(0, len(vocabulary), size=length)) for length in lengths]
    years = rng.integers(1920, 2019, size=extra)
    start = int(movies.index.max()) + 1
    frame = pd.DataFrame(index=pd.Index(range(start, start + extra), name="movie_id"))
    frame["title"] = titles
    frame["display_title"] = [f"{title} ({year})" for title, year in zip(titles, years)]
    frame["year"] = pd.array(years, dtype="Int64")
    frame["alt_titles"] = [()] * extra
    frame["genres"] = [("Drama",)] * extra
    frame["rating_count"] = rng.zipf(2.0, size=extra)
    frame["rating_mean"] = 3.5
    for column in ("tags", "cast", "keywords"):
        frame[column] = [()] * extra
    frame["imdb_id"] = pd.array([pd.NA] * extra, dtype="Int64")
    frame["tmdb_id"] = pd.array([pd.NA] * extra, dtype="Int64")
    frame["director"] = None
    return Catalog(pd.concat([movies, frame[movies.columns]]), name=f"synthetic-{size}")


def percentile(values: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(values), q))


def run(catalog: Catalog, mentions: list[tuple[str, int, str]], label: str) -> dict:
    started = time.perf_counter()
    index = TitleIndex(catalog)
    build_seconds = time.perf_counter() - started
    titles = catalog.movies["display_title"].tolist()
    ids = catalog.movies.index.to_numpy()
    ours, baseline, ours_ok, baseline_ok = [], [], 0, 0
    per_variant: dict[str, list[int]] = {}
    for mention, movie_id, variant in mentions:
        started = time.perf_counter()
        resolution = index.resolve(mention)
        ours.append((time.perf_counter() - started) * 1000)
        correct = resolution.best is not None and resolution.best.movie_id == movie_id
        ours_ok += correct
        per_variant.setdefault(variant, [0, 0])
        per_variant[variant][0] += correct
        per_variant[variant][1] += 1
        started = time.perf_counter()
        best = process.extractOne(mention, titles, scorer=fuzz.WRatio)
        baseline.append((time.perf_counter() - started) * 1000)
        baseline_ok += best is not None and ids[best[2]] == movie_id
    return {
        "label": label, "movies": len(catalog), "build_s": build_seconds,
        "ours_acc": ours_ok / len(mentions), "base_acc": baseline_ok / len(mentions),
        "ours_p50": percentile(ours, 50), "ours_p95": percentile(ours, 95),
        "base_p50": percentile(baseline, 50), "base_p95": percentile(baseline, 95),
        "per_variant": per_variant,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--write-mentions", action="store_true", help="rebuild data/title_mentions.csv from the catalog")
    parser.add_argument("--size", type=int, default=45_000, help="movies in the synthetic catalog (default 45,000)")
    options = parser.parse_args()

    catalog = load_dataset("ml-latest-small").catalog
    if options.write_mentions or not MENTIONS.exists():
        rows = build_mentions(catalog)
        MENTIONS.parent.mkdir(parents=True, exist_ok=True)
        with open(MENTIONS, "w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle)
            writer.writerow(["mention", "movie_id", "variant"])
            writer.writerows(rows)
    with open(MENTIONS, newline="", encoding="utf-8") as handle:
        mentions = [(row["mention"], int(row["movie_id"]), row["variant"]) for row in csv.DictReader(handle)]

    results = [run(catalog, mentions, "ml-latest-small"), run(synthetic_catalog(catalog, options.size), mentions, "synthetic")]
    print(f"Title search, {len(mentions)} labelled mentions (`python benchmarks/bench_title_search.py`)\n")
    print("| catalog | movies | index build s | top-1 ours | top-1 WRatio baseline | ours p50 ms | ours p95 ms | baseline p50 ms | baseline p95 ms |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in results:
        print(f"| {r['label']} | {r['movies']:,} | {r['build_s']:.2f} | {r['ours_acc']:.1%} | {r['base_acc']:.1%} | "
              f"{r['ours_p50']:.2f} | {r['ours_p95']:.2f} | {r['base_p50']:.2f} | {r['base_p95']:.2f} |")
    print("\n| variant | mentions | top-1 ours (ml-latest-small) |")
    print("|---|---|---|")
    for variant, (correct, total) in results[0]["per_variant"].items():
        print(f"| {variant} | {total} | {correct / total:.0%} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
