#!/usr/bin/env bash
# CLI integration test of `devshare sim` input handling: a valid tiny trace runs (table, JSON, --out)
# and every malformed file or flag exits 2 with a message naming "file:line" and the column/flag;
# malformed `vm create|resize --nic/--volume` values exit 2 before any request.
#
# Usage: cli_input_test.sh <devshare-binary>
# Prints "ok - <case>" / "not ok - <case>" per case; exits 0 when all pass, 1 when any fails,
# 2 on a usage error. Everything is written under a private temp dir removed on exit.
set -u

if [[ $# -ne 1 ]]; then
  echo "usage: $0 <devshare-binary>" >&2
  exit 2
fi
readonly BIN="$1"
if [[ ! -x "$BIN" ]]; then
  echo "not ok - binary $BIN is not executable" >&2
  exit 1
fi

tmp="$(mktemp -d "${TMPDIR:-/tmp}/cli_input_test.XXXXXX")" || {
  echo "not ok - mktemp failed" >&2
  exit 1
}
cleanup() { rm -rf "$tmp"; }
trap cleanup EXIT
trap 'exit 1' INT TERM HUP

failures=0
cases=0
rc=0

# Bound every run so a hang fails the test instead of stalling CTest.
if command -v timeout > /dev/null 2>&1; then
  readonly RUNNER=(timeout 120)
else
  readonly RUNNER=()
fi

# run ARGS...: runs the binary; sets rc and leaves stdout/stderr in $tmp/stdout, $tmp/stderr.
run() {
  ${RUNNER[@]+"${RUNNER[@]}"} "$BIN" "$@" > "$tmp/stdout" 2> "$tmp/stderr"
  rc=$?
}

# report NAME PROBLEM...: prints the case result; no PROBLEM means it passed.
report() {
  local name="$1"
  shift
  cases=$((cases + 1))
  if [[ $# -eq 0 ]]; then
    echo "ok - $name"
    return
  fi
  failures=$((failures + 1))
  echo "not ok - $name"
  local p
  for p in "$@"; do echo "#   $p"; done
  echo "#   exit code: $rc"
  sed 's/^/#   stderr: /' "$tmp/stderr" | head -n 10
}

# expect_fail NAME CODE "SUBSTRING..." -- ARGS...: the run exits CODE, stdout is empty and stderr
# contains every SUBSTRING (fixed strings).
expect_fail() {
  local name="$1" code="$2"
  shift 2
  local -a want=()
  while [[ $# -gt 0 && "$1" != "--" ]]; do
    want+=("$1")
    shift
  done
  shift  # --
  run "$@"
  local -a problems=()
  [[ $rc -eq $code ]] || problems+=("expected exit code $code")
  local w
  for w in ${want[@]+"${want[@]}"}; do
    grep -qF -- "$w" "$tmp/stderr" || problems+=("stderr lacks '$w'")
  done
  [[ ! -s "$tmp/stdout" ]] || problems+=("stdout is not empty on error")
  report "$name" ${problems[@]+"${problems[@]}"}
}

# A valid cluster of 2 GPU nodes and a few pods (short column set).
nodes="$tmp/nodes.csv"
pods="$tmp/pods.csv"
printf '%s\n' 'sn,cpu_milli,memory_mib,gpu,model' \
  'node-0,32000,131072,2,T4' \
  'node-1,16000,65536,1,V100M16' > "$nodes"
printf '%s\n' 'name,cpu_milli,memory_mib,num_gpu,gpu_milli' \
  'pod-0,1000,1024,1,500' \
  'pod-1,2000,2048,1,1000' \
  'pod-2,1000,1024,0,0' \
  'pod-3,1000,1024,1,250' > "$pods"
readonly SIM_ARGS=(sim --nodes "$nodes" --pods "$pods" --seeds 1 --policies "first_fit,fgd" --jobs 1)

# --- valid input -------------------------------------------------------------------------------

run "${SIM_ARGS[@]}"
problems=()
[[ $rc -eq 0 ]] || problems+=("expected exit code 0")
grep -qE '^first_fit[[:space:]]' "$tmp/stdout" || problems+=("table lacks a first_fit row")
grep -qE '^fgd[[:space:]]' "$tmp/stdout" || problems+=("table lacks an fgd row")
report "valid input prints a table with both policies" ${problems[@]+"${problems[@]}"}

run "${SIM_ARGS[@]}" --json
problems=()
[[ $rc -eq 0 ]] || problems+=("expected exit code 0")
if command -v python3 > /dev/null 2>&1; then
  python3 -c '
import json, sys
doc = json.load(sys.stdin)
policies = {r["policy"] for r in doc["runs"]}
holes_ok = len(doc["hole_bins"]) == 5 and all(
    len(r["free_by_hole_pct_at_100"]) == 5 for r in doc["runs"])
holes_ok = holes_ok and len(doc["refused_bins"]) == 4 and all(
    len(r["refused_by_size_pct_at_100"]) == 4 for r in doc["runs"])
sys.exit(0 if policies == {"first_fit", "fgd"} and holes_ok else 1)
' < "$tmp/stdout" 2> "$tmp/json_error" ||
    problems+=("stdout is not JSON with runs of first_fit and fgd: $(tail -n 1 "$tmp/json_error")")
else
  grep -qF '"runs"' "$tmp/stdout" || problems+=("stdout lacks \"runs\"")
fi
report "valid input --json prints JSON" ${problems[@]+"${problems[@]}"}

run "${SIM_ARGS[@]}" --holes
problems=()
[[ $rc -eq 0 ]] || problems+=("expected exit code 0")
grep -qF 'free GPU capacity at 100 % arrival' "$tmp/stdout" || problems+=("no hole table")
grep -qE '^policy +1-99 +100-199 +200-499 +500-999 +idle +total$' "$tmp/stdout" ||
  problems+=("hole table header differs")
[[ $(grep -cE '^(first_fit|fgd)( +[0-9]+\.[0-9]+){6}$' "$tmp/stdout") -eq 2 ]] ||
  problems+=("hole table lacks a row of 6 figures per policy")
grep -qE '^policy +share 1-499 +share 500-799 +share 800-999 +whole GPUs +total$' "$tmp/stdout" ||
  problems+=("refused-demand table header differs")
[[ $(grep -cE '^(first_fit|fgd)( +[0-9]+\.[0-9]+){5}$' "$tmp/stdout") -eq 2 ]] ||
  problems+=("refused-demand table lacks a row of 5 figures per policy")
report "--holes prints where the free capacity lies and what was refused" ${problems[@]+"${problems[@]}"}

run "${SIM_ARGS[@]}" --bound
problems=()
[[ $rc -eq 0 ]] || problems+=("expected exit code 0")
grep -qE '^upper bound \(configuration LP, GLPK\).* unallocated >= [0-9]+\.[0-9]+ %$' "$tmp/stdout" ||
  problems+=("no bound line")
grep -qE '^  its optimum leaves out \(GPU demand, % of capacity\): ' "$tmp/stdout" ||
  problems+=("no line on what the optimum leaves out")
grep -qE '^  with every share-GPU pod placed.*: unallocated >= [0-9]+\.[0-9]+ %$' "$tmp/stdout" ||
  problems+=("no share-pods-placed bound")
[[ $(grep -cE '^(first_fit|fgd)( +-?[0-9]+\.[0-9]+){3}$' "$tmp/stdout") -eq 2 ]] ||
  problems+=("gap table lacks a row of 3 figures per policy")
report "--bound prints both LP floors and each policy's gaps" ${problems[@]+"${problems[@]}"}

crlf_pods="$tmp/crlf_pods.csv"
sed 's/$/\r/' "$pods" > "$crlf_pods"
run sim --nodes "$nodes" --pods "$crlf_pods" --seeds 1 --policies first_fit --jobs 1
problems=()
[[ $rc -eq 0 ]] || problems+=("expected exit code 0")
report "CRLF pod file is accepted" ${problems[@]+"${problems[@]}"}

out="$tmp/out"
run "${SIM_ARGS[@]}" --out "$out"
problems=()
[[ $rc -eq 0 ]] || problems+=("expected exit code 0")
[[ -s "$out/summary.json" ]] || problems+=("no $out/summary.json")
for policy in first_fit fgd; do
  compgen -G "$out/curves/${policy}*.csv" > /dev/null || problems+=("no curves/${policy}*.csv")
done
report "--out DIR writes summary.json and curves/*.csv" ${problems[@]+"${problems[@]}"}

# --- malformed files: exit 2, "file:line" and the column ---------------------------------------

readonly POD_HEADER='name,cpu_milli,memory_mib,num_gpu,gpu_milli'
readonly GOOD_ROW='pod-0,1000,1024,1,500'

# bad_pods NAME LOCATION COLUMN LINE...: writes LINE... to pods.csv in a fresh folder and expects
# exit 2 naming LOCATION (e.g. pods.csv:3) and 'COLUMN'.
bad_pods() {
  local name="$1" location="$2" column="$3"
  shift 3
  local dir="$tmp/case$cases"
  mkdir -p "$dir"
  printf '%s\n' "$@" > "$dir/pods.csv"
  expect_fail "$name" 2 "$location" "'$column'" -- \
    sim --nodes "$nodes" --pods "$dir/pods.csv" --seeds 1 --policies first_fit --jobs 1
}

bad_pods "missing column" "pods.csv:1" gpu_milli \
  'name,cpu_milli,memory_mib,num_gpu' 'pod-0,1000,1024,1'
bad_pods "unknown column" "pods.csv:1" colour \
  "$POD_HEADER,colour" "$GOOD_ROW,red"
bad_pods "non-number" "pods.csv:3" cpu_milli \
  "$POD_HEADER" "$GOOD_ROW" 'pod-1,lots,1024,1,500'
bad_pods "negative value" "pods.csv:3" memory_mib \
  "$POD_HEADER" "$GOOD_ROW" 'pod-1,1000,-1024,1,500'
bad_pods "gpu_milli > 1000" "pods.csv:3" gpu_milli \
  "$POD_HEADER" "$GOOD_ROW" 'pod-1,1000,1024,1,1500'
bad_pods "num_gpu > 1 with gpu_milli < 1000" "pods.csv:3" gpu_milli \
  "$POD_HEADER" "$GOOD_ROW" 'pod-1,1000,1024,2,500'
bad_pods "num_gpu 0 with gpu_milli > 0" "pods.csv:3" gpu_milli \
  "$POD_HEADER" "$GOOD_ROW" 'pod-1,1000,1024,0,300'

dir="$tmp/bad_fields"
mkdir -p "$dir"
printf '%s\n' "$POD_HEADER" "$GOOD_ROW" 'pod-1,1000,1024' > "$dir/pods.csv"
expect_fail "wrong field count" 2 "pods.csv:3" "expected 5 fields" -- \
  sim --nodes "$nodes" --pods "$dir/pods.csv" --seeds 1 --jobs 1

dir="$tmp/bad_nodes"
mkdir -p "$dir"
printf '%s\n' 'sn,cpu_milli,memory_mib,gpu,model' 'node-0,32000,131072,2,T4' \
  'node-1,16000,65536,4,' > "$dir/nodes.csv"
expect_fail "node with GPUs but no model" 2 "nodes.csv:3" "'model'" -- \
  sim --nodes "$dir/nodes.csv" --pods "$pods" --seeds 1 --jobs 1

: > "$tmp/empty.csv"
expect_fail "empty pod file" 2 "empty.csv:1" -- \
  sim --nodes "$nodes" --pods "$tmp/empty.csv" --seeds 1 --jobs 1

# --- flags and files ---------------------------------------------------------------------------

expect_fail "unknown flag" 2 "--bogus" -- "${SIM_ARGS[@]}" --bogus
expect_fail "unknown policy" 2 "nope" "known:" "first_fit" "fgd" "best_fit" -- \
  sim --nodes "$nodes" --pods "$pods" --seeds 1 --policies first_fit,nope --jobs 1
expect_fail "missing node file" 2 "$tmp/absent_nodes.csv" -- \
  sim --nodes "$tmp/absent_nodes.csv" --pods "$pods" --seeds 1 --jobs 1
expect_fail "missing pod file" 2 "$tmp/absent_pods.csv" -- \
  sim --nodes "$nodes" --pods "$tmp/absent_pods.csv" --seeds 1 --jobs 1
expect_fail "--seeds 5-1" 2 "--seeds" "5-1" -- \
  sim --nodes "$nodes" --pods "$pods" --seeds 5-1 --jobs 1
expect_fail "--jobs 0" 2 "--jobs" -- sim --nodes "$nodes" --pods "$pods" --seeds 1 --jobs 0
expect_fail "sim without --pods" 2 "usage" "--pods" -- sim --nodes "$nodes"
expect_fail "--no-prior in replay" 2 "--no-prior" "inflate" -- \
  sim --nodes "$nodes" --pods "$pods" --seeds 1 --jobs 1 --mode replay --no-prior
# serve refuses a bad workload history before it listens, naming the file and line.
printf '%s\n' 'name,cpu_milli,memory_mib,num_gpu,gpu_milli' 'p0,1000,1024,1,500' \
  'p1,abc,1024,1,500' > "$tmp/bad_history.csv"
expect_fail "serve --workload-history with a bad row" 2 "bad_history.csv:3" "cpu_milli" -- \
  serve --db memory: --listen 127.0.0.1:0 --admin-token-file "$tmp/admin.token" \
  --workload-history "$tmp/bad_history.csv"
printf '%s\n' 'name,cpu_milli,memory_mib,num_gpu,gpu_milli' > "$tmp/empty_history.csv"
expect_fail "serve --workload-history without pods" 2 "no pods" -- \
  serve --db memory: --listen 127.0.0.1:0 --admin-token-file "$tmp/admin.token" \
  --workload-history "$tmp/empty_history.csv"
# vm create/resize --nic/--volume: a malformed value is refused before any request (the server
# named here does not exist, so a request would exit 3), naming the flag and the key.
readonly NO_SERVER=(--server http://127.0.0.1:1)
readonly VM_ARGS=(vm create --name v --cpu-milli 1000 --memory-mib 1024 "${NO_SERVER[@]}")
expect_fail "vm create --volume size=x" 2 "--volume: key 'size': expected a non-negative integer, got 'x'" -- \
  "${VM_ARGS[@]}" --volume name=data,size=x
expect_fail "vm create --nic negative min" 2 "--nic: key 'min'" "got '-5'" -- \
  "${VM_ARGS[@]}" --nic network=default,min=-5
expect_fail "vm create --nic unknown key" 2 "--nic: unknown key 'speed'" -- \
  "${VM_ARGS[@]}" --nic speed=10
expect_fail "vm create --volume missing '='" 2 "--volume: key 'tier'" -- \
  "${VM_ARGS[@]}" --volume name=data,size=5,tier
expect_fail "vm create --volume empty name" 2 "--volume: key 'name': expected a name" -- \
  "${VM_ARGS[@]}" --volume=name=,size=5
expect_fail "vm resize --nic without index" 2 "--nic: key 'index' is required" -- \
  vm resize vm-1 "${NO_SERVER[@]}" --nic min=2000
expect_fail "vm resize --volume non-integer size" 2 "--volume: key 'size'" "got '80g'" -- \
  vm resize vm-1 "${NO_SERVER[@]}" --volume name=data,size=80g
expect_fail "no arguments" 2 "usage" --
expect_fail "unknown command" 2 "unknown command" "usage" -- simulate

echo "# $((cases - failures)) of $cases cases passed"
[[ $failures -eq 0 ]]
