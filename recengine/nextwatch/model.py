"""A BERT4Rec-style next-watch network in TensorFlow/Keras: Cloze training, early stopping, save and load.

Architecture (after Sun et al., "BERT4Rec: Sequential Recommendation with Bidirectional Encoder
Representations from Transformer", CIKM 2019):

- input: a user's item indices, left-padded to ``max_len`` so the most recent item is always in
  the last slot; 0 is padding and ``num_items + 1`` the mask token;
- item embedding plus a positional encoding, either learned or the fixed sinusoids of Vaswani et
  al., "Attention Is All You Need" (2017): ``PE[p, 2i] = sin(p / 10000^(2i/d))`` and
  ``PE[p, 2i+1] = cos(p / 10000^(2i/d))``; then layer norm and dropout;
- ``num_layers`` bidirectional self-attention blocks (multi-head attention over non-padding
  positions, residual, layer norm, a GELU feed-forward layer, residual, layer norm);
- output head: a GELU dense layer and layer norm, then scores against the item embedding
  matrix (tied weights) plus a per-item output bias.

Training is the Cloze task: random positions are replaced by the mask token and the model predicts
the original items. Extra samples mask only the last item, because that is the inference task.
Inference appends the mask token to the user's sequence and ranks the scores at that position.

Saved artefacts hold named NumPy arrays, so :mod:`recengine.nextwatch.inference` can serve the
model without importing TensorFlow.
"""

from __future__ import annotations

import json
import logging
import math
import time
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import numpy as np

from recengine.errors import ArtefactError
from recengine.nextwatch.metrics import RankingScores, score_ranks, target_ranks
from recengine.nextwatch.sequences import PAD_INDEX, truncate

__all__ = [
    "NextWatchConfig", "TrainingResult", "build_network", "train_network", "score_next", "named_variables",
    "save_network", "load_network", "sinusoidal_encoding", "make_training_batches", "inference_tokens", "left_pad",
    "WEIGHTS_FILE", "CONFIG_FILE", "ITEMS_FILE",
]

log = logging.getLogger(__name__)

WEIGHTS_FILE = "weights.npz"
CONFIG_FILE = "config.json"
ITEMS_FILE = "items.npy"

POSITIONAL_KINDS = ("learned", "sinusoidal")


@dataclass
class NextWatchConfig:
    """Hyper-parameters of the network and its training; defaults suit MovieLens 100k to latest-small."""

    max_len: int = 200
    """Most recent items the model reads, including the appended mask slot."""
    hidden_size: int = 64
    """Width of item embeddings and of every block."""
    num_layers: int = 2
    num_heads: int = 2
    feed_forward_size: int = 256
    """Inner width of each block's GELU feed-forward layer."""
    dropout: float = 0.2
    """Dropout after embeddings, attention outputs and feed-forward layers."""
    attention_dropout: float = 0.2
    """Dropout on the attention weights."""
    positional: str = "learned"
    """``learned`` position embeddings or fixed ``sinusoidal`` encodings. With equal 900 s training
    budgets, learned scored the higher validation NDCG@10 on ml-100k (0.065 against 0.044) and on
    ml-latest-small (0.025 against 0.023); ``benchmarks/nextwatch_eval.py`` reruns the comparison."""
    mask_prob: float = 0.2
    """Share of positions a Cloze sample replaces by the mask token (at least one per sample)."""
    last_item_samples: float = 1.0
    """Extra samples per user and epoch that mask only the last item (0 disables, 1.0 adds one each)."""
    batch_size: int = 64
    learning_rate: float = 3e-3
    """Adam step size. In one ml-100k run each, 3e-3 reached validation NDCG@10 0.086 after 44 epochs
    and was still improving, while 1e-3 peaked at 0.076 (epoch 32) and stopped early at epoch 42."""
    # NOTE: mask ratio, width and dropout are the usual BERT4Rec defaults and were not tuned on
    # validation, because one training run took most of an hour on the shared 2-core machine.
    weight_decay: float = 0.0
    """Decoupled weight decay (AdamW); 0 uses plain Adam."""
    max_epochs: int = 200
    patience: int = 10
    """Validation checks without a better NDCG@10 before training stops."""
    eval_every: int = 1
    """Epochs between validation checks."""
    max_train_seconds: float | None = None
    """Wall-clock bound on training; the best weights so far are kept when it is reached."""
    seed: int = 42
    layer_norm_epsilon: float = 1e-6

    def __post_init__(self) -> None:
        if self.positional not in POSITIONAL_KINDS:
            raise ValueError(f"positional must be one of {', '.join(POSITIONAL_KINDS)}, got {self.positional!r}")
        if self.hidden_size % self.num_heads:
            raise ValueError(f"hidden_size {self.hidden_size} is not divisible by num_heads {self.num_heads}")
        if self.max_len < 2:
            raise ValueError(f"max_len must be at least 2 (one item and the mask slot), got {self.max_len}")
        if not 0.0 < self.mask_prob < 1.0:
            raise ValueError(f"mask_prob must be between 0 and 1, got {self.mask_prob}")
        if self.last_item_samples < 0:
            raise ValueError(f"last_item_samples must be 0 or more, got {self.last_item_samples}")

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> "NextWatchConfig":
        """Build a config from saved values, ignoring keys this version does not know."""
        known = {item.name for item in fields(cls)}
        return cls(**{key: value for key, value in values.items() if key in known})


def sinusoidal_encoding(length: int, width: int) -> np.ndarray:
    """Return the (length, width) sinusoid table: even columns sine, odd columns cosine."""
    positions = np.arange(length, dtype=np.float64)[:, None]  # (length, 1)
    pair = np.arange(width, dtype=np.float64)[None, :] // 2  # (1, width): 0, 0, 1, 1, 2, 2, ...
    angles = positions / np.power(10000.0, 2.0 * pair / width)  # (length, width)
    table = np.where(np.arange(width)[None, :] % 2 == 0, np.sin(angles), np.cos(angles))
    return table.astype(np.float32)


def left_pad(sequences: Sequence[np.ndarray], length: int) -> np.ndarray:
    """Return an int32 (len(sequences), length) array with each sequence right-aligned after zeros.

    Example: ``left_pad([[5, 6], [7]], 3)`` is ``[[0, 5, 6], [0, 0, 7]]``; longer sequences keep their tail.
    """
    out = np.zeros((len(sequences), length), dtype=np.int32)
    for row, sequence in enumerate(sequences):
        tail = truncate(sequence, length)
        if tail.size:
            out[row, length - tail.size:] = tail
    return out


def make_training_batches(
    sequences: Sequence[np.ndarray], config: NextWatchConfig, mask_index: int, rng: np.random.Generator,
) -> list[tuple[np.ndarray, np.ndarray]]:
    """Return one epoch of Cloze samples as shuffled ``(tokens, labels)`` batches, both int32 (batch, length).

    Each sequence gives one sample over a random window of ``max_len`` items (the whole sequence
    when it is shorter), each position masked with probability ``mask_prob`` and at least one
    masked. It also gives ``last_item_samples`` samples over the most recent window with only the
    last item masked; a fractional part is drawn at random. ``labels`` holds the original item at masked positions
    and 0 elsewhere.

    Samples of similar length share a batch, which is left-padded only to its longest sample:
    most users have far fewer than ``max_len`` ratings, and attention cost grows with the square
    of the padded length.
    """
    token_rows: list[np.ndarray] = []
    label_rows: list[np.ndarray] = []
    whole, fraction = divmod(config.last_item_samples, 1.0)
    for sequence in sequences:
        sequence = np.asarray(sequence, dtype=np.int32)
        if sequence.size == 0:
            continue
        start = int(rng.integers(0, sequence.size - config.max_len + 1)) if sequence.size > config.max_len else 0
        window = sequence[start:start + config.max_len]
        masked = rng.random(window.size) < config.mask_prob
        if not masked.any():
            masked[int(rng.integers(0, window.size))] = True
        token_rows.append(np.where(masked, mask_index, window).astype(np.int32))
        label_rows.append(np.where(masked, window, PAD_INDEX).astype(np.int32))
        extra = int(whole) + int(rng.random() < fraction)
        tail = sequence[-config.max_len:]
        for _ in range(extra):
            tokens = tail.copy()
            tokens[-1] = mask_index
            labels = np.zeros_like(tail)
            labels[-1] = tail[-1]
            token_rows.append(tokens)
            label_rows.append(labels)
    lengths = np.asarray([row.size for row in token_rows])
    # Sort by length, ties in random order, so batches differ between epochs.
    order = np.lexsort((rng.random(lengths.size), lengths))
    batches = []
    for start in range(0, order.size, config.batch_size):
        chosen = order[start:start + config.batch_size]
        width = int(lengths[chosen].max())
        batches.append((left_pad([token_rows[i] for i in chosen], width), left_pad([label_rows[i] for i in chosen], width)))
    return [batches[i] for i in rng.permutation(len(batches))]


def inference_tokens(histories: Sequence[np.ndarray], max_len: int, mask_index: int) -> np.ndarray:
    """Return (len(histories), length) tokens: each history's last ``max_len - 1`` items, then the mask.

    ``length`` is the longest row, at most ``max_len``; shorter rows are left-padded.
    """
    with_mask = [np.append(truncate(history, max_len - 1), mask_index) for history in histories]
    return left_pad(with_mask, max(row.size for row in with_mask))


# --- the Keras network ---------------------------------------------------------------------------

def build_network(config: NextWatchConfig, num_items: int):
    """Build the Keras model for ``num_items`` movies and create its weights with one dummy call."""
    import tensorflow as tf

    model = _make_model_class(tf)(config, num_items)
    hidden = model(tf.zeros((1, config.max_len), dtype=tf.int32))  # creates the embedding and block weights
    model.item_logits(hidden[:, -1, :])  # creates the output head's weights
    return model


def _make_model_class(tf):
    """Return the Keras classes; defined inside a function so importing this module does not import TensorFlow."""

    class TransformerBlock(tf.keras.layers.Layer):
        """Bidirectional self-attention and a GELU feed-forward layer, each with residual and post layer norm."""

        def __init__(self, config: NextWatchConfig, **kwargs):
            super().__init__(**kwargs)
            head_size = config.hidden_size // config.num_heads
            self.attention = tf.keras.layers.MultiHeadAttention(
                num_heads=config.num_heads, key_dim=head_size, dropout=config.attention_dropout, name="attention",
            )
            self.attention_dropout = tf.keras.layers.Dropout(config.dropout)
            self.attention_norm = tf.keras.layers.LayerNormalization(epsilon=config.layer_norm_epsilon, name="attention_norm")
            self.feed_forward_inner = tf.keras.layers.Dense(config.feed_forward_size, activation="gelu", name="ff_inner")
            self.feed_forward_outer = tf.keras.layers.Dense(config.hidden_size, name="ff_outer")
            self.feed_forward_dropout = tf.keras.layers.Dropout(config.dropout)
            self.feed_forward_norm = tf.keras.layers.LayerNormalization(epsilon=config.layer_norm_epsilon, name="ff_norm")

        def call(self, x, attention_mask, training=False):
            # x: (batch, length, hidden); attention_mask: (batch, length, length), True where a query may attend a key.
            attended = self.attention(x, x, attention_mask=attention_mask, training=training)  # (batch, length, hidden)
            x = self.attention_norm(x + self.attention_dropout(attended, training=training))
            inner = self.feed_forward_inner(x)  # (batch, length, feed_forward_size)
            outer = self.feed_forward_outer(inner)  # (batch, length, hidden)
            return self.feed_forward_norm(x + self.feed_forward_dropout(outer, training=training))

    class Bert4Rec(tf.keras.Model):
        """Item and position embeddings, a stack of transformer blocks and a tied output head."""

        def __init__(self, config: NextWatchConfig, num_items: int):
            super().__init__(name="bert4rec")
            self.config = config
            self.num_items = num_items
            width = config.hidden_size
            self.item_embedding = tf.keras.layers.Embedding(
                num_items + 2, width, embeddings_initializer=tf.keras.initializers.TruncatedNormal(stddev=0.02, seed=config.seed),
                name="items",
            )
            if config.positional == "learned":
                self.position_embedding = tf.keras.layers.Embedding(
                    config.max_len, width,
                    embeddings_initializer=tf.keras.initializers.TruncatedNormal(stddev=0.02, seed=config.seed + 1),
                    name="positions",
                )
                self.embedding_scale = 1.0
            else:
                self.position_table = tf.constant(sinusoidal_encoding(config.max_len, width))  # (max_len, hidden)
                # Vaswani et al. multiply embeddings by sqrt(d) so the fixed sinusoids do not swamp them.
                self.embedding_scale = math.sqrt(width)
            self.embedding_norm = tf.keras.layers.LayerNormalization(epsilon=config.layer_norm_epsilon, name="embedding_norm")
            self.embedding_dropout = tf.keras.layers.Dropout(config.dropout)
            self.blocks = [TransformerBlock(config, name=f"block_{index}") for index in range(config.num_layers)]
            self.head_dense = tf.keras.layers.Dense(width, activation="gelu", name="head_dense")
            self.head_norm = tf.keras.layers.LayerNormalization(epsilon=config.layer_norm_epsilon, name="head_norm")
            self.output_bias = self.add_weight(name="output_bias", shape=(num_items,), initializer="zeros")

        def positions(self, length):
            # Inputs are right-aligned, so a batch of ``length`` columns uses the last ``length`` positions.
            first = self.config.max_len - length
            if self.config.positional == "learned":
                return self.position_embedding(tf.range(first, self.config.max_len))  # (length, hidden)
            return self.position_table[first:]  # (length, hidden)

        def call(self, tokens, training=False):
            # tokens: (batch, length) int32 with length <= max_len -> hidden states (batch, length, hidden)
            x = self.item_embedding(tokens) * self.embedding_scale + self.positions(tf.shape(tokens)[1])[None, :, :]
            x = self.embedding_dropout(self.embedding_norm(x), training=training)
            keys = tf.not_equal(tokens, PAD_INDEX)  # (batch, length)
            attention_mask = tf.logical_and(keys[:, :, None], keys[:, None, :])  # (batch, length, length)
            for block in self.blocks:
                x = block(x, attention_mask, training=training)
            return x

        def item_logits(self, hidden):
            # hidden: (rows, hidden) -> scores over movies (rows, num_items); column j is item index j + 1.
            projected = self.head_norm(self.head_dense(hidden))  # (rows, hidden)
            items = self.item_embedding.embeddings[1:self.num_items + 1]  # (num_items, hidden)
            return tf.matmul(projected, items, transpose_b=True) + self.output_bias

    return Bert4Rec


def named_variables(model) -> dict[str, Any]:
    """Return every weight of ``model`` under a stable name; saving, loading and NumPy inference share these names."""
    names: dict[str, Any] = {"item_embedding": model.item_embedding.embeddings}
    if model.config.positional == "learned":
        names["position_embedding"] = model.position_embedding.embeddings
    names["embedding_norm/gamma"] = model.embedding_norm.gamma
    names["embedding_norm/beta"] = model.embedding_norm.beta
    for index, block in enumerate(model.blocks):
        prefix = f"block_{index}/"
        attention = block.attention
        # Keras keeps the four projections as private EinsumDense layers; their kernels have the
        # shapes (hidden, heads, head_size) for query/key/value and (heads, head_size, hidden) for output.
        for part, layer in (("query", attention._query_dense), ("key", attention._key_dense),
                            ("value", attention._value_dense), ("output", attention._output_dense)):
            names[f"{prefix}{part}/kernel"] = layer.kernel
            names[f"{prefix}{part}/bias"] = layer.bias
        names[f"{prefix}attention_norm/gamma"] = block.attention_norm.gamma
        names[f"{prefix}attention_norm/beta"] = block.attention_norm.beta
        names[f"{prefix}ff_inner/kernel"] = block.feed_forward_inner.kernel
        names[f"{prefix}ff_inner/bias"] = block.feed_forward_inner.bias
        names[f"{prefix}ff_outer/kernel"] = block.feed_forward_outer.kernel
        names[f"{prefix}ff_outer/bias"] = block.feed_forward_outer.bias
        names[f"{prefix}ff_norm/gamma"] = block.feed_forward_norm.gamma
        names[f"{prefix}ff_norm/beta"] = block.feed_forward_norm.beta
    names["head_dense/kernel"] = model.head_dense.kernel
    names["head_dense/bias"] = model.head_dense.bias
    names["head_norm/gamma"] = model.head_norm.gamma
    names["head_norm/beta"] = model.head_norm.beta
    names["output_bias"] = model.output_bias
    return names


# --- training ------------------------------------------------------------------------------------

@dataclass
class TrainingResult:
    """A trained model and how training went."""

    model: Any
    config: NextWatchConfig
    num_items: int
    epochs: int
    """Epochs run, including those after the best one."""
    best_epoch: int
    best_valid: RankingScores | None
    seconds: float
    stopped_because: str
    history: list[dict[str, float]] = field(default_factory=list)


def _compile_steps(model, optimizer, config: NextWatchConfig):
    import tensorflow as tf

    # Batches are padded to their own longest row, so the length axis is left open as well.
    signature = [tf.TensorSpec((None, None), tf.int32), tf.TensorSpec((None, None), tf.int32)]

    @tf.function(input_signature=signature, autograph=False)
    def train_step(tokens, labels):
        with tf.GradientTape() as tape:
            hidden = model(tokens, training=True)  # (batch, length, hidden)
            positions = tf.where(labels > PAD_INDEX)  # (masked, 2): (row, position) of each masked slot
            picked = tf.gather_nd(hidden, positions)  # (masked, hidden)
            targets = tf.gather_nd(labels, positions) - 1  # (masked,): item index 1..n -> logit column 0..n-1
            logits = model.item_logits(picked)  # (masked, num_items)
            loss = tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(labels=targets, logits=logits))
        gradients = tape.gradient(loss, model.trainable_variables)
        optimizer.apply_gradients(zip(gradients, model.trainable_variables))
        return loss

    @tf.function(input_signature=signature[:1], autograph=False)
    def score_step(tokens):
        hidden = model(tokens, training=False)[:, -1, :]  # (batch, hidden): the appended mask slot
        return model.item_logits(hidden)  # (batch, num_items)

    return train_step, score_step


def score_next(model, histories: Sequence[np.ndarray], batch_size: int = 256, score_step: Callable | None = None) -> np.ndarray:
    """Return (len(histories), num_items) next-item scores with TensorFlow; column j is item index j + 1."""
    import tensorflow as tf

    config = model.config
    if score_step is None:
        score_step = _compile_steps(model, None, config)[1]
    scores = np.zeros((len(histories), model.num_items), dtype=np.float32)
    # Score histories of similar length together so each batch pads little.
    order = np.argsort([min(len(history), config.max_len) for history in histories], kind="stable")
    for start in range(0, order.size, batch_size):
        chosen = order[start:start + batch_size]
        tokens = inference_tokens([histories[i] for i in chosen], config.max_len, model.num_items + 1)
        scores[chosen] = score_step(tf.constant(tokens)).numpy()
    return scores


def evaluate_network(
    model, histories: Sequence[np.ndarray], targets: Sequence[int], k: int = 10, score_step: Callable | None = None,
) -> RankingScores:
    """Return HR@k and NDCG@k of the item indices ``targets`` after ``histories``, history items masked."""
    scores = score_next(model, histories, score_step=score_step)
    columns = np.asarray(targets, dtype=np.int64) - 1
    seen = [np.asarray(history, dtype=np.int64) - 1 for history in histories]
    return score_ranks(target_ranks(scores, columns, seen), k)


def train_network(
    sequences: Sequence[np.ndarray],
    num_items: int,
    config: NextWatchConfig,
    valid_targets: Sequence[int] | None = None,
    progress: bool = True,
) -> TrainingResult:
    """Train on item-index ``sequences`` and early-stop on NDCG@10 of ``valid_targets`` (one per sequence).

    Without validation targets the model trains for ``max_epochs`` (or until ``max_train_seconds``).
    The returned model carries the weights of the best validation check.
    """
    import tensorflow as tf
    from tqdm.auto import tqdm

    if valid_targets is not None and len(valid_targets) != len(sequences):
        raise ValueError(f"{len(valid_targets)} validation targets for {len(sequences)} sequences; give one per sequence")
    tf.keras.utils.set_random_seed(config.seed)
    rng = np.random.default_rng(config.seed)
    model = build_network(config, num_items)
    if config.weight_decay > 0:
        optimizer = tf.keras.optimizers.AdamW(learning_rate=config.learning_rate, weight_decay=config.weight_decay, clipnorm=5.0)
    else:
        optimizer = tf.keras.optimizers.Adam(learning_rate=config.learning_rate, clipnorm=5.0)
    optimizer.build(model.trainable_variables)
    train_step, score_step = _compile_steps(model, optimizer, config)

    started = time.perf_counter()
    history: list[dict[str, float]] = []
    best_weights = [value.copy() for value in model.get_weights()]
    best_score: RankingScores | None = None
    best_epoch = 0
    checks_without_gain = 0
    stopped_because = "max_epochs"
    epochs = 0
    bar = tqdm(total=config.max_epochs, desc="nextwatch", unit="epoch", disable=not progress, leave=False)
    try:
        for epoch in range(1, config.max_epochs + 1):
            epochs = epoch
            batches = make_training_batches(sequences, config, num_items + 1, rng)
            dataset = tf.data.Dataset.from_generator(
                lambda: iter(batches),
                output_signature=(tf.TensorSpec((None, None), tf.int32), tf.TensorSpec((None, None), tf.int32)),
            ).prefetch(2)
            losses = [float(train_step(batch_tokens, batch_labels)) for batch_tokens, batch_labels in dataset]
            record = {"epoch": epoch, "loss": float(np.mean(losses)), "seconds": time.perf_counter() - started}
            if valid_targets is not None and (epoch % config.eval_every == 0 or epoch == config.max_epochs):
                score = evaluate_network(model, sequences, valid_targets, score_step=score_step)
                record.update(valid_hr=score.hr, valid_ndcg=score.ndcg)
                if best_score is None or score.ndcg > best_score.ndcg:
                    best_score, best_epoch, checks_without_gain = score, epoch, 0
                    best_weights = [value.copy() for value in model.get_weights()]
                else:
                    checks_without_gain += 1
            history.append(record)
            bar.update(1)
            bar.set_postfix(loss=f"{record['loss']:.3f}", ndcg=f"{record.get('valid_ndcg', float('nan')):.4f}")
            log.debug("epoch %d: %s", epoch, record)
            if valid_targets is not None and checks_without_gain >= config.patience:
                stopped_because = f"no validation gain in {config.patience} checks"
                break
            if config.max_train_seconds is not None and time.perf_counter() - started >= config.max_train_seconds:
                stopped_because = f"time limit of {config.max_train_seconds:.0f} s"
                break
    finally:
        bar.close()
    if valid_targets is not None:
        model.set_weights(best_weights)
    else:
        best_epoch = epochs
    seconds = time.perf_counter() - started
    log.info("Trained next-watch model: %d epochs (best %d) in %.1f s, stopped by %s; validation %s",
             epochs, best_epoch, seconds, stopped_because, best_score)
    return TrainingResult(model=model, config=config, num_items=num_items, epochs=epochs, best_epoch=best_epoch,
                          best_valid=best_score, seconds=seconds, stopped_because=stopped_because, history=history)


# --- save and load -------------------------------------------------------------------------------

def save_network(model, movie_ids: np.ndarray, folder: Path, extra: Mapping[str, Any] | None = None) -> None:
    """Write ``config.json``, ``weights.npz`` (named arrays) and ``items.npy`` (movie id of each index) into ``folder``."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    if len(movie_ids) != model.num_items:
        raise ValueError(f"{len(movie_ids)} movie ids for a model of {model.num_items} items")
    arrays = {name: variable.numpy() for name, variable in named_variables(model).items()}
    np.savez(folder / WEIGHTS_FILE, **arrays)
    np.save(folder / ITEMS_FILE, np.asarray(movie_ids, dtype=np.int64))
    payload = {"config": asdict(model.config), "num_items": int(model.num_items), **(extra or {})}
    (folder / CONFIG_FILE).write_text(json.dumps(payload, indent=2, default=str))


def read_saved(folder: Path) -> tuple[NextWatchConfig, dict[str, Any], dict[str, np.ndarray], np.ndarray]:
    """Read a saved model's config, extra fields, named weight arrays and movie ids, checking they fit together."""
    folder = Path(folder)
    try:
        payload = json.loads((folder / CONFIG_FILE).read_text())
        with np.load(folder / WEIGHTS_FILE) as archive:
            weights = {name: archive[name] for name in archive.files}
        movie_ids = np.load(folder / ITEMS_FILE)
    except (OSError, ValueError, KeyError) as error:
        raise ArtefactError(
            f"next-watch model in {folder} is missing or unreadable ({error}); "
            "run `python -m recengine nextwatch train` or `python -m recengine build --only nextwatch`."
        ) from error
    config = NextWatchConfig.from_dict(payload.get("config", {}))
    num_items = int(payload.get("num_items", -1))
    if num_items != len(movie_ids) or weights.get("output_bias", np.empty(0)).shape != (num_items,):
        raise ArtefactError(f"next-watch model in {folder} is inconsistent: config, weights and items disagree on the item count; rebuild it.")
    extra = {key: value for key, value in payload.items() if key not in ("config", "num_items")}
    return config, extra, weights, movie_ids


def load_network(folder: Path):
    """Rebuild the Keras model saved in ``folder`` and return it with its movie ids."""
    config, _, weights, movie_ids = read_saved(folder)
    model = build_network(config, len(movie_ids))
    variables = named_variables(model)
    missing = set(variables) - set(weights)
    if missing:
        raise ArtefactError(f"next-watch model in {folder} lacks weights {sorted(missing)[:3]}; rebuild it.")
    for name, variable in variables.items():
        variable.assign(weights[name])
    return model, movie_ids
