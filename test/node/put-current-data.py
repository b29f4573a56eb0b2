"""Writes one day of "production" data for the drift CronJob into an S3-compatible store.

The node tier's end-to-end test runs this in the cluster's node namespace (as it runs the
training script): it reads the reference data logged with a registered model version (the
artifact `reference/reference.csv` of the version's run, as the drift checker reads it), takes
a sample of its rows, optionally shifts four of the six features far away from the training
distribution, and uploads the rows as Parquet with a SigV4-signed PUT (no boto3 in the image's
virtualenv; the signature is the one the AWS docs define for S3, with a signed payload hash).

Prints one JSON line: the key written, the rows and the bytes.
"""
import argparse
import datetime
import hashlib
import hmac
import io
import json
import os
import sys
import time
import urllib.error
import urllib.parse
import urllib.request

import pandas as pd

# The reference artifact the training script logs (examples/training/train_fraud_model.py).
REFERENCE_ARTIFACT = "reference/reference.csv"


def reference_rows(reference: str) -> pd.DataFrame:
    """models:/<name>@<alias> (through MLFLOW_TRACKING_URI) or a local CSV file."""
    if not reference.startswith("models:/"):
        return pd.read_csv(reference)
    import mlflow
    from mlflow import MlflowClient

    name, alias = reference[len("models:/"):].split("@", 1)
    version = MlflowClient().get_model_version_by_alias(name, alias)
    local = mlflow.artifacts.download_artifacts(run_id=version.run_id, artifact_path=REFERENCE_ARTIFACT)
    return pd.read_csv(local)


def drifted(rows: pd.DataFrame) -> pd.DataFrame:
    """Larger amounts, riskier and farther merchants, busier cards: 4 of the 6 features move."""
    return rows.assign(
        amount=(rows["amount"] * 8).round(2),
        merchant_risk=(rows["merchant_risk"] + 0.45).clip(upper=1.0).round(4),
        distance_km=(rows["distance_km"] * 6 + 40).round(2),
        transactions_24h=rows["transactions_24h"] + 8,
    )


def signed_request(method: str, endpoint: str, path: str, body: bytes) -> urllib.request.Request:
    """A SigV4-signed request (service s3) with the AWS_* credentials of the environment."""
    access_key = os.environ["AWS_ACCESS_KEY_ID"]
    secret_key = os.environ["AWS_SECRET_ACCESS_KEY"]
    region = os.environ.get("AWS_REGION", "us-east-1")
    host = urllib.parse.urlsplit(endpoint).netloc
    stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    payload_hash = hashlib.sha256(body).hexdigest()
    headers = {"host": host, "x-amz-content-sha256": payload_hash, "x-amz-date": stamp}
    names = sorted(headers)
    canonical = "\n".join([method, path, "", "".join(f"{n}:{headers[n]}\n" for n in names), ";".join(names), payload_hash])
    scope = f"{stamp[:8]}/{region}/s3/aws4_request"
    to_sign = "\n".join(["AWS4-HMAC-SHA256", stamp, scope, hashlib.sha256(canonical.encode()).hexdigest()])
    key = f"AWS4{secret_key}".encode()
    for part in (stamp[:8], region, "s3", "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    signature = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
    headers["authorization"] = f"AWS4-HMAC-SHA256 Credential={access_key}/{scope}, SignedHeaders={';'.join(names)}, Signature={signature}"
    return urllib.request.Request(endpoint + path, data=body if body else None, method=method, headers=headers)


def send(method: str, endpoint: str, path: str, body: bytes = b"", ok=(200,), deadline: float = 0.0) -> int:
    """Sends until an answer in `ok`; retries 5xx and refused connections until `deadline` (a store still starting)."""
    while True:
        try:
            with urllib.request.urlopen(signed_request(method, endpoint, path, body), timeout=30) as res:
                return res.status
        except urllib.error.HTTPError as e:
            text = e.read().decode("utf-8", "replace")[:500]
            if e.code in ok:
                return e.code
            if e.code < 500 or time.time() > deadline:
                raise RuntimeError(f"{method} {endpoint}{path}: {e.code} {text}") from None
        except (urllib.error.URLError, ConnectionError) as e:
            if time.time() > deadline:
                raise RuntimeError(f"{method} {endpoint}{path}: {e}") from None
        time.sleep(0.5)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reference", required=True, help="models:/<name>@<alias> or a CSV file")
    parser.add_argument("--endpoint", required=True, help="the S3 endpoint, path-style (http://seaweedfs:8333)")
    parser.add_argument("--bucket", required=True)
    parser.add_argument("--key", required=True, help="e.g. fraud-detector/dt=2026-12-01/part-0.parquet")
    parser.add_argument("--rows", type=int, default=1000)
    parser.add_argument("--drifted", action="store_true", help="shift four features")
    parser.add_argument("--wait-seconds", type=float, default=90.0, help="how long a starting store may answer 5xx")
    args = parser.parse_args()

    rows = reference_rows(args.reference).sample(n=args.rows, random_state=7).reset_index(drop=True)
    if args.drifted:
        rows = drifted(rows)
    buffer = io.BytesIO()
    rows.to_parquet(buffer, index=False)
    body = buffer.getvalue()

    deadline = time.time() + args.wait_seconds
    bucket_path = "/" + urllib.parse.quote(args.bucket, safe="")
    # 409 BucketAlreadyOwnedByYou: a second upload into the same bucket.
    send("PUT", args.endpoint, bucket_path, ok=(200, 409), deadline=deadline)
    key_path = bucket_path + "/" + urllib.parse.quote(args.key, safe="/-_.~")
    send("PUT", args.endpoint, key_path, body, deadline=deadline)
    print(json.dumps({"key": args.key, "rows": len(rows), "bytes": len(body), "columns": list(rows.columns)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
