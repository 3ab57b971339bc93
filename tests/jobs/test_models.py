"""What a Models object keeps between calls: an episode's CAM++ embeddings (with a fake model)."""

from __future__ import annotations

import numpy as np

from pipeline.config import PipelineConfig
from pipeline.jobs import models
from pipeline.stages import diarize
from pipeline.types import Audio


def _audio(sha: str) -> Audio:
    return Audio(f"{sha}.wav", np.zeros(16000 * 60, np.float32), 16000, sha)


def test_a_stretch_of_an_episode_is_embedded_once(monkeypatch):
    asked: list[list[tuple[float, float]]] = []

    def fake_embed(pipeline, audio, spans, options, workers=1):
        asked.append(list(spans))
        # a vector that tells the stretch and the episode apart
        return np.array([[a, b, float(len(audio.sha256))] for a, b in spans], np.float32)

    monkeypatch.setattr(diarize, "embed", fake_embed)
    m = models.Models(PipelineConfig())
    monkeypatch.setattr(m, "diarization_pipeline", lambda timings=None: None)
    one = _audio("a" * 64)

    first = m.embed(one, [(1.0, 2.0), (3.0, 4.0), (1.0, 2.0)])
    assert asked == [[(1.0, 2.0), (3.0, 4.0)]]  # a stretch asked for twice in one call: once
    assert first[:, :2].tolist() == [[1.0, 2.0], [3.0, 4.0], [1.0, 2.0]]

    again = m.embed(one, [(3.0, 4.0), (5.0, 6.0)])
    assert asked[1:] == [[(5.0, 6.0)]]  # only the new stretch goes to the model
    assert again[:, :2].tolist() == [[3.0, 4.0], [5.0, 6.0]]

    other = _audio("b" * 63)  # another episode: its (3, 4) is other audio
    assert m.embed(other, [(3.0, 4.0)])[0, 2] == 63.0
    assert asked[2:] == [[(3.0, 4.0)]]
    assert m.embed(one, [(1.0, 2.0)])[0, 2] == 64.0  # only the last episode is kept
    assert asked[3:] == [[(1.0, 2.0)]]
    assert m.embed(one, []).shape[0] == 0
