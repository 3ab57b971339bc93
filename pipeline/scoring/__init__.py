"""Everything measured against what a publisher or a reference says: ``reference`` (published
transcripts parsed), ``metrics`` (WER, cpWER, WDER, DER, speaker naming) and ``report`` (the
check report, JSON and HTML). Pure: no torch, no models."""
