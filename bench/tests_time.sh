#!/usr/bin/env bash
# The set-up and the test command timed: RUNS fresh clones of this repository's last commit; in each,
# the environment set up from requirements.txt (`scripts/ensure_venv.sh`, the first use of either
# command) timed, then `tests/run.sh [PYTEST_OPTIONS]` timed. Prints every run's two wall times, the
# test command's exit status and pytest's closing line, and the medians.
#   bench/tests_time.sh [RUNS] [PYTEST_OPTIONS]   (default 1 run; e.g. `bench/tests_time.sh 1 -m "not slow"`)
# Its first line names the machine; keep the output beside the other timings (bench/tests_time.txt).
set -euo pipefail
source "$(dirname "$0")/clones.sh" tests 1 "$@"
setups=() tests=()
for run in $(seq "$runs"); do
  clone="$work/clone$run"
  git clone --quiet "$root" "$clone"
  start=$SECONDS
  (cd "$clone" && source scripts/ensure_venv.sh >"$work/setup$run.log" 2>&1)
  setups+=("$((SECONDS - start))")
  start=$SECONDS
  status=0
  (cd "$clone" && tests/run.sh "${options[@]}" >"$work/tests$run.log" 2>&1) || status=$?
  tests+=("$((SECONDS - start))")
  printf 'run %d: set-up %d s; tests/run.sh %s: %d s, exit %d\n' "$run" "${setups[-1]}" "${options[*]}" \
    "${tests[-1]}" "$status"
  tail -n 1 "$work/tests$run.log" | sed 's/^/    /'
  rm -rf "$clone"
done
median() { printf '%s\n' "$@" | sort -g | awk '{t[NR] = $1} END {
  m = NR % 2 ? t[(NR + 1) / 2] : (t[NR / 2] + t[NR / 2 + 1]) / 2
  printf "%.0f s (%.1f min)", m, m / 60}'; }
printf 'median of %d runs: set-up %s, tests/run.sh %s\n' "$runs" "$(median "${setups[@]}")" "$(median "${tests[@]}")"
