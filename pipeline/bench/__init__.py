"""``pipeline bench``: stage times, real-time factors and peak memory, beside openai-whisper's command."""

from pipeline.bench.bench import (
    TARGETS,
    BenchOptions,
    CpuMarks,
    failures,
    measure_file,
    run_bench,
    spawn,
    table,
    write_report,
)

__all__ = ["TARGETS", "BenchOptions", "CpuMarks", "failures", "measure_file", "run_bench", "spawn", "table",
           "write_report"]
