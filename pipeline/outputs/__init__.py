"""The output formats: ``writers`` is a registry of one writer per format."""
