"""Published transcripts to typed turns: the real NPR seed, HTML, STM, plain lines, arbitrary text."""

from __future__ import annotations

import html
import importlib.util
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pipeline.errors import ReferenceError
from pipeline.scoring.reference import load, load_stm_segments, parse, parse_html, parse_stm, parse_text
from pipeline.types import Reference

SEED = Path("/work/shared/seeds/000_966120f5ee3f0c58.txt")
if not SEED.exists():  # the seed also travels beside the repository
    SEED = Path(__file__).resolve().parents[3] / "shared/seeds/000_966120f5ee3f0c58.txt"
needs_seed = pytest.mark.skipif(not SEED.exists(), reason="the NPR seed transcript is not here")

SEED_ORDER = [
    "WERTHEIMER", "KERRY", "WERTHEIMER", "KELEMEN", "WERTHEIMER", "KELEMEN", "WERTHEIMER",
    "LAVROV", "WERTHEIMER", "KELEMEN", "WERTHEIMER", "KELEMEN", "WERTHEIMER", "KELEMEN",
]
BOILERPLATE = ["Michigan State", "Public Media", "Play Live Radio", "Next Up", "0:00", "On Air Stations",
               "Transcript provided", "Copyright", "Donate", "Journalism at this station", "generosity",
               "Cease-Fire", "©"]


def _sample(name: str) -> Path:
    spec = importlib.util.find_spec("pyannote.audio")
    if spec is None or not spec.submodule_search_locations:
        pytest.skip("pyannote.audio is not installed")
    path = Path(next(iter(spec.submodule_search_locations))) / "sample" / name
    if not path.exists():
        pytest.skip(f"pyannote's {name} is not installed")
    return path


# -- the real NPR page text -------------------------------------------------------------------


@needs_seed
def test_seed_speakers_turns_and_title():
    ref = load(SEED)
    assert ref.title == "NATO, Russia Aiming For Syria Cease-Fire"
    assert ref.speakers == ("WERTHEIMER", "KERRY", "KELEMEN", "LAVROV")
    assert [t.speaker for t in ref.turns] == SEED_ORDER
    assert len(ref.turns) == 14


@needs_seed
def test_seed_first_and_last_words():
    turns = load(SEED).turns
    first, last = turns[0].text.split(), turns[-1].text.split()
    assert first[:4] == ["This", "is", "WEEKEND", "EDITION"]
    assert first[-3:] == ["make", "it", "happen."]
    assert turns[1].text.startswith("If the international community")
    assert turns[-1].text == "Thank you, Linda."
    assert (last[0], last[-1]) == ("Thank", "Linda.")
    assert turns[-2].text == "NPR's Michele Kelemen in Munich, thank you very much."


@needs_seed
def test_seed_has_no_boilerplate_or_labels_in_words():
    text = " ".join(t.text for t in load(SEED).turns)
    for chrome in BOILERPLATE:
        assert chrome not in text
    for label in ("BYLINE", "KELEMEN:", "JOHN KERRY:", "SERGEI LAVROV:"):
        assert label not in text


@needs_seed
def test_seed_aliases_and_full_names():
    ref = load(SEED)
    assert ref.aliases == {
        "LINDA WERTHEIMER": "WERTHEIMER", "WERTHEIMER": "WERTHEIMER", "JOHN KERRY": "KERRY",
        "MICHELE KELEMEN": "KELEMEN", "KELEMEN": "KELEMEN", "SERGEI LAVROV": "LAVROV",
    }
    assert ref.full_names == {
        "WERTHEIMER": "LINDA WERTHEIMER", "KERRY": "JOHN KERRY",
        "KELEMEN": "MICHELE KELEMEN", "LAVROV": "SERGEI LAVROV",
    }


@needs_seed
def test_parse_of_the_seed_text_equals_load_and_round_trips():
    text = SEED.read_text(encoding="utf-8")
    ref = parse(text, source=str(SEED))
    assert ref == load(SEED)
    from pipeline.types import to_dict
    assert Reference.from_dict(to_dict(ref)) == ref


# -- HTML ------------------------------------------------------------------------------------


def _seed_paragraphs() -> list[str]:
    lines = [ln.strip() for ln in SEED.read_text(encoding="utf-8").splitlines() if ln.strip()]
    start = lines.index("NATO, Russia Aiming For Syria Cease-Fire") + 1
    end = next(i for i, ln in enumerate(lines) if ln.startswith("Journalism at this station"))
    body = lines[start:end]
    body[-1] = body[-1].replace(" Transcript provided by NPR, Copyright NPR.", "")
    return body


def _npr_page(paragraphs: list[str], *, transcript_div: bool = True) -> str:
    ps = "\n".join(f"      <p>{html.escape(p, quote=False).replace(chr(39), '&#8217;')}</p>" for p in paragraphs)
    inner = (f'    <div class="transcript storytext">\n{ps}\n'
             '      <p class="disclaimer">Copyright &copy; 2016 NPR. All rights reserved. Visit our website'
             ' terms of use and permissions pages at www.npr.org for further information.</p>\n    </div>'
             if transcript_div else ps)
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <title>NATO, Russia Aiming For Syria Cease-Fire : NPR</title>
  <script>window.dataLayer = [{{"page": "transcript"}}]; if (a < b) {{ x = "KERRY: no"; }}</script>
  <style>p {{ margin: 0 }}</style>
</head>
<body>
  <nav class="global-nav"><ul><li><a href="/">Home</a></li><li><a href="/news">News</a></li>
    <li><a href="/donate">Donate</a></li></ul></nav>
  <header><div class="player">Play Live Radio</div><div>Next Up:</div><span>0:00</span></header>
  <main><article>
    <div class="slug">Middle East</div>
    <h1>NATO, Russia Aiming For Syria Cease-Fire</h1>
    <p class="byline">February 13, 2016 &middot; 8:05 AM ET</p>
{inner}
  </article></main>
  <aside><h3>More Stories From NPR</h3><p>Something else: entirely.</p></aside>
  <footer><p>&copy; 2024 npr</p><p>Donate</p></footer>
</body>
</html>
"""


@needs_seed
@pytest.mark.parametrize("transcript_div", [True, False])
def test_html_page_parses_like_the_seed(tmp_path, transcript_div):
    page = tmp_path / "story.html"
    page.write_text(_npr_page(_seed_paragraphs(), transcript_div=transcript_div), encoding="utf-8")
    ref, seed = load(page), load(SEED)
    assert ref.title == "NATO, Russia Aiming For Syria Cease-Fire"
    assert ref.speakers == seed.speakers
    assert [t.speaker for t in ref.turns] == SEED_ORDER
    assert [t.text for t in ref.turns] == [t.text.replace("'", "’") for t in seed.turns]
    assert parse(page.read_text(encoding="utf-8")) == ref  # content detection, no extension


def test_html_entities_and_unclosed_paragraphs():
    page = ("<html><body><h1>Title &amp; More</h1><p>JANE DOE, HOST: Caf&eacute; talk &mdash; fine."
            "<p>DOE: Done.</body></html>")
    ref = parse_html(page)
    assert ref.title == "Title & More"
    assert [(t.speaker, t.text) for t in ref.turns] == [("DOE", "Café talk — fine. Done.")]


def test_html_title_falls_back_to_the_title_element():
    page = ("<html><head><title>Trains Are Late : NPR</title></head><body><div class=transcript>"
            "<p>BOB SMITH: Trains are late.</p></div></body></html>")
    assert parse(page).title == "Trains Are Late"


# -- STM -------------------------------------------------------------------------------------


def test_pyannote_sample_stm():
    ref = load(_sample("sample.stm"))
    assert ref.speakers == ("Diane", "Sheila")
    assert [t.speaker for t in ref.turns] == ["Diane", "Sheila"] * 4 + ["Diane"]
    assert ref.turns[2].text == "Oh, hello. I didn't know you were there."
    assert ref.turns[-1].text == "Oh, I don't hear that in New Jersey now."
    assert ref.aliases == {"Diane": "Diane", "Sheila": "Sheila"}


def test_load_stm_segments():
    segments = load_stm_segments(_sample("sample.stm"))
    assert len(segments) == 13
    assert segments[0] == ("Diane", 6.68, 7.16, "Hello?")
    assert segments[1] == ("Sheila", 7.634, 8.155, "Hello?")


def test_stm_comments_tags_and_ignored_segments(tmp_path):
    text = (";; CATEGORY \"0\" \"\" \"\"\n"
            "rec 1 Bob 0.0 1.5 <o,f0,male> hello there\n"
            "rec 1 Bob 1.5 2.0 (uh) again\n"
            "rec 1 excluded_region 2.0 3.0 ignore_time_segment_in_scoring\n"
            "rec 1 Ann 3.0 4.0 hi bob\n")
    ref = parse(text)
    assert [(t.speaker, t.text) for t in ref.turns] == [("Bob", "hello there again"), ("Ann", "hi bob")]
    path = tmp_path / "x.stm"
    path.write_text(text, encoding="utf-8")
    assert load_stm_segments(path)[0] == ("Bob", 0.0, 1.5, "hello there")
    assert parse_stm(text) == ref


# -- plain lines and the rules of labels -----------------------------------------------------


def test_plain_lines_stage_directions_and_continuations():
    text = """STEVE INSKEEP, HOST: Good morning. (LAUGHTER) Let's begin [inaudible] now.

(SOUNDBITE OF ARCHIVED BROADCAST)

UNIDENTIFIED MAN #1: We shall see.
UNIDENTIFIED MAN #2: Indeed.
INSKEEP: A second paragraph follows,
and it continues here.
ROBERT SMITH JR.: Thanks.
SMITH: Again."""
    ref = parse_text(text)
    assert ref.speakers == ("INSKEEP", "UNIDENTIFIED MAN #1", "UNIDENTIFIED MAN #2", "SMITH")
    assert [(t.speaker, t.text) for t in ref.turns] == [
        ("INSKEEP", "Good morning. Let's begin now."),
        ("UNIDENTIFIED MAN #1", "We shall see."),
        ("UNIDENTIFIED MAN #2", "Indeed."),
        ("INSKEEP", "A second paragraph follows, and it continues here."),
        ("SMITH", "Thanks. Again."),
    ]
    assert ref.full_names["SMITH"] == "ROBERT SMITH JR."
    assert ref.full_names["INSKEEP"] == "STEVE INSKEEP"


def test_two_people_with_one_surname_stay_apart():
    ref = parse_text("JANE DOE, HOST: Hello John.\nJOHN DOE: Hello Jane.\nDOE: Host again.")
    assert ref.speakers == ("DOE", "JOHN DOE")
    assert [t.speaker for t in ref.turns] == ["DOE", "JOHN DOE", "DOE"]


def test_two_people_with_one_surname_called_by_first_name_later():
    ref = parse_text("ROSA DELGADO: Good morning.\nMARISOL DELGADO: Thanks.\nROSA: Warm.\nMARISOL: True.\n"
                     "QUINN: And you?\nROSA: Yes.")
    assert ref.speakers == ("ROSA", "MARISOL", "QUINN")
    assert [t.speaker for t in ref.turns] == ["ROSA", "MARISOL", "ROSA", "MARISOL", "QUINN", "ROSA"]
    assert ref.full_names["ROSA"] == "ROSA DELGADO" and ref.full_names["MARISOL"] == "MARISOL DELGADO"


def test_a_first_name_label_is_the_one_person_of_that_first_name():
    ref = parse_text("WARREN PIKE: Hello.\nMARTIN: Hi Warren.\nWARREN: Hi.\nRACHEL MARTIN, HOST: Back to you."
                     "\nMARTIN FRANK: Me too.")
    assert [t.speaker for t in ref.turns] == ["PIKE", "MARTIN", "PIKE", "MARTIN", "FRANK"]


def test_an_opening_before_a_stage_direction_and_a_soundbite_is_the_hosts():
    text = ("This is WEEKEND EDITION from NPR News. I'm Linda Wertheimer in for Scott Simon.\n\n"
            "(SOUNDBITE OF ARCHIVED RECORDING)\n\nJOHN KERRY: If the community misses it.\n\n"
            "WERTHEIMER: Kerry spoke today.")
    ref = parse_text(text)
    assert [t.speaker for t in ref.turns] == ["WERTHEIMER", "KERRY", "WERTHEIMER"]
    assert ref.turns[0].text == "This is WEEKEND EDITION from NPR News. I'm Linda Wertheimer in for Scott Simon."
    hosted = parse_text("Good morning, the news starts now with a story about trains.\n(MUSIC)\n"
                        "BOB SMITH: Trains.\nRACHEL MARTIN, HOST: Late.")
    assert [t.speaker for t in hosted.turns] == ["MARTIN", "SMITH", "MARTIN"]


def test_unnamed_opening_goes_to_the_only_host_else_is_dropped():
    opening = "Good morning, the news starts now with a story about trains.\n"
    with_host = parse_text(opening + "RACHEL MARTIN, HOST: Trains are late.\nBOB: Yes.")
    assert with_host.turns[0].text.startswith("Good morning")
    assert with_host.turns[0].speaker == "MARTIN"
    no_host = parse_text(opening + "BOB SMITH: Trains are late.")
    assert [t.text for t in no_host.turns] == ["Trains are late."]


@pytest.mark.parametrize("opening", [
    "This is THE MORNING LEDGER. I'm Nora Vance. The City Council voted last night on the budget.",
    "This is THE MORNING LEDGER. I'm Nora Vance, and The City Council voted last night on the budget.",
    "This is THE MORNING LEDGER. I'm Nora Vance! Today The Council voted last night on the budget.",
])
def test_an_introduced_name_ends_with_its_sentence(opening):
    ref = parse_text(opening + "\n\nSAM OKAFOR, BYLINE: It did.\n\nVANCE: Thanks.")
    assert ref.speakers == ("VANCE", "OKAFOR")
    assert ref.turns[0].speaker == "VANCE" and ref.turns[0].text.startswith("This is")


def test_non_speaker_labels_and_times_are_not_speakers():
    ref = parse_text("NOTE: this is a note.\n10:30 a.m.\nMARY: Hi.\nNext Up: more\nhttp://x.org: no")
    assert ref.speakers == ("MARY",)
    assert ref.turns[0].text == "Hi."


@pytest.mark.parametrize("text", ["", "   \n\n", "Just some prose with no labels at all.", "0:00 0:00",
                                  "(SOUNDBITE OF MUSIC)\nKERRY: (LAUGHTER)"])
def test_no_transcript_raises_reference_error_naming_the_source(text):
    with pytest.raises(ReferenceError, match="story.txt"):
        parse(text, source="story.txt")


def test_missing_file_raises_reference_error(tmp_path):
    with pytest.raises(ReferenceError, match="nope.txt"):
        load(tmp_path / "nope.txt")
    with pytest.raises(ReferenceError, match="nope.stm"):
        load_stm_segments(tmp_path / "nope.stm")


# -- properties on arbitrary text -------------------------------------------------------------

_NAME = st.from_regex(r"[A-Z][A-Z'\-]{1,8}( [A-Z][A-Z'\-]{1,8}){0,2}", fullmatch=True)
_LINE = st.one_of(
    st.text(max_size=60),
    st.builds(lambda n, t: f"{n}: {t}", _NAME, st.text(max_size=40)),
    st.builds(lambda n, t: f"{n}, HOST: {t}", _NAME, st.text(max_size=40)),
    st.builds(lambda n: f"This is the news. I'm {n.title()} here, with more.", _NAME),
    st.sampled_from(["(SOUNDBITE OF MUSIC)", "Play Live Radio", "0:00 0:00", "<p>", "</div>", ";; c",
                     "Transcript provided by NPR, Copyright NPR.", "a 1 B 0.5 1.0 words",
                     '<div class="transcript">', "<p>KERRY: Hello &amp; goodbye.</p>", "<h1>T</h1>"]),
)


def _check_properties(text: str, ref: Reference) -> None:
    seen = " ".join(html.unescape(text).upper().split())
    for speaker in ref.speakers:
        assert speaker.upper() in seen, speaker
    assert ref.speakers == tuple(dict.fromkeys(t.speaker for t in ref.turns))
    assert all(t.text.strip() for t in ref.turns)
    assert set(ref.aliases.values()) <= set(ref.speakers)
    assert all(a.speaker != b.speaker for a, b in zip(ref.turns, ref.turns[1:], strict=False))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(max_size=300))
def test_arbitrary_text_never_crashes_or_invents_speakers(text):
    try:
        ref = parse(text, source="fuzz")
    except ReferenceError as e:
        assert "fuzz" in str(e)
        return
    _check_properties(text, ref)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(_LINE, max_size=12), st.sampled_from(["\n", "\n\n"]))
def test_transcript_like_text_never_crashes_or_invents_speakers(lines, sep):
    text = sep.join(lines)
    try:
        ref = parse(text, source="fuzz")
    except ReferenceError as e:
        assert "fuzz" in str(e)
        return
    _check_properties(text, ref)
