#!/bin/sh
# Builds the venv /opt/signfed inside the image (Dockerfile's build stage).
# With wheels in /tmp/wheels nothing is downloaded (--no-index); otherwise packages come
# from the package index, torch from TORCH_INDEX_URL when it is set (a CPU-only index).
# Dependencies are read from pyproject.toml and pinned by constraints.txt, so the image
# runs the same versions as `make setup`.
set -eu
cd /tmp/build
python3 -m venv /opt/signfed
pip="/opt/signfed/bin/pip"
python3 -c 'import tomllib; print("\n".join(tomllib.load(open("pyproject.toml", "rb"))["project"]["dependencies"]))' > requirements.txt
if ls /tmp/wheels/*.whl > /dev/null 2>&1; then
    echo "installing from the wheelhouse only (no network)"
    set -- --no-index --find-links /tmp/wheels
else
    set --
    if [ -n "${TORCH_INDEX_URL:-}" ]; then
        "$pip" install -c constraints.txt --index-url "$TORCH_INDEX_URL" torch
    fi
fi
"$pip" install "$@" -c constraints.txt --upgrade pip setuptools
"$pip" install "$@" -c constraints.txt -r requirements.txt
