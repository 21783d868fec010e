#!/usr/bin/env bash
# End to end: generate a small workload, run `devshare sim --out`, and load report.html in
# headless Chromium (report_browser_test.sh): 4 SVG plots and the summary table must render.
# Usage: report_e2e_test.sh DEVSHARE_BINARY.  Exit 77 (skip) when chromium is absent.
set -u
bin=$1
here=$(cd "$(dirname "$0")" && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
if [ ! -x "${CHROMIUM:-/usr/bin/chromium}" ]; then
  echo "SKIP: chromium not installed (make test installs Debian's chromium when it can)"
  exit 77
fi
"$bin" gen --nodes 40 --seed 3 --out "$tmp/w" >/dev/null || { echo "FAIL: gen"; exit 1; }
"$bin" sim --quiet --nodes "$tmp/w/openb_node_list_gpu_node.csv" \
  --pods "$tmp/w/openb_pod_list_default.csv" --policies first_fit,best_fit,fgd,devshare \
  --seeds 1-2 --jobs 2 --out "$tmp/out" >/dev/null || { echo "FAIL: sim --out"; exit 1; }
[ -s "$tmp/out/report.html" ] || { echo "FAIL: no report.html"; exit 1; }
bash "$here/report_browser_test.sh" "$tmp/out/report.html" 4
