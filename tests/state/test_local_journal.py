"""The file backend's journal: torn last lines, damaged lines, one fsync per append,
appends from parallel threads, and a full disk."""

from __future__ import annotations

import errno
import json
import os
import stat
import threading

import pytest

from polyctl.state import CorruptStateError, LocalStateBackend, StateWriteError


@pytest.fixture
def backend(tmp_path) -> LocalStateBackend:
    return LocalStateBackend(tmp_path / "polyctl.state.json")


def test_a_torn_last_line_is_ignored_then_cut_by_the_next_append(backend):
    backend.journal_append([{"n": 1}, {"n": 2}])
    with open(backend.journal_path, "ab") as f:
        f.write(b'{"n": 3, "half-writ')  # a crash in the middle of an append

    assert backend.journal_read() == [{"n": 1}, {"n": 2}]
    backend.journal_append([{"n": 4}])
    assert backend.journal_read() == [{"n": 1}, {"n": 2}, {"n": 4}]
    assert backend.journal_path.read_bytes().endswith(b'{"n":4}\n')
    assert b"half-writ" not in backend.journal_path.read_bytes()


def test_a_journal_that_is_only_a_fragment_reads_empty(backend):
    backend.journal_path.write_bytes(b'{"n": 1')
    assert backend.journal_read() == []
    backend.journal_append([{"n": 2}])
    assert backend.journal_read() == [{"n": 2}]


def test_a_fragment_longer_than_one_read_chunk_is_cut(backend):
    backend.journal_append([{"n": 1}])
    with open(backend.journal_path, "ab") as f:
        f.write(b'{"pad": "' + b"x" * 200_000)
    backend.journal_append([{"n": 2}])
    assert backend.journal_read() == [{"n": 1}, {"n": 2}]


def test_a_damaged_line_in_the_middle_is_reported_not_skipped(backend):
    backend.journal_path.write_bytes(b'{"n": 1}\nnot json\n{"n": 3}\n')
    with pytest.raises(CorruptStateError, match="line 2") as caught:
        backend.journal_read()
    assert caught.value.path == str(backend.journal_path)


def test_nan_is_not_json_neither_written_nor_read(backend):
    with pytest.raises(ValueError):
        backend.journal_append([{"n": float("nan")}])
    assert backend.journal_read() == []  # nothing was written
    backend.journal_path.write_bytes(b'{"n": 1}\n{"n": NaN}\n')
    with pytest.raises(CorruptStateError, match="line 2.*NaN is not a JSON value"):
        backend.journal_read()


def test_one_fsync_per_append_whatever_the_batch_size(backend, monkeypatch):
    backend.journal_append([{"first": True}])  # creating the file also syncs the directory
    synced = []
    real_fsync = os.fsync

    def fsync(fd):
        synced.append(os.readlink(f"/proc/self/fd/{fd}"))
        return real_fsync(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    backend.journal_append([{"n": n} for n in range(50)])
    assert synced == [str(backend.journal_path)]


def test_appends_from_parallel_threads_never_interleave(backend):
    def worker(t):
        for k in range(40):
            backend.journal_append([{"t": t, "k": k, "part": p, "pad": "y" * 300}
                                    for p in range(3)])

    threads = [threading.Thread(target=worker, args=(t,)) for t in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    entries = backend.journal_read()
    assert len(entries) == 6 * 40 * 3
    for t in range(6):
        mine = [(e["k"], e["part"]) for e in entries if e["t"] == t]
        assert mine == [(k, p) for k in range(40) for p in range(3)]
    # each batch stays together
    for i in range(0, len(entries), 3):
        assert {(e["t"], e["k"]) for e in entries[i:i + 3]} == {(entries[i]["t"],
                                                                 entries[i]["k"])}


def test_journal_is_private_and_plain_json_lines(backend):
    backend.journal_append([{"a": 1}, {"b": [1, 2]}])
    assert stat.S_IMODE(backend.journal_path.stat().st_mode) == 0o600
    lines = backend.journal_path.read_bytes().splitlines()
    assert [json.loads(line) for line in lines] == [{"a": 1}, {"b": [1, 2]}]


def test_a_full_disk_during_append_is_a_write_error(backend, monkeypatch):
    backend.journal_append([{"n": 1}])

    def write(fd, data):
        raise OSError(errno.ENOSPC, "No space left on device")

    with monkeypatch.context() as patch:
        patch.setattr(os, "write", write)
        with pytest.raises(StateWriteError, match="No space left"):
            backend.journal_append([{"n": 2}])
    assert backend.journal_read() == [{"n": 1}]


def test_clear_removes_the_file(backend):
    backend.journal_append([{"n": 1}])
    backend.journal_clear()
    assert not backend.journal_path.exists()
