"""The one atomic-write helper: whole files and whole directories, or nothing."""

from __future__ import annotations

import pytest

from riskalloc.atomic import atomic_dir, atomic_write_bytes, atomic_write_text


def test_files_are_replaced_whole_and_leave_no_temp(tmp_path):
    target = tmp_path / "sub" / "a.bin"
    atomic_write_bytes(target, b"old")
    atomic_write_bytes(target, b"new")
    atomic_write_text(tmp_path / "b.txt", "é")
    assert target.read_bytes() == b"new" and (tmp_path / "b.txt").read_text() == "é"
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["a.bin", "b.txt", "sub"]


def test_a_directory_appears_whole_or_not_at_all(tmp_path):
    final = tmp_path / "models" / "v1"
    with pytest.raises(RuntimeError), atomic_dir(final) as tmp:
        (tmp / "half.json").write_text("{")
        raise RuntimeError("killed mid-save")
    assert not final.exists() and list((tmp_path / "models").iterdir()) == []
    with atomic_dir(final) as tmp:
        (tmp / "config.json").write_text("{}")
    assert [p.name for p in final.iterdir()] == ["config.json"]
    assert [p.name for p in (tmp_path / "models").iterdir()] == ["v1"]
