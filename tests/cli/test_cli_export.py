"""`tfbert export`: a versioned SavedModel and nothing else in the base directory."""

from __future__ import annotations


def test_export_writes_a_versioned_saved_model(exported) -> None:
    assert (exported.export_dir / "1" / "saved_model.pb").is_file()
    assert sorted(p.name for p in exported.export_dir.iterdir()) == ["1"]  # no leftovers
    assert f"Exported {exported.export_dir / '1'}" in exported.result.out
