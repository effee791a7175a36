#!/usr/bin/env bash
# Before/after byte comparison of share-link replays (issue #22's method, issue #33's check that
# the CIFAR-10 tasks replay as before): every link is replayed on flex by two a2x binaries, and
# each picture and number is compared.
#
#   scripts/replay-compare.sh OLD_A2X NEW_A2X [LINKS_FILE]
#
# LINKS_FILE holds `name link` lines; by default the gallery's CIFAR-10 generation cards and
# tests/data/cifar-task-links.txt (a sketch and an inpainting link made on the page). Build the
# old binary from a worktree: `git worktree add /tmp/old REV && (cd /tmp/old && cargo build
# --release --bin a2x)`.
set -euo pipefail
old=$1 new=$2
cd "$(dirname "$0")/.."
out=$(mktemp -d)
links=${3:-}
if [ -z "$links" ]; then
  links=$out/links.txt
  python3 -c "
import json
for c in json.load(open('static/gallery/links.json')):
    if c['name'].startswith('generate-'): print(c['name'], c['link'])
" > "$links"
  cat tests/data/cifar-task-links.txt >> "$links"
fi
status=0
while read -r name link; do
  for side in old new; do
    bin=$old; [ "$side" = new ] && bin=$new
    "$bin" replay "$link" --backend flex --out "$out/$side" --name "$name" > "$out/$side-$name.log" 2>&1 || { echo "$name: the $side binary failed"; status=1; continue 2; }
  done
  for picture in "$out"/new/"$name"-*.png; do
    cmp -s "$picture" "$out/old/$(basename "$picture")" || { echo "$(basename "$picture"): DIFFERS"; status=1; }
  done
  # The numbers, without the pictures' paths.
  if diff <(grep -v '"png"' "$out/old/$name.json") <(grep -v '"png"' "$out/new/$name.json") > /dev/null; then
    echo "$name: the same pictures, byte for byte, and the same numbers"
  else
    echo "$name: the numbers DIFFER"; status=1
  fi
done < "$links"
exit $status
