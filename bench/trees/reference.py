#!/usr/bin/python3
"""Reference for bench/trees: scikit-learn's whole scoring job for a pickled tree pipeline (pandas reads
the CSV, DictVectorizer, predict with n_jobs threads), CSV out. usage: reference.py MODEL.bin INPUT.csv OUTPUT.csv N_JOBS"""
import pickle, sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from course_rides import prepare_dictionaries, read_dataframe, save_results  # noqa: E402


def main(model_file, input_file, output_file, n_jobs):
    with open(model_file, "rb") as f:
        pipe = pickle.load(f)
    est = pipe.steps[-1][1]
    if hasattr(est, "n_jobs"):
        est.n_jobs = int(n_jobs)
    df = read_dataframe(input_file)
    y_pred = pipe.predict(prepare_dictionaries(df))
    save_results(df, y_pred, output_file, "bench")


if __name__ == "__main__":
    main(*sys.argv[1:5])
