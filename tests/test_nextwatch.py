"""Next-watch: sequences, metrics, masking, the network, save/load, the recommender and its baselines."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from recengine.catalog import CATALOG_COLUMNS, Catalog
from recengine.nextwatch.baselines import PopularityBaseline, TransitionBaseline, TransitionConfig
from recengine.nextwatch.metrics import hit_rate, ndcg, score_ranks, target_ranks
from recengine.nextwatch.model import (
    NextWatchConfig, inference_tokens, left_pad, make_training_batches, sinusoidal_encoding,
)
from recengine.nextwatch.sequences import (
    ItemVocabulary, leave_one_out, merge_history, read_split_folder, truncate, user_sequences,
)
from recengine.recommender import RatedMovie, Request
from tests.contract import check_recommender_contract

# --- sequences ------------------------------------------------------------------------------------


def test_user_sequences_orders_by_time_with_stable_ties():
    frame = pd.DataFrame({
        "user_id": [1, 2, 1, 1, 2, 1],
        "movie_id": [7, 50, 3, 9, 40, 8],
        "timestamp": [5, 10, 4, 5, 10, 6],
    })
    sequences = user_sequences(frame)
    # Movie 3 is oldest; 7 and 9 share a timestamp and keep their row order; 8 is newest.
    assert sequences[1].tolist() == [3, 7, 9, 8]
    assert sequences[2].tolist() == [50, 40]


def test_user_sequences_order_column_breaks_ties():
    frame = pd.DataFrame({
        "user_id": [1, 1, 1], "item_id": [7, 9, 3], "timestamp": [5, 5, 5], "order": [2, 0, 1],
    })
    assert user_sequences(frame, item_column="item_id", order_column="order")[1].tolist() == [9, 3, 7]


def test_truncate_keeps_most_recent_items():
    assert truncate([1, 2, 3, 4, 5], 3).tolist() == [3, 4, 5]
    assert truncate([1, 2], 3).tolist() == [1, 2]


def test_leave_one_out_hand_example():
    frame = pd.DataFrame({
        "user_id": [1, 1, 1, 1, 2, 2],
        "movie_id": [10, 11, 12, 13, 10, 14],
        "timestamp": [4, 1, 2, 3, 1, 2],
    })
    split = leave_one_out(frame, "tiny", movie_ids=[10, 11, 12, 13, 14, 15])
    # User 1 in time order: 11, 12, 13, 10. User 2 has only two ratings and is left out.
    assert split.users == [1]
    assert split.train[1].tolist() == [11, 12]
    assert split.valid[1] == 13
    assert split.test[1] == 10
    assert split.history_for_test(1).tolist() == [11, 12, 13]
    assert split.movie_ids.tolist() == [10, 11, 12, 13, 14, 15]


def test_read_split_folder_orders_training_rows(tmp_path):
    pd.DataFrame({"user_id": [5, 5, 5], "item_id": [3, 1, 2], "timestamp": [9, 9, 8], "order": [2, 1, 0]}).to_csv(
        tmp_path / "train.csv", index=False)
    pd.DataFrame({"user_id": [5], "item_id": [4], "timestamp": [10], "order": [0]}).to_csv(tmp_path / "valid.csv", index=False)
    pd.DataFrame({"user_id": [5], "item_id": [6], "timestamp": [11], "order": [0]}).to_csv(tmp_path / "test.csv", index=False)
    split = read_split_folder(tmp_path, name="tiny")
    assert split.train[5].tolist() == [2, 1, 3]
    assert split.valid == {5: 4}
    assert split.test == {5: 6}
    assert split.movie_ids.tolist() == [1, 2, 3, 4, 6]


def test_merge_history_moves_rerated_movie_to_end():
    assert merge_history([1, 2, 3], [4, 2]) == [1, 3, 4, 2]


def test_vocabulary_reserves_padding_and_mask():
    vocabulary = ItemVocabulary([30, 10, 20])
    assert vocabulary.index_of(10) == 1
    assert vocabulary.index_of(30) == 3
    assert vocabulary.mask_index == 4
    assert vocabulary.encode([20, 99, 30]).tolist() == [2, 3]
    assert vocabulary.decode([1, 3]).tolist() == [10, 30]


# --- metrics ------------------------------------------------------------------------------------------


def test_target_ranks_seen_and_ties():
    scores = np.array([
        [3.0, 5.0, 5.0, 1.0],
        [3.0, 5.0, 5.0, 1.0],
        [9.0, 1.0, 2.0, 3.0],
    ])
    ranks = target_ranks(scores, np.array([2, 2, 3]), [np.array([1]), np.array([]), np.array([0, 3])])
    # Row 0: column 1 removed, nothing above 5 -> 0. Row 1: column 1 ties and comes first -> 1.
    # Row 2: column 0 removed, the target itself is never removed, column 2 (2.0) is below 3.0 -> 0.
    assert ranks.tolist() == [0, 1, 0]


def test_hit_rate_and_ndcg_hand_values():
    ranks = [0, 2, 10, 9]
    assert hit_rate(ranks, 10) == pytest.approx(3 / 4)
    expected = (1.0 + 1.0 / math.log2(4) + 0.0 + 1.0 / math.log2(11)) / 4
    assert ndcg(ranks, 10) == pytest.approx(expected)
    scores = score_ranks(np.array(ranks), 10)
    assert scores.users == 4
    assert scores.ndcg == pytest.approx(expected)


# --- masking and shapes -----------------------------------------------------------------------------------


def test_left_pad_right_aligns_and_truncates():
    assert left_pad([np.array([5, 6]), np.array([7]), np.array([1, 2, 3, 4])], 3).tolist() == [[0, 5, 6], [0, 0, 7], [2, 3, 4]]


def test_training_batches_mask_and_labels(rng):
    config = NextWatchConfig(max_len=8, batch_size=4, mask_prob=0.3, last_item_samples=1.0, hidden_size=8, num_heads=2)
    mask = 21
    sequences = [np.arange(1, 13), np.array([4, 5, 6]), np.array([7]), np.arange(10, 20)]
    batches = make_training_batches(sequences, config, mask, rng)
    tokens = [row for batch_tokens, _ in batches for row in batch_tokens]
    labels = [row for _, batch_labels in batches for row in batch_labels]
    # One Cloze sample and one last-item sample per sequence.
    assert len(tokens) == 8
    for batch_tokens, batch_labels in batches:
        assert batch_tokens.shape == batch_labels.shape
        assert batch_tokens.shape[1] <= config.max_len
        assert batch_tokens.dtype == np.int32
    last_item_samples = 0
    for row_tokens, row_labels in zip(tokens, labels):
        masked = row_tokens == mask
        assert masked.any()
        assert (row_labels[masked] > 0).all()
        assert (row_labels[~masked] == 0).all()
        if masked.sum() == 1 and masked[-1]:
            last_item_samples += 1
        real = row_tokens[row_tokens != 0]
        # Unmasked tokens are the original items: consecutive runs in these sequences.
        originals = np.where(row_tokens == mask, row_labels, row_tokens)[row_tokens != 0]
        assert real.size == originals.size
        assert (np.diff(originals) == 1).all()
    assert last_item_samples >= 4


def test_training_batches_only_last_item_when_requested(rng):
    config = NextWatchConfig(max_len=5, batch_size=10, mask_prob=0.01, last_item_samples=2.0, hidden_size=8, num_heads=2)
    batches = make_training_batches([np.arange(1, 9)], config, 99, rng)
    tokens, labels = batches[0]
    assert tokens.shape == (3, 5)
    last_only = [row for row, label in zip(tokens, labels) if (row == 99).sum() == 1 and row[-1] == 99 and label[-1] == 8]
    # The two extra samples read the most recent window 4..8 and predict 8.
    assert len(last_only) >= 2
    assert last_only[0][:4].tolist() == [4, 5, 6, 7]


def test_inference_tokens_append_mask_after_tail():
    tokens = inference_tokens([np.array([1, 2, 3, 4, 5]), np.array([7])], max_len=4, mask_index=9)
    assert tokens.tolist() == [[3, 4, 5, 9], [0, 0, 7, 9]]


def test_sinusoidal_encoding_values():
    table = sinusoidal_encoding(6, 4)
    assert table.shape == (6, 4)
    assert table[0].tolist() == [0.0, 1.0, 0.0, 1.0]
    assert table[1, 0] == pytest.approx(math.sin(1.0))
    assert table[1, 1] == pytest.approx(math.cos(1.0))
    assert table[5, 2] == pytest.approx(math.sin(5 / 10000 ** (2 / 4)))
    assert table[5, 3] == pytest.approx(math.cos(5 / 10000 ** (2 / 4)))


def test_config_rejects_bad_values():
    with pytest.raises(ValueError, match="positional"):
        NextWatchConfig(positional="rotary")
    with pytest.raises(ValueError, match="divisible"):
        NextWatchConfig(hidden_size=10, num_heads=3)


# --- baselines ------------------------------------------------------------------------------------------


def test_popularity_baseline_counts():
    model = PopularityBaseline([np.array([1, 2]), np.array([2, 3]), np.array([2])], num_items=4)
    assert model.counts.tolist() == [1.0, 3.0, 1.0, 0.0]
    assert model.score([np.array([1])]).shape == (1, 4)


def test_transition_baseline_follows_observed_successor():
    sequences = [np.array([1, 2, 3]), np.array([1, 2, 4]), np.array([5, 4])]
    model = TransitionBaseline(sequences, num_items=5, config=TransitionConfig(window=1, recent=1, popularity_weight=0.0))
    scores = model.score([np.array([1]), np.array([2])])
    # After item 1 always item 2; after item 2, items 3 and 4 equally.
    assert scores[0].tolist() == [0.0, 1.0, 0.0, 0.0, 0.0]
    assert scores[1].tolist() == [0.0, 0.0, 0.5, 0.5, 0.0]


# --- the network (TensorFlow) ---------------------------------------------------------------------------

NUM_CYCLE_ITEMS = 40


def _cycle_sequences(rng: np.random.Generator, users: int = 300) -> list[np.ndarray]:
    """Sequences that walk the item cycle 1 -> 2 -> ... -> 40 -> 1 from a random start, 6 to 14 steps long."""
    sequences = []
    for _ in range(users):
        start = int(rng.integers(0, NUM_CYCLE_ITEMS))
        length = int(rng.integers(6, 15))
        sequences.append((start + np.arange(length)) % NUM_CYCLE_ITEMS + 1)
    return sequences


def _next_in_cycle(item: int) -> int:
    return item % NUM_CYCLE_ITEMS + 1


CYCLE_CONFIG = NextWatchConfig(
    max_len=12, hidden_size=32, num_layers=1, num_heads=2, feed_forward_size=64, dropout=0.0, attention_dropout=0.0,
    mask_prob=0.3, batch_size=32, learning_rate=5e-3, max_epochs=60, patience=6, seed=7,
)


@pytest.fixture(scope="module")
def cycle_model():
    """A tiny network trained on the cycle pattern, with its validation sequences and held-out pairs."""
    from recengine.nextwatch.model import train_network

    rng = np.random.default_rng(11)
    sequences = _cycle_sequences(rng)
    train = [sequence[:-1] for sequence in sequences]
    valid = [int(sequence[-1]) for sequence in sequences]
    trained = train_network(train, NUM_CYCLE_ITEMS, CYCLE_CONFIG, valid_targets=valid, progress=False)
    return trained


@pytest.mark.slow
def test_network_shapes_and_padding_invariance():
    import tensorflow as tf

    from recengine.nextwatch.model import build_network, score_next

    config = NextWatchConfig(max_len=10, hidden_size=16, num_layers=2, num_heads=2, feed_forward_size=32)
    model = build_network(config, num_items=25)
    tokens = tf.constant(inference_tokens([np.array([1, 2, 3]), np.array([4, 5, 6, 7, 8, 9, 10, 11, 12])], 10, 26))
    hidden = model(tokens)
    assert tuple(hidden.shape) == (2, 10, 16)
    assert tuple(model.item_logits(hidden[:, -1, :]).shape) == (2, 25)
    # Padding is masked out of attention: one history alone and batched beside a longer one score the same.
    alone = score_next(model, [np.array([1, 2, 3])])
    batched = score_next(model, [np.array([1, 2, 3]), np.arange(4, 13)])
    np.testing.assert_allclose(alone[0], batched[0], rtol=1e-5, atol=1e-5)


@pytest.mark.slow
def test_network_learns_cycle_pattern(cycle_model):
    from recengine.nextwatch.model import score_next

    rng = np.random.default_rng(99)
    histories = _cycle_sequences(rng, users=100)
    scores = score_next(cycle_model.model, histories)
    for row, history in enumerate(histories):
        scores[row, history - 1] = -np.inf  # already watched, as the recommender removes them
    predicted = scores.argmax(axis=1) + 1
    expected = np.array([_next_in_cycle(int(history[-1])) for history in histories])
    assert (predicted == expected).mean() >= 0.95
    assert cycle_model.best_valid.ndcg >= 0.9


@pytest.mark.slow
def test_save_load_round_trip_gives_identical_scores(cycle_model, tmp_path):
    from recengine.nextwatch.inference import NumpyNextWatch
    from recengine.nextwatch.model import load_network, save_network, score_next

    movie_ids = np.arange(1001, 1001 + NUM_CYCLE_ITEMS)
    save_network(cycle_model.model, movie_ids, tmp_path)
    reloaded, saved_ids = load_network(tmp_path)
    histories = [np.array([3, 4, 5]), np.arange(1, 12), np.array([40])]
    original = score_next(cycle_model.model, histories)
    np.testing.assert_array_equal(score_next(reloaded, histories), original)
    assert saved_ids.tolist() == movie_ids.tolist()
    numpy_model = NumpyNextWatch.load(tmp_path)
    numpy_scores = np.stack([numpy_model.score(history) for history in histories])
    np.testing.assert_allclose(numpy_scores, original, rtol=1e-4, atol=1e-4)
    np.testing.assert_array_equal(NumpyNextWatch.load(tmp_path).score(histories[1]), numpy_scores[1])


@pytest.mark.slow
@pytest.mark.parametrize("positional", ["learned", "sinusoidal"])
def test_numpy_inference_matches_tensorflow(positional, tmp_path):
    from recengine.nextwatch.inference import NumpyNextWatch
    from recengine.nextwatch.model import build_network, save_network, score_next

    config = NextWatchConfig(max_len=9, hidden_size=16, num_layers=2, num_heads=4, feed_forward_size=24, positional=positional)
    model = build_network(config, num_items=30)
    save_network(model, np.arange(500, 530), tmp_path)
    histories = [np.array([4]), np.array([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]), np.array([30, 29])]
    expected = score_next(model, histories)
    numpy_model = NumpyNextWatch.load(tmp_path)
    for row, history in enumerate(histories):
        np.testing.assert_allclose(numpy_model.score(history), expected[row], rtol=1e-4, atol=1e-5)


# --- the recommender --------------------------------------------------------------------------------------


def _cycle_catalog() -> Catalog:
    ids = np.arange(1001, 1001 + NUM_CYCLE_ITEMS)
    frame = pd.DataFrame(index=pd.Index(ids, name="movie_id"))
    frame["title"] = [f"Cycle {i}" for i in range(1, NUM_CYCLE_ITEMS + 1)]
    frame["display_title"] = [f"Cycle {i} ({1990 + i % 20})" for i in range(1, NUM_CYCLE_ITEMS + 1)]
    frame["year"] = pd.array([1990 + i % 20 for i in range(1, NUM_CYCLE_ITEMS + 1)], dtype="Int64")
    frame["alt_titles"] = [()] * NUM_CYCLE_ITEMS
    frame["genres"] = [("Drama",) if i % 2 else ("Comedy",) for i in range(1, NUM_CYCLE_ITEMS + 1)]
    frame["rating_count"] = 10
    frame["rating_mean"] = 3.5
    frame["tags"] = [()] * NUM_CYCLE_ITEMS
    frame["imdb_id"] = pd.array([pd.NA] * NUM_CYCLE_ITEMS, dtype="Int64")
    frame["tmdb_id"] = pd.array([pd.NA] * NUM_CYCLE_ITEMS, dtype="Int64")
    frame["director"] = None
    frame["cast"] = [()] * NUM_CYCLE_ITEMS
    frame["keywords"] = [()] * NUM_CYCLE_ITEMS
    assert set(CATALOG_COLUMNS) <= set(frame.columns)
    return Catalog(frame, name="cycle")


@pytest.fixture(scope="module")
def cycle_recommender(cycle_model, tmp_path_factory):
    from recengine.nextwatch.model import save_network
    from recengine.nextwatch.recommender import HISTORIES_FILE, NextWatchModel

    folder = tmp_path_factory.mktemp("nextwatch")
    movie_ids = np.arange(1001, 1001 + NUM_CYCLE_ITEMS)
    save_network(cycle_model.model, movie_ids, folder)
    # Dataset user 7 watched cycle items 10..14 (movie ids 1010..1014); item 1 is the most popular.
    popularity = np.zeros(NUM_CYCLE_ITEMS)
    popularity[0], popularity[1] = 50, 20
    np.savez(folder / HISTORIES_FILE, users=np.array([7]), offsets=np.array([0, 5]),
             items=np.arange(1010, 1015), popularity=popularity)
    return NextWatchModel.load(folder, _cycle_catalog())


def _movie(item: int) -> int:
    return 1000 + item


@pytest.mark.slow
def test_recommender_continues_dataset_user(cycle_recommender):
    result = check_recommender_contract(cycle_recommender, cycle_recommender.catalog, Request(user_id=7, n=5))
    assert result.source == "nextwatch"
    assert result.fallback_reason is None
    assert result.movie_ids[0] == _movie(15)
    assert "Cycle 14" in result.items[0].reason


@pytest.mark.slow
def test_chat_ratings_extend_sequence(cycle_recommender):
    history = [RatedMovie(_movie(20), 4.0, 1.0), RatedMovie(_movie(21), 5.0, 2.0), RatedMovie(_movie(22), 4.5, 3.0)]
    chat_only = check_recommender_contract(cycle_recommender, cycle_recommender.catalog, Request(history=history, n=3))
    assert chat_only.movie_ids[0] == _movie(23)
    # Dataset user 7 stopped at Cycle 14; rating Cycle 15 in the chat moves the suggestion on to Cycle 16.
    combined = Request(user_id=7, history=[RatedMovie(_movie(15), 4.0, 1.0)], n=3)
    assert cycle_recommender.sequence_for(combined) == [1010, 1011, 1012, 1013, 1014, _movie(15)]
    assert check_recommender_contract(cycle_recommender, cycle_recommender.catalog, combined).movie_ids[0] == _movie(16)


@pytest.mark.slow
def test_rated_and_excluded_movies_never_return(cycle_recommender):
    history = [RatedMovie(_movie(item), 4.0, float(item)) for item in range(1, 31)]
    request = Request(history=history, n=40, exclude=frozenset({_movie(31), _movie(35)}))
    result = check_recommender_contract(cycle_recommender, cycle_recommender.catalog, request)
    returned = set(result.movie_ids)
    assert returned.isdisjoint({_movie(item) for item in range(1, 31)})
    assert returned.isdisjoint({_movie(31), _movie(35)})
    # Every movie not rated or excluded is still ranked: 40 - 30 - 2.
    assert len(returned) == 8


@pytest.mark.slow
def test_empty_history_falls_back_to_popularity(cycle_recommender):
    result = check_recommender_contract(cycle_recommender, cycle_recommender.catalog, Request(n=3, exclude=frozenset({_movie(2)})))
    assert result.source == "popularity"
    assert result.fallback_reason
    assert result.movie_ids[0] == _movie(1)
    assert _movie(2) not in result.movie_ids
    assert all(item.source == "popularity" for item in result.items)


@pytest.mark.slow
def test_unknown_user_without_history_falls_back(cycle_recommender):
    result = cycle_recommender.recommend(Request(user_id=12345, n=2))
    assert result.source == "popularity"


@pytest.mark.slow
def test_genre_and_year_filters(cycle_recommender):
    history = [RatedMovie(_movie(5), 4.0, 1.0), RatedMovie(_movie(6), 4.0, 2.0)]
    result = check_recommender_contract(
        cycle_recommender, cycle_recommender.catalog, Request(history=history, n=5, genre="comedy"),
    )
    genres = cycle_recommender.catalog.movies.loc[result.movie_ids, "genres"]
    assert len(result.movie_ids) == 5
    assert all("Comedy" in value for value in genres)
    dated = cycle_recommender.recommend(Request(history=history, n=40, year_from=2005))
    years = cycle_recommender.catalog.movies.loc[dated.movie_ids, "year"]
    assert (years >= 2005).all()
    assert len(dated.movie_ids) > 0


@pytest.mark.slow
def test_recommender_on_real_catalog(movielens_small, tmp_path):
    from recengine.nextwatch.recommender import NextWatchModel, train_artefact

    data = movielens_small
    # The first 100 users keep the test short; every catalog movie still gets an index.
    ratings = data.ratings[data.ratings["user_id"] <= 100]
    config = NextWatchConfig(max_len=20, hidden_size=16, num_layers=1, num_heads=2, feed_forward_size=32,
                             max_epochs=1, batch_size=128)
    figures = train_artefact(ratings, data.catalog, tmp_path, config, progress=False)
    assert figures["users"] == ratings["user_id"].nunique()
    assert figures["items"] == len(data.catalog)
    model = NextWatchModel.load(tmp_path, data.catalog)
    user = int(ratings["user_id"].iloc[0])
    rated = set(ratings.loc[ratings["user_id"] == user, "movie_id"])
    result = check_recommender_contract(model, data.catalog, Request(user_id=user, n=10))
    assert len(result.items) == 10
    assert rated.isdisjoint(result.movie_ids)
