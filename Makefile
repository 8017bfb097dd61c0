# The two set-up commands (see README): `make screen` runs the screening on the bundled
# sample, `make test` runs the whole test suite. Both create .venv and install on first use.
PYTHON ?= python3.11
VENV   := .venv
STAMP  := $(VENV)/.installed-$(shell cksum < pyproject.toml | cut -d' ' -f1)

.PHONY: screen test java-check chromium

java-check:
	@v=$$( { "$${JAVA_HOME:+$$JAVA_HOME/bin/}java" -version 2>&1 || true; } | sed -n 's/.*version "\([0-9]*\).*/\1/p' | head -1); \
	if [ -z "$$v" ] || [ "$$v" -lt 17 ]; then echo "techscreen needs Java 17+ for Spark 4 (found: $${v:-none}); install a JDK 17 and put java on PATH"; exit 1; fi

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install -q --upgrade pip
	$(VENV)/bin/pip install -q torch==2.13.0   # first, so the CPU build on this disk is used
	$(VENV)/bin/pip install -q -e '.[embed,umap,test]'
	rm -f $(VENV)/.installed-*
	touch $@

screen: java-check $(STAMP)
	$(VENV)/bin/techscreen run pipelines/screening.yaml

# Headless Chromium for the report's browser test (Debian's package); without it that test skips.
chromium:
	@test -x /usr/bin/chromium || { \
	  s=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$s apt-get update -q && DEBIAN_FRONTEND=noninteractive $$s apt-get install -y -q chromium; \
	} || echo "techscreen: chromium not installed; the report's browser test will be skipped"

test: java-check chromium $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/pytest
