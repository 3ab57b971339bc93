"""The stages of an episode, one module each: ``audio`` (decode), ``asr`` (transcribe),
``diarize`` (who speaks when; its networks in ``campplus`` and ``crops``), ``align`` (words to
speakers). Each takes and returns the project's own types (:mod:`pipeline.types`)."""
