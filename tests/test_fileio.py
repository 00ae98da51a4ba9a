"""jaxish.fileio.atomic_write: never a half-written file, no temporary file left behind, permissions as asked."""
import os

import pytest

from jaxish.fileio import atomic_write


class _Boom(Exception):
    pass


def _failing(exc):
    def write(f):
        f.write(b"half" if "b" in f.mode else "half")  # something reached the temporary file first
        raise exc
    return write


@pytest.mark.parametrize("mode", ["wb", "w"])
@pytest.mark.parametrize("exc", [_Boom("disk full"), KeyboardInterrupt()], ids=["error", "interrupt"])
def test_failed_write_leaves_no_file_and_no_temp_file(tmp_path, mode, exc):
    with pytest.raises(type(exc)):
        atomic_write(tmp_path / "f.bin", _failing(exc), mode)
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize("exc", [_Boom("disk full"), KeyboardInterrupt()], ids=["error", "interrupt"])
def test_failed_overwrite_leaves_the_old_file_untouched(tmp_path, exc):
    path = tmp_path / "f.txt"
    path.write_text("old contents\n")
    os.chmod(path, 0o640)
    before = os.stat(path)
    with pytest.raises(type(exc)):
        atomic_write(path, _failing(exc), "w", prefix=".tmp-", suffix=".py")
    assert os.listdir(tmp_path) == ["f.txt"]
    assert path.read_text() == "old contents\n"
    after = os.stat(path)
    assert (after.st_ino, after.st_mode, after.st_mtime_ns) == (before.st_ino, before.st_mode, before.st_mtime_ns)


def test_failed_fsync_removes_the_temp_file(tmp_path, monkeypatch):
    def refuse(fd):
        raise OSError(28, "No space left on device")
    monkeypatch.setattr(os, "fsync", refuse)
    with pytest.raises(OSError, match="No space"):
        atomic_write(tmp_path / "f", lambda f: f.write(b"x"))
    assert os.listdir(tmp_path) == []


def test_write_replaces_whole_file(tmp_path):
    path = tmp_path / "f.txt"
    path.write_text("a much longer old text than the new one\n")
    atomic_write(path, lambda f: f.write("new\n"), "w")
    assert path.read_text() == "new\n"
    atomic_write(str(path), lambda f: f.write(b"\x00\x01"), "wb")
    assert path.read_bytes() == b"\x00\x01"
    assert os.listdir(tmp_path) == ["f.txt"]


def test_temp_file_is_in_the_target_directory_and_named_as_asked(tmp_path):
    seen = []
    atomic_write(tmp_path / "m.py", lambda f: seen.extend(os.listdir(tmp_path)), "w", prefix=".tmp-", suffix=".py")
    atomic_write(tmp_path / "c.npz", lambda f: seen.extend(set(os.listdir(tmp_path)) - {"m.py"}))
    # the disk cache's sweep recognises ".tmp-*.py"; a checkpoint's temporary file is ".c.npz.*.tmp"
    assert len(seen) == 2, seen
    assert seen[0].startswith(".tmp-") and seen[0].endswith(".py")
    assert seen[1].startswith(".c.npz.") and seen[1].endswith(".tmp")
    assert sorted(os.listdir(tmp_path)) == ["c.npz", "m.py"]


@pytest.mark.parametrize("mask", [0o022, 0o077, 0o002])
def test_permissions(tmp_path, mask):
    old = os.umask(mask)
    try:
        atomic_write(tmp_path / "public", lambda f: f.write(b"x"), permissions=0o666)
        atomic_write(tmp_path / "private", lambda f: f.write(b"x"))
        with open(tmp_path / "ref", "wb"):
            pass
    finally:
        os.umask(old)
    assert (tmp_path / "public").stat().st_mode & 0o777 == (tmp_path / "ref").stat().st_mode & 0o777 == \
        0o666 & ~mask
    assert (tmp_path / "private").stat().st_mode & 0o777 == 0o600  # mkstemp's mode, as the kernel cache had


def test_bad_mode_is_refused(tmp_path):
    with pytest.raises(ValueError, match="mode must be"):
        atomic_write(tmp_path / "f", lambda f: None, "a")
    assert os.listdir(tmp_path) == []
