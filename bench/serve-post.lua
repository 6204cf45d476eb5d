-- wrk: POST one ride as JSON (the course's request)
wrk.method = "POST"
wrk.body = '{"PULocationID":10,"DOLocationID":50,"trip_distance":40}'
wrk.headers["Content-Type"] = "application/json"
