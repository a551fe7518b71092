# shellcheck shell=bash
# Sourced by the debootstrap scripts (images/rootfs, images/bpf-toolchain): this machine's
# own Debian mirror (or $DEBIAN_MIRROR), and debootstrap present.
export mirror=${DEBIAN_MIRROR:-$(grep -hoE '^(URIs:|deb) +https?://[^ ]+' /etc/apt/sources.list /etc/apt/sources.list.d/*.sources 2>/dev/null | grep -v security | awk '{print $2}' | head -n1 || true)}
[[ -n $mirror ]] || { echo "no Debian mirror found in /etc/apt/sources.list*: set DEBIAN_MIRROR" >&2; exit 1; }
command -v debootstrap >/dev/null || { echo "debootstrap missing: run scripts/bootstrap-host.sh" >&2; exit 1; }
