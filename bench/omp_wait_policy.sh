#!/usr/bin/env bash
# How OpenMP's wait policy changes single-process training on `onednn` on a quiet machine and on a
# loaded one (4 busy loops, bounded by `timeout`): worker:train, width 0.125, one epoch of 1,024
# real CIFAR-10 images. Prints wall seconds per case; compare the ratios within one run. `gomp-300k` is
# libgomp's own default spin; `ours` is what the addon's loader sets where the user chose nothing
# (GOMP_SPINCOUNT=20000, packages/native-cpu/src/native_addon.ts), the same as `spin20k`.
# Usage: bash bench/omp_wait_policy.sh   (CIFAR10_DIR defaults to ../shared/data/cifar-10-batches-bin)
set -euo pipefail
cd "$(dirname "$0")/.."
DATA_DIR="${CIFAR10_DIR:-$(cd .. && pwd)/shared/data/cifar-10-batches-bin}"

run() {
  local tag=$1
  shift
  local dir start end
  dir=$(mktemp -d)
  start=$(date +%s.%N)
  env "$@" node --conditions=source --import tsx apps/worker/src/train_main.ts --backend onednn --width 0.125 --epochs 1 \
    --batch-size 32 --lr 0.05 --warmup-epochs 0 --cutout 0 --label-smoothing 0 --train-limit 1024 --eval-limit 200 \
    --data-dir "$DATA_DIR" --run-dir "$dir" --no-progress >/dev/null 2>&1
  end=$(date +%s.%N)
  rm -rf "$dir"
  printf '%-16s %6.1f s\n' "$tag" "$(echo "$end - $start" | bc)"
}

run quiet-gomp-300k GOMP_SPINCOUNT=300000
run quiet-ours GNET_BENCH=1
run quiet-passive OMP_WAIT_POLICY=passive
run quiet-spin20k GOMP_SPINCOUNT=20000
busy=()
for _ in 1 2 3 4; do
  timeout 900 sh -c 'while :; do :; done' &
  busy+=("$!")
done
trap 'kill "${busy[@]}" 2>/dev/null || true' EXIT
run loaded-gomp-300k GOMP_SPINCOUNT=300000
run loaded-ours GNET_BENCH=1
run loaded-passive OMP_WAIT_POLICY=passive
run loaded-spin20k GOMP_SPINCOUNT=20000
