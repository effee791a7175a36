#!/usr/bin/env bash
# The judged study of the ImageNet image tasks (issue #33): `make task-study`, or one part at a
# time, e.g. `scripts/task-study.sh inpaint-select` (two parts may run at once, one a core: they
# append whole lines to one results.jsonl). Resumable: a run already recorded is skipped.
#
# Settings are chosen on the sample half only (inpaint-select: the sketches airplane and frog and
# photo:sample:N), and reported on what took no part in choosing them: the sketches ship and
# automobile, grey and noise seeds, photo:held-out:N.
set -euo pipefail
cd "$(dirname "$0")/.."
A2X=${A2X:-$CARGO_TARGET_DIR/release/a2x}
OUT=${OUT:-target/task-study}
study() { nice -n 19 "$A2X" task-study --model squeezenet --out "$OUT" "$@"; }

# Ten watercraft for the ship sketch, ten cars for the automobile sketch: classes a person would
# draw that way (none of them among #21's explanation targets).
SHIP_TARGETS=510,628,554,780,724,814,625,403,833,914
CAR_TARGETS=817,511,468,734,717,609,656,751,436,661
# Ten classes across animals, food, objects and scenes for generation.
GENERATE_TARGETS=1,130,207,309,323,417,947,948,963,980
# The inpainting budgets tried on the sample half, and the one chosen there (see the README).
INPAINT_BUDGETS=${INPAINT_BUDGETS:-1 3}
INPAINT_CHOSEN=${INPAINT_CHOSEN:-}
# The sample photos the budgets are tried on.
INPAINT_SEEDS=${INPAINT_SEEDS:-photo:sample:0,photo:sample:1}

part() {
  case "$1" in
    sketch)
      study --task sketch --seeds static/sketches/ship.png --targets "$SHIP_TARGETS"
      study --task sketch --seeds static/sketches/automobile.png --targets "$CAR_TARGETS" ;;
    generate)
      study --task generate --seeds grey,noise --targets "$GENERATE_TARGETS" ;;
    inpaint-select)
      for eta in $INPAINT_BUDGETS; do
        study --task inpaint --name "budget-$eta" --budget "$eta" --seeds "$INPAINT_SEEDS" --masks square,brush
      done ;;
    inpaint)
      [ -n "$INPAINT_CHOSEN" ] || { echo "INPAINT_CHOSEN=η chosen by inpaint-select"; exit 1; }
      study --task inpaint --name "budget-$INPAINT_CHOSEN" --budget "$INPAINT_CHOSEN" \
        --seeds "$(seq -s, 0 9 | sed 's/\([0-9]\)/photo:held-out:\1/g')" --masks square,brush ;;
    report)
      "$A2X" task-study --out "$OUT" --report ;;
    *) echo "parts: sketch generate inpaint-select inpaint report"; exit 1 ;;
  esac
}

for p in "${@:-sketch generate inpaint-select inpaint report}"; do
  for q in $p; do part "$q"; done
done
