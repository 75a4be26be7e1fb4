#!/usr/bin/env bash
# Browser tests (the weekly report's HTML, JupyterLab) drive Debian's chromium with Playwright; the
# static chart images in report e-mails use it through kaleido. Installs it when it is missing.
# Never `playwright install`: that downloads a browser from a CDN.
set -euo pipefail
CHROMIUM="${POANALYTICS_CHROMIUM:-/usr/bin/chromium}"
if [ -x "$CHROMIUM" ]; then
    exit 0
fi
if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = "0" ]; then
    echo "installing Debian's chromium for the browser tests (apt-get install chromium)"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >/dev/null
    apt-get install -y -qq --no-install-recommends chromium fonts-liberation >/dev/null
    exit 0
fi
echo "chromium is missing at $CHROMIUM: install Debian's chromium (sudo apt-get install chromium)" >&2
echo "or set POANALYTICS_CHROMIUM to another Chromium binary" >&2
exit 1
