#!/usr/bin/env bash
# Checks the placement goal of the devshare policy on every openb trace with peer results: its
# mean unallocated GPU % at 100 % arrival must be at least 10 % lower (relative) than fgd's in
# the same run on each trace, and at least 15 % lower averaged over the traces. Prints a Markdown
# table (fgd, devshare, relative difference) and exits 1 when the goal is missed, 77 (skip) when
# the trace folder is absent.
# Usage: tools/devshare_goal.sh [BUILD_DIR] [TRACES_DIR] [SEEDS]   (default seeds 42-51)
set -uo pipefail
build=${1:-build}
traces=${2:-../shared/traces/alibaba-gpu-2023}
seeds=${3:-42-51}
bin="$build/src/cli/devshare"
if [ ! -d "$traces" ]; then echo "SKIP: trace folder $traces absent"; exit 77; fi
workloads=(default cpu050 cpu100 gpushare40 gpushare60 gpuspec10 multigpu20 multigpu30 multigpu40)
min_each=10
min_mean=15
status=0
sum=0
echo "| trace | fgd | devshare | devshare vs fgd |"
echo "|---|---|---|---|"
for w in "${workloads[@]}"; do
  out=$("$bin" sim --quiet --nodes "$traces/openb_node_list_gpu_node.csv" \
        --pods "$traces/openb_pod_list_$w.csv" --policies fgd,devshare --seeds "$seeds" \
        --jobs 2) || { echo "devshare sim failed on $w" >&2; exit 1; }
  # Table rows: policy seeds mean median sd ...
  fgd=$(echo "$out" | awk '$1=="fgd" {print $3; exit}')
  dev=$(echo "$out" | awk '$1=="devshare" {print $3; exit}')
  if [ -z "$fgd" ] || [ -z "$dev" ]; then echo "no result for $w" >&2; exit 1; fi
  gain=$(awk -v f="$fgd" -v d="$dev" 'BEGIN {printf "%.1f", 100 * (1 - d / f)}')
  echo "| $w | $fgd | $dev | $gain % |"
  sum=$(awk -v s="$sum" -v g="$gain" 'BEGIN {print s + g}')
  if awk -v g="$gain" -v m="$min_each" 'BEGIN {exit !(g < m)}'; then
    echo "MISS: $w is $gain % below fgd (goal: $min_each %)" >&2
    status=1
  fi
done
mean=$(awk -v s="$sum" -v n="${#workloads[@]}" 'BEGIN {printf "%.1f", s / n}')
echo "| mean | | | $mean % |"
if awk -v g="$mean" -v m="$min_mean" 'BEGIN {exit !(g < m)}'; then
  echo "MISS: mean $mean % below fgd (goal: $min_mean %)" >&2
  status=1
fi
exit $status
