# Sourced by the timing scripts (bench/tests_time.sh, bench/reproduce_time.sh): checks RUNS, sets
# `runs`, `options`, `root` and a fresh `work` directory, and prints the line that names the commit
# and the machine the timings belong to.   source bench/clones.sh NAME DEFAULT_RUNS "$@"
name=$1 runs=${3:-$2}
options=("${@:4}")
[[ "$runs" =~ ^[1-9][0-9]*$ ]] || { echo "error: RUNS must be a positive whole number, not '$runs'" >&2; exit 2; }
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
work=$(mktemp -d "${TMPDIR:-/tmp}/polyground-$name.XXXXXX")
cpu=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo 2>/dev/null | head -n 1)
grep -qw avx512f /proc/cpuinfo 2>/dev/null && isa=AVX-512 || isa="no AVX-512"
printf '# commit %s, bench/%s_time.sh %s: %s cores, %s, %s\n' "$(git -C "$root" rev-parse --short HEAD)" "$name" \
  "${*:3}" "$(nproc)" "${cpu:-unknown CPU}" "$isa"
