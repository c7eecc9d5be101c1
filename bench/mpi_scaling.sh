#!/bin/sh
# MPI scaling: a plan of N equal units (MNIST MLP 784-512-512-10, 5 epochs on
# the first 20000 training images, weight matching, 11 points on the test
# split; repeat: N gives N units with their own endpoints), run serially with
# -j 1 and with `mpirun -np K` ranks of -j 1, in the same invocation. Prints
# both wall times, the speed-up, and whether repetitions.csv (timing columns
# aside) and every unit's curves are identical.
#
#   bench/mpi_scaling.sh [UNITS (8)] [RANKS (2)]
#
# Needs datasets/mnist and sinkrb built with MPI. Measure on an idle machine
# (uptime is printed before and after): the speed-up is a wall-time ratio.
set -u
units=${1:-8}
ranks=${2:-2}
: "${SINKRB:=./sinkrb}"
"$SINKRB" --version | grep -q '^MPI: no' && { echo "sinkrb is built without MPI"; exit 1; }
top=$(pwd)
tmp=$(mktemp -d "${TMPDIR:-/tmp}/sinkrb-mpiscale-XXXXXX")
trap '[ -n "${KEEP:-}" ] || rm -rf "$tmp"' EXIT
cat > "$tmp/scale.yaml" << EOF
name: scale
seed: 1
mode: weight_matching
repeat: $units
dataset:
  name: mnist
  path: $top/datasets/mnist
  train_limit: 20000
model:
  arch: mlp
  hidden: [512, 512]
train:
  epochs: 5
  batch_size: 250
  optimizer: adam
  lr: 1.0e-3
interpolation:
  points: 11
  splits: [test]
EOF
OMPI_MCA_btl_vader_single_copy_mechanism=none
export OMPI_MCA_btl_vader_single_copy_mechanism
now() { date +%s.%N; }
echo "load before: $(uptime)"
t0=$(now)
"$SINKRB" run "$tmp/scale.yaml" -o "$tmp/serial" -j 1 --progress never > "$tmp/serial.out" 2>&1 ||
  { echo "serial run failed"; cat "$tmp/serial.out"; exit 1; }
t1=$(now)
mpirun --allow-run-as-root --oversubscribe -np "$ranks" "$SINKRB" run "$tmp/scale.yaml" -o "$tmp/mpi" -j 1 \
  --progress never > "$tmp/mpi.out" 2>&1 || { echo "mpirun failed"; cat "$tmp/mpi.out"; exit 1; }
t2=$(now)
echo "load after:  $(uptime)"
notime() { awk -F, 'NR == 1 { for (i = 1; i <= NF; i++) t[i] = ($i ~ /seconds/) } { s = ""; for (i = 1; i <= NF; i++) if (!t[i]) s = s $i ","; print s }' "$1"; }
notime "$tmp/serial/repetitions.csv" > "$tmp/a.csv"
notime "$tmp/mpi/repetitions.csv" > "$tmp/b.csv"
same=yes
cmp -s "$tmp/a.csv" "$tmp/b.csv" || same=no
r=0
while [ "$r" -lt "$units" ]; do
  cmp -s "$tmp/serial/rep$r/interp.csv" "$tmp/mpi/rep$r/interp.csv" || same=no
  r=$((r + 1))
done
awk -v t0="$t0" -v t1="$t1" -v t2="$t2" -v u="$units" -v k="$ranks" -v same="$same" 'BEGIN {
  s = t1 - t0; m = t2 - t1
  printf "%d units: serial -j 1 %.1f s, mpirun -np %d -j 1 %.1f s, speed-up %.2fx; results identical: %s\n", u, s, k, m, s / m, same }'
[ "$same" = yes ]
