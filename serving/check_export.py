"""Loads a tfbert export with whatever TensorFlow runs this script and prints what it found.

Used by check_compat.sh to prove that an export runs under an older TensorFlow /
tensorflow-text pair (the one a TF Serving release has compiled in). Imports nothing from
tfbert: only tensorflow and tensorflow_text, like TF Serving itself.

    python serving/check_export.py EXPORT_VERSION_DIR [--reference REF.json] [--write OUT.json]
"""

import argparse
import json
import sys

import numpy as np
import tensorflow as tf
import tensorflow_text as tf_text
from tensorflow.core.protobuf import saved_model_pb2

TEXTS = [
    "A wonderful, moving film.",
    "Dull, far too long, and badly acted.",
    "Crème brûlée",
    "这家酒店的服务非常好",
    "质量太差了，不推荐",
    "",
    "   ",
]


def ops_used(version_dir: str) -> list[str]:
    with open(f"{version_dir}/saved_model.pb", "rb") as handle:
        saved_model = saved_model_pb2.SavedModel.FromString(handle.read())
    ops = set()
    for meta_graph in saved_model.meta_graphs:
        ops.update(node.op for node in meta_graph.graph_def.node)
        for function in meta_graph.graph_def.library.function:
            ops.update(node.op for node in function.node_def)
    return sorted(ops)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("version_dir")
    parser.add_argument("--reference", help="JSON from a previous run to compare against")
    parser.add_argument("--write", help="write this run's results as JSON")
    args = parser.parse_args()
    model = tf.saved_model.load(args.version_dir)
    predicted = model.signatures["serving_default"](text=tf.constant(TEXTS))
    # Every output: numbers (probabilities, scores, offsets) and strings (labels, tags).
    outputs = {}
    for name, tensor in sorted(predicted.items()):
        value = tensor.numpy()
        if value.dtype == object:
            value = np.vectorize(lambda b: b.decode("utf-8"), otypes=[object])(value)
        outputs[name] = value.tolist()
    result = {
        "tensorflow": tf.__version__,
        "tensorflow_text": getattr(tf_text, "__version__", "unknown"),
        "ops": ops_used(args.version_dir),
        "outputs": outputs,
    }
    print(
        f"TensorFlow {result['tensorflow']}, tensorflow-text {result['tensorflow_text']}: "
        f"loaded {args.version_dir}; {len(result['ops'])} distinct ops; outputs "
        f"{', '.join(outputs)}"
    )
    text_ops = [
        op
        for op in result["ops"]
        if any(k in op for k in ("Bert", "Wordpiece", "TFText", "Ragged"))
    ]
    print("tokenizer and ragged ops:", ", ".join(text_ops))
    if args.write:
        with open(args.write, "w", encoding="utf-8") as handle:
            json.dump(result, handle, ensure_ascii=False)
    if args.reference:
        with open(args.reference, encoding="utf-8") as handle:
            reference = json.load(handle)
        gap, different = 0.0, []
        for name, value in result["outputs"].items():
            theirs = reference["outputs"].get(name)
            mine = np.array(value, dtype=object)
            if theirs is None or np.shape(theirs) != mine.shape:
                different.append(name)
            elif mine.size and isinstance(mine.flat[0], str):
                if theirs != value:
                    different.append(name)
            elif mine.size:
                gap = max(
                    gap, float(np.abs(np.array(theirs, float) - np.array(value, float)).max())
                )
        verdict = "DIFFERENT: " + ", ".join(different) if different else "identical"
        print(
            f"against TensorFlow {reference['tensorflow']}: max numeric difference {gap:.2e}, "
            f"other outputs {verdict}"
        )
        if different or gap > 1e-4:
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
