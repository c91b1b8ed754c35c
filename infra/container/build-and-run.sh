#!/usr/bin/env bash
# Builds the CPU image on a machine with no container registry and trains in containers, end to end:
#   1. debootstrap  a Debian 13 (trixie) minbase root filesystem from a Debian mirror
#   2. import       it as the base image (podman import), in place of docker.io/library/debian
#   3. build        infra/container/Containerfile.cpu on it (apt from the mirror, npm from the registry)
#   4. run          a tiny 2-worker training: a coordinator container and 2 worker containers on the
#                   host network, the real CIFAR-10 mounted read-only, a temporary run folder volume
# then checks the run stated a test accuracy, prints each phase's time and the image size, and
# removes what it made: containers, images (unless --keep), temporary folders.
#
# Opt-in (root, several minutes, a Debian mirror and the npm registry): not part of `npm test`.
#   sudo infra/container/build-and-run.sh [--keep] [--mirror URL] [--workdir DIR] [-- <coordinator flags>]
#
# Everything podman keeps (images, layers, containers, its state) goes to a store of its own in the
# work folder, configured through CONTAINERS_CONF / CONTAINERS_STORAGE_CONF, so the machine's
# /etc/containers and /var/lib/containers are neither read nor written, and cleaning up is deleting
# that folder.
set -euo pipefail

readonly PROG="build-and-run.sh"
SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
readonly SCRIPT_DIR
REPO_ROOT="$(cd "$SCRIPT_DIR/../.." && pwd)"
readonly REPO_ROOT

# A tiny run that still trains, evaluates and tests (~1-2 minutes on 2 cores with oneDNN): GoogLeNet
# at width 0.25, 2 epochs of 2048 images, validation and test on 500 images each. The accuracy is
# not the point (a few epochs of a small subset reach 20-35%); that every step ran in containers is.
TINY_ARGS=(--width 0.25 --epochs 2 --train-limit 2048 --eval-limit 500 --batch-size 64 --warmup-epochs 0 --lr 0.05)

# Bounds of each phase, in seconds: several times what each took on 2 cores (see README.md).
DEBOOTSTRAP_TIMEOUT_S=1200
IMPORT_TIMEOUT_S=600
BUILD_TIMEOUT_S=2400
RUN_TIMEOUT_S=1200

KEEP=0
MIRROR="${DEBIAN_MIRROR:-}"
WORK_PARENT="${TMPDIR:-/var/tmp}"
CIFAR10_DIR="${CIFAR10_DIR:-$(cd "$REPO_ROOT/.." && pwd)/shared/data/cifar-10-batches-bin}"
EXTRA_ARGS=()
PHASE_PID="" # the phase running in the background, for the cleanup to stop

usage() {
  cat <<EOF
usage: sudo $PROG [--keep] [--mirror URL] [--workdir DIR] [-- <extra coordinator flags>]
  --keep          keep the images, the podman store and the run folder (prints how to use them)
  --mirror URL    Debian mirror for debootstrap and apt (default: this machine's apt mirror, else
                  http://deb.debian.org/debian; env DEBIAN_MIRROR)
  --workdir DIR   where the temporary work folder goes (default: \$TMPDIR or /var/tmp; needs ~3 GB)
environment: CIFAR10_DIR (default ../shared/data/cifar-10-batches-bin beside the checkout),
  BUILD_CA (CA certificates the build trusts; default \$NODE_EXTRA_CA_CERTS, else the system bundle)
EOF
}

die() {
  echo "$PROG: $*" >&2
  exit 1
}
say() { echo "$PROG: $*"; }

while [ "$#" -gt 0 ]; do
  case "$1" in
    --keep) KEEP=1 ;;
    --mirror) [ "$#" -ge 2 ] || die "--mirror needs a URL"; MIRROR="$2"; shift ;;
    --workdir) [ "$#" -ge 2 ] || die "--workdir needs a folder"; WORK_PARENT="$2"; shift ;;
    -h | --help) usage; exit 0 ;;
    --) shift; EXTRA_ARGS=("$@"); break ;;
    *) usage >&2; die "unknown option '$1'" ;;
  esac
  shift
done

# ---- preflight: each missing piece is one line saying what to do --------------------------------
[ "$(id -u)" -eq 0 ] || die "needs root (debootstrap, and rootful podman with the host network): run it with sudo"
for tool in podman debootstrap runc timeout tar; do
  command -v "$tool" >/dev/null 2>&1 || die "'$tool' is not installed: apt-get install podman buildah runc debootstrap (Debian 12: podman 4.3)"
done
for f in data_batch_1.bin data_batch_2.bin data_batch_3.bin data_batch_4.bin data_batch_5.bin test_batch.bin; do
  [ -r "$CIFAR10_DIR/$f" ] || die "CIFAR-10 is not in CIFAR10_DIR=$CIFAR10_DIR (no $f): point CIFAR10_DIR at the binary version's folder"
done
[ -f "$REPO_ROOT/package-lock.json" ] || die "no package-lock.json in $REPO_ROOT: run this script from a checkout of the repository"

# The mirror this machine's apt already uses (it serves every Debian release, trixie included),
# from deb822 .sources files or one-line sources.list entries; deb.debian.org otherwise.
detect_mirror() {
  local uri
  uri="$(cat /etc/apt/sources.list.d/*.sources 2>/dev/null | sed -n 's|^URIs:[[:space:]]*\([^[:space:]]*/debian\)/*$|\1|p' | head -n 1 || true)"
  if [ -z "$uri" ]; then
    uri="$(cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null | sed -n 's|^deb[[:space:]]\+\(\[[^]]*\][[:space:]]\+\)\?\([^[:space:]]*/debian\)/*[[:space:]].*|\2|p' | head -n 1 || true)"
  fi
  echo "${uri:-http://deb.debian.org/debian}"
}
[ -n "$MIRROR" ] || MIRROR="$(detect_mirror)"
if command -v curl >/dev/null 2>&1; then
  curl -fsS -m 30 -o /dev/null "$MIRROR/dists/trixie/Release" || die "the Debian mirror $MIRROR does not serve trixie (curl $MIRROR/dists/trixie/Release failed): pass --mirror URL"
fi

# ---- work folder, podman configuration, cleanup --------------------------------------------------
mkdir -p "$WORK_PARENT"
WORK="$(mktemp -d "$WORK_PARENT/gnet-container.XXXXXX")"
readonly WORK
ID="${WORK##*.}"
ID="$(echo "$ID" | tr '[:upper:]' '[:lower:]')"
readonly ID
readonly BASE_IMAGE="localhost/gnet-base:trixie-$ID"
readonly IMAGE="localhost/gnet:cpu-$ID"
readonly COORDINATOR="gnet-coordinator-$ID"
readonly WORKERS=("gnet-worker-0-$ID" "gnet-worker-1-$ID")
mkdir -p "$WORK/conf" "$WORK/logs" "$WORK/tmp"

# Facts of these machines (Debian 12's podman 4.3): crun 1.8 refuses the hybrid cgroup v1 layout,
# runc works with the cgroupfs manager (no systemd here); containers may not raise limits above the
# machine's hard ones (no CAP_SYS_RESOURCE), so the default ulimits stay below them; the host network
# needs no CNI setup and lets the containers reach the Debian mirror and the npm registry.
cat >"$WORK/conf/containers.conf" <<EOF
[containers]
netns = "host"
default_ulimits = ["nofile=16384:16384", "nproc=4096:4096"]
# Network sysctls cannot be set in the host's network namespace.
default_sysctls = []
log_driver = "k8s-file"

[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"
events_logfile_path = "$WORK/events.log"
tmp_dir = "$WORK/libpod-tmp"

[network]
network_config_dir = "$WORK/networks"
EOF
cat >"$WORK/conf/storage.conf" <<EOF
[storage]
driver = "overlay"
graphroot = "$WORK/storage"
runroot = "$WORK/storage-run"
EOF
export CONTAINERS_CONF="$WORK/conf/containers.conf"
export CONTAINERS_STORAGE_CONF="$WORK/conf/storage.conf"
# The one place rootful podman writes whatever its configuration says: its blob-info cache in
# /var/lib/containers/cache (containers/image's default for root; podman 4.3 has no setting for it).
# Removed at the end if this run created it.
readonly BLOB_CACHE_ROOT=/var/lib/containers
BLOB_CACHE_ROOT_EXISTED=0
if [ -e "$BLOB_CACHE_ROOT" ]; then BLOB_CACHE_ROOT_EXISTED=1; fi

# Unmounts whatever is still mounted under the work folder (debootstrap's /proc and /sys of the
# target if it died, overlay layers of containers), deepest first.
unmount_under_work() {
  local mnt
  while read -r mnt; do
    umount -l "$mnt" 2>/dev/null || true
  done < <(awk -v w="$WORK/" 'index($5, w) == 1 { print $5 }' /proc/self/mountinfo | sort -r)
}

# SIGTERM to a process and all its descendants, by PID (children first found, then signalled).
kill_tree() {
  local child
  for child in $(ps -o pid= --ppid "$1" 2>/dev/null); do kill_tree "$child"; done
  kill -TERM "$1" 2>/dev/null || true
}

cleanup() {
  local status=$?
  trap - EXIT INT TERM
  set +e
  # The phase in progress (an interrupted build or debootstrap), its whole process tree.
  if [ -n "$PHASE_PID" ]; then
    kill_tree "$PHASE_PID"
    wait "$PHASE_PID" 2>/dev/null
  fi
  # Containers first (by name: only ours), bounded: a stuck runtime must not hang the cleanup.
  for c in "$COORDINATOR" "${WORKERS[@]}"; do
    timeout 60 podman rm --force --time 5 "$c" >/dev/null 2>&1
  done
  if [ "$KEEP" = 1 ]; then
    say "kept (--keep): images $IMAGE and $BASE_IMAGE, run folder $WORK/runs; to use them:"
    say "  export CONTAINERS_CONF=$CONTAINERS_CONF CONTAINERS_STORAGE_CONF=$CONTAINERS_STORAGE_CONF"
    say "  podman images   # remove it all later: podman rmi -af; umount what is under $WORK; rm -rf $WORK"
  else
    # This store holds nothing but what this run made.
    timeout 120 podman rmi --all --force >/dev/null 2>&1
    if [ "$BLOB_CACHE_ROOT_EXISTED" = 0 ]; then rm -rf --one-file-system "$BLOB_CACHE_ROOT"; fi
    unmount_under_work
    if awk -v w="$WORK/" 'index($5, w) == 1 { found = 1 } END { exit !found }' /proc/self/mountinfo; then
      echo "$PROG: something is still mounted under $WORK; not deleting it (see /proc/self/mountinfo)" >&2
    else
      rm -rf --one-file-system "$WORK"
    fi
  fi
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# ---- phase timing ----------------------------------------------------------------------------------
declare -A PHASE_S=()
PHASES=()
now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", b - a }'; }
START="$(now)"

# Runs "$@" (a command or a function of this script) as phase $1, its output in logs/<phase>.log.
# In the background and then waited for, because bash ignores `set -e` inside anything whose status
# is tested (`if f`, `f || ...`): this way a failing step inside a function still ends the phase.
# Every external step inside carries its own `timeout`.
phase() {
  local name="$1" start
  shift
  start="$(now)"
  say "phase $name (log: $WORK/logs/$name.log)"
  "$@" >"$WORK/logs/$name.log" 2>&1 &
  PHASE_PID=$!
  if ! wait "$PHASE_PID"; then
    PHASE_PID=""
    tail -n 40 "$WORK/logs/$name.log" >&2
    die "phase $name failed (above: the end of $WORK/logs/$name.log)"
  fi
  PHASE_PID=""
  PHASE_S[$name]="$(elapsed "$start" "$(now)")"
  PHASES+=("$name")
  say "phase $name: ${PHASE_S[$name]} s"
}

# ---- 1. debootstrap ------------------------------------------------------------------------------
# minbase: dpkg, apt and the essential packages only; the Containerfile adds what the image needs.
phase debootstrap timeout --kill-after=30 "$DEBOOTSTRAP_TIMEOUT_S" debootstrap --variant=minbase trixie "$WORK/rootfs" "$MIRROR"
# The package cache and lists are downloads, not system: the image's own apt-get update refetches.
rm -rf "$WORK/rootfs/var/cache/apt/archives/"*.deb "$WORK/rootfs/var/lib/apt/lists/"*

# ---- 2. import -----------------------------------------------------------------------------------
# /dev, /proc and /sys are mounted by the runtime in every container; their contents stay out.
import_rootfs() {
  tar --numeric-owner --xattrs -C "$WORK/rootfs" --exclude='./dev/*' --exclude='./proc/*' --exclude='./sys/*' -c . |
    timeout --kill-after=30 "$IMPORT_TIMEOUT_S" podman import --change 'CMD ["/bin/bash"]' \
      --message "debootstrap --variant=minbase trixie $MIRROR" - "$BASE_IMAGE"
}
phase import import_rootfs
rm -rf --one-file-system "$WORK/rootfs"

# ---- 3. build ------------------------------------------------------------------------------------
# Host network: apt reaches the mirror and npm the registry as this machine does. --pull=never: the
# base is the image just imported, and no registry is asked for anything. The build trusts the CA
# certificates this machine trusts (the Containerfile's optional `build-ca` secret: node's own roots
# plus these), which is what lets npm through a TLS-intercepting proxy such as these machines'.
BUILD_CA="${BUILD_CA:-${NODE_EXTRA_CA_CERTS:-/etc/ssl/certs/ca-certificates.crt}}"
SECRET_ARGS=()
if [ -r "$BUILD_CA" ]; then SECRET_ARGS=(--secret "id=build-ca,src=$BUILD_CA"); fi
phase build timeout --kill-after=30 "$BUILD_TIMEOUT_S" podman build --pull=never --network host "${SECRET_ARGS[@]}" \
  --ignorefile "$REPO_ROOT/infra/container/containerignore" \
  -f "$REPO_ROOT/infra/container/Containerfile.cpu" \
  --build-arg "BASE_IMAGE=$BASE_IMAGE" --build-arg "DEBIAN_MIRROR=$MIRROR" \
  -t "$IMAGE" "$REPO_ROOT"
IMAGE_BYTES="$(podman image inspect --format '{{.Size}}' "$IMAGE")"
BASE_BYTES="$(podman image inspect --format '{{.Size}}' "$BASE_IMAGE")"

# ---- 4. run --------------------------------------------------------------------------------------
# A free port on the host network for the coordinator (29500 may be a developer's own run); the
# dashboard takes any free one (--dashboard-port 0).
PORT=""
for p in $(seq 29500 29599); do
  if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then PORT="$p"; break; fi
done
[ -n "$PORT" ] || die "no free port in 29500-29599 on 127.0.0.1 for the coordinator"
# The token reaches the containers through the environment (podman -e NAME copies it), never argv.
GNET_TOKEN="$(head -c 24 /dev/urandom | base64)"
export GNET_TOKEN
# The run folder volume: written by the image's user gnet (uid 10001).
mkdir -p "$WORK/runs"
chown 10001:10001 "$WORK/runs"

run_tiny() {
  local i status
  timeout 120 podman run -d --name "$COORDINATOR" --network host -e GNET_TOKEN \
    -v "$CIFAR10_DIR:/data:ro" -v "$WORK/runs:/runs" "$IMAGE" \
    coordinator --host 127.0.0.1 --port "$PORT" --dashboard-port 0 --workers 2 --run-dir /runs/tiny \
    "${TINY_ARGS[@]}" "${EXTRA_ARGS[@]}"
  # One oneDNN thread each on a 2-core machine, waiting passively between kernels (what
  # --local-workers does for workers sharing a machine); the backend forced, so that an image whose
  # addon does not load fails here instead of training on wasm.
  for i in 0 1; do
    timeout 120 podman run -d --name "${WORKERS[$i]}" --network host -e GNET_TOKEN \
      -e GNET_THREADS=1 -e OMP_WAIT_POLICY=passive -v "$CIFAR10_DIR:/data:ro" "$IMAGE" \
      worker --coordinator "ws://127.0.0.1:$PORT" --worker-id "container-$i" --backend onednn
  done
  status="$(timeout "$RUN_TIMEOUT_S" podman wait "$COORDINATOR")" || status="timed out after ${RUN_TIMEOUT_S}s"
  for i in 0 1; do
    # The coordinator told them the run finished: they leave within seconds.
    timeout 60 podman wait "${WORKERS[$i]}" || echo "worker $i did not exit within 60 s of the coordinator"
  done
  for c in "$COORDINATOR" "${WORKERS[@]}"; do
    timeout 60 podman logs "$c" >"$WORK/logs/$c.log" 2>&1 || true
  done
  echo "coordinator exit status: $status"
  [ "$status" = 0 ] || { tail -n 20 "$WORK/logs/$COORDINATOR.log"; return 1; }
}
phase run run_tiny

# ---- checks --------------------------------------------------------------------------------------
COORD_LOG="$WORK/logs/$COORDINATOR.log"
grep -q 'final test accuracy' "$COORD_LOG" || die "the coordinator did not state a test accuracy (see $COORD_LOG)"
ACCURACY="$(grep -o '"testAccuracy":[0-9.eE-]*' "$COORD_LOG" | tail -n 1 | cut -d: -f2)"
[ -n "$ACCURACY" ] || die "no testAccuracy field in the coordinator's log ($COORD_LOG)"
TEST_IMAGES="$(grep -o '"testImages":[0-9]*' "$COORD_LOG" | tail -n 1 | cut -d: -f2)"
[ -s "$WORK/runs/tiny/summary.json" ] || die "the run folder has no summary.json ($WORK/runs/tiny)"
for i in 0 1; do
  grep -qE '"backend":"onednn".*"msg":"backend selected"' "$WORK/logs/${WORKERS[$i]}.log" ||
    die "worker $i did not train on oneDNN (no 'backend selected' line with onednn in $WORK/logs/${WORKERS[$i]}.log)"
done

# ---- report --------------------------------------------------------------------------------------
mb() { awk -v b="$1" 'BEGIN { printf "%.0f MB", b / 1e6 }'; }
echo
say "done: a 2-worker run in containers stated its test accuracy"
TOTAL_S="$(elapsed "$START" "$(now)")"
for name in "${PHASES[@]}"; do printf '  %-14s %7s s\n' "$name" "${PHASE_S[$name]}"; done
printf '  %-14s %7s s\n' "total" "$TOTAL_S"
printf '  %-14s %s (base %s)\n' "image size" "$(mb "$IMAGE_BYTES")" "$(mb "$BASE_BYTES")"
printf '  %-14s %s%% on %s test images\n' "test accuracy" "$(awk -v a="$ACCURACY" 'BEGIN { printf "%.2f", a * 100 }')" "$TEST_IMAGES"
printf '  %-14s %s\n' "tiny run" "coordinator ${TINY_ARGS[*]}${EXTRA_ARGS[*]:+ ${EXTRA_ARGS[*]}}"
