"""ASR taking the core diarization frees: the batch schedule with a fake computation, then
tiny.en on sample.wav with two CTranslate2 workers giving the very transcript one worker gives."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from pipeline.config import AsrOptions
from pipeline.stages import asr, batched
from pipeline.stages.batched import Batches, SmallBatches, _storage


def _batches(n: int, compute=None):
    features = np.arange(n * 2, dtype=np.float32).reshape(n, 2)
    done = []

    def work(batch):
        done.append((int(batch[0, 0]) // 2, threading.current_thread().name))
        time.sleep(0.02)
        return int(batch[0, 0]) // 2

    return Batches([features[i:i + 1] for i in range(n)], compute or work), features, done


def _help(batches, allowed):
    helper = threading.Thread(target=batches.help, args=(allowed,), name="helper")
    helper.start()
    return helper


def test_without_the_spare_core_the_caller_computes_every_batch():
    batches, features, done = _batches(4)
    helper = _help(batches, threading.Event())
    results = [batches.next(features[i:i + 1]) for i in range(4)]
    batches.stop()
    helper.join(timeout=2)
    assert results == [0, 1, 2, 3] and not helper.is_alive()
    assert {name for _, name in done} == {"MainThread"} and batches.helped == 0


def test_the_helper_takes_batches_from_the_end_and_results_come_in_order():
    allowed = threading.Event()
    allowed.set()
    batches, features, done = _batches(6)
    helper = _help(batches, allowed)
    results = [batches.next(features[i:i + 1]) for i in range(6)]
    batches.stop()
    helper.join(timeout=2)
    assert results == [0, 1, 2, 3, 4, 5]
    assert sorted(k for k, _ in done) == [0, 1, 2, 3, 4, 5]  # each batch computed once
    helped = [k for k, name in done if name == "helper"]
    assert helped and helped == sorted(helped, reverse=True) and helped[0] == 5  # from the last, backwards
    assert batches.helped == len(helped)


def test_a_helpers_error_reaches_the_caller_in_its_turn():
    allowed = threading.Event()
    allowed.set()

    def compute(batch):
        if batch[0, 0] == 4:  # the last batch, the helper's first
            raise ValueError("worker failed")
        time.sleep(0.05)
        return int(batch[0, 0]) // 2

    batches, features, _ = _batches(3, compute)
    helper = _help(batches, allowed)
    assert [batches.next(features[i:i + 1]) for i in range(2)] == [0, 1]
    with pytest.raises(ValueError, match="worker failed"):
        batches.next(features[2:3])
    batches.stop()
    helper.join(timeout=2)


def test_a_batch_out_of_turn_is_refused():
    batches, features, _ = _batches(2)
    with pytest.raises(RuntimeError, match="batch 0"):
        batches.next(features[1:2])


def test_encoder_and_alignment_take_a_few_windows_at_a_time():
    seen = []

    class Model:  # stands in for CTranslate2's Whisper: records the batch sizes it is given
        device = "cpu"

        def encode(self, features, to_cpu=False):
            seen.append(("encode", len(np.asarray(features))))
            return _storage(np.asarray(features) * 2.0)

        def align(self, features, start_sequence, text_tokens, num_frames, median_filter_width=7):
            seen.append(("align", len(np.asarray(features)), tuple(num_frames)))
            return [(tokens, median_filter_width) for tokens in text_tokens]

        def generate(self, features, prompts, beam_size=1):
            seen.append(("generate", len(np.asarray(features)), len(prompts)))
            return [(prompt, beam_size) for prompt in prompts]

    model = SmallBatches(Model(), size=2)
    features = np.arange(5 * 3 * 4, dtype=np.float32).reshape(5, 3, 4)
    assert np.array_equal(np.asarray(model.encode(_storage(features))), features * 2.0)
    assert model.align(_storage(features), [1], [[i] for i in range(5)], [10, 11, 12, 13, 14],
                       median_filter_width=5) == [([i], 5) for i in range(5)]
    assert seen == [("encode", 2), ("encode", 2), ("encode", 1),
                    ("align", 2, (10, 11)), ("align", 2, (12, 13)), ("align", 1, (14,))]
    six = np.zeros((6, 3, 4), np.float32)
    assert model.generate(_storage(six), [[i] for i in range(6)], beam_size=5) == [([i], 5) for i in range(6)]
    assert seen[-2:] == [("generate", 4, 4), ("generate", 2, 2)]  # GENERATE_BATCH 4
    assert model.device == "cpu"


@pytest.mark.slow
def test_a_window_at_a_time_changes_nothing(sample_audio, require_models, monkeypatch):
    model = asr.load_model(AsrOptions(model="tiny.en", device="cpu", threads=1))
    assert isinstance(model.model, SmallBatches)  # installed on every CPU model
    ct2 = model.model._model
    samples = np.concatenate([sample_audio.samples] * 3)[: 3 * 480_000]
    features = np.stack([model.feature_extractor(samples[i * 480_000:(i + 1) * 480_000])[..., :3000]
                         for i in range(3)])
    one = SmallBatches(ct2, size=1)
    whole = np.asarray(ct2.encode(_storage(features)))
    assert np.array_equal(np.asarray(one.encode(_storage(features))), whole)
    tokens = [[50257 + 100 + i, 262, 318] for i in range(3)]  # any text: the alignment must not change
    start = [50257]  # <|startoftranscript|> of tiny.en
    expected = ct2.align(_storage(whole), start, tokens, [3000, 2000, 1000])
    got = one.align(_storage(whole), start, tokens, [3000, 2000, 1000])
    assert [(r.alignments, r.text_token_probs) for r in got] == [(r.alignments, r.text_token_probs) for r in expected]
    prompt = [50257, 50362]  # <|startoftranscript|><|notimestamps|>
    kwargs = dict(beam_size=5, max_length=60, return_scores=True, return_no_speech_prob=True)

    def decode(model):
        results = model.generate(_storage(whole), [prompt] * 3, **kwargs)
        return [(r.sequences_ids, r.scores, r.no_speech_prob) for r in results]

    decoded = decode(ct2)
    monkeypatch.setattr(batched, "GENERATE_BATCH", 1)
    again = decode(one)
    assert again == decoded and any(len(ids[0]) > 3 for ids, _, _ in decoded)


@pytest.mark.slow
def test_two_workers_give_the_same_transcript(sample_audio, require_models, caplog, monkeypatch):
    from faster_whisper import BatchedInferencePipeline

    options = AsrOptions(model="tiny.en", device="cpu", threads=1, batch_size=1)  # a batch per VAD chunk
    with monkeypatch.context() as patch:  # faster-whisper's own pipeline, for reference
        patch.setattr(asr, "_batched", lambda model, spare: BatchedInferencePipeline(model))
        one = asr.transcribe(asr.load_model(options), sample_audio.samples, options)
    spare = threading.Event()
    spare.set()  # diarization already done: the helper starts at once
    model = asr.load_model(options, workers=2)
    assert model.model.num_workers == 2
    with caplog.at_level("DEBUG", logger="pipeline.stages.batched"):
        two = asr.transcribe(model, sample_audio.samples, options, spare=spare)
    assert len(one.words) > 50
    assert two == one
    helped = [r.getMessage() for r in caplog.records if "on the spare core" in r.getMessage()]
    assert helped and not helped[0].startswith("0 of")  # the helper did compute some batches
