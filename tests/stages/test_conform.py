"""The published transcript re-timed, on a hand-built episode: anchors, runs, cuts, gaps, turns.

Times are multiples of 1/4 s. The aligner here is a plain function that records what it was
asked and spreads the words evenly: the conform stage's own logic is what is tested; the real
forced aligner runs in tests/stages/test_conform_audio.py.
"""

from __future__ import annotations

from dataclasses import replace

import pytest

from pipeline.errors import ReferenceError, TranscriptMismatchError
from pipeline.scoring import metrics
from pipeline.scoring.reference import parse
from pipeline.stages import conform as c
from pipeline.types import AttributedWord, RunResult, TimeSource, Turn

S0, S1 = "SPEAKER_00", "SPEAKER_01"
PUBLISHED = parse(
    "JANE DOE, HOST: Good morning. It'll be a long day. We start in Munich.\n"
    "JOHN ROE: Thanks, Jane. The talks went late. Nobody slept.\n"
    "DOE: Thank you."
)
WORDS = [w for t in PUBLISHED.turns for w in t.text.split()]


def heard(*parts: tuple[str, str, float]) -> tuple[AttributedWord, ...]:
    """ASR words, a quarter second each with a leading space, from (speaker, text, start)."""
    return tuple(AttributedWord(start + k * 0.25, start + (k + 1) * 0.25, " " + token, speaker)
                 for speaker, text, start in parts for k, token in enumerate(text.split()))


def run_of(words: tuple[AttributedWord, ...], duration: float = 10.0, names=(("DOE", "ROE"))) -> RunResult:
    return RunResult("episode.wav", "0" * 64, duration, "en", words, (), (S0, S1),
                     speaker_names=dict(zip((S0, S1), names, strict=True)))


# All of it heard, "Munich" as "Munik", with a pause after each sentence.
ALL = heard((S0, "Good morning.", 0.0), (S0, "it'll be a long day.", 1.0), (S0, "We start in Munik.", 3.0),
            (S1, "Thanks, Jane.", 5.0), (S1, "The talks went late.", 6.0), (S1, "Nobody slept.", 8.0),
            (S0, "Thank you.", 9.0))


class Spread:
    """An aligner that spreads the words evenly over what it is given, and remembers the calls."""

    def __init__(self, fail: bool = False) -> None:
        self.calls: list[tuple[float, float, tuple[str, ...]]] = []
        self.fail = fail

    def __call__(self, start, end, words):
        self.calls.append((start, end, tuple(words)))
        if self.fail:
            return None
        step = (end - start) / len(words)
        return [(start + k * step, start + (k + 1) * step) for k in range(len(words))]


def by_text(conformed, text: str):
    [word] = [w for w in conformed.words if w.text == text]
    return word


def test_tokens_keep_the_publishers_words_turns_and_sentences():
    tokens = c.tokens(PUBLISHED)
    assert [t.text for t in tokens] == WORDS
    assert tokens[2].norm == ("it", "will") and tokens[0].norm == ("good",)
    assert [t.turn for t in tokens[:3]] == [0, 0, 0] and tokens[-1].turn == 2
    assert [t.sentence for t in tokens[:4]] == [0, 0, 1, 1]
    assert tokens[-1].sentence == 6  # a new turn starts a new sentence
    assert c.tokens(parse("A: Mr. Smith went to the U.S. today."))[-1].sentence == 0  # no sentence end


def test_anchors_are_the_words_the_asr_heard_normalized():
    anchors = c.anchor(c.tokens(PUBLISHED), ALL)
    assert anchors.heard[2] == (2, 2)  # It'll, heard as "it'll"
    assert anchors.heard[WORDS.index("Munich.")] is None
    assert anchors.heard[WORDS.index("Jane.")] == (12, 12)
    assert (anchors.matched, anchors.total) == (21, 22)  # every normalized word but "munich"


def test_a_matched_word_takes_its_asr_time_and_the_rest_is_interpolated_between_anchors():
    conformed = c.conform(PUBLISHED, run_of(ALL))
    assert conformed.text == " ".join(WORDS)  # the publisher's words, as written
    good = by_text(conformed, "Good")
    assert (good.start, good.end, good.source, good.speaker) == (0.0, 0.25, "asr", "DOE")
    munich = by_text(conformed, "Munich.")
    assert munich.source == "interpolated"
    assert 3.75 <= munich.start < munich.end <= 5.0  # after "in", before "Thanks,"
    assert conformed.matched == pytest.approx(21 / 22, abs=1e-4) and conformed.lead == 0.0
    assert (conformed.gaps, conformed.unspoken, conformed.disagreements) == ((), (), ())


def test_the_conformed_text_equals_the_published_text_normalized():
    conformed = c.conform(PUBLISHED, run_of(ALL))
    assert metrics.normalize(conformed.text) == [n for t in PUBLISHED.turns for n in metrics.normalize(t.text)]


def test_a_run_is_aligned_to_the_time_between_its_anchors():
    aligner = Spread()
    conformed = c.conform(PUBLISHED, run_of(ALL), aligner=aligner)
    assert aligner.calls == [(3.75, 5.0, ("Munich.",))]
    munich = by_text(conformed, "Munich.")
    assert (munich.start, munich.end, munich.source) == (3.75, 5.0, "aligned")


def test_a_failed_or_implausible_alignment_is_interpolated_and_marked():
    conformed = c.conform(PUBLISHED, run_of(ALL), aligner=Spread(fail=True))
    assert by_text(conformed, "Munich.").source == TimeSource.INTERPOLATED
    assert not c.plausible([(0.0, 1.0)], 2)  # one time for two words
    assert not c.plausible([(1.0, 2.0), (0.5, 1.0)], 2)  # out of order
    assert not c.plausible([(1.0, 1.0), (1.0, 1.0), (1.0, 1.0)], 3)  # collapsed
    assert not c.plausible([(0.0, c.MAX_WORD_SECONDS + 1)], 1)  # stretched over something else
    assert c.plausible([(0.0, 0.5), (0.5, 0.5), (0.5, 1.0)], 3)


def test_a_sentence_cut_from_the_broadcast_is_unspoken_with_no_time():
    cut = heard((S0, "Good morning. it'll be a long day. We start in Munich.", 0.0), (S1, "Thanks, Jane.", 5.0),
                (S1, "Nobody slept.", 5.75), (S0, "Thank you.", 7.0))
    aligner = Spread()
    conformed = c.conform(PUBLISHED, run_of(cut), aligner=aligner)
    assert [(u.speaker, u.text, u.turn, u.after) for u in conformed.unspoken] == [
        ("ROE", "The talks went late.", 1, 5.5)]
    late = by_text(conformed, "late.")
    assert (late.start, late.end, late.source) == (None, None, "unspoken")
    assert aligner.calls == []  # nothing left to align between "Jane." and "Nobody"
    roe = conformed.turns[1]
    assert (roe.start, roe.end, roe.text) == (5.0, 6.25, "Thanks, Jane. The talks went late. Nobody slept.")


def test_words_missed_inside_a_heard_sentence_are_spoken_however_little_room():
    missed = heard((S0, "Good morning. it'll be a long day. We start in Munich.", 0.0),
                   (S1, "Thanks, Jane. The talks", 5.0), (S1, "Nobody slept.", 6.25), (S0, "Thank you.", 7.0))
    aligner = Spread()
    conformed = c.conform(PUBLISHED, run_of(missed), aligner=aligner)
    assert conformed.unspoken == ()
    assert aligner.calls == [(6.0, 6.25, ("went", "late."))]


def test_broadcast_the_text_leaves_out_is_a_gap_with_what_was_heard():
    ad = heard((S0, "Good morning. it'll be a long day.", 0.0), (S1, "buy soap now, it is very good soap", 2.0),
               (S0, "We start in Munich.", 6.0), (S1, "Thanks, Jane. The talks went late. Nobody slept.", 7.0),
               (S0, "Thank you.", 9.5))
    conformed = c.conform(PUBLISHED, run_of(ad, duration=11.75))
    assert conformed.gaps == (c.Gap(1.75, 6.0, "buy soap now, it is very good soap"),)
    ends = c.conform(PUBLISHED, run_of(ALL, duration=14.0))
    assert ends.gaps == (c.Gap(9.5, 14.0, ""),)  # silence or music after the last word


def test_roomy_runs_look_for_their_words_beside_their_own_sentences_anchors():
    # "Munich." misheard after a 10 s ad: it belongs to the sentence before, so it is looked for
    # right after "in", where the ASR heard something; "Thanks," belongs to the sentence after
    words = heard((S0, "Good morning. it'll be a long day. We start in", 0.0), (S0, "Munik.", 2.75),
                  (S1, "buy soap now buy soap now buy soap now buy soap now", 3.5),
                  (S1, "Thunks, Jane. The talks went late. Nobody slept.", 15.0), (S0, "Thank you.", 17.5))
    aligner = Spread()
    conformed = c.conform(PUBLISHED, run_of(words), aligner=aligner)
    (s1, e1, w1), (s2, e2, w2) = aligner.calls
    assert (s1, w1) == (2.5, ("Munich.",)) and e1 == pytest.approx(3.1)  # up to what was heard there
    assert w2 == ("Thanks,",) and e2 == 15.25 and s2 == pytest.approx(14.9)  # from where "Thunks," was heard
    assert [(g.start, g.end) for g in conformed.gaps] == [(3.1, pytest.approx(14.9))]


def test_another_episodes_transcript_is_refused():
    other = heard((S0, "sunny skies and warm weather all week, with showers on Sunday", 0.0))
    with pytest.raises(TranscriptMismatchError, match=r"ep\.txt: does not match this episode's audio: "
                                                      r"the ASR heard 0 % of its 22 words"):
        c.conform(PUBLISHED, run_of(other), source="ep.txt")
    assert issubclass(TranscriptMismatchError, ReferenceError)


def test_turns_are_the_publishers_from_first_word_start_to_last_word_end():
    conformed = c.conform(PUBLISHED, run_of(ALL), aligner=Spread())
    assert [(t.speaker, t.start, t.end, t.first, t.count) for t in conformed.turns] == [
        ("DOE", 0.0, 5.0, 0, 11), ("ROE", 5.0, 8.5, 11, 8), ("DOE", 9.0, 9.5, 19, 2)]


def test_disagreements_are_runs_where_publisher_and_diarization_name_different_speakers():
    words = heard((S0, "Good morning. it'll be a long day. We start in Munich. Thanks, Jane.", 0.0),
                  (S1, "The talks went late.", 6.0), (S0, "Nobody", 7.0), (S1, "slept.", 7.25),
                  (S1, "Thank you.", 9.0))
    conformed = c.conform(PUBLISHED, run_of(words))
    assert [(d.published, d.diarized, d.text, d.first, d.count) for d in conformed.disagreements] == [
        ("ROE", "DOE", "Thanks, Jane.", 11, 2),
        ("DOE", "ROE", "Thank you.", 19, 2),
    ]  # "Nobody" alone, inside a turn, is not listed
    assert by_text(conformed, "Nobody").diarized == "DOE"
    one_word = parse("A: Hello there, everyone.\nB: Hi.\nA: Welcome.")
    words = heard((S0, "hello there, everyone. hi. welcome.", 0.0))
    [d] = c.conform(one_word, run_of(words, names=("A", "B"))).disagreements
    assert (d.published, d.text) == ("B", "Hi.")  # a whole turn, one word long


def test_speaking_rate_comes_from_the_anchored_turns():
    tokens = c.tokens(PUBLISHED)
    anchors = c.anchor(tokens, ALL)
    rate = c.speaking_rate(tokens, anchors.heard, ALL)

    def chars(first, last):
        return sum(len(t.text) + 1 for t in tokens[first:last + 1])

    # each turn from its first to its last anchored word: "Good".."in", "Thanks,".."slept.", "Thank".."you."
    assert rate == pytest.approx((3.75 + 3.5 + 0.5) / (chars(0, 9) + chars(11, 18) + chars(19, 20)))
    assert c.speaking_rate(tokens[:1], (None,), ALL) == c.SECONDS_PER_CHAR


def test_interpolation_spreads_by_length_and_never_slower_than_twice_the_rate():
    assert c.interpolate(0.0, 1.0, ["a", "bbb"], rate=10.0) == [(0.0, 0.333), (0.333, 1.0)]
    assert c.interpolate(0.0, 100.0, ["ab"], rate=0.1) == [(0.0, 0.6)]
    assert c.interpolate(2.0, 2.0, ["ab"], rate=0.1) == [(2.0, 2.0)]


def test_the_conform_stage_imports_no_heavy_module():
    import subprocess
    import sys

    code = ("import sys, pipeline.stages.conform, pipeline.stages.pauses, pipeline.outputs.conformed; "
            "print(sorted(m for m in ('torch', 'whisper', 'faster_whisper', 'ctranslate2') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_a_long_stretch_missing_on_each_side_does_not_shift_the_anchors():
    # the published text has a passage the ASR missed; the ASR heard an ad the text leaves out.
    # WER's unit costs would pair the missed passage with the heard words and the heard words
    # with the ad; the most matches keep them where they are.
    text = parse("A: one two three four five six seven eight nine ten. Alpha beta gamma delta epsilon.")
    words = heard((S0, "alpha beta gamma delta epsilon. buy our soap buy our soap buy our soap now", 5.0))
    anchors = c.anchor(c.tokens(text), words)
    assert [h is not None for h in anchors.heard] == [False] * 10 + [True] * 5
    assert anchors.heard[10] == (0, 0)


def test_islands_of_chance_matches_are_not_anchors():
    heard_as = [(0, 0), (1, 1), (2, 2), None, None, None, None, None, None, (20, 20), None, None, None, None,
                None, (30, 30), (31, 31), (32, 32)]
    kept = c.drop_islands(heard_as)
    assert kept[9] is None  # one word, with 6 + 5 unmatched published words (and 17 + 9 heard) around it
    assert kept[:3] == heard_as[:3] and kept[15:] == heard_as[15:]
    near = [(0, 0), (1, 1), None, (3, 3), None, (5, 5), (6, 6), (7, 7)]
    assert c.drop_islands(near) == near  # a word alone among few misses is kept


def test_an_asr_word_stretched_over_what_it_missed_is_no_anchor():
    stretched = ALL[:13] + (AttributedWord(6.0, 7.25, " The", S1),) + ALL[14:]
    anchors = c.anchor(c.tokens(PUBLISHED), stretched)
    assert anchors.heard[WORDS.index("The")] is None and anchors.heard[WORDS.index("talks")] is not None


OPENING = (S0, "Good morning. it'll be a long day. We start in Munich.", 0.0)


def aligned_runs(words, *diarization: Turn):
    """What the aligner is asked for when ``words`` were heard and ``diarization`` found these turns."""
    aligner = Spread()
    c.conform(PUBLISHED, replace(run_of(words), diarization=diarization), aligner=aligner)
    return aligner.calls


def test_a_turns_last_words_said_under_the_next_speaker_reach_into_the_next_turn():
    # "slept." said while DOE's "Thank you." began: the ASR heard only DOE, so between the anchors
    # "Nobody" and "Thank" there is no room; the diarization has ROE talking on until 7.5 s
    barge = heard(OPENING, (S1, "Thanks, Jane. The talks went late. Nobody", 5.0), (S0, "Thank you.", 7.0))
    [(start, end, texts)] = aligned_runs(barge, Turn(0.0, 3.75, S0), Turn(5.0, 7.5, S1), Turn(7.0, 7.5, S0))
    assert texts == ("slept.",) and start == 6.75 and 7.0 < end <= 7.5
    # no diarization: only the anchors' room
    assert aligned_runs(barge) == [(6.75, 7.0, ("slept.",))]


def test_a_tail_heard_in_pieces_under_the_next_speaker_still_reaches_into_the_next_turn():
    # the suite's farm-01: ROE's diarized turn ends just before the run ("price drops." under
    # DOE's "So"), and the segmentation hears ROE on in pieces 0.3 s apart: one stretch of talk
    barge = heard(OPENING, (S1, "Thanks, Jane. The talks went late. Nobody", 5.0), (S0, "Thank you.", 7.0))
    pieces = (Turn(0.0, 3.75, S0), Turn(5.0, 6.7, S1), Turn(7.0, 7.2, S1), Turn(7.5, 7.75, S1), Turn(7.0, 8.0, S0))
    [(start, end, texts)] = aligned_runs(barge, *pieces)
    assert texts == ("slept.",) and start == 6.75 and 7.0 < end <= 7.75
    # pieces further apart than OVERLAP_JOIN are not one stretch: only the anchors' room
    apart = (Turn(0.0, 3.75, S0), Turn(5.0, 6.7, S1), Turn(7.3, 7.75, S1), Turn(7.0, 8.0, S0))
    assert aligned_runs(barge, *apart) == [(6.75, 7.0, ("slept.",))]


def test_the_lead_does_not_carry_a_barge_ins_tail_past_its_speakers_talk(monkeypatch):
    # magazine-02's "comet.": aligned up to where the diarization ends its speaker, then moved on by
    # Whisper's lead; that end is the audio's, not Whisper's, so the word stops there
    monkeypatch.setattr(c.pause_timing, "lead", lambda ends, pauses: 0.2)
    barge = heard(OPENING, (S1, "Thanks, Jane. The talks went late. Nobody", 5.0), (S0, "Thank you.", 7.0))
    result = replace(run_of(barge), diarization=(Turn(0.0, 3.75, S0), Turn(5.0, 7.1, S1), Turn(7.0, 7.5, S0)))
    conformed = c.conform(PUBLISHED, result, aligner=Spread(), pauses=())
    slept = by_text(conformed, "slept.")
    assert slept.source == TimeSource.ALIGNED.value and slept.start == 6.95 and slept.end == 7.1
    assert by_text(conformed, "Nobody").start == 6.5 + 0.2  # the rest takes the lead


def test_a_turns_first_words_said_over_the_last_speaker_reach_back_into_it():
    # DOE's "Thank" under ROE's "slept.": from where the diarization starts DOE
    barge = heard(OPENING, (S1, "Thanks, Jane. The talks went late. Nobody slept.", 5.0), (S0, "you.", 7.0))
    assert aligned_runs(barge, Turn(0.0, 3.75, S0), Turn(5.0, 7.0, S1), Turn(6.6, 7.25, S0)) == [
        (6.6, 7.0, ("Thank",))]
    # a run over both turns' edges is cut in two, each looked for where its speaker talks
    both = heard(OPENING, (S1, "Thanks, Jane. The talks went late. Nobody", 5.0), (S0, "you.", 7.0))
    calls = aligned_runs(both, Turn(0.0, 3.75, S0), Turn(5.0, 7.3, S1), Turn(6.6, 7.25, S0))
    assert [texts for _, _, texts in calls] == [("slept.",), ("Thank",)]
    (tail_start, tail_end, _), (head_start, head_end, _) = calls
    assert tail_start == 6.75 and tail_end > 7.0 and (head_start, head_end) == (6.6, 7.0)
    # DOE starting inside the run (ledger-03's "When would" under "being late."): cut there too
    calls = aligned_runs(both, Turn(0.0, 3.75, S0), Turn(5.0, 7.3, S1), Turn(6.85, 7.25, S0))
    assert [(texts, start) for start, _, texts in calls] == [(("slept.",), 6.75), (("Thank",), 6.85)]
    assert calls[0][1] > 7.0 and calls[1][1] == 7.0


def test_a_turns_first_word_stretched_back_over_silence_starts_where_its_speakers_talk_does():
    # magazine-01's soft "This": between DOE's last word (2.75 s) and ROE's first heard one (5.0 s)
    # the aligner stretches "Thanks," from 2.75 s; the diarization starts ROE at 4.7 s
    late = heard(OPENING, (S1, "Jane. The talks went late. Nobody slept.", 5.0), (S0, "Thank you.", 7.0))
    result = replace(run_of(late), diarization=(Turn(0.0, 2.75, S0), Turn(4.7, 6.75, S1), Turn(7.0, 7.5, S0)))
    thanks = by_text(c.conform(PUBLISHED, result, aligner=Spread(), pauses=()), "Thanks,")
    assert thanks.source == TimeSource.ALIGNED.value and thanks.start == pytest.approx(4.7 - c.EDGE_MARGIN)
    # talk starting where the word does, or no diarization: the aligner's time stands
    early = replace(result, diarization=(Turn(0.0, 2.75, S0), Turn(2.75, 6.75, S1), Turn(7.0, 7.5, S0)))
    for unbounded in (early, replace(result, diarization=())):
        assert by_text(c.conform(PUBLISHED, unbounded, aligner=Spread(), pauses=()), "Thanks,").start == 2.75
    # a word of ordinary length is not stretched: the diarization's edge is no better than Whisper's
    heard_all = replace(run_of(ALL), diarization=(Turn(0.0, 4.0, S0), Turn(5.1, 8.5, S1), Turn(9.0, 9.5, S0)))
    assert by_text(c.conform(PUBLISHED, heard_all, pauses=()), "Thanks,").start == 5.0


def test_a_turns_last_word_carried_on_past_its_speakers_talk_ends_where_the_talk_does():
    # magazine-01's "I.": Whisper carried it 0.3 s into the room's tail, where the diarization ends
    words = (*heard(OPENING, (S1, "Thanks, Jane. The talks went late. Nobody", 5.0)),
             AttributedWord(7.25, 8.2, " slept.", S1), *heard((S0, "Thank you.", 9.0)))
    result = replace(run_of(words), diarization=(Turn(0.0, 2.75, S0), Turn(5.0, 7.5, S1), Turn(9.0, 9.5, S0)))
    slept = by_text(c.conform(PUBLISHED, result, pauses=()), "slept.")
    assert slept.source == TimeSource.ASR.value and slept.end == pytest.approx(7.5 + c.EDGE_MARGIN)
    # without pauses no time is corrected, this one neither
    assert by_text(c.conform(PUBLISHED, result), "slept.").end == 8.2


def test_a_whole_turn_the_asr_missed_under_the_turn_around_it_is_spoken_where_its_speaker_talks():
    # ledger-03's "When would that happen?": ROE's whole turn said over DOE's words, which the
    # ASR heard alone; too little room for both between the anchors, but ROE is diarized there
    words = heard((S0, "Good morning. it'll be a long day. We start in", 0.0), (S0, "Thank you.", 3.8))
    result = replace(run_of(words), diarization=(Turn(0.0, 2.5, S0), Turn(2.45, 3.95, S1), Turn(3.8, 4.3, S0)))
    conformed = c.conform(PUBLISHED, result, aligner=Spread(), pauses=())
    roe = [w for w in conformed.words if w.speaker == "ROE"]
    assert all(w.source == TimeSource.ALIGNED.value for w in roe)
    assert roe[0].start >= 2.45 and roe[-1].end <= 3.95 and not conformed.unspoken
    # not diarized there: a line cut from the broadcast, as before
    cut = c.conform(PUBLISHED, replace(result, diarization=(Turn(0.0, 2.5, S0), Turn(3.8, 4.3, S0))),
                    aligner=Spread(), pauses=())
    assert {w.source for w in cut.words if w.speaker == "ROE"} == {TimeSource.UNSPOKEN.value}
