#!/usr/bin/env bash
# End-to-end issue-5 check through the control plane: `devshare serve --local-host` (its
# in-process host agent) on qemu:///system with spinning guests pinned to host CPU 1. Three VMs created with
# `devshare vm create` (cpu_milli 100, cpu_weight 100/200/400) must get CPU time 1:2:4 within
# 10 % (`devshare host qos-check --tolerance-pct 10`); a VM with cpu_cap_pct 25 alone on the CPU
# must stay <= 27 %; `devshare vm delete` must leave no domain behind. Exit 77 (CTest skip) with
# the reason when libvirtd cannot be had. Usage: kvm_serve_test.sh DEVSHARE_BIN LIBVIRT_STATE_DIR
set -uo pipefail
bin=$1
state=$2
status=$(cat "$state/status" 2>/dev/null || echo "unavailable: no status file")
if [ "$status" != ok ]; then echo "SKIP: libvirtd cannot be had: $status"; exit 77; fi
if ! virsh -c qemu:///system list >/dev/null 2>&1; then echo "SKIP: qemu:///system not answering"; exit 77; fi

tmp=$(mktemp -d)
chmod 0755 "$tmp"  # QEMU runs as libvirt-qemu and must reach the guest images below
server_pid=
ids=()
cleanup() {
  for id in "${ids[@]}"; do
    virsh -c qemu:///system destroy "devshare-$id" >/dev/null 2>&1
    virsh -c qemu:///system undefine "devshare-$id" >/dev/null 2>&1
  done
  if [ -n "$server_pid" ] && kill -0 "$server_pid" 2>/dev/null; then
    kill -TERM "$server_pid"; sleep 2; kill -KILL "$server_pid" 2>/dev/null
  fi
  wait 2>/dev/null
  rm -rf "$tmp"
}
trap cleanup EXIT
fail() { echo "FAIL: $*"; echo "--- server stderr:"; cat "$tmp/err"; exit 1; }

# A relative --runtime-dir (issue 14, deliverable 4: libvirt refused the relative disk path): the
# server resolves it against its working directory and prints the path it uses.
bin=$(realpath "$bin")
(cd "$tmp" && exec "$bin" serve --listen 127.0.0.1:0 --db "sqlite:$tmp/d.db" \
  --admin-token-file "$tmp/admin.token" --local-host kvm-e2e --hypervisor qemu:///system \
  --guest-cpuset 1 --guest-image spin --runtime-dir ./var/run) >"$tmp/out" 2>"$tmp/err" &
server_pid=$!
for _ in $(seq 1 100); do grep -q "listening on" "$tmp/out" && break; sleep 0.1; done
url=$(sed -n 's/.*listening on \(http[^ ]*\).*/\1/p' "$tmp/out")
[ -n "$url" ] || fail "server did not start"
grep -qx "devshare serve: runtime dir $(realpath "$tmp")/var/run" "$tmp/err" ||
  fail "serve did not print the absolute runtime dir"
export DEVSHARE_SERVER=$url DEVSHARE_TOKEN=$(head -1 "$tmp/admin.token")

create() {  # name weight [cap]
  local extra=()
  [ -n "${3:-}" ] && extra=(--cpu-cap-pct "$3")
  local out
  out=$("$bin" vm create --name "$1" --cpu-milli 100 --memory-mib 64 --cpu-weight "$2" \
        "${extra[@]}" --json) || fail "vm create $1: $out"
  local id state
  id=$(echo "$out" | sed -n 's/.*"id":"\(vm-[0-9a-f]*\)".*/\1/p')
  state=$(echo "$out" | sed -n 's/.*"state":"\([a-z]*\)".*/\1/p')
  [ -n "$id" ] || fail "no id in: $out"
  ids+=("$id")
  [ "$state" = creating ] || fail "vm $1 answered in state '$state' (want creating)"
  # The in-process agent realizes it: wait (up to 60 s) for the state it reports.
  for _ in $(seq 1 300); do
    state=$("$bin" vm show "$id" --json | sed -n 's/.*"state":"\([a-z]*\)".*/\1/p')
    [ "$state" = running ] && break
    [ "$state" = failed ] && fail "vm $1 failed: $("$bin" vm show "$id")"
    sleep 0.2
  done
  [ "$state" = running ] || fail "vm $1 not running after 60 s (state '$state')"
  echo "$id"
}

for w in 100 200 400; do create "w$w" "$w" >/dev/null; done
sleep 2  # firmware -> boot sector loop
echo "== weights 100:200:400 on one CPU"
"$bin" host qos-check --hypervisor qemu:///system --window-s 5 --tolerance-pct 10 \
  || fail "shares 1:2:4 not within 10 %"

delete_all() {  # two-phase: the agent removes the domain, then the VM is gone from the ledger
  for id in "${ids[@]}"; do "$bin" vm delete "$id" >/dev/null || fail "vm delete $id"; done
  for id in "${ids[@]}"; do
    for _ in $(seq 1 300); do
      "$bin" vm show "$id" >/dev/null 2>&1 || break
      sleep 0.2
    done
    "$bin" vm show "$id" >/dev/null 2>&1 && fail "vm $id still in the ledger 60 s after delete"
  done
}
delete_all
for id in "${ids[@]}"; do
  virsh -c qemu:///system dominfo "devshare-$id" >/dev/null 2>&1 && fail "domain devshare-$id left"
done
ids=()

create capped 100 25 >/dev/null
sleep 2
echo "== cap 25 % alone on the CPU"
out=$("$bin" host qos-check --hypervisor qemu:///system --window-s 5 --json) \
  || fail "qos-check: $out"
echo "$out"
pct=$(echo "$out" | grep -o '"achieved_pct": *[0-9.]*' | head -1 | cut -d: -f2 | tr -d ' ')
[ -n "$pct" ] || fail "no achieved percentage in qos-check output"
awk -v p="$pct" 'BEGIN { exit !(p <= 27.0) }' || fail "capped VM used $pct % (> 27 %)"
echo "capped VM: $pct % of one CPU"
delete_all
left=$(virsh -c qemu:///system list --all --name | grep -c "^devshare-vm-" || true)
for id in "${ids[@]}"; do
  virsh -c qemu:///system dominfo "devshare-$id" >/dev/null 2>&1 && fail "domain devshare-$id left"
done
ids=()
echo "PASS: shares 1:2:4 within 10 %, cap <= 27 %, no domain left (other devshare-vm-* domains on the machine: $left)"
