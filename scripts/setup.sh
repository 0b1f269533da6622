#!/bin/sh
# setup.sh - installs every build and test dependency of ndlc with apt-get (Debian 12 /
# Ubuntu). Idempotent: packages already present are not fetched again. Run as root or
# with sudo available. Pass --reference to also install PyTorch (python3-torch), needed
# only to regenerate the committed goldens and the benchmark models, not to run tests.
set -eu

# clang-19 compiles the runtime into the LLVM backend's bitcode (cmake/llvm_backend.cmake):
# without it the backend is disabled and its tests only report "skipped"
packages="build-essential cmake ninja-build flex bison libcjson-dev llvm-19-dev clang-19 clang libclang-rt-14-dev python3"
# ONNX import: protobuf-c, and onnx.proto from python3-onnx (cmake/onnx.cmake)
packages="$packages libprotobuf-c-dev protobuf-c-compiler python3-onnx"
if [ "${1:-}" = "--reference" ]; then
  packages="$packages python3-torch python3-numpy"
fi

missing=""
for p in $packages; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
if [ -z "$missing" ]; then
  echo "setup: all dependencies are installed"
  exit 0
fi

sudo=""
[ "$(id -u)" = 0 ] || sudo="sudo"
echo "setup: installing$missing"
$sudo apt-get update -q
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q --no-install-recommends $missing
