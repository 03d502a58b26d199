#!/usr/bin/env bash
# The headless browser the dashboard's tests drive: Debian's chromium at /usr/bin/chromium
# (Playwright launches it by path and downloads no browser of its own). Installs it when
# missing, with apt-get (root, or sudo without a password); says how when it cannot.
set -u
CHROMIUM=/usr/bin/chromium
[ -x "$CHROMIUM" ] && exit 0
if [ "$(id -u)" -eq 0 ]; then as_root=(); elif sudo -n true 2>/dev/null; then as_root=(sudo -n); else
  echo "browser: $CHROMIUM is missing; install it with: sudo apt-get install -y chromium" >&2
  exit 1
fi
echo "browser: installing chromium (Debian's package)"
export DEBIAN_FRONTEND=noninteractive
"${as_root[@]}" apt-get install -y -q chromium >/dev/null \
  || { "${as_root[@]}" apt-get update -q >/dev/null && "${as_root[@]}" apt-get install -y -q chromium >/dev/null; }
[ -x "$CHROMIUM" ] || { echo "browser: chromium did not install" >&2; exit 1; }
