"""Readers, splitting and cleaning, on small real files written per test (tfbert.data.readers)."""

from __future__ import annotations

import csv
import json
from collections import Counter
from pathlib import Path

import pytest

from tfbert.data import (
    LabelVocabulary,
    TextClassificationData,
    clean_text,
    read_examples,
    train_validation_split,
)
from tfbert.errors import DataError


def write(path: Path, text: str, encoding: str = "utf-8") -> Path:
    path.write_bytes(text.encode(encoding))
    return path


def write_tfrecord(path: Path, rows: list[dict[str, object]]) -> Path:
    import tensorflow as tf

    def feature(value: object) -> tf.train.Feature:
        values = value if isinstance(value, list) else [value]
        if values and isinstance(values[0], int):
            return tf.train.Feature(int64_list=tf.train.Int64List(value=values))
        encoded = [str(v).encode("utf-8") for v in values]
        return tf.train.Feature(bytes_list=tf.train.BytesList(value=encoded))

    with tf.io.TFRecordWriter(str(path)) as writer:
        for row in rows:
            features = tf.train.Features(feature={k: feature(v) for k, v in row.items()})
            writer.write(tf.train.Example(features=features).SerializeToString())
    return path


# ------------------------------------------------------------------------------------ formats


def test_csv_with_quotes_commas_and_newlines_inside_fields(tmp_path: Path) -> None:
    rows = [
        ["text", "label"],
        ['He said "great", then left.', "1"],
        ["first line\nsecond line, with comma", "0"],
        ["  plain  ", " 1 "],
    ]
    path = tmp_path / "train.csv"
    with open(path, "w", encoding="utf-8", newline="") as f:
        csv.writer(f).writerows(rows)
    data = read_examples(path)
    assert data.texts == [r[0] for r in rows[1:]]
    assert data.labels == ["1", "0", "1"]  # strings, surrounding spaces stripped
    assert data.text_pairs is None
    assert len(data) == 3


def test_tsv_and_tab_suffix(tmp_path: Path) -> None:
    content = "label\ttext\npos\tgood, really\nneg\tbad\n"
    for name in ("a.tsv", "a.tab"):
        data = read_examples(write(tmp_path / name, content))
        assert data.texts == ["good, really", "bad"]
        assert data.labels == ["pos", "neg"]


def test_unquoted_tsv_with_leading_quote_is_read_verbatim(tmp_path: Path) -> None:
    # GLUE-style TSV: quotes are plain characters, a field may even start with one.
    path = write(tmp_path / "sst.tsv", 'sentence\tlabel\n" the road " is long\t1\nfine\t0\n')
    data = read_examples(path, text_column="sentence")
    assert data.texts == ['" the road " is long', "fine"]


def test_jsonl_with_numbers_blank_lines_and_multi_label(tmp_path: Path) -> None:
    lines = [
        {"text": "a", "label": 1},
        {"text": "b", "label": "sports"},
        {"text": "c", "label": 2.0},
    ]
    content = "\n".join(json.dumps(x) for x in lines) + "\n\n"
    data = read_examples(write(tmp_path / "d.jsonl", content))
    assert data.labels == ["1", "sports", "2"]

    separators = write(tmp_path / "s.jsonl", '{"text": "a\u2028b\x85c", "label": 0}\r\n')
    assert read_examples(separators).texts == ["a\u2028b\x85c"]

    multi = [
        {"text": "x", "tags": ["a", "b", "a"]},
        {"text": "y", "tags": []},
        {"text": "z", "tags": "c, d"},
    ]
    path = write(tmp_path / "m.ndjson", "\n".join(json.dumps(x, ensure_ascii=False) for x in multi))
    data = read_examples(path, label_column="tags", multi_label=True)
    assert data.labels == [["a", "b"], [], ["c", "d"]]
    assert data.is_multi_label


def test_multi_label_csv_cell_is_split_on_separator(tmp_path: Path) -> None:
    path = write(tmp_path / "m.csv", 'text,label\nt1,"a; b ;"\nt2,c\n')
    data = read_examples(path, multi_label=True, label_separator=";")
    assert data.labels == [["a", "b"], ["c"]]


def test_text_pairs(tmp_path: Path) -> None:
    path = write(tmp_path / "nli.csv", "premise,hypothesis,label\nA man eats.,Someone eats.,yes\n")
    data = read_examples(path, text_column="premise", text_pair_column="hypothesis")
    assert data.texts == ["A man eats."]
    assert data.text_pairs == ["Someone eats."]
    assert data.subset([0]).text_pairs == ["Someone eats."]


def test_file_format_overrides_suffix(tmp_path: Path) -> None:
    path = write(tmp_path / "data.txt", "text,label\nhello,1\n")
    assert read_examples(path, file_format="csv").texts == ["hello"]
    with pytest.raises(DataError, match=r"data\.txt.*--file-format"):
        read_examples(path)


def test_tfrecord_bytes_and_int_labels_pairs_and_multi_label(tmp_path: Path) -> None:
    path = write_tfrecord(
        tmp_path / "d.tfrecord",
        [
            {"text": "héllo 你好", "pair": "b", "label": 1},
            {"text": "second", "pair": "c", "label": "neg"},
        ],
    )
    data = read_examples(path, text_pair_column="pair")
    assert data.texts == ["héllo 你好", "second"]
    assert data.text_pairs == ["b", "c"]
    assert data.labels == ["1", "neg"]

    multi = write_tfrecord(
        tmp_path / "m.tfrec", [{"text": "t", "label": ["x", "y"]}, {"text": "u", "label": [3]}]
    )
    assert read_examples(multi, multi_label=True).labels == [["x", "y"], ["3"]]
    with pytest.raises(DataError, match=r"record 1 has 2 labels.*--multi-label"):
        read_examples(multi)


def test_tfrecord_missing_feature_and_corrupt_file(tmp_path: Path) -> None:
    path = write_tfrecord(tmp_path / "d.tfrecord", [{"sentence": "a", "label": 0}])
    with pytest.raises(DataError, match=r"no column 'text'; columns are: label, sentence"):
        read_examples(path)
    bad = write(tmp_path / "bad.tfrecord", "this is not a tfrecord file at all, just text\n")
    with pytest.raises(DataError, match="not a readable TFRecord"):
        read_examples(bad)


def test_unlabelled_file_for_prediction(tmp_path: Path) -> None:
    path = write(tmp_path / "p.csv", "text\nfirst\nsecond\n")
    data = read_examples(path, require_labels=False)
    assert data.texts == ["first", "second"]
    assert data.labels is None
    # A partly labelled file is not a labelled file: no half-filled label list.
    partly = write(tmp_path / "q.csv", "text,label\nfirst,1\nsecond,\n")
    assert read_examples(partly, require_labels=False).labels is None


def test_clean_option_applies_clean_text(tmp_path: Path) -> None:
    path = write(tmp_path / "c.csv", 'text,label\n"Great<br /><br />film &amp; cast",1\n')
    assert read_examples(path, clean=True).texts == ["Great film & cast"]
    assert read_examples(path).texts == ["Great<br /><br />film &amp; cast"]


# ------------------------------------------------------------------------------------- errors


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"nope\.csv does not exist"):
        read_examples(tmp_path / "nope.csv")


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("e.csv", "", "is empty"),
        ("e.csv", "\n\n", "is empty"),
        ("h.csv", "text,label\n", "has a header but no rows"),
        ("e.jsonl", "\n\n", "is empty"),
    ],
)
def test_empty_files(tmp_path: Path, name: str, content: str, message: str) -> None:
    with pytest.raises(DataError, match=message):
        read_examples(write(tmp_path / name, content))


def test_not_utf8_names_line_and_byte_offset(tmp_path: Path) -> None:
    path = write(tmp_path / "latin.csv", "text,label\nok,1\ncafé,0\n", encoding="latin-1")
    with pytest.raises(DataError) as err:
        read_examples(path)
    message = str(err.value)
    assert "not UTF-8" in message
    assert "line 3" in message
    assert "byte offset 19" in message  # "text,label\nok,1\ncaf" is 19 bytes
    assert "iconv" in message


def test_utf8_bom_is_accepted(tmp_path: Path) -> None:
    path = write(tmp_path / "bom.csv", "\ufefftext,label\nhi,1\n")
    assert read_examples(path).texts == ["hi"]


def test_missing_column_lists_columns_and_flag(tmp_path: Path) -> None:
    path = write(tmp_path / "train.csv", "text,label\nhello,1\n")
    with pytest.raises(DataError) as err:
        read_examples(path, text_column="txt")
    assert str(err.value).startswith(
        "train.csv has no column 'txt'; columns are: text, label. Pass --text-column"
    )
    with pytest.raises(DataError, match=r"no column 'y'; columns are: text, label.*--label-column"):
        read_examples(path, label_column="y")
    with pytest.raises(DataError, match="--text-pair-column"):
        read_examples(path, text_pair_column="hyp")
    jsonl = write(tmp_path / "d.jsonl", '{"sentence": "a", "label": 1}\n')
    with pytest.raises(DataError, match=r"no column 'text'; columns are: sentence, label"):
        read_examples(jsonl)
    nolabel = write(tmp_path / "n.jsonl", '{"text": "a"}\n')
    with pytest.raises(DataError, match=r"no column 'label'.*--label-column"):
        read_examples(nolabel)


def test_empty_or_whitespace_text_names_the_row(tmp_path: Path) -> None:
    path = write(tmp_path / "t.csv", "text,label\ngood,1\n   ,0\n")
    with pytest.raises(
        DataError, match=r"t\.csv row 2 \(line 3\) has an empty 'text'; fill in or clean.*drop"
    ):
        read_examples(path)
    ideographic = write(tmp_path / "z.jsonl", '{"text": "ok", "label": 1}\n{"text": "\u3000"}\n')
    with pytest.raises(DataError, match="line 2 has an empty 'text'"):
        read_examples(ideographic)
    html_only = write(tmp_path / "h.csv", 'text,label\n"<br />",1\n')
    with pytest.raises(DataError, match="row 1 .*empty 'text' after cleaning"):
        read_examples(html_only, clean=True)


def test_missing_label_names_the_row(tmp_path: Path) -> None:
    path = write(tmp_path / "l.csv", "text,label\na,1\nb,\nc,\n")
    with pytest.raises(
        DataError, match=r"row 2 \(line 3\) \(and 1 more\) has no label \(column 'label'\)"
    ):
        read_examples(path)
    jsonl = write(tmp_path / "l.jsonl", '{"text": "a", "label": 1}\n{"text": "b", "label": null}\n')
    with pytest.raises(DataError, match=r"line 2 has no label \(column 'label'\)"):
        read_examples(jsonl)


def test_malformed_json_line_number(tmp_path: Path) -> None:
    path = write(tmp_path / "bad.jsonl", '{"text": "a", "label": 1}\n\n{"text": "b", label: 0}\n')
    with pytest.raises(DataError, match=r"bad\.jsonl line 3 is not valid JSON"):
        read_examples(path)
    not_object = write(tmp_path / "list.jsonl", '["a", 1]\n')
    with pytest.raises(DataError, match="line 1 is a JSON list, not an object"):
        read_examples(not_object)


def test_row_with_wrong_field_count_and_unclosed_quote(tmp_path: Path) -> None:
    path = write(tmp_path / "w.csv", "text,label\nfine,1\nnot, quoted, 0\n")
    with pytest.raises(DataError, match=r"row 2 \(line 3\) has 3 fields but the header has 2"):
        read_examples(path)
    unclosed = write(tmp_path / "u.csv", 'text,label\n"never closed,1\nnext,0\n')
    with pytest.raises(DataError, match="not valid CSV.*close the quotes"):
        read_examples(unclosed)


def test_several_labels_without_multi_label(tmp_path: Path) -> None:
    path = write(tmp_path / "m.jsonl", '{"text": "a", "label": ["x", "y"]}\n')
    with pytest.raises(DataError, match="line 1 has 2 labels.*--multi-label"):
        read_examples(path)


# ---------------------------------------------------------------------------------- splitting


def _labelled(n_pos: int, n_neg: int) -> TextClassificationData:
    labels = ["pos"] * n_pos + ["neg"] * n_neg
    return TextClassificationData([f"text {i}" for i in range(len(labels))], labels)


def test_split_is_stratified_and_disjoint() -> None:
    data = _labelled(90, 10)
    train, val = train_validation_split(data, validation_fraction=0.2)
    assert (len(train), len(val)) == (80, 20)
    assert Counter(val.labels) == {"pos": 18, "neg": 2}
    assert Counter(train.labels) == {"pos": 72, "neg": 8}
    assert set(train.texts).isdisjoint(val.texts)
    assert set(train.texts) | set(val.texts) == set(data.texts)


def test_split_is_deterministic_for_a_seed() -> None:
    data = _labelled(50, 50)
    a = train_validation_split(data, seed=7)[1].texts
    b = train_validation_split(data, seed=7)[1].texts
    c = train_validation_split(data, seed=8)[1].texts
    assert a == b
    assert a != c


def test_split_multi_label_stratifies_on_first_label() -> None:
    labels = [["a", "x"]] * 40 + [["b"]] * 10
    data = TextClassificationData([str(i) for i in range(50)], labels)
    train, val = train_validation_split(data, validation_fraction=0.2)
    assert Counter(label[0] for label in val.labels) == {"a": 8, "b": 2}
    assert val.labels[0] is not data.labels[0]  # rows are copied, not shared


def test_split_falls_back_when_a_class_has_one_row() -> None:
    data = _labelled(19, 1)
    with pytest.warns(UserWarning, match="cannot stratify"):
        train, val = train_validation_split(data, validation_fraction=0.25)
    assert (len(train), len(val)) == (15, 5)


def test_split_too_few_rows() -> None:
    with pytest.raises(DataError, match="1 rows are too few"):
        train_validation_split(_labelled(1, 0))
    with pytest.raises(DataError, match="between 0 and 1"):
        train_validation_split(_labelled(5, 5), validation_fraction=1.0)


def test_data_validates_lengths_and_subset_range() -> None:
    with pytest.raises(DataError, match="2 texts but 1 labels"):
        TextClassificationData(["a", "b"], ["x"])
    with pytest.raises(DataError, match="out of range"):
        _labelled(2, 2).subset([4])


# ----------------------------------------------------------------------------------- cleaning


def test_clean_text_html_and_entities() -> None:
    raw = "Great film.<br /><br />The <i>cast</i> &amp; crew&#39;s work &lt;3"
    assert clean_text(raw) == "Great film. The cast & crew's work <3"
    assert clean_text("a < b and c > d") == "a < b and c > d"  # not tags
    assert clean_text("x<!-- hidden -->y") == "x y"
    assert clean_text("<b>x</b>", strip_html=False) == "<b>x</b>"


def test_clean_text_fullwidth_ascii_to_halfwidth() -> None:
    # Full-width ASCII punctuation (，；！) is in that block too, so it becomes ASCII.
    assert clean_text("ＢＥＲＴ　模型，准确率９５％；好！") == "BERT 模型,准确率95%;好!"
    assert clean_text("ＢＥＲＴ", fullwidth_to_halfwidth=False) == "ＢＥＲＴ"


def test_clean_text_leaves_chinese_and_other_compatibility_characters() -> None:
    chinese = "这家酒店的服务很好。房间干净、安静《推荐》「下次还来」。"
    assert clean_text(chinese) == chinese
    # NFKC on the whole text would rewrite these; they are content, not width variants.
    for text in ("豈", "①", "ｶﾀｶﾅ", "㈱", "…"):
        assert clean_text(text) == text


def test_clean_text_whitespace() -> None:
    assert clean_text("  a\t\tb\n\nc\u200b d \u00a0e ") == "a b c d e"
    assert clean_text("a  b", normalize_whitespace=False) == "a  b"


# ------------------------------------------------------------------- bad input accepted before


def test_jsonl_text_that_is_not_a_string_names_file_line_and_column(tmp_path: Path) -> None:
    cases = [
        ('{"text": {"a": 1}, "label": "x"}', "column 10: 'text' is an object"),
        ('{"label": "x",  "text": ["a", "b"]}', "column 25: 'text' is a list"),
        ('{"text": 5, "label": "x"}', "column 10: 'text' is a number"),
        ('{"text": true, "label": "x"}', "column 10: 'text' is a boolean"),
        ('{"text": null, "label": "x"}', "column 10: 'text' is null"),
    ]
    for line, message in cases:
        path = write(tmp_path / "bad.jsonl", '{"text": "fine", "label": "y"}\n' + line + "\n")
        with pytest.raises(DataError) as err:
            read_examples(path)
        assert str(err.value).startswith(f"bad.jsonl line 2, {message}; a text must be a JSON")
        assert "\n" not in str(err.value)
    pair = write(tmp_path / "p.jsonl", '{"text": "a", "hyp": 1.5, "label": "x"}\n')
    with pytest.raises(DataError, match=r"p\.jsonl line 1, column 22: 'hyp' is a number"):
        read_examples(pair, text_pair_column="hyp")


def test_jsonl_label_that_is_an_object_or_nested_list_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path / "l.jsonl", '{"text": "a", "label": {"name": "pos"}}\n')
    with pytest.raises(DataError, match=r"l\.jsonl line 1, column 24: 'label' is an object"):
        read_examples(path)
    nested = write(tmp_path / "n.jsonl", '{"text": "a", "tags": [["x"], "y"]}\n')
    with pytest.raises(DataError, match=r"line 1, column 23: 'tags' is a list holding a list"):
        read_examples(nested, label_column="tags", multi_label=True)
    infinite = write(tmp_path / "i.jsonl", '{"text": "a", "label": Infinity}\n')
    with pytest.raises(DataError, match=r"line 1 has the label inf, which cannot name a class"):
        read_examples(infinite)
    # Numbers and booleans stay labels, as before.
    ok = write(tmp_path / "ok.jsonl", '{"text": "a", "label": 1}\n{"text": "b", "label": true}\n')
    assert read_examples(ok).labels == ["1", "true"]


def test_jsonl_repeated_key_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path / "d.jsonl", '{"text": "a", "label": 1, "text": "b"}\n')
    with pytest.raises(DataError, match=r"d\.jsonl line 1 has the key 'text' twice"):
        read_examples(path)


def test_nan_labels_are_refused_with_their_rows_never_a_class(tmp_path: Path) -> None:
    path = write(tmp_path / "n.csv", "text,label\na,pos\nb,NaN\nc,neg\nd,\ne,nan\n")
    with pytest.raises(DataError) as err:
        read_examples(path)
    message = str(err.value)
    assert message.startswith("n.csv row 2 (line 3) (and 2 more) has no label (column 'label')")
    assert "empty or NaN labels are refused rather than dropped or made a class" in message
    assert "Rows without a label: row 2, row 4, row 5." in message
    tsv = write(tmp_path / "n.tsv", "text\tlabel\na\t<NA>\nb\tpos\n")
    with pytest.raises(DataError, match=r"row 1 \(line 2\) has no label"):
        read_examples(tsv)
    jsonl = write(tmp_path / "n.jsonl", '{"text": "a", "label": NaN}\n{"text": "b", "label": 1}\n')
    with pytest.raises(DataError, match=r"line 1 has no label"):
        read_examples(jsonl)
    multi = write(tmp_path / "m.csv", 'text,label\na,"x,NaN"\nb,y\n')
    with pytest.raises(DataError, match=r"row 1 \(line 2\) lists 'NaN' among its labels"):
        read_examples(multi, multi_label=True)
    # Prediction input: a NaN label means the file is not labelled, as an empty cell does.
    assert read_examples(path, require_labels=False).labels is None


def test_labels_spelling_one_number_two_ways_are_one_class(tmp_path: Path) -> None:
    path = write(tmp_path / "n.csv", "text,label\na,1\nb,1.0\nc,0\nd,1\ne,0.0\nf,0\n")
    with pytest.warns(UserWarning, match=r"n\.csv: labels that spell the same number") as record:
        data = read_examples(path)
    assert data.labels == ["1", "1", "0", "1", "0", "0"]
    assert "'1.0' (1 rows) as '1'" in str(record[0].message)
    assert LabelVocabulary.from_labels(data.labels).names == ["0", "1"]
    jsonl = write(tmp_path / "m.jsonl", '{"text": "a", "l": ["2.0", 2.5]}\n{"text": "b", "l": [2]}')
    with pytest.warns(UserWarning, match="same number"):
        assert read_examples(jsonl, label_column="l", multi_label=True).labels == [
            ["2.0", "2.5"],
            ["2.0"],
        ]


def test_one_column_for_two_roles_and_duplicated_headers(tmp_path: Path) -> None:
    path = write(tmp_path / "d.csv", "text,label\nhello,1\n")
    with pytest.raises(DataError, match=r"--text-column and --label-column are both 'text'"):
        read_examples(path, label_column="text")
    with pytest.raises(DataError, match=r"--text-column and --text-pair-column are both 'text'"):
        read_examples(path, text_pair_column="text")
    with pytest.raises(DataError, match=r"--label-column must be a non-empty column name"):
        read_examples(path, label_column="")
    dup = write(tmp_path / "dup.csv", "text,label,text\nhello,1,bye\n")
    with pytest.raises(DataError) as err:
        read_examples(dup)
    assert str(err.value) == (
        "dup.csv's header names column 'text' 2 times (columns 1, 3); rename the duplicates so "
        "that each column has its own name."
    )
    unused = write(tmp_path / "u.csv", "text,label,x,x\nhello,1,a,b\n")
    assert read_examples(unused).texts == ["hello"]  # a duplicate the reader does not use
    with pytest.raises(DataError, match="label_separator is empty"):
        read_examples(path, multi_label=True, label_separator="")


def test_data_built_in_python_refuses_non_string_texts_and_missing_labels() -> None:
    with pytest.raises(DataError, match=r"texts\[1\] is nan \(float\), not a string"):
        TextClassificationData(["a", float("nan")], ["x", "y"])
    with pytest.raises(DataError, match=r"text_pairs\[0\] is None"):
        TextClassificationData(["a"], ["x"], [None])
    with pytest.raises(DataError, match=r"labels\[1\] is nan, a missing value"):
        TextClassificationData(["a", "b"], ["x", float("nan")])
    with pytest.raises(DataError, match=r"labels\[0\] holds a dict"):
        TextClassificationData(["a"], [{"x": 1}])
    assert TextClassificationData(["a", "b"], [0, 1]).labels == [0, 1]  # numbers stay allowed
