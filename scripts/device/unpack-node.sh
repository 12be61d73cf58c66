#!/usr/bin/env bash
# On the GPU machine: unpacks what scripts/device/pack-node.sh made (node into /tmp/qrun-node/bin,
# node_modules into the repo root). Then `export PATH=/tmp/qrun-node/bin:$PATH`.
set -euo pipefail
cd "$(dirname "$0")/../.."
mkdir -p /tmp/qrun-node/bin
xz -dc .device/node.xz >/tmp/qrun-node/bin/node
chmod +x /tmp/qrun-node/bin/node
[ -d node_modules ] || xz -dc .device/node_modules.tar.xz | tar -xf -
/tmp/qrun-node/bin/node --version
