"""Transcription: engine/device choice, cleaning, and real models on real audio."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
from conftest import tiny_models

from pipeline.config import AsrOptions
from pipeline.errors import ConfigError
from pipeline.stages import asr
from pipeline.types import Segment, Word

# -- unit ---------------------------------------------------------------------------------------


def test_auto_device_picks_cuda_when_torch_sees_a_gpu(monkeypatch):
    monkeypatch.setattr("pipeline.runtime.cuda_available", lambda: True)
    assert asr.resolve_device("auto") == "cuda"
    assert asr.resolve_compute_type("auto", "cuda") == "float16"
    monkeypatch.setattr("pipeline.runtime.cuda_available", lambda: False)
    assert asr.resolve_device("auto") == "cpu"
    assert asr.resolve_compute_type("auto", "cpu") == "int8"
    assert asr.resolve_compute_type("float32", "cpu") == "float32"
    with pytest.raises(ConfigError, match="no CUDA"):
        asr.resolve_device("cuda")


def test_cuda_device_selects_float16_for_faster_whisper(monkeypatch):
    """--device cuda reaches WhisperModel as device='cuda', compute_type='float16'."""
    seen = {}
    monkeypatch.setattr("pipeline.runtime.cuda_available", lambda: True)
    monkeypatch.setattr(asr, "_load_faster_whisper",
                        lambda model, device, compute_type, threads, workers=1: seen.update(
                            device=device, compute_type=compute_type, workers=workers))
    monkeypatch.setattr("pipeline.weights.store.whisper_model", lambda name, store=None: "/models/x")
    asr.load_model(AsrOptions(device="cuda"), workers=2)
    assert seen == {"device": "cuda", "compute_type": "float16", "workers": 1}  # a second worker: CPU only


def test_clean_drops_loops_and_fixes_word_times():
    options = AsrOptions()
    raw = [
        (Segment(0.0, 2.0, " Hello there.", (Word(0.0, 0.5, " Hello"), Word(0.5, 0.5, " there."))), 1.2),
        (Segment(2.0, 9.0, " la la la la", (Word(2.0, 3.0, " la"),)), 5.0),  # a loop
        (Segment(9.0, 10.0, " End.", (Word(9.2, 9.1, " End."),)), 1.0),
    ]
    segments = asr._clean(raw, duration=9.25, options=options)
    assert [s.text for s in segments] == [" Hello there.", " End."]
    words = [w for s in segments for w in s.words]
    assert all(w.start < w.end <= 9.25 for w in words)
    assert [w.start for w in words] == sorted(w.start for w in words)


def _speech_with_pauses(seconds: float, pauses: list[float]) -> np.ndarray:
    """Loud noise for ``seconds``, silent for 0.8 s around each of ``pauses`` (seconds)."""
    samples = np.random.default_rng(0).normal(0.0, 0.3, int(seconds * 16_000)).astype(np.float32)
    for pause in pauses:
        samples[int((pause - 0.4) * 16_000):int((pause + 0.4) * 16_000)] = 0.0
    return samples


def test_short_audio_is_one_piece():
    assert asr.pieces(np.zeros(16_000 * 60, np.float32), seconds=600) == [(0, 16_000 * 60)]
    assert asr.pieces(np.zeros(16_000 * 900, np.float32), seconds=600) == [(0, 16_000 * 900)]


def test_long_audio_is_cut_in_its_pauses():
    samples = _speech_with_pauses(2200.0, [590.0, 1195.0, 1810.0])
    found = asr.pieces(samples, seconds=600)
    assert found[0][0] == 0 and found[-1][1] == len(samples)
    assert all(end == start for (_, end), (start, _) in zip(found, found[1:], strict=False))  # no gap, no overlap
    assert max(b - a for a, b in found) <= 1.5 * 600 * 16_000
    cuts = [start / 16_000 for start, _ in found[1:]]
    assert len(cuts) == 3
    for cut, pause in zip(cuts, [590.0, 1195.0, 1810.0], strict=True):
        assert abs(cut - pause) <= 0.2, (cut, pause)  # in the pause, not in the speech beside it
        assert np.all(samples[int((cut - 0.15) * 16_000):int((cut + 0.15) * 16_000)] == 0.0)


def test_pieces_are_transcribed_in_turn_with_their_times_and_one_language(monkeypatch):
    calls = []

    class FakeModel:  # stands in for faster-whisper's WhisperModel: one segment per piece
        def transcribe(self, audio, language=None, **kwargs):
            calls.append((len(audio), language))
            word = SimpleNamespace(start=1.0, end=1.5, word=" hi", probability=0.9)
            segment = SimpleNamespace(start=0.5, end=2.0, text=" hi", words=[word], compression_ratio=1.0)
            return iter([segment]), SimpleNamespace(language=language or "en")

    monkeypatch.setattr(asr, "PIECE_SECONDS", 600.0)
    samples = _speech_with_pauses(1400.0, [600.0])
    progress = []
    segments, language = asr._faster_whisper(FakeModel(), samples, AsrOptions(batch_size=0),
                                             lambda done, total: progress.append((done, total)))
    assert [n for n, _ in calls] == [b - a for a, b in asr.pieces(samples)] and len(calls) == 2
    assert [lang for _, lang in calls] == [None, "en"]  # the second piece keeps the first's language
    cut = asr.pieces(samples)[1][0] / 16_000
    assert [s.start for s, _ in segments] == [0.5, pytest.approx(cut + 0.5)]
    assert segments[1][0].words[0].start == pytest.approx(cut + 1.0)
    assert language == "en" and progress[-1] == (pytest.approx(cut + 2.0), 1400.0)


def test_once_a_core_is_free_a_second_worker_decodes_pieces_from_the_last(monkeypatch):
    import threading
    import time

    threads = []

    class FakeModel:  # faster-whisper's WhisperModel on a CTranslate2 model with two workers
        model = SimpleNamespace(num_workers=2)

        def transcribe(self, audio, language=None, **kwargs):
            threads.append((threading.current_thread().name, language))
            time.sleep(0.2)
            segment = SimpleNamespace(start=0.5, end=2.0, text=f" {len(audio)}", words=[], compression_ratio=1.0)
            return iter([segment]), SimpleNamespace(language=language or "en")

    monkeypatch.setattr(asr, "PIECE_SECONDS", 100.0)
    samples = _speech_with_pauses(600.0, [100.0, 200.0, 300.0, 400.0, 500.0])
    spans = asr.pieces(samples)
    spare = threading.Event()
    spare.set()
    segments, language = asr._faster_whisper(FakeModel(), samples, AsrOptions(batch_size=0), None, spare)
    # every piece once, in order, timed in the file; the first alone (its language holds for the rest)
    assert [s.text for s, _ in segments] == [f" {b - a}" for a, b in spans] and len(spans) == 6
    assert [s.start for s, _ in segments] == [pytest.approx(a / 16_000 + 0.5) for a, _ in spans]
    assert threads[0] == ("MainThread", None) and {lang for _, lang in threads[1:]} == {"en"}
    helped = [name for name, _ in threads if name == "asr-spare-core"]
    assert 1 <= len(helped) < 5 and language == "en"
    # no core freed: the caller decodes them all
    threads.clear()
    asr._faster_whisper(FakeModel(), samples, AsrOptions(batch_size=0), None, threading.Event())
    assert {name for name, _ in threads} == {"MainThread"} and len(threads) == 6


# -- integration: real models on pyannote's sample ----------------------------------------------


def _wer(reference_text: str, hypothesis_text: str) -> float:
    from pipeline.scoring.metrics import normalize, wer

    return wer(normalize(reference_text), normalize(hypothesis_text))


@pytest.mark.slow
def test_tiny_en_on_sample(asr_tiny, stm_segments, sample_audio, record_property):
    reference = " ".join(text for *_, text in stm_segments)
    error = _wer(reference, " ".join(w.text for w in asr_tiny.words))
    record_property("wer", round(error, 3))
    # sequential decoding, VAD padded 1000 ms (the default): 0.103 under AVX2, 0.138 under AVX512
    # (make test-isa); padded 400 ms: 0.149 under AVX2 and AVX, 0.115 under AVX512, 0.138 under
    # GENERIC; batched decoding gave 0.172 under AVX2, over this bound
    assert error <= 0.17  # worst 0.149 + 0.02 (two words of 87)
    _check_invariants(asr_tiny, sample_audio.duration)
    assert asr_tiny.language == "en" and asr_tiny.engine == "faster-whisper"


@pytest.mark.slow
def test_base_on_sample(sample_run, stm_segments, sample_audio, record_property):
    """base, default engine and decoding (beam 5), via the full run's words."""
    reference = " ".join(text for *_, text in stm_segments)
    error = _wer(reference, " ".join(w.text for w in sample_run.words))
    record_property("wer", round(error, 3))
    # the default decoding (sequential, VAD padded 1000 ms, second pass), chosen on the suite: 0.172
    # under AVX2 and AVX512; padded 400 ms: 0.184 under AVX2, AVX and GENERIC, 0.172 under AVX512.
    # Batched decoding kept words here that these lose (0.126-0.138); the README has the suite's figures
    assert error <= 0.21  # worst 0.184 + 0.025 (two words); was 0.16 with batched decoding
    assert sample_run.models["asr"] == "faster-whisper:base"


def _check_invariants(transcript, duration):
    words = transcript.words
    assert words, "no words"
    assert all(0 <= w.start < w.end <= duration + 1e-6 for w in words)
    assert [w.start for w in words] == sorted(w.start for w in words)
    assert transcript.text == "".join(s.text for s in transcript.segments).strip()
    chicago = next(w for w in words if "chicago" in w.text.lower())
    assert 14.44 <= chicago.start and chicago.end <= 17.77 + 0.05, chicago


@pytest.mark.slow
@pytest.mark.parametrize("kind, max_words", [("silence", 0), ("music", 3)])
def test_no_invented_text_over_silence_or_music(media, kind, max_words, require_models, record_property):
    from pipeline.stages import audio

    transcript = tiny_models().transcribe(audio.load(media[kind]))
    record_property("words", len(transcript.words))
    assert len(transcript.words) <= max_words, transcript.text


@pytest.mark.slow
def test_telephone_8k_audio(media, stm_segments, require_models, record_property):
    from pipeline.stages import audio

    transcript = tiny_models().transcribe(audio.load(media["phone_8k"]))
    reference = " ".join(text for *_, text in stm_segments)
    error = _wer(reference, transcript.text)
    record_property("wer", round(error, 3))
    assert error <= 0.3  # VAD padded 1000 ms: 0.161 under AVX2, 0.207 under AVX512 (400 ms: 0.161 all)
