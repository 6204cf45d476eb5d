"""The course's web service, as the reference for bench/serve.mjs: Flask + pickle, one ride per request.

Run: MODEL=models/ride-duration.bin /usr/bin/gunicorn --workers 1 --bind 127.0.0.1:9697 --chdir bench/reference flask_app:app
"""
import os
import pickle

from flask import Flask, jsonify, request

with open(os.environ.get("MODEL", "models/ride-duration.bin"), "rb") as f_in:
    dv, model = pickle.load(f_in)

MODEL_VERSION = os.environ.get("MODEL_VERSION", "reference")


def prepare_features(ride):
    features = {}
    features["PU_DO"] = "%s_%s" % (ride["PULocationID"], ride["DOLocationID"])
    features["trip_distance"] = ride["trip_distance"]
    return features


def predict(features):
    X = dv.transform(features)
    preds = model.predict(X)
    return float(preds[0])


app = Flask("duration-prediction")


@app.route("/predict", methods=["POST"])
def predict_endpoint():
    ride = request.get_json()
    features = prepare_features(ride)
    pred = predict(features)
    return jsonify({"duration": pred, "model_version": MODEL_VERSION})
