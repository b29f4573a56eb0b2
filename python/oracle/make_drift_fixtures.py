"""Oracle fixtures for the mlops-drift checker (src/runtime/drift).

Computes, with the real libraries, what the TypeScript checker must reproduce, and writes it
as committed data to test/fixtures/drift/*.json. CI never runs this script: the fixtures are
data, and the jest tests compare against them.

Environment (a second virtualenv, apart from the repository's .venv, because Evidently
0.7.23 does not import under the pandas 3 that .venv pins):

    python3 -m venv .venv-oracle
    .venv-oracle/bin/pip install -r python/oracle/requirements.txt
    .venv-oracle/bin/python python/oracle/make_drift_fixtures.py

The script refuses to run with other versions of scipy, numpy, Evidently or scikit-learn.

Datasets are not stored but described: each sample is a small spec (seed, size, shape) for
a counter-based generator (mulberry32's output function applied to seed + i * 0x6D2B79F5)
that test/runtime/drift-support.ts reimplements bit for bit. Only +, *, / and floor are
used on the generated uniforms, so both languages produce identical doubles; each spec
carries a checksum (sum of the first 16 values, exact repr) that the tests verify first.

Files written:
  ks.json         scipy.stats.ks_2samp(method='auto'): statistic, p-value, exact/asymp,
                  in every regime (exact equal and unequal sizes, the max(n1,n2) <= 10000
                  boundary, n1*n2 around 10^4, n1 = n2 = 10001, each branch of kstwo.sf)
  kstwo.json      scipy.stats.kstwo.sf(d, n) and scipy.special.smirnov(n, d) on a grid
  evidently.json  Evidently's DataDriftPreset column type and auto method, and each
                  stattest's score and verdict (chisquare, z, wasserstein, jensenshannon,
                  psi, ks), plus the statistics behind the p-values (scipy)
  quality.json    scikit-learn accuracy, precision, recall, f1, rmse, mae
  e2e/            a small CSV pair and Evidently's full DataDriftPreset result for the CLI test
"""

import json
import math
import os
import sys
import warnings

# Evidently keys categories through Python sets, so string hashing order reaches the last bits
# of sums: fix the hash seed so the fixtures are byte-for-byte reproducible.
if os.environ.get("PYTHONHASHSEED") != "0":
    os.execve(sys.executable, [sys.executable, *sys.argv], {**os.environ, "PYTHONHASHSEED": "0"})

import numpy as np
import pandas as pd
import scipy
from scipy import special, stats

import evidently
import sklearn
from sklearn import metrics as skm

PINS = {"scipy": "1.17.1", "numpy": "2.4.6", "evidently": "0.7.23", "scikit-learn": "1.9.1"}
FOUND = {"scipy": scipy.__version__, "numpy": np.__version__, "evidently": evidently.__version__,
         "scikit-learn": sklearn.__version__}

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
OUT = os.path.join(ROOT, "test", "fixtures", "drift")

warnings.filterwarnings("ignore", category=DeprecationWarning)
warnings.filterwarnings("ignore", category=FutureWarning)


# ---- the shared generator -------------------------------------------------------------

def uniforms(seed, n):
    """n uniforms in [0, 1): mulberry32's output function on a counter (vectorised)."""
    i = np.arange(1, n + 1, dtype=np.uint64)
    a = ((np.uint64(seed) + i * np.uint64(0x6D2B79F5)) & np.uint64(0xFFFFFFFF)).astype(np.uint32)
    with np.errstate(over="ignore"):
        t = (a ^ (a >> np.uint32(15))) * (a | np.uint32(1))
        t = (t + (t ^ (t >> np.uint32(7))) * (t | np.uint32(61))) ^ t
    return (t ^ (t >> np.uint32(14))).astype(np.float64) / 4294967296.0


def generate(spec):
    """The sample a spec describes; the same arithmetic as drift-support.ts `generate`."""
    n, dist = spec["n"], spec["dist"]
    loc, scale = float(spec.get("loc", 0.0)), float(spec.get("scale", 1.0))
    if dist == "uniform":
        return uniforms(spec["seed"], n) * scale + loc
    if dist == "normal":  # Irwin-Hall: sum of four uniforms, centred
        u = uniforms(spec["seed"], 4 * n).reshape(n, 4)
        return ((((u[:, 0] + u[:, 1]) + u[:, 2]) + u[:, 3]) - 2.0) * scale + loc
    if dist == "square":  # skewed
        u = uniforms(spec["seed"], n)
        return (u * u) * scale + loc
    if dist == "grid":  # evenly spaced, no randomness: KS distances far below the random ones
        return ((np.arange(n, dtype=np.float64) + 0.5) / n) * scale + loc
    if dist == "int":  # integers loc .. loc+levels-1
        return np.floor(uniforms(spec["seed"], n) * spec["levels"]) + loc
    raise ValueError(dist)


def spec(seed, n, dist="normal", **kw):
    s = {"seed": seed, "n": n, "dist": dist, **kw}
    s["check"] = repr(float(math.fsum(generate(s)[:16])))
    return s


# ---- KS -------------------------------------------------------------------------------

def kstwo_branch(d, n):
    """Which branch of scipy's _kolmogn answers kstwo.sf(d, n) (for coverage, not for values)."""
    if d <= 0.5 / n:
        return "below-support"
    if d >= 1:
        return "above-support"
    t = n * d
    if t <= 1:
        return "ruben-gambino-low"
    if t >= n - 1:
        return "ruben-gambino-high"
    if d >= 0.5:
        return "smirnov-d>=0.5"
    nxs = t * d
    if n <= 140:
        return "durbin" if nxs <= 0.754693 else "pomeranz" if nxs <= 4 else "smirnov-small-n"
    if nxs >= 370:
        return "zero"
    if nxs >= 2.2:
        return "smirnov-approx" if n > 1_000_000 else "smirnov"
    return "durbin" if n <= 100_000 and n * d ** 1.5 <= 1.4 else "pelz-good"


def ks_case(name, a_spec, b_spec, a=None, b=None):
    a = generate(a_spec) if a is None else np.asarray(a, dtype=float)
    b = generate(b_spec) if b is None else np.asarray(b, dtype=float)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        res = stats.ks_2samp(a, b, method="auto")
    n1, n2 = len(a), len(b)
    fell_back = any("Exact calculation unsuccessful" in str(w.message) for w in caught)
    mode = "exact" if max(n1, n2) <= 10000 and not fell_back else "asymp"
    case = {"name": name, "n1": n1, "n2": n2, "statistic": float(res.statistic), "pValue": float(res.pvalue),
            "mode": mode}
    if mode == "asymp":
        m, n = sorted([float(n1), float(n2)], reverse=True)
        case["branch"] = kstwo_branch(float(res.statistic), int(np.round(m * n / (m + n))))
    if a_spec is not None:
        case["a"], case["b"] = a_spec, b_spec
    else:
        case["aValues"], case["bValues"] = [float(x) for x in a], [float(x) for x in b]
    return case


def ks_cases():
    cases = []
    add = cases.append
    # Hand-written samples: ties within and across samples, identical samples, separated samples.
    add(ks_case("tiny unequal", None, None, a=[0.1, 0.5, 0.3, 2, 1.5, 0.7], b=[0.2, 0.25, 3, 4, 5, 0.9, 1.1]))
    add(ks_case("ties across samples", None, None, a=[1, 2, 2, 3, 3, 3, 4], b=[2, 3, 3, 4, 4, 5]))
    add(ks_case("identical samples", None, None, a=[1, 2, 3, 4], b=[4, 3, 2, 1]))
    add(ks_case("separated samples", None, None, a=[1, 2, 3], b=[10, 11, 12, 13]))
    add(ks_case("one value each", None, None, a=[1.0], b=[2.0]))
    add(ks_case("negative zero equals zero", None, None, a=[-0.0, 1.0, 2.0], b=[0.0, 1.5, 3.0]))

    seed = 100
    def nxt():
        nonlocal seed
        seed += 1
        return seed
    # Exact, equal sizes (the square method) and unequal sizes (the corridor method).
    for n in (5, 50, 200, 1000, 5000):
        for shift in (0.0, 0.2, 1.0):
            add(ks_case(f"exact equal n={n} shift={shift}", spec(nxt(), n), spec(nxt(), n, loc=shift)))
    for n1, n2 in ((100, 150), (300, 331), (999, 1001), (2000, 3000), (17, 4000), (10000, 3), (3, 10000), (9999, 10000),
                   (10000, 7000)):
        for shift in (0.0, 0.15, 0.6):
            add(ks_case(f"exact n1={n1} n2={n2} shift={shift}", spec(nxt(), n1), spec(nxt(), n2, loc=shift)))
    # n1*n2 around 10^4 (not scipy's rule, but where a reader might expect one) and scipy's
    # real boundary max(n1, n2) <= 10000.
    for n1, n2 in ((100, 100), (99, 101), (100, 101), (101, 101), (50, 200), (10000, 10000), (10000, 10001),
                   (10001, 10000), (10001, 10001), (10001, 50)):
        for shift in (0.0, 0.05, 0.3):
            add(ks_case(f"boundary n1={n1} n2={n2} shift={shift}", spec(nxt(), n1), spec(nxt(), n2, loc=shift)))
    # Ties: integer data with few levels, exact and asymptotic.
    for n1, n2, levels in ((40, 60, 3), (500, 700, 10), (3000, 3000, 5), (20000, 15000, 7), (12000, 30, 4)):
        add(ks_case(f"ties n1={n1} n2={n2} levels={levels}", spec(nxt(), n1, "int", levels=levels),
                    spec(nxt(), n2, "int", levels=levels, loc=0)))
        add(ks_case(f"ties shifted n1={n1} n2={n2} levels={levels}", spec(nxt(), n1, "int", levels=levels),
                    spec(nxt(), n2, "int", levels=levels + 1)))
    # Asymptotic regime: reach every branch of kstwo.sf by choosing sizes (n = round(en)) and shifts.
    shifts = (0.0, 0.0003, 0.001, 0.003, 0.01, 0.02, 0.05, 0.1, 0.2, 0.35, 0.47, 0.5, 0.8, 1.2, 2.0, 3.0, 5.0, 10.0)
    wanted = {
        (1, 20000): ["ruben-gambino-low"],
        (2, 20000): ["ruben-gambino-low", "ruben-gambino-high"],
        (3, 20000): ["smirnov-d>=0.5"],
        (50, 20000): ["durbin", "pomeranz", "smirnov-small-n", "smirnov-d>=0.5"],
        (140, 11000): ["durbin", "pomeranz", "smirnov-small-n"],
        (2000, 20000): ["durbin", "pelz-good", "smirnov", "zero", "smirnov-d>=0.5"],
        (30000, 30000): ["durbin", "pelz-good", "smirnov"],
        (200000, 200000): ["durbin", "pelz-good", "smirnov"],
        (300000, 300000): ["pelz-good", "smirnov"],
        (2100000, 2100000): ["pelz-good", "smirnov-approx"],
    }
    for (n1, n2), branches in wanted.items():
        # Random samples rarely give the small distances of the Durbin branch; grids do.
        a_specs = [spec(nxt(), n1, "uniform") for _ in range(1 if n1 > 100 else 6)] + [spec(nxt(), n1, "grid")]
        for branch in branches:
            hit = None
            for a_spec in a_specs:
                a = generate(a_spec)
                for shift in shifts:
                    b_spec = spec(nxt(), n2, a_spec["dist"], loc=shift)
                    case = ks_case(f"asymp n1={n1} n2={n2} {branch}", a_spec, b_spec, a=a)
                    if case.get("branch") == branch:
                        hit = case
                        break
                if hit:
                    break
            if hit is None:
                raise SystemExit(f"no shift reaches kstwo branch {branch} for n1={n1} n2={n2}")
            add(hit)
    return cases


def kstwo_grid():
    rows = []
    for n in (1, 2, 3, 5, 10, 37, 100, 140, 141, 500, 2000, 20000, 100000, 100001, 500000, 1000001, 3000000):
        for d in (1e-7, 0.25 / n, 0.5 / n, 0.75 / n, 1.0 / n, 1.5 / n, 0.01, 0.02, 0.05, 0.1, 0.2, 0.3, 0.45, 0.5,
                  0.6, 0.9, 1 - 0.5 / n, 1.0):
            for scale in (1.0, 0.3):
                x = d * scale if d < 0.5 else d
                if 0 <= x <= 1:
                    rows.append([n, x, float(stats.kstwo.sf(x, n)), kstwo_branch(x, n)])
        # Points just either side of the branch boundaries in n*x^2 and n*x^1.5.
        for target in (0.754693, 4.0, 2.2, 18.0, 370.0):
            x = math.sqrt(target / n)
            for f in (0.999, 1.001):
                if x * f < 1:
                    rows.append([n, x * f, float(stats.kstwo.sf(x * f, n)), kstwo_branch(x * f, n)])
        x = (1.4 / n) ** (2 / 3)
        for f in (0.999, 1.001):
            if x * f < 1:
                rows.append([n, x * f, float(stats.kstwo.sf(x * f, n)), kstwo_branch(x * f, n)])
    smirnov = []
    for n in (3, 10, 50, 140, 1000, 20000, 500000, 1000000, 1000001):
        for x in (0.01, 0.05, 0.1, 0.2, 0.3, 0.5, 0.7, 0.95):
            smirnov.append([n, x, float(special.smirnov(n, x))])
    return {"kstwo": rows, "smirnov": smirnov}


# ---- Evidently --------------------------------------------------------------------------

from evidently import DataDefinition, Dataset, Report  # noqa: E402
from evidently.core.datasets import infer_column_type  # noqa: E402
from evidently.legacy.calculations.stattests import get_stattest  # noqa: E402
from evidently.legacy.calculations.stattests.registry import get_registered_stattest  # noqa: E402
from evidently.legacy.calculations.stattests.z_stattest import proportions_diff_z_stat_ind  # noqa: E402
from evidently.legacy.core import ColumnType  # noqa: E402
from evidently.metrics import ValueDrift  # noqa: E402
from evidently.presets import DataDriftPreset  # noqa: E402

DISPLAY_TO_METHOD = {"K-S p_value": "ks", "chi-square p_value": "chisquare", "Z-test p_value": "z",
                     "Wasserstein distance (normed)": "wasserstein", "Jensen-Shannon distance": "jensenshannon",
                     "PSI": "psi"}
LABELS = ["apple", "banana", "cherry", "date", "elder", "fig", "grape", "honeydew", "kiwi", "lemon", "mango",
          "nectarine", "olive", "papaya", "quince", "raspberry", "strawberry", "tomato", "ugli", "vanilla", "walnut",
          "xigua", "yam", "zucchini", "Ärtan", "éclair", "Zebra"]


def column(spec_, kind):
    values = generate(spec_)
    if kind == "float":
        return pd.Series(values, dtype="float64")
    if kind == "int":
        return pd.Series(values.astype(np.int64), dtype="int64")
    if kind == "category":
        return pd.Series([LABELS[int(v)] for v in values], dtype="object")
    raise ValueError(kind)


def statistic_of(method, ref, cur):
    """The statistic Evidently does not return for p-value tests, computed as Evidently's code does."""
    if method == "ks":
        return float(stats.ks_2samp(ref, cur).statistic)
    if method == "chisquare":
        keys = list(set(ref.dropna().unique()) | set(cur.dropna().unique()))
        rc, cc = ref.value_counts(), cur.value_counts()
        k_norm = cur.shape[0] / ref.shape[0]
        f_exp = [rc.get(k, 0) * k_norm for k in keys]
        f_obs = [cc.get(k, 0) for k in keys]
        with np.errstate(divide="ignore", invalid="ignore"):
            return float(stats.chisquare(f_obs, f_exp)[0])
    if method == "z":
        if ref.nunique() == 1 and cur.nunique() == 1 and ref.unique()[0] == cur.unique()[0]:
            return 0.0
        keys = sorted(set(ref.dropna().unique()) | set(cur.dropna().unique()))
        return float(proportions_diff_z_stat_ind(ref.apply(lambda x: 0 if x == keys[0] else 1),
                                                 cur.apply(lambda x: 0 if x == keys[0] else 1)))
    return None


def evidently_case(name, ref_spec, cur_spec, kind):
    ref, cur = column(ref_spec, kind), column(cur_spec, kind)
    ctype = infer_column_type(cur)  # DataDriftPreset types a column from the current data
    ftype = ColumnType.Categorical if ctype == ColumnType.Categorical else ColumnType.Numerical
    auto = get_stattest(ref, cur, ftype, None)
    # The full preset, to prove the type and method above are what a user of Evidently gets.
    report = Report([DataDriftPreset()])
    snap = report.run(Dataset.from_pandas(pd.DataFrame({"x": cur}), data_definition=DataDefinition()),
                      Dataset.from_pandas(pd.DataFrame({"x": ref}), data_definition=DataDefinition()))
    value_drift = [m for m in snap.dict()["metrics"] if m["config"]["type"] == "evidently:metric_v2:ValueDrift"][0]
    preset_method = DISPLAY_TO_METHOD[value_drift["config"]["method"]]
    if preset_method != auto.name:
        raise SystemExit(f"{name}: preset chose {preset_method}, get_stattest {auto.name}")
    results = {}
    for method in ("ks", "chisquare", "z", "wasserstein", "jensenshannon", "psi"):
        try:
            test = get_registered_stattest(method, ftype)
        except ValueError:
            continue  # Evidently does not allow this method on this column type
        with np.errstate(all="ignore"):
            res = test(ref, cur, ftype, None)
        score = float(res.drift_score)
        entry = {"score": None if math.isnan(score) else score, "drifted": bool(res.drifted),
                 "threshold": float(res.actual_threshold)}
        stat = statistic_of(method, ref, cur)
        if stat is not None:
            entry["statistic"] = stat if math.isfinite(stat) else repr(stat)
        results[method] = entry
    return {"name": name, "kind": kind, "ref": ref_spec, "cur": cur_spec,
            "type": "categorical" if ftype == ColumnType.Categorical else "numerical",
            "auto": auto.name, "autoScore": float(value_drift["value"]), "methods": results}


def evidently_cases():
    cases = []
    s = 5000
    def nxt():
        nonlocal s
        s += 1
        return s
    def add(name, ref_spec, cur_spec, kind):
        cases.append(evidently_case(name, ref_spec, cur_spec, kind))
    # Numerical float columns, small and large references (ks vs wasserstein), with and without drift.
    for nr, nc in ((300, 200), (1000, 700), (1001, 900), (5000, 4000)):
        for shift in (0.0, 0.1, 0.5):
            add(f"float n={nr}/{nc} shift={shift}", spec(nxt(), nr), spec(nxt(), nc, loc=shift), "float")
    add("float skewed large", spec(nxt(), 3000, "square", scale=10.0), spec(nxt(), 2500, "square", scale=12.0), "float")
    add("float tiny std", spec(nxt(), 1500, scale=1e-5), spec(nxt(), 1500, scale=1e-5, loc=1e-6), "float")
    # Few distinct float values: chisquare / z / jensenshannon by distinct count.
    for levels, nr in ((2, 400), (4, 400), (5, 1200), (6, 300), (15, 2000), (25, 3000)):
        add(f"float {levels} levels n={nr}", spec(nxt(), nr, "int", levels=levels, scale=0.5),
            spec(nxt(), nr - 50, "int", levels=levels, scale=0.5), "float")
    # Integer columns: categorical when the current data has at most 10 distinct values.
    for levels, nr in ((2, 500), (3, 500), (10, 800), (10, 3000), (11, 800), (40, 3000), (40, 500), (300, 4000)):
        add(f"int {levels} levels n={nr}", spec(nxt(), nr, "int", levels=levels),
            spec(nxt(), nr + 30, "int", levels=levels, loc=1 if levels > 20 else 0), "int")
    add("int narrow range large n (width clamped to 1)", spec(nxt(), 20000, "int", levels=30),
        spec(nxt(), 20000, "int", levels=30), "int")
    # String categories.
    for levels, nr, cur_levels in ((2, 300, 2), (3, 300, 3), (5, 2000, 5), (26, 500, 27), (26, 5000, 20), (1, 200, 1),
                                   (1, 200, 2)):
        add(f"category {levels}->{cur_levels} n={nr}", spec(nxt(), nr, "int", levels=levels),
            spec(nxt(), nr, "int", levels=cur_levels), "category")
    return cases


# ---- quality ----------------------------------------------------------------------------

def quality_cases():
    out = []
    y = generate(spec(7001, 300, "int", levels=2))
    noise = generate(spec(7002, 300, "uniform"))
    pred = np.where(noise < 0.2, 1 - y, y)
    out.append(("binary", y, pred))
    y3 = generate(spec(7003, 400, "int", levels=4))
    n3 = generate(spec(7004, 400, "uniform"))
    p3 = np.where(n3 < 0.3, np.floor(n3 * 13) % 4, y3)
    out.append(("multiclass", y3, p3))
    # A class that is never predicted: precision of that class is 0 (zero_division), as sklearn.
    y4 = generate(spec(7005, 120, "int", levels=3))
    p4 = np.where(y4 == 2, 0, y4)
    out.append(("multiclass never predicted", y4, p4))
    cases = []
    for name, yt, yp in out:
        labels = sorted(set(yt) | set(yp))
        binary = len(labels) <= 2
        kw = {"pos_label": 1, "average": "binary"} if binary else {"average": "macro"}
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            cases.append({"name": name, "task": "classification", "label": [float(v) for v in yt],
                          "prediction": [float(v) for v in yp], "metrics": {
                              "accuracy": float(skm.accuracy_score(yt, yp)),
                              "precision": float(skm.precision_score(yt, yp, zero_division=0, **kw)),
                              "recall": float(skm.recall_score(yt, yp, zero_division=0, **kw)),
                              "f1": float(skm.f1_score(yt, yp, zero_division=0, **kw))}})
    yr = generate(spec(7010, 500, "normal", scale=3.0, loc=10.0))
    pr = yr + generate(spec(7011, 500, "normal", scale=0.5))
    cases.append({"name": "regression", "task": "regression", "label": [float(v) for v in yr],
                  "prediction": [float(v) for v in pr], "metrics": {
                      "rmse": float(math.sqrt(skm.mean_squared_error(yr, pr))),
                      "mae": float(skm.mean_absolute_error(yr, pr))}})
    return cases


# ---- end to end -------------------------------------------------------------------------

def e2e():
    """A small CSV pair with mixed columns and Evidently's DataDriftPreset on pd.read_csv of it."""
    n_ref, n_cur = 400, 300
    ref = pd.DataFrame({
        "amount": np.round(generate(spec(8001, n_ref, "square", scale=500.0)), 2),
        "age": generate(spec(8002, n_ref, "int", levels=60, loc=18)).astype(np.int64),
        "score": generate(spec(8003, n_ref, "normal")),
        "channel": [LABELS[int(v)] for v in generate(spec(8004, n_ref, "int", levels=3))],
        "is_new": generate(spec(8005, n_ref, "int", levels=2)).astype(np.int64),
        "label": generate(spec(8006, n_ref, "int", levels=2)).astype(np.int64),
    })
    cur = pd.DataFrame({
        "amount": np.round(generate(spec(8011, n_cur, "square", scale=650.0)), 2),
        "age": generate(spec(8012, n_cur, "int", levels=60, loc=18)).astype(np.int64),
        "score": generate(spec(8013, n_cur, "normal", loc=0.4)),
        "channel": [LABELS[int(v)] for v in generate(spec(8014, n_cur, "int", levels=4))],
        "is_new": generate(spec(8015, n_cur, "int", levels=2)).astype(np.int64),
        "label": generate(spec(8016, n_cur, "int", levels=2)).astype(np.int64),
    })
    flip = generate(spec(8017, n_cur, "uniform")) < 0.15
    cur["prediction"] = np.where(flip, 1 - cur["label"], cur["label"]).astype(np.int64)
    ref["prediction"] = ref["label"]
    os.makedirs(os.path.join(OUT, "e2e"), exist_ok=True)
    ref_path, cur_path = os.path.join(OUT, "e2e", "reference.csv"), os.path.join(OUT, "e2e", "current.csv")
    ref.to_csv(ref_path, index=False, float_format="%.17g")
    cur.to_csv(cur_path, index=False, float_format="%.17g")
    ref_read, cur_read = pd.read_csv(ref_path), pd.read_csv(cur_path)
    # The same data in the other formats the checker reads: Parquet (snappy, and zstd with
    # several row groups) and JSON Lines.
    ref_read.to_parquet(os.path.join(OUT, "e2e", "reference.parquet"), compression="snappy", index=False)
    cur_read.to_parquet(os.path.join(OUT, "e2e", "current.zstd.parquet"), compression="zstd", index=False,
                        row_group_size=128)
    with open(os.path.join(OUT, "e2e", "current.jsonl"), "w") as f:  # json.dumps keeps every digit (repr)
        for record in cur_read.to_dict("records"):
            f.write(json.dumps({k: (v.item() if hasattr(v, "item") else v) for k, v in record.items()}) + "\n")
    features = ["amount", "age", "score", "channel", "is_new"]
    report = Report([DataDriftPreset(columns=features)])
    snap = report.run(Dataset.from_pandas(cur_read[features], data_definition=DataDefinition()),
                      Dataset.from_pandas(ref_read[features], data_definition=DataDefinition()))
    expected = {"features": [], "rows": {"reference": n_ref, "current": n_cur}}
    for m in snap.dict()["metrics"]:
        cfg = m["config"]
        if cfg["type"] == "evidently:metric_v2:DriftedColumnsCount":
            expected["driftShare"] = float(m["value"]["share"])
            expected["drifted"] = bool(m["value"]["share"] >= 0.5)
        elif cfg["type"] == "evidently:metric_v2:ValueDrift":
            method = DISPLAY_TO_METHOD[cfg["method"]]
            score = float(m["value"])
            threshold = float(cfg["threshold"])
            drifted = (score <= threshold if method == "ks" else score < threshold if method in ("chisquare", "z")
                       else score >= threshold)
            expected["features"].append({"feature": cfg["column"], "method": method, "score": score,
                                         "threshold": threshold, "drifted": drifted})
    order = {f: i for i, f in enumerate(features)}
    expected["features"].sort(key=lambda f: order[f["feature"]])
    yt, yp = cur_read["label"], cur_read["prediction"]
    expected["quality"] = {"accuracy": float(skm.accuracy_score(yt, yp)),
                           "precision": float(skm.precision_score(yt, yp)),
                           "recall": float(skm.recall_score(yt, yp)), "f1": float(skm.f1_score(yt, yp))}
    return {"features": features, "categorical": ["channel"], "label": "label", "prediction": "prediction",
            "expected": expected}


def write(name, data):
    path = os.path.join(OUT, name)
    with open(path, "w") as f:
        json.dump({"generatedBy": "python/oracle/make_drift_fixtures.py", "versions": FOUND, **data}, f,
                  separators=(",", ":"))
        f.write("\n")
    print(f"wrote {os.path.relpath(path, ROOT)} ({os.path.getsize(path) // 1024} KiB)")


def main():
    wrong = {k: (FOUND[k], v) for k, v in PINS.items() if FOUND[k] != v}
    if wrong:
        raise SystemExit(f"version mismatch (found, wanted): {wrong}; see python/oracle/requirements.txt")
    os.makedirs(OUT, exist_ok=True)
    write("ks.json", {"cases": ks_cases()})
    write("kstwo.json", kstwo_grid())
    write("evidently.json", {"cases": evidently_cases()})
    write("quality.json", {"cases": quality_cases()})
    write("e2e.json", e2e())


if __name__ == "__main__":
    sys.exit(main())
