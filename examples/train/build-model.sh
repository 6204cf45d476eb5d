#!/usr/bin/env bash
# Rebuild the bundled model from scratch: train with Debian's scikit-learn on the real TLC data in
# ../shared/data, then import the pickle with ridepred, recording the golden examples and versions.
#   apt-get install -y python3-sklearn python3-pandas && npm install && bash examples/train/build-model.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
DATA=${1:-../shared/data}
/usr/bin/python3 examples/train/train.py "$DATA" models
node bin/ridepred import models/ride-duration.bin -o models/ride-duration.json \
  --name ride-duration --model-version 2021-01.1 \
  --description "NYC green taxi ride duration: DictVectorizer(PU_DO, trip_distance) + LinearRegression, trained on green 2021-01, validation RMSE 7.7587 on 2021-02" \
  --examples models/ride-duration.examples.jsonl \
  --examples-source "scikit-learn LinearRegression.predict at training time (examples/train/train.py)" \
  --env-file models/ride-duration.env
