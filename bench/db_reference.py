#!/usr/bin/python3
"""Reference for bench/db: the practitioners' table-to-table job. pandas read_sql (SQLAlchemy +
psycopg2) of the rides, the course's DictVectorizer + LinearRegression pickle, to_sql with the COPY
insert method from the pandas documentation. usage: db_reference.py MODEL.bin URL SOURCE TARGET
(the password, if any, from PGPASSWORD)."""
import csv, io, pickle, sys

import pandas as pd
from sqlalchemy import create_engine


def psql_insert_copy(table, conn, keys, data_iter):
    # pandas docs, "Insertion method": COPY FROM STDIN instead of INSERT statements
    dbapi_conn = conn.connection
    with dbapi_conn.cursor() as cur:
        buf = io.StringIO()
        csv.writer(buf).writerows(data_iter)
        buf.seek(0)
        columns = ", ".join(f'"{k}"' for k in keys)
        name = f'"{table.schema}"."{table.name}"' if table.schema else f'"{table.name}"'
        cur.copy_expert(f"COPY {name} ({columns}) FROM STDIN WITH CSV", buf)


def main(model_file, url, source, target):
    with open(model_file, "rb") as f:
        dv, model = pickle.load(f)
    engine = create_engine(url.replace("postgresql://", "postgresql+psycopg2://", 1))
    df = pd.read_sql(f'SELECT ride_id, lpep_pickup_datetime, lpep_dropoff_datetime, "PULocationID", "DOLocationID", trip_distance FROM {source}', engine)
    duration = (df.lpep_dropoff_datetime - df.lpep_pickup_datetime).dt.total_seconds() / 60
    dicts = pd.DataFrame({"PU_DO": df["PULocationID"].astype(str) + "_" + df["DOLocationID"].astype(str), "trip_distance": df["trip_distance"]}).to_dict(orient="records")
    y_pred = model.predict(dv.transform(dicts))
    out = pd.DataFrame(
        {
            "ride_id": df["ride_id"],
            "pickup_datetime": df["lpep_pickup_datetime"],
            "PULocationID": df["PULocationID"],
            "DOLocationID": df["DOLocationID"],
            "actual_duration": duration,
            "predicted_duration": y_pred,
            "diff": duration - y_pred,
            "model_version": "2021-01.1",
        }
    )
    out.to_sql(target, engine, index=False, if_exists="replace", method=psql_insert_copy, chunksize=100_000)


if __name__ == "__main__":
    main(*sys.argv[1:5])
