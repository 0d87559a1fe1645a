"""The linear-chain CRF (tfbert.modeling.crf) against brute force over every tag path."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import tensorflow as tf

from tfbert.modeling.crf import CRF, CRFLoss
from tfbert.text.packers import IGNORE_LABEL


def _crf(num_tags: int, seed: int) -> CRF:
    crf = CRF(num_tags)
    crf.build()
    rng = np.random.default_rng(seed)
    crf.set_weights([rng.normal(size=w.shape).astype("float32") for w in crf.weights])
    return crf


def _path_scores(crf: CRF, emissions: np.ndarray) -> dict[tuple[int, ...], float]:
    """Every tag path of one sequence (positions already selected) and its score."""
    transitions, start, end = (np.asarray(w) for w in crf._weights())
    scores = {}
    for path in itertools.product(range(crf.num_tags), repeat=len(emissions)):
        score = start[path[0]] + end[path[-1]]
        score += sum(emissions[t, tag] for t, tag in enumerate(path))
        score += sum(transitions[a, b] for a, b in itertools.pairwise(path))
        scores[path] = score
    return scores


def _random_case(seed: int, batch: int = 4, length: int = 6, num_tags: int = 3):
    rng = np.random.default_rng(seed)
    emissions = rng.normal(size=(batch, length, num_tags)).astype("float32") * 2
    # Chains of 1..length positions scattered anywhere in the row (padding, non-first pieces).
    mask = np.zeros((batch, length), bool)
    for row in range(batch):
        count = 1 + row % length
        mask[row, np.sort(rng.choice(length, size=count, replace=False))] = True
    return emissions, mask


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_viterbi_equals_brute_force_over_all_tag_paths(seed: int) -> None:
    crf = _crf(3, seed)
    emissions, mask = _random_case(seed)
    tags, scores = crf.decode(tf.constant(emissions), tf.constant(mask))
    for row in range(len(mask)):
        paths = _path_scores(crf, emissions[row][mask[row]])
        best = max(paths, key=paths.get)
        assert tuple(tags[row].numpy()[mask[row]]) == best
        assert (tags[row].numpy()[~mask[row]] == -1).all()
        assert scores[row].numpy() == pytest.approx(paths[best], rel=1e-5)


@pytest.mark.parametrize("seed", [3, 4])
def test_log_partition_and_likelihood_equal_brute_force(seed: int) -> None:
    crf = _crf(3, seed)
    emissions, mask = _random_case(seed)
    log_z = crf.log_partition(tf.constant(emissions), tf.constant(mask)).numpy()
    rng = np.random.default_rng(seed)
    gold = rng.integers(0, 3, size=mask.shape)
    likelihood = crf.log_likelihood(tf.constant(emissions), tf.constant(gold), tf.constant(mask))
    for row in range(len(mask)):
        paths = _path_scores(crf, emissions[row][mask[row]])
        expected = np.logaddexp.reduce(np.array(list(paths.values()), np.float64))
        assert log_z[row] == pytest.approx(expected, rel=1e-5)
        path = tuple(gold[row][mask[row]])
        assert likelihood[row].numpy() == pytest.approx(paths[path] - expected, abs=1e-4)


def test_marginals_equal_brute_force() -> None:
    crf = _crf(3, 5)
    emissions, mask = _random_case(5)
    marginals = crf.marginals(tf.constant(emissions), tf.constant(mask)).numpy()
    for row in range(len(mask)):
        positions = np.flatnonzero(mask[row])
        paths = _path_scores(crf, emissions[row][mask[row]])
        weights = np.exp(np.array(list(paths.values())) - max(paths.values()))
        weights /= weights.sum()
        expected = np.zeros((len(positions), 3))
        for (path, _), weight in zip(paths.items(), weights, strict=True):
            expected[np.arange(len(positions)), list(path)] += weight
        np.testing.assert_allclose(marginals[row, positions], expected, atol=1e-5)
        assert (marginals[row, ~mask[row]] == 0).all()


def test_masked_positions_change_nothing() -> None:
    """What lies off the mask (padding, later pieces of a word) never moves a result."""
    crf = _crf(4, 6)
    emissions, mask = _random_case(6, length=5, num_tags=4)
    noisy = np.where(mask[..., None], emissions, 100 * np.random.default_rng(0).normal(size=1))
    for values in (emissions, noisy):
        tags, scores = crf.decode(tf.constant(values, tf.float32), tf.constant(mask))
        log_z = crf.log_partition(tf.constant(values, tf.float32), tf.constant(mask))
        if values is emissions:
            reference = tags.numpy(), scores.numpy(), log_z.numpy()
    np.testing.assert_array_equal(tags.numpy(), reference[0])
    np.testing.assert_allclose(scores.numpy(), reference[1], rtol=1e-6)
    np.testing.assert_allclose(log_z.numpy(), reference[2], rtol=1e-6)


def test_an_empty_row_scores_zero_and_decodes_to_nothing() -> None:
    crf = _crf(2, 7)
    emissions = tf.random.normal([2, 3, 2])
    mask = tf.constant([[False] * 3, [True, False, True]])
    tags, scores = crf.decode(emissions, mask)
    assert tags[0].numpy().tolist() == [-1, -1, -1]
    assert scores[0].numpy() == 0.0
    assert crf.log_partition(emissions, mask)[0].numpy() == 0.0


def test_the_loss_is_the_negative_log_likelihood_and_trains_the_transitions() -> None:
    crf = _crf(3, 8)
    emissions, mask = _random_case(8)
    gold = np.random.default_rng(8).integers(0, 3, size=mask.shape)
    labels = np.where(mask, gold, IGNORE_LABEL)
    loss = CRFLoss(crf, reduction=None)
    expected = -crf.log_likelihood(tf.constant(emissions), tf.constant(gold), tf.constant(mask))
    np.testing.assert_allclose(loss(labels, emissions).numpy(), expected.numpy(), rtol=1e-5)
    with tf.GradientTape() as tape:
        value = tf.reduce_mean(CRFLoss(crf)(labels, emissions))
    gradients = tape.gradient(value, crf.trainable_variables)
    assert all(g is not None and float(tf.reduce_max(tf.abs(g))) > 0 for g in gradients)


def test_it_runs_in_a_traced_graph() -> None:
    crf = _crf(3, 9)
    emissions, mask = _random_case(9)
    decode = tf.function(
        crf.decode,
        input_signature=[
            tf.TensorSpec([None, None, 3], tf.float32),
            tf.TensorSpec([None, None], tf.bool),
        ],
    )
    eager_tags, _ = crf.decode(tf.constant(emissions), tf.constant(mask))
    traced_tags, _ = decode(tf.constant(emissions), tf.constant(mask))
    np.testing.assert_array_equal(traced_tags.numpy(), eager_tags.numpy())
    assert decode(tf.zeros([0, 0, 3]), tf.zeros([0, 0], tf.bool))[0].shape == (0, 0)


def test_bad_tag_count_is_refused() -> None:
    with pytest.raises(ValueError, match="at least one tag"):
        CRF(0)
