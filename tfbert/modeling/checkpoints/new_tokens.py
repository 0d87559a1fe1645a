"""Starting values for the word embeddings of a checkpoint's new vocabulary.

When a pretrained encoder moves to another vocabulary (`BertPretrainer.from_pretrained(...,
vocabulary=...)`, e.g. MiniLM's English layers under bert-base-chinese's WordPieces), the tokens
both vocabularies spell alike keep their embeddings and the rest would start random.
`similar_token_embeddings` starts each new token instead at a convex combination of the shared
tokens' embeddings, weighted by how alike the tokens are used in a corpus of the new language
(FOCUS, Dobler & de Melo 2023, with co-occurrence vectors in place of its fastText ones), so
that tokens used alike start alike, inside the region of the embedding space the transformer
layers were trained on:

1. `cooccurrence_vectors`: counts of token pairs within a window in the tokenized corpus,
   positive pointwise mutual information with smoothed context counts and a truncated SVD
   (Levy, Goldberg & Dagan 2015), one dense vector per token that occurs;
2. per new token, the cosine similarity of its vector to each shared token's, sparsemax
   (Martins & Astudillo 2016) over them at a temperature: a few shared tokens with weights
   summing to one;
3. the new token's embedding = those weights times the shared tokens' embeddings.

New tokens the corpus never shows keep their random start.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np
import scipy.sparse
from sklearn.utils.extmath import randomized_svd

# How much text (characters) the statistics read: enough for every common token of a language.
NEW_TOKEN_SAMPLE_CHARACTERS = 5_000_000


def cooccurrence_vectors(
    token_ids: Iterable[Sequence[int]],
    vocabulary_size: int,
    *,
    window: int = 5,
    dimensions: int = 128,
    seed: int = 0,
) -> tuple[np.ndarray, np.ndarray]:
    """(vectors, counts): a `dimensions`-wide vector per token id from the co-occurrence of
    tokens at most `window` positions apart in the sequences `token_ids`, and how often each
    token occurs. Tokens that never occur get zero vectors."""
    shape = (vocabulary_size, vocabulary_size)
    counts = np.zeros(vocabulary_size, dtype=np.float64)
    pairs = scipy.sparse.csr_matrix(shape, dtype=np.float64)
    left: list[np.ndarray] = []
    right: list[np.ndarray] = []
    for number, sequence in enumerate(token_ids, start=1):
        ids = np.asarray(sequence, dtype=np.int32)
        counts += np.bincount(ids, minlength=vocabulary_size)
        for distance in range(1, min(window, len(ids) - 1) + 1):
            left.append(ids[:-distance])
            right.append(ids[distance:])
        if left and (number % 10_000 == 0):  # into the sparse counts: bounded memory
            pairs = pairs + _pair_counts(left, right, shape)
            left, right = [], []
    if left:
        pairs = pairs + _pair_counts(left, right, shape)
    if pairs.nnz == 0:
        raise ValueError("The corpus holds no pair of neighbouring tokens to learn from.")
    pairs = (pairs + pairs.T).tocoo()  # both orders: a symmetric window
    total = pairs.data.sum()
    marginal = np.asarray(pairs.sum(axis=1)).ravel()
    context = marginal**0.75  # smoothed context distribution (Levy et al. 2015)
    context /= context.sum()
    pmi = np.log(pairs.data / total) - np.log(marginal[pairs.row] / total * context[pairs.col])
    positive = pmi > 0
    ppmi = scipy.sparse.csr_matrix(
        (pmi[positive], (pairs.row[positive], pairs.col[positive])),
        shape=(vocabulary_size, vocabulary_size),
    )
    rank = min(dimensions, vocabulary_size - 1)
    left_vectors, singular_values, _ = randomized_svd(ppmi, rank, random_state=seed)
    vectors = left_vectors * np.sqrt(singular_values)
    vectors[counts == 0] = 0.0  # exactly: the SVD leaves rounding noise in their rows
    return vectors, counts


def _pair_counts(
    left: list[np.ndarray], right: list[np.ndarray], shape: tuple[int, int]
) -> scipy.sparse.csr_matrix:
    """How often each (left, right) token pair occurs, as a sparse matrix."""
    rows, columns = np.concatenate(left), np.concatenate(right)
    ones = np.ones(len(rows), dtype=np.float64)
    return scipy.sparse.csr_matrix((ones, (rows, columns)), shape=shape)


def sparsemax(scores: np.ndarray) -> np.ndarray:
    """Row-wise sparsemax: the Euclidean projection of each row onto the probability simplex
    (Martins & Astudillo 2016): weights summing to one, most of them exactly zero."""
    scores = np.asarray(scores, dtype=np.float64)
    ranked = -np.sort(-scores, axis=-1)
    k = np.arange(1, scores.shape[-1] + 1)
    cumulative = np.cumsum(ranked, axis=-1)
    support = (1 + k * ranked > cumulative).sum(axis=-1)
    threshold = (np.take_along_axis(cumulative, support[:, None] - 1, axis=-1)[:, 0] - 1) / support
    return np.maximum(scores - threshold[:, None], 0.0)


def similar_token_embeddings(
    embeddings: np.ndarray,
    shared_rows: Sequence[int],
    vectors: np.ndarray,
    counts: np.ndarray,
    *,
    mix_from: Sequence[int] | None = None,
    temperature: float = 0.1,
    batch: int = 1024,
) -> tuple[np.ndarray, np.ndarray]:
    """(new embeddings, rows set): `embeddings` with every row that is not in `shared_rows`
    and occurs in the corpus (`counts` > 0) replaced by the sparsemax-weighted mix of the
    shared rows that occur, by the cosine similarity of `vectors` (see the module docstring).
    `mix_from` narrows the rows to mix (default: all of `shared_rows`; e.g. leave out [UNK]).
    """
    if not temperature > 0:
        raise ValueError(f"temperature must be positive, got {temperature}.")
    shared = np.asarray(sorted(set(int(r) for r in shared_rows)), dtype=np.int64)
    sources = shared if mix_from is None else np.asarray(sorted(set(map(int, mix_from))), np.int64)
    anchors = sources[counts[sources] > 0]
    if len(anchors) == 0:
        raise ValueError("None of the shared tokens occurs in the corpus: nothing to mix from.")
    is_shared = np.zeros(len(embeddings), dtype=bool)
    is_shared[shared] = True
    targets = np.flatnonzero((counts > 0) & ~is_shared)

    def unit(x: np.ndarray) -> np.ndarray:
        return x / np.maximum(np.linalg.norm(x, axis=-1, keepdims=True), 1e-12)

    anchor_vectors = unit(vectors[anchors]).T
    anchor_embeddings = np.asarray(embeddings, dtype=np.float64)[anchors]
    result = np.array(embeddings, copy=True)
    for start in range(0, len(targets), batch):
        rows = targets[start : start + batch]
        weights = sparsemax(unit(vectors[rows]) @ anchor_vectors / temperature)
        result[rows] = (weights @ anchor_embeddings).astype(result.dtype)
    return result, targets
