#!/usr/bin/env bash
# Rebuild the reduced plotly.js that the weekly report embeds (src/poanalytics/report/vendor/).
#
# A development-time step, not part of `make setup`: the bundle, its licence and its manifest are
# committed. It installs plotly.js (the version plotly.py bundles, so the figures' JSON matches) and
# esbuild from the npm registry into a temporary folder, bundles plotly.js's core with the trace
# types listed in TRACES, and writes:
#   plotly-poa.min.js   the bundle (an IIFE defining window.Plotly)
#   plotly-LICENSE.txt  plotly.js's MIT licence
#   plotly-poa.json     the manifest: plotly.js version, trace types, sha256 of the bundle
# The report exporter checks every trace type of a report's figures against the manifest and uses
# plotly.py's full plotly.min.js when one is missing; tests/test_report_bundle.py loads the bundle
# in Chromium and checks the manifest against the trace types it really registers.
#
# Usage: scripts/build-plotly-bundle.sh [python]   (default python: .venv/bin/python)
# Add a trace type: append it to TRACES (a name of plotly.js/lib/<name>.js), rerun, commit.
set -euo pipefail

TRACES="scatter bar histogram heatmap box pie sankey indicator table"
ESBUILD_VERSION="0.24.2"

root="$(cd "$(dirname "$0")/.." && pwd)"
python="${1:-$root/.venv/bin/python}"
out="$root/src/poanalytics/report/vendor"
version="$("$python" -c 'from plotly.offline import get_plotlyjs_version as v; print(v())')"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

cd "$work"
npm init -y >/dev/null
npm install --silent --no-audit --no-fund --ignore-scripts "plotly.js@$version" "esbuild@$ESBUILD_VERSION"

{
  echo "'use strict';"
  echo "var Plotly = require('plotly.js/lib/core');"
  echo "Plotly.register(["
  for t in $TRACES; do echo "  require('plotly.js/lib/$t'),"; done
  echo "]);"
  echo "module.exports = Plotly;"
} > entry.js

# the options of plotly.js's own esbuild-config.js that matter for these (non-WebGL) traces
npx esbuild entry.js --bundle --minify --format=iife --global-name=Plotly --target=es2016 \
  --define:global=window --define:define.amd=false --legal-comments=none \
  --log-level=warning --outfile=plotly-poa.min.js

{
  echo "/* plotly.js v$version (reduced: $TRACES) | MIT licence: plotly-LICENSE.txt */"
  cat plotly-poa.min.js
} > "$out/plotly-poa.min.js"
cp node_modules/plotly.js/LICENSE "$out/plotly-LICENSE.txt"
sha="$(sha256sum "$out/plotly-poa.min.js" | cut -d' ' -f1)"
"$python" - "$out/plotly-poa.json" "$version" "$sha" $TRACES <<'PY'
import json, sys
path, version, sha, *traces = sys.argv[1:]
manifest = {
    "plotly_js_version": version,
    "traces": sorted(traces),
    "file": "plotly-poa.min.js",
    "sha256": sha,
    "licence": "plotly-LICENSE.txt",
    "built_by": "scripts/build-plotly-bundle.sh",
}
with open(path, "w") as fh:
    json.dump(manifest, fh, indent=2)
    fh.write("\n")
PY
ls -l "$out"
