# Two commands do all the set-up on a fresh machine:
#   make demo   the main job: generate a library of package designs, train a multi-view
#               model, evaluate it, compare designs and search the library (offline, ~9 min)
#   make test   lint (ruff, mypy) and run the test suite
# and one more for the CIFAR-10 benchmark:
#   make cifar  train the fast preset on CIFAR-10, evaluate, index, answer a search (~25 min)
PYTHON ?= python3.11
VENV   := .venv
BIN    := $(VENV)/bin
OUT    ?= runs/packages
LIB    ?= $(OUT)/library
PAIR   := $(OUT)/pair/interposer-2.5d
RUN    ?= runs/demo
CIFAR  ?= ../shared/data/cifar10-jpg.tar.gz
TRAIN_ARGS ?=   # e.g. TRAIN_ARGS="--epochs 1" for a quick look
DEMO_EPOCHS ?= 16   # the preset has 80; 16 keep the demo within 10 minutes on a 2-core CPU
TEST_WORKERS ?= 2   # pytest processes (pytest-xdist); 0 runs the suite in this one, auto one a core

.PHONY: demo cifar test lint clean

# One environment, installed in two layers: what the demo needs (the package and its
# [report] extra, for the pictures), and on top of it what the tests need ([dev]).
$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q torch==2.14.1 torchvision==0.29.1

$(VENV)/.demo: $(BIN)/python pyproject.toml
	$(BIN)/pip install -q -e '.[report]'
	touch $@

$(VENV)/.dev: $(VENV)/.demo
	$(BIN)/pip install -q -e '.[dev]'
	touch $@

demo: $(VENV)/.demo
	@test -d $(LIB) || $(BIN)/simnet generate-packages --out $(LIB) --designs 390 --renders 4 --variants 1
	@test -d $(OUT)/new || $(BIN)/simnet generate-packages --out $(OUT)/new --designs 13 --seed 1 --quiet
	@test -d $(OUT)/pair || { $(BIN)/simnet generate-packages --out $(OUT)/pair --seed 1 \
	    --families interposer-2.5d --designs 1 --variants 2 --quiet && \
	  rm $(OUT)/pair/*/*/params.json; }   # compare must tell from the drawings alone
	@test -f $(OUT)/model/model.safetensors || \
	  $(BIN)/simnet train --preset packages --data $(LIB) --out $(OUT)/model \
	    --epochs $(DEMO_EPOCHS) $(TRAIN_ARGS)
	$(BIN)/simnet evaluate --model $(OUT)/model
	$(BIN)/simnet compare --model $(OUT)/model --picture $(OUT)/compare-one-change.png \
	  $(PAIR)/interposer-2.5d-0000 $(PAIR)/interposer-2.5d-0000-memory-stacks
	$(BIN)/simnet compare --model $(OUT)/model --picture $(OUT)/compare-same-family.png \
	  $(LIB)/interposer-2.5d/interposer-2.5d-0000 $(LIB)/interposer-2.5d/interposer-2.5d-0001
	$(BIN)/simnet compare --model $(OUT)/model --picture $(OUT)/compare-two-families.png \
	  $(LIB)/interposer-2.5d/interposer-2.5d-0000 $(LIB)/wire-bond/wire-bond-0000
	$(BIN)/simnet index --model $(OUT)/model --data $(LIB) --out $(OUT)/library.index --quiet
	$(BIN)/simnet search --index $(OUT)/library.index -k 5 $(OUT)/new/*/*
	@echo "outputs: $(OUT)/model (the model, metrics.csv), $(OUT)/compare-*.png (pictures),"
	@echo "         $(OUT)/library.index (search it: $(BIN)/simnet search --index $(OUT)/library.index DESIGN)"

cifar: $(VENV)/.demo
	@test -f $(RUN)/model.safetensors || $(BIN)/simnet train --out $(RUN) $(TRAIN_ARGS)
	$(BIN)/simnet evaluate --model $(RUN)
	$(BIN)/simnet index --model $(RUN) --split train --out $(RUN)/train.index
	@mkdir -p $(RUN)/queries
	@if [ -f $(CIFAR) ]; then \
	  tar -xzf $(CIFAR) -C $(RUN)/queries cifar10/test/cat/0000.jpg cifar10/test/ship/0000.jpg && \
	  $(BIN)/simnet search --index $(RUN)/train.index \
	    $(RUN)/queries/cifar10/test/cat/0000.jpg $(RUN)/queries/cifar10/test/ship/0000.jpg; \
	else echo "query images: pass your own with $(BIN)/simnet search --index $(RUN)/train.index IMAGE"; fi

lint: $(VENV)/.dev
	$(BIN)/ruff check simnet tests benchmarks
	$(BIN)/ruff format --check simnet tests benchmarks
	$(BIN)/mypy simnet

test: lint
	$(BIN)/pytest -q -n $(TEST_WORKERS) --dist worksteal --durations=15

clean:
	rm -rf $(VENV) runs
