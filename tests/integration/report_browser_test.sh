#!/usr/bin/env bash
# Headless-browser check of the simulator HTML report (src/sim/report.cc): loads the page offline
# in Debian's chromium, dumps the parsed DOM and checks that it holds the expected number of <svg>
# elements, the summary table with at least one row, and no external http(s) reference.
#
# Usage: report_browser_test.sh <report.html> [expected_svg_count]    (default 4: allocation,
#        allocation zoom 75-120 %, fragmentation, unallocated bars)
# Planned: report_browser_test.sh <devshare-binary-or-report-generator> <workdir>, which will
# generate the report first; for now the page is passed in directly.
#
# Exit codes: 0 pass, 1 fail, 2 usage error, 77 skip (chromium not installed; CTest
# SKIP_RETURN_CODE). Chromium runs in its own process group under a 60 s timeout
# (REPORT_BROWSER_TIMEOUT_S); on every exit path the group and any helper still naming our temp
# dir are killed and the temp dir (profile, HOME, DOM dump) is removed. CHROMIUM overrides the
# browser path (default /usr/bin/chromium).
set -u

readonly CHROMIUM="${CHROMIUM:-/usr/bin/chromium}"
readonly TIMEOUT_S="${REPORT_BROWSER_TIMEOUT_S:-60}"
readonly SVG_NS="http://www.w3.org/2000/svg"

usage() {
  echo "usage: $0 <report.html> [expected_svg_count]" >&2
  exit 2
}

fail() {
  echo "FAIL: $*" >&2
  exit 1
}

[[ $# -ge 1 && $# -le 2 ]] || usage
report="$1"
expected_svgs="${2:-4}"
[[ "$expected_svgs" =~ ^[0-9]+$ ]] || usage

if [[ ! -x "$CHROMIUM" ]]; then
  echo "SKIP: chromium not installed"
  exit 77
fi
[[ -f "$report" && -r "$report" ]] || fail "no readable report at $report"

# file:// URL of the absolute path, percent-encoding everything but unreserved chars and '/'.
file_url() {
  local path c out="" i
  path="$(cd "$(dirname "$1")" && pwd -P)/$(basename "$1")"
  local LC_ALL=C
  for ((i = 0; i < ${#path}; i++)); do
    c="${path:i:1}"
    case "$c" in
      [A-Za-z0-9/._~-]) out+="$c" ;;
      *) out+=$(printf '%%%02X' "'$c") ;;
    esac
  done
  printf 'file://%s' "$out"
}

tmp="$(mktemp -d "${TMPDIR:-/tmp}/report_browser_test.XXXXXX")" || fail "mktemp failed"
chromium_pgid=""

# shellcheck disable=SC2317  # invoked through trap
cleanup() {
  if [[ -n "$chromium_pgid" ]] && kill -0 -- "-$chromium_pgid" 2>/dev/null; then
    kill -TERM -- "-$chromium_pgid" 2>/dev/null
    sleep 1
    kill -KILL -- "-$chromium_pgid" 2>/dev/null
  fi
  # chrome_crashpad_handler daemonizes out of the group; it names the profile dir in its
  # arguments, so any process still referring to our unique temp dir is one of ours.
  local proc args
  for proc in /proc/[0-9]*; do
    args="$(tr '\0' ' ' 2>/dev/null <"$proc/cmdline")" || continue
    [[ "$args" == *"$tmp/"* ]] && kill -KILL "${proc#/proc/}" 2>/dev/null
  done
  rm -rf -- "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

mkdir -p "$tmp/profile" "$tmp/home"
url="$(file_url "$report")"

# GNU timeout (without --foreground) makes itself a process-group leader and signals the whole
# group on expiry, so chromium's helper processes die with it; its pid is the group id.
HOME="$tmp/home" XDG_CONFIG_HOME="$tmp/home/.config" XDG_CACHE_HOME="$tmp/home/.cache" \
  timeout --kill-after=5 "$TIMEOUT_S" "$CHROMIUM" \
  --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
  --no-default-browser-check --disable-background-networking --disable-component-update \
  --disable-sync --disable-extensions --disable-breakpad --disable-dev-shm-usage \
  --host-resolver-rules="MAP * ~NOTFOUND" \
  --user-data-dir="$tmp/profile" --dump-dom "$url" >"$tmp/dom.html" 2>"$tmp/stderr.txt" &
chromium_pgid=$!
wait "$chromium_pgid"
rc=$?
if [[ $rc -ne 0 ]]; then
  tail -n 20 "$tmp/stderr.txt" >&2
  [[ $rc -eq 124 || $rc -eq 137 ]] && fail "chromium timed out after ${TIMEOUT_S}s"
  fail "chromium exited with status $rc"
fi

dom="$tmp/dom.html"
[[ -s "$dom" ]] || { tail -n 20 "$tmp/stderr.txt" >&2; fail "empty DOM dump"; }
grep -q '</html>' "$dom" || fail "DOM dump is not a complete document"

svgs=$(grep -o '<svg' "$dom" | wc -l)
[[ $svgs -eq $expected_svgs ]] || fail "DOM has $svgs <svg> elements, expected $expected_svgs"
closed_svgs=$(grep -o '</svg>' "$dom" | wc -l)
[[ $closed_svgs -eq $svgs ]] || fail "DOM has $svgs <svg> but $closed_svgs </svg>"

grep -q '<table id="summary"' "$dom" || fail "no summary table (<table id=\"summary\">)"
rows=$(tr '\n' ' ' <"$dom" | sed -n 's/.*<table id="summary"[^>]*>\(.*\)<\/table>.*/\1/p' |
  sed -n 's/.*<tbody>\(.*\)<\/tbody>.*/\1/p' | grep -o '<tr' | wc -l)
[[ $rows -ge 1 ]] || fail "summary table has no body rows"

external=$(grep -oE 'https?://[^"'"'"' <>)]*' "$dom" | grep -vxF "$SVG_NS" | sort -u)
[[ -z "$external" ]] || fail "external references: $(echo "$external" | tr '\n' ' ')"

echo "PASS: $report: $svgs <svg> elements, summary table with $rows row(s)"
exit 0
