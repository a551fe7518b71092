#!/bin/bash
# runc wrapper for machines whose capability bounding set lacks CAP_SYS_RESOURCE (some VMs):
# there, runc cannot grant that capability and every privileged container (kind's nodes)
# fails with "unable to apply caps: operation not permitted". For `--bundle DIR` (create,
# run) it edits DIR/config.json, for `--process FILE` (exec) that file: it removes
# CAP_SYS_RESOURCE from every capability list and, when NETPOL_CLAMP_OOM=1 (inside kind
# nodes), raises process.oomScoreAdj to this process's own value, since nothing here may go
# below it. Then it execs the real runc. Where the capability is present it only execs.
set -euo pipefail
real=${NETPOL_REAL_RUNC:-@REAL_RUNC@}

capbnd=$(awk '/^CapBnd:/ {print $2}' /proc/self/status)
# CAP_SYS_RESOURCE is capability 24.
if (( (16#$capbnd >> 24) & 1 )); then
  exec "$real" "$@"
fi

bundle="" process=""
args=("$@")
for ((i = 0; i < ${#args[@]}; i++)); do
  case "${args[$i]}" in
    --bundle | -b) bundle=${args[$((i + 1))]:-} ;;
    --bundle=*) bundle=${args[$i]#--bundle=} ;;
    --process | -p) process=${args[$((i + 1))]:-} ;;
    --process=*) process=${args[$i]#--process=} ;;
  esac
done

own_oom=$(cat /proc/self/oom_score_adj)
edit() {
  local f=$1 tmp
  [[ -f $f ]] || return 0
  # Most files need nothing (a pod's exec, an unprivileged container): skip jq for them.
  grep -q -e CAP_SYS_RESOURCE -e oomScoreAdj "$f" || return 0
  tmp=$(mktemp "$f.XXXX")
  jq --argjson own "$own_oom" --arg clamp "${NETPOL_CLAMP_OOM:-0}" '
    walk(if type == "object" and has("bounding")
         then with_entries(if (.value | type) == "array" then .value -= ["CAP_SYS_RESOURCE"] else . end)
         else . end)
    | if $clamp == "1" and (.process? | type) == "object" and (.process.oomScoreAdj // $own) < $own
      then .process.oomScoreAdj = $own else . end
    | if $clamp == "1" and has("oomScoreAdj") and (.oomScoreAdj // $own) < $own
      then .oomScoreAdj = $own else . end' "$f" >"$tmp"
  chmod --reference="$f" "$tmp"
  mv "$tmp" "$f"
}
if [[ -n $bundle ]]; then edit "$bundle/config.json"; fi
if [[ -n $process ]]; then edit "$process"; fi
exec "$real" "$@"
