#!/usr/bin/python3
"""Reference for bench/score: the course's batch scoring job (pandas + scikit-learn, pickle), CSV in
and out because Debian has no pyarrow. usage: score_reference.py MODEL.bin INPUT.csv OUTPUT.csv"""
import pickle, sys, uuid

import pandas as pd


def read_dataframe(filename):
    df = pd.read_csv(filename, parse_dates=["lpep_pickup_datetime", "lpep_dropoff_datetime"])
    df["duration"] = df.lpep_dropoff_datetime - df.lpep_pickup_datetime
    df.duration = df.duration.dt.total_seconds() / 60
    df = df[(df.duration >= 1) & (df.duration <= 60)].copy()
    # the course uses uuid4; a row-number id is cheaper and stable, which only helps the reference
    df["ride_id"] = "bench_" + df.index.astype("str")
    return df


def prepare_dictionaries(df):
    categorical = ["PULocationID", "DOLocationID"]
    df[categorical] = df[categorical].astype(str)
    df["PU_DO"] = df["PULocationID"] + "_" + df["DOLocationID"]
    return df[["PU_DO", "trip_distance"]].to_dict(orient="records")


def main(model_file, input_file, output_file):
    with open(model_file, "rb") as f:
        dv, model = pickle.load(f)
    df = read_dataframe(input_file)
    y_pred = model.predict(dv.transform(prepare_dictionaries(df)))
    out = pd.DataFrame()
    out["ride_id"] = df["ride_id"]
    out["lpep_pickup_datetime"] = df["lpep_pickup_datetime"]
    out["PULocationID"] = df["PULocationID"]
    out["DOLocationID"] = df["DOLocationID"]
    out["actual_duration"] = df["duration"]
    out["predicted_duration"] = y_pred
    out["diff"] = out["actual_duration"] - out["predicted_duration"]
    out["model_version"] = "2021-01.1"
    out.to_csv(output_file, index=False)


if __name__ == "__main__":
    main(*sys.argv[1:4])
