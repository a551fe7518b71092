#!/bin/bash
# Builds the root filesystem of the container Calico's BPF programs are compiled in, as a
# tarball: the Debian suite that serves the LLVM release the Calico release pins
# (metadata.mk's LLVM_VERSION, the LLVM of its go-build image), with clang and llc of that
# release and what felix/bpf-gpl's Makefile runs besides (make, gcc -dumpmachine, the
# libc and kernel UAPI headers, iproute2's bpf_elf.h).
# usage: build.sh SUITE LLVM_MAJOR OUT.tar
set -euo pipefail
suite=$1 major=$2 out=$3
# shellcheck source=images/debian.sh
source "$(dirname "$0")/../debian.sh"
dir=$(mktemp -d /var/tmp/netpol-bpf-toolchain.XXXX)
trap 'umount -R "$dir/proc" 2>/dev/null || true; rm -rf "$dir"' EXIT
pkgs=clang-$major,llvm-$major,make,gcc,libc6-dev,linux-libc-dev,iproute2
echo "debootstrap $suite from $mirror: $pkgs"
debootstrap --variant=minbase --include="$pkgs" "$suite" "$dir" "$mirror" >"$dir.log" 2>&1 || {
  tail -n 30 "$dir.log" >&2; echo "debootstrap $suite failed (log above): check the mirror $mirror" >&2; exit 1; }
rm -f "$dir.log"
chroot "$dir" /bin/sh -euc 'apt-get clean; rm -rf /var/lib/apt/lists/* /var/cache/apt/* /var/log/*'
tar -C "$dir" --numeric-owner -cf "$out.tmp" .
mv "$out.tmp" "$out"
echo "bpf toolchain ($suite, clang-$major): $(du -h "$out" | cut -f1)"
