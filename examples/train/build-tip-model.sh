#!/usr/bin/env bash
# Rebuild the bundled tip model (models/tip.json): train with Debian's scikit-learn on the real TLC data in
# ../shared/data, then import the pickle with ridepred, recording the golden examples and versions.
#   apt-get install -y python3-sklearn python3-pandas && npm install && bash examples/train/build-tip-model.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
DATA=${1:-../shared/data}
/usr/bin/python3 examples/train/train_tip.py "$DATA" models
node bin/ridepred import models/tip.bin -o models/tip.json \
  --name tip --model-version 2021-01.1 --target tipped \
  --description "NYC green taxi: will a card-paid ride tip? DictVectorizer(PU_DO, trip_distance) + LogisticRegression, trained on green 2021-01 card-paid rides; validation metrics in models/tip.metrics.json" \
  --examples models/tip.examples.jsonl \
  --examples-source "scikit-learn LogisticRegression.predict / predict_proba at training time (examples/train/train_tip.py)" \
  --env-file models/tip.env
