#!/bin/sh
# Command-line behaviour: exit codes, messages, and what `run` leaves behind.
set -u
: "${SINKRB:=./sinkrb}" "${TOP_SRCDIR:=.}"
tmp=$(mktemp -d "${TMPDIR:-/tmp}/sinkrb-cli-XXXXXX")
trap 'rm -rf "$tmp"' EXIT
fail=0
n=0

# expect STATUS PATTERN CMD... : run CMD, check its exit status and that
# stdout+stderr contain PATTERN (grep -E; "" = anything).
expect() {
  want=$1; pat=$2; shift 2
  n=$((n + 1))
  out=$("$@" 2>&1); got=$?
  if [ "$got" != "$want" ]; then
    echo "FAIL [$n] $*: exit $got, expected $want"; echo "$out" | sed 's/^/    /'; fail=1; return
  fi
  if [ -n "$pat" ] && ! printf '%s\n' "$out" | grep -qE -- "$pat"; then
    echo "FAIL [$n] $*: output lacks /$pat/"; echo "$out" | sed 's/^/    /'; fail=1
  fi
}

cd "$tmp"
# Usage errors: exit 2.
expect 2 "Usage: sinkrb COMMAND" "$SINKRB"
expect 2 "unrecognized option" "$SINKRB" --bogus
expect 2 "unknown command 'frob'" "$SINKRB" frob
expect 2 "plan needs a CONFIG.yaml argument" "$SINKRB" plan
expect 2 "collect needs a DIR argument" "$SINKRB" collect
expect 2 "--unit is an option of run" "$SINKRB" check a.yaml --unit 1
expect 2 "--unit needs a unit number" "$SINKRB" run a.yaml --unit x
expect 2 "run needs a CONFIG.yaml argument" "$SINKRB" run
expect 2 "unexpected argument 'b.yaml'" "$SINKRB" check a.yaml b.yaml
expect 2 "--threads needs an integer" "$SINKRB" --threads x check a.yaml
expect 2 "--seed needs a non-negative integer" "$SINKRB" --seed -3 check a.yaml
expect 2 "--progress must be auto, always or never" "$SINKRB" --progress sometimes run a.yaml
expect 0 "Usage: sinkrb COMMAND" "$SINKRB" --help
expect 0 "^sinkrb [0-9]+\.[0-9]+\.[0-9]+" "$SINKRB" --version
expect 0 "BLAS: .*, kernel [A-Za-z0-9]+ " "$SINKRB" --version
expect 0 "threads: 1 " "$SINKRB" --threads 1 --version

# Config errors: exit 2 with file:line:col, nothing written.
expect 2 "missing.yaml: No such file or directory" "$SINKRB" check missing.yaml
printf 'name: bad\nseed: 1\nmode: sinkhron\n' > bad.yaml
expect 2 '^sinkrb: bad.yaml:3:7: mode must be one of .* \(got "sinkhron"\); did you mean "sinkhorn"\?$' "$SINKRB" check bad.yaml
expect 2 "bad.yaml:3:7: mode must be one of" "$SINKRB" run bad.yaml -o out_bad
[ ! -e out_bad ] && [ ! -e results ] || { echo "FAIL: a config error wrote results"; fail=1; }
printf 'model:\n  hidden: [512, 512\n' > syntax.yaml
expect 2 "syntax.yaml:3:1: YAML syntax error" "$SINKRB" run syntax.yaml
expect 2 "\-\-set train.epochs=0: train.epochs must be an integer in 1..1000000 \(got 0\)" \
  "$SINKRB" check "$TOP_SRCDIR/configs/smoke_train.yaml" --set train.epochs=0
[ ! -e results ] || { echo "FAIL: a config error wrote results"; fail=1; }

# check prints a resolved config that check (and run) accept unchanged.
expect 0 "^mode: train" "$SINKRB" check "$TOP_SRCDIR/configs/smoke_train.yaml" --set model.hidden=[7,5]
"$SINKRB" check "$TOP_SRCDIR/configs/smoke_train.yaml" --set 'model.hidden=[7,5]' | sed 1d > r1.yaml
"$SINKRB" check r1.yaml | sed 1d > r2.yaml
cmp -s r1.yaml r2.yaml || { echo "FAIL: resolved config does not round-trip"; diff r1.yaml r2.yaml; fail=1; }
grep -q '^  hidden: \[7, 5\]$' r1.yaml || { echo "FAIL: --set model.hidden not applied"; fail=1; }

# info on missing / non-HDF5 files: runtime error (1) naming the path.
expect 1 "nothere.h5" "$SINKRB" info nothere.h5
echo "not hdf5" > text.h5
expect 1 "text.h5" "$SINKRB" info text.h5

# A run writes the resolved config, metrics and log atomically (no temp files).
expect 0 "" "$SINKRB" run "$TOP_SRCDIR/configs/smoke_train.yaml" -o out --progress never
for f in config.yaml metrics.json log.txt; do
  [ -s "out/$f" ] || { echo "FAIL: run did not write out/$f"; fail=1; }
done
ls out | grep -q '\.tmp\.' && { echo "FAIL: temp files left in out/"; ls out; fail=1; }
"$SINKRB" check out/config.yaml > /dev/null || { echo "FAIL: out/config.yaml is not a valid config"; fail=1; }
grep -q '"seed": 1' out/metrics.json || { echo "FAIL: metrics.json lacks the seed"; fail=1; }
grep -q '"blas"' out/metrics.json || { echo "FAIL: metrics.json lacks the BLAS"; fail=1; }

# info on a weights file the run wrote: tensors and stats.
expect 0 "layers.0.weight +\(10, 1\) +float32" "$SINKRB" info out/model_a.h5
expect 0 "format: +sinkrb-weights" "$SINKRB" info out/model_a.h5

# Weights that do not fit the configured model: exit 1, expected vs found.
expect 1 "out/model_a.h5: weights do not match the configured model" \
  "$SINKRB" run "$TOP_SRCDIR/configs/smoke_train.yaml" -o out2 --set 'model.hidden=[12]' \
  --set models.a.weights=out/model_a.h5 --progress never
expect 1 "shape: +layers.0.weight expected \(12, 1\), file has \(10, 1\)" \
  "$SINKRB" run "$TOP_SRCDIR/configs/smoke_train.yaml" -o out2 --set 'model.hidden=[12]' \
  --set models.a.weights=out/model_a.h5 --progress never
# A truncated weights file names the path.
head -c 3000 out/model_a.h5 > trunc.h5
expect 1 "trunc.h5: .*(truncated|corrupt)" "$SINKRB" run "$TOP_SRCDIR/configs/smoke_train.yaml" -o out3 \
  --set models.a.weights=trunc.h5 --progress never
# Missing data files: exit 1 with the path and the fetch hint.
mkdir -p emptydata
expect 1 "emptydata/train-images-idx3-ubyte: No such file or directory.*" \
  "$SINKRB" run "$TOP_SRCDIR/configs/mnist_mlp.yaml" -o out4 --set dataset.path=emptydata --progress never
expect 1 "HINT: run datasets/fetch mnist" \
  "$SINKRB" run "$TOP_SRCDIR/configs/mnist_mlp.yaml" -o out4 --set dataset.path=emptydata --progress never
[ ! -e out4 ] || { echo "FAIL: a run with missing data wrote results"; fail=1; }

# An alignment run: curves, plots, permutations, aligned weights, barriers.
expect 0 "weight_matching +[0-9.]+ +[0-9.]+" "$SINKRB" run "$TOP_SRCDIR/configs/smoke_align.yaml" -o align --progress never
for f in interp.csv lmc_loss.svg perm_weight_matching.h5 perm_activation_matching.h5 \
         aligned_weight_matching.h5 aligned_activation_matching.h5 metrics.json; do
  [ -s "align/$f" ] || { echo "FAIL: alignment run did not write align/$f"; fail=1; }
done
head -n1 align/interp.csv | grep -qx 'method,split,lambda,loss,accuracy' || { echo "FAIL: interp.csv header"; fail=1; }
rows=$(grep -c '^naive,test,' align/interp.csv)
[ "$rows" = 11 ] || { echo "FAIL: interp.csv has $rows naive test rows, expected 11"; fail=1; }
grep -q '"barrier_mid"' align/metrics.json || { echo "FAIL: metrics.json lacks barriers"; fail=1; }
grep -q '<svg' align/lmc_loss.svg || { echo "FAIL: lmc_loss.svg is not an SVG"; fail=1; }
expect 0 "format: +sinkrb-perm" "$SINKRB" info align/perm_weight_matching.h5
# A second run reuses the endpoints instead of training them again.
expect 0 "model a: loaded align/model_a.h5" "$SINKRB" run "$TOP_SRCDIR/configs/smoke_align.yaml" -o align --progress never

# Planted permutation: weight matching recovers it exactly.
expect 0 "weight_matching: recovered ([0-9]+) of \1 units of the planted permutation \(100.00%\), exact" \
  "$SINKRB" run "$TOP_SRCDIR/configs/smoke_align.yaml" -o planted --set models.a.weights=align/model_a.h5 \
  --set models.b.planted=true --progress never

# Sinkhorn re-basin (two costs) and STE on the same endpoints.
expect 0 "sinkhorn_mid +[0-9.]+ +[0-9.]+" "$SINKRB" run "$TOP_SRCDIR/configs/smoke_align.yaml" -o sk \
  --set models.a.weights=align/model_a.h5 --set models.b.weights=align/model_b.h5 --set mode=sinkhorn \
  --set 'align.methods=[ste]' --set 'sinkhorn.costs=[l2, mid]' --set sinkhorn.epochs=3 --set sinkhorn.steps=60 \
  --set ste.epochs=2 --progress never
head -n1 sk/sinkhorn_log.csv | grep -qx 'method,epoch,soft_cost,hard_cost' || { echo "FAIL: sinkhorn_log.csv header"; fail=1; }
[ "$(grep -c '^sinkhorn_mid,' sk/sinkhorn_log.csv)" = 4 ] || { echo "FAIL: sinkhorn_log.csv rows"; fail=1; }
for f in perm_ste.h5 perm_sinkhorn_l2.h5 aligned_sinkhorn_mid.h5; do
  [ -s "sk/$f" ] || { echo "FAIL: sinkhorn run did not write sk/$f"; fail=1; }
done
grep -q 'Sinkhorn C_Mid' sk/lmc_loss.svg || { echo "FAIL: plot lacks the Sinkhorn C_Mid line"; fail=1; }

# A sweep (over B's seed, given by --set): one complete run per item, then
# sweep.csv and the summary. A is untrained (models.a.train=false) and B a
# planted permutation of it: weight matching and Sinkhorn l2 recover it.
expect 0 "sweep smoke_align over models.b.seed \(2 items" "$SINKRB" run "$TOP_SRCDIR/configs/smoke_align.yaml" -o sw \
  --set models.b.planted=true --set models.a.train=false --set mode=sinkhorn --set 'sinkhorn.costs=[l2]' \
  --set 'align.methods=[weight_matching]' --set sweep.key=models.b.seed --set 'sweep.values=[2, 3]' \
  --set 'sweep.labels=[b2, b3]' --progress never
for f in b2/metrics.json b3/metrics.json b3/perm_sinkhorn_l2.h5 config.yaml log.txt sweep.csv metrics.json; do
  [ -s "sw/$f" ] || { echo "FAIL: sweep did not write sw/$f"; fail=1; }
done
grep -q '"label": "b3"' sw/metrics.json || { echo "FAIL: the sweep's metrics.json lacks its items"; fail=1; }
grep -q '^sweep:' sw/config.yaml || { echo "FAIL: the sweep's config.yaml lacks its sweep"; fail=1; }
! grep -q '^sweep:' sw/b3/config.yaml || { echo "FAIL: an item's config.yaml has a sweep"; fail=1; }
grep -q '^    seed: 3' sw/b3/config.yaml || { echo "FAIL: item b3 does not have models.b.seed 3"; fail=1; }
grep -q '"untrained_initialisation": true' sw/b2/metrics.json || { echo "FAIL: A should be untrained"; fail=1; }
[ "$(wc -l < sw/sweep.csv)" = 13 ] || { echo "FAIL: sweep.csv should have 2 items x 3 methods x 2 splits rows"; fail=1; }
bad=$(awk -F, 'NR > 1 && $3 != "naive" && $13 != 1' sw/sweep.csv)
[ -z "$bad" ] || { echo "FAIL: planted permutation not recovered: $bad"; fail=1; }
# Every item is validated before any runs: a bad item writes nothing.
echo "not an HDF5 file" > garbage.h5
expect 1 "sweep item bad: .*garbage.h5" "$SINKRB" run "$TOP_SRCDIR/configs/smoke_align.yaml" -o sw2 \
  --set sweep.key=models.a.weights --set 'sweep.values=[align/model_a.h5, garbage.h5]' \
  --set 'sweep.labels=[good, bad]' --progress never
expect 2 "sweep item vgg11 \(model.arch = vgg11\): model.arch vgg11 needs image data" \
  "$SINKRB" run "$TOP_SRCDIR/configs/smoke_align.yaml" -o sw2 --set sweep.key=model.arch --set 'sweep.values=[mlp, vgg11]'
[ ! -e sw2 ] || { echo "FAIL: a sweep with a bad item wrote results"; fail=1; }

# Continual learning (needs the real MNIST: CI fetches it).
if [ -d "$TOP_SRCDIR/datasets/mnist" ]; then
  expect 0 "rebasin +[0-9.]+ +-?[0-9.]+ +-?[0-9.]+" "$SINKRB" run "$TOP_SRCDIR/configs/smoke_continual.yaml" -o cl \
    --set dataset.path="$TOP_SRCDIR/datasets/mnist" --progress never
  [ "$(wc -l < cl/accuracy_matrix.csv)" = 55 ] || { echo "FAIL: accuracy_matrix.csv should have 6 methods x 9 rows"; fail=1; }
  grep -q '"forgetting"' cl/metrics.json || { echo "FAIL: metrics.json lacks forgetting"; fail=1; }
  [ -s cl/cl_accuracy.svg ] || { echo "FAIL: no cl_accuracy.svg"; fail=1; }
else
  echo "note: datasets/mnist absent, continual smoke run not exercised (run datasets/fetch mnist)"
fi

# Endpoints are what the config says.
# A weights path the user wrote that does not exist is refused before any work ...
expect 1 "models.a.weights: typo/model_a.h5 does not exist" \
  "$SINKRB" run "$TOP_SRCDIR/configs/smoke_train.yaml" -o t7 --set models.a.weights=typo/model_a.h5 --progress never
[ ! -e t7 ] && [ ! -e typo ] || { echo "FAIL: a refused run wrote files"; fail=1; }
# ... unless the config asks to train it there.
expect 0 "saved model a to typo/model_a.h5" "$SINKRB" run "$TOP_SRCDIR/configs/smoke_train.yaml" -o t7 \
  --set models.a.weights=typo/model_a.h5 --set models.a.train=if_missing --progress never
grep -q '"source": "trained"' t7/metrics.json || { echo "FAIL: metrics.json lacks the endpoint's source"; fail=1; }
# A rerun with the same config loads the endpoints it made; with another
# recipe (here the activation) it stops and names the difference.
expect 0 "saved model a" "$SINKRB" run "$TOP_SRCDIR/configs/smoke_train.yaml" -o t8 --progress never
expect 0 "model a: loaded" "$SINKRB" run "$TOP_SRCDIR/configs/smoke_train.yaml" -o t8 --progress never
grep -q '"source": "loaded"' t8/metrics.json || { echo "FAIL: a rerun did not load its endpoint"; fail=1; }
grep -qE '"fingerprint": "[0-9a-f]{16}"' t8/metrics.json || { echo "FAIL: metrics.json lacks the fingerprint"; fail=1; }
expect 1 "made by another recipe.*" "$SINKRB" run "$TOP_SRCDIR/configs/smoke_train.yaml" -o t8 \
  --set model.activation=relu --progress never
expect 1 "model.activation: tanh in the file, relu in this config" \
  "$SINKRB" run "$TOP_SRCDIR/configs/smoke_train.yaml" -o t8 --set model.activation=relu --progress never
expect 0 "training model a" "$SINKRB" run "$TOP_SRCDIR/configs/smoke_train.yaml" -o t8 --set model.activation=relu \
  --set models.a.train=always --set models.b.train=always --progress never
# train.select best_validation keeps (and saves) the epoch of lowest
# validation loss: its weights are those of a run that stops at that epoch,
# and the saved endpoint's validation loss is the one training measured.
expect 0 "model a: keeping epoch [0-9]+ of 30 \\(lowest validation loss" "$SINKRB" run \
  "$TOP_SRCDIR/configs/smoke_align.yaml" -o sel_best --set dataset.validation=20 --set train.select=best_validation \
  --progress never
sel=$(sed -n 's/^ *"selected_epoch": \([0-9]*\),$/\1/p' sel_best/metrics.json | head -n 1)
[ -n "$sel" ] && [ "$sel" -lt 30 ] || { echo "FAIL: model a kept epoch '$sel' (expected one before the last of 30)"; fail=1; }
v1=$(sed -n 's/^ *"selected_validation_loss": \(.*\),$/\1/p' sel_best/metrics.json | head -n 1)
v2=$(sed -n 's/^ *"validation_loss": \(.*\),$/\1/p' sel_best/metrics.json | head -n 1)
[ -n "$v1" ] && [ "$v1" = "$v2" ] || { echo "FAIL: saved model a's validation loss $v2 is not its epoch's $v1"; fail=1; }
expect 0 "" "$SINKRB" run "$TOP_SRCDIR/configs/smoke_align.yaml" -o sel_last --set dataset.validation=20 \
  --set "train.epochs=${sel:-1}" --set 'align.methods=[weight_matching]' --progress never
"$SINKRB" info sel_best/model_a.h5 | sed -n '/^datasets/,$p' > sel_best/a.txt
"$SINKRB" info sel_last/model_a.h5 | sed -n '/^datasets/,$p' > sel_last/a.txt
[ -s sel_best/a.txt ] && cmp -s sel_best/a.txt sel_last/a.txt || { echo "FAIL: model a of best_validation differs from a run of $sel epochs"; fail=1; }
expect 0 "model a \\(epoch $sel\\): train loss" "$SINKRB" run "$TOP_SRCDIR/configs/smoke_align.yaml" -o sel_best \
  --set dataset.validation=20 --set train.select=best_validation --progress never
grep -q "\"selected_epoch\": $sel," sel_best/metrics.json || { echo "FAIL: a loaded endpoint lost its selected epoch"; fail=1; }
expect 2 "train.select best_validation needs a validation split" "$SINKRB" check \
  "$TOP_SRCDIR/configs/smoke_align.yaml" --set train.select=best_validation
# models.b.dropout reaches B's training (and its recipe), not A's.
expect 0 "training model b \\(mlp 1-16-16-1 tanh, dropout 0.5, seed 2" "$SINKRB" run \
  "$TOP_SRCDIR/configs/smoke_align.yaml" -o drop_b --set models.b.dropout=0.5 --set 'align.methods=[weight_matching]' \
  --progress never
expect 0 "" "$SINKRB" run "$TOP_SRCDIR/configs/smoke_align.yaml" -o drop_none --set 'align.methods=[weight_matching]' \
  --progress never
for e in a b; do
  "$SINKRB" info "drop_b/model_$e.h5" | sed -n '/^datasets/,$p' > "drop_b/$e.txt"
  "$SINKRB" info "drop_none/model_$e.h5" | sed -n '/^datasets/,$p' > "drop_none/$e.txt"
done
cmp -s drop_b/a.txt drop_none/a.txt || { echo "FAIL: B's dropout changed model a"; fail=1; }
[ -s drop_b/b.txt ] && ! cmp -s drop_b/b.txt drop_none/b.txt || { echo "FAIL: models.b.dropout did not change model b"; fail=1; }
grep -q '"dropout": 0.5,' drop_b/metrics.json || { echo "FAIL: metrics.json lacks B's dropout"; fail=1; }
expect 1 "models.b.dropout: 0.5 in the file, 0.25 in this config" "$SINKRB" run \
  "$TOP_SRCDIR/configs/smoke_align.yaml" -o drop_b --set models.b.dropout=0.25 --progress never
# Results of an earlier run that this run does not write are removed.
expect 0 "" "$SINKRB" run "$TOP_SRCDIR/configs/smoke_align.yaml" -o t9 --progress never
[ -s t9/aligned_activation_matching.h5 ] || { echo "FAIL: no aligned_activation_matching.h5"; fail=1; }
expect 0 "" "$SINKRB" run "$TOP_SRCDIR/configs/smoke_align.yaml" -o t9 --set 'align.methods=[weight_matching]' \
  --progress never
[ ! -e t9/aligned_activation_matching.h5 ] && [ ! -e t9/perm_activation_matching.h5 ] ||
  { echo "FAIL: stale results of the earlier run are still there"; fail=1; }
grep -q '"aligned_weight_matching.h5"' t9/metrics.json && ! grep -q 'activation_matching.h5' t9/metrics.json ||
  { echo "FAIL: metrics.json does not list exactly the files written"; fail=1; }
[ -s t9/model_a.h5 ] || { echo "FAIL: an endpoint was removed"; fail=1; }
# Foreign names map onto the model's with models.X.rename (a DataParallel
# checkpoint: every name prefixed with "module.").
if /usr/bin/python3 -c 'import h5py' 2>/dev/null; then
  /usr/bin/python3 -c '
import h5py, sys
src, dst = h5py.File(sys.argv[1], "r"), h5py.File(sys.argv[2], "w")
for k in src: dst["module." + k] = src[k][()]
' t9/model_a.h5 dp.h5
  expect 1 "onto the model's with models.a.rename" "$SINKRB" run "$TOP_SRCDIR/configs/smoke_align.yaml" -o t11 \
    --set models.a.weights=dp.h5 --set models.b.weights=t9/model_b.h5 --progress never
  expect 0 "model a: loaded dp.h5" "$SINKRB" run "$TOP_SRCDIR/configs/smoke_align.yaml" -o t11 \
    --set models.a.weights=dp.h5 --set models.b.weights=t9/model_b.h5 --set 'models.a.rename=["module.*=*"]' \
    --set 'align.methods=[weight_matching]' --progress never
  cmp -s t9/interp.csv t11/interp.csv || { echo "FAIL: the renamed checkpoint does not give the same curves"; fail=1; }
else
  echo "note: h5py absent, models.a.rename not exercised end to end"
fi
expect 2 "models.a.rename entries must be FROM=TO pairs" "$SINKRB" check "$TOP_SRCDIR/configs/smoke_align.yaml" \
  --set 'models.a.rename=[fc1.weight]'

# With BatchNorm re-estimated along the path, the summary and metrics.json
# give the curve's ends (what the barriers use) next to the endpoints' own.
expect 0 "test: model b on the curve \(BatchNorm re-estimated\) loss [0-9.]+, own loss [0-9.]+" \
  "$SINKRB" run "$TOP_SRCDIR/configs/smoke_align.yaml" -o t13 --set model.norm=batchnorm --progress never
grep -q '"on_curve"' t13/metrics.json || { echo "FAIL: metrics.json lacks the endpoints on the curve"; fail=1; }

# A data set missing from its default folder is fetched before the run
# (here by a stand-in for datasets/fetch that copies from the source tree);
# when fetching fails the run stops with the offline hint.
if [ -e "$TOP_SRCDIR/datasets/mnist/train-images-idx3-ubyte" ] || [ -e "$TOP_SRCDIR/datasets/mnist/train-images-idx3-ubyte.gz" ]; then
  printf '#!/bin/sh\necho "fetch $*" >> fetch.log\nexec "%s/datasets/fetch" "$1" --from "%s/datasets" --dest "$3"\n' \
    "$TOP_SRCDIR" "$TOP_SRCDIR" > fakefetch
  chmod +x fakefetch
  rm -rf datasets
  expect 1 "fetching it failed \(offline\?\).*" env SINKRB_FETCH=/bin/false "$SINKRB" run \
    "$TOP_SRCDIR/configs/smoke_train.yaml" -o t14 --set dataset.name=mnist --progress never
  expect 0 "model a: train loss" env SINKRB_FETCH="$(pwd)/fakefetch" "$SINKRB" run \
    "$TOP_SRCDIR/configs/smoke_train.yaml" -o t14 --set dataset.name=mnist --set dataset.train_limit=200 \
    --set dataset.test_limit=100 --set train.epochs=1 --progress never
  grep -q "fetch mnist --dest datasets" fetch.log || { echo "FAIL: the fetch script was not run"; fail=1; }
  rm -rf datasets
fi

# An endpoint that did not train (here: Adam at lr 100 kills the ReLU MLP, which
# then predicts one class) stops the run before it is saved; train.allow_chance
# keeps it, and a later run that loads the file sinkrb trained stops again.
if [ -e "$TOP_SRCDIR/datasets/mnist/train-labels-idx1-ubyte" ] || [ -e "$TOP_SRCDIR/datasets/mnist/train-labels-idx1-ubyte.gz" ]; then
  chance() { "$SINKRB" run "$TOP_SRCDIR/configs/smoke_train.yaml" -o chance --set dataset.name=mnist \
    --set "dataset.path=$TOP_SRCDIR/datasets/mnist" --set dataset.train_limit=500 --set dataset.test_limit=1000 \
    --set train.epochs=1 --set model.activation=relu --set train.lr=100 --progress never "$@"; }
  expect 1 "model a \(seed 1, mlp 784-10-10 relu, trained\) did not train: its test accuracy [0-9.]+% is at chance \(1/10 = 10.00%\)" chance
  expect 1 "HINT: .*train.lr.*train.allow_chance: true" chance
  [ ! -e chance/model_a.h5 ] || { echo "FAIL: an endpoint at chance was saved"; fail=1; }
  expect 0 "model a \(seed 1, trained\): .*kept \(train.allow_chance\)" chance --set train.allow_chance=true
  expect 1 "model a \(seed 1, .*, loaded\) did not train: .*made by an earlier sinkrb run" chance
fi

# interpolation.repair adds a <method>+repair curve per method: in the summary,
# interp.csv, the plots and metrics.json.
expect 0 "weight_matching\+repair +[0-9.]+ +[0-9.]+" "$SINKRB" run "$TOP_SRCDIR/configs/smoke_align.yaml" -o rep \
  --set interpolation.repair=repair --set interpolation.repair_batches=2 --progress never
grep -q '^naive+repair,test,' rep/interp.csv || { echo "FAIL: interp.csv lacks the +repair curves"; fail=1; }
grep -q 'REPAIR' rep/lmc_loss.svg || { echo "FAIL: lmc_loss.svg lacks the +repair curves"; fail=1; }
grep -q '"of": "activation_matching"' rep/metrics.json || { echo "FAIL: metrics.json lacks the repair entry"; fail=1; }

# BatchNorm re-estimation on interpolation.bn_batches batches of a fixed subset:
# the same curves every time, other curves than with the whole training split.
for b in 0 1 1b; do
  expect 0 "" "$SINKRB" run "$TOP_SRCDIR/configs/smoke_align.yaml" -o bn$b --set model.norm=batchnorm \
    --set interpolation.bn_batches=${b%b} --progress never
done
cmp -s bn1/interp.csv bn1b/interp.csv || { echo "FAIL: bn_batches: 1 is not deterministic"; fail=1; }
cmp -s bn0/interp.csv bn1/interp.csv && { echo "FAIL: bn_batches: 1 gives the whole split's curves"; fail=1; }
# Only a truly absent weights path counts as absent: a dangling link is an error.
ln -s no-such-file.h5 dangling.h5
expect 1 "models.a.weights: dangling.h5 is a symbolic link to a missing file" "$SINKRB" run \
  "$TOP_SRCDIR/configs/smoke_train.yaml" -o t15 --set models.a.weights=dangling.h5 --set models.a.train=if_missing \
  --progress never
[ -L dangling.h5 ] || { echo "FAIL: the symbolic link was replaced"; fail=1; }
# An output path that is a file (or lies under one) is refused before any work.
echo keep > notdir
expect 1 "notdir exists and is not a directory" "$SINKRB" run "$TOP_SRCDIR/configs/smoke_train.yaml" -o notdir \
  --progress never
expect 1 "notdir/sub: a part of this path is a file, not a directory" "$SINKRB" run \
  "$TOP_SRCDIR/configs/smoke_train.yaml" -o notdir/sub --progress never
[ "$(cat notdir)" = keep ] || { echo "FAIL: the file given as output folder was changed"; fail=1; }
case $out in *"training model"*) echo "FAIL: training started before the output folder was checked"; fail=1 ;; esac
# One run per output folder; an interrupted run removes its unfinished files,
# says where it stopped and exits 128 + the signal; a rerun removes the
# temporary files of runs that were killed outright.
"$SINKRB" run "$TOP_SRCDIR/configs/smoke_train.yaml" -o t16 --set train.epochs=1000000 --progress never \
  > t16.out 2>&1 &
bg=$!
k=0
while ! grep -q "pid $bg" t16/.sinkrb.lock 2>/dev/null && [ $k -lt 100 ]; do sleep 0.1; k=$((k + 1)); done
expect 1 "t16 is in use by another sinkrb run \(pid $bg" "$SINKRB" run "$TOP_SRCDIR/configs/smoke_train.yaml" \
  -o t16 --progress never
kill -INT $bg
wait $bg
got=$?
[ "$got" = 130 ] || { echo "FAIL: an interrupted run exited $got, expected 130"; fail=1; }
grep -q "interrupted by SIGINT in t16" t16.out || { echo "FAIL: the interrupted run did not say where it stopped"; cat t16.out; fail=1; }
ls t16 | grep -q '\.tmp\.' && { echo "FAIL: temporary files left: $(ls t16)"; fail=1; }
dead=$(sh -c 'echo $$')
: > "t16/model_a.h5.tmp.$dead.3"
expect 0 "" "$SINKRB" run "$TOP_SRCDIR/configs/smoke_train.yaml" -o t16 --progress never
[ ! -e "t16/model_a.h5.tmp.$dead.3" ] || { echo "FAIL: a dead run's temporary file is still there"; fail=1; }

# Training that diverges is a failure naming the epoch, never a result.
expect 1 "(training diverged: the training loss of epoch 1 is|epoch 1 step [0-9]+: training loss is)" "$SINKRB" run \
  "$TOP_SRCDIR/configs/smoke_train.yaml" -o t17 --set train.optimizer=sgd --set train.lr=1e30 --progress never
[ ! -e t17/model_a.h5 ] || { echo "FAIL: a diverged endpoint was saved"; fail=1; }

# A rerun of a sweep reuses the items an earlier run finished (same sweep.csv);
# --restart redoes them.
expect 0 "" "$SINKRB" run "$TOP_SRCDIR/configs/smoke_align.yaml" -o t18 --set sweep.key=models.b.seed \
  --set 'sweep.values=[2, 3]' --progress never
cp t18/sweep.csv t18.first.csv
expect 0 "unit 2 of 2.*complete from an earlier run: reused" "$SINKRB" run "$TOP_SRCDIR/configs/smoke_align.yaml" \
  -o t18 --set sweep.key=models.b.seed --set 'sweep.values=[2, 3]' --progress never
cut -d, -f1-13 t18/sweep.csv > a.csv; cut -d, -f1-13 t18.first.csv > b.csv
cmp -s a.csv b.csv || { echo "FAIL: a resumed sweep's sweep.csv differs"; fail=1; }
expect 0 "training model a" "$SINKRB" run "$TOP_SRCDIR/configs/smoke_align.yaml" -o t18 --restart \
  --set sweep.key=models.b.seed --set 'sweep.values=[2, 3]' --progress never
expect 2 "--restart is an option of run" "$SINKRB" check "$TOP_SRCDIR/configs/smoke_align.yaml" --restart

# Repetitions: repeat 3 runs three units (rep0..rep2) on the rule's seeds
# (run seed + r, A and B + 2r here); each one's results are those of a plain
# run with its seeds, and rep0 is the plain run itself.
expect 0 "unit 3 of 3 .*repetition 2 \(seed 3, a 5, b 6\)" "$SINKRB" run "$TOP_SRCDIR/configs/smoke_align.yaml" \
  -o rp3 --set repeat=3 -j 1 --progress never
for r in 0 1 2; do
  "$SINKRB" run "$TOP_SRCDIR/configs/smoke_align.yaml" -o rp3_sep$r --seed $((1 + r)) --set models.a.seed=$((1 + 2 * r)) \
    --set models.b.seed=$((2 + 2 * r)) -j 1 --progress never --quiet 2> /dev/null
  cmp -s rp3/rep$r/interp.csv rp3_sep$r/interp.csv || { echo "FAIL: repetition $r differs from a plain run with its seeds"; fail=1; }
done
grep -q '"b_seed": 6' rp3/metrics.json || { echo "FAIL: the repetitions' metrics.json lacks their seeds"; fail=1; }
[ "$(grep -c '^2,' rp3/repetitions.csv)" = 6 ] || { echo "FAIL: repetitions.csv lacks repetition 2's rows"; fail=1; }
# ... and the aggregate: mean ± std [interval] per method, paired differences against weight matching.
grep -q '"aggregate"' rp3/metrics.json || { echo "FAIL: the repetitions' metrics.json lacks the aggregate"; fail=1; }
expect 0 "activation_matching - weight_matching: loss barrier [-+]?[0-9.]+ ± [0-9.]+ \([0-3] of 3 (lower|higher)\)" \
  "$SINKRB" run "$TOP_SRCDIR/configs/smoke_align.yaml" -o rp3 --set repeat=3 -j 1 --progress never
# A sweep of repetitions: sweep.csv has each item's mean and std, each item's folder its aggregate.
expect 0 "^8 +weight_matching +[0-9.]+ ± [0-9.]+" "$SINKRB" run "$TOP_SRCDIR/configs/smoke_align.yaml" -o rsw \
  --set repeat=2 --set sweep.key=model.hidden --set 'sweep.values=[[8], [12]]' --set 'align.methods=[weight_matching]' \
  -j 1 --progress never
head -n1 rsw/sweep.csv | grep -q '^label,value,method,split,n,loss_barrier_mean,loss_barrier_std,' ||
  { echo "FAIL: a sweep of repetitions' sweep.csv lacks mean and std columns"; fail=1; }
[ "$(grep -c '^12,\[12\],weight_matching,test,2,' rsw/sweep.csv)" = 1 ] || { echo "FAIL: sweep.csv row of item 12"; fail=1; }
grep -q '"aggregate"' rsw/12/metrics.json || { echo "FAIL: an item's folder lacks its aggregate"; fail=1; }
# Plots: the mean curves with a band of ± 1 std (each item's), and the sweep's summary with error bars.
grep -q 'fill-opacity=' rp3/lmc_loss.svg && grep -q '± 1 std' rp3/lmc_loss.svg ||
  { echo "FAIL: the repetitions' lmc_loss.svg lacks its band"; fail=1; }
grep -q 'fill-opacity=' rsw/8/lmc_loss.svg || { echo "FAIL: an item's lmc_loss.svg lacks its band"; fail=1; }
grep -q 'error bars: ± 1 std' rsw/sweep_summary.svg || { echo "FAIL: the sweep's summary plot"; fail=1; }
grep -q '>Weight matching<' rsw/sweep_summary.svg || { echo "FAIL: the sweep's summary names methods by their keys"; fail=1; }

# The endpoint cache: a sweep over B's seed trains A once (the first item)
# and loads it in the others; a changed recipe (another fingerprint) misses
# the cache and trains anew; two runs that need the same endpoint at once
# train it once (the other waits on its lock, then loads it).
expect 0 "" "$SINKRB" run "$TOP_SRCDIR/configs/smoke_align.yaml" -o ec --set sweep.key=models.b.seed \
  --set 'sweep.values=[2, 3]' --set 'align.methods=[weight_matching]' -j 1 --progress never
[ "$(grep -c 'training model a' ec/log.txt ec/2/log.txt ec/3/log.txt | awk -F: '{s += $2} END {print s}')" = 1 ] ||
  { echo "FAIL: a sweep over models.b.seed trained model a more than once"; fail=1; }
grep -q 'model a: loaded ec/endpoints/[0-9a-f]*\.h5 (endpoint cache)' ec/3/log.txt ||
  { echo "FAIL: the second item did not load model a from the cache"; fail=1; }
[ "$(ls ec/endpoints/*.h5 | wc -l)" = 3 ] || { echo "FAIL: the cache should hold A and two Bs"; ls ec/endpoints; fail=1; }
grep -q '"cached": true' ec/3/metrics.json || { echo "FAIL: metrics.json does not say the endpoint is cached"; fail=1; }
expect 0 "training model a" "$SINKRB" run "$TOP_SRCDIR/configs/smoke_align.yaml" -o ec_miss \
  --set endpoints.cache=ec/endpoints --set train.epochs=31 -j 1 --progress never
[ "$(ls ec/endpoints/*.h5 | wc -l)" = 5 ] || { echo "FAIL: a new recipe did not add its endpoints to the cache"; fail=1; }
expect 0 "model b: loaded ec/endpoints/.*endpoint cache" "$SINKRB" run "$TOP_SRCDIR/configs/smoke_align.yaml" \
  -o ec_hit --set endpoints.cache=ec/endpoints --set models.b.seed=3 -j 1 --progress never
"$SINKRB" run "$TOP_SRCDIR/configs/smoke_align.yaml" -o ec_c1 --set endpoints.cache=ec_cc --set train.epochs=200 \
  -j 1 --progress never > ec_c1.out 2>&1 &
ec_pid=$!
"$SINKRB" run "$TOP_SRCDIR/configs/smoke_align.yaml" -o ec_c2 --set endpoints.cache=ec_cc --set train.epochs=200 \
  -j 1 --progress never > ec_c2.out 2>&1 || { echo "FAIL: the second of two concurrent runs"; fail=1; }
wait $ec_pid || { echo "FAIL: the first of two concurrent runs"; cat ec_c1.out; fail=1; }
[ "$(cat ec_c1.out ec_c2.out | grep -c 'training model a')" = 1 ] ||
  { echo "FAIL: two concurrent runs both trained model a"; cat ec_c1.out ec_c2.out; fail=1; }
cmp -s ec_c1/interp.csv ec_c2/interp.csv || { echo "FAIL: runs on the same cached endpoints differ"; fail=1; }
ls ec_cc | grep -q '\.tmp\.' && { echo "FAIL: temp files left in the cache"; fail=1; }

# Units: sinkrb plan lists them and the endpoint trainings they need; a
# shell loop runs all but one (--unit K, as a job array would), collect then
# names the missing one and fails; once it has run, collect writes the same
# sweep.csv as a serial run (apart from its timing columns).
U="--set repeat=2 --set sweep.key=model.hidden --set sweep.values=[[8],[12]] --set align.methods=[weight_matching] -j 1"
notime() { awk -F, 'NR == 1 { for (i = 1; i <= NF; i++) t[i] = ($i ~ /seconds/) } { s = ""; for (i = 1; i <= NF; i++) if (!t[i]) s = s $i ","; print s }' "$1"; }
expect 0 "^units: 4" "$SINKRB" plan "$TOP_SRCDIR/configs/smoke_align.yaml" -o un $U
expect 0 "E1 +model b seed 2 +un/endpoints/[0-9a-f]+\.h5 \(to make\) needed by unit 0" \
  "$SINKRB" plan "$TOP_SRCDIR/configs/smoke_align.yaml" -o un $U
for k in 0 1 3; do
  expect 0 "unit $k of 4 .* done; when every unit is: sinkrb collect un" \
    "$SINKRB" run "$TOP_SRCDIR/configs/smoke_align.yaml" -o un $U --unit $k --progress never
done
expect 1 "unit 2 \(12/rep0\) is missing" "$SINKRB" collect un
expect 1 "1 of 4 units of un are missing" "$SINKRB" collect un
expect 0 "3 +12/rep1 +complete" "$SINKRB" plan "$TOP_SRCDIR/configs/smoke_align.yaml" -o un $U
# A unit written by a sinkrb without a key added since (its default applies)
# is still complete; one whose recorded value differs is not.
grep -v '^  bn_batches: 0$' un/12/rep1/config.yaml > un.cfg && mv un.cfg un/12/rep1/config.yaml
expect 0 "3 +12/rep1 +complete" "$SINKRB" plan "$TOP_SRCDIR/configs/smoke_align.yaml" -o un $U
sed 's/^  points: \(.*\)$/  points: 7/' un/12/rep1/config.yaml > un.cfg && cp un/12/rep1/config.yaml un.keep &&
  mv un.cfg un/12/rep1/config.yaml
expect 0 "3 +12/rep1 +to run" "$SINKRB" plan "$TOP_SRCDIR/configs/smoke_align.yaml" -o un $U
mv un.keep un/12/rep1/config.yaml
expect 2 "--unit 4: the plan of .* has 4 units \(0..3" "$SINKRB" run "$TOP_SRCDIR/configs/smoke_align.yaml" -o un $U --unit 4
expect 0 "" "$SINKRB" run "$TOP_SRCDIR/configs/smoke_align.yaml" -o un $U --unit 2 --progress never
expect 0 "collected 4 units" "$SINKRB" collect un
expect 0 "" "$SINKRB" run "$TOP_SRCDIR/configs/smoke_align.yaml" -o us $U --progress never
notime un/sweep.csv > un.csv; notime us/sweep.csv > us.csv
cmp -s un.csv us.csv || { echo "FAIL: collected units differ from a serial run"; diff un.csv us.csv; fail=1; }
expect 2 "collect takes no --set" "$SINKRB" collect un --set seed=3
expect 2 "single run .*nothing to collect" "$SINKRB" collect align

# Resume after a killed unit: it leaves nothing that looks complete, collect
# names it, and running it again resumes its endpoint training from the
# checkpoint the killed one left.
K="--set repeat=2 --set train.epochs=1000 --set align.methods=[weight_matching] -j 1 --progress never"
"$SINKRB" run "$TOP_SRCDIR/configs/smoke_align.yaml" -o uk $K --unit 0 > uk.out 2>&1 &
uk_pid=$!
sleep 0.6
kill -TERM $uk_pid
wait $uk_pid
[ $? = 143 ] || { echo "FAIL: a killed unit did not exit 143"; cat uk.out; fail=1; }
[ ! -e uk/rep0/metrics.json ] || { echo "FAIL: a killed unit looks complete"; fail=1; }
find uk -name '*.tmp.*' | grep -q . && { echo "FAIL: a killed unit left temp files"; fail=1; }
expect 1 "unit 0 \(rep0\) is missing" "$SINKRB" collect uk
expect 0 "model a: resuming from the checkpoint uk/endpoints/[0-9a-f]+\.h5\.ckpt after epoch" \
  "$SINKRB" run "$TOP_SRCDIR/configs/smoke_align.yaml" -o uk $K --unit 0
[ -s uk/rep0/metrics.json ] || { echo "FAIL: the rerun did not complete the killed unit"; fail=1; }
expect 1 "unit 1 \(rep1\) is missing" "$SINKRB" collect uk

# The long stages (activation matching, STE, Sinkhorn) draw the same bar with
# an ETA as training and LMC.
"$SINKRB" run "$TOP_SRCDIR/configs/smoke_align.yaml" -o t19 --progress always \
  --set 'align.methods=[activation_matching,ste,sinkhorn]' --set 'sinkhorn.costs=[l2,mid]' --set sinkhorn.steps=40 \
  --set sinkhorn.epochs=2 --set ste.epochs=2 2> t19.err > /dev/null
for m in activation_matching ste sinkhorn_l2 sinkhorn_mid; do
  tr '\r' '\n' < t19.err | grep -qE "$m \[[#.]+\] +[0-9]+% .*eta" || { echo "FAIL: no progress bar for $m"; fail=1; }
done

# check --verify-spec proves the spec of the configured model.
expect 0 "spec verified" "$SINKRB" check "$TOP_SRCDIR/configs/smoke_align.yaml" --verify-spec
expect 2 "--verify-spec is an option of check" "$SINKRB" run "$TOP_SRCDIR/configs/smoke_align.yaml" --verify-spec

# Inputs that are not regular files are refused without blocking (timeout
# turns a regression into a failure, not a hang); a config error writes
# nothing; every constraint of a run is a config error of check and run.
to=""
command -v timeout > /dev/null && to="timeout 60"
mkfifo fifo.yaml
expect 2 "fifo.yaml: not a regular file \(a FIFO\)" $to "$SINKRB" check fifo.yaml
mkdir dir.yaml
expect 2 "dir.yaml: not a regular file \(a directory\)" "$SINKRB" check dir.yaml
expect 2 "/dev/null: not a regular file \(a character device\)" "$SINKRB" check /dev/null
expect 2 "/dev/zero: not a regular file" $to "$SINKRB" run /dev/zero -o r4 --progress never
[ ! -e r4 ] || { echo "FAIL: a refused config wrote results"; fail=1; }
# 100,000 levels of nesting: refused at once (libyaml took minutes).
awk 'BEGIN { for (i = 0; i < 100000; i++) printf "["; for (i = 0; i < 100000; i++) printf "]"; print "" }' > deep.yaml
expect 2 "^sinkrb: deep.yaml:1:65: YAML nesting deeper than 64 levels$" $to "$SINKRB" check deep.yaml
printf 'seed: 1\n---\nseed: [\n' > twodocs.yaml
expect 2 "twodocs.yaml:2:1: a second YAML document" "$SINKRB" check twodocs.yaml
# A name is a folder under results/: '..' wrote into the current directory.
printf 'name: ..\nmode: train\ndataset: {name: polynomial}\n' > dots.yaml
mkdir w6
cd w6 || exit 1
expect 2 "dots.yaml:1:7: name \"\.\.\" must not start with '\.'" "$SINKRB" run ../dots.yaml --progress never
expect 2 "^sinkrb: --set name=\.: name \"\.\" must not start with '\.'" \
  "$SINKRB" run "$TOP_SRCDIR/configs/smoke_train.yaml" --set name=. --progress never
[ -z "$(ls -A)" ] || { echo "FAIL: a refused name wrote files: $(ls -A)"; fail=1; }
cd .. || exit 1
# check refuses what run would refuse, with the same message; run writes nothing.
for s in train.beta1=1 train.beta2=1 ste.momentum=1 model.dropout=1.0; do
  expect 2 "^sinkrb: --set $s: ${s%%=*} must be a number >= 0 and < 1" \
    "$SINKRB" check "$TOP_SRCDIR/configs/smoke_align.yaml" --set "$s"
  expect 2 "^sinkrb: --set $s: ${s%%=*} must be a number >= 0 and < 1" \
    "$SINKRB" run "$TOP_SRCDIR/configs/smoke_align.yaml" -o r11 --set "$s" --set 'align.methods=[ste]' --progress never
done
expect 2 "^sinkrb: --set continual.momentum=1: continual.momentum must be a number >= 0 and < 1" \
  "$SINKRB" run "$TOP_SRCDIR/configs/smoke_continual.yaml" -o r11 --set continual.optimizer=sgd \
  --set continual.momentum=1 --progress never
printf 'mode: continual\ndataset: {name: cifar10}\ncontinual: {benchmark: split-cifar10, tasks: 6}\n' > t6.yaml
expect 2 "^sinkrb: t6.yaml:3:46: continual.benchmark split-cifar10 has at most 5 tasks \(continual.tasks is 6\)$" \
  "$SINKRB" run t6.yaml -o r11 --progress never
expect 2 "^sinkrb: --set sweep.values=\[6\]: sweep item 6 \(continual.tasks = 6\): continual.benchmark split-cifar10" \
  "$SINKRB" check "$TOP_SRCDIR/configs/split_cifar10.yaml" --set 'sweep.key=continual.tasks' --set 'sweep.values=[6]'
expect 2 "^sinkrb: --set continual.tasks=6: continual.benchmark split-cifar10 has at most 5 tasks" \
  "$SINKRB" run "$TOP_SRCDIR/configs/split_cifar10.yaml" -o r11 --set continual.tasks=6 --progress never
expect 2 "^sinkrb: --set model.norm=none: model.arch resnet20 needs model.norm" \
  "$SINKRB" run "$TOP_SRCDIR/configs/cifar_resnet20.yaml" -o r11 --set model.norm=none --progress never
[ ! -e r11 ] || { echo "FAIL: a run refused for its config wrote results"; fail=1; }
# Messages: a section is not a key; a newline in a --set value is escaped.
expect 2 "^sinkrb: --set train=1: train is a section, not a key" "$SINKRB" check "$TOP_SRCDIR/configs/smoke_train.yaml" \
  --set train=1
out=$("$SINKRB" check "$TOP_SRCDIR/configs/smoke_train.yaml" --set 'name=a
b' 2>&1)
[ "$out" = "sinkrb: --set name=a\nb: name \"a\nb\" may only contain letters, digits, '_', '-' and '.'" ] ||
  { echo "FAIL: a newline in a --set value is not escaped: $out"; fail=1; }
# Data files: a FIFO, a symlink loop, damage past what test_limit keeps.
mnist="$TOP_SRCDIR/datasets/mnist"
if [ -e "$mnist/t10k-labels-idx1-ubyte.gz" ] || [ -e "$mnist/t10k-labels-idx1-ubyte" ]; then
  for d in d4 d13 d14 d15; do
    mkdir "$d"
    for f in "$mnist"/*-ubyte*; do ln -s "$f" "$d/"; done
    rm -f "$d"/t10k-labels-idx1-ubyte*
  done
  if [ -e "$mnist/t10k-labels-idx1-ubyte.gz" ]; then gzip -dc "$mnist/t10k-labels-idx1-ubyte.gz" > d13/t10k-labels-idx1-ubyte
  else cp "$mnist/t10k-labels-idx1-ubyte" d13/; fi
  cp d13/t10k-labels-idx1-ubyte d15/
  cp d13/t10k-labels-idx1-ubyte d4/t10k-labels-idx1-ubyte.gz # shadowed by the FIFO
  mkfifo d4/t10k-labels-idx1-ubyte
  printf '\013' | dd of=d13/t10k-labels-idx1-ubyte bs=1 seek=10007 conv=notrunc 2> /dev/null
  ln -s t10k-labels-idx1-ubyte.gz d14/t10k-labels-idx1-ubyte.gz
  run13() { "$SINKRB" run "$TOP_SRCDIR/configs/smoke_train.yaml" -o r13 --set dataset.name=mnist \
    --set "dataset.path=$1" --set dataset.train_limit=100 --set dataset.test_limit=100 --set train.epochs=1 \
    --progress never; }
  expect 1 "d4/t10k-labels-idx1-ubyte: not a regular file \(a FIFO\)" $to "$SINKRB" run \
    "$TOP_SRCDIR/configs/smoke_train.yaml" -o r13 --set dataset.name=mnist --set dataset.path=d4 \
    --set dataset.test_limit=100 --progress never
  expect 1 "d13/t10k-labels-idx1-ubyte: label 11 at record 9999 is out of range 0..9" run13 d13
  expect 1 "d14/t10k-labels-idx1-ubyte.gz: Too many levels of symbolic links" run13 d14
  if [ -e "$mnist/t10k-images-idx3-ubyte.gz" ]; then
    rm d15/t10k-images-idx3-ubyte.gz
    cp "$mnist/t10k-images-idx3-ubyte.gz" d15/
    size=$(wc -c < d15/t10k-images-idx3-ubyte.gz)
    printf '\377' | dd of=d15/t10k-images-idx3-ubyte.gz bs=1 seek=$((size - 8)) conv=notrunc 2> /dev/null
    expect 1 "d15/t10k-images-idx3-ubyte.gz: corrupt gzip data \(incorrect data check\)" run13 d15
  fi
  [ ! -e r13 ] || { echo "FAIL: a run with a bad data file wrote results"; fail=1; }
  expect 0 "" run13 "$mnist"
  [ -s r13/metrics.json ] || { echo "FAIL: the intact data set did not run"; fail=1; }
else
  echo "note: datasets/mnist absent, data file checks not exercised (run datasets/fetch mnist)"
fi

# Resume instead of redo: a run killed (SIGTERM) while training leaves the
# endpoint's checkpoint <weights>.ckpt; the rerun resumes after its epoch and
# ends with the weights (value for value: h5vals prints the bits) and the
# losses of a run never stopped, and removes the checkpoint. --restart
# removes a checkpoint instead, one of another recipe is ignored.
h5vals="${TOP_BUILDDIR:-.}/tests/h5vals"
[ -x "$h5vals" ] || h5vals="./h5vals"
rs_run() { "$SINKRB" --progress never run "$TOP_SRCDIR/configs/smoke_train.yaml" --set train.epochs=150 "$@"; }
# same_endpoints DIR1 DIR2: the same weights values and final losses
same_endpoints() {
  for m in a b; do
    if [ -x "$h5vals" ]; then
      "$h5vals" "$1/model_$m.h5" > "$1/model_$m.vals" && "$h5vals" "$2/model_$m.h5" > "$2/model_$m.vals" &&
        cmp -s "$1/model_$m.vals" "$2/model_$m.vals" || { echo "FAIL: $2/model_$m.h5 differs from $1/model_$m.h5"; fail=1; }
    fi
    "$SINKRB" info "$1/model_$m.h5" | sed 1d > "$1/model_$m.info"
    "$SINKRB" info "$2/model_$m.h5" | sed 1d > "$2/model_$m.info"
    cmp -s "$1/model_$m.info" "$2/model_$m.info" || { echo "FAIL: sinkrb info of $2/model_$m.h5 differs"; fail=1; }
    for f in "$1" "$2"; do
      grep -E "model $m (epoch 150/150|: train loss)" "$f/log.txt" | sed 's/^[^ ]* //; s/ | [0-9]* samples.s$//' \
        > "$f/losses_$m"
    done
    cmp -s "$1/losses_$m" "$2/losses_$m" || { echo "FAIL: model $m's losses in $2 differ"; diff "$1/losses_$m" "$2/losses_$m"; fail=1; }
  done
}
expect 0 "saved model b" rs_run -o rs0
ls rs0 | grep -q ckpt && { echo "FAIL: checkpoints left after a finished run: $(ls rs0)"; fail=1; }
"$SINKRB" --progress never run "$TOP_SRCDIR/configs/smoke_train.yaml" --set train.epochs=150 -o rs1 > rs1.out 2>&1 &
bg=$!
k=0
while ! ls rs1 2>/dev/null | grep -q '\.ckpt$' && [ $k -lt 1000 ]; do sleep 0.01; k=$((k + 1)); done
kill -TERM $bg
wait $bg
got=$?
[ "$got" = 143 ] || { echo "FAIL: a run killed while training exited $got, expected 143"; cat rs1.out; fail=1; }
ck=$(ls rs1 | grep '\.ckpt$' | head -n 1)
if [ -n "$ck" ]; then
  cp "rs1/$ck" saved.ckpt
  expect 0 "model [ab]: resuming from the checkpoint rs1/$ck after epoch [1-9][0-9]*/150" rs_run -o rs1
  ls rs1 | grep -q ckpt && { echo "FAIL: the checkpoint is still there: $(ls rs1)"; fail=1; }
  same_endpoints rs0 rs1
  mkdir rs2 rs3
  cp saved.ckpt "rs2/$ck"
  cp saved.ckpt "rs3/$ck"
  expect 0 "model [ab]: --restart: removed the checkpoint rs2/$ck" rs_run -o rs2 --restart
  ls rs2 | grep -q ckpt && { echo "FAIL: --restart left the checkpoint: $(ls rs2)"; fail=1; }
  same_endpoints rs0 rs2
  expect 0 "ignoring the checkpoint rs3/$ck \(it will be replaced\): rs3/$ck: made by another recipe" rs_run -o rs3 \
    --set train.lr=0.02
  ls rs3 | grep -q ckpt && { echo "FAIL: the other recipe's checkpoint is still there: $(ls rs3)"; fail=1; }
else
  echo "FAIL: no checkpoint appeared while training"; fail=1
fi

# Mode continual resumes too: a run killed (SIGTERM) once the checkpoint of
# its first task is there (<output>/continual.ckpt) goes on after the
# checkpoint's task when rerun, and ends with the accuracy matrices and
# metrics (but for the times) of a run never stopped; the finished run
# removes the checkpoint. --restart removes one instead, one of another
# config is ignored.
if [ -d "$TOP_SRCDIR/datasets/mnist" ]; then
  cl_run() { "$SINKRB" --progress never run "$TOP_SRCDIR/configs/smoke_continual.yaml" \
    --set dataset.path="$TOP_SRCDIR/datasets/mnist" "$@"; }
  # same_continual DIR1 DIR2: the same accuracy matrices and metrics but for the times
  same_continual() {
    cmp -s "$1/accuracy_matrix.csv" "$2/accuracy_matrix.csv" ||
      { echo "FAIL: $2/accuracy_matrix.csv differs from $1's"; diff "$1/accuracy_matrix.csv" "$2/accuracy_matrix.csv"; fail=1; }
    for f in "$1" "$2"; do
      grep -vE '"(started|finished|wall_seconds|seconds|load|continual)": [0-9"]' "$f/metrics.json" > "$f/metrics.notime"
    done
    cmp -s "$1/metrics.notime" "$2/metrics.notime" ||
      { echo "FAIL: $2/metrics.json differs from $1's"; diff "$1/metrics.notime" "$2/metrics.notime"; fail=1; }
  }
  expect 0 "rebasin +[0-9.]+" cl_run -o cr0
  [ -e cr0/continual.ckpt ] && { echo "FAIL: a finished continual run left its checkpoint"; fail=1; }
  "$SINKRB" --progress never run "$TOP_SRCDIR/configs/smoke_continual.yaml" --set dataset.path="$TOP_SRCDIR/datasets/mnist" \
    -o cr1 > cr1.out 2>&1 &
  bg=$!
  k=0
  while [ ! -e cr1/continual.ckpt ] && [ $k -lt 1000 ]; do sleep 0.01; k=$((k + 1)); done
  kill -TERM $bg
  wait $bg
  got=$?
  [ "$got" = 143 ] || { echo "FAIL: a continual run killed after its first task exited $got, expected 143"; cat cr1.out; fail=1; }
  if [ -e cr1/continual.ckpt ]; then
    cp cr1/continual.ckpt cl_saved.ckpt
    [ -e cr1/accuracy_matrix.csv ] && { echo "FAIL: the killed continual run wrote results"; fail=1; }
    expect 0 "continual: resuming from the checkpoint cr1/continual.ckpt after [a-z]+ task [1-3]/3 \(method [1-6]/6\)" \
      cl_run -o cr1
    [ -e cr1/continual.ckpt ] && { echo "FAIL: the resumed continual run left its checkpoint"; fail=1; }
    same_continual cr0 cr1
    mkdir cr2 cr3
    cp cl_saved.ckpt cr2/continual.ckpt
    cp cl_saved.ckpt cr3/continual.ckpt
    expect 0 "continual: --restart: removed the checkpoint cr2/continual.ckpt" cl_run -o cr2 --restart
    [ -e cr2/continual.ckpt ] && { echo "FAIL: --restart left the continual checkpoint"; fail=1; }
    same_continual cr0 cr2
    pat="continual: ignoring the checkpoint cr3/continual.ckpt \(it will be replaced\): cr3/continual.ckpt: made by another"
    expect 0 "$pat config" cl_run -o cr3 --set continual.epochs=1 --set 'continual.methods=[finetune]'
    [ -e cr3/continual.ckpt ] && { echo "FAIL: the other config's continual checkpoint is still there"; fail=1; }
  else
    echo "FAIL: no continual checkpoint appeared"; fail=1
  fi
else
  echo "note: datasets/mnist absent, continual resume not exercised (run datasets/fetch mnist)"
fi

[ $fail -eq 0 ] && echo "cli: $n checks ok"
exit $fail
