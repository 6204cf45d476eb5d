#!/usr/bin/python3
"""Reference for bench/xgboost.mjs: XGBoost's whole scoring job as the course runs its booster (pandas reads
the CSV, the DictVectorizer's sparse matrix, xgb.DMatrix, booster.predict on NTHREAD threads), CSV out.
usage: reference_xgb.py BOOSTER.xgb DV.b INPUT.csv OUTPUT.csv NTHREAD"""
import pickle, sys
from pathlib import Path

import xgboost as xgb

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from course_rides import prepare_dictionaries, read_dataframe, save_results  # noqa: E402


def main(booster_file, dv_file, input_file, output_file, nthread):
    nthread = int(nthread)
    booster = xgb.Booster(params={"nthread": nthread}, model_file=booster_file)
    with open(dv_file, "rb") as f:
        dv = pickle.load(f)
    df = read_dataframe(input_file)
    X = dv.transform(prepare_dictionaries(df))
    y_pred = booster.predict(xgb.DMatrix(X, nthread=nthread))
    save_results(df, y_pred, output_file, "bench")


if __name__ == "__main__":
    main(*sys.argv[1:6])
