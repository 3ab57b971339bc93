"""The voice library: schema, WAL, refusal of another model, idempotent enrollment, forgetting,
and two processes writing at once."""

from __future__ import annotations

import multiprocessing
import sqlite3

import numpy as np
import pytest

from pipeline.errors import VoiceLibraryError
from pipeline.voices.library import SCHEMA_VERSION, ModelIdentity, VoiceLibrary, embedding_model
from pipeline.voices.prints import VoicePrint, unit


def prints(seed: int, *names: str, n: int = 3) -> dict[str, VoicePrint]:
    rng = np.random.default_rng(seed)
    return {name: VoicePrint(unit(rng.normal(size=(n, 192))), 4.0 * n) for name in names}


def test_a_new_library_records_its_schema_and_model_and_is_in_wal_mode(tmp_path):
    path = tmp_path / "voices.sqlite"
    with VoiceLibrary(path) as lib:
        assert lib.voices() == [] and lib.centroids() == {}
    db = sqlite3.connect(path)
    meta = dict(db.execute("SELECT key, value FROM meta"))
    assert meta["schema_version"] == str(SCHEMA_VERSION)
    model = embedding_model()
    assert (meta["model"], meta["model_sha256"], meta["dimension"]) == ("campplus", model.sha256, "192")
    assert model.sha256 == "92f29b94e6948786a26778c9e302525d185bb08c8b9f5252ed98776902840199"
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_a_library_of_another_model_or_schema_is_refused(tmp_path):
    path = tmp_path / "voices.sqlite"
    VoiceLibrary(path).close()
    with pytest.raises(VoiceLibraryError, match="embedding model campplus .* cannot be compared"):
        VoiceLibrary(path, model=ModelIdentity("campplus", "0" * 64))
    db = sqlite3.connect(path)
    db.execute("UPDATE meta SET value = '99' WHERE key = 'schema_version'")
    db.commit()
    with pytest.raises(VoiceLibraryError, match="schema version 99; this pipeline reads version 1"):
        VoiceLibrary(path)


def test_a_file_that_is_no_library_and_a_missing_folder_are_errors(tmp_path):
    bad = tmp_path / "notes.sqlite"
    bad.write_text("not a database\n" * 100)
    with pytest.raises(VoiceLibraryError, match="notes.sqlite: not a voice library"):
        VoiceLibrary(bad)
    with pytest.raises(VoiceLibraryError, match="no such folder"):
        VoiceLibrary(tmp_path / "nowhere" / "voices.sqlite")


def test_enrolling_an_episode_twice_changes_nothing(tmp_path):
    path = tmp_path / "voices.sqlite"
    with VoiceLibrary(path) as lib:
        assert lib.enroll("a" * 64, "ep1.mp3", prints(1, "VANCE", "OKAFOR"))
        digest, before = lib.digest(), lib.prints()
        assert not lib.enroll("a" * 64, "copy of ep1.mp3", prints(2, "VANCE", "REYES"))
        assert lib.digest() == digest
        assert [v.name for v in lib.voices()] == ["OKAFOR", "VANCE"]
        assert np.array_equal(lib.prints()["VANCE"].embeddings, before["VANCE"].embeddings)
        assert not lib.enroll("b" * 64, "empty.mp3", {})  # nothing to enroll: not recorded
        assert not lib.has("b" * 64)


def test_a_name_over_two_episodes_rests_on_both(tmp_path):
    with VoiceLibrary(tmp_path / "v.sqlite") as lib:
        first, second = prints(1, "VANCE"), prints(2, "VANCE", n=2)
        lib.enroll("a" * 64, "/in/ep1.mp3", first)
        lib.enroll("b" * 64, "/in/ep2.mp3", second)
        (vance,) = lib.voices()
        assert (vance.name, vance.seconds, vance.exemplars, vance.episodes) == (
            "VANCE", 20.0, 5, ("/in/ep1.mp3", "/in/ep2.mp3"))
        joined = np.concatenate([first["VANCE"].embeddings, second["VANCE"].embeddings])
        stored = lib.prints()["VANCE"].embeddings
        assert stored.dtype == np.float32 and np.allclose(np.sort(stored, axis=0), np.sort(joined, axis=0))
        assert np.allclose(lib.centroids()["VANCE"], unit(unit(joined).mean(axis=0)), atol=1e-6)


def test_forget_removes_a_name_and_keeps_its_episodes_known(tmp_path):
    with VoiceLibrary(tmp_path / "v.sqlite") as lib:
        lib.enroll("a" * 64, "ep1.mp3", prints(1, "VANCE", "OKAFOR"))
        digest = lib.digest()
        assert lib.forget("VANCE")
        assert not lib.forget("VANCE") and not lib.forget("NOBODY")
        assert [v.name for v in lib.voices()] == ["OKAFOR"] and lib.digest() != digest
        assert lib.has("a" * 64)
        assert not lib.enroll("a" * 64, "ep1.mp3", prints(1, "VANCE"))  # not brought back by ep1


def test_a_bad_print_rolls_the_whole_episode_back(tmp_path):
    with VoiceLibrary(tmp_path / "v.sqlite") as lib:
        bad = {**prints(1, "VANCE"), "OKAFOR": VoicePrint(np.ones((2, 10), np.float32), 8.0)}
        with pytest.raises(VoiceLibraryError, match="OKAFOR has shape"):
            lib.enroll("a" * 64, "ep1.mp3", bad)
        assert not lib.has("a" * 64) and lib.voices() == []


def _writer(path: str, worker: int, episodes: int, start, errors) -> None:
    start.wait()
    try:
        for i in range(episodes):
            with VoiceLibrary(path) as lib:  # a new connection each time, as separate runs do
                lib.enroll(f"{worker}-{i}-".ljust(64, "0"), f"w{worker}-{i}.mp3", prints(i, f"NAME{worker}", "SHARED"))
                lib.enroll("same".ljust(64, "0"), "same.mp3", prints(worker, "SAME"))  # both, all the time
                lib.centroids()
    except Exception as e:  # noqa: BLE001 - reported to the test
        errors.put(f"{type(e).__name__}: {e}")


def test_two_processes_enroll_at_once(tmp_path):
    path = str(tmp_path / "voices.sqlite")
    context = multiprocessing.get_context("spawn")
    start, errors = context.Event(), context.Queue()
    procs = [context.Process(target=_writer, args=(path, w, 15, start, errors)) for w in (1, 2)]
    for p in procs:
        p.start()
    start.set()
    for p in procs:
        p.join(120)
    assert [p.exitcode for p in procs] == [0, 0]
    assert errors.empty(), errors.get()
    with VoiceLibrary(path) as lib:
        found = {v.name: v for v in lib.voices()}
        assert sorted(found) == ["NAME1", "NAME2", "SAME", "SHARED"]
        assert len(found["NAME1"].episodes) == len(found["NAME2"].episodes) == 15
        assert len(found["SHARED"].episodes) == 30
        assert found["SAME"].episodes == ("same.mp3",) and found["SAME"].exemplars == 3  # enrolled once
