"""A linear-chain conditional random field (CRF) over per-token tag scores.

A token classifier's head gives every position a score per tag (the emissions). Softmax picks
each position's tag on its own; a CRF adds a learned score for every pair of neighbouring tags
(the transitions) and for the first and the last tag, and scores whole tag sequences (Lafferty
et al. 2001; Lample et al. 2016 on NER). It learns, for instance, that I-PER does not follow
B-LOC. Training maximises the log-likelihood of the gold sequence (the forward algorithm
gives the normaliser over all sequences); prediction takes the best sequence (Viterbi).

Only the positions in `mask` form the chain: padding and the non-first pieces of a word are
skipped, so the chain runs over words even though the model reads WordPieces. Everything is
TensorFlow ops (`tf.scan`), so decoding runs inside an exported SavedModel.

    crf = CRF(num_tags)
    loss = CRFLoss(crf)                          # for compile(loss=...): labels, IGNORE_LABEL
    tags, scores = crf.decode(emissions, mask)   # [batch, length] int32 (-1 off the mask)
    probabilities = crf.marginals(emissions, mask)

tensorflow-addons had a CRF but is no longer maintained, and Keras 3 has none.
"""

from __future__ import annotations

from typing import Any

import keras
import tensorflow as tf

from tfbert.text.packers import IGNORE_LABEL


def compact(values: tf.Tensor, mask: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
    """Moves each row's masked positions to its front, in order.

    Returns `(compacted, lengths, order)`: `compacted[b, i] = values[b, order[b, i]]`, of which
    the first `lengths[b]` are the masked positions. Two unmasked positions are appended to
    every row first, so the scans over the result never run over nothing (a graph cannot
    stack an empty list of unknown shape), a batch of empty rows included.
    """
    mask = tf.pad(tf.cast(mask, tf.bool), [[0, 0], [0, 2]])
    values = tf.pad(values, [[0, 0], [0, 2]] + [[0, 0]] * (values.shape.rank - 2))
    order = tf.argsort(tf.cast(~mask, tf.int32), axis=1, stable=True)
    lengths = tf.reduce_sum(tf.cast(mask, tf.int32), axis=1)
    return tf.gather(values, order, batch_dims=1), lengths, order


def uncompact(compacted: tf.Tensor, order: tf.Tensor, mask: tf.Tensor, fill: Any) -> tuple:
    """The inverse of `compact`: values back at their positions, `fill` off the mask."""
    inverse = tf.argsort(order, axis=1)
    width = tf.shape(mask)[1]
    values = tf.gather(compacted, inverse, batch_dims=1)[:, :width]
    mask = tf.cast(mask, tf.bool)
    while mask.shape.rank < values.shape.rank:
        mask = mask[..., None]
    return tf.where(mask, values, tf.cast(fill, values.dtype))


def _time_major(tensor: tf.Tensor) -> tf.Tensor:
    return tf.transpose(tensor, [1, 0, *range(2, tensor.shape.rank)])


def forward_scores(
    emissions: tf.Tensor,
    lengths: tf.Tensor,
    transitions: tf.Tensor,
    start: tf.Tensor,
    end: tf.Tensor,
) -> tuple[tf.Tensor, tf.Tensor]:
    """The forward algorithm on left-aligned rows ([batch, length, tags], `lengths` real).

    Returns `(alphas, log_z)`: `alphas[b, t, j]`, the log of the summed scores of every path
    over positions 0..t that ends in tag j, and `log_z[b]`, the log of the summed scores of all
    complete paths (0 for an empty row).
    """
    steps = _time_major(emissions)
    first = start[None] + steps[0]

    def step(alpha: tf.Tensor, inputs: tuple[tf.Tensor, tf.Tensor]) -> tf.Tensor:
        emission, t = inputs
        following = tf.reduce_logsumexp(alpha[:, :, None] + transitions[None], axis=1) + emission
        return tf.where((t < lengths)[:, None], following, alpha)

    rest = tf.scan(step, (steps[1:], tf.range(1, tf.shape(steps)[0])), initializer=first)
    alphas = tf.concat([first[None], rest], axis=0)
    log_z = tf.reduce_logsumexp(alphas[-1] + end[None], axis=-1)  # the last real one, carried
    return _time_major(alphas), tf.where(lengths > 0, log_z, 0.0)


def sequence_scores(
    emissions: tf.Tensor,
    tags: tf.Tensor,
    lengths: tf.Tensor,
    transitions: tf.Tensor,
    start: tf.Tensor,
    end: tf.Tensor,
) -> tf.Tensor:
    """The unnormalised log score of the tag path `tags` of each left-aligned row."""
    real = tf.sequence_mask(lengths, tf.shape(tags)[1])
    real_f = tf.cast(real, emissions.dtype)
    emitted = tf.reduce_sum(tf.gather(emissions, tags, batch_dims=2) * real_f, axis=1)
    pairs = tf.gather_nd(transitions, tf.stack([tags[:, :-1], tags[:, 1:]], axis=-1))
    moved = tf.reduce_sum(pairs * real_f[:, 1:], axis=1)
    last = tf.gather(tags, tf.maximum(lengths - 1, 0), batch_dims=1)
    bounds = tf.gather(start, tags[:, 0]) + tf.gather(end, last)
    return tf.where(lengths > 0, emitted + moved + bounds, 0.0)


def viterbi(
    emissions: tf.Tensor,
    lengths: tf.Tensor,
    transitions: tf.Tensor,
    start: tf.Tensor,
    end: tf.Tensor,
) -> tuple[tf.Tensor, tf.Tensor]:
    """The best tag path of each left-aligned row and its score ([batch, length], [batch]).

    Positions past a row's length repeat its last tag (callers mask them).
    """
    steps = _time_major(emissions)
    num_tags = tf.shape(transitions)[0]
    keep = tf.range(num_tags)[None]  # the back-pointer of a step past the end: stay

    def step(carry: tuple[tf.Tensor, tf.Tensor], inputs: tuple[tf.Tensor, tf.Tensor]) -> tuple:
        score, _ = carry
        emission, t = inputs
        candidates = score[:, :, None] + transitions[None]  # [batch, from, to]
        active = (t < lengths)[:, None]
        following = tf.reduce_max(candidates, axis=1) + emission
        best_from = tf.argmax(candidates, axis=1, output_type=tf.int32)
        return tf.where(active, following, score), tf.where(active, best_from, keep)

    first = start[None] + steps[0]
    batch = tf.shape(first)[0]
    scores, pointers = tf.scan(
        step,
        (steps[1:], tf.range(1, tf.shape(steps)[0])),
        initializer=(first, tf.zeros([batch, num_tags], tf.int32)),
    )
    final = tf.concat([first[None], scores], axis=0)[-1] + end[None]
    last_tag = tf.argmax(final, axis=-1, output_type=tf.int32)
    # Back from the last position: the tag before each one is its back-pointer.
    earlier = tf.scan(
        lambda tag, pointer: tf.gather(pointer, tag, batch_dims=1),
        pointers,
        initializer=last_tag,
        reverse=True,
    )
    tags = tf.concat([earlier, last_tag[None]], axis=0)
    best = tf.where(lengths > 0, tf.reduce_max(final, axis=-1), 0.0)
    return _time_major(tags), best


class CRF(keras.layers.Layer):
    """The transition, start and end scores of a linear-chain CRF over `num_tags` tags.

    The layer holds the weights; the emissions come from a head. Its methods take emissions
    [batch, length, tags] and a mask [batch, length] of the positions that form the chain
    (words' first pieces); positions off the mask are skipped. Always float32.
    """

    def __init__(self, num_tags: int, **kwargs: Any) -> None:
        kwargs["dtype"] = "float32"
        super().__init__(**kwargs)
        if num_tags < 1:
            raise ValueError(f"A CRF needs at least one tag, got num_tags={num_tags}.")
        self.num_tags = int(num_tags)

    def build(self, input_shape: Any = None) -> None:
        uniform = keras.initializers.RandomUniform(-0.1, 0.1)
        self.transitions = self.add_weight(
            shape=(self.num_tags, self.num_tags), initializer=uniform, name="transitions"
        )
        self.start_scores = self.add_weight(
            shape=(self.num_tags,), initializer=uniform, name="start_scores"
        )
        self.end_scores = self.add_weight(
            shape=(self.num_tags,), initializer=uniform, name="end_scores"
        )
        self.built = True

    def call(self, emissions):
        """The emissions unchanged (the CRF scores sequences; see `decode`)."""
        return emissions

    def _weights(self) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
        return (
            tf.convert_to_tensor(self.transitions),
            tf.convert_to_tensor(self.start_scores),
            tf.convert_to_tensor(self.end_scores),
        )

    def log_partition(self, emissions: tf.Tensor, mask: tf.Tensor) -> tf.Tensor:
        """log Z: the log of the summed scores of every tag path over the masked positions."""
        compacted, lengths, _ = compact(tf.cast(emissions, tf.float32), mask)
        return forward_scores(compacted, lengths, *self._weights())[1]

    def log_likelihood(self, emissions: tf.Tensor, tags: tf.Tensor, mask: tf.Tensor) -> tf.Tensor:
        """log P(tags | emissions) of each row; `tags` off the mask are ignored."""
        emissions = tf.cast(emissions, tf.float32)
        tags = tf.where(tf.cast(mask, tf.bool), tf.cast(tags, tf.int32), 0)
        compacted, lengths, order = compact(emissions, mask)
        compacted_tags = tf.gather(tf.pad(tags, [[0, 0], [0, 2]]), order, batch_dims=1)
        weights = self._weights()
        gold = sequence_scores(compacted, compacted_tags, lengths, *weights)
        return gold - forward_scores(compacted, lengths, *weights)[1]

    def decode(self, emissions: tf.Tensor, mask: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        """The most likely tag path (Viterbi): tags [batch, length] int32, -1 off the mask,
        and each path's unnormalised log score [batch]."""
        compacted, lengths, order = compact(tf.cast(emissions, tf.float32), mask)
        tags, scores = viterbi(compacted, lengths, *self._weights())
        return uncompact(tags, order, mask, -1), scores

    def marginals(self, emissions: tf.Tensor, mask: tf.Tensor) -> tf.Tensor:
        """P(position t has tag j | emissions), [batch, length, tags] (forward-backward); 0 off
        the mask."""
        compacted, lengths, order = compact(tf.cast(emissions, tf.float32), mask)
        transitions, start, end = self._weights()
        alphas, log_z = forward_scores(compacted, lengths, transitions, start, end)
        # The backward scores: the forward algorithm on the reversed rows with the
        # transitions transposed, start and end swapped (each includes its own emission).
        reverse = tf.reverse_sequence(compacted, lengths, seq_axis=1, batch_axis=0)
        betas, _ = forward_scores(reverse, lengths, tf.transpose(transitions), end, start)
        betas = tf.reverse_sequence(betas, lengths, seq_axis=1, batch_axis=0)
        log_marginals = alphas + betas - compacted - log_z[:, None, None]
        return uncompact(tf.exp(log_marginals), order, mask, 0.0)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "num_tags": self.num_tags}


class CRFLoss(keras.losses.Loss):
    """The CRF's negative log-likelihood of the gold tags, for `compile(loss=...)`.

    `y_true` holds tag ids at the positions that form the chain and `IGNORE_LABEL` elsewhere
    (what `TokenLabelPacker` gives); `y_pred` is the emissions. One value per sequence.
    """

    def __init__(self, crf: CRF, name: str = "crf_loss", **kwargs: Any) -> None:
        super().__init__(name=name, **kwargs)
        self.crf = crf

    def call(self, y_true, y_pred):
        labels = tf.cast(y_true, tf.int32)
        mask = labels != IGNORE_LABEL
        return -self.crf.log_likelihood(y_pred, labels, mask)
