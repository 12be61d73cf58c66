#!/usr/bin/env bash
# Packs what `qrun` needs to run on the GPU machine, which has Python and torch but no Node:
#   .device/node.xz               this machine's node binary (x86-64 Linux)
#   .device/node_modules.tar.xz   the production dependencies only, with onnxruntime-node's
#                                 binaries for linux/x64 alone (the other platforms are ~245 MB)
# Carry `.device` with the device `run` tool and start the command with
#   scripts/device/unpack-node.sh && export PATH=/tmp/qrun-node/bin:$PATH
# .device/ is git-ignored. Check the size against the 64 MiB that travels: the script prints it.
set -euo pipefail
cd "$(dirname "$0")/../.."
[ -d node_modules ] || { echo "run npm ci first" >&2; exit 1; }
mkdir -p .device
list=$(mktemp)
# Every production package (no vitest/typescript), as paths relative to the repo root.
npm ls --omit=dev --all --parseable 2>/dev/null | sed "s|^$PWD/||" | grep '^node_modules/' | sort -u >"$list"
# (GNU tar applies --exclude only to the names that come after it.)
tar -cf - \
  --exclude='node_modules/onnxruntime-node/bin/napi-v6/darwin' \
  --exclude='node_modules/onnxruntime-node/bin/napi-v6/win32' \
  --exclude='node_modules/onnxruntime-node/bin/napi-v6/linux/arm64' \
  --exclude='*.map' --exclude='*.d.ts' \
  -T "$list" | xz -T0 -9e >.device/node_modules.tar.xz
# A stripped copy of node (symbols are ~13 MB of the binary) travels; the working tree and the
# carried paths share 64 MiB.
cp "$(command -v node)" "$list.node" && strip "$list.node"
xz -T0 -9e -c "$list.node" >.device/node.xz
rm -f "$list" "$list.node"
du -ch .device/* | tail -n +1
echo "working tree that travels: $(git ls-files -z | xargs -0 du -cb 2>/dev/null | tail -1 | cut -f1) bytes tracked, plus untracked files"
