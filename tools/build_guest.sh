#!/usr/bin/env bash
# Builds devshare's tiny real Linux guest from Debian packages only:
#   OUT_DIR/vmlinuz            the kernel of Debian's linux-image-cloud-amd64 (extracted, not installed)
#   OUT_DIR/initramfs.img      an lz4 (legacy) cpio: busybox-static, fio and iperf3 (with the shared libraries ldd names),
#                              the virtio (incl. balloon)/isofs modules (with their dependencies),
#                              the devshare-io / -net / -load test tools and an /init that
#                              reads the NoCloud seed (label cidata), sets the hostname and prints
#                              "devshare-guest: booted hostname=<h> instance=<id>" on ttyS0
#   OUT_DIR/stamp              the inputs of the build; a rerun with the same inputs does nothing
# Usage: tools/build_guest.sh OUT_DIR [--soft]
#   --soft: a failure (no root to install packages, no package mirror) writes OUT_DIR/status
#           "unavailable: <reason>" and exits 0, so that the kvm tests skip with that reason.
# Packages: the kernel and busybox-static are fetched with `apt-get download` into OUT_DIR/cache
# and unpacked with `dpkg-deb -x` (the host system is not changed); fio and iperf3 are installed
# with apt-get (ldd needs their libraries on the host). No other downloads.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
out="${1:?usage: build_guest.sh OUT_DIR [--soft]}"
soft=0
[ "${2:-}" = "--soft" ] && soft=1
mkdir -p "$out"
out="$(cd "$out" && pwd)"
cache="$out/cache"
status_file="$out/status"

fail() {
  echo "build_guest: $*" >&2
  if [ "$soft" = 1 ]; then
    echo "unavailable: $*" >"$status_file"
    exit 0
  fi
  echo "unavailable: $*" >"$status_file"
  exit 1
}

kernel_meta=linux-image-cloud-amd64
# The modules the guest loads (dependencies are added from each module's depends= field).
modules=(virtio_pci virtio_blk virtio_net virtio_console virtio_balloon isofs)

# fio and iperf3 come from the host (ldd copies their libraries); install them when missing.
if ! command -v fio >/dev/null || ! command -v iperf3 >/dev/null || ! command -v lz4 >/dev/null; then
  if [ "$(id -u)" -ne 0 ]; then fail "fio/iperf3 missing and not root to install them"; fi
  "$here/install_packages.sh" fio iperf3 lz4 >&2 || fail "apt-get could not install fio iperf3 lz4"
fi

# The stamp's first lines: what can be checked without asking apt (instant reruns); the kernel
# package and versions follow. A newer kernel in the mirror does not trigger a rebuild.
quick="script $(sha256sum "${BASH_SOURCE[0]}" | cut -c1-16)
fio $(dpkg-query -W -f='${Version}' fio)
iperf3 $(dpkg-query -W -f='${Version}' iperf3)
modules ${modules[*]}"
if [ -f "$out/stamp" ] && [ "$(head -4 "$out/stamp")" = "$quick" ] && [ -s "$out/vmlinuz" ] &&
  [ -s "$out/initramfs.img" ]; then
  echo "ok" >"$status_file"
  echo "build_guest: $out is up to date ($(sed -n 's/^kernel //p' "$out/stamp"))"
  exit 0
fi
kernel_pkg="$(apt-cache depends "$kernel_meta" 2>/dev/null |
  sed -n 's/^ *Depends: \(linux-image-[0-9][^ ]*\)$/\1/p' | head -1)"
[ -n "$kernel_pkg" ] || fail "apt-cache knows no $kernel_meta (run apt-get update)"
version_of() { apt-cache policy "$1" 2>/dev/null | sed -n 's/^ *Candidate: //p' | head -1; }
inputs="$quick
kernel $kernel_pkg $(version_of "$kernel_pkg")
busybox-static $(version_of busybox-static)"

# --- fetch and unpack the Debian packages (cache kept between builds) ---
mkdir -p "$cache/debs"
fetch() {  # fetch PACKAGE: its .deb in $cache/debs (apt-get download; reuses a cached one)
  local pkg="$1" ver file
  ver="$(version_of "$pkg")"
  file="$(ls "$cache/debs/${pkg}_"*.deb 2>/dev/null | grep -F "$(echo "$ver" | sed 's/:/%3a/')" |
    head -1 || true)"
  if [ -z "$file" ]; then
    # _apt cannot write into an arbitrary folder: download as root without the sandbox note.
    (cd "$cache/debs" && apt-get download -q -o APT::Sandbox::User=root "$pkg" >&2) ||
      fail "apt-get download $pkg failed"
    file="$(ls -t "$cache/debs/${pkg}_"*.deb | head -1)"
  fi
  echo "$file"
}
kernel_deb="$(fetch "$kernel_pkg")"
busybox_deb="$(fetch busybox-static)"
rm -rf "$cache/kernel" "$cache/busybox"
dpkg-deb -x "$kernel_deb" "$cache/kernel"
dpkg-deb -x "$busybox_deb" "$cache/busybox"
kver="${kernel_pkg#linux-image-}"
moddir="$cache/kernel/lib/modules/$kver"
[ -d "$moddir" ] || fail "$kernel_deb has no lib/modules/$kver"
vmlinuz="$cache/kernel/boot/vmlinuz-$kver"
[ -f "$vmlinuz" ] || fail "$kernel_deb has no boot/vmlinuz-$kver"

# --- the root file system of the initramfs ---
root="$cache/root"
rm -rf "$root"
mkdir -p "$root"/{bin,sbin,usr/bin,usr/sbin,proc,sys,dev,mnt/seed,tmp,run,etc,root,lib/modules}
cp "$cache/busybox/bin/busybox" "$root/bin/busybox"
ln -s busybox "$root/bin/sh"

copy_with_libs() {  # copy_with_libs BINARY: the binary to /usr/bin and every library ldd names
  local bin="$1"
  cp "$bin" "$root/usr/bin/"
  ldd "$bin" | grep -o '/[^ ]*' | while read -r lib; do
    [ -f "$lib" ] || continue
    mkdir -p "$root$(dirname "$lib")"
    cp -L "$lib" "$root$lib"
  done
}
copy_with_libs "$(command -v fio)"
copy_with_libs "$(command -v iperf3)"
# /lib64 -> the dynamic loader path some binaries name.
[ -e "$root/lib64" ] || { [ -d "$root/usr/lib64" ] && ln -s usr/lib64 "$root/lib64"; } || true

# Modules: resolve depends= recursively, dependencies first; built-in ones need nothing.
declare -A done_mod=()
order=()
module_path() {  # module_path NAME: path of NAME.ko* relative to $moddir ("" when built in)
  local n="$1" alt
  alt="$(echo "$n" | tr '_-' '-_')"
  (cd "$moddir" && find kernel \( -name "$n.ko*" -o -name "$alt.ko*" \) | head -1)
}
add_module() {
  local n="$1" p deps d
  [ -n "${done_mod[$n]:-}" ] && return 0
  done_mod[$n]=1
  if grep -qE "/${n//_/[_-]}\.ko" "$moddir/modules.builtin"; then return 0; fi
  p="$(module_path "$n")"
  [ -n "$p" ] || fail "module $n is neither built in nor in $kernel_pkg"
  local src="$moddir/$p" raw
  case "$p" in
    *.ko.xz) raw="$(xz -dc "$src" | grep -a -o 'depends=[^[:cntrl:]]*' | head -1)" ;;
    *.ko.zst) fail "zstd-compressed modules are not handled ($p)" ;;
    *) raw="$(grep -a -o 'depends=[^[:cntrl:]]*' "$src" | head -1)" ;;
  esac
  deps="${raw#depends=}"
  for d in ${deps//,/ }; do add_module "$d"; done
  local base
  base="$(basename "$p")"
  base="${base%.xz}"
  case "$p" in
    *.ko.xz) xz -dc "$src" >"$root/lib/modules/$base" ;;
    *) cp "$src" "$root/lib/modules/$base" ;;
  esac
  order+=("$base")
}
for m in "${modules[@]}"; do add_module "$m"; done
printf '%s\n' "${order[@]}" >"$root/lib/modules/load-order"

cat >"$root/etc/udhcpc.script" <<'EOF'
#!/bin/sh
# udhcpc hook: configure the interface from the lease.
case "$1" in
  deconfig) ip addr flush dev "$interface"; ip link set "$interface" up ;;
  bound|renew)
    ip addr flush dev "$interface"
    ip addr add "$ip/${mask:-24}" dev "$interface"
    for r in $router; do ip route add default via "$r" dev "$interface"; break; done
    : >/etc/resolv.conf
    for d in $dns; do echo "nameserver $d" >>/etc/resolv.conf; done
    echo "devshare-guest: $interface $ip/${mask:-24}" >/dev/ttyS0 ;;
esac
exit 0
EOF
chmod 0755 "$root/etc/udhcpc.script"

cat >"$root/init" <<'EOF'
#!/bin/sh
# devshare guest init: modules, NoCloud seed (label cidata), hostname, marker on ttyS0, idle.
/bin/busybox --install -s
export PATH=/bin:/sbin:/usr/bin:/usr/sbin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mkdir -p /dev/pts && mount -t devpts devpts /dev/pts
for m in $(cat /lib/modules/load-order); do insmod "/lib/modules/$m" 2>/dev/null; done
host=devshare-guest
instance=none
seed=""
i=0
while [ -z "$seed" ] && [ $i -lt 150 ]; do  # up to 15 s for the seed disk (TCG is slow)
  seed="$(findfs LABEL=cidata 2>/dev/null)"
  if [ -z "$seed" ]; then
    for d in /dev/vd? /dev/sr?; do
      [ -b "$d" ] || continue
      if mount -o ro "$d" /mnt/seed 2>/dev/null; then
        [ -f /mnt/seed/meta-data ] && seed="$d"
        umount /mnt/seed
        [ -n "$seed" ] && break
      fi
    done
  fi
  [ -n "$seed" ] || { sleep 0.1; i=$((i + 1)); }
done
if [ -n "$seed" ] && mount -o ro "$seed" /mnt/seed 2>/dev/null; then
  v="$(sed -n 's/^local-hostname: *//p' /mnt/seed/meta-data | tr -d '\r"' | head -1)"
  [ -n "$v" ] && host="$v"
  v="$(sed -n 's/^instance-id: *//p' /mnt/seed/meta-data | tr -d '\r"' | head -1)"
  [ -n "$v" ] && instance="$v"
  [ -f /mnt/seed/user-data ] && cp /mnt/seed/user-data /etc/user-data
  [ -f /mnt/seed/network-config ] && cp /mnt/seed/network-config /etc/network-config
  umount /mnt/seed
else
  echo "devshare-guest: no NoCloud seed (label cidata) found" >/dev/ttyS0
fi
hostname "$host"
echo "$host" >/etc/hostname
echo "devshare-guest: booted hostname=$host instance=$instance" >/dev/ttyS0
ip link set lo up
# Tenant NICs: static addresses from the seed's network-config (version 2, as devshare writes
# it: per NIC a "macaddress:" line, then "- a.b.c.d/n" lines under "addresses:").
static=" "
if [ -f /etc/network-config ]; then
  mac=""
  while read -r key val; do
    case "$key" in
      macaddress:) mac="$(echo "$val" | tr -d '"' | tr 'A-F' 'a-f')" ;;
      -)
        [ -n "$mac" ] || continue
        for d in /sys/class/net/*; do
          [ "$(cat "$d/address" 2>/dev/null)" = "$mac" ] || continue
          ifname="${d##*/}"
          ip addr add "$val" dev "$ifname" && ip link set "$ifname" up
          static="$static$ifname "
          echo "devshare-guest: net $ifname $mac $val" >/dev/ttyS0
        done ;;
    esac
  done </etc/network-config
fi
# The user-mode NIC (a VM without tenant NICs): DHCP from QEMU's slirp.
if [ -e /sys/class/net/eth0 ] && [ "${static#* eth0 }" = "$static" ]; then
  udhcpc -i eth0 -s /etc/udhcpc.script -t 5 -T 1 -A 5 -b -q >/dev/null 2>&1 &
fi
net="$(sed -n 's/.*devshare\.net=\([^ ]*\).*/\1/p' /proc/cmdline)"
[ -n "$net" ] && /usr/bin/devshare-net "$net" >/dev/ttyS0 2>&1 &
io="$(sed -n 's/.*devshare\.io=\([^ ]*\).*/\1/p' /proc/cmdline)"
[ -n "$io" ] && /usr/bin/devshare-io "$io" >/dev/ttyS0 2>&1 &
load="$(sed -n 's/.*devshare\.load=\([^ ]*\).*/\1/p' /proc/cmdline)"
[ -n "$load" ] && /usr/bin/devshare-load "$load" >/dev/ttyS0 2>&1 &
while true; do
  setsid sh -c 'exec sh </dev/ttyS0 >/dev/ttyS0 2>&1'
  sleep 1
done
EOF
chmod 0755 "$root/init"

# devshare-io: the guest side of `devshare bench io` and the storage tests, run by /init when the
# kernel command line holds devshare.io=MODE:BS:IODEPTH:SECONDS. It waits for the first volume
# (/dev/vdc), then
#   MODE fsync:  writes block i (4 KiB, "devshare-blk <i>") with fsync for i < SECONDS and prints
#                "devshare-io: synced <i>" after each (the host checks every synced block);
#   other MODEs: waits for the host's go mark (DEVSHARE-GO in the first 4 KiB), runs fio MODE
#                (randread, randwrite, randrw, read, write; "+verify" checks every block written,
#                crc32c, read back while writing: --verify_backlog) with
#                BS and IODEPTH for SECONDS and prints "devshare-io: iops <ms> <iops>" per second,
#                "devshare-io: terse <fio terse v3 line>" and "devshare-io: done rc=<fio's exit>".
cat >"$root/usr/bin/devshare-io" <<'EOF'
#!/bin/sh
IFS=: read -r mode bs qd secs <<ARGS
$1
ARGS
dev=/dev/vdc
i=0
while [ ! -b "$dev" ] && [ $i -lt 300 ]; do sleep 0.1; i=$((i + 1)); done
[ -b "$dev" ] || { echo "devshare-io: error no $dev"; exit 1; }
echo "devshare-io: ready dev=$dev sectors=$(cat /sys/block/vdc/size)"
if [ "$mode" = fsync ]; then
  i=0
  while [ $i -lt "$secs" ]; do
    printf 'devshare-blk %08d\n' $i | dd of=$dev bs=4096 seek=$i count=1 conv=sync,fsync,notrunc \
      2>/dev/null || { echo "devshare-io: write-error $i"; exit 1; }
    echo "devshare-io: synced $i"
    i=$((i + 1))
  done
  echo "devshare-io: done blocks=$i"
  exit 0
fi
while :; do
  echo 3 >/proc/sys/vm/drop_caches
  m="$(dd if=$dev bs=4096 count=1 iflag=direct 2>/dev/null | head -c 11)"
  [ "$m" = DEVSHARE-GO ] && break
  sleep 0.05
done
echo "devshare-io: go"
# fio keeps its shared state in /dev/shm (SIGBUS without it); run its job as a thread as well.
mkdir -p /dev/shm && mount -t tmpfs -o size=64m tmpfs /dev/shm 2>/dev/null
verify=""
case "$mode" in *+verify) mode="${mode%+verify}"; verify="--verify=crc32c --verify_fatal=1 --verify_backlog=16" ;; esac
# shellcheck disable=SC2086
fio --name=io --thread --filename=$dev --direct=1 --ioengine=libaio --rw="$mode" --bs="$bs" \
  --iodepth="$qd" --time_based --runtime="$secs" --offset=4096 $verify \
  --write_iops_log=/tmp/io --log_avg_msec=1000 --output-format=terse --terse-version=3 \
  >/tmp/terse 2>/tmp/err
rc=$?
for f in /tmp/io_iops.*.log; do
  [ -f "$f" ] || continue
  while IFS=, read -r t v rest; do echo "devshare-io: iops $t $v"; done <"$f"
done
echo "devshare-io: terse $(grep '^3;fio' /tmp/terse)"
echo "devshare-io: done rc=$rc $(head -c 300 /tmp/err | tr '\n' ' ')"
EOF
chmod 0755 "$root/usr/bin/devshare-io"

# devshare-load: the guest side of the right-sizing test, run by /init when the kernel command
# line holds devshare.load=PHASES: comma-separated MIB:CPU:SECS phases, run in order from boot
# (SECS 0 = the rest of the guest's life). In a phase the guest holds MIB MiB in a tmpfs (in 8 MiB
# files, taken only while MemAvailable stays above 32 MiB, so a balloon that has not grown yet
# slows the ramp instead of OOM-killing it) and, with CPU 1, spins one shell loop (100 % of a
# vCPU; 0 = idle). It prints "devshare-load: phase mem=MIB cpu=CPU secs=SECS t=<uptime>" at each
# phase and "devshare-load: held <MiB> avail <MiB> t=<uptime>" every 5 s.
cat >"$root/usr/bin/devshare-load" <<'EOF'
#!/bin/sh
mkdir -p /hog && mount -t tmpfs -o size=90% tmpfs /hog
spin=""
held=0
up() { cut -d' ' -f1 /proc/uptime; }
avail() { awk '/^MemAvailable:/ { print int($2 / 1024) }' /proc/meminfo; }
for phase in $(echo "$1" | tr ',' ' '); do
  IFS=: read -r mib cpu secs <<ARGS
$phase
ARGS
  if [ "$cpu" = 1 ] && [ -z "$spin" ]; then
    sh -c 'while :; do :; done' &
    spin=$!
  elif [ "$cpu" != 1 ] && [ -n "$spin" ]; then
    kill "$spin"
    spin=""
  fi
  echo "devshare-load: phase mem=$mib cpu=$cpu secs=$secs t=$(up)"
  start=$(date +%s)
  n=0
  while [ "$secs" = 0 ] || [ $(($(date +%s) - start)) -lt "$secs" ]; do
    while [ "$held" -gt "$mib" ]; do
      held=$((held - 8))
      rm -f "/hog/c$held"
    done
    k=0
    while [ "$held" -lt "$mib" ] && [ "$k" -lt 4 ] && [ "$(avail)" -gt 32 ]; do
      dd if=/dev/zero of="/hog/c$held" bs=1M count=8 2>/dev/null
      held=$((held + 8))
      k=$((k + 1))
    done
    [ $((n % 5)) = 0 ] && echo "devshare-load: held $held avail $(avail) t=$(up)"
    n=$((n + 1))
    sleep 1
  done
done
EOF
chmod 0755 "$root/usr/bin/devshare-load"

# devshare-net: the guest side of `devshare bench net` and the network tests, run by /init when
# the kernel command line holds devshare.net=MODE:ARGS (MACs written with '-' for ':'). Every
# mode serves its host name over HTTP on port 80 (busybox httpd) and prints
# "devshare-net: ready <unix s> <addresses>"; then
#   serve:N                 runs N iperf3 servers on ports 5201..5200+N;
#   send:IP:PORT:SECS:START waits until unix time START, then iperf3 -c IP -p PORT for SECS with
#                           the server's per-second report ("devshare-net: iperf <line>") and
#                           "devshare-net: send-done rc=<rc>";
#   probe:IPS:START[:SPOOF_IP/N:SPOOF_MAC|keep]
#                           at START, for each IP of the '+'-separated IPS: ping and HTTP, printing
#                           "devshare-net: reach <ip> ping=ok|fail http=<host name>|fail"; then,
#                           with a spoof, at START+45 sets eth0's MAC / address to those and
#                           prints the same as "devshare-net: spoofed-reach ...";
#                           "devshare-net: probe-done" at the end.
cat >"$root/usr/bin/devshare-net" <<'EOF'
#!/bin/sh
IFS=: read -r mode a1 a2 a3 a4 a5 <<ARGS
$1
ARGS
mkdir -p /www && hostname >/www/index.html
httpd -p 80 -h /www
i=0
while [ -z "$(ip -4 addr show dev eth0 2>/dev/null | grep inet)" ] && [ $i -lt 100 ]; do
  sleep 0.1; i=$((i + 1))
done
echo "devshare-net: ready $(date +%s) $(ip -4 -o addr show | awk '{print $2"="$4}' | tr '\n' ' ')"
wait_until() { while [ "$(date +%s)" -lt "$1" ]; do sleep 0.2; done; }
reach() {  # $1 label, $2 '+'-separated addresses
  for ip in $(echo "$2" | tr '+' ' '); do
    if ping -c 2 -W 2 "$ip" >/dev/null 2>&1; then p=ok; else p=fail; fi
    # busybox-static's wget crashes (static NSS); HTTP/1.0 over nc: the body is the last line.
    h="$(printf 'GET / HTTP/1.0\r\n\r\n' | nc -w 3 "$ip" 80 2>/dev/null | tail -n 1 | head -c 64)"
    echo "devshare-net: $1 $ip ping=$p http=${h:-fail}"
  done
}
case "$mode" in
  serve)
    port=5201
    while [ "$port" -le $((5200 + a1)) ]; do iperf3 -s -p "$port" -D; port=$((port + 1)); done
    echo "devshare-net: serving $a1" ;;
  send)
    wait_until "$a4"
    echo "devshare-net: send-start $(date +%s)"
    rc=1
    i=0
    while [ $rc -ne 0 ] && [ $i -lt 30 ]; do  # the server's guest may still be booting
      iperf3 -c "$a1" -p "$a2" -t "$a3" -i 1 -f m --get-server-output >/tmp/iperf 2>&1
      rc=$?
      [ $rc -ne 0 ] && { sleep 1; i=$((i + 1)); }
    done
    while IFS= read -r line; do echo "devshare-net: iperf $line"; done </tmp/iperf
    echo "devshare-net: send-done rc=$rc" ;;
  probe)
    wait_until "$a2"
    reach reach "$a1"
    if [ -n "$a3" ]; then
      wait_until $((a2 + 45))
      ip link set eth0 down
      [ "$a4" = keep ] || ip link set eth0 address "$(echo "$a4" | tr '-' ':')"
      ip addr flush dev eth0
      ip addr add "$a3" dev eth0
      ip link set eth0 up
      echo "devshare-net: spoofed $(cat /sys/class/net/eth0/address) $a3"
      sleep 1
      reach spoofed-reach "$a1"
    fi
    echo "devshare-net: probe-done" ;;
  *) echo "devshare-net: unknown mode '$mode'" ;;
esac
EOF
chmod 0755 "$root/usr/bin/devshare-net"

# --- pack ---
tmp_img="$out/initramfs.img.tmp"
(cd "$root" && find . | LC_ALL=C sort | "$root/bin/busybox" cpio -o -H newc 2>/dev/null) |
  lz4 -l -1 -q >"$tmp_img"  # legacy lz4 (the kernel's format): boots ~1 s faster than gzip on TCG
mv "$tmp_img" "$out/initramfs.img"
cp "$vmlinuz" "$out/vmlinuz"
chmod 0644 "$out/vmlinuz" "$out/initramfs.img"
echo "$inputs" >"$out/stamp"
echo "ok" >"$status_file"
echo "build_guest: $out/vmlinuz ($(du -h "$out/vmlinuz" | cut -f1)), $out/initramfs.img" \
  "($(du -h "$out/initramfs.img" | cut -f1); modules: ${order[*]})"
