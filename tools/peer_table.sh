#!/usr/bin/env bash
# Reproduces the FGD paper's policy table on every openb trace that has peer results:
# runs `devshare sim --peer ... --check-peer` per trace and prints a Markdown table of our mean
# ± sd unallocated GPU % at 100 % arrival, then " / peer mean (difference)" where the peer
# reports the policy. Exit status 1 if any trace is outside
# the band. Usage: tools/peer_table.sh [BUILD_DIR] [TRACES_DIR] [POLICIES]
set -uo pipefail
build=${1:-build}
traces=${2:-../shared/traces/alibaba-gpu-2023}
policies=${3:-random,dot_product,gpu_clustering,gpu_packing,best_fit,fgd}
bin="$build/src/cli/devshare"
if [ ! -d "$traces" ]; then echo "SKIP: trace folder $traces absent"; exit 77; fi
workloads=(default cpu050 cpu100 gpushare40 gpushare60 gpuspec10 multigpu20 multigpu30 multigpu40)
status=0
IFS=, read -r -a pols <<<"$policies"
printf "| trace |"; for p in "${pols[@]}"; do printf " %s |" "$p"; done; echo
printf '|---|'; for p in "${pols[@]}"; do printf -- '---|'; done; echo
for w in "${workloads[@]}"; do
  out=$("$bin" sim --quiet --nodes "$traces/openb_node_list_gpu_node.csv" \
        --pods "$traces/openb_pod_list_$w.csv" --policies "$policies" --seeds 42-51 --jobs 2 \
        --peer "$traces/peer_analysis_allo_discrete.csv" --check-peer) || status=1
  printf '| %s |' "$w"
  for p in "${pols[@]}"; do
    # Main table: policy seeds mean median sd ...; comparison table: policy ours peer diff band.
    ours=$(echo "$out" | awk -v p="$p" '$1==p {printf "%s ± %s", $3, $5; exit}')
    peer=$(echo "$out" | awk -v p="$p" 'f && $1==p {printf " / %s (%s)", $3, $4} /^policy +ours mean/ {f=1}')
    printf ' %s%s |' "$ours" "$peer"
  done
  echo
done
exit $status
