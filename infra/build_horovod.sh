#!/usr/bin/env bash
# Build Horovod 0.28.1 (its last release) from the sdist against the project's own torch, CPU operations on gloo.
#
# Why patches: the published 0.28.1 sets CMAKE_CXX_STANDARD 14; torch >= 2.1 needs C++17 (and the torch extension
# C++20 with this project's torch 2.14). And with the
# CUDA build of torch, Horovod's FindPytorch.cmake sees a CUDA torch plus a CUDA_HOME and then requires a full CUDA
# toolkit and builds GPU kernels; we want CPU ops on gloo only, so its Pytorch_CUDA probe is forced to False.
# Usage: infra/build_horovod.sh [python]   (default .venv/bin/python); `make horovod` calls it.
set -euo pipefail
PYTHON=${1:-.venv/bin/python}
PYTHON="$(cd "$(dirname "$PYTHON")" && pwd)/$(basename "$PYTHON")"  # absolute, venv symlink kept
VERSION=0.28.1
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

"$PYTHON" -m pip install -q wheel  # setup.py bdist_wheel without build isolation (which would pull another torch)
"$PYTHON" -m pip download -q --no-binary :all: --no-deps "horovod==$VERSION" -d "$WORK"
tar -xzf "$WORK/horovod-$VERSION.tar.gz" -C "$WORK"
SRC="$WORK/horovod-$VERSION"
sed -i 's/set(CMAKE_CXX_STANDARD 14)/set(CMAKE_CXX_STANDARD 17)/' "$SRC/CMakeLists.txt"
# The torch extension compiles against torch's headers; torch 2.14's stop with "#error C++20 or later ... required".
sed -i 's/set(CMAKE_CXX_STANDARD 14)/set(CMAKE_CXX_STANDARD 20)/' "$SRC/horovod/torch/CMakeLists.txt"
sed -i 's/print(True if ((torch.version.cuda is not None) and (CUDA_HOME is not None)) else False)/print(False)/' \
  "$SRC/cmake/Modules/FindPytorch.cmake"
grep -q 'print(False)' "$SRC/cmake/Modules/FindPytorch.cmake"  # the CUDA probe patch must have applied

env -u HOROVOD_GPU_OPERATIONS -u HOROVOD_GPU \
  HOROVOD_WITH_GLOO=1 HOROVOD_WITHOUT_MPI=1 HOROVOD_WITH_PYTORCH=1 \
  HOROVOD_WITHOUT_TENSORFLOW=1 HOROVOD_WITHOUT_MXNET=1 \
  MAKEFLAGS="-j$(nproc)" \
  "$PYTHON" -m pip install -q --no-build-isolation --no-deps "$SRC"
# horovodrun's own Python dependencies (the --no-deps above keeps pip from touching torch).
"$PYTHON" -m pip install -q cloudpickle psutil pyyaml packaging
"$PYTHON" -c "import horovod.torch as hvd; print('horovod', hvd.__version__ if hasattr(hvd, '__version__') else '', 'gloo built:', hvd.gloo_built())"
