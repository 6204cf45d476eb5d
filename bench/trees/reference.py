#!/usr/bin/python3
"""Reference for bench/trees: scikit-learn's whole scoring job for a pickled tree pipeline (pandas reads
the CSV, DictVectorizer, predict with n_jobs threads), CSV out. usage: reference.py MODEL.bin INPUT.csv OUTPUT.csv N_JOBS"""
import pickle, sys

import pandas as pd


def main(model_file, input_file, output_file, n_jobs):
    with open(model_file, "rb") as f:
        pipe = pickle.load(f)
    est = pipe.steps[-1][1]
    if hasattr(est, "n_jobs"):
        est.n_jobs = int(n_jobs)
    df = pd.read_csv(input_file, parse_dates=["lpep_pickup_datetime", "lpep_dropoff_datetime"])
    df["duration"] = (df.lpep_dropoff_datetime - df.lpep_pickup_datetime).dt.total_seconds() / 60
    df = df[(df.duration >= 1) & (df.duration <= 60)].copy()
    df["ride_id"] = "bench_" + df.index.astype("str")
    df[["PULocationID", "DOLocationID"]] = df[["PULocationID", "DOLocationID"]].astype(str)
    df["PU_DO"] = df["PULocationID"] + "_" + df["DOLocationID"]
    y_pred = pipe.predict(df[["PU_DO", "trip_distance"]].to_dict(orient="records"))
    out = pd.DataFrame()
    out["ride_id"] = df["ride_id"]
    out["lpep_pickup_datetime"] = df["lpep_pickup_datetime"]
    out["PULocationID"] = df["PULocationID"]
    out["DOLocationID"] = df["DOLocationID"]
    out["actual_duration"] = df["duration"]
    out["predicted_duration"] = y_pred
    out["diff"] = out["actual_duration"] - out["predicted_duration"]
    out["model_version"] = "bench"
    out.to_csv(output_file, index=False)


if __name__ == "__main__":
    main(*sys.argv[1:5])
