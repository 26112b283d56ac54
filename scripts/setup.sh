#!/usr/bin/env bash
# (pnpm is pinned in package.json "engines", not "packageManager": pnpm 12 would then try to record its own
# platform binaries in the lockfile, which the registry does not serve for every platform, and refuse
# --frozen-lockfile.)
# Sets up a fresh Debian machine for Duality: system packages (Chromium for the WebGPU tests, Mesa for Node's
# Dawn, PyTorch for the benchmark anchors), pnpm, the locked dependencies, and a build of every package.
set -euo pipefail
cd "$(dirname "$0")/.."

APT_PACKAGES=(chromium mesa-vulkan-drivers libegl1 libegl-mesa0 libgles2 libgl1-mesa-dri)
if [ "${DUALITY_BENCH_DEPS:-1}" = "1" ]; then APT_PACKAGES+=(python3-torch libopenblas0-pthread); fi

missing=()
for p in "${APT_PACKAGES[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if [ "${#missing[@]}" -gt 0 ]; then
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  echo "setup: installing ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
fi

PNPM_VERSION=$(node -p "require('./package.json').engines.pnpm")
if ! command -v pnpm >/dev/null 2>&1 || [ "$(pnpm --version)" != "$PNPM_VERSION" ]; then
  echo "setup: installing pnpm $PNPM_VERSION"
  npm install -g --silent "pnpm@$PNPM_VERSION"
fi

pnpm install --frozen-lockfile
pnpm build
