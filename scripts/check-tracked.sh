#!/bin/bash
# Refuses tracked files that belong in no repository: compiled binaries and anything over
# 1 MB (build outputs committed by mistake). Run by `make verify`.
set -euo pipefail
cd "$(dirname "$0")/.."
bad=$(
  git ls-files -z | xargs -0 -r file --mime-type -F '|' |
    awk -F'[|] ' '$2 ~ /application\/(x-executable|x-pie-executable|x-sharedlib|x-object|x-mach-binary)/ {print "  " $1 " (a compiled binary)"}'
  git ls-files -z | xargs -0 -r stat -c '%s %n' | awk '$1 > 1048576 {print "  " $2 " (" $1 " bytes, over 1 MB)"}'
)
if [[ -n $bad ]]; then
  echo "tracked files that belong in no repository (build outputs? git rm --cached them, and add them to .gitignore):"
  echo "$bad"
  exit 1
fi
