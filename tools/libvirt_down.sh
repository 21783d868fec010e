#!/usr/bin/env bash
# Undoes tools/libvirt_up.sh STATE_DIR: destroys and undefines leftover test domains while
# libvirtd still runs (names "devshare-kvmtest-<pid>-..." or "devshare-gtest-<pid>-..." whose test
# process <pid> is gone; a
# concurrent run in another build tree keeps its guests), then stops the daemons listed in
# STATE_DIR/started.pids by pid (TERM, then KILL after 15 s), checking each pid still runs the
# daemon's binary. Daemons it did not start are untouched; while another process's test domains
# exist the daemons are left running (and STATE_DIR/started.pids kept) with a message.
# Usage: tools/libvirt_down.sh STATE_DIR
set -uo pipefail
state_dir=${1:?usage: libvirt_down.sh STATE_DIR}
started="$state_dir/started.pids"
in_use=""

say() { echo "libvirt_down: $*"; }

if timeout 10 virsh -q -c qemu:///system uri >/dev/null 2>&1; then
  for d in $(timeout 10 virsh -q -c qemu:///system list --all --name 2>/dev/null); do
    case "$d" in
      devshare-kvmtest-* | devshare-gtest-*)
        pid=${d#devshare-*test-}
        pid=${pid%%-*}
        if [[ "$pid" =~ ^[0-9]+$ ]] && [ -e "/proc/$pid" ]; then  # its test still runs
          in_use="$in_use $d"
          continue
        fi
        say "removing leftover domain $d"
        timeout 20 virsh -q -c qemu:///system destroy "$d" >/dev/null 2>&1
        timeout 20 virsh -q -c qemu:///system undefine "$d" >/dev/null 2>&1
        ;;
    esac
  done
fi

[ -f "$started" ] || exit 0
if [ -n "$in_use" ]; then
  # Another build tree's kvm test is using the daemons this run started; its own cleanup (or a
  # later libvirt_down with this STATE_DIR) stops them.
  say "leaving the daemons running: in use by$in_use"
  exit 0
fi
# Stop in reverse start order (libvirtd before virtlogd).
tac "$started" | while read -r name pid; do
  [[ "$pid" =~ ^[0-9]+$ ]] || continue
  bin=/usr/sbin/$name
  if [ "$(readlink "/proc/$pid/exe" 2>/dev/null)" != "$bin" ]; then
    say "$name (pid $pid) is gone already"
    continue
  fi
  kill -TERM "$pid" 2>/dev/null
  for _ in $(seq 1 150); do
    [ -e "/proc/$pid" ] || break
    sleep 0.1
  done
  if [ -e "/proc/$pid" ]; then
    say "$name (pid $pid) ignored TERM; killing it"
    kill -KILL "$pid" 2>/dev/null
  fi
  say "stopped $name (pid $pid)"
done
rm -f "$started"
exit 0
