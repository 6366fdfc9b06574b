# Two commands do everything on a fresh Debian/Ubuntu machine with Python >= 3.10:
#   make study   install, then run the paper's study on the embedded default data
#   make test    install, then run the test suite
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.instrec-installed

.PHONY: install study test bench clean

install: $(STAMP)

# torch is pinned first: a plain `torch` requirement pulls a multi-GB CUDA build.
$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet torch==2.13.0
	$(BIN)/pip install --quiet -c constraints.txt -e ".[synth,test]"
	# tinysoundfont's PyAudio dependency is only for live playback and does not build headless
	$(BIN)/pip install --quiet --no-deps "tinysoundfont>=0.3"
	touch $(STAMP)

study: install
	$(BIN)/instrec study

test: install
	$(BIN)/python -m pytest -q

bench: install
	$(BIN)/pip install --quiet -c constraints.txt -e ".[bench]"
	for b in benchmarks/bench_*.py; do $(BIN)/python $$b || exit 1; done

clean:
	rm -rf $(VENV) build *.egg-info src/*.egg-info
