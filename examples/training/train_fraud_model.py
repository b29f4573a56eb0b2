"""Trains the reference stack's fraud detector and publishes it to the MLflow registry.

A RandomForestClassifier on a small synthetic card-transaction dataset (seeded, so every run
gives the same data and model). The run logs its parameters, hold-out metrics, the model
(`mlflow.sklearn.log_model`) and its training data, with the model's out-of-fold predictions
in a column `prediction`, as the reference dataset artifact `reference/reference.csv`, the
path the drift checker reads. The model is registered as
`fraud-detector` and the new version gets the alias `champion`, which the model server serves
(`models:/fraud-detector@champion`).

    MLFLOW_TRACKING_URI=http://mlflow.mlops.svc.cluster.local:5000 \\
        python examples/training/train_fraud_model.py

Prints one JSON line with the run id, model version and metrics on success.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile

import numpy as np
import pandas as pd
import sklearn
from sklearn.ensemble import RandomForestClassifier
from sklearn.metrics import accuracy_score, f1_score, precision_score, recall_score, roc_auc_score
from sklearn.model_selection import cross_val_predict, train_test_split

import mlflow
import mlflow.sklearn
from mlflow import MlflowClient
from mlflow.models import infer_signature

FEATURES = ["amount", "hour", "merchant_risk", "distance_km", "transactions_24h", "foreign"]
LABEL = "is_fraud"
# The column of the model's output in the reference data: the inference log's name for it.
PREDICTION = "prediction"
REFERENCE_ARTIFACT_DIR = "reference"
REFERENCE_FILE = "reference.csv"


def synthetic_transactions(rows: int, seed: int) -> pd.DataFrame:
    """Card transactions with a fraud label that depends on the features plus noise."""
    rng = np.random.default_rng(seed)
    amount = np.round(rng.lognormal(mean=3.5, sigma=1.0, size=rows), 2)
    hour = rng.integers(0, 24, size=rows)
    merchant_risk = np.round(rng.beta(2, 5, size=rows), 4)
    distance_km = np.round(rng.exponential(scale=15.0, size=rows), 2)
    transactions_24h = rng.poisson(lam=3, size=rows)
    foreign = rng.binomial(1, 0.1, size=rows)
    night = ((hour < 6) | (hour >= 23)).astype(float)
    score = (
        -8.0
        + 1.2 * np.log1p(amount) / np.log1p(200.0)
        + 6.0 * merchant_risk
        + 0.05 * distance_km
        + 0.4 * transactions_24h
        + 2.5 * foreign
        + 2.0 * night
        + rng.normal(0.0, 0.3, size=rows)
    )
    is_fraud = (rng.random(rows) < 1.0 / (1.0 + np.exp(-3.0 * score))).astype(int)
    return pd.DataFrame({
        "amount": amount,
        "hour": hour.astype("int64"),
        "merchant_risk": merchant_risk,
        "distance_km": distance_km,
        "transactions_24h": transactions_24h.astype("int64"),
        "foreign": foreign.astype("int64"),
        LABEL: is_fraud,
    })


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tracking-uri", default=os.environ.get("MLFLOW_TRACKING_URI"),
                        help="MLflow tracking server (default: $MLFLOW_TRACKING_URI)")
    parser.add_argument("--experiment", default="fraud-detection")
    parser.add_argument("--model-name", default="fraud-detector")
    parser.add_argument("--alias", default="champion")
    parser.add_argument("--rows", type=int, default=4000)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--n-estimators", type=int, default=100)
    parser.add_argument("--max-depth", type=int, default=8)
    args = parser.parse_args(argv)
    if not args.tracking_uri:
        parser.error("no tracking server: pass --tracking-uri or set MLFLOW_TRACKING_URI")
    if args.rows < 100:
        parser.error(f"--rows ({args.rows}) is too small for a train/test split; use at least 100")

    mlflow.set_tracking_uri(args.tracking_uri)
    mlflow.set_experiment(args.experiment)

    data = synthetic_transactions(args.rows, args.seed)
    train, test = train_test_split(data, test_size=0.25, random_state=args.seed, stratify=data[LABEL])
    x_train, y_train = train[FEATURES], train[LABEL]
    x_test, y_test = test[FEATURES], test[LABEL]

    params = {
        "n_estimators": args.n_estimators,
        "max_depth": args.max_depth,
        "min_samples_leaf": 2,
        "class_weight": "balanced_subsample",
        "random_state": args.seed,
    }
    model = RandomForestClassifier(n_jobs=1, **params)
    model.fit(x_train, y_train)
    predicted = model.predict(x_test)
    metrics = {
        "accuracy": accuracy_score(y_test, predicted),
        "f1": f1_score(y_test, predicted, zero_division=0),
        "precision": precision_score(y_test, predicted, zero_division=0),
        "recall": recall_score(y_test, predicted, zero_division=0),
        "roc_auc": roc_auc_score(y_test, model.predict_proba(x_test)[:, 1]),
        "fraud_rate_train": float(y_train.mean()),
    }

    with mlflow.start_run(run_name=f"rf-seed{args.seed}") as run:
        mlflow.log_params({**params, "rows": args.rows, "seed": args.seed, "features": ",".join(FEATURES)})
        mlflow.log_metrics(metrics)
        mlflow.log_input(mlflow.data.from_pandas(train, name="fraud-train", targets=LABEL), context="training")
        with tempfile.TemporaryDirectory() as tmp:
            # The training rows with their labels and the model's predictions on them: the drift
            # checker's reference distribution of the inputs and of the output (prediction drift).
            # Out-of-fold predictions, because a forest predicts its own training rows almost
            # perfectly, which would make every production output distribution look drifted.
            reference = os.path.join(tmp, REFERENCE_FILE)
            out_of_fold = cross_val_predict(RandomForestClassifier(n_jobs=1, **params), x_train, y_train, cv=3)
            train.assign(**{PREDICTION: out_of_fold}).to_csv(reference, index=False)
            mlflow.log_artifact(reference, artifact_path=REFERENCE_ARTIFACT_DIR)
        info = mlflow.sklearn.log_model(
            model,
            name="model",
            signature=infer_signature(x_train, model.predict(x_train)),
            input_example=x_train.head(3),
            registered_model_name=args.model_name,
            # skops (MLflow's safe default format) loads only types declared trusted; a forest's
            # node arrays are, since this script wrote them. Stored in MLmodel for the server.
            skops_trusted_types=["sklearn.tree._tree.Tree"],
            # Declared rather than inferred: inference loads the model in a subprocess, and the
            # serving image already pins these.
            pip_requirements=[
                f"mlflow=={mlflow.__version__}",
                f"scikit-learn=={sklearn.__version__}",
                f"numpy=={np.__version__}",
                f"pandas=={pd.__version__}",
            ],
        )
        version = info.registered_model_version
        MlflowClient().set_registered_model_alias(args.model_name, args.alias, version)

    print(json.dumps({
        "run_id": run.info.run_id,
        "experiment_id": run.info.experiment_id,
        "model_uri": f"models:/{args.model_name}@{args.alias}",
        "model_version": str(version),
        "reference_artifact": f"{REFERENCE_ARTIFACT_DIR}/{REFERENCE_FILE}",
        "metrics": metrics,
    }, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
