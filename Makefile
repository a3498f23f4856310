# make install   # a virtual environment in .venv with everything, Debian packages included
# make test      # the whole suite on CPU with a tiny model (no GPU, no download)
# make train     # the demo: LoRA on the demo base with domain speech, then the evaluation report

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# Debian packages the tests and demo need (espeak-ng: synthetic speech with exact word times;
# sctk, praat, ffmpeg: the tests read alignadapt's CTM, TextGrid and subtitles with them;
# fonts-noto-cjk: Chinese, Japanese and Korean words in the report's plots; chromium: the review
# page's tests and bench drive it headless through Playwright, never a downloaded browser).
APT_PACKAGES := espeak-ng libsndfile1 sctk praat ffmpeg fonts-noto-cjk chromium
# Where pip finds torch. Empty: PyPI, whose Linux wheels are built for CUDA 13.0 (NVIDIA driver
# 580 or newer) and bring the CUDA libraries (several GB). By default make install asks this
# machine's driver (bench/cuda_builds.py): an older one gets the CUDA 12.8 or 12.6 build
# (cu128: driver 570+, cu126: 525+), no driver gets PyPI's. Choose yourself with, e.g.:
#   make install TORCH_INDEX=https://download.pytorch.org/whl/cpu     # no GPU: CPU-only wheels
#   make install TORCH_INDEX=https://download.pytorch.org/whl/cu126   # an older driver
# The index's last folder names the build (torch 2.11.0+cu126), so a .venv holding another
# build is switched to it.
TORCH_INDEX ?= $(shell $(PYTHON) bench/cuda_builds.py)

.DEFAULT_GOAL := help
.PHONY: help install system-deps test test-fast lint format demo-data demo-tests train train-tiny pretrain bench-demo sweep sweep-local bench bench-shar bench-train bench-infer bench-review gpu-check gpu-wheels bench-cpu memory clean

help:  ## list every target
	@grep -E '^[a-zA-Z_-]+:.*?## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*?## "}; {printf "  make %-12s %s\n", $$1, $$2}'

system-deps:  ## Debian packages (needs root or sudo)
	@missing=""; for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
		SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
		$$SUDO apt-get update -q && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -q $$missing; \
	fi

install: system-deps  ## virtual environment with alignadapt and its dev, ja, ko and hf extras
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(if $(TORCH_INDEX),$(BIN)/pip install -q 'torch==2.11.0+$(notdir $(TORCH_INDEX))' 'torchaudio==2.11.0+$(notdir $(TORCH_INDEX))' --index-url $(TORCH_INDEX))
	$(BIN)/pip install -q -e '.[dev,ja,ko,hf]'
	# the official Korean word dictionary, read out of the qwen-asr wheel (never installed)
	$(BIN)/python -m alignadapt.model.korean_dict

test:  ## the full test suite
	$(BIN)/python -m pytest -q tests

test-fast:  ## the suite without the training runs
	$(BIN)/python -m pytest -q -m "not slow" tests

lint:  ## ruff check and format check
	$(BIN)/ruff check . && $(BIN)/ruff format --check .

format:  ## ruff format and autofix
	$(BIN)/ruff format . && $(BIN)/ruff check --fix .

DEMO := data/demo
STAMP := $(shell date +%Y%m%d-%H%M%S)
RUN := logs/demo/$(STAMP)

demo-data: $(DEMO)/domain_test.jsonl $(DEMO)/general_val.jsonl  ## synthesise make train's espeak-ng domain sets (~1 min, once)
$(DEMO)/domain_test.jsonl $(DEMO)/general_val.jsonl &:  # one run makes the sets missing, keeps the rest
	$(BIN)/alignadapt demo-data $(DEMO) --quiet

demo-tests:  ## the fixed generalisation tests: 5 languages x 4 length buckets, unseen voices, long recordings
	$(BIN)/alignadapt demo-data $(DEMO) --tests

train: demo-data  ## the main job: LoRA on the demo base with domain speech (CPU, < 10 min), then base vs adapted vs naive
	$(BIN)/python train.py experiment=demo_lora hydra.run.dir=$(RUN)/train
	$(BIN)/python evaluate.py manifest=$(DEMO)/domain_test.jsonl models.adapted=$(RUN)/train/adapter out_dir=$(RUN)/eval_domain
	$(BIN)/python evaluate.py manifest=$(DEMO)/general_test.jsonl models.adapted=$(RUN)/train/adapter out_dir=$(RUN)/eval_general
	@echo "reports: $(RUN)/eval_domain and $(RUN)/eval_general (metrics.json, table.txt, words.csv, plots/)"

train-tiny:  ## the whole loop on the tiny model and synthetic tones (CPU, ~15 s)
	$(BIN)/python train.py model=tiny trainer=cpu

pretrain:  ## pretrain the demo base from scratch on broad speech made on the fly (resumes from last.ckpt; 1.3-1.4 s a step on an idle core)
	$(BIN)/python train.py experiment=demo_pretrain hydra.run.dir=logs/pretrain $(if $(wildcard logs/pretrain/checkpoints/last.ckpt),ckpt_path=last)

bench-demo: demo-tests  ## the demo base against the naive baseline per language and length bucket
	$(BIN)/python bench/demo_generalisation.py

sweep:  ## create the W&B Bayesian sweep (online: needs WANDB_API_KEY), then run the printed agent
	$(BIN)/wandb sweep sweeps/wandb_bayes.yaml

sweep-local:  ## an offline Hydra multirun grid over LoRA rank on the tiny model
	$(BIN)/python train.py -m model=tiny trainer=cpu lora.r=4,8,16 test=false

bench:  ## data pipeline: audio s/s per worker, padding with/without buckets, memory vs manifest size
	$(BIN)/python bench/data_pipeline.py

bench-shar:  ## data at scale: JSONL vs Shar (local, S3 on 127.0.0.1), memory vs corpus size, start-up
	$(BIN)/python bench/shar_pipeline.py

bench-review:  ## review page: time to first paint (1,000 lines; a 1-hour recording) and server memory
	$(BIN)/python bench/review_page.py

bench-train:  ## training-step throughput (audio s/s; MFU on a GPU)
	$(BIN)/python bench/train_step.py

bench-infer:  ## inference: audio s/s and padding, length-sorted batches vs input order
	$(BIN)/python bench/inference_batching.py

gpu-check:  ## the real model on a GPU, random weights: presets and experiments, memory vs the planner, speed, MFU (fails without CUDA)
	$(BIN)/python bench/gpu_check.py --out logs/gpu_check

# Wheels for a GPU machine without network (Python 3.12, x86-64): everything gpu-check needs
# beyond torch and Lightning, at the versions tested (bench/gpu_wheels.txt). There:
#   python3 -m pip install -q --no-index --no-deps --target /tmp/site .whl/*.whl
#   PYTHONPATH=/tmp/site python3 bench/gpu_check.py --out OUT
WHEEL_PLATFORMS := $(foreach p,manylinux_2_28_x86_64 manylinux_2_27_x86_64 manylinux_2_17_x86_64 manylinux2014_x86_64 manylinux1_x86_64,--platform $(p))
gpu-wheels:  ## download gpu-check's wheels for an offline GPU machine into .whl/ (~25 MB)
	mkdir -p .whl
	$(BIN)/pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
		$(WHEEL_PLATFORMS) -d .whl -r bench/gpu_wheels.txt
	$(BIN)/pip wheel -q --no-deps -w .whl 'antlr4-python3-runtime==4.9.3'

bench-cpu:  ## the real model (random weights, full depth) aligning on this CPU: fp32, bf16, int8; agreement on the demo base (~15-25 min on 2 free cores)
	$(BIN)/python bench/cpu_align.py --out logs/bench_cpu

memory:  ## what fits a 16/24/40/80 GB card per preset and precision, measured on real-width layers
	$(BIN)/alignadapt memory

clean:  ## remove logs, caches and the generated corpus (not .venv)
	rm -rf logs .cache data/synthetic .pytest_cache .ruff_cache
