# Two commands do all the set-up on a fresh machine:
#   make demo   train on the default data, evaluate, index and answer a search
#   make test   lint (ruff, mypy) and run the test suite
PYTHON ?= python3.11
VENV   := .venv
BIN    := $(VENV)/bin
RUN    ?= runs/demo
CIFAR  ?= ../shared/data/cifar10-jpg.tar.gz
TRAIN_ARGS ?=   # e.g. TRAIN_ARGS="--epochs 1" for a quick look

.PHONY: demo test lint clean

$(BIN)/simnet: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q torch==2.14.1 torchvision==0.29.1
	$(BIN)/pip install -q -e '.[dev]'
	touch $@

demo: $(BIN)/simnet
	@test -f $(RUN)/model.safetensors || $(BIN)/simnet train --out $(RUN) $(TRAIN_ARGS)
	$(BIN)/simnet evaluate $(RUN)
	$(BIN)/simnet index --model $(RUN) --split train --out $(RUN)/train.index
	@mkdir -p $(RUN)/queries
	@if [ -f $(CIFAR) ]; then \
	  tar -xzf $(CIFAR) -C $(RUN)/queries cifar10/test/cat/0000.jpg cifar10/test/ship/0000.jpg && \
	  $(BIN)/simnet search --index $(RUN)/train.index \
	    $(RUN)/queries/cifar10/test/cat/0000.jpg $(RUN)/queries/cifar10/test/ship/0000.jpg; \
	else echo "query images: pass your own with $(BIN)/simnet search --index $(RUN)/train.index IMAGE"; fi

lint: $(BIN)/simnet
	$(BIN)/ruff check simnet tests benchmarks
	$(BIN)/ruff format --check simnet tests benchmarks
	$(BIN)/mypy simnet

test: lint
	$(BIN)/pytest -q

clean:
	rm -rf $(VENV) runs
