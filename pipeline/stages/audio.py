"""Any common audio file to 16 kHz mono float32, in memory.

Decoding goes through pydub, which runs ffmpeg; every failure is an :class:`AudioError` that
names the file and says what is wrong with it. The result is an :class:`~pipeline.types.Audio`;
the other stages take it (or its samples), never the path.

A file that decodes to less than its container declares (ffprobe's duration: an MP3's Xing/LAME
frame count, FLAC's STREAMINFO, an MP4's header) ends early: a truncated or unfinished upload, an
error rather than a short transcript. The tolerance is the larger of 1 s and 2 % of the declared
duration, as VBR estimates and encoder padding differ by a fraction of a second. A PCM WAV
declares its length in its header, read with :mod:`wave` (ffprobe clamps it to the file). A
duration ffprobe only estimates from the bitrate and the file's size (an MP3 without a Xing
header, ADTS AAC) is no declaration, nor is one it reads from the data (Ogg): such a file, and
one that declares no duration, is taken as it is.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import shutil
import subprocess
import wave
from pathlib import Path

import numpy as np

from pipeline.errors import AudioError
from pipeline.types import Audio

logger = logging.getLogger(__name__)

SAMPLE_RATE = 16_000
MIN_DURATION = 0.5  # seconds; Whisper and pyannote have nothing to work with below this
#: a decoded file may fall short of its declared duration by this much: max(seconds, fraction)
SHORTFALL_SECONDS, SHORTFALL_FRACTION = 1.0, 0.02
EXTENSIONS = (".wav", ".flac", ".mp3", ".m4a", ".aac", ".mp4", ".ogg", ".opus", ".oga", ".webm",
              ".wma", ".aiff", ".aif")


def file_sha256(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def load(path: str | Path, *, min_duration: float = MIN_DURATION) -> Audio:
    """Decode ``path`` to 16 kHz mono float32, or raise :class:`AudioError` saying why not."""
    path = Path(path)
    _check_file(path)
    segment = _decode(path)
    segment = segment.set_channels(1).set_frame_rate(SAMPLE_RATE).set_sample_width(2)
    raw = segment.raw_data  # a WAV cut mid-sample leaves an odd byte
    samples = np.frombuffer(raw[: len(raw) // 2 * 2], dtype=np.int16).astype(np.float32) / 32768.0
    if len(samples) == 0:
        raise AudioError(path, "contains no audio samples")
    duration = len(samples) / SAMPLE_RATE
    if duration < min_duration:
        raise AudioError(path, f"is too short to transcribe ({duration:.2f} s < {min_duration} s)")
    declared = declared_duration(path)
    if declared is not None and duration < declared - max(SHORTFALL_SECONDS, SHORTFALL_FRACTION * declared):
        raise AudioError(path, f"ends early: {duration:.1f} s decoded of the {declared:.1f} s its header "
                               "declares (truncated, or still being uploaded?)")
    logger.debug("%s: %.1f s of audio (%s s declared)", path, duration, declared)
    return Audio(str(path), samples, SAMPLE_RATE, file_sha256(path))


def _check_file(path: Path) -> None:
    if not path.exists():
        raise AudioError(path, "no such file")
    if path.is_dir():
        raise AudioError(path, "is a directory, not an audio file")
    try:
        size = path.stat().st_size
        with open(path, "rb"):
            pass
    except OSError as e:
        raise AudioError(path, f"cannot be read ({e.strerror})") from e
    if size == 0:
        raise AudioError(path, "is empty (0 bytes)")
    if shutil.which("ffmpeg") is None:
        raise AudioError(path, "cannot be decoded: ffmpeg is not installed (apt-get install ffmpeg)")


def declared_duration(path: str | Path) -> float | None:
    """The duration (seconds) the file's container declares, by ffprobe; None when it declares
    none or ffprobe cannot say (the decoded audio is then all there is to go by)."""
    if Path(path).suffix.lower() == ".wav":
        with contextlib.suppress(wave.Error, EOFError, OSError):
            with wave.open(str(path), "rb") as w:
                frames, rate, frame_bytes = w.getnframes(), w.getframerate(), w.getsampwidth() * w.getnchannels()
            if 0 < frames < 0xFFFF_FF00 // frame_bytes and rate > 0:  # streaming writers leave 0 or the maximum
                return frames / rate
    if shutil.which("ffprobe") is None:
        logger.debug("ffprobe is not installed; %s: declared duration not checked", path)
        return None
    command = ["ffprobe", "-v", "warning", "-show_entries", "format=duration", "-of", "csv=p=0",
               "-i", f"file:{path}"]  # file: so that no name is read as an option or a protocol
    try:
        proc = subprocess.run(command, capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired) as e:
        logger.debug("%s: ffprobe failed (%s)", path, e)
        return None
    if proc.returncode != 0 or "Estimating duration from bitrate" in proc.stderr:
        return None
    try:
        return float(proc.stdout.strip())
    except ValueError:  # "N/A": no declared duration
        return None


def _decode(path: Path):
    from pydub import AudioSegment
    from pydub.exceptions import CouldntDecodeError

    try:
        # ffmpeg downmixes and resamples while decoding, so a long 48 kHz stereo episode never
        # sits in memory at its source rate (WAV is read directly and converted afterwards).
        return AudioSegment.from_file(path, parameters=["-ac", "1", "-ar", str(SAMPLE_RATE)])
    except CouldntDecodeError as e:
        raise AudioError(path, f"is not a readable audio file ({_ffmpeg_reason(str(e))})") from e
    except (IndexError, KeyError, ValueError) as e:  # pydub on odd ffprobe output
        raise AudioError(path, f"is not a readable audio file ({e})") from e


def _ffmpeg_reason(message: str) -> str:
    """The telling line of ffmpeg's stderr, which pydub embeds in its exception."""
    lines = [ln.strip() for ln in message.splitlines() if ln.strip()]
    telling = [
        ln for ln in lines
        if any(k in ln for k in ("Invalid data", "could not find", "Error", "error", "does not contain"))
        and not ln.startswith(("ffmpeg version", "built with", "configuration:"))
    ]
    return (telling[-1] if telling else (lines[-1] if lines else "ffmpeg failed"))[:200]
