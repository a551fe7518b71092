#!/bin/bash
# Prepares this host for the harness, idempotently (run it as often as you like):
#  1. the build tools `make images` needs (debootstrap, jq, libseccomp-dev, gcc, make,
#     libelf-dev, zlib1g-dev and libpcap-dev for calico-node with cgo, patch for the peers' agnhost), shellcheck for `make verify`, Chromium for the
#     e2e's browser check, and Debian's docker.io only where no Docker engine is installed;
#  2. the runc capability shim as Docker's default runtime, only when the capability
#     bounding set lacks CAP_SYS_RESOURCE (a no-op on a normal host such as a GitHub runner);
#  3. a Docker engine that answers: started in the background when there is no service
#     manager; restarted only if this script started it (or with --restart-docker) when
#     the shim must be loaded;
#  4. inotify limits for kind, raised where lower, never lowered.
#
# Every host-wide change is listed first; without --allow-host-changes the script only
# lists them and stops, changing nothing. A host that needs none passes without the flag.
set -euo pipefail

allow_host_changes=false
restart_docker=false
for arg in "$@"; do
  case $arg in
    --allow-host-changes) allow_host_changes=true ;;
    --restart-docker) restart_docker=true ;;
    *) printf '[bootstrap] ERROR: unknown argument %s (options: --allow-host-changes, --restart-docker)\n' "$arg" >&2; exit 2 ;;
  esac
done

log() { printf '[bootstrap %s] %s\n' "$(date +%T)" "$*"; }
die() { printf '[bootstrap] ERROR: %s\n' "$*" >&2; exit 1; }
here=$(cd "$(dirname "$0")" && pwd)
SUDO=""
if [[ $(id -u) != 0 ]]; then SUDO=sudo; fi
# The engine this script starts writes its pid here: the only engine it restarts unasked.
our_pidfile=/run/netpol-e2e-dockerd.pid
shim=/usr/local/libexec/netpol-e2e/runc-capshim

# --- What this host needs (nothing is changed in this part) ---
plan=()
have_engine=false
if docker info >/dev/null 2>&1; then have_engine=true; fi
need_pkgs=()
for p in docker.io debootstrap jq libseccomp-dev gcc libc6-dev make libelf-dev zlib1g-dev libpcap-dev patch shellcheck file chromium; do
  # An installed engine (Debian's, or Docker's own packages), running or stopped, is kept;
  # a host with another Chromium build (a GitHub runner's Chrome) keeps it.
  if [[ $p == docker.io ]] && { $have_engine || command -v dockerd >/dev/null; }; then continue; fi
  if [[ $p == chromium ]] && command -v chromium google-chrome >/dev/null 2>&1; then continue; fi
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || need_pkgs+=("$p")
done
if ((${#need_pkgs[@]})); then
  command -v apt-get >/dev/null || die "missing packages (${need_pkgs[*]}) and no apt-get: install them by hand"
  plan+=("install Debian packages: ${need_pkgs[*]}")
fi

# The process status to read the bounding set from (a test gives its own).
capbnd=$(awk '/^CapBnd:/ {print $2}' "${BOOTSTRAP_PROC_STATUS:-/proc/self/status}")
need_shim=false
if ! (( (16#$capbnd >> 24) & 1 )); then
  want=$(jq -n --arg p "$shim" '{runtimes: {capshim: {path: $p}}, "default-runtime": "capshim"}' 2>/dev/null || echo '')
  have=$(cat /etc/docker/daemon.json 2>/dev/null || echo '{}')
  if [[ -z $want ]] || [[ ! -x $shim ]] || [[ $(jq -S . <<<"$have" 2>/dev/null) != $(jq -s -S '.[0] * .[1]' <(echo "$have") <(echo "$want") 2>/dev/null) ]]; then
    need_shim=true
    plan+=("this host lacks CAP_SYS_RESOURCE (CapBnd $capbnd): install $shim and make it Docker's default runtime in /etc/docker/daemon.json (for every container on this host)")
    if $have_engine; then
      running=$( (docker ps -q 2>/dev/null || true) | wc -l)
      if [[ -f $our_pidfile ]] && [[ $(cat "$our_pidfile") == $(pgrep -xo dockerd || true) ]] || $restart_docker; then
        plan+=("restart the running Docker engine to load the shim ($running running containers stop)")
      else
        die "this host lacks CAP_SYS_RESOURCE: Docker's default runtime must become $shim, and the running Docker engine ($running running containers), which this script did not start, must restart to load it. Restart it yourself after rerunning with --allow-host-changes, or add --restart-docker to let this script restart it"
      fi
    fi
  fi
fi
if ! $have_engine; then
  plan+=("start a Docker engine (dockerd)")
fi

raise=()
for kv in fs.inotify.max_user_watches=524288 fs.inotify.max_user_instances=512; do
  key=${kv%=*} want=${kv#*=}
  cur=$(sysctl -n "$key" 2>/dev/null || echo 0)
  if ((cur < want)); then raise+=("$kv"); plan+=("raise $key from $cur to $want"); fi
done

if ((${#plan[@]})); then
  if [[ $allow_host_changes != true ]]; then
    printf '[bootstrap] this host needs these host-wide changes; nothing was changed:\n' >&2
    printf '  - %s\n' "${plan[@]}" >&2
    die "rerun with --allow-host-changes (make bootstrap BOOTSTRAP_FLAGS=--allow-host-changes) to make them"
  fi
  for p in "${plan[@]}"; do log "HOST-WIDE CHANGE: $p"; done
fi

# --- The changes, each listed above ---
if ((${#need_pkgs[@]})); then
  $SUDO apt-get update -qq || die "apt-get update failed: check this host's Debian mirror in /etc/apt/sources.list*"
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need_pkgs[@]}" >/dev/null ||
    die "apt-get install ${need_pkgs[*]} failed"
fi

if $need_shim; then
  real=$(command -v runc || true)
  [[ -n $real ]] || die "runc not found (it comes with docker.io)"
  [[ $real != "$shim" ]] || die "runc on PATH is the shim itself"
  $SUDO mkdir -p "$(dirname "$shim")" /etc/docker
  sed "s|@REAL_RUNC@|$real|" "$here/runc-capshim.sh" | $SUDO tee "$shim.new" >/dev/null
  $SUDO chmod 0755 "$shim.new"
  $SUDO mv "$shim.new" "$shim"
  want=$(jq -n --arg p "$shim" '{runtimes: {capshim: {path: $p}}, "default-runtime": "capshim"}')
  have=$(cat /etc/docker/daemon.json 2>/dev/null || echo '{}')
  merged=$(jq -s '.[0] * .[1]' <(echo "$have") <(echo "$want"))
  if [[ $(jq -S . <<<"$have") != $(jq -S . <<<"$merged") ]]; then
    echo "$merged" | $SUDO tee /etc/docker/daemon.json >/dev/null
    if docker info >/dev/null 2>&1; then
      # Only the engine this script started (its pidfile), or the one it was told to.
      pid=$(cat "$our_pidfile" 2>/dev/null || pgrep -xo dockerd)
      $SUDO kill "$pid"
      for _ in $(seq 30); do docker info >/dev/null 2>&1 || break; sleep 1; done
      $SUDO rm -f "$our_pidfile"
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
    $SUDO bash -c "nohup dockerd >/var/log/netpol-dockerd.log 2>&1 & echo \$! > $our_pidfile"
  fi
  for _ in $(seq 60); do docker info >/dev/null 2>&1 && break; sleep 1; done
  docker info >/dev/null 2>&1 || die "the Docker engine did not answer within 60 s: see /var/log/netpol-dockerd.log"
fi
log "docker engine: $(docker version --format '{{.Server.Version}}' 2>/dev/null), runtime $(docker info --format '{{.DefaultRuntime}}')"

if ((${#raise[@]})); then
  $SUDO sysctl -q -w "${raise[@]}" || log "warning: could not raise inotify limits"
fi
df_free=$(df -Pk /var/lib/docker 2>/dev/null | awk 'NR==2 {print int($4/1024/1024)}')
if [[ -n $df_free && $df_free -lt 15 ]]; then
  die "only ${df_free} GiB free for /var/lib/docker: the offline images and clusters need about 15 GiB"
fi
log "host ready"
