#!/bin/sh
# Downloads every wheel the image needs into DIR (default .whl), for an air-gapped
# `docker build --build-arg WHEELHOUSE=DIR`. Run it where pip reaches an index (or a
# mirror, or a local find-links folder with the CPU build of torch).
#   docker/wheelhouse.sh [DIR]
set -eu
dir="${1:-.whl}"
python="${PYTHON:-python3}"
mkdir -p "$dir"
requirements=$(mktemp)
trap 'rm -f "$requirements"' EXIT
"$python" -c 'import tomllib; print("\n".join(tomllib.load(open("pyproject.toml", "rb"))["project"]["dependencies"]))' > "$requirements"
# The image's Python is 3.11 on x86-64 Linux, like this project's machines.
"$python" -m pip download -q -d "$dir" -c constraints.txt \
    --only-binary=:all: --python-version 3.11 --platform manylinux2014_x86_64 \
    --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 \
    -r "$requirements" pip setuptools wheel
echo "wheelhouse $dir: $(ls "$dir" | wc -l) files, $(du -sh "$dir" | cut -f1)"
