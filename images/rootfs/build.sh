#!/bin/bash
# Builds the Debian bookworm root filesystem shared by the kind node image, kube-proxy and
# calico-node, as a tarball: debootstrap (minbase) from this machine's own Debian mirror,
# then the package set kind's base image installs plus what calico-node needs (runit,
# ipset, net-tools; bpftool, which Calico's image ships), then the systemd pruning kind's
# Dockerfile does.
# usage: build.sh OUT.tar
set -euo pipefail
out=$1
# shellcheck source=images/debian.sh
source "$(dirname "$0")/../debian.sh"
dir=$(mktemp -d /var/tmp/netpol-rootfs.XXXX)
trap 'umount -R "$dir/proc" 2>/dev/null || true; rm -rf "$dir"' EXIT
pkgs=systemd,libelf1,libpcap0.8,conntrack,iptables,nftables,iproute2,ethtool,util-linux,mount,kmod,libseccomp2,pigz,fuse-overlayfs,e2fsprogs,bash,ca-certificates,curl,jq,procps,runit,ipset,net-tools
echo "debootstrap bookworm from $mirror"
debootstrap --variant=minbase --include="$pkgs" bookworm "$dir" "$mirror" >"$dir.log" 2>&1 || {
  tail -n 30 "$dir.log" >&2; echo "debootstrap failed (log above): check the mirror $mirror" >&2; exit 1; }
rm -f "$dir.log"
# bpftool from bookworm-backports (7.5, Linux 6.12's): Calico's image pins bpftool v7.4.0,
# and bookworm's own (7.1, Linux 6.1's) cannot list TCX attachments, which is how Felix
# attaches its programs on this kernel by default (BPFAttachType TCX).
cp /etc/resolv.conf "$dir/etc/resolv.conf"
echo "deb $mirror bookworm-backports main" >"$dir/etc/apt/sources.list.d/backports.list"
chroot "$dir" /bin/sh -euc '
  apt-get -qq update
  DEBIAN_FRONTEND=noninteractive apt-get -qq install -y --no-install-recommends -t bookworm-backports bpftool >/dev/null
  bpftool version | head -n 1
  rm /etc/apt/sources.list.d/backports.list
' || { echo "bpftool from bookworm-backports failed: check the mirror $mirror" >&2; exit 1; }
# kind's base image pruning: no units but the ones kind enables, journald without kmsg.
chroot "$dir" /bin/sh -euc '
  find /lib/systemd/system/sysinit.target.wants/ -name "systemd-tmpfiles-setup.service" -delete
  rm -f /lib/systemd/system/multi-user.target.wants/* /etc/systemd/system/*.wants/* \
        /lib/systemd/system/local-fs.target.wants/* /lib/systemd/system/sockets.target.wants/*udev* \
        /lib/systemd/system/sockets.target.wants/*initctl* /lib/systemd/system/basic.target.wants/*
  echo "ReadKMsg=no" >> /etc/systemd/journald.conf
  ln -sf /usr/lib/systemd/systemd /sbin/init
  apt-get clean
  rm -rf /var/lib/apt/lists/* /var/cache/apt/* /var/log/*
'
# Use legacy iptables like kind's node image does by default? kind detects the mode at
# runtime (entrypoint); leave Debian's alternatives as installed.
tar -C "$dir" --numeric-owner -cf "$out.tmp" .
mv "$out.tmp" "$out"
echo "rootfs: $(du -h "$out" | cut -f1)"
