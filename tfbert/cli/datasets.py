"""`tfbert datasets`: list the built-in datasets, pretraining corpora, vocabularies and pretrained
models (without loading them)."""

from __future__ import annotations

import argparse
from typing import Any


def add_parser(commands: Any) -> None:
    datasets = commands.add_parser("datasets", help="list the built-in datasets")
    datasets.set_defaults(handler=cmd_datasets)


def cmd_datasets(args: argparse.Namespace) -> int:
    from tfbert.data.corpora import describe_corpora
    from tfbert.data.datasets import dataset_catalog
    from tfbert.data.vocabularies import describe_vocabularies
    from tfbert.pretrained import describe_checkpoints

    catalog = dataset_catalog()
    print("Classification datasets (tfbert train/evaluate --dataset NAME):\n")
    for info in (i for i in catalog if i.kind == "classification"):
        print(f"{info.name:10s} {info.language:8s} labels: {', '.join(info.labels)}")
        print(f"  {info.description}\n")
    print("Named-entity recognition (NER) datasets (Python: tfbert.data.ner.load_ner_dataset):\n")
    for info in (i for i in catalog if i.kind == "ner"):
        sizes = " / ".join(f"{n:,}" for n in info.sizes.values())
        print(
            f"{info.name:10s} {info.language:8s} NER, entity types: {', '.join(info.labels)}; "
            f"sentences train / validation / test: {sizes}"
        )
        print(f"  {info.description}\n")
    print("Pretraining corpora (tfbert pretrain --corpus NAME):\n")
    for name, description, sources in describe_corpora():
        print(f"{name:10s} {description}")
        for source in sources:
            print(f"  - {source}")
    print("\nBuilt-in vocabularies (tfbert pretrain/train --vocab NAME):\n")
    for name, description in describe_vocabularies():
        print(f"{name:18s} {description}")
    print("\nBuilt-in pretrained models (tfbert train/pretrain --init-from NAME):\n")
    for name, description in describe_checkpoints():
        print(f"{name:18s} {description}")
    return 0
