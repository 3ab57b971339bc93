"""A voice name checked stretch by stretch: the pure relabelling, and the check with a stand-in embedder."""

from __future__ import annotations

import numpy as np
from test_naming import AUDIO, VOICES, Embedder

from pipeline.config import AlignOptions, VoicesOptions
from pipeline.types import AttributedWord, RunResult, SpeakerTurn, Turn
from pipeline.voices.verify import give_back, misplaced, move, short_stretches, unverified

OPTIONS = VoicesOptions(verify_under=4.0, verify_min=0.6, turn_threshold=0.6)


def result_with(turns, names, sources):
    times = [(t, label) for a, b, label in turns for t in np.arange(a, b - 0.3, 0.5)]
    words = tuple(AttributedWord(t, t + 0.3, f" w{i}", label) for i, (t, label) in enumerate(times))
    return RunResult(
        audio="x.mp3", audio_sha256="0" * 64, duration=turns[-1][1], language="en", words=words,
        turns=(SpeakerTurn("S0", 0.0, 1.0, "w0"),), speakers=tuple(dict.fromkeys(lab for _, _, lab in turns)),
        diarization=tuple(Turn(a, b, label) for a, b, label in turns), speaker_names=names,
        naming={label: {"source": src, "score": 0.95} for label, src in sources.items()})


# the host talks; a stranger's 2 s interjection landed in the host's cluster at 10-12 s
TURNS = [(0.0, 10.0, "S0"), (10.0, 12.0, "S0"), (12.0, 20.0, "S1"), (20.0, 22.5, "S0"), (22.5, 30.0, "S0")]


def test_short_stretches_are_the_solo_ones_under_the_limit():
    result = result_with([(0.0, 10.0, "S0"), (10.5, 12.5, "S0"), (12.0, 20.0, "S1"), (20.2, 20.6, "S0")],
                         {}, {})
    # (10.5, 12.5) less S1's overlap from 12.0: 10.5-12.0, trimmed by 0.1 to 1.3 s, cut to 1.1 s about
    # its middle; 20.2-20.6 is 0.2 s once trimmed: too short to embed
    assert short_stretches(result, "S0", OPTIONS) == [((10.5, 12.0), (10.7, 11.8))]


def test_a_stretch_in_another_voice_is_given_back_to_a_new_label():
    result = result_with([(0.0, 9.0, "S0"), (9.5, 11.5, "S0"), (12.0, 20.0, "S1"), (20.5, 29.0, "S0")],
                         {"S0": "VANCE", "S1": "OKAFOR"}, {"S0": "voice", "S1": "voice"})
    models = Embedder([(0, 9.2, "VANCE"), (9.2, 11.8, "STRANGER"), (11.8, 20.2, "OKAFOR"), (20.2, 30, "VANCE")])
    voices = {n: v / np.linalg.norm(v) for n, v in VOICES.items() if n != "STRANGER"}
    rejected = unverified(result, AUDIO, models, voices, OPTIONS)
    assert rejected == {"S0": [(9.5, 11.5)]}  # S0's only short stretch, in the stranger's voice
    back = give_back(result, rejected, AlignOptions())
    assert back.speakers == ("S0", "S1", "SPEAKER_00")  # a label of its own
    moved = [w for w in back.words if w.speaker == "SPEAKER_00"]
    assert moved and all(9.5 <= (w.start + w.end) / 2 <= 11.5 for w in moved)
    assert [w.text for w in back.words] == [w.text for w in result.words]
    assert back.name_of("SPEAKER_00") == "SPEAKER_00" and back.name_of("S0") == "VANCE"
    assert Turn(9.5, 11.5, "SPEAKER_00") in back.diarization
    assert [t.speaker for t in back.turns] == ["S0", "SPEAKER_00", "S1", "S0"]
    assert sum(len(t.words) for t in back.turns) == len(back.words)


def test_transcript_names_are_not_checked_and_nothing_rejected_changes_nothing():
    result = result_with(TURNS, {"S0": "VANCE"}, {"S0": "transcript"})
    models = Embedder([(0, 30, "STRANGER")])
    assert unverified(result, AUDIO, models, {"VANCE": VOICES["VANCE"]}, OPTIONS) == {} and models.calls == 0
    assert give_back(result, {}, AlignOptions()) is result


def test_a_turn_split_by_a_rejected_stretch_keeps_its_other_parts():
    result = result_with([(0.0, 10.0, "SPEAKER_03")], {"SPEAKER_03": "VANCE"}, {"SPEAKER_03": "voice"})
    back = give_back(result, {"SPEAKER_03": [(4.0, 5.0)]}, AlignOptions())
    assert back.diarization == (Turn(0.0, 4.0, "SPEAKER_03"), Turn(4.0, 5.0, "SPEAKER_04"),
                                Turn(5.0, 10.0, "SPEAKER_03"))  # after the last number in use


def test_a_stretch_that_is_a_crop_of_the_print_is_not_embedded_again():
    from pipeline.voices.prints import VoicePrint

    result = result_with([(0.0, 9.0, "S0"), (9.5, 11.5, "S0"), (12.0, 14.0, "S0"), (14.5, 20.0, "S1")],
                         {"S0": "VANCE"}, {"S0": "voice"})
    models = Embedder([(0, 30, "VANCE")])
    crop = np.asarray(VOICES["VANCE"] / np.linalg.norm(VOICES["VANCE"]), np.float32)
    prints = {"S0": VoicePrint(crop[None, :], 1.5, ((9.75, 11.25),))}  # a crop of the first short stretch
    voices = {"VANCE": crop}
    assert unverified(result, AUDIO, models, voices, OPTIONS, prints) == {}
    assert models.spans == [(12.175, 13.825)]  # only the other one, 12.1-13.9 cut to 1.65 s


def test_a_given_back_stretch_takes_its_whole_sentence_within_a_few_words():
    def w(start, text, speaker="S2"):
        return AttributedWord(start, start + 0.2, text, speaker)

    # "... back. I leave the depot at 5:40. Right." : the stretch covers "leave ... 5" only
    words = (w(49.6, " back."), w(50.5, " I"), w(50.9, " leave"), w(51.1, " the"), w(51.3, " depot"),
             w(51.6, " at"), w(51.9, " 5"), w(52.1, " :40."), w(53.0, " Right."))
    result = RunResult(audio="x.mp3", audio_sha256="0" * 64, duration=60.0, language="en", words=words,
                       turns=(), speakers=("S0", "S2"), diarization=(Turn(49.0, 54.0, "S2"),),
                       speaker_names={"S2": "OKAFOR"}, naming={"S2": {"source": "voice", "score": 0.95}})
    back = give_back(result, {"S2": [(50.8, 52.05)]}, AlignOptions())
    assert [x.speaker for x in back.words] == ["S2"] + ["SPEAKER_00"] * 7 + ["S2"]
    # no further than max_shift_words
    back = give_back(result, {"S2": [(51.5, 51.75)]}, AlignOptions(max_shift_words=1))
    assert [x.text for x in back.words if x.speaker == "SPEAKER_00"] == [" depot", " at", " 5"]


def test_a_short_stretch_in_another_speakers_cluster_is_moved_to_them():
    # the seed's last exchange, in miniature: S1's "Thank you, Linda." (26.5-28 s) landed in S0's
    # cluster; S0's own short stretch (9.5-11.5 s) is S0's voice and stays
    result = result_with([(0.0, 9.0, "S0"), (9.5, 11.5, "S0"), (12.0, 26.0, "S1"), (26.5, 28.0, "S0")],
                         {}, {})
    models = Embedder([(0, 11.8, "VANCE"), (11.8, 30, "OKAFOR")])
    options, align = VoicesOptions(), AlignOptions(check_under=4.0, check_below=0.4, check_margin=0.2)
    moves = misplaced(result, AUDIO, models, options, align)
    assert moves == {"S0": [((26.5, 28.0), "S1")]}
    moved = move(result, moves, align)
    assert moved.speakers == result.speakers
    assert all(w.speaker == "S1" for w in moved.words if w.start >= 26.0)
    assert all(w.speaker == "S0" for w in moved.words if w.end <= 11.5)
    assert Turn(26.5, 28.0, "S1") in moved.diarization
    assert [t.speaker for t in moved.turns][-1] == "S1" and sum(len(t.words) for t in moved.turns) == len(moved.words)
    assert misplaced(result, AUDIO, models, options, AlignOptions(check_under=0)) == {}  # off
    assert move(result, {}, align) is result
