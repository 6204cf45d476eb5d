#!/usr/bin/python3
"""Train the tree models bench/trees.mjs scores, with the course's recipes, on real green 2021-01 rides.

  forest.bin    the web-service-mlflow recipe: make_pipeline(DictVectorizer(), RandomForestRegressor(
                max_depth=20, n_estimators=100, min_samples_leaf=10, random_state=0))
  boosting.bin  a GradientBoostingRegressor pipeline (n_estimators=200, max_depth=6) on the same features
Features as in the course: PU_DO ("{PULocationID}_{DOLocationID}") and trip_distance; rides of 1..60 min.
usage: /usr/bin/python3 bench/trees/train.py DATA_DIR OUT_DIR
"""
import io, pickle, subprocess, sys, time
from pathlib import Path

import pandas as pd
from sklearn.ensemble import GradientBoostingRegressor, RandomForestRegressor
from sklearn.feature_extraction import DictVectorizer
from sklearn.pipeline import make_pipeline

HERE = Path(__file__).resolve().parent


def read_month(path):
    cols = ["lpep_pickup_datetime", "lpep_dropoff_datetime", "PULocationID", "DOLocationID", "trip_distance"]
    to_csv = HERE.parent.parent / "examples" / "train" / "parquet-to-csv.mjs"
    csv = subprocess.run(["node", str(to_csv), str(path), *cols], check=True, capture_output=True).stdout
    df = pd.read_csv(io.BytesIO(csv), parse_dates=cols[:2], dtype={"PULocationID": str, "DOLocationID": str})
    df["duration"] = (df.lpep_dropoff_datetime - df.lpep_pickup_datetime).dt.total_seconds() / 60
    df = df[(df.duration >= 1) & (df.duration <= 60)].copy()
    df["PU_DO"] = df.PULocationID + "_" + df.DOLocationID
    return df


def main(data_dir, out_dir):
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    train = read_month(Path(data_dir) / "green_tripdata_2021-01.parquet")
    dicts = train[["PU_DO", "trip_distance"]].to_dict(orient="records")
    y = train.duration.values
    models = {
        "forest": make_pipeline(DictVectorizer(), RandomForestRegressor(max_depth=20, n_estimators=100, min_samples_leaf=10, random_state=0, n_jobs=-1)),
        "boosting": make_pipeline(DictVectorizer(), GradientBoostingRegressor(n_estimators=200, max_depth=6, random_state=0)),
    }
    for name, pipe in models.items():
        if (out / f"{name}.bin").exists():
            continue
        t = time.time()
        pipe.fit(dicts, y)
        if name == "forest":
            pipe.steps[-1][1].n_jobs = None  # the pickle as a user would load it: n_jobs set by the scorer
        with open(out / f"{name}.bin", "wb") as f:
            pickle.dump(pipe, f)
        print(f"{name}: trained in {time.time() - t:.0f} s", file=sys.stderr)


if __name__ == "__main__":
    main(*sys.argv[1:3])
