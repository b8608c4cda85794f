# gcs2s3: `make demo` and `make test` work on a fresh machine (Python >= 3.11 with venv).
PYTHON ?= $(shell for p in python3.13 python3.12 python3.11 python3; do \
	$$p -c 'import sys; sys.exit(sys.version_info < (3, 11))' >/dev/null 2>&1 && echo $$p && break; done)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install system image demo test test-fast lint bench bench-sync bench-thumbnails bench-wordpress bench-scale clean

$(STAMP): pyproject.toml
	@test -n "$(PYTHON)" || { echo "need Python >= 3.11 (python3.11 or newer on PATH)"; exit 2; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

# Debian packages for the WordPress peer (apt-get, as root; see the script).
system:
	bash scripts/install_system_packages.sh

demo: $(STAMP) system
	$(BIN)/gcs2s3 demo

lint: $(STAMP)
	$(BIN)/ruff check src tests bench deploy

# The container image, built with Debian's podman from a base made with mmdebstrap (see the Dockerfile).
image:
	bash scripts/install_system_packages.sh --image
	bash scripts/build_image.sh gcs2s3:latest

test: $(STAMP) lint
	bash scripts/install_system_packages.sh --image
	$(BIN)/python -m pytest

# The fast tier: pure logic and the in-memory stores, no server (under a minute); `make test` runs everything.
test-fast: $(STAMP)
	$(BIN)/python -m pytest -m "not servers and not slow"

bench: bench-sync bench-thumbnails bench-wordpress bench-scale

bench-sync: $(STAMP)
	bash scripts/install_system_packages.sh --bench
	$(BIN)/python bench/vs_rclone.py

bench-thumbnails: $(STAMP)
	bash scripts/install_system_packages.sh --bench
	$(BIN)/python bench/thumbnails.py

bench-wordpress: $(STAMP)
	bash scripts/install_system_packages.sh --bench
	$(BIN)/python bench/wordpress_post.py

bench-scale: $(STAMP)
	bash scripts/install_system_packages.sh --bench
	$(BIN)/python bench/plan_scale.py
	$(BIN)/python bench/plan_scale.py --flatten
	$(BIN)/python bench/scale.py --plan-only --delivered --plan-objects 20000

clean:
	rm -rf $(VENV) build src/*.egg-info .pytest_cache .ruff_cache .hypothesis
