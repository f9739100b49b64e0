#!/usr/bin/env bash
# Checks that every #include "folder/..." in a layer names the layer itself or a layer below it.
# Usage: scripts/check_layers.sh ROOT LAYER:DEP,DEP ...   (CMakeLists.txt passes its table of layers;
# a layer may use its DEPS and, transitively, theirs). Any folder of ROOT that is not allowed (a higher
# layer, apps/, tests/, bench/) fails the check with the file, the line and what the layer may use.
set -euo pipefail
root=$1
shift
declare -A deps
for rule in "$@"; do deps[${rule%%:*}]=${rule#*:}; done

closure() {   # the layer and everything below it
  local todo=("$1") seen=" " l d
  while [ ${#todo[@]} -gt 0 ]; do
    l=${todo[0]}
    todo=("${todo[@]:1}")
    case "$seen" in *" $l "*) continue ;; esac
    seen="$seen$l "
    for d in ${deps[$l]//,/ }; do todo+=("$d"); done
  done
  echo "$seen"
}

bad=0
for layer in "${!deps[@]}"; do
  allowed=$(closure "$layer")
  while IFS= read -r hit; do
    [ -z "$hit" ] && continue
    folder=$(sed -E 's/.*#[[:space:]]*include[[:space:]]*"([^/"]+)\/.*/\1/' <<<"$hit")
    [ -d "$root/$folder" ] || continue                  # not one of ours (a system or library header)
    case "$allowed" in *" $folder "*) continue ;; esac
    echo "layering: ${hit%%:#*}: $layer/ includes $folder/, but $layer may use only:$allowed" >&2
    bad=1
  done < <(cd "$root" && grep -rnE '^[[:space:]]*#[[:space:]]*include[[:space:]]*"[^/"]+/' "$layer" \
             --include='*.h' --include='*.cpp' --include='*.cu' --include='*.cuh' || true)
done
if [ $bad -ne 0 ]; then
  echo "layering: an include goes up a layer (see CMakeLists.txt, ssmtl_layer)" >&2
  exit 1
fi
echo "layering: every #include goes to the same layer or one below (${#deps[@]} layers)"
