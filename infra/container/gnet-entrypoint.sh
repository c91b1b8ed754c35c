#!/bin/sh
# Entry point of the googlenet-ddp images: runs one app's BUILT JavaScript (dist/, no tsx) with node.
# Installed as /usr/local/bin/gnet plus one link per app (gnet-coordinator, gnet-worker, ...), the
# way busybox dispatches on its name:
#   gnet coordinator --host 0.0.0.0 --workers 2      gnet-coordinator --host 0.0.0.0 --workers 2
#   gnet worker --coordinator ws://host:29500        gnet-worker --coordinator ws://host:29500
# POSIX sh: the GPU image's Ubuntu and the CPU image's Debian both have dash as /bin/sh.
set -eu

APP_ROOT="${GNET_APP_ROOT:-/app}"

usage() {
  cat <<'EOF'
usage: gnet <app> [flags]     (or gnet-<app> [flags]; `gnet <app> --help` lists an app's flags)
apps:
  coordinator   rendezvous, rounds, evaluation, run folder          (coordinator:serve)
  worker        one data-parallel worker                            (worker:serve)
  train         one process, no networking                          (worker:train)
  evaluate      test accuracy of a checkpoint or run folder         (worker:evaluate)
  predict       classify PNG/JPEG images with a checkpoint          (worker:predict)
  export        a checkpoint as a TF.js Layers model                (worker:export)
environment: GNET_TOKEN (or GNET_TOKEN_FILE, a file holding it), CIFAR10_DIR (default /data),
  GNET_BACKEND, GNET_THREADS, GNET_COORDINATOR, LOG_LEVEL; run folders go to /runs by default.
EOF
}

# The app: from the name we were called by (gnet-worker), else the first argument (gnet worker).
name="$(basename "$0")"
case "$name" in
  gnet-*) app="${name#gnet-}" ;;
  *)
    if [ "$#" -eq 0 ]; then usage; exit 2; fi
    app="$1"
    shift
    ;;
esac

case "$app" in
  coordinator) entry="apps/coordinator/dist/main.js" ;;
  worker) entry="apps/worker/dist/serve_main.js" ;;
  train) entry="apps/worker/dist/train_main.js" ;;
  evaluate) entry="apps/worker/dist/tools/evaluate_main.js" ;;
  predict) entry="apps/worker/dist/tools/predict_main.js" ;;
  export) entry="apps/worker/dist/tools/export_main.js" ;;
  help | -h | --help) usage; exit 0 ;;
  *) echo "gnet: unknown app '$app' (expected coordinator, worker, train, evaluate, predict or export)" >&2; exit 2 ;;
esac

# Docker and Kubernetes secrets arrive as files; reading one here keeps the token out of
# `docker inspect` and the pod spec. The apps themselves read GNET_TOKEN (never a command line: ps).
if [ -n "${GNET_TOKEN_FILE:-}" ] && [ -z "${GNET_TOKEN:-}" ]; then
  if [ ! -r "$GNET_TOKEN_FILE" ]; then
    echo "gnet: GNET_TOKEN_FILE=$GNET_TOKEN_FILE is not a readable file" >&2
    exit 2
  fi
  GNET_TOKEN="$(cat "$GNET_TOKEN_FILE")"
  export GNET_TOKEN
fi

# GPU images set GNET_REQUIRE_GPU=1: tfjs-node-gpu's libtensorflow quietly runs on the CPU when it
# finds no GPU (no --gpus, a CUDA 12-only host without libcudnn.so.8, ...), which would make a
# "GPU" worker 50x slower without a word. Check the two things the NVIDIA container toolkit must
# have injected, before loading hundreds of MB of libtensorflow; the worker makes its own, deeper check of
# the devices TensorFlow sees.
# (Not for --help, which loads nothing.)
wants_help=0
for arg in "$@"; do
  case "$arg" in -h | --help) wants_help=1 ;; esac
done
if [ "${GNET_REQUIRE_GPU:-0}" = "1" ] && [ "$wants_help" = 0 ] && { [ "$app" = worker ] || [ "$app" = train ]; }; then
  devices=""
  for d in /dev/nvidia[0-9]*; do
    if [ -e "$d" ]; then devices="$devices $d"; fi
  done
  devices="${devices# }"
  libcuda="$(ldconfig -p 2>/dev/null | grep -o '/[^ ]*libcuda\.so\.1$' | head -n 1 || true)"
  if [ -z "$devices" ] || [ -z "$libcuda" ]; then
    echo "gnet: GNET_REQUIRE_GPU=1 but this container has no usable GPU (found: devices=[${devices}], libcuda.so.1=${libcuda:-none}); run it with --gpus all (Docker) or --device nvidia.com/gpu=all (Podman), on a host with the NVIDIA driver and the NVIDIA container toolkit" >&2
    exit 2
  fi
fi

# No cd: relative paths on the command line mean the container's working folder (WORKDIR /app, whose
# runs/ links to the /runs volume, so the apps' default run folder runs/<timestamp> lands there).
exec node "$APP_ROOT/$entry" "$@"
