#!/usr/bin/env bash
# The Spark engine (poanalytics[spark], PySpark 4) runs on Java 17 or later. Installs Debian's
# headless JRE when no such Java is found (`make spark`, part of `make test`).
set -euo pipefail
major() {
    "$1" -version 2>&1 | awk -F'"' '/version/ {split($2, v, "."); print (v[1] == "1" ? v[2] : v[1]); exit}'
}
JAVA="${JAVA_HOME:+$JAVA_HOME/bin/java}"
JAVA="${JAVA:-$(command -v java || true)}"
if [ -n "$JAVA" ] && [ -x "$JAVA" ] && [ "$(major "$JAVA")" -ge 17 ] 2>/dev/null; then
    exit 0
fi
if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = "0" ]; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >/dev/null
    for pkg in openjdk-17-jre-headless openjdk-21-jre-headless default-jre-headless; do
        if apt-cache show "$pkg" >/dev/null 2>&1; then
            echo "installing Debian's $pkg for the Spark engine (apt-get install $pkg)"
            apt-get install -y -qq --no-install-recommends "$pkg" >/dev/null
            exit 0
        fi
    done
fi
echo "Java 17 or later is missing: install it (sudo apt-get install openjdk-17-jre-headless)" >&2
echo "or set JAVA_HOME to a Java 17+ installation" >&2
exit 1
