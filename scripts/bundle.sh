#!/usr/bin/env bash
# Build one code directory per function: the podnet package and its runtime dependencies
# (for the FC python3.10 runtime on Linux x86_64) plus the function's index.py.
set -euo pipefail
cd "$(dirname "$0")/.."
rm -rf build && mkdir -p build/_deps
python3 -m pip install --quiet --target build/_deps --python-version 3.10 --platform manylinux2014_x86_64 \
  --only-binary=:all: --implementation cp .
for fn in functions/*/; do
  step=$(basename "$fn")
  mkdir -p "build/$step"
  cp -r build/_deps/. "build/$step/"
  cp "$fn/index.py" "build/$step/index.py"
  # The API server connection: secrets/kube-token and secrets/kube-ca.crt (git-ignored; see deploy/rbac.yaml)
  if [ -d secrets ]; then cp -r secrets "build/$step/secrets"; fi
done
rm -rf build/_deps
echo "built: $(ls build | tr '\n' ' ')"
