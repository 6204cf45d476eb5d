#!/usr/bin/python3
"""Train the tree models bench/trees.mjs scores, with the course's recipes, on real green 2021-01 rides.

  forest.bin    the web-service-mlflow recipe: make_pipeline(DictVectorizer(), RandomForestRegressor(
                max_depth=20, n_estimators=100, min_samples_leaf=10, random_state=0))
  boosting.bin  a GradientBoostingRegressor pipeline (n_estimators=200, max_depth=6) on the same features
Features as in the course: PU_DO ("{PULocationID}_{DOLocationID}") and trip_distance; rides of 1..60 min.
usage: /usr/bin/python3 bench/trees/train.py DATA_DIR OUT_DIR
"""
import pickle, sys, time
from pathlib import Path

from sklearn.ensemble import GradientBoostingRegressor, RandomForestRegressor
from sklearn.feature_extraction import DictVectorizer
from sklearn.pipeline import make_pipeline

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from course_rides import dictionaries, read_month  # noqa: E402


def main(data_dir, out_dir):
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    train = read_month(Path(data_dir) / "green_tripdata_2021-01.parquet")
    dicts = dictionaries(train)
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
