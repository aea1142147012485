#!/usr/bin/env bash
# Sets up (scripts/setup.sh) and runs every check: ruff (lint and format) and the whole test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
.venv/bin/ruff check .
.venv/bin/ruff format --check .
.venv/bin/python -m pytest
