#!/usr/bin/python3
"""Train the bundled tip model: will a card-paid ride tip? Real NYC TLC green-taxi data.

The streaming design's second consumer: the same ride events as the duration model (PULocationID,
DOLocationID, trip_distance), a second prediction. Train on green 2021-01, validate on 2021-02; rides of
1..60 minutes paid by card (payment_type 1: cash tips are not recorded); target `tipped` = tip_amount > 0
(a bool, so classes_ are [False, True]); features PU_DO and trip_distance; DictVectorizer +
LogisticRegression.

Writes, into OUT_DIR:
  tip.bin             the pickle: (dv, lr), as the course's training scripts write theirs
  tip.examples.jsonl  golden inputs with scikit-learn's predict and predict_proba
  tip.env             the library versions it was trained with
  tip.metrics.json    validation accuracy, log loss, ROC AUC, and the base rate to compare with
Run with Debian's /usr/bin/python3: see build-tip-model.sh.
"""
import io, json, pickle, platform, subprocess, sys
from pathlib import Path

import numpy as np, pandas as pd, scipy, sklearn
from sklearn.feature_extraction import DictVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, log_loss, roc_auc_score

HERE = Path(__file__).resolve().parent
COLS = ["lpep_pickup_datetime", "lpep_dropoff_datetime", "PULocationID", "DOLocationID", "trip_distance", "payment_type", "tip_amount"]


def read_month(path):
    # Debian's Python has no Parquet reader: hyparquet (node) turns the columns into CSV.
    csv = subprocess.run(["node", str(HERE / "parquet-to-csv.mjs"), str(path), *COLS], check=True, capture_output=True).stdout
    df = pd.read_csv(io.BytesIO(csv), parse_dates=COLS[:2], dtype={"PULocationID": str, "DOLocationID": str})
    df["duration"] = (df.lpep_dropoff_datetime - df.lpep_pickup_datetime).dt.total_seconds() / 60
    df = df[(df.duration >= 1) & (df.duration <= 60) & (df.payment_type == 1)].copy()
    df["PU_DO"] = df.PULocationID + "_" + df.DOLocationID
    df["tipped"] = df.tip_amount > 0
    return df


def main(data_dir, out_dir):
    data_dir, out_dir = Path(data_dir), Path(out_dir)
    train = read_month(data_dir / "green_tripdata_2021-01.parquet")
    val = read_month(data_dir / "green_tripdata_2021-02.parquet")
    features = ["PU_DO", "trip_distance"]
    dv = DictVectorizer()
    X_train = dv.fit_transform(train[features].to_dict(orient="records"))
    X_val = dv.transform(val[features].to_dict(orient="records"))
    lr = LogisticRegression(max_iter=2000).fit(X_train, train.tipped.values)
    proba = lr.predict_proba(X_val)[:, 1]
    metrics = {
        "validation_accuracy": accuracy_score(val.tipped.values, lr.predict(X_val)),
        "validation_log_loss": log_loss(val.tipped.values, proba),
        "validation_roc_auc": roc_auc_score(val.tipped.values, proba),
        "validation_base_rate": float(val.tipped.mean()),
        "train_rows": len(train), "validation_rows": len(val), "features": len(dv.feature_names_),
    }
    print(json.dumps(metrics), file=sys.stderr)

    with open(out_dir / "tip.bin", "wb") as f:
        pickle.dump((dv, lr), f)

    # Golden examples: real validation rides (ids as integers, as events carry them) and rides never seen.
    sample = val.sample(n=40, random_state=1)
    rides = [{"PULocationID": int(r.PULocationID), "DOLocationID": int(r.DOLocationID), "trip_distance": float(r.trip_distance)}
             for r in sample.itertuples()]
    rides += [
        {"PULocationID": 10, "DOLocationID": 50, "trip_distance": 40.0},
        {"PULocationID": "130", "DOLocationID": "205", "trip_distance": 3.66},
        {"PULocationID": 999, "DOLocationID": 998, "trip_distance": 5.0},
        {"PULocationID": 74, "DOLocationID": 75, "trip_distance": 0.0},
    ]
    X = dv.transform([{"PU_DO": f"{r['PULocationID']}_{r['DOLocationID']}", "trip_distance": r["trip_distance"]} for r in rides])
    names = [str(c) for c in lr.classes_]
    with open(out_dir / "tip.examples.jsonl", "w") as f:
        for ride, label, p in zip(rides, lr.predict(X), lr.predict_proba(X)):
            f.write(json.dumps({"input": ride, "output": label.item(), "probabilities": dict(zip(names, map(float, p)))}) + "\n")
    with open(out_dir / "tip.env", "w") as f:
        for k, v in [("python", platform.python_version()), ("scikit-learn", sklearn.__version__), ("numpy", np.__version__),
                     ("scipy", scipy.__version__), ("pandas", pd.__version__)]:
            f.write(f"{k}={v}\n")
    with open(out_dir / "tip.metrics.json", "w") as f:
        json.dump(metrics, f, indent=1)


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else HERE / "../../../shared/data", sys.argv[2] if len(sys.argv) > 2 else HERE / "../../models")
