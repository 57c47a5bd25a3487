# RAdaServe: `make run` serves the embedded model; `make test` runs the test suite.
SHELL := /bin/bash
SWIFT ?= swift
APT_PACKAGES := libopenblas-dev libblis4-serial libpng-dev libjpeg-dev pkg-config dataset-fashion-mnist
# What the tests add: a scratch PostgreSQL for the PostgreSQL store's tests, HAProxy for routing.
TEST_APT_PACKAGES := postgresql haproxy
VENV := .venv
PYTHON := $(VENV)/bin/python

.PHONY: deps build run test tools-env clean image-fixtures fuzz-images parity vocab tokenizer-fixtures tokenizer-tables tokenizer-corpus tokenizer-measure rada-fixtures fuzz fuzz-safetensors fuzz-multipart fuzz-json-images fuzz-tokenizer

## Install the system packages the build and the tests need (only those missing).
deps:
	@$(MAKE) --no-print-directory apt-install PACKAGES="$(APT_PACKAGES)"

.PHONY: apt-install test-deps
apt-install:
	@missing=""; for p in $(PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing; \
	fi

build: deps
	$(SWIFT) build -c release --product rada

run: build
	.build/release/rada serve

test-deps: deps
	@$(MAKE) --no-print-directory apt-install PACKAGES="$(TEST_APT_PACKAGES)"

# Builds every target (the CLI included, which no test target depends on), then runs the tests
# with a scratch PostgreSQL (loopback, free port; stopped and removed afterwards) whose URL the
# PostgreSQL store's tests read from RADA_TEST_POSTGRES_URL.
# The cluster failover test (ProxyTests.clusterFailover) is part of it.
test: test-deps tsan-pool
	$(SWIFT) build
	tools/pg-scratch.sh run $(SWIFT) test

## The cluster tests alone (ProxyTests): three replicas of the debug build on a scratch PostgreSQL
## behind HAProxy, 20 clients on 50 streams, kill -9 of one replica and SIGSTOP of another; every
## process it starts is stopped afterwards. Prints the takeover and error-window figures.
.PHONY: cluster-test
cluster-test: test-deps
	$(SWIFT) build --build-tests
	tools/pg-scratch.sh run $(SWIFT) test --skip-build --filter ProxyTests

## A local cluster on loopback: scratch PostgreSQL, CLUSTER_REPLICAS servers sharing it, HAProxy
## in front on CLUSTER_PORT (tools/cluster.sh); `make cluster-stop` stops all of it. The proxy
## lets one client address hold 128 connections: CLUSTER_MAX_CLIENT_CONNECTIONS=N (0: no limit).
CLUSTER_DIR ?= /tmp/rada-cluster
CLUSTER_REPLICAS ?= 3
CLUSTER_PORT ?= 8080
.PHONY: cluster cluster-stop
cluster: build test-deps
	CLUSTER_MAX_CLIENT_CONNECTIONS=$(CLUSTER_MAX_CLIENT_CONNECTIONS) tools/cluster.sh start $(CLUSTER_DIR) $(CLUSTER_REPLICAS) $(CLUSTER_PORT) $(CLUSTER_FLAGS)
cluster-stop:
	tools/cluster.sh stop $(CLUSTER_DIR)

## Browser test of the dashboard (Docs/ui.md): a live server with the embedded model (the release
## binary, built first; UI_TEST_RADA=.build/debug/rada uses a debug build as it is), Debian's
## headless chromium driven over the DevTools pipe (Python standard library only); screenshots
## in ui-test-out/. UI_TEST_FLAGS="--docs-image Docs/img/ui-dashboard.png" also refreshes the
## screenshot in Docs/.
UI_TEST_RADA ?= .build/release/rada
.PHONY: ui-test
ui-test: $(if $(filter .build/release/rada,$(UI_TEST_RADA)),build,deps)
	@$(MAKE) --no-print-directory apt-install PACKAGES="chromium dataset-fashion-mnist"
	python3 tools/ui_test.py --rada $(UI_TEST_RADA) --out ui-test-out $(UI_TEST_FLAGS)

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

## Image decoding / CLIP preprocessing fixtures (Pillow + transformers' CLIPImageProcessor).
image-fixtures: tools-env
	$(PYTHON) tools/make_image_fixtures.py $(or $(OUT),Tests/Fixtures/images)

## libFuzzer + ASan/UBSan run of the PNG/JPEG decoders and the resampler, seeded with the
## image fixtures; FUZZ_SECONDS bounds it (default 60). Crashes land in .build-fuzz/.
FUZZ_SECONDS ?= 60
FUZZ_CC ?= clang
fuzz-images:
	@mkdir -p .build-fuzz/corpus
	$(FUZZ_CC) -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
	  -fuse-ld=lld -ISources/CImageCodecs/include -ISources/CImageCodecs \
	  Fuzz/decode_image_fuzzer.c Sources/CImageCodecs/*.c -lpng16 -ljpeg -lm \
	  -o .build-fuzz/decode_image_fuzzer
	cd .build-fuzz && ./decode_image_fuzzer -max_total_time=$(FUZZ_SECONDS) -rss_limit_mb=2048 \
	  -timeout=10 -artifact_prefix=./ corpus ../Tests/Fixtures/images

## The decode-memory bound the server budgets with (rada_probe_image) against the peak RSS of
## real decodes of large PNGs and JPEGs (a few hundred MB of temporary files in .build-fuzz/).
DECODE_BOUND_CASES = png-gray8:16000000:1 png-gray8:1:4000000 png-rgb8:4000:4000 \
  png-gray1-interlaced:4000:4000 png-gray16-interlaced:4000:4000 png-rgba16-interlaced:2000:2000 \
  png-palette-trns-interlaced:4000:4000 jpeg-rgb:4000:4000 jpeg-rgb-progressive:4000:4000 \
  jpeg-gray-progressive:4000:4000 jpeg-rgb-progressive:65000:240 jpeg-rgb-progressive:240:65000
.PHONY: decode-bounds
decode-bounds:
	@mkdir -p .build-fuzz/bounds
	$(FUZZ_CC) -O2 -ISources/CImageCodecs/include -ISources/CImageCodecs Fuzz/decode_bounds.c \
	  Sources/CImageCodecs/*.c -lpng16 -ljpeg -lm -o .build-fuzz/decode_bounds
	@status=0; for case in $(DECODE_BOUND_CASES); do \
	  set -- $$(echo $$case | tr : ' '); file=.build-fuzz/bounds/$$1-$$2x$$3; \
	  .build-fuzz/decode_bounds write $$1 $$2 $$3 $$file && .build-fuzz/decode_bounds check $$file || status=1; \
	  rm -f $$file; done; exit $$status

## rada's kernel threads (thread_pool.c) under ThreadSanitizer: three callers, thousands of jobs,
## sleeping and spinning threads (Fuzz/thread_pool_race.c; a few seconds); then the same without
## it, at full speed, where thread start-up races show. Part of `make test`.
SWIFT_RUNTIME_LIB = $(abspath $(dir $(realpath $(shell command -v $(SWIFT))))/../lib/swift/linux)
.PHONY: tsan-pool
tsan-pool:
	@mkdir -p .build-fuzz
	$(FUZZ_CC) -g -O1 -fsanitize=thread -ISources/CNumerics/include Fuzz/thread_pool_race.c \
	  Sources/CNumerics/thread_pool.c -lpthread -L$(SWIFT_RUNTIME_LIB) -ldispatch -lBlocksRuntime \
	  -Wl,-rpath,$(SWIFT_RUNTIME_LIB) -o .build-fuzz/thread_pool_race
	TSAN_OPTIONS=halt_on_error=1 .build-fuzz/thread_pool_race
	$(FUZZ_CC) -O2 -ISources/CNumerics/include Fuzz/thread_pool_race.c Sources/CNumerics/thread_pool.c \
	  -lpthread -o .build-fuzz/thread_pool_plain
	.build-fuzz/thread_pool_plain

## Full-size parity of the CLIP towers with transformers (random ViT-B/32 and B/16, both layouts;
## writes parity-out/, about 1.2 GB; release build).
parity:
	PYTHON=$(PYTHON) tools/parity.sh

## Reference ids of CLIP's original tokenizer for the Swift tests (needs the vocab above).
tokenizer-fixtures: tools-env
	$(PYTHON) tools/make_tokenizer_fixtures.py

## The tokenizer's Swift tables (ftfy's badness rules and code pages, Python's and regex's
## Unicode classes), generated from the pinned ftfy / Python / regex; fails on other versions.
tokenizer-tables: tools-env
	$(PYTHON) tools/make_tokenizer_tables.py

## The committed differential corpus (seed 18) with OpenAI's tokenizer's ids.
tokenizer-corpus: tools-env
	$(PYTHON) tools/make_tokenizer_corpus.py 18 3000 Tests/Fixtures/tokenizer/corpus.json

## A fresh corpus of another seed (SEED, default 20261130) and the number of strings whose ids
## differ from the reference (goal: at most 3).
SEED ?= 20261130
tokenizer-measure: tools-env
	@mkdir -p .build/tokenizer-measure
	$(PYTHON) tools/make_tokenizer_corpus.py $(SEED) 3000 .build/tokenizer-measure/fresh-$(SEED).json
	$(SWIFT) build --build-tests
	RADA_TOKENIZER_CORPUS=$(CURDIR)/.build/tokenizer-measure/fresh-$(SEED).json \
	  $(SWIFT) test --skip-build --filter freshCorpusMismatches 2>&1 | grep -E "differ|  \"|passed|failed"

## RAda parity fixtures (PyTorch reference of the mask layer, written from Docs/rada.md's spec).
rada-fixtures: tools-env
	$(PYTHON) tools/rada_reference.py fixtures $(or $(OUT),Tests/Fixtures/rada)

## Retrain the embedded model end to end: vocabulary, training (an estimated 16 min on 2 idle cores), fp16
## export, test-split evaluation (writes models/fashion-clip/eval.json).
.PHONY: model fuzz fuzz-safetensors fuzz-checkpoint
model: tools-env
	$(PYTHON) tools/make_clip_vocab.py models/fashion-clip
	$(PYTHON) tools/train_fashion_clip.py --out models/fashion-clip
	$(PYTHON) tools/fashion_eval.py models/fashion-clip

## libFuzzer + ASan run of the safetensors header parser (the Swift sources themselves, built
## with -sanitize=fuzzer), seeded with the committed RAda checkpoints; bounded by FUZZ_SECONDS.
SAFETENSORS_SOURCES := Sources/SafeTensors/SafeTensorsHeader.swift Sources/SafeTensors/JSONKeyScanner.swift \
  Sources/SafeTensors/SafeTensorsDType.swift Sources/SafeTensors/SafeTensorsError.swift
fuzz-safetensors:
	@mkdir -p .build-fuzz/st-corpus
	cp Tests/Fixtures/rada/*.safetensors .build-fuzz/st-corpus/
	$(SWIFT)c -sanitize=fuzzer,address -parse-as-library -O Fuzz/SafeTensorsFuzzer.swift $(SAFETENSORS_SOURCES) \
	  -o .build-fuzz/safetensors_fuzzer
	cd .build-fuzz && ./safetensors_fuzzer -max_total_time=$(FUZZ_SECONDS) -max_len=4096 -rss_limit_mb=2048 \
	  -timeout=10 -artifact_prefix=./ st-corpus

# gold crashes linking a SwiftPM executable under -sanitize=fuzzer (SwiftPM's own `main` alias);
# the toolchain's lld links it.
SWIFT_LLD = $(dir $(realpath $(shell which swiftc)))ld.lld

## libFuzzer + ASan run of the checkpoint upload path (StreamState.restore(from:) and snapshot
## loading, Fuzz/Checkpoint), built by SwiftPM in its own scratch path, seeded with real
## checkpoints written by the same tool's replay build; bounded by FUZZ_SECONDS.
fuzz-checkpoint:
	@mkdir -p .build-fuzz/ckpt-corpus
	$(SWIFT) build -c release --scratch-path .build-fuzz/replay --product rada-fuzz-checkpoint
	.build-fuzz/replay/release/rada-fuzz-checkpoint --seeds .build-fuzz/ckpt-corpus
	printf '{"schemaVersion": "1.0", "linker": {"path": "%s"}}\n' "$(SWIFT_LLD)" > .build-fuzz/lld-toolset.json
	$(SWIFT) build -c release --scratch-path .build-fuzz/spm --product rada-fuzz-checkpoint --sanitize=address \
	  -Xswiftc -sanitize=fuzzer -Xswiftc -DFUZZING --toolset .build-fuzz/lld-toolset.json
	cd .build-fuzz && ./spm/release/rada-fuzz-checkpoint -max_total_time=$(FUZZ_SECONDS) -max_len=65536 -rss_limit_mb=2048 \
	  -timeout=10 -artifact_prefix=./ckpt- ckpt-corpus ../Tests/Fixtures/rada


## libFuzzer + ASan run of the server's multipart/form-data parser (the one Swift file every
## multipart upload goes through), seeded with Fuzz/multipart-seeds (byte 0: boundary length,
## then the boundary, then the body); bounded by FUZZ_SECONDS.
fuzz-multipart:
	@mkdir -p .build-fuzz/mp-corpus
	cp Fuzz/multipart-seeds/* .build-fuzz/mp-corpus/
	$(SWIFT)c -sanitize=fuzzer,address -parse-as-library -O Fuzz/MultipartFuzzer.swift Sources/Server/MultipartFormData.swift \
	  -o .build-fuzz/multipart_fuzzer
	cd .build-fuzz && ./multipart_fuzzer -max_total_time=$(FUZZ_SECONDS) -max_len=4096 -rss_limit_mb=2048 \
	  -timeout=10 -artifact_prefix=./ mp-corpus

## libFuzzer + ASan run of the JSON image list's fast path, differential against JSONDecoder and
## Foundation's base64 (Fuzz/JSONImagesFuzzer.swift); bounded by FUZZ_SECONDS.
fuzz-json-images:
	@mkdir -p .build-fuzz/json-corpus
	cp Fuzz/json-images-seeds/* .build-fuzz/json-corpus/
	$(dir $(realpath $(shell which swiftc)))clang -c -O2 -fsanitize=fuzzer-no-link,address -ISources/CBase64/include \
	  Sources/CBase64/base64_decode.c -o .build-fuzz/base64_decode.o
	$(SWIFT)c -sanitize=fuzzer,address -parse-as-library -O Fuzz/JSONImagesFuzzer.swift Sources/Server/JSONImageList.swift \
	  -ISources/CBase64/include .build-fuzz/base64_decode.o -o .build-fuzz/json_images_fuzzer
	cd .build-fuzz && ./json_images_fuzzer -max_total_time=$(FUZZ_SECONDS) -max_len=4096 -rss_limit_mb=2048 \
	  -timeout=10 -artifact_prefix=./ json-corpus

## libFuzzer + ASan run of the CLIP tokenizer (the Swift sources of the Tokenizer target), seeded
## with Fuzz/tokenizer-seeds: no input crashes it, and BPE's ranked queue gives the loop's ids
## (Fuzz/TokenizerFuzzer.swift); bounded by FUZZ_SECONDS.
fuzz-tokenizer:
	@mkdir -p .build-fuzz/tok-corpus
	cp Fuzz/tokenizer-seeds/* .build-fuzz/tok-corpus/
	$(SWIFT)c -sanitize=fuzzer,address -parse-as-library -O Fuzz/TokenizerFuzzer.swift Sources/Tokenizer/*.swift \
	  -o .build-fuzz/tokenizer_fuzzer
	cd .build-fuzz && ./tokenizer_fuzzer -max_total_time=$(FUZZ_SECONDS) -max_len=4096 -rss_limit_mb=2048 \
	  -timeout=10 -artifact_prefix=./tok- tok-corpus

## Conformance of the server with its own OpenAPI document: a release `rada serve` with an API
## key, schemathesis (pinned, tools venv) with every check and the coverage, fuzzing and stateful
## phases, CONFORMANCE_EXAMPLES per operation (default 100); fails on any failure, prints the seed
## (CONFORMANCE_SEED=N replays it).
.PHONY: conformance client-check
conformance: build tools-env
	tools/conformance/run.sh

## A Python client generated from Docs/openapi.yaml (openapi-python-client, tools venv) drives a
## live release server through a stream's life: create, classify, checkpoint, download, upload,
## reset, restore, delete (tools/conformance/client_check.py).
client-check: build tools-env
	rm -rf .build-client
	$(VENV)/bin/openapi-python-client generate --path Docs/openapi.yaml --output-path .build-client/rada_client --meta none
	tools/conformance/with_server.sh $(PYTHON) tools/conformance/client_check.py .build-client

## `rada` (release build) into PREFIX/bin, the embedded model into PREFIX/share/rada/models
## (where the installed binary looks, above its own directory), the deploy/ examples into
## PREFIX/share/rada/deploy (the systemd unit's paths rewritten for PREFIX). DESTDIR stages.
PREFIX ?= /usr/local
DESTDIR ?=
RADA_SHARE = $(DESTDIR)$(PREFIX)/share/rada
.PHONY: install install-check
install: build
	install -d $(DESTDIR)$(PREFIX)/bin $(RADA_SHARE)/models/fashion-clip $(RADA_SHARE)/deploy
	install -m 0755 .build/release/rada $(DESTDIR)$(PREFIX)/bin/rada
	install -m 0644 models/fashion-clip/* $(RADA_SHARE)/models/fashion-clip/
	install -m 0644 deploy/nginx-tls.conf deploy/README.md $(RADA_SHARE)/deploy/
	sed 's|/usr/local|$(PREFIX)|g' deploy/rada.service > $(RADA_SHARE)/deploy/rada.service
	chmod 0644 $(RADA_SHARE)/deploy/rada.service

## Installs into a temporary PREFIX and runs the installed rada from outside the checkout
## (info, classify, a short serve), then checks it needed the installed model (tools/install_check.sh).
install-check: build
	tools/install_check.sh

## The release rada with every library it loads, as bundle-out/rada-bundle.tar.xz: runs on an
## x86-64 Linux machine without the Swift toolchain or the Debian packages (tools/bundle.sh).
## bundle-check unpacks it elsewhere and runs it with an empty environment (tools/bundle_check.sh).
.PHONY: bundle bundle-check
bundle: build
	tools/bundle.sh
bundle-check: build
	tools/bundle_check.sh

## The Python client (clients/python): installed with its test extras into its own venv (no
## torch), its pytest suite run against real `rada serve` processes of the debug build.
CLIENT_VENV := .venv-client
CLIENT_SOURCES := $(shell find clients/python -name '*.py' -o -name pyproject.toml -o -name py.typed)
.PHONY: client-test
client-test: deps $(CLIENT_VENV)/.installed
	$(SWIFT) build --product rada
	RADA_BINARY=$(CURDIR)/.build/debug/rada $(CLIENT_VENV)/bin/python -m pytest -q clients/python/tests
$(CLIENT_VENV)/.installed: $(CLIENT_SOURCES)
	test -x $(CLIENT_VENV)/bin/python || python3 -m venv $(CLIENT_VENV)
	$(CLIENT_VENV)/bin/pip install -q --force-reinstall --no-deps ./clients/python
	$(CLIENT_VENV)/bin/pip install -q './clients/python[test]'
	touch $@

## Every fuzz target, each for FUZZ_SECONDS.
fuzz: fuzz-images fuzz-safetensors fuzz-checkpoint fuzz-multipart fuzz-json-images fuzz-tokenizer
