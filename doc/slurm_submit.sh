#!/bin/bash
# Submit a sinkrb sweep (or repetitions) as a Slurm job array of its units,
# and `sinkrb collect` as a job that runs when the array has ended:
#
#   doc/slurm_submit.sh configs/recovery_mlp.yaml --set repeat=5 -j 4
#
# The options after the config go to every `sinkrb` call (plan, each unit);
# -j should match the array's --cpus-per-task (doc/slurm_array.sbatch).
# `sinkrb collect` exits 1 and names the missing units when some failed.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
config=${1:?usage: doc/slurm_submit.sh CONFIG.yaml [sinkrb options]}
shift
n=$(sinkrb plan "$config" "$@" | sed -n 's/^units: //p')
out=$(sinkrb check "$config" "$@" | sed -n 's/^output: //p')
[ -n "$n" ] && [ -n "$out" ] || { echo "sinkrb plan/check failed" >&2; exit 2; }
jid=$(sbatch --parsable --array=0-$((n - 1)) "$here/slurm_array.sbatch" "$config" "$@")
sbatch --parsable --job-name=sinkrb-collect --dependency="afterany:${jid%%;*}" --time=00:30:00 \
  --output="slurm-collect-%j.out" --wrap "sinkrb collect '$out'"
echo "array $jid: $n units of $config into $out/; collect queued after it"
