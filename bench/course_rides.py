"""The course's ride-duration data steps, shared by the Python bench scripts (run with /usr/bin/python3):
rides of 1..60 minutes, the PU_DO ("{PULocationID}_{DOLocationID}") + trip_distance dictionaries, and the
scoring job's result file (04-deployment/batch/score.py)."""
import io, subprocess
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
DATES = ["lpep_pickup_datetime", "lpep_dropoff_datetime"]


def with_duration(df):
    """The rides of 1 to 60 minutes, with their duration in minutes."""
    df["duration"] = (df.lpep_dropoff_datetime - df.lpep_pickup_datetime).dt.total_seconds() / 60
    return df[(df.duration >= 1) & (df.duration <= 60)].copy()


def dictionaries(df):
    """The model's input: one {"PU_DO", "trip_distance"} dict a ride (df has PU_DO)."""
    return df[["PU_DO", "trip_distance"]].to_dict(orient="records")


def read_dataframe(filename):
    """A month of rides from CSV, as the scoring job reads it, with a ride id."""
    df = with_duration(pd.read_csv(filename, parse_dates=DATES))
    # the course uses uuid4; a row-number id is cheaper and stable, which only helps the reference
    df["ride_id"] = "bench_" + df.index.astype("str")
    return df


def prepare_dictionaries(df):
    """The location ids as strings, PU_DO, and the dictionaries (the scoring job's step)."""
    categorical = ["PULocationID", "DOLocationID"]
    df[categorical] = df[categorical].astype(str)
    df["PU_DO"] = df["PULocationID"] + "_" + df["DOLocationID"]
    return dictionaries(df)


def save_results(df, y_pred, output_file, model_version):
    """The scoring job's result file: ride, actual and predicted duration, their difference, the model version."""
    out = pd.DataFrame()
    out["ride_id"] = df["ride_id"]
    out["lpep_pickup_datetime"] = df["lpep_pickup_datetime"]
    out["PULocationID"] = df["PULocationID"]
    out["DOLocationID"] = df["DOLocationID"]
    out["actual_duration"] = df["duration"]
    out["predicted_duration"] = y_pred
    out["diff"] = out["actual_duration"] - out["predicted_duration"]
    out["model_version"] = model_version
    out.to_csv(output_file, index=False)


def read_month(path):
    """A month of rides from Parquet for training (Debian has no pyarrow: examples/train/parquet-to-csv.mjs reads it), with PU_DO."""
    cols = [*DATES, "PULocationID", "DOLocationID", "trip_distance"]
    to_csv = ROOT / "examples" / "train" / "parquet-to-csv.mjs"
    csv = subprocess.run(["node", str(to_csv), str(path), *cols], check=True, capture_output=True).stdout
    df = with_duration(pd.read_csv(io.BytesIO(csv), parse_dates=DATES, dtype={"PULocationID": str, "DOLocationID": str}))
    df["PU_DO"] = df.PULocationID + "_" + df.DOLocationID
    return df
