#!/usr/bin/env bash
# Install Debian's headless Chromium and its driver for the browser test (tests/test_browser.py), if missing.
# Needs root (as on CI). Without root and without the packages, the browser test is skipped with a reason,
# unless L2O_REQUIRE_BROWSER=1, which makes it fail instead.
set -uo pipefail
if command -v chromium >/dev/null && command -v chromedriver >/dev/null; then
  exit 0
fi
if [ "$(id -u)" != "0" ] || ! command -v apt-get >/dev/null; then
  echo "[browser] chromium/chromedriver missing and cannot apt-get install them here (not root or no apt)"
  exit 0
fi
echo "[browser] installing chromium and chromium-driver from Debian"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >/dev/null && apt-get install -y -qq chromium chromium-driver >/dev/null
command -v chromium && chromium --version
