"""Shared fixtures: isolated settings, the real ml-latest-small dataset, and a seeded generator."""

from __future__ import annotations

import numpy as np
import pytest

from recengine.config import Settings, get_settings


@pytest.fixture
def rng() -> np.random.Generator:
    """A generator with a fixed seed, so every test that samples is repeatable."""
    return np.random.default_rng(20241204)


@pytest.fixture
def settings(tmp_path) -> Settings:
    """Settings whose models, var folder and database live in the test's own temporary folder."""
    base = get_settings()
    return base.with_overrides(
        models_dir=tmp_path / "models",
        var_dir=tmp_path / "var",
        database_url=f"sqlite:///{tmp_path / 'ratings.db'}",
    )


@pytest.fixture(scope="session")
def movielens_small():
    """ml-latest-small with IMDB-5000 metadata, loaded once per test session from the offline copy."""
    from recengine.movielens import load_dataset

    settings = get_settings()
    if settings.data_dir is None:
        pytest.skip("no offline dataset folder: set RECENGINE_DATA_DIR to a folder with ml-latest-small.zip")
    return load_dataset("ml-latest-small", settings)
