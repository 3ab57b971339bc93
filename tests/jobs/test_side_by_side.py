"""ASR and diarization side by side (run.parallel): threads, results and errors, with fakes."""

from __future__ import annotations

import threading
import time
from types import SimpleNamespace

import pytest

from pipeline.config import PipelineConfig, override
from pipeline.display import NullDisplay
from pipeline.jobs import job, models


def test_only_faster_whisper_runs_beside_diarization():
    config = PipelineConfig()
    assert models.side_by_side(config)
    assert not models.side_by_side(override(config, "asr", engine="openai-whisper"))
    assert not models.side_by_side(override(config, "run", parallel=False))


def test_asr_gets_the_cores_diarization_leaves(monkeypatch):
    monkeypatch.setattr(models.os, "cpu_count", lambda: 2)
    config = PipelineConfig()  # diarization.threads 1
    assert models.effective(config).asr.threads == 1
    monkeypatch.setattr(models.os, "cpu_count", lambda: 8)
    assert models.effective(config).asr.threads == 7
    assert models.effective(config, cores=4).asr.threads == 3  # a Ray worker's share of the machine
    assert models.effective(override(config, "asr", threads=3)).asr.threads == 3
    sequential = override(config, "run", parallel=False)
    assert models.effective(sequential).asr.threads == 8  # one after the other: every core
    assert models.effective(sequential, cores=2).asr.threads == 2
    monkeypatch.setattr(models.os, "cpu_count", lambda: 1)
    assert models.effective(config).asr.threads == 1


def test_a_second_asr_worker_where_diarizations_cores_fit_one():
    batched = override(PipelineConfig(), "asr", batch_size=8)
    config = models.effective(batched, cores=2)  # asr 1 thread, diarization 1
    assert models.asr_workers(config, cores=2) == 2
    assert models.asr_workers(models.effective(batched, cores=8), cores=8) == 1  # 7 threads > 1 freed
    assert models.asr_workers(override(config, "run", parallel=False), cores=2) == 1
    # sequential decoding (the default) takes the freed core for its pieces
    assert models.asr_workers(override(config, "asr", batch_size=0), cores=2) == 2
    assert models.Models(PipelineConfig(), cores=2).asr_workers == 2
    wide = override(batched, "diarization", threads=2)
    assert models.asr_workers(models.effective(wide, cores=4), cores=4) == 2  # 2 + 2 threads on 4 cores
    assert models.Models(batched, cores=2).asr_workers == 2


def test_diarization_ending_frees_its_core_for_asr():
    seen = {}

    class FakeModels:
        config = PipelineConfig()

        def transcribe(self, audio, progress=None, spare=None):
            seen["at_start"] = spare.is_set()
            seen["freed"] = spare.wait(5)
            return SimpleNamespace(words=(), language="en")

        def diarize(self, audio, options=None, hook=None):
            time.sleep(0.2)
            raise ValueError("diarization failed")  # the core is freed all the same

    decoded = SimpleNamespace(duration=1.0, path="a.wav", sha256="0" * 64)
    with pytest.raises(ValueError, match="diarization failed"):
        job.recognise(decoded, PipelineConfig(), FakeModels(), NullDisplay(), {})
    assert seen == {"at_start": False, "freed": True}


def test_both_run_at_once_and_both_results_come_back():
    both_started = threading.Barrier(2, timeout=5)  # each waits for the other: only side by side passes

    def first():
        both_started.wait()
        return "words"

    def second():
        both_started.wait()
        return "turns", threading.current_thread().name

    words, (turns, thread) = job._side_by_side(first, second)
    assert (words, turns) == ("words", "turns") and thread.startswith("diarize")


def test_an_error_waits_for_the_other_stage_then_is_raised():
    finished = []

    def slow():
        time.sleep(0.3)
        finished.append("diarization")
        return "turns"

    def broken():
        raise ValueError("asr failed")

    with pytest.raises(ValueError, match="asr failed"):
        job._side_by_side(broken, slow)
    assert finished == ["diarization"]  # nothing left running behind the failed episode
    with pytest.raises(KeyError):
        job._side_by_side(lambda: "words", lambda: {}["missing"])
