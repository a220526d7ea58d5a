# Two entry points for a fresh machine: `make demo` and `make test` (both set up first when needed).
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.setup-done
VIDEO ?=
PYTEST_ARGS ?=

IMAGE ?= registry.example.internal/evidence:$(shell sed -n 's/^version = "\(.*\)"/\1/p' pyproject.toml)

.PHONY: setup demo test lint bench services image push

setup: $(STAMP)

$(STAMP): pyproject.toml constraints.txt Makefile infra/setup.sh
	PYTHON=$(PYTHON) bash infra/setup.sh
	touch $(STAMP)

services: setup
	bash infra/services.sh

demo: setup
	VIDEO="$(VIDEO)" bash infra/demo.sh

test: setup services
	$(BIN)/pytest $(PYTEST_ARGS)

lint: setup
	$(BIN)/ruff check . && $(BIN)/ruff format --check .

bench: setup services
	$(BIN)/python benchmarks/run_all.py

image:  # the image infra/kuberay and infra/kubernetes pin (tag = the version in pyproject.toml)
	docker build -f infra/Dockerfile -t $(IMAGE) .

push: image
	docker push $(IMAGE)
