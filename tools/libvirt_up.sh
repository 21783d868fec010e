#!/usr/bin/env bash
# Makes qemu:///system usable on a machine without systemd (reference: kvm-here.md): installs the
# Debian packages when missing, creates the kvm / libvirt-qemu groups and the libvirt-qemu account
# the QEMU driver runs guests as, and starts virtlogd and libvirtd when they are not running.
# Every daemon this script starts is recorded as "NAME PID" in STATE_DIR/started.pids;
# tools/libvirt_down.sh STATE_DIR stops exactly those (by pid), nothing else.
# Usage: tools/libvirt_up.sh STATE_DIR [--soft]
# Writes STATE_DIR/status: "ok" when libvirtd answers on qemu:///system afterwards, else
# "unavailable: <reason>". Exit 0 when ok, 1 otherwise; with --soft (the CTest fixture) always 0,
# so the kvm test can skip with the reason instead of CTest failing the fixture.
set -uo pipefail
state_dir=${1:?usage: libvirt_up.sh STATE_DIR [--soft]}
soft=${2:-}
here=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$state_dir"
started="$state_dir/started.pids"
touch "$started"
echo "unavailable: libvirt_up.sh did not finish" >"$state_dir/status"

say() { echo "libvirt_up: $*"; }
give_up() {
  say "$1"
  echo "unavailable: $1" >"$state_dir/status"
  [ "$soft" = --soft ] && exit 0
  exit 1
}

if [ "$(id -u)" -ne 0 ]; then
  give_up "not root: cannot create the libvirt-qemu account or start system daemons"
fi

if [ "${DEVSHARE_SKIP_PACKAGES:-0}" != 1 ]; then
  "$here/install_packages.sh" qemu-system-x86 qemu-utils libvirt-daemon \
      libvirt-daemon-driver-qemu libvirt-clients libvirt-dev genisoimage ||
    give_up "could not install the libvirt/QEMU Debian packages"
fi

# The account QEMU guests run as (the Debian packages expect it; without systemd-sysusers
# nobody creates it).
getent group kvm >/dev/null || groupadd -r kvm
getent group libvirt-qemu >/dev/null || groupadd -r libvirt-qemu
getent passwd libvirt-qemu >/dev/null ||
  useradd -r -g libvirt-qemu -G kvm -d /var/lib/libvirt -s /usr/sbin/nologin libvirt-qemu
# No udev: give /dev/kvm the group and mode the udev rule would (root:kvm 0660).
if [ -c /dev/kvm ]; then
  chgrp kvm /dev/kvm 2>/dev/null && chmod 0660 /dev/kvm 2>/dev/null || true
fi

# alive PIDFILE BINARY: the pid in PIDFILE is a live process running BINARY.
alive() {
  local pid
  [ -s "$1" ] || return 1
  pid=$(cat "$1" 2>/dev/null) || return 1
  [[ "$pid" =~ ^[0-9]+$ ]] || return 1
  [ "$(readlink "/proc/$pid/exe" 2>/dev/null)" = "$2" ]
}

# start NAME BINARY PIDFILE: starts the daemon unless one is running; records the pid.
start() {
  local name=$1 bin=$2 pidfile=$3
  if alive "$pidfile" "$bin"; then
    say "$name already running (pid $(cat "$pidfile")); leaving it alone"
    return 0
  fi
  [ -x "$bin" ] || give_up "$bin is missing"
  "$bin" --daemon --pid-file "$pidfile" >"$state_dir/$name.out" 2>&1
  for _ in $(seq 1 100); do
    if alive "$pidfile" "$bin"; then
      echo "$name $(cat "$pidfile")" >>"$started"
      say "started $name (pid $(cat "$pidfile"))"
      return 0
    fi
    sleep 0.1
  done
  give_up "$name did not start: $(tail -n 5 "$state_dir/$name.out" 2>/dev/null | tr '\n' ' ')"
}

mkdir -p /run/libvirt /var/log/libvirt /var/log/libvirt/qemu /var/lib/libvirt
start virtlogd /usr/sbin/virtlogd /run/virtlogd.pid
start libvirtd /usr/sbin/libvirtd /run/libvirtd.pid

for _ in $(seq 1 100); do
  if timeout 10 virsh -q -c qemu:///system uri >/dev/null 2>&1; then
    if [ -e /dev/kvm ]; then say "qemu:///system is up (/dev/kvm present)"; else
      say "qemu:///system is up (no /dev/kvm: guests will run on TCG)"; fi
    echo ok >"$state_dir/status"
    exit 0
  fi
  sleep 0.2
done
give_up "libvirtd does not answer on qemu:///system"
