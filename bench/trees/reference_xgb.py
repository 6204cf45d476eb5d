#!/usr/bin/python3
"""Reference for bench/xgboost.mjs: XGBoost's whole scoring job as the course runs its booster (pandas reads
the CSV, the DictVectorizer's sparse matrix, xgb.DMatrix, booster.predict on NTHREAD threads), CSV out.
usage: reference_xgb.py BOOSTER.xgb DV.b INPUT.csv OUTPUT.csv NTHREAD"""
import pickle, sys

import pandas as pd
import xgboost as xgb


def main(booster_file, dv_file, input_file, output_file, nthread):
    nthread = int(nthread)
    booster = xgb.Booster(params={"nthread": nthread}, model_file=booster_file)
    with open(dv_file, "rb") as f:
        dv = pickle.load(f)
    df = pd.read_csv(input_file, parse_dates=["lpep_pickup_datetime", "lpep_dropoff_datetime"])
    df["duration"] = (df.lpep_dropoff_datetime - df.lpep_pickup_datetime).dt.total_seconds() / 60
    df = df[(df.duration >= 1) & (df.duration <= 60)].copy()
    df["ride_id"] = "bench_" + df.index.astype("str")
    df[["PULocationID", "DOLocationID"]] = df[["PULocationID", "DOLocationID"]].astype(str)
    df["PU_DO"] = df["PULocationID"] + "_" + df["DOLocationID"]
    X = dv.transform(df[["PU_DO", "trip_distance"]].to_dict(orient="records"))
    y_pred = booster.predict(xgb.DMatrix(X, nthread=nthread))
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
    main(*sys.argv[1:6])
