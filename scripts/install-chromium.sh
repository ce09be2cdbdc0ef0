#!/usr/bin/env bash
# Install Debian's Chromium and ChromeDriver for the browser tests, unless they are already there.
# The browser tests drive /usr/bin/chromium through Playwright's executable_path; Playwright's own
# browser download is never used. Needs root (or sudo) and access to the Debian package mirror.
set -euo pipefail

if command -v chromium >/dev/null 2>&1 && command -v chromedriver >/dev/null 2>&1; then
    exit 0
fi

if [ "$(id -u)" -eq 0 ]; then
    as_root=()
elif command -v sudo >/dev/null 2>&1; then
    as_root=(sudo)
else
    echo "install-chromium: chromium is missing and this user cannot install packages (not root, no sudo)." >&2
    echo "install-chromium: install the Debian packages 'chromium' and 'chromium-driver', or the browser tests skip." >&2
    exit 1
fi

if ! command -v apt-get >/dev/null 2>&1; then
    echo "install-chromium: apt-get not found; install Chromium with this system's package manager." >&2
    exit 1
fi

echo "install-chromium: installing chromium and chromium-driver from the Debian packages"
export DEBIAN_FRONTEND=noninteractive
"${as_root[@]}" apt-get update -qq
"${as_root[@]}" apt-get install -y -qq --no-install-recommends chromium chromium-driver >/dev/null
chromium --version
