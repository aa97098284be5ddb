#!/bin/sh
# Make a Debian bookworm base image with Python 3.11 and venv without pulling anything:
# debootstrap (from Debian's archive, through apt's usual mirror) + `docker import`.
# The root file system is cached as a tarball outside the repository, so the next run
# on this machine imports it in seconds instead of bootstrapping again (~1 minute).
#   docker/base-image.sh [NAME]      (default signfed-base:bookworm)
set -eu
name="${1:-signfed-base:bookworm}"
cache="${SIGNFED_CACHE:-/var/cache/signfed}/bookworm-minbase.tar"
if docker image inspect "$name" > /dev/null 2>&1; then
    echo "base image $name: present"
    exit 0
fi
if [ ! -s "$cache" ]; then
    rootfs=$(mktemp -d)
    trap 'rm -rf "$rootfs"' EXIT
    echo "debootstrap bookworm into $rootfs (about a minute)"
    debootstrap --variant=minbase --include=python3,python3-venv,ca-certificates \
        bookworm "$rootfs" > "$rootfs.log" 2>&1 || { tail -20 "$rootfs.log" >&2; exit 1; }
    mkdir -p "$(dirname "$cache")"
    tar -C "$rootfs" -c . > "$cache.part"
    mv "$cache.part" "$cache"
    rm -f "$rootfs.log"
fi
docker import "$cache" "$name" > /dev/null
echo "base image $name: imported from $cache ($(du -h "$cache" | cut -f1))"
