"""Next-watch scoring in NumPy from saved weights, so serving never imports TensorFlow.

The forward pass repeats :mod:`recengine.nextwatch.model` for a single user without padding:
padding positions are excluded from attention in the Keras model, so dropping them gives the same
scores (checked against TensorFlow in the tests). Loading is reading one ``.npz`` file.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Mapping

import numpy as np
from scipy.special import erf

from recengine.nextwatch.model import NextWatchConfig, read_saved, sinusoidal_encoding
from recengine.nextwatch.sequences import truncate

__all__ = ["NumpyNextWatch"]


def _layer_norm(x: np.ndarray, gamma: np.ndarray, beta: np.ndarray, epsilon: float) -> np.ndarray:
    mean = x.mean(axis=-1, keepdims=True)
    variance = x.var(axis=-1, keepdims=True)
    return (x - mean) / np.sqrt(variance + epsilon) * gamma + beta


def _gelu(x: np.ndarray) -> np.ndarray:
    # The exact GELU, x * Phi(x), as Keras computes it with approximate=False.
    return 0.5 * x * (1.0 + erf(x / math.sqrt(2.0)))


def _softmax(x: np.ndarray, axis: int) -> np.ndarray:
    shifted = np.exp(x - x.max(axis=axis, keepdims=True))
    return shifted / shifted.sum(axis=axis, keepdims=True)


class NumpyNextWatch:
    """Forward pass of a saved next-watch network on one item-index history at a time."""

    def __init__(self, config: NextWatchConfig, weights: Mapping[str, np.ndarray], movie_ids: np.ndarray, extra: dict | None = None):
        self.config = config
        self.weights = {name: np.asarray(value, dtype=np.float32) for name, value in weights.items()}
        self.movie_ids = np.asarray(movie_ids, dtype=np.int64)
        self.extra = extra or {}
        self.num_items = len(self.movie_ids)
        if config.positional == "learned":
            self.positions = self.weights["position_embedding"]
            self.embedding_scale = 1.0
        else:
            self.positions = sinusoidal_encoding(config.max_len, config.hidden_size)
            self.embedding_scale = math.sqrt(config.hidden_size)
        # The tied output matrix transposed once, as a contiguous (hidden, num_items) array.
        self.output_matrix = np.ascontiguousarray(self.weights["item_embedding"][1:self.num_items + 1].T)

    @classmethod
    def load(cls, folder: Path) -> "NumpyNextWatch":
        """Load a model saved by :func:`recengine.nextwatch.model.save_network`."""
        config, extra, weights, movie_ids = read_saved(folder)
        return cls(config, weights, movie_ids, extra)

    @property
    def mask_index(self) -> int:
        return self.num_items + 1

    def score(self, history: np.ndarray) -> np.ndarray:
        """Return (num_items,) scores for the next item after ``history`` (item indices); column j is index j + 1."""
        config = self.config
        w = self.weights
        tokens = np.append(truncate(np.asarray(history, dtype=np.int64), config.max_len - 1), self.mask_index)  # (length,)
        length = tokens.size
        # Right-aligned like the padded training input: the mask sits in the last position slot.
        x = w["item_embedding"][tokens] * self.embedding_scale + self.positions[config.max_len - length:]  # (length, hidden)
        x = _layer_norm(x, w["embedding_norm/gamma"], w["embedding_norm/beta"], config.layer_norm_epsilon)
        for index in range(config.num_layers):
            # Only the mask slot's output is scored, so the last block needs only that query row.
            queries = x[-1:] if index == config.num_layers - 1 else x
            x = self._block(index, x, queries)
        last = x[-1]  # (hidden,): the mask slot
        projected = _gelu(last @ w["head_dense/kernel"] + w["head_dense/bias"])
        projected = _layer_norm(projected, w["head_norm/gamma"], w["head_norm/beta"], config.layer_norm_epsilon)
        return projected @ self.output_matrix + w["output_bias"]  # (num_items,)

    def _block(self, index: int, x: np.ndarray, queries: np.ndarray) -> np.ndarray:
        """Return one transformer block's output for the rows ``queries`` attending over all rows of ``x``."""
        config = self.config
        w = self.weights
        prefix = f"block_{index}/"
        heads = config.num_heads
        head_size = config.hidden_size // heads
        width = heads * head_size
        # Keras kernels are (hidden, heads, head_size); flattened to (hidden, heads * head_size) they
        # become plain matrix products, far faster than np.einsum on these shapes.
        query = (queries @ w[prefix + "query/kernel"].reshape(-1, width) + w[prefix + "query/bias"].reshape(width))
        key = x @ w[prefix + "key/kernel"].reshape(-1, width) + w[prefix + "key/bias"].reshape(width)
        value = x @ w[prefix + "value/kernel"].reshape(-1, width) + w[prefix + "value/bias"].reshape(width)
        query = query.reshape(-1, heads, head_size).transpose(1, 0, 2)  # (heads, rows, head_size)
        key = key.reshape(-1, heads, head_size).transpose(1, 0, 2)  # (heads, length, head_size)
        value = value.reshape(-1, heads, head_size).transpose(1, 0, 2)  # (heads, length, head_size)
        attention = _softmax(query @ key.transpose(0, 2, 1) / math.sqrt(head_size), axis=-1)  # (heads, rows, length)
        context = (attention @ value).transpose(1, 0, 2).reshape(-1, width)  # (rows, heads * head_size)
        attended = context @ w[prefix + "output/kernel"].reshape(width, -1) + w[prefix + "output/bias"]  # (rows, hidden)
        x = _layer_norm(queries + attended, w[prefix + "attention_norm/gamma"], w[prefix + "attention_norm/beta"], config.layer_norm_epsilon)
        inner = _gelu(x @ w[prefix + "ff_inner/kernel"] + w[prefix + "ff_inner/bias"])  # (rows, feed_forward_size)
        outer = inner @ w[prefix + "ff_outer/kernel"] + w[prefix + "ff_outer/bias"]  # (rows, hidden)
        return _layer_norm(x + outer, w[prefix + "ff_norm/gamma"], w[prefix + "ff_norm/beta"], config.layer_norm_epsilon)
