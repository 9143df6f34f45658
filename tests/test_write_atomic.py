"""write_atomic: the one way files of the file cache (and seed progress, legends) are
written: whole or not at all, with the modes a new file would get."""

from __future__ import annotations

import os
import stat

import pytest

from tileproxy.stores.file import write_atomic


@pytest.fixture
def umask_027():
    old = os.umask(0o027)
    yield
    os.umask(old)


def _mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def test_new_files_get_the_umask_and_explicit_modes_win(tmp_path, umask_027):
    write_atomic(str(tmp_path / "a" / "b" / "tile.png"), b"one")
    assert (tmp_path / "a" / "b" / "tile.png").read_bytes() == b"one"
    assert _mode(tmp_path / "a" / "b" / "tile.png") == 0o640  # 0o644 under umask 027
    write_atomic(str(tmp_path / "t2.png"), b"two", file_mode=0o664, dir_mode=0o775)
    assert _mode(tmp_path / "t2.png") == 0o664  # exactly as configured, whatever the umask
    write_atomic(str(tmp_path / "d" / "t3.png"), b"3", dir_mode=0o775)
    assert _mode(tmp_path / "d") == 0o775
    assert sorted(p.name for p in tmp_path.rglob(".tmp-*")) == []


def test_replaces_whole_and_leaves_nothing_behind_on_failure(tmp_path):
    path = tmp_path / "tile.png"
    write_atomic(str(path), b"old")
    big = os.urandom(3 << 20)  # more than one write() may take
    write_atomic(str(path), big)
    assert path.read_bytes() == big
    with pytest.raises(TypeError):
        write_atomic(str(path), "not bytes")  # type: ignore[arg-type]
    assert path.read_bytes() == big
    assert [p.name for p in tmp_path.iterdir()] == ["tile.png"]


def test_a_left_over_temporary_name_is_skipped(tmp_path):
    import tileproxy.stores.file as file_store

    # the next names this process would take, as left by a crashed namesake
    number = next(file_store._TMP_NUMBERS) + 1
    for n in range(number, number + 3):
        (tmp_path / f".tmp-{os.getpid()}-{n}.part").write_bytes(b"stale")
    write_atomic(str(tmp_path / "tile.png"), b"new")
    assert (tmp_path / "tile.png").read_bytes() == b"new"
    assert sorted(p.read_bytes() for p in tmp_path.glob(".tmp-*")) == [b"stale"] * 3  # not touched
