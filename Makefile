# RAdaServe: `make run` serves the embedded model; `make test` runs the test suite.
SHELL := /bin/bash
SWIFT ?= swift
APT_PACKAGES := libopenblas-dev libpng-dev libjpeg-dev pkg-config dataset-fashion-mnist
VENV := .venv
PYTHON := $(VENV)/bin/python

.PHONY: deps build run test tools-env clean

## Install the system packages the build and the tests need (only those missing).
deps:
	@missing=""; for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing; \
	fi

build: deps
	$(SWIFT) build -c release --product rada

run: build
	.build/release/rada serve

test: deps
	$(SWIFT) test

## Python for tools/ only (reference outputs, training, peers); never needed by the server or tests.
tools-env: $(VENV)/.installed
$(VENV)/.installed: tools/requirements.txt
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install -q -r tools/requirements.txt
	touch $@

clean:
	rm -rf .build

## CLIP's BPE vocabulary in the Hugging Face layout, from the pinned open_clip wheel.
vocab: tools-env
	$(PYTHON) tools/make_clip_vocab.py $(or $(OUT),Tests/Fixtures/clip-vocab)

## Retrain the embedded model end to end: vocabulary, training (an estimated 16 min on 2 idle cores), fp16
## export, test-split evaluation (writes models/fashion-clip/eval.json).
.PHONY: model
model: tools-env
	$(PYTHON) tools/make_clip_vocab.py models/fashion-clip
	$(PYTHON) tools/train_fashion_clip.py --out models/fashion-clip
	$(PYTHON) tools/fashion_eval.py models/fashion-clip
