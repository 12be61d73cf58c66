#!/usr/bin/env bash
# On this machine: unpacks what scripts/device/run-round.sh returned (the device tool's files_at
# folder) into .device-results/<job>/ (git-ignored), and marks each job DONE for the helper waiting
# on it.   scripts/device/unpack-round.sh /work/.device/…/files
set -euo pipefail
cd "$(dirname "$0")/../.."
from=$1
mkdir -p .device-results
cp "$from/round.log" ".device-results/round-$(date +%H%M).log" 2>/dev/null || true
for first in "$from"/*.tar "$from"/*.tar.part00; do
  [ -e "$first" ] || continue
  job=$(basename "$first"); job=${job%.tar}; job=${job%.tar.part00}
  dest=.device-results/$job
  rm -rf "$dest.new"; mkdir -p "$dest.new"
  if [[ $first == *.part00 ]]; then cat "$from/$job.tar.part"* | tar -C "$dest.new" -xf - --no-same-owner
  else tar -C "$dest.new" -xf "$first" --no-same-owner; fi
  rm -rf "$dest"; mv "$dest.new" "$dest"
  touch "$dest/DONE"
  echo "$job: $(du -sh "$dest" | cut -f1), exit $(cat "$dest/exit-code" 2>/dev/null)"
done
