# The two README commands: `make setup` (install everything, prepare the built-in models, run the
# main job) and `make test` (the whole test suite). `make check` lints and type-checks.
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip

.PHONY: setup install browser demo test check format

setup: install browser demo

install:
	test -x $(PY) || python3 -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip
	# The CPU wheel of torch lies on local disk; an unpinned torch would pull a multi-GB CUDA build.
	$(PIP) install --quiet torch==2.13.0
	$(PIP) install --quiet -e '.[all]'
	$(VENV)/bin/simmatch models --prepare

# Headless Chromium and its driver for the browser tests (tests/browser), from the Debian packages,
# with a CJK font for the screenshots. Needs root; without them those tests (only) are skipped.
browser:
	@if command -v chromium >/dev/null && command -v chromedriver >/dev/null; then \
		echo "chromium and chromedriver are installed"; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		apt-get update -q && \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium chromium-driver fonts-wqy-microhei; \
	else \
		echo "headless Chromium is missing; as root run: apt-get install -y chromium chromium-driver" \
			"(the browser tests are skipped until then)"; \
	fi

demo:
	$(VENV)/bin/simmatch rank "吃完海鲜可以喝牛奶吗?" --candidates-file examples/corom_candidates.txt --format table

test:
	$(PY) -m pytest -q

check:
	$(VENV)/bin/ruff check src tests bench
	$(VENV)/bin/ruff format --check src tests bench
	$(VENV)/bin/mypy

format:
	$(VENV)/bin/ruff format src tests bench
	$(VENV)/bin/ruff check --fix src tests bench
