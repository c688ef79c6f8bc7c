#!/usr/bin/env python3
"""Generate PMML reference fixtures for Assay's PMML runtime.

Trains small deterministic scikit-learn models, exports them to PMML with
sklearn2pmml (and a few with nyoka), and scores the input rows with
JPMML-Evaluator (via the jpmml_evaluator package) to produce the expected
results.

Usage:
    pip install -r scripts/pmml/requirements.txt
    python3 scripts/pmml/generate_fixtures.py            # fixtures + bench documents
    python3 scripts/pmml/generate_fixtures.py --set sklearn
    python3 scripts/pmml/generate_fixtures.py --set bench
    python3 scripts/pmml/generate_fixtures.py --only dt_classifier_iris,kmeans_iris

Outputs:
    Tests/AssayPMMLTests/Fixtures/sklearn/<name>.pmml
    Tests/AssayPMMLTests/Fixtures/sklearn/<name>.input.csv
    Tests/AssayPMMLTests/Fixtures/sklearn/<name>.expected.csv
    Tests/AssayPMMLTests/Fixtures/sklearn/README.md
    Tests/AssayPMMLTests/Fixtures/bench/<name>.pmml
    Tests/AssayPMMLTests/Fixtures/bench/<name>.input.csv
"""

import os

# Single-threaded numerics: deterministic results and modest CPU use on a shared machine.
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse
import copy
import csv
import io
import math
import re
import sys
import tempfile
import warnings
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pandas as pd

warnings.filterwarnings("ignore")

REPO = Path(__file__).resolve().parents[2]
SKLEARN_DIR = REPO / "Tests" / "AssayPMMLTests" / "Fixtures" / "sklearn"
BENCH_DIR = REPO / "Tests" / "AssayPMMLTests" / "Fixtures" / "bench"

PMML_NS = "http://www.dmg.org/PMML-4_4"
MODEL_ELEMENTS = {
    "AnomalyDetectionModel", "AssociationModel", "BayesianNetworkModel", "BaselineModel",
    "ClusteringModel", "GaussianProcessModel", "GeneralRegressionModel", "MiningModel",
    "NaiveBayesModel", "NearestNeighborModel", "NeuralNetwork", "RegressionModel",
    "RuleSetModel", "SequenceModel", "Scorecard", "SupportVectorMachineModel",
    "TextModel", "TimeSeriesModel", "TreeModel",
}

JAVA_OPTS = ["-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1", "-Xmx1g"]


# ---------------------------------------------------------------------------
# Data sets (all built in or synthesised here; nothing is downloaded)
# ---------------------------------------------------------------------------

def _snake(name):
    return re.sub(r"[^0-9a-zA-Z]+", "_", name).strip("_").lower()


def load_builtin(name, rename=True):
    from sklearn import datasets
    loader = {
        "iris": datasets.load_iris,
        "wine": datasets.load_wine,
        "breast_cancer": datasets.load_breast_cancer,
        "diabetes": datasets.load_diabetes,
    }[name]
    X, y = loader(return_X_y=True, as_frame=True)
    X = X.astype(np.float64)
    if rename:
        X.columns = [_snake(c) for c in X.columns]
    if name == "diabetes":
        y = y.astype(np.float64)
    else:
        y = y.astype(np.int64)
    y.name = "target"
    return X, y


def shuffled_rows(X, n, seed):
    """Deterministically pick n rows of X (all of them when n >= len(X))."""
    rng = np.random.RandomState(seed)
    idx = rng.permutation(len(X))[: min(n, len(X))]
    return X.iloc[np.sort(idx)].reset_index(drop=True)


def mixed_data(n, seed, task):
    """Synthetic frame with numeric and categorical string columns plus missing values."""
    rng = np.random.RandomState(seed)
    colors = np.array(["red", "green", "blue", "yellow"])
    sizes = np.array(["S", "M", "L", "XL"])
    channels = np.array(["web", "store", "phone"])
    df = pd.DataFrame({
        "age": rng.randint(18, 80, size=n).astype(np.float64),
        "income": np.round(rng.lognormal(10.5, 0.5, size=n), 2),
        "score": np.round(rng.normal(0.0, 1.0, size=n), 4),
        "color": colors[rng.randint(0, len(colors), size=n)],
        "size": sizes[rng.randint(0, len(sizes), size=n)],
        "channel": channels[rng.randint(0, len(channels), size=n)],
    })
    logit = (
        0.04 * (df["age"] - 45)
        + 0.8 * df["score"]
        + np.where(df["color"] == "red", 1.0, 0.0)
        - np.where(df["size"] == "S", 0.7, 0.0)
        + np.where(df["channel"] == "web", 0.5, -0.2)
        + 0.3 * rng.normal(size=n)
    )
    if task == "classification":
        y = pd.Series(np.where(logit > 0, "yes", "no"), name="label")
    else:
        y = pd.Series(np.round(100.0 + 20.0 * logit + 0.00005 * df["income"], 4), name="amount")
    return df, y


def inject_missing(df, columns, fraction, seed):
    """Blank out a fraction of cells in the given columns."""
    rng = np.random.RandomState(seed)
    df = df.copy()
    for col in columns:
        mask = rng.rand(len(df)) < fraction
        if df[col].dtype == object or pd.api.types.is_string_dtype(df[col]):
            df[col] = df[col].astype(object)
            df.loc[mask, col] = np.nan  # scikit-learn's SimpleImputer treats NaN (not None) as missing
        else:
            df.loc[mask, col] = np.nan
    return df


# ---------------------------------------------------------------------------
# Exporters
# ---------------------------------------------------------------------------

def export_sklearn2pmml(model, X, y, path, options=None):
    """Export with sklearn2pmml. Options:
    expose_prediction: add a predict_transformer so that the predicted value is also
        an OutputField named "predicted_<target>" (sklearn2pmml then also lists the
        plain prediction as "predict(<target>)");
    configure: keyword arguments for PMMLPipeline.configure (converter options)."""
    from sklearn2pmml import sklearn2pmml
    from sklearn2pmml.pipeline import PMMLPipeline
    options = options or {}
    steps = model.steps if hasattr(model, "steps") else [("model", model)]
    kwargs = {}
    if options.get("expose_prediction"):
        from sklearn2pmml.decoration import Alias
        from sklearn2pmml.preprocessing import ExpressionTransformer
        kwargs["predict_transformer"] = Alias(ExpressionTransformer("X[0]"), "predicted_" + y.name, prefit=True)
    pipeline = PMMLPipeline(steps, **kwargs)
    pipeline.fit(X, y)
    if options.get("configure"):
        pipeline.configure(**options["configure"])
    _quiet(lambda: sklearn2pmml(pipeline, str(path), java_opts=JAVA_OPTS))
    return pipeline


def export_nyoka(model, X, y, path):
    from nyoka import skl_to_pmml
    from sklearn.pipeline import Pipeline
    pipeline = model if isinstance(model, Pipeline) else Pipeline([("model", model)])
    pipeline.fit(X, y)
    _quiet(lambda: skl_to_pmml(pipeline, list(X.columns), y.name if y is not None else "target", str(path)))
    return pipeline


def _quiet(fn):
    """Run fn with this process's stdout/stderr (and those of child processes) sent to a buffer.

    The buffer is printed when fn fails, so exporter diagnostics are not lost."""
    sys.stdout.flush()
    sys.stderr.flush()
    saved = os.dup(1), os.dup(2)
    with tempfile.TemporaryFile() as tmp:
        os.dup2(tmp.fileno(), 1)
        os.dup2(tmp.fileno(), 2)
        try:
            return fn()
        except BaseException:
            sys.stdout.flush()
            sys.stderr.flush()
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            tmp.seek(0)
            sys.stderr.write(tmp.read().decode("utf-8", "replace")[-4000:])
            raise
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            os.close(saved[0])
            os.close(saved[1])


def normalize_pmml(path):
    """Drop run-dependent Header content (timestamps) so reruns produce identical bytes."""
    text = path.read_text(encoding="utf-8")
    text = re.sub(r"\s*<Timestamp>.*?</Timestamp>", "", text, flags=re.S)
    text = re.sub(r"\s*<Timestamp/>", "", text)
    if not text.endswith("\n"):
        text += "\n"
    path.write_text(text, encoding="utf-8")


# ---------------------------------------------------------------------------
# JPMML-Evaluator scoring
# ---------------------------------------------------------------------------

_BACKEND = None


def backend():
    global _BACKEND
    if _BACKEND is None:
        import jpmml_evaluator
        _BACKEND = jpmml_evaluator.make_backend(os.environ.get("JPMML_BACKEND", "jpype"))
    return _BACKEND


def _local(tag):
    return tag.rsplit("}", 1)[-1]


def pmml_structure(path):
    """Return (top-level model element, DataDictionary {name: element}) of a PMML document."""
    root = ET.parse(path).getroot()
    fields = {}
    model = None
    for child in root:
        name = _local(child.tag)
        if name == "DataDictionary":
            for df in child:
                if _local(df.tag) == "DataField":
                    fields[df.get("name")] = df
        elif name in MODEL_ELEMENTS and model is None:
            model = child
    return root, model, fields


def result_columns(path):
    """Columns of the expected CSV, and the PMML text JPMML should evaluate.

    When JPMML-Evaluator reports output fields for the document (the OutputFields of
    the top-level model, or for a model chain without its own Output element, those of
    its final segment): those, in document order. Otherwise: the target field(s), plus
    probability(<category>) per category for classification. In that case the
    probabilities are requested from JPMML-Evaluator by evaluating an in-memory copy of
    the document with an Output element added (the file on disk stays as exported)."""
    ev = make_evaluator(path)
    outputs = [f.getName() for f in ev.getOutputFields()]
    if outputs:
        return outputs, None
    targets = [f.getName() for f in ev.getTargetFields()]
    columns = list(targets)
    root, model, fields = pmml_structure(path)
    if model.get("functionName") != "classification" or len(targets) != 1:
        return columns, None
    ns = root.tag[1:].split("}")[0] if root.tag.startswith("{") else ""
    q = (lambda t: "{%s}%s" % (ns, t)) if ns else (lambda t: t)
    target = fields[targets[0]]
    categories = [v.get("value") for v in target
                  if _local(v.tag) == "Value" and v.get("property", "valid") == "valid"]
    probability_names = ["probability(%s)" % c for c in categories]
    out = ET.Element(q("Output"))
    for c, n in zip(categories, probability_names):
        ET.SubElement(out, q("OutputField"), {
            "name": n, "optype": "continuous", "dataType": "double",
            "feature": "probability", "value": c})
    # In every model element, Output directly follows MiningSchema.
    pos = [i for i, c in enumerate(model) if _local(c.tag) == "MiningSchema"][0] + 1
    model.insert(pos, out)
    if ns:
        ET.register_namespace("", ns)
    return columns + probability_names, ET.tostring(root, encoding="unicode")


def make_evaluator(path, text=None):
    import jpmml_evaluator
    obj = text if text is not None else str(path)
    return jpmml_evaluator.make_evaluator(obj, backend=backend()).verify()


def format_value(v):
    if v is None:
        return ""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (float, np.floating)):
        return repr(float(v))
    if isinstance(v, (int, np.integer)):
        return str(int(v))
    return str(v)


def write_csv(path, header, rows):
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(header)
    for r in rows:
        w.writerow(r)
    path.write_text(buf.getvalue(), encoding="utf-8")


def read_csv_cells(path):
    with open(path, newline="", encoding="utf-8") as fh:
        rows = list(csv.reader(fh))
    return rows[0], rows[1:]


def input_fields(path):
    ev = make_evaluator(path)
    return [f.getName() for f in ev.getInputFields()]


def write_inputs(path, X, fields):
    missing = [f for f in fields if f not in X.columns]
    if missing:
        raise ValueError("input fields %s not in data" % missing)
    rows = [[format_value(None if _is_missing(v) else v) for v in rec]
            for rec in X[fields].itertuples(index=False, name=None)]
    write_csv(path, fields, rows)


def _is_missing(v):
    return v is None or v is pd.NA or (isinstance(v, (float, np.floating)) and math.isnan(v))


def score_with_jpmml(pmml_path, input_path, expected_path):
    """Evaluate every input row (as the CSV's text cells) with JPMML-Evaluator."""
    columns, text = result_columns(pmml_path)
    ev = make_evaluator(pmml_path, text)
    header, rows = read_csv_cells(input_path)
    out = []
    for cells in rows:
        arguments = {h: (c if c != "" else None) for h, c in zip(header, cells)}
        results = ev.evaluate(arguments)
        out.append([format_value(results.get(c)) for c in columns])
    write_csv(expected_path, columns, out)
    return columns, out


# ---------------------------------------------------------------------------
# Fixture catalogue
# ---------------------------------------------------------------------------

def _scaled(model):
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler
    return Pipeline([("scaler", StandardScaler()), ("model", model)])


def _mixed_preprocessor(num_cols, cat_cols, scale):
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler
    num_steps = [("impute", SimpleImputer(strategy="median"))]
    if scale:
        num_steps.append(("scale", StandardScaler()))
    return ColumnTransformer([
        ("num", Pipeline(num_steps), num_cols),
        ("cat", Pipeline([
            ("impute", SimpleImputer(strategy="most_frequent")),
            ("onehot", OneHotEncoder(handle_unknown="ignore")),
        ]), cat_cols),
    ])


def fixtures():
    """Each entry: name -> (exporter, data-builder, model-builder, description)."""
    from sklearn.cluster import KMeans
    from sklearn.ensemble import (GradientBoostingClassifier, GradientBoostingRegressor,
                                  RandomForestClassifier, RandomForestRegressor)
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LinearRegression, LogisticRegression
    from sklearn.naive_bayes import GaussianNB
    from sklearn.neighbors import KNeighborsClassifier, KNeighborsRegressor
    from sklearn.neural_network import MLPClassifier, MLPRegressor
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.svm import SVC, SVR
    from sklearn.tree import DecisionTreeClassifier, DecisionTreeRegressor

    def builtin(name, n_rows=100, rename=True, missing=None):
        def build():
            X, y = load_builtin(name, rename=rename)
            Xin = shuffled_rows(X, n_rows, seed=7)
            if missing:
                Xin = inject_missing(Xin, missing[0], missing[1], seed=11)
            return X, y, Xin
        return build

    def mixed(task, n_rows=120, missing_fraction=0.15):
        def build():
            X, y = mixed_data(600, seed=3, task=task)
            cols = list(X.columns)
            X = inject_missing(X, cols, 0.05, seed=5)  # train with gaps too
            Xin, _ = mixed_data(n_rows, seed=4, task=task)
            Xin = inject_missing(Xin, cols, missing_fraction, seed=6)
            return X, y, Xin
        return build

    num_cols = ["age", "income", "score"]
    cat_cols = ["color", "size", "channel"]

    F = {}
    s2p, nyk = "sklearn2pmml", "nyoka"

    # Trees and ensembles
    F["dt_classifier_iris"] = (s2p, builtin("iris", 150, rename=False),
        lambda: DecisionTreeClassifier(max_depth=4, random_state=0),
        "DecisionTreeClassifier; iris with the original column names (spaces, parentheses); predicted value exposed",
        {"expose_prediction": True})
    F["dt_regressor_diabetes"] = (s2p, builtin("diabetes", 120),
        lambda: DecisionTreeRegressor(max_depth=5, min_samples_leaf=5, random_state=0),
        "DecisionTreeRegressor")
    F["rf_classifier_breast_cancer"] = (s2p, builtin("breast_cancer", 120),
        lambda: RandomForestClassifier(n_estimators=10, max_depth=5, random_state=0, n_jobs=1),
        "RandomForestClassifier, 10 trees, binary")
    F["rf_classifier_wine"] = (s2p, builtin("wine", 100),
        lambda: RandomForestClassifier(n_estimators=8, max_depth=4, random_state=0, n_jobs=1),
        "RandomForestClassifier, 8 trees, 3 classes")
    F["rf_regressor_diabetes"] = (s2p, builtin("diabetes", 120),
        lambda: RandomForestRegressor(n_estimators=10, max_depth=5, random_state=0, n_jobs=1),
        "RandomForestRegressor, 10 trees")
    F["gbm_classifier_breast_cancer"] = (s2p, builtin("breast_cancer", 120),
        lambda: GradientBoostingClassifier(n_estimators=20, max_depth=3, random_state=0),
        "GradientBoostingClassifier, 20 trees, binary")
    F["gbm_classifier_wine"] = (s2p, builtin("wine", 100),
        lambda: GradientBoostingClassifier(n_estimators=10, max_depth=2, random_state=0),
        "GradientBoostingClassifier, 10 rounds x 3 classes")
    F["gbm_regressor_diabetes"] = (s2p, builtin("diabetes", 120),
        lambda: GradientBoostingRegressor(n_estimators=30, max_depth=3, learning_rate=0.1, random_state=0),
        "GradientBoostingRegressor, 30 trees")

    # Linear models
    F["logreg_scaled_breast_cancer"] = (s2p, builtin("breast_cancer", 120),
        lambda: _scaled(LogisticRegression(max_iter=1000)),
        "StandardScaler + LogisticRegression, binary")
    F["logreg_scaled_wine"] = (s2p, builtin("wine", 100),
        lambda: _scaled(LogisticRegression(max_iter=1000)),
        "StandardScaler + LogisticRegression, multinomial, 3 classes")
    F["linreg_scaled_diabetes"] = (s2p, builtin("diabetes", 120),
        lambda: _scaled(LinearRegression()),
        "StandardScaler + LinearRegression")

    # Neural networks
    F["mlp_classifier_iris"] = (s2p, builtin("iris", 150),
        lambda: _scaled(MLPClassifier(hidden_layer_sizes=(8, 6), max_iter=2000, random_state=0)),
        "StandardScaler + MLPClassifier (8, 6) relu, 3 classes")
    F["mlp_regressor_diabetes"] = (s2p, builtin("diabetes", 120),
        lambda: _scaled(MLPRegressor(hidden_layer_sizes=(10,), activation="tanh", max_iter=3000,
                                     learning_rate_init=0.01, random_state=0)),
        "StandardScaler + MLPRegressor (10,) tanh")

    # Support vector machines
    F["svc_rbf_breast_cancer"] = (s2p, builtin("breast_cancer", 120),
        lambda: _scaled(SVC(kernel="rbf", C=1.0, gamma="scale")),
        "StandardScaler + SVC rbf, binary")
    F["svc_linear_iris"] = (s2p, builtin("iris", 150),
        lambda: _scaled(SVC(kernel="linear", C=0.5)),
        "StandardScaler + SVC linear, 3 classes (one-vs-one)")
    F["svc_poly_wine"] = (s2p, builtin("wine", 100),
        lambda: _scaled(SVC(kernel="poly", degree=2, C=1.0)),
        "StandardScaler + SVC poly degree 2, 3 classes")
    F["svr_rbf_diabetes"] = (s2p, builtin("diabetes", 120),
        lambda: _scaled(SVR(kernel="rbf", C=50.0, epsilon=5.0)),
        "StandardScaler + SVR rbf")

    # Other model types
    F["gaussian_nb_iris"] = (s2p, builtin("iris", 150),
        lambda: GaussianNB(),
        "GaussianNB, 3 classes")
    F["knn_classifier_iris"] = (s2p, builtin("iris", 150),
        lambda: _scaled(KNeighborsClassifier(n_neighbors=5)),
        "StandardScaler + KNeighborsClassifier k=5; predicted value exposed",
        {"expose_prediction": True})
    F["knn_regressor_diabetes"] = (s2p, builtin("diabetes", 100),
        lambda: KNeighborsRegressor(n_neighbors=7, weights="distance"),
        "KNeighborsRegressor k=7, distance weights")
    F["kmeans_iris"] = (s2p, builtin("iris", 150),
        lambda: KMeans(n_clusters=3, n_init=10, random_state=0),
        "KMeans, 3 clusters")

    # Pipelines with imputation and one-hot encoding (inputs include missing cells)
    F["pipeline_onehot_impute_logreg"] = (s2p, mixed("classification"),
        lambda: Pipeline([("prep", _mixed_preprocessor(num_cols, cat_cols, scale=True)),
                          ("model", LogisticRegression(max_iter=1000))]),
        "ColumnTransformer(SimpleImputer median + StandardScaler | SimpleImputer most_frequent + OneHotEncoder) + LogisticRegression")
    F["pipeline_onehot_impute_gbm_regressor"] = (s2p, mixed("regression"),
        lambda: Pipeline([("prep", _mixed_preprocessor(num_cols, cat_cols, scale=False)),
                          ("model", GradientBoostingRegressor(n_estimators=25, max_depth=3, random_state=0))]),
        "ColumnTransformer(SimpleImputer median | SimpleImputer most_frequent + OneHotEncoder) + GradientBoostingRegressor (converter option compact=False)",
        {"configure": {"compact": False}})
    F["pipeline_onehot_impute_dt_classifier"] = (s2p, mixed("classification"),
        lambda: Pipeline([("prep", _mixed_preprocessor(num_cols, cat_cols, scale=False)),
                          ("model", DecisionTreeClassifier(max_depth=5, random_state=0))]),
        "ColumnTransformer(SimpleImputer median | SimpleImputer most_frequent + OneHotEncoder) + DecisionTreeClassifier")
    F["pipeline_impute_mean_linreg_diabetes"] = (s2p,
        builtin("diabetes", 120, missing=(["age", "bmi", "bp", "s1", "s5"], 0.15)),
        lambda: Pipeline([("impute", SimpleImputer(strategy="mean")), ("scale", StandardScaler()),
                          ("model", LinearRegression())]),
        "SimpleImputer mean + StandardScaler + LinearRegression; inputs with missing cells")

    # nyoka exports
    F["nyoka_dt_classifier_iris"] = (nyk, builtin("iris", 150),
        lambda: DecisionTreeClassifier(max_depth=4, random_state=0),
        "DecisionTreeClassifier")
    F["nyoka_rf_classifier_wine"] = (nyk, builtin("wine", 100),
        lambda: RandomForestClassifier(n_estimators=8, max_depth=4, random_state=0, n_jobs=1),
        "RandomForestClassifier, 8 trees, 3 classes")
    F["nyoka_gbm_regressor_diabetes"] = (nyk, builtin("diabetes", 120),
        lambda: GradientBoostingRegressor(n_estimators=30, max_depth=3, random_state=0),
        "GradientBoostingRegressor, 30 trees")
    F["nyoka_logreg_scaled_breast_cancer"] = (nyk, builtin("breast_cancer", 120),
        lambda: _scaled(LogisticRegression(max_iter=1000)),
        "StandardScaler + LogisticRegression, binary")
    F["nyoka_mlp_classifier_iris"] = (nyk, builtin("iris", 150),
        lambda: _scaled(MLPClassifier(hidden_layer_sizes=(8, 6), max_iter=2000, random_state=0)),
        "StandardScaler + MLPClassifier (8, 6), 3 classes")
    F["nyoka_linreg_scaled_diabetes"] = (nyk, builtin("diabetes", 120),
        lambda: _scaled(LinearRegression()),
        "StandardScaler + LinearRegression")
    return F


def bench_documents():
    """Benchmark documents: realistically sized models on 20 numeric features."""
    from sklearn.ensemble import GradientBoostingClassifier, RandomForestClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.neural_network import MLPClassifier
    from sklearn.tree import DecisionTreeClassifier

    return {
        "tree": lambda: DecisionTreeClassifier(max_depth=10, min_samples_leaf=5, random_state=0),
        "forest": lambda: RandomForestClassifier(n_estimators=50, max_depth=8, min_samples_leaf=5,
                                                 random_state=0, n_jobs=1),
        "gbm": lambda: GradientBoostingClassifier(n_estimators=100, max_depth=3, random_state=0),
        "logistic": lambda: _scaled(LogisticRegression(max_iter=1000)),
        "mlp": lambda: _scaled(MLPClassifier(hidden_layer_sizes=(32, 16), max_iter=500, random_state=0)),
    }


def bench_data():
    from sklearn.datasets import make_classification
    X, y = make_classification(n_samples=6000, n_features=20, n_informative=12, n_redundant=4,
                               n_classes=2, flip_y=0.02, class_sep=0.8, random_state=42)
    X = pd.DataFrame(np.round(X, 6), columns=["x%02d" % i for i in range(1, 21)])
    y = pd.Series(y.astype(np.int64), name="y")
    # The first 5,000 rows train; the last 1,000 (distinct, unseen) are the benchmark input.
    return X.iloc[:5000], y.iloc[:5000], X.iloc[5000:].reset_index(drop=True)


# ---------------------------------------------------------------------------
# Cross-check against scikit-learn (diagnostic only; expected values come from JPMML)
# ---------------------------------------------------------------------------

def compare_with_sklearn(fitted, X_in, target, columns, rows):
    def col(name):
        if name not in columns:
            return None
        i = columns.index(name)
        return np.array([float(r[i]) if r[i] != "" else np.nan for r in rows])

    try:
        if hasattr(fitted, "predict_proba") and hasattr(fitted, "classes_"):
            try:
                proba = fitted.predict_proba(X_in)
            except Exception:
                proba = None
            if proba is not None:
                diffs = []
                for k, c in enumerate(fitted.classes_):
                    jp = col("probability(%s)" % c)
                    if jp is None:
                        jp = col("probability_%s" % c)
                    if jp is not None:
                        diffs.append(np.nanmax(np.abs(jp - proba[:, k])))
                if diffs:
                    return "max |p_jpmml - p_sklearn| = %.3g" % max(diffs)
        pred = fitted.predict(X_in)
        for name in (target, "predicted_" + str(target), "cluster", "predicted_target"):
            if name in columns:
                i = columns.index(name)
                got = [r[i] for r in rows]
                if np.issubdtype(np.asarray(pred).dtype, np.floating):
                    jp = np.array([float(g) if g != "" else np.nan for g in got])
                    return "max |y_jpmml - y_sklearn| = %.3g" % np.nanmax(np.abs(jp - pred))
                agree = sum(1 for g, p in zip(got, pred) if g == str(p))
                return "labels agree %d/%d" % (agree, len(got))
    except Exception as e:  # pragma: no cover - diagnostics only
        return "comparison failed: %s" % e
    return "no comparable column"


# ---------------------------------------------------------------------------
# Drivers
# ---------------------------------------------------------------------------

def pmml_model_summary(path):
    _, model, _ = pmml_structure(path)
    return "%s/%s" % (_local(model.tag), model.get("functionName"))


def generate_fixture(name, spec, out_dir):
    exporter, build_data, build_model, description = spec[:4]
    options = spec[4] if len(spec) > 4 else {}
    X, y, X_in = build_data()
    model = build_model()
    pmml_path = out_dir / (name + ".pmml")
    if exporter == "sklearn2pmml":
        fitted = export_sklearn2pmml(model, X, y, pmml_path, options)
    else:
        fitted = export_nyoka(model, X, y, pmml_path)
    normalize_pmml(pmml_path)
    fields = input_fields(pmml_path)
    input_path = out_dir / (name + ".input.csv")
    expected_path = out_dir / (name + ".expected.csv")
    write_inputs(input_path, X_in, fields)
    columns, rows = score_with_jpmml(pmml_path, input_path, expected_path)
    check = compare_with_sklearn(fitted, X_in, y.name, columns, rows)
    n_missing_in = sum(1 for v in X_in[fields].itertuples(index=False) for c in v if _is_missing(c))
    n_missing_out = sum(1 for r in rows for c in r if c == "")
    return {
        "name": name, "exporter": exporter, "description": description,
        "model": pmml_model_summary(pmml_path), "rows": len(rows), "inputs": len(fields),
        "outputs": columns, "missing_inputs": n_missing_in, "missing_outputs": n_missing_out,
        "bytes": pmml_path.stat().st_size, "check": check,
    }


README_HEAD = """# scikit-learn PMML reference fixtures

Generated by `scripts/pmml/generate_fixtures.py`; do not edit by hand. Regenerate with:

```sh
pip install -r scripts/pmml/requirements.txt
python3 scripts/pmml/generate_fixtures.py --set sklearn
```

(`--set bench` regenerates the benchmark documents in `../bench/`; without `--set`
both are written.) Models are trained on scikit-learn's built-in data sets (iris, wine,
breast_cancer, diabetes) or on synthetic data made in the script, with fixed random seeds,
so a rerun with the pinned package versions gives identical files. The `<Timestamp>` that
the exporters put in the PMML `Header` is removed for that reason.

## Files

For each fixture `<name>`:

- `<name>.pmml` - the document, as exported by sklearn2pmml (a `PMMLPipeline`) or by nyoka
  (`nyoka_*` fixtures).
- `<name>.input.csv` - 50-150 input rows. The header holds the model's input field names,
  exactly as in the PMML `DataDictionary`/`MiningSchema` (and in the order that
  JPMML-Evaluator lists its input fields). Some names contain spaces and parentheses.
  An empty cell is a missing value. Numbers are written with Python's `repr()`, strings
  as-is; RFC 4180 quoting where needed, `\\n` line ends.
- `<name>.expected.csv` - JPMML-Evaluator's results for each input row, in the same row
  order. One column per result field: the PMML `OutputField`s of the top-level model
  in document order (for a `modelChain` `MiningModel` without its own `Output`, such
  as sklearn2pmml's gradient boosting classifiers, those of its final segment, which is
  what JPMML-Evaluator reports); when the document has no such `Output` element, the
  target field(s) and, for classification, `probability(<category>)` for each category
  of the target `DataField` (in `DataDictionary` order). Output fields marked
  `isFinalResult="false"` (e.g. `predict(target)`) are included: JPMML-Evaluator returns
  them. Numbers are printed with full precision via `repr()` (so they parse back to the
  same double), integers and strings as-is; an empty cell is a missing result.

The expected values come from JPMML-Evaluator %(jpmml_version)s (through the
`jpmml_evaluator` Python package; rows are passed as the CSV's text cells, empty cells
as missing), not from scikit-learn. The generator also cross-checks them against
scikit-learn's own predictions and prints the differences, as a diagnostic only.

Notes:

- For the SVC documents (no `Output` element) the `probability(<category>)` columns are
  what JPMML-Evaluator returns for a `SupportVectorMachineModel` classification: the
  share of one-vs-one votes per category, not Platt-scaled probabilities.
- The `knn_*` documents expose the neighbours' row ids (`neighbor(k)`, `entityId`) from
  the embedded training instances; `knn_classifier_iris` and `dt_classifier_iris` also
  expose the predicted value through a `predict_transformer` (`predicted_target`).
- The `pipeline_*` fixtures have empty (missing) input cells, which the documents replace
  as `SimpleImputer` did (`MiningField` `missingValueReplacement`).
- Fields that the document declares with `dataType="float"` (sklearn2pmml does this for
  tree-based models) are evaluated by JPMML-Evaluator in single precision.

## Not included, and why

- nyoka with a multiclass `LogisticRegression`: nyoka writes a one-vs-rest model chain
  for scikit-learn's multinomial model, and JPMML-Evaluator scores it with all-zero
  probabilities; only the binary case is exported with nyoka.
- nyoka with a `RandomForestClassifier` after a `StandardScaler`: the document refers to
  the scaler's derived fields without defining them (JPMML-Evaluator: `Field
  "standardScaler(...)" is not defined`); the nyoka forest is exported without a scaler.
- sklearn2pmml with a `GradientBoostingRegressor` behind a one-hot encoder fails in the
  converter's tree compaction (`Element Node is not supported`);
  `pipeline_onehot_impute_gbm_regressor` is exported with `compact=False`.
- sklearn2pmml's `predict_transformer` (used to expose the predicted value) fails for
  `KNeighborsRegressor` and for the one-hot `LogisticRegression` pipeline (`Field
  'predict(...)' cannot be renamed`); those documents are exported without it.

## Fixtures

| name | exporter | PMML model | inputs | rows | missing input cells | result columns | description |
| --- | --- | --- | --- | --- | --- | --- | --- |
"""


def write_readme(out_dir, results, jpmml_version):
    lines = [README_HEAD % {"jpmml_version": jpmml_version}]
    for r in results:
        lines.append("| `%s` | %s | %s | %d | %d | %d | %s | %s |\n" % (
            r["name"], r["exporter"], r["model"], r["inputs"], r["rows"], r["missing_inputs"],
            ", ".join("`%s`" % c for c in r["outputs"]), r["description"]))
    (out_dir / "README.md").write_text("".join(lines), encoding="utf-8")


def jpmml_version():
    try:
        import jpmml_evaluator
        b = backend()
        pkg = b.staticInvoke("java.lang.Package", "getPackage", "org.jpmml.evaluator")
        v = pkg.getImplementationVersion() if pkg is not None else None
        if v:
            return str(v)
    except Exception:
        pass
    jars = sorted(Path(__import__("jpmml_evaluator").__file__).parent.glob("dependencies/pmml-evaluator-[0-9]*.jar"))
    return jars[0].stem.replace("pmml-evaluator-", "") if jars else "(unknown version)"


BENCH_README = """# PMML benchmark documents

Generated by `scripts/pmml/generate_fixtures.py --set bench`; do not edit by hand.

Binary classifiers on a synthetic 20-feature data set (`make_classification`,
`random_state=42`; 5,000 training rows), exported with sklearn2pmml:

| document | model |
| --- | --- |
| `tree.pmml` | DecisionTreeClassifier, max_depth 10 |
| `forest.pmml` | RandomForestClassifier, 50 trees, max_depth 8 |
| `gbm.pmml` | GradientBoostingClassifier, 100 trees, max_depth 3 |
| `logistic.pmml` | StandardScaler + LogisticRegression |
| `mlp.pmml` | StandardScaler + MLPClassifier (32, 16) |

`<name>.input.csv` holds 1,000 distinct rows not used in training (header = the input
field names; numbers only, no missing cells). A benchmark cycles them to 100,000 rows.
`python3 scripts/pmml/jpmml_bench.py` measures JPMML-Evaluator on these documents.
"""


def generate_bench(out_dir):
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "README.md").write_text(BENCH_README, encoding="utf-8")
    X, y, X_in = bench_data()
    for name, build_model in bench_documents().items():
        pmml_path = out_dir / (name + ".pmml")
        fitted = export_sklearn2pmml(build_model(), X, y, pmml_path)
        normalize_pmml(pmml_path)
        fields = input_fields(pmml_path)
        write_inputs(out_dir / (name + ".input.csv"), X_in, fields)
        acc = float(np.mean(fitted.predict(X_in) == bench_data_labels()))
        print("bench %-9s %8d bytes  %d inputs  holdout accuracy %.3f" % (
            name, pmml_path.stat().st_size, len(fields), acc), flush=True)


def bench_data_labels():
    from sklearn.datasets import make_classification
    _, y = make_classification(n_samples=6000, n_features=20, n_informative=12, n_redundant=4,
                               n_classes=2, flip_y=0.02, class_sep=0.8, random_state=42)
    return y[5000:]


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--set", choices=["all", "sklearn", "bench"], default="all")
    ap.add_argument("--only", help="comma-separated fixture names (sklearn set only; README is not rewritten)")
    args = ap.parse_args(argv)

    failures = []
    if args.set in ("all", "sklearn"):
        SKLEARN_DIR.mkdir(parents=True, exist_ok=True)
        catalogue = fixtures()
        names = list(catalogue)
        if args.only:
            names = [n.strip() for n in args.only.split(",") if n.strip()]
            unknown = [n for n in names if n not in catalogue]
            if unknown:
                ap.error("unknown fixture(s): %s" % ", ".join(unknown))
        else:
            # Remove files of fixtures that are no longer in the catalogue.
            for p in SKLEARN_DIR.iterdir():
                base = p.name.split(".")[0]
                if p.suffix in (".pmml", ".csv") and base not in catalogue:
                    p.unlink()
        results = []
        for name in names:
            try:
                r = generate_fixture(name, catalogue[name], SKLEARN_DIR)
            except Exception as e:
                msg = str(e).splitlines()[0] if str(e) else type(e).__name__
                print("FAILED   %-40s %s" % (name, msg), flush=True)
                failures.append((name, msg))
                for suffix in (".pmml", ".input.csv", ".expected.csv"):
                    (SKLEARN_DIR / (name + suffix)).unlink(missing_ok=True)
                continue
            results.append(r)
            print("ok       %-40s %-12s %-40s %4d rows %7d bytes  %s" % (
                name, r["exporter"], r["model"], r["rows"], r["bytes"], r["check"]), flush=True)
        if not args.only:
            write_readme(SKLEARN_DIR, results, jpmml_version())
    if args.set in ("all", "bench"):
        generate_bench(BENCH_DIR)
    if failures:
        print("%d fixture(s) failed: %s" % (len(failures), ", ".join(n for n, _ in failures)))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
