"""``--executor ray``: the same files as the local executor, and a worker killed mid-episode.

A local Ray (2 CPUs) is started by each test, as ``pipeline batch --executor ray`` starts one.
The kill test runs fake models (tests/jobs/ray_fakes.py, on the workers' PYTHONPATH) that pause in
diarization, so that a worker can be killed in the middle of an episode; one test runs the real
tiny models on a short clip and compares every file with the local executor's.
"""

from __future__ import annotations

import json
import os
import threading
import time
from pathlib import Path

import pytest
from conftest import SAMPLE_WAV, ffmpeg
from typer.testing import CliRunner

from pipeline import batch
from pipeline.cli import app
from pipeline.config import PipelineConfig
from pipeline.jobs.ray_executor import RayExecutor, RayOptions

pytest.importorskip("ray")
pytestmark = pytest.mark.slow
HERE = Path(__file__).resolve().parent
FAST = {"asr": {"model": "tiny.en", "beam_size": 1, "device": "cpu"}, "diarization": {"device": "cpu"}}


@pytest.fixture
def inbox(tmp_path) -> Path:
    folder = tmp_path / "inbox"
    folder.mkdir()
    for i in range(4):
        ffmpeg("-i", str(SAMPLE_WAV), "-ss", str(2 + 6 * i), "-t", "6", str(folder / f"ep{i}.wav"))
    return folder


@pytest.fixture
def fake_workers(monkeypatch, tmp_path) -> Path:
    markers = tmp_path / "markers"
    markers.mkdir()
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(HERE), os.environ.get("PYTHONPATH")])))
    monkeypatch.setenv("RAY_FAKE_MARKERS", str(markers))
    monkeypatch.setenv("RAY_FAKE_DELAY", "1.5")
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    return markers


def _files(out: Path) -> dict[str, bytes]:
    return {p.relative_to(out).as_posix(): p.read_bytes() for p in sorted(out.rglob("*"))
            if p.is_file() and "logs" not in p.parts and p.name not in ("summary.json", batch.state.layout.LOCK)}


def test_a_worker_killed_mid_episode_has_it_redone_by_another(inbox, tmp_path, fake_workers):
    import ray
    from ray_fakes import FakeModels

    out, config = tmp_path / "out", PipelineConfig()
    episodes = batch.discover(inbox, out)
    executor = RayExecutor(config, RayOptions(workers=2, cpus_per_worker=1), factory=FakeModels)
    killed: list[str] = []

    def kill_the_first_busy_worker() -> None:
        deadline = time.monotonic() + 120
        while not list(fake_workers.iterdir()) and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.3)  # inside the pause in diarization
        for actor, n in list(executor.busy.values())[:1]:
            killed.append(episodes[n].key)
            ray.kill(actor, no_restart=True)

    killer = threading.Thread(target=kill_the_first_busy_worker)
    killer.start()
    summary = batch.run(episodes, config, out, executor=executor)
    killer.join()
    assert len(killed) == 1, "a worker was killed mid-episode"
    assert [e.status for e in summary.entries] == [batch.DONE] * 4
    started = [p.name.split(".")[0] for p in fake_workers.iterdir()]
    assert started.count(killed[0]) == 2, "the killed worker's episode was started again"
    pids = {p.read_text() for p in fake_workers.iterdir() if p.name.startswith(killed[0])}
    assert len(pids) == 2, "by another worker process"
    for ep in episodes:
        marker = json.loads((out / ep.key / "done.json").read_text())
        assert set(marker["outputs"]) >= {f"{ep.key}.txt", f"{ep.key}.json"}
    again = batch.run(episodes, config, out, batch.BatchOptions(verify=True),
                      executor=RayExecutor(config, RayOptions(workers=1, cpus_per_worker=1), factory=FakeModels))
    assert [e.status for e in again.entries] == [batch.SKIPPED] * 4, "a rerun redoes nothing: nothing is corrupt"
    assert not list(out.rglob(".*.tmp")), "no temporary file is left"


def test_real_models_through_ray_write_what_the_local_executor_writes(inbox, tmp_path, require_models,
                                                                      monkeypatch):
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    config_file = tmp_path / "fast.yaml"
    config_file.write_text(json.dumps(FAST))
    for ep in list(inbox.iterdir())[1:]:
        ep.unlink()  # one short clip
    local, distributed = tmp_path / "local", tmp_path / "ray"
    result = CliRunner().invoke(app, ["batch", str(inbox), "-o", str(local), "-c", str(config_file), "--quiet"])
    assert result.exit_code == 0, result.output
    result = CliRunner().invoke(app, ["batch", str(inbox), "-o", str(distributed), "-c", str(config_file),
                                      "--executor", "ray", "--workers", "1", "--quiet"])
    assert result.exit_code == 0, result.output
    assert result.output == "", "--quiet: nothing on stdout"
    a, b = _files(local), _files(distributed)
    assert sorted(a) == sorted(b) and len(a) >= 7
    for name in a:
        if name.endswith(".json"):  # timings differ, and done.json's processing time and date
            left, right = json.loads(a[name]), json.loads(b[name])
            for doc in (left, right):
                for key in ("timings", "seconds", "processed_at", "output_stats"):
                    doc.pop(key, None)
                for output in doc.get("outputs", {}):  # the result JSON holds the timings
                    if output.endswith(".json"):
                        doc["outputs"][output] = "(timings differ)"
            assert left == right, name
        else:
            assert a[name] == b[name], name
