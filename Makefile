# The two commands of the README:
#   make        set up .venv, build the book, release the exercises
#   make test   set up .venv, lint, run the tests, strict book build, and
#               check that exercises/ is what nbgrader generates
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
# torch, pinned once in requirements.txt. On Linux without an NVIDIA GPU
# (no nvidia-smi) it comes from PyTorch's CPU index first: PyPI's Linux
# wheel is the CUDA build, gigabytes the course never uses. Where that index
# is unreachable, torch comes from the default index like everything else.
# `make TORCH_INDEX=` keeps PyPI's torch (CUDA) anywhere.
TORCH  := $(shell grep -m1 '^torch==' requirements.txt | cut -d' ' -f1)
TORCH_INDEX ?= $(if $(filter Linux,$(shell uname -s)),$(if $(shell \
  command -v nvidia-smi 2>/dev/null),,https://download.pytorch.org/whl/cpu))
# One thread per chapter: the book's models are small, and two threads on a
# busy 2-core machine make them slower, not faster.
BUILD  := OMP_NUM_THREADS=1 $(BIN)/jupyter-book build . -W -n --keep-going

.PHONY: all book release test lint pytest pytest-grading pytest-book \
        book-check release-check clean

all: book release

# pip compiles what it installs to bytecode on one core, about a minute of
# CPU for torch and the rest; compileall does it on every core. Like pip, it
# skips the files this Python cannot compile (torch ships some for 3.12).
$(STAMP): requirements.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(if $(TORCH_INDEX),$(BIN)/python -m pip install --quiet --no-compile \
	  --timeout 15 --retries 1 --index-url $(TORCH_INDEX) "$(TORCH)" || echo \
	  "make: $(TORCH_INDEX) did not answer: torch comes from the default index")
	$(BIN)/python -m pip install --quiet --no-compile -r requirements.txt
	$(BIN)/python -m compileall -q -j 0 $(VENV)/lib > /dev/null || true
	touch $@

book: $(STAMP)
	$(BUILD)
	@echo "The book: _build/html/index.html"

release: $(STAMP)
	$(BIN)/ziptie release

# The lint and the release check (one core each) run side by side; then
# the strict book build runs on one core, beside the tests that do not
# read it; the tests of the built pages (browser, launch buttons) follow.
test: $(STAMP)
	$(MAKE) -j2 --output-sync=target lint release-check
	$(MAKE) -j2 book-check pytest-grading
	$(MAKE) pytest-book

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/mypy

# pytest exits 5 when it collected no test: say so, and fail. Two workers,
# each kernel on one BLAS thread, so notebooks run side by side do not fight
# over the cores; each is given its next test when it is free (the longest
# run first: tests/conftest.py).
BOOK_TESTS := tests/test_browser.py tests/test_launch.py
PYTEST = OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 $(BIN)/python -m pytest \
  -n 2 --maxschedchunk 1 --durations=40 $(1) || { status=$$?; \
  [ $$status -ne 5 ] || echo "pytest collected no tests"; exit $$status; }

pytest: $(STAMP)
	$(call PYTEST)

pytest-grading: $(STAMP)
	$(call PYTEST,$(BOOK_TESTS:%=--ignore=%))

pytest-book: $(STAMP)
	$(call PYTEST,$(BOOK_TESTS))

book-check: $(STAMP)
	$(BUILD)

release-check: $(STAMP)
	$(BIN)/ziptie release --check

clean:
	rm -rf _build
