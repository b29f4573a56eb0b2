"""Oracle fixtures for the checker's inferred column types (issue 12).

What pandas makes of a column (a number dtype, or not), which the checker's `auto` columns
must agree with: Evidently types a column from the pandas dtype, so a column pandas reads as
object/str/bool is categorical and one it reads as int64/float64 is numeric. Also a Parquet and
a JSON Lines pair whose column types come from the file (a string column of digits stays
categorical). Runs with the repository's .venv (pandas, pyarrow; no Evidently needed):

    .venv/bin/python python/oracle/make_inference_fixtures.py

Writes test/fixtures/drift/inference.json and test/fixtures/drift/inference/*.
"""

import io
import json
import os

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

OUT = os.path.join(os.path.dirname(__file__), "..", "..", "test", "fixtures", "drift")

# Each case: the raw CSV fields of one column, after a header "v".
CASES = [
    ["1", "2", "3"], ["1", "NA", "3"], ["1.5", "x", "2"], ["team", "1", "2"], ["1", "2", "team"],
    ["", "", "a"], ["inf", "1", "2"], ["1e5", "b"], ["007", "8", "x"], ["True", "False", "True"],
    ["-", "1", "2"], [" 1", "2 ", "3"], ["0x10", "1"], ["1_000", "2"], ["nan", "1"], ["NaN", "None", "1"],
    [".5", "5.", "1"], ["+1", "-2"], ["1d5", "2"], ["Infinity", "-inf", "1"], ["null", "n/a", "#N/A"],
    ["1", "2", "3", "4", "5", "6", "7", "8", "9", "10", "x"], ["1.0", "2.50", "x"], ["x y", "1"],
]


def csv_cases():
    out = []
    for tokens in CASES:
        frame = pd.read_csv(io.StringIO("id,v\n" + "\n".join(f"{i},{t}" for i, t in enumerate(tokens)) + "\n"))
        column = frame["v"]
        numeric = pd.api.types.is_numeric_dtype(column) and not pd.api.types.is_bool_dtype(column)
        values = None if numeric else [None if pd.isna(v) else str(v) for v in column]
        out.append({"tokens": tokens, "dtype": str(column.dtype), "numeric": bool(numeric), "values": values})
    return out


def typed_files():
    """A reference/current pair where the file's own types decide: `code` holds digits as strings."""
    def table(n, shift):
        return pa.table({
            "code": pa.array([str((i + shift) % 3 + 1) for i in range(n)], pa.string()),
            "flag": pa.array([(i + shift) % 4 == 0 for i in range(n)], pa.bool_()),
            "level": pa.array([(i * 7 + shift) % 5 for i in range(n)], pa.int64()),
            "amount": pa.array([((i * 37 + shift * 11) % 1000) / 10.0 for i in range(n)], pa.float64()),
            "plan": pa.array([["free", "team", "pro"][(i + shift) % 3] for i in range(n)], pa.string()),
        })
    folder = os.path.join(OUT, "inference")
    os.makedirs(folder, exist_ok=True)
    for name, t in (("reference", table(300, 0)), ("current", table(200, 1))):
        pq.write_table(t, os.path.join(folder, f"{name}.parquet"), compression="snappy")
        t.to_pandas().to_json(os.path.join(folder, f"{name}.jsonl"), orient="records", lines=True)
    frame = pq.read_table(os.path.join(folder, "reference.parquet")).to_pandas()
    return {c: str(frame[c].dtype) for c in frame.columns}


if __name__ == "__main__":
    fixture = {
        "generatedBy": "python/oracle/make_inference_fixtures.py",
        "versions": {"pandas": pd.__version__, "pyarrow": pa.__version__},
        "csv": csv_cases(),
        "parquetDtypes": typed_files(),
    }
    with open(os.path.join(OUT, "inference.json"), "w") as f:
        json.dump(fixture, f, indent=1)
        f.write("\n")
