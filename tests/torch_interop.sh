#!/bin/sh
# PyTorch interop on every architecture: modules of python/sinkrb_models.py
# exported with save_h5 must give sinkrb's test loss within 1e-5, and sinkrb's
# own files must load into them and give PyTorch the same loss (see
# tests/torch_interop.py). Needs a python3 with torch, h5py and numpy (Debian:
# python3-torch python3-h5py python3-numpy; PYTHON overrides the search) and
# datasets/mnist, datasets/cifar10; skipped (77) without them.
set -u
: "${SINKRB:=./sinkrb}" "${TOP_SRCDIR:=.}"
export SINKRB TOP_SRCDIR
for py in ${PYTHON:-} /usr/bin/python3 python3; do
  command -v "$py" >/dev/null 2>&1 || continue
  if "$py" -c 'import torch, h5py, numpy' >/dev/null 2>&1; then
    exec "$py" "$TOP_SRCDIR/tests/torch_interop.py"
  fi
done
echo "skipped: no python3 that imports torch, h5py and numpy (Debian: apt-get install python3-torch python3-h5py python3-numpy; or set PYTHON)"
exit 77
