#!/usr/bin/env bash
# The reviewer's path timed end to end: RUNS fresh clones of this repository's last commit, each
# with its environment set up first (the one-time step, not timed), then `./reproduce.sh` timed.
# Prints the machine, every run's wall time, its exit status and per-step times, how many committed
# outputs it rewrote with other bytes (git status of the clone), and the median.
#   bench/reproduce_time.sh [RUNS] [REPRODUCE_OPTIONS]   (default 2 runs; about half an hour a run of
#   ./reproduce.sh on 2 CPU cores, idle machine; e.g. `bench/reproduce_time.sh 1 --audit`)
set -euo pipefail
source "$(dirname "$0")/clones.sh" reproduce 2 "$@"
times=()
for run in $(seq "$runs"); do
  clone="$work/clone$run"
  git clone --quiet "$root" "$clone"
  (cd "$clone" && source scripts/ensure_venv.sh >/dev/null 2>&1)
  start=$SECONDS
  status=0
  (cd "$clone" && ./reproduce.sh "${options[@]}" >"$work/run$run.log" 2>&1) || status=$?
  wall=$((SECONDS - start))
  times+=("$wall")
  changed=$(cd "$clone" && git status --porcelain --untracked-files=no | wc -l)
  printf 'run %d of ./reproduce.sh %s: %d s, exit %d; committed files rewritten with other bytes: %d\n' \
    "$run" "${options[*]}" "$wall" "$status" "$changed"
  grep '^== \[' "$work/run$run.log" | sed 's/^/    /'
  (cd "$clone" && git status --porcelain --untracked-files=no | sed 's/^/    changed: /')
  rm -rf "$clone"
done
printf '%s\n' "${times[@]}" | sort -g | awk '{t[NR] = $1} END {
  m = NR % 2 ? t[(NR + 1) / 2] : (t[NR / 2] + t[NR / 2 + 1]) / 2
  printf "median of %d runs: %.0f s (%.1f min)\n", NR, m, m / 60}'
