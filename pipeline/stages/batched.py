"""faster-whisper's batched decoding on CPU: the same transcript in less memory, and on a freed core.

Two changes to faster-whisper's ``BatchedInferencePipeline`` that leave every number it computes
as it was:

* :class:`SmallBatches` (installed on the CPU model when it loads): the encoder and the word
  alignment take the batch two windows at a time, the decoder four. CTranslate2 holds what
  the whole batch needs at once (580 MB of encoder self-attention scores for a batch of 8, 370 MB
  of decoder beams); each window is computed on its own either way. After each step the freed
  memory goes back to the system (:func:`pipeline.runtime.release_memory`).
* :class:`CpuBatchedPipeline`: the batches take the core diarization frees. Beside diarization
  (``run.parallel``) ASR runs on the cores diarization leaves, one of two, and when diarization
  ends first its core would idle. On a CTranslate2 model with two workers (``num_workers=2``: two
  batches at once, the weights shared) the calling thread computes the batches from the first,
  as faster-whisper does, and once ``spare`` is set a helper thread computes them from the last
  (:class:`Batches`). A batch's encoding and decoding are the same computation on the same input
  wherever they run, and what runs in order (segments, word timestamps, which carry from one
  batch to the next) still runs in order in the calling thread.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from functools import partial
from typing import Any

import numpy as np
from faster_whisper import BatchedInferencePipeline

from pipeline.runtime import release_memory

logger = logging.getLogger(__name__)

#: how often the helper looks whether it may start (seconds)
POLL_S = 0.1
#: windows the encoder and the word alignment take at once on the CPU
SUB_BATCH = 2
#: windows decoded at once: a batch of 8 held 370 MB while it decoded (5 beams each), 4 hold 130 MB
GENERATE_BATCH = 4


class SmallBatches:
    """A CTranslate2 Whisper model that encodes, aligns and decodes a few windows at a time.

    CTranslate2 holds what each window needs for the whole batch at once: the encoder's
    self-attention scores (8 heads x 1500 x 1500 floats, 72 MB a window), the alignment's cross-
    attention, the decoder's beams. Each window is computed on its own either way, so the
    results are bit for bit those of the whole batch (checked in tests/stages/test_batched.py).
    ``size`` windows at a time for the encoder and the alignment, :data:`GENERATE_BATCH` for
    decoding, which shares more work between windows. Everything else is the model's own
    (attributes are looked up on it).
    """

    def __init__(self, model, size: int = SUB_BATCH) -> None:
        self._model, self._size = model, size

    def __getattr__(self, name: str) -> Any:
        return getattr(self._model, name)

    def encode(self, features, to_cpu: bool = False):
        windows = np.asarray(features)
        if windows.ndim < 3 or len(windows) <= self._size:
            return _released(self._model.encode(features, to_cpu=to_cpu))
        parts = [np.asarray(self._model.encode(_storage(windows[i:i + self._size]), to_cpu=to_cpu))
                 for i in range(0, len(windows), self._size)]
        return _released(_storage(np.concatenate(parts)))

    def align(self, features, start_sequence, text_tokens, num_frames, **kwargs):
        windows = np.asarray(features)
        if len(windows) <= self._size:
            return _released(self._model.align(features, start_sequence, text_tokens, num_frames, **kwargs))
        results = []
        for i in range(0, len(windows), self._size):
            frames = num_frames[i:i + self._size] if isinstance(num_frames, list) else num_frames
            results += self._model.align(_storage(windows[i:i + self._size]), start_sequence,
                                         text_tokens[i:i + self._size], frames, **kwargs)
        return _released(results)

    def generate(self, features, prompts, **kwargs):
        windows = np.asarray(features)
        if len(windows) <= GENERATE_BATCH:
            return _released(self._model.generate(features, prompts, **kwargs))
        results = []
        for i in range(0, len(windows), GENERATE_BATCH):
            results += self._model.generate(_storage(windows[i:i + GENERATE_BATCH]), prompts[i:i + GENERATE_BATCH],
                                            **kwargs)
        return _released(results)


def _released(result: Any) -> Any:
    """``result``, once the memory the step freed has gone back to the system (``release_memory``)."""
    release_memory()
    return result


def _storage(array: np.ndarray):
    import ctranslate2

    return ctranslate2.StorageView.from_array(np.ascontiguousarray(array))


class Batches:
    """Batches computed by the caller in order and, once allowed, by a helper from the last.

    The caller takes them with :meth:`next`, one after the other; :meth:`help` (another thread)
    claims the last batch nobody has started, computes it, and goes on backwards until the two
    meet. ``compute(batch)`` is the work; its result (or exception) reaches the caller in order.
    """

    def __init__(self, batches: list[np.ndarray], compute: Callable[[np.ndarray], Any]) -> None:
        self.batches, self.compute = batches, compute
        self.lock = threading.Lock()
        self.front, self.back = 0, len(batches)  # the caller's next batch; the helper's are >= back
        self.ready = [threading.Event() for _ in batches]
        self.results: dict[int, Any] = {}
        self.stopped = threading.Event()
        self.helped = 0

    def next(self, features: np.ndarray | None = None) -> Any:
        """The result of the next batch in order (``features``, when given, must be that batch)."""
        with self.lock:
            k = self.front
            self.front += 1
            mine = k < self.back
        if features is not None and not _same(features, self.batches[k]):
            raise RuntimeError(f"batch {k} is not the one faster-whisper asked for")
        if mine:
            return self.compute(self.batches[k])
        self.ready[k].wait()
        result = self.results.pop(k)
        if isinstance(result, BaseException):
            raise result
        return result

    def help(self, allowed: threading.Event) -> None:
        """Wait until ``allowed``, then compute batches from the last until the caller's turn."""
        while not allowed.wait(POLL_S):
            if self.stopped.is_set():
                return
        while not self.stopped.is_set():
            with self.lock:
                if self.back <= self.front:
                    return
                self.back -= 1
                k = self.back
            try:
                self.results[k] = self.compute(self.batches[k])
                self.helped += 1
            except BaseException as e:  # noqa: BLE001 - the caller raises it in its turn
                self.results[k] = e
            self.ready[k].set()

    def stop(self) -> None:
        self.stopped.set()


def _same(a: np.ndarray, b: np.ndarray) -> bool:
    """Whether ``a`` and ``b`` are the same stretch of one array (a slice taken twice)."""
    return a.shape == b.shape and a.__array_interface__["data"][0] == b.__array_interface__["data"][0]


class CpuBatchedPipeline(BatchedInferencePipeline):
    """``BatchedInferencePipeline`` whose batches a helper thread shares once a core is free.

    ``model`` is a faster-whisper ``WhisperModel`` on the CPU. With ``spare`` (an event another
    stage sets when it frees its core) and a model loaded with ``num_workers`` 2 or more, a helper
    thread computes batches too once ``spare`` is set. ``last_helped`` counts the batches the
    helper computed.
    """

    def __init__(self, model, spare: threading.Event | None = None) -> None:
        super().__init__(model)
        self.spare = spare if spare is not None and getattr(model.model, "num_workers", 1) >= 2 else None
        self.batches: Batches | None = None
        self.last_helped = 0

    def _batched_segments_generator(self, features, tokenizer, chunks_metadata, batch_size, options, log_progress):
        if self.spare is None:
            yield from super()._batched_segments_generator(features, tokenizer, chunks_metadata, batch_size,
                                                           options, log_progress)
            return
        compute = partial(BatchedInferencePipeline.generate_segment_batched, self, tokenizer=tokenizer, options=options)
        batches = Batches([features[i:i + batch_size] for i in range(0, len(features), batch_size)], compute)
        helper = threading.Thread(target=batches.help, args=(self.spare,), name="asr-spare-core", daemon=True)
        self.batches = batches
        helper.start()
        try:
            yield from super()._batched_segments_generator(features, tokenizer, chunks_metadata, batch_size,
                                                           options, log_progress)
        finally:
            batches.stop()
            helper.join()
            self.batches = None
            self.last_helped += batches.helped
            logger.debug("%d of %d batches on the spare core", batches.helped, len(batches.batches))

    def generate_segment_batched(self, features, tokenizer, options):
        if self.batches is None:  # not from the batch loop
            return super().generate_segment_batched(features, tokenizer, options)
        return self.batches.next(features)
