#!/bin/bash
# Prepares this host for the harness, idempotently (run it as often as you like):
#  1. a Docker engine: Debian's docker.io when no engine answers, started in the background
#     when there is no service manager to start it;
#  2. the runc capability shim, only when the capability bounding set lacks CAP_SYS_RESOURCE
#     (a no-op on a normal host such as a GitHub runner);
#  3. inotify limits for kind;
#  4. the build tools `make images` needs (debootstrap, jq, libseccomp-dev, gcc), shellcheck
#     for `make verify`, and Chromium for the e2e's browser check of the management UI.
#
# Host-wide changes (Docker's default runtime, restarting a Docker engine) are made only
# with --allow-host-changes (CI passes it); without it the script says what it would
# change and stops.
set -euo pipefail

allow_host_changes=false
for arg in "$@"; do
  case $arg in
    --allow-host-changes) allow_host_changes=true ;;
    *) printf '[bootstrap] ERROR: unknown argument %s (the one option is --allow-host-changes)\n' "$arg" >&2; exit 2 ;;
  esac
done

log() { printf '[bootstrap %s] %s\n' "$(date +%T)" "$*"; }
die() { printf '[bootstrap] ERROR: %s\n' "$*" >&2; exit 1; }
here=$(cd "$(dirname "$0")" && pwd)
SUDO=""
if [[ $(id -u) != 0 ]]; then SUDO=sudo; fi

have_engine=false
if docker info >/dev/null 2>&1; then have_engine=true; fi
need_pkgs=()
for p in docker.io debootstrap jq libseccomp-dev gcc libc6-dev make libelf-dev zlib1g-dev shellcheck file chromium; do
  # On a host whose engine comes from elsewhere (Docker's own packages), don't add Debian's;
  # a host with another Chromium build (a GitHub runner's Chrome) keeps it.
  if [[ $p == docker.io && $have_engine == true ]]; then continue; fi
  if [[ $p == chromium ]] && command -v chromium google-chrome >/dev/null 2>&1; then continue; fi
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || need_pkgs+=("$p")
done
if ((${#need_pkgs[@]})); then
  command -v apt-get >/dev/null || die "missing packages (${need_pkgs[*]}) and no apt-get: install a Docker engine, debootstrap, jq, libseccomp-dev and gcc by hand"
  log "installing ${need_pkgs[*]}"
  $SUDO apt-get update -qq || die "apt-get update failed: check this host's Debian mirror in /etc/apt/sources.list*"
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need_pkgs[@]}" >/dev/null ||
    die "apt-get install ${need_pkgs[*]} failed"
fi

capbnd=$(awk '/^CapBnd:/ {print $2}' /proc/self/status)
if ! (( (16#$capbnd >> 24) & 1 )); then
  real=$(command -v runc || true)
  [[ -n $real ]] || die "runc not found (it comes with docker.io)"
  shim=/usr/local/libexec/netpol-e2e/runc-capshim
  log "CAP_SYS_RESOURCE is missing from the bounding set ($capbnd): $shim around $real is needed"
  $SUDO mkdir -p "$(dirname "$shim")" /etc/docker
  sed "s|@REAL_RUNC@|$real|" "$here/runc-capshim.sh" | $SUDO tee "$shim.new" >/dev/null
  $SUDO chmod 0755 "$shim.new"
  $SUDO mv "$shim.new" "$shim"
  want=$(jq -n --arg p "$shim" '{runtimes: {capshim: {path: $p}}, "default-runtime": "capshim"}')
  have=$(cat /etc/docker/daemon.json 2>/dev/null || echo '{}')
  merged=$(jq -s '.[0] * .[1]' <(echo "$have") <(echo "$want"))
  if [[ $(jq -S . <<<"$have") != $(jq -S . <<<"$merged") ]]; then
    # (no engine yet on a new machine: docker ps fails, and pipefail must not end the script)
    running=$( (docker ps -q 2>/dev/null || true) | wc -l)
    if [[ $allow_host_changes != true ]]; then
      die "this host lacks CAP_SYS_RESOURCE: Docker's default runtime must become $shim (in /etc/docker/daemon.json, for every container on this host)$(docker info >/dev/null 2>&1 && echo ", and the running Docker engine ($running running containers) must restart to load it"). Rerun with --allow-host-changes (make bootstrap BOOTSTRAP_FLAGS=--allow-host-changes) to do it"
    fi
    log "HOST-WIDE CHANGE: Docker's default runtime becomes $shim (/etc/docker/daemon.json)"
    echo "$merged" | $SUDO tee /etc/docker/daemon.json >/dev/null
    if docker info >/dev/null 2>&1; then
      log "HOST-WIDE CHANGE: restarting dockerd to load the shim ($running running containers stop)"
      $SUDO pkill -x dockerd || true
      for _ in $(seq 30); do docker info >/dev/null 2>&1 || break; sleep 1; done
    fi
  fi
fi

if ! docker info >/dev/null 2>&1; then
  if command -v systemctl >/dev/null && [[ -d /run/systemd/system ]]; then
    log "starting docker with systemd"
    $SUDO systemctl start docker
  else
    command -v dockerd >/dev/null || die "no dockerd binary: install docker.io"
    log "starting dockerd in the background (log: /var/log/netpol-dockerd.log)"
    $SUDO bash -c 'nohup dockerd >/var/log/netpol-dockerd.log 2>&1 &'
  fi
  for _ in $(seq 60); do docker info >/dev/null 2>&1 && break; sleep 1; done
  docker info >/dev/null 2>&1 || die "the Docker engine did not answer within 60 s: see /var/log/netpol-dockerd.log"
fi
log "docker engine: $(docker version --format '{{.Server.Version}}' 2>/dev/null), runtime $(docker info --format '{{.DefaultRuntime}}')"

$SUDO sysctl -q -w fs.inotify.max_user_watches=524288 fs.inotify.max_user_instances=512 ||
  log "warning: could not raise inotify limits"
df_free=$(df -Pk /var/lib/docker 2>/dev/null | awk 'NR==2 {print int($4/1024/1024)}')
if [[ -n $df_free && $df_free -lt 15 ]]; then
  die "only ${df_free} GiB free for /var/lib/docker: the offline images and clusters need about 15 GiB"
fi
log "host ready"
