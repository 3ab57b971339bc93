"""The published transcript of an episode script, as a station's site would carry it (pure text).

What is published: turns, barge-ins and lines cut for time. What is not: backchannels ("Mm-hmm" over
someone else; publishers drop them), spoken station IDs, ad copy, and anything by a speaker marked
``unpublished``. Three formats, all read by ``pipeline/reference.py``:

* ``npr``: the scraped page text (site chrome above, the title, an unlabelled host opening that says
  "I'm NAME", ``NAME, TITLE:`` on first mention and the surname after it, ``(SOUNDBITE OF ...)``
  directions, the "Transcript provided by NPR" trailer and site text below);
* ``plain``: the title, then a ``FULL NAME: text`` paragraph a turn;
* ``html``: a page whose ``<div class="transcript">`` holds ``<p>`` paragraphs labelled as in npr.
"""

from __future__ import annotations

import html

from script import PUBLISHED, Cue, Episode, Line

CHROME_TOP = ["Play Live Radio", "Next Up:", "0:00 0:00", "Available On Air Stations"]
CHROME_BOTTOM = ["Sign up for the newsletter", "Donate today to keep public radio strong."]


def published_lines(episode: Episode) -> list[Line]:
    return [e for e in episode.events if isinstance(e, Line) and e.kind in PUBLISHED
            and episode.speakers[e.speaker].published]


def expected_turns(episode: Episode) -> list[tuple[str, str]]:
    """(speaker, text) turns as a parser should read them: consecutive lines of one speaker joined."""
    turns: list[tuple[str, str]] = []
    for line in published_lines(episode):
        if turns and turns[-1][0] == line.speaker:
            turns[-1] = (line.speaker, f"{turns[-1][1]} {line.text}")
        else:
            turns.append((line.speaker, line.text))
    return turns


def _paragraphs(episode: Episode, opening: bool) -> list[str]:
    """Labelled paragraphs (full label first, surname after) with NPR's stage directions.

    With opening, a first line by a HOST is the unlabelled opening paragraph, music before it unsaid.
    """
    published = published_lines(episode)
    out, seen, previous = [], set(), None
    for event in episode.events:
        if isinstance(event, Cue) and event.kind in ("music", "jingle") and (out or not opening):
            out.append("(SOUNDBITE OF MUSIC)")
            previous = None
        if not isinstance(event, Line) or event not in published:
            continue
        speaker = episode.speakers[event.speaker]
        if speaker.soundbite and event.speaker != previous:
            out.append("(SOUNDBITE OF ARCHIVED RECORDING)")
        if opening and not out and "HOST" in speaker.label:
            out.append(event.text)  # the host's unlabelled opening ("... I'm Nora Vance.")
        elif event.speaker == previous:
            out.append(event.text)  # a continuation paragraph
        else:
            label = speaker.label if event.speaker not in seen else event.speaker
            out.append(f"{label}: {event.text}")
        seen.add(event.speaker)
        previous = event.speaker
    return out


def npr(episode: Episode) -> str:
    h = episode.header
    body = _paragraphs(episode, opening=True)
    body[-1] += " Transcript provided by NPR, Copyright NPR."
    lines = [f"© {h['date'][-4:]} {h['station']}", *CHROME_TOP, "", h["title"], "", h["date"], "", ""]
    lines += [p + "\n" for p in body]
    lines += ["", *CHROME_BOTTOM]
    return "\n".join(lines) + "\n"


def plain(episode: Episode) -> str:
    out = [episode.header["title"], ""]
    for line in published_lines(episode):
        label = episode.speakers[line.speaker].label.split(",")[0]
        out += [f"{label}: {line.text}", ""]
    return "\n".join(out)


def html_page(episode: Episode) -> str:
    h = episode.header
    paragraphs = "\n".join(f"<p>{html.escape(p)}</p>" for p in _paragraphs(episode, opening=False))
    return (f"<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>{html.escape(h['title'])} : "
            f"{html.escape(h['station'])}</title></head>\n<body>\n<nav><a href=\"/\">Home</a> "
            "<a href=\"/schedule\">Schedule</a> <a href=\"/donate\">Donate</a></nav>\n"
            f"<article>\n<h1>{html.escape(h['title'])}</h1>\n<p class=\"byline\">{html.escape(h['show'])}, "
            f"{html.escape(h['date'])}</p>\n<div class=\"transcript\">\n{paragraphs}\n</div>\n</article>\n"
            f"<footer><p>Copyright {h['date'][-4:]} {html.escape(h['station'])}. All rights reserved.</p>"
            "</footer>\n</body></html>\n")


WRITERS = {"npr": (npr, ".txt"), "plain": (plain, ".txt"), "html": (html_page, ".html")}


def write(episode: Episode) -> tuple[str, str]:
    """(text, extension) of the episode's published transcript."""
    writer, ext = WRITERS[episode.header["format"]]
    return writer(episode), ext


def word_counts(episode: Episode) -> dict[str, int]:
    counts: dict[str, int] = {}
    for line in published_lines(episode):
        counts[line.speaker] = counts.get(line.speaker, 0) + len(line.text.split())
    return counts
