"""A job is one episode; :func:`process` is the one path every command and executor takes."""

from pipeline.jobs.job import Job, Outcome, process, read_inputs
from pipeline.jobs.models import Models

__all__ = ["Job", "Models", "Outcome", "process", "read_inputs"]
