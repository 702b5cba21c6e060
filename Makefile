# Grete's entry points. Everything a machine needs is installed from here (scripts/), never by hand.
SHELL := /bin/bash
.DEFAULT_GOAL := test

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
# Stamps make a repeated `make install` free until pyproject.toml changes.
INSTALLED       := $(VENV)/.installed-test
# Quix Streams pins confluent-kafka and pydantic below the versions Grete uses: it gets a
# venv of its own, used only by the Quix Streams test's application subprocess.
QUIX_VENV      := .venv-quix
QUIX_INSTALLED := $(QUIX_VENV)/.installed
BENCH_INSTALLED := $(VENV)/.installed-bench
# kafka-python 2.x for tests/compat/test_kafka_python_2.py: each release in a directory of its
# own, which the test puts on PYTHONPATH; the venv keeps kafka-python 3 for the other tests.
KAFKA_PYTHON_2 := $(shell grep -v '^\#' tests/compat/kafka-python-2.versions)
KAFKA_PYTHON_2_INSTALLED := $(KAFKA_PYTHON_2:%=$(VENV)/compat/kafka-python-%/.installed)

LISTENER   ?= PLAINTEXT://127.0.0.1:9092
DATA_DIR   ?= ./data
BENCH_ARGS ?=
PYTEST_ARGS ?=

.PHONY: install run cluster test system-deps bench

install: $(INSTALLED)

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(INSTALLED): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $@

run: install
	$(BIN)/grete serve --listeners $(LISTENER) --log-dirs $(DATA_DIR)

# ZooKeeper on 127.0.0.1:2181 and brokers 0-2 on 127.0.0.1:9092-9094, data under $(DATA_DIR).
cluster: install system-deps
	$(BIN)/python scripts/run-cluster.py --data $(DATA_DIR)

# Debian packages (kcat, a JDK, ZooKeeper): idempotent, apt-get update only when a package is unknown.
system-deps:
	bash scripts/install-system-deps.sh

$(QUIX_INSTALLED): Makefile
	$(PYTHON) -m venv $(QUIX_VENV)
	$(QUIX_VENV)/bin/python -m pip install --quiet 'quixstreams>=3.20,<4'
	touch $@

$(VENV)/compat/kafka-python-%/.installed: tests/compat/kafka-python-2.versions | $(BIN)/python
	rm -rf $(@D)
	$(BIN)/python -m pip install --quiet --no-deps --target $(@D) 'kafka-python==$*'
	touch $@

test: install system-deps $(QUIX_INSTALLED) $(KAFKA_PYTHON_2_INSTALLED)
	$(BIN)/python scripts/check-test-deps.py
	$(BIN)/python scripts/run-tests.py $(PYTEST_ARGS)

$(BENCH_INSTALLED): pyproject.toml $(INSTALLED)
	$(BIN)/python -m pip install --quiet -e '.[test,bench]'
	touch $@

# Grete against Tansu; e.g. make bench BENCH_ARGS='--quick' or BENCH_ARGS='--brokers tansu'
bench: $(BENCH_INSTALLED)
	$(BIN)/python bench/run.py $(BENCH_ARGS)
