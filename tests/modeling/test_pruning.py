"""Structured pruning of the encoder (tfbert.modeling.pruning) and the head and neuron masks it
is measured with: removing a part gives exactly what masking it to zero gives."""

from __future__ import annotations

import json

import keras
import numpy as np
import pytest
import tensorflow as tf

from tfbert.config import BertConfig
from tfbert.modeling.bert import BertEncoder
from tfbert.modeling.pruning import PruningPlan, aligned_width, prune_encoder
from tfbert.text.tokenizer import BertTokenizer

CONFIG = BertConfig.from_preset(
    "tiny", vocab_size=30522, num_layers=3, num_heads=4, max_position_embeddings=64
)


@pytest.fixture(scope="module")
def encoder() -> BertEncoder:
    keras.utils.set_random_seed(5)
    layer = BertEncoder(CONFIG)
    layer(layer.dummy_inputs())
    return layer


@pytest.fixture(scope="module")
def features(english_vocab, imdb_texts) -> dict[str, tf.Tensor]:
    """Real reviews, cut to 48 tokens and padded to the longest: padding included."""
    tokenizer = BertTokenizer(english_vocab, max_length=48, pad_to="longest")
    return tokenizer(sorted(imdb_texts[:6], key=len))


def sequence(encoder: BertEncoder, features, **masks) -> np.ndarray:
    outputs = encoder(features, **masks)
    real = features["padding_mask"].numpy().astype(bool)
    return outputs["sequence_output"].numpy()[real], outputs["pooled_output"].numpy()


def test_masks_of_ones_and_no_masks_give_the_same_outputs(encoder, features) -> None:
    plain = sequence(encoder, features)
    ones = sequence(
        encoder,
        features,
        head_mask=[tf.ones([4])] * 3,
        neuron_mask=[tf.ones([CONFIG.intermediate_size])] * 3,
    )
    for a, b in zip(plain, ones, strict=True):
        np.testing.assert_array_equal(a, b)


def test_a_plan_that_removes_nothing_gives_the_same_outputs(encoder, features) -> None:
    copy = prune_encoder(encoder, PruningPlan())
    assert copy.config == encoder.config and "layer_heads" not in copy.config.to_dict()
    for a, b in zip(sequence(encoder, features), sequence(copy, features), strict=True):
        np.testing.assert_allclose(a, b, atol=1e-5)


def test_removing_heads_and_neurons_equals_masking_them_to_zero(encoder, features) -> None:
    rng = np.random.default_rng(0)
    dropped_neurons = {0: rng.choice(512, 300, replace=False), 2: np.arange(511)}
    plan = PruningPlan(heads={0: (1, 3), 1: (0, 1, 2)}, neurons=dropped_neurons)
    head_mask = [np.ones(4, np.float32) for _ in range(3)]
    neuron_mask = [np.ones(512, np.float32) for _ in range(3)]
    for layer, heads in plan.heads.items():
        head_mask[layer][list(heads)] = 0.0
    for layer, neurons in plan.neurons.items():
        neuron_mask[layer][list(neurons)] = 0.0
    masked = sequence(encoder, features, head_mask=head_mask, neuron_mask=neuron_mask)
    pruned = prune_encoder(encoder, plan)
    assert pruned.config.layer_heads == (2, 1, 4)
    assert pruned.config.layer_intermediate_sizes == (212, 512, 1)
    assert pruned.count_params() < encoder.count_params()
    kernel = pruned.blocks[1].attention.query.kernel
    assert tuple(kernel.shape) == (128, CONFIG.head_size)
    for a, b in zip(masked, sequence(pruned, features), strict=True):
        np.testing.assert_allclose(a, b, atol=1e-5)


def test_removing_a_layer_skips_its_block(encoder, features) -> None:
    pruned = prune_encoder(encoder, PruningPlan(layers=(1,), neurons={0: range(256)}))
    assert pruned.config.num_layers == 2 and pruned.config.layer_intermediate_sizes == (256, 512)
    uniform = PruningPlan(layers=(1,), neurons={0: range(256), 2: range(256)})
    config = uniform.pruned_config(CONFIG)  # the same width everywhere: no per-layer list
    assert config.intermediate_size == 256 and config.layer_intermediate_sizes is None
    hidden = encoder(features, return_all_layers=True, neuron_mask=_half_neurons())
    after_first = hidden["hidden_states"][1]
    # Layer 2 of the original, applied to layer 0's output, is the pruned model's last layer.
    x = tf.reshape(after_first, (-1, CONFIG.hidden_size))
    bias = (1.0 - tf.cast(features["padding_mask"], tf.float32)) * -30000.0
    expected = tf.reshape(encoder.blocks[2](x, bias), tf.shape(after_first))
    real = features["padding_mask"].numpy().astype(bool)
    got = pruned(features)["sequence_output"].numpy()[real]
    np.testing.assert_allclose(got, expected.numpy()[real], atol=1e-5)


def _half_neurons() -> list:
    first = np.r_[np.zeros(256), np.ones(256)].astype(np.float32)
    return [first, None, None]


def test_a_pruned_config_round_trips_through_json_and_rebuilds_the_same_shapes() -> None:
    config = CONFIG.replace(layer_heads=[1, 4, 2], layer_intermediate_sizes=[10, 512, 3])
    assert config.layer_heads == (1, 4, 2)  # lists become tuples: the config stays hashable
    again = BertConfig.from_json(json.dumps(config.to_dict()))
    assert again == config and again.is_pruned and not CONFIG.is_pruned
    encoder = BertEncoder(again)
    encoder.build()
    widths = [int(b.intermediate.kernel.shape[1]) for b in encoder.blocks]
    heads = [int(b.attention.key.kernel.shape[1]) // config.head_size for b in encoder.blocks]
    assert widths == [10, 512, 3] and heads == [1, 4, 2]


@pytest.mark.parametrize(
    "changes, message",
    [
        ({"layer_heads": [1, 2]}, "2 entries for 3 layers"),
        ({"layer_intermediate_sizes": [4, 0, 4]}, "positive integers"),
        ({"layer_heads": "124"}, "list of integers"),
    ],
)
def test_bad_per_layer_sizes_are_refused(changes, message) -> None:
    with pytest.raises(ValueError, match=message):
        CONFIG.replace(**changes)


@pytest.mark.parametrize(
    "plan, message",
    [
        (PruningPlan(layers=(0, 1, 2)), "removes all 3 layers"),
        (PruningPlan(layers=(3,)), "Layer 3 does not exist"),
        (PruningPlan(heads={0: (0, 1, 2, 3)}), "all 4 heads of layer 0"),
        (PruningPlan(neurons={1: (512,)}), "out of range"),
    ],
)
def test_plans_that_do_not_fit_are_refused(encoder, plan, message) -> None:
    with pytest.raises(ValueError, match=message):
        prune_encoder(encoder, plan)


def test_a_plan_round_trips_through_json() -> None:
    plan = PruningPlan(heads={2: [3, 1, 1]}, neurons={0: np.array([5, 4])}, layers=[1])
    assert plan.heads == {2: (1, 3)} and plan.neurons == {0: (4, 5)} and plan.layers == (1,)
    assert PruningPlan.from_dict(json.loads(json.dumps(plan.to_dict()))) == plan
    assert PruningPlan().is_empty and not plan.is_empty


@pytest.mark.parametrize(
    "kept, width, multiple, expected",
    [
        (1531, 3072, 16, 1536),  # to the nearest multiple
        (1543, 3072, 16, 1536),
        (1544, 3072, 16, 1552),  # halves round up
        (3, 512, 16, 16),  # never 0
        (511, 512, 16, 512),
        (300, 300, 16, 300),  # nothing removed: the width stays
        (299, 300, 16, 288),  # never above the width
        (7, 10, 16, 7),  # a layer narrower than the multiple keeps its count
        (213, 512, 1, 213),  # 1: no rounding
    ],
)
def test_kept_widths_round_to_the_multiple_within_the_layer(kept, width, multiple, expected):
    assert aligned_width(kept, width, multiple) == expected


def test_bad_widths_are_refused() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        aligned_width(10, 512, 0)
    with pytest.raises(ValueError, match="cannot keep 0"):
        aligned_width(0, 512, 16)
