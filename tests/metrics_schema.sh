#!/bin/sh
# metrics.json has a documented schema (doc/metrics.schema.json): the files
# real runs of every mode write are valid against it. Needs Python's
# jsonschema (Debian: python3-jsonschema); skipped without it.
set -u
: "${SINKRB:=./sinkrb}" "${TOP_SRCDIR:=.}"
py=/usr/bin/python3
[ -x "$py" ] || py=python3
if ! "$py" -c 'import jsonschema' 2>/dev/null; then
  echo "python3 jsonschema not available (apt-get install python3-jsonschema): metrics.json not validated"
  exit 77
fi
tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT
cfg="$TOP_SRCDIR/configs"
run() { "$SINKRB" run "$@" -j 1 --progress never --quiet > "$tmp/out.txt" 2>&1 || { echo "FAIL: sinkrb run $*"; cat "$tmp/out.txt"; exit 1; }; }
run "$cfg/smoke_train.yaml" -o "$tmp/train"
run "$cfg/smoke_train.yaml" -o "$tmp/train_val" --set dataset.validation=20 --set train.select=best_validation
run "$cfg/smoke_align.yaml" -o "$tmp/align" --set 'align.methods=[weight_matching,activation_matching,ste,sinkhorn]' \
  --set 'sinkhorn.costs=[l2,mid]' --set sinkhorn.steps=20 --set sinkhorn.epochs=1 --set ste.epochs=1
run "$cfg/smoke_align.yaml" -o "$tmp/repair" --set interpolation.repair=repair --set model.norm=layernorm
run "$cfg/smoke_align.yaml" -o "$tmp/planted" --set models.b.planted=true --set model.norm=batchnorm \
  --set mode=sinkhorn --set 'sinkhorn.costs=[l2]' --set sinkhorn.steps=20
# a reference section (published values beside the run's) and a validation split
{ cat "$cfg/smoke_align.yaml"; printf 'reference:\n  source: "made up"\n  endpoints: {loss: 0.03}\n  methods:\n    naive: {loss: 0.2}\n'; } > "$tmp/ref.yaml"
run "$tmp/ref.yaml" -o "$tmp/reference" --set dataset.validation=20 --set train.select=best_validation
run "$cfg/smoke_align.yaml" -o "$tmp/sweep" --set sweep.key=models.b.seed --set 'sweep.values=[2, 3]'
# repetitions (their aggregate), and a sweep of repetitions (each item's aggregate in its folder)
run "$cfg/smoke_align.yaml" -o "$tmp/repeat" --set repeat=3 --set models.b.planted=true
run "$cfg/smoke_train.yaml" -o "$tmp/sweep_repeat" --set repeat=2 --set sweep.key=model.hidden --set 'sweep.values=[[4], [6]]'
if [ -e "$TOP_SRCDIR/datasets/mnist/train-images-idx3-ubyte" ] || [ -e "$TOP_SRCDIR/datasets/mnist/train-images-idx3-ubyte.gz" ]; then
  run "$cfg/smoke_continual.yaml" -o "$tmp/continual" --set dataset.path="$TOP_SRCDIR/datasets/mnist" \
    --set continual.tasks=2 --set 'continual.methods=[finetune,replay,rebasin]' --set continual.epochs=1 --set repeat=2
fi
"$py" - "$TOP_SRCDIR/doc/metrics.schema.json" "$tmp" <<'PY'
import json, os, sys
import jsonschema
schema = json.load(open(sys.argv[1]))
jsonschema.Draft7Validator.check_schema(schema)
v = jsonschema.Draft7Validator(schema)
n = bad = 0
for root, _, files in os.walk(sys.argv[2]):
    for f in files:
        if f != "metrics.json":
            continue
        n += 1
        doc = json.load(open(os.path.join(root, f)))
        for e in v.iter_errors(doc):
            bad += 1
            print("FAIL %s: %s at %s" % (os.path.relpath(os.path.join(root, f), sys.argv[2]), e.message,
                                         "/".join(map(str, e.absolute_path))))
print("metrics.json files validated: %d, errors: %d" % (n, bad))
sys.exit(1 if bad or n < 8 else 0)
PY
