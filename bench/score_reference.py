#!/usr/bin/python3
"""Reference for bench/score: the course's batch scoring job (pandas + scikit-learn, pickle), CSV in
and out because Debian has no pyarrow. usage: score_reference.py MODEL.bin INPUT.csv OUTPUT.csv"""
import pickle, sys

from course_rides import prepare_dictionaries, read_dataframe, save_results


def main(model_file, input_file, output_file):
    with open(model_file, "rb") as f:
        dv, model = pickle.load(f)
    df = read_dataframe(input_file)
    y_pred = model.predict(dv.transform(prepare_dictionaries(df)))
    save_results(df, y_pred, output_file, "2021-01.1")


if __name__ == "__main__":
    main(*sys.argv[1:4])
