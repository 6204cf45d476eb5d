#!/usr/bin/python3
"""Train the bundled ride-duration model: the classic recipe on real NYC TLC green-taxi data.

Train on green 2021-01, validate on 2021-02; keep rides of 1..60 minutes; features PU_DO
("{PULocationID}_{DOLocationID}", categorical) and trip_distance; DictVectorizer + LinearRegression.
Expected validation RMSE: 7.7587 minutes.

Writes, into OUT_DIR:
  ride-duration.bin            the pickle, exactly as a user's training script would write it: (dv, lr)
  ride-duration.examples.jsonl golden inputs with scikit-learn's own predictions
  ride-duration.env            the library versions it was trained with, one NAME=VERSION per line
Run with Debian's /usr/bin/python3 (python3-sklearn, python3-pandas): see build-model.sh.
"""
import io, json, pickle, platform, subprocess, sys
from pathlib import Path

import numpy as np, pandas as pd, scipy, sklearn
from sklearn.feature_extraction import DictVectorizer
from sklearn.linear_model import LinearRegression
from sklearn.metrics import mean_squared_error

HERE = Path(__file__).resolve().parent


def read_month(path):
    cols = ["lpep_pickup_datetime", "lpep_dropoff_datetime", "PULocationID", "DOLocationID", "trip_distance"]
    csv = subprocess.run(["node", str(HERE / "parquet-to-csv.mjs"), str(path), *cols], check=True, capture_output=True).stdout
    df = pd.read_csv(io.BytesIO(csv), parse_dates=cols[:2], dtype={"PULocationID": str, "DOLocationID": str})
    df["duration"] = (df.lpep_dropoff_datetime - df.lpep_pickup_datetime).dt.total_seconds() / 60
    df = df[(df.duration >= 1) & (df.duration <= 60)].copy()
    df[["PULocationID", "DOLocationID"]] = df[["PULocationID", "DOLocationID"]].astype(str)
    df["PU_DO"] = df.PULocationID + "_" + df.DOLocationID
    return df


def main(data_dir, out_dir):
    data_dir, out_dir = Path(data_dir), Path(out_dir)
    train = read_month(data_dir / "green_tripdata_2021-01.parquet")
    val = read_month(data_dir / "green_tripdata_2021-02.parquet")
    features = ["PU_DO", "trip_distance"]
    dv = DictVectorizer()
    X_train = dv.fit_transform(train[features].to_dict(orient="records"))
    X_val = dv.transform(val[features].to_dict(orient="records"))
    lr = LinearRegression().fit(X_train, train.duration.values)
    pred = lr.predict(X_val)
    rmse = mean_squared_error(val.duration.values, pred, squared=False)
    print(f"train rows {len(train)}, validation rows {len(val)}, features {len(dv.feature_names_)}, validation RMSE {rmse:.4f}", file=sys.stderr)
    assert abs(rmse - 7.7587) < 5e-5, f"RMSE {rmse} differs from the recipe's 7.7587"

    with open(out_dir / "ride-duration.bin", "wb") as f:
        pickle.dump((dv, lr), f)

    # Golden examples: real validation rides (the ids as the course's service receives them, integers)
    # plus rides the model never saw, so a runtime that mishandles unseen categories fails verify.
    sample = val.sample(n=40, random_state=1)
    rides = [{"PULocationID": int(r.PULocationID), "DOLocationID": int(r.DOLocationID), "trip_distance": float(r.trip_distance)}
             for r in sample.itertuples()]
    rides += [
        {"PULocationID": 10, "DOLocationID": 50, "trip_distance": 40.0},   # the course's test ride
        {"PULocationID": "130", "DOLocationID": "205", "trip_distance": 3.66},
        {"PULocationID": 999, "DOLocationID": 998, "trip_distance": 5.0},  # unseen pair: only trip_distance counts
        {"PULocationID": 74, "DOLocationID": 75, "trip_distance": 0.0},
    ]
    X = dv.transform([{"PU_DO": f"{r['PULocationID']}_{r['DOLocationID']}", "trip_distance": r["trip_distance"]} for r in rides])
    outputs = lr.predict(X)
    with open(out_dir / "ride-duration.examples.jsonl", "w") as f:
        for ride, y in zip(rides, outputs):
            f.write(json.dumps({"input": ride, "output": float(y)}) + "\n")

    with open(out_dir / "ride-duration.env", "w") as f:
        for k, v in [("python", platform.python_version()), ("scikit-learn", sklearn.__version__), ("numpy", np.__version__),
                     ("scipy", scipy.__version__), ("pandas", pd.__version__)]:
            f.write(f"{k}={v}\n")
    with open(out_dir / "ride-duration.metrics.json", "w") as f:
        json.dump({"validation_rmse": rmse, "train_rows": len(train), "validation_rows": len(val),
                   "features": len(dv.feature_names_)}, f, indent=1)


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else HERE / "../../../shared/data", sys.argv[2] if len(sys.argv) > 2 else HERE / "../../models")
