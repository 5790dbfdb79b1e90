#!/usr/bin/env bash
# One-shot check on a Hopper machine (H100/H200) WITHOUT mxnet installed, no internet:
#   1. the driver's view of GPU 0 (nvidia-smi);
#   2. shim.gpu's preflight, first with no mxnet (build state 'mxnet not importable'),
#      then reading the archs of a real mxnet-cu112 kernel (tests/fixtures/*.fatbin);
#   3. cuobjdump's own listing of that fatbin (independent check of our parser);
#   4. loading that real MXNet fatbin on the GPU with the CUDA driver API, expecting
#      209 CUDA_ERROR_NO_BINARY_FOR_GPU, plus a PTX control kernel that must work.
# Needs only python3 (stdlib), nvidia-smi and the driver (pyelftools only to read an installed
# libmxnet.so); cuobjdump is optional.
# Usage (repo root or anywhere): bash lab/hopper_check.sh     Takes a few seconds.
set -u
cd "$(dirname "$0")/.." || exit 1
PY=${PYTHON:-python3}
FATBIN=tests/fixtures/mxnet_cu112_one_kernel.fatbin
status=0

echo "== 1. driver"
nvidia-smi --query-gpu=index,name,compute_cap,memory.total,driver_version --format=csv,noheader \
  || { echo "nvidia-smi failed"; status=1; }

preflight() {  # python -m shim.gpu; if shim/__init__.py cannot import here, the package alone
  "$PY" -m shim.gpu "$@"; rc=$?
  if [ "$rc" -ne 0 ] && [ "$rc" -ne 2 ]; then
    echo "(python -m shim.gpu exit $rc; retrying as the package gpu, bypassing shim/__init__.py)"
    PYTHONPATH=shim "$PY" -m gpu "$@"; rc=$?
  fi
  echo "exit $rc (expected 2)"
}

echo; echo "== 2a. preflight, installed mxnet: python3 -m shim.gpu --gpus 0"
preflight --gpus 0
echo; echo "== 2b. preflight, archs from the real MXNet kernel: --lib $FATBIN"
preflight --gpus 0 --lib "$FATBIN"

echo; echo "== 2c. bench.py --check, pointed at the fixture by MXNET_LIBRARY_PATH (informational)"
MXNET_LIBRARY_PATH="$PWD/$FATBIN" "$PY" bench.py --check; echo "exit $?"

echo; echo "== 3. cuobjdump --list-elf $FATBIN"
if command -v cuobjdump >/dev/null; then
  cuobjdump --list-elf "$FATBIN" 2>&1 | head -20
  cuobjdump --dump-resource-usage "$FATBIN" 2>&1 | grep -m3 -i function
else
  echo "cuobjdump not found"
fi

echo; echo "== 4. load it on gpu 0 (CUDA driver API via ctypes)"
"$PY" -m tests.programs.cuda_load_fatbin "$FATBIN"; rc=$?
echo "exit $rc (0 = driver agrees with shim.gpu, 1 = disagrees, 3 = no libcuda)"
[ "$rc" -eq 0 ] || status=1
exit $status
