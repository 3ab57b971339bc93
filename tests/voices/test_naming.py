"""Naming from a voice library and enrolling into it, on hand-built results.

The embedder here gives each stretch of audio the voice of whoever speaks in its middle (by a
hand-written truth), with a little noise: it stands in for CAM++ so that what is tested is what
the naming stage does with embeddings; tests/voices/test_voices_slow.py runs the real CAM++.
"""

from __future__ import annotations

import numpy as np

from pipeline.config import VoicesOptions
from pipeline.types import Audio, RunResult, Turn
from pipeline.voices import VOICE, VoiceLibrary, enroll, enrollable, name_and_enroll

OPTIONS = VoicesOptions(threshold=0.6, margin=0.1, shared_threshold=0.75, max_seconds=40.0)
RNG = np.random.default_rng(0)
VOICES = {who: RNG.normal(size=192) for who in ("VANCE", "OKAFOR", "REYES", "STRANGER")}


class Embedder:
    """``embed(audio, spans)`` as :class:`pipeline.jobs.Models` has it, from a truth of who spoke when."""

    def __init__(self, truth: list[tuple[float, float, str]]) -> None:
        self.truth, self.calls, self.spans = truth, 0, []

    def embed(self, audio, spans):
        self.calls += 1
        self.spans.extend(spans)
        rng = np.random.default_rng(len(spans))
        out = []
        for start, end in spans:
            middle = (start + end) / 2
            who = next(w for a, b, w in self.truth if a <= middle < b)
            out.append(VOICES[who] + 0.3 * rng.normal(size=192))
        return np.array(out, dtype=np.float32)


def episode(sha: str, turns: list[tuple[float, float, str]], names: dict[str, str] | None = None,
            shares: dict[str, float] | None = None) -> RunResult:
    labels = tuple(dict.fromkeys(label for _, _, label in turns))
    names = names or {}
    return RunResult(
        audio=f"{sha}.mp3", audio_sha256=sha * 64, duration=turns[-1][1], language="en", words=(), turns=(),
        speakers=labels, diarization=tuple(Turn(a, b, label) for a, b, label in turns), speaker_names=names,
        naming={label: {"source": "transcript", "score": (shares or {}).get(label, 0.95)} for label in names})


AUDIO = Audio("x.mp3", np.zeros(16_000, np.float32), 16_000, "")
SHOW = [(0.0, 30.0, "S0"), (30.0, 60.0, "S1"), (60.0, 90.0, "S2")]


def test_enroll_then_name_another_episode(tmp_path):
    library = tmp_path / "voices.sqlite"
    first = episode("a", SHOW, {"S0": "VANCE", "S1": "OKAFOR", "S2": "REYES"})
    models = Embedder([(0, 30, "VANCE"), (30, 60, "OKAFOR"), (60, 90, "REYES")])
    named, done = name_and_enroll(first, AUDIO, models, library, OPTIONS, enroll_names=True)
    assert named.speaker_names == first.speaker_names and named.naming == first.naming  # nothing left to name
    assert done.enrolled == {"VANCE": 29.5, "OKAFOR": 29.5, "REYES": 29.5} and not done.already
    # again: the episode is known, nothing is embedded or added
    calls = models.calls
    _, again = name_and_enroll(first, AUDIO, models, library, OPTIONS, enroll_names=True)
    assert again.already and again.enrolled == {} and models.calls == calls

    # the next episode: the host, a stranger, then the correspondent; no transcript
    second = episode("b", [(0.0, 20.0, "S0"), (20.0, 50.0, "S1"), (50.0, 70.0, "S2")])
    models = Embedder([(0, 20, "OKAFOR"), (20, 50, "STRANGER"), (50, 70, "VANCE")])
    named, done = name_and_enroll(second, AUDIO, models, library, OPTIONS, enroll_names=False)
    assert done is None
    assert named.speaker_names == {"S0": "OKAFOR", "S2": "VANCE"}  # the stranger keeps its label
    assert {label: how["source"] for label, how in named.naming.items()} == {"S0": VOICE, "S2": VOICE}
    assert all(how["score"] >= OPTIONS.threshold for how in named.naming.values())
    with VoiceLibrary(library) as lib:
        assert not lib.has("b" * 64) and [v.name for v in lib.voices()] == ["OKAFOR", "REYES", "VANCE"]


def test_a_transcript_name_wins_and_the_library_names_only_the_rest(tmp_path):
    library = tmp_path / "voices.sqlite"
    truth = [(0, 30, "VANCE"), (30, 60, "OKAFOR"), (60, 90, "REYES")]
    name_and_enroll(episode("a", SHOW, {"S0": "VANCE", "S1": "OKAFOR", "S2": "REYES"}), AUDIO, Embedder(truth),
                    library, OPTIONS, enroll_names=True)
    # a transcript names S0 VANCE (it is VANCE) and leaves S1 (OKAFOR) and S2 (a second VANCE cluster) unnamed
    later = episode("c", SHOW, {"S0": "VANCE"})
    models = Embedder([(0, 30, "VANCE"), (30, 60, "OKAFOR"), (60, 90, "VANCE")])
    named, done = name_and_enroll(later, AUDIO, models, library, OPTIONS, enroll_names=True)
    assert named.speaker_names["S0"] == "VANCE" and named.naming["S0"]["source"] == "transcript"
    assert named.speaker_names["S1"] == "OKAFOR" and named.naming["S1"]["source"] == VOICE
    # S2 sounds like VANCE, a name the transcript gave: it gets it with the shared threshold only
    assert named.speaker_names["S2"] == "VANCE" and named.naming["S2"]["score"] >= OPTIONS.shared_threshold
    strict = OPTIONS.model_copy(update={"shared_threshold": 1.0})
    named, _ = name_and_enroll(later, AUDIO, models, library, strict, enroll_names=True)
    assert "S2" not in named.speaker_names and named.speaker_names["S1"] == "OKAFOR"
    assert done.enrolled == {"VANCE": 29.5}  # only what the transcript named is enrolled


def test_an_empty_library_names_nobody(tmp_path):
    result = episode("d", SHOW)
    named, done = name_and_enroll(result, AUDIO, Embedder([(0, 90, "VANCE")]), tmp_path / "v.sqlite", OPTIONS,
                                  enroll_names=False)
    assert named.speaker_names == {} and named.naming == {} and done is None


def test_only_confident_transcript_names_with_enough_speech_are_enrolled(tmp_path):
    turns = [(0.0, 30.0, "S0"), (30.0, 60.0, "S1"), (60.0, 68.0, "S2"), (68.0, 100.0, "S3")]
    result = episode("e", turns, {"S0": "VANCE", "S1": "OKAFOR", "S2": "REYES", "S3": "VANCE"}, {"S1": 0.6})
    assert enrollable(result, OPTIONS) == ({"S0": "VANCE", "S2": "REYES", "S3": "VANCE"},
                                           {"OKAFOR": "only 60 % of S1's words are theirs"})
    models = Embedder([(0, 30, "VANCE"), (30, 60, "OKAFOR"), (60, 68, "REYES"), (68, 100, "VANCE")])
    with VoiceLibrary(tmp_path / "v.sqlite") as lib:
        done = enroll(result, AUDIO, models, lib, OPTIONS)
        assert done.enrolled == {"VANCE": 61.0}  # both of VANCE's labels; 29.5 + 31.5 s
        assert done.skipped == {"OKAFOR": "only 60 % of S1's words are theirs",
                                "REYES": "7.5 s of solo speech, 10 s needed"}
        assert [v.name for v in lib.voices()] == ["VANCE"]


def test_how_each_name_was_found_survives_the_json_and_old_json_still_loads(tmp_path):
    import io
    import json

    from pipeline.outputs import writers
    from pipeline.types import to_dict

    result = episode("f", SHOW, {"S0": "VANCE"})
    result = RunResult(**{**vars(result), "speaker_names": {"S0": "VANCE", "S1": "OKAFOR"},
                          "naming": {"S0": {"source": "transcript", "score": 0.95},
                                     "S1": {"source": "voice", "score": 0.912}}})
    stream = io.StringIO()
    writers.write_json(result, stream)
    path = tmp_path / "r.json"
    path.write_text(stream.getvalue())
    assert writers.read_json(path) == result
    assert json.loads(stream.getvalue())["naming"]["S1"] == {"source": "voice", "score": 0.912}
    old = to_dict(result)
    del old["naming"]
    path.write_text(json.dumps(old))
    back = writers.read_json(path)
    assert back.naming == {} and back.speaker_names == result.speaker_names
    assert enrollable(back, OPTIONS)[0] == {"S0": "VANCE", "S1": "OKAFOR"}  # taken as from a transcript


def test_a_speaker_nobody_enrolled_is_embedded_no_further_than_the_probe(tmp_path):
    library = tmp_path / "voices.sqlite"
    name_and_enroll(episode("a", SHOW, {"S0": "VANCE", "S1": "OKAFOR", "S2": "REYES"}), AUDIO,
                    Embedder([(0, 30, "VANCE"), (30, 60, "OKAFOR"), (60, 90, "REYES")]), library, OPTIONS,
                    enroll_names=True)
    models = Embedder([(0, 30, "STRANGER"), (30, 60, "OKAFOR"), (60, 90, "STRANGER")])
    named, _ = name_and_enroll(episode("g", SHOW), AUDIO, models, library, OPTIONS, enroll_names=False)
    assert named.speaker_names == {"S1": "OKAFOR"}
    seconds = {label: sum(e - s for s, e in models.spans if a <= s < b)
               for label, (a, b) in {"S0": (0, 30), "S1": (30, 60), "S2": (60, 90)}.items()}
    assert seconds["S1"] > 25.0  # OKAFOR: the whole print (29.5 s here)
    assert seconds["S0"] <= OPTIONS.probe_seconds + 5 and seconds["S2"] <= OPTIONS.probe_seconds + 5
