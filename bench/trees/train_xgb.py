#!/usr/bin/python3
"""Train the XGBoost booster bench/xgboost.mjs scores, as the course does (experiment-tracking module):
DictVectorizer over PU_DO ("{PULocationID}_{DOLocationID}") and trip_distance, xgb.DMatrix of its sparse
matrix, xgb.train with the best parameters of the course's hyperopt run, up to ROUNDS rounds (the course:
1000) with early stopping after 50 rounds without progress on the validation month. Train on green
2021-01, validate on 2021-02, rides of 1..60 minutes.

  booster.xgb   the booster as mlflow.xgboost.log_model writes it with XGBoost 1.7 (legacy binary format);
                every round trained is kept (early stopping only records best_iteration), as in the course
  booster.dv.b  the pickled DictVectorizer (the course's preprocessor.b)
usage: /usr/bin/python3 bench/trees/train_xgb.py DATA_DIR OUT_DIR [ROUNDS]
"""
import pickle, sys, time
from pathlib import Path

import xgboost as xgb
from sklearn.feature_extraction import DictVectorizer

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from course_rides import dictionaries, read_month  # noqa: E402

# The course's hyperopt result (02-experiment-tracking, duration-prediction.ipynb).
BEST_PARAMS = {
    "learning_rate": 0.09585355369315604,
    "max_depth": 30,
    "min_child_weight": 1.060597050922164,
    "objective": "reg:linear",
    "reg_alpha": 0.018060244040060163,
    "reg_lambda": 0.011658731377413597,
    "seed": 42,
}


def main(data_dir, out_dir, rounds="1000"):
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    if (out / "booster.xgb").exists() and (out / "booster.dv.b").exists():
        return
    data = Path(data_dir)
    train, valid = read_month(data / "green_tripdata_2021-01.parquet"), read_month(data / "green_tripdata_2021-02.parquet")
    dv = DictVectorizer()
    X_train, X_val = dv.fit_transform(dictionaries(train)), None
    X_val = dv.transform(dictionaries(valid))
    dtrain, dvalid = xgb.DMatrix(X_train, label=train.duration.values), xgb.DMatrix(X_val, label=valid.duration.values)
    t = time.time()
    booster = xgb.train(
        params=BEST_PARAMS,
        dtrain=dtrain,
        num_boost_round=int(rounds),
        evals=[(dvalid, "validation")],
        early_stopping_rounds=50,
        verbose_eval=50,
    )
    seconds = time.time() - t
    booster.save_model(str(out / "booster.xgb.tmp"))
    Path(out / "booster.xgb.tmp").rename(out / "booster.xgb")
    with open(out / "booster.dv.b.tmp", "wb") as f:
        pickle.dump(dv, f)
    Path(out / "booster.dv.b.tmp").rename(out / "booster.dv.b")
    print(
        f"booster: {booster.num_boosted_rounds()} rounds kept (best iteration {booster.best_iteration}, "
        f"validation rmse {booster.best_score:.4f}), trained in {seconds:.0f} s (xgboost {xgb.__version__})",
        file=sys.stderr,
    )


if __name__ == "__main__":
    main(*sys.argv[1:4])
