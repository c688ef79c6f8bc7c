#!/usr/bin/env python3
"""Measure JPMML-Evaluator's single-threaded scoring throughput on the bench documents.

For each document in Tests/AssayPMMLTests/Fixtures/bench/ (tree, forest, gbm, logistic,
mlp), runs scripts/pmml/JpmmlBench.java in its own JVM: the document is loaded with
JPMML-Evaluator, then 100,000 rows (the document's input CSV, cycled) are scored in
one thread inside the JVM, after warm-up passes; the median rows/s over the measured
passes is reported. No Python<->Java bridge is on the measured path: the Java class is
compiled with javac against the JPMML-Evaluator jars that the jpmml_evaluator PyPI
package ships (installed with pip when missing).

Output (stdout), one line per document:
    jpmml tree rows_per_second=123456 checksum=4567.25
(the checksum sums the numeric results of one pass, as `assay bench pmml` does) or with
--json a single JSON object {"tree": 123456, ...}. Progress goes to stderr. With
--expected-dir DIR, DIR/NAME.expected.csv receives JPMML's results for every distinct
input row, which `assay bench pmml --expected DIR` compares its own results with.

Usage:
    python3 scripts/pmml/jpmml_bench.py [--json] [--rows 100000] [--warmup 2] [--passes 5]
                                        [--expected-dir DIR] [NAME ...]
"""

import argparse
import hashlib
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
BENCH_DIR = REPO / "Tests" / "AssayPMMLTests" / "Fixtures" / "bench"
JAVA_SOURCE = HERE / "JpmmlBench.java"
DOCUMENTS = ["tree", "forest", "gbm", "logistic", "mlp"]
JPMML_EVALUATOR_REQUIREMENT = "jpmml_evaluator==0.16.0"
# One GC thread, bounded heap: the machine is shared.
JVM_OPTS = ["-XX:+UseSerialGC", "-Xms256m", "-Xmx1g"]


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def jpmml_package_dir():
    spec = importlib.util.find_spec("jpmml_evaluator")
    if spec is None:
        log("jpmml_evaluator not found; installing %s with pip" % JPMML_EVALUATOR_REQUIREMENT)
        subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", JPMML_EVALUATOR_REQUIREMENT], check=True)
        importlib.invalidate_caches()
        spec = importlib.util.find_spec("jpmml_evaluator")
        if spec is None:
            sys.exit("jpmml_evaluator is still not importable after pip install")
    return Path(list(spec.submodule_search_locations)[0])


def jpmml_classpath():
    pkg = jpmml_package_dir()
    jars = sorted(str(p) for sub in ("resources", "dependencies") for p in (pkg / sub).glob("*.jar"))
    if not any("pmml-evaluator-" in Path(j).name for j in jars):
        sys.exit("no pmml-evaluator jar under %s" % pkg)
    return jars


def tool(name):
    path = shutil.which(name)
    if path is None:
        java_home = os.environ.get("JAVA_HOME")
        if java_home and (Path(java_home) / "bin" / name).exists():
            return str(Path(java_home) / "bin" / name)
        sys.exit("%s not found: install a JDK (e.g. apt-get install openjdk-17-jdk-headless)" % name)
    return path


def compile_bench(classpath):
    source = JAVA_SOURCE.read_bytes()
    key = hashlib.sha256(source + "\n".join(classpath).encode()).hexdigest()[:16]
    out = Path(tempfile.gettempdir()) / ("jpmml-bench-" + key)
    if not (out / "JpmmlBench.class").exists():
        out.mkdir(parents=True, exist_ok=True)
        log("compiling %s" % JAVA_SOURCE.name)
        subprocess.run([tool("javac"), "-nowarn", "-d", str(out), "-cp", os.pathsep.join(classpath), str(JAVA_SOURCE)],
                       check=True)
    return out


def run_one(name, classes, classpath, args):
    pmml = BENCH_DIR / (name + ".pmml")
    csv = BENCH_DIR / (name + ".input.csv")
    for p in (pmml, csv):
        if not p.exists():
            sys.exit("%s is missing; run: python3 scripts/pmml/generate_fixtures.py --set bench" % p)
    cmd = [tool("java")] + JVM_OPTS + ["-cp", os.pathsep.join([str(classes)] + classpath), "JpmmlBench",
                                       name, str(pmml), str(csv), str(args.rows), str(args.warmup), str(args.passes)]
    if args.expected_dir:
        Path(args.expected_dir).mkdir(parents=True, exist_ok=True)
        cmd.append(str(Path(args.expected_dir) / (name + ".expected.csv")))
    proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=None if args.verbose else subprocess.PIPE, text=True)
    if proc.returncode != 0:
        if proc.stderr:
            log(proc.stderr)
        sys.exit("JpmmlBench failed for %s (exit %d)" % (name, proc.returncode))
    for line in proc.stdout.splitlines():
        parts = line.split()
        if len(parts) == 4 and parts[:2] == ["jpmml", name] and parts[2].startswith("rows_per_second="):
            return int(parts[2].split("=", 1)[1]), parts[3].split("=", 1)[1]
    sys.exit("unexpected JpmmlBench output for %s: %r" % (name, proc.stdout))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("names", nargs="*", help="documents to run (default: %s)" % " ".join(DOCUMENTS))
    ap.add_argument("--json", action="store_true", help="print one JSON object {name: rows_per_second}")
    ap.add_argument("--rows", type=int, default=100_000, help="rows scored per pass (input cycled)")
    ap.add_argument("--warmup", type=int, default=2, help="unmeasured warm-up passes")
    ap.add_argument("--passes", type=int, default=5, help="measured passes (the median is reported)")
    ap.add_argument("--verbose", action="store_true", help="show the per-pass figures")
    ap.add_argument("--expected-dir", help="write JPMML's results for every distinct input row to DIR/NAME.expected.csv")
    args = ap.parse_args(argv)
    names = args.names or DOCUMENTS
    unknown = [n for n in names if n not in DOCUMENTS]
    if unknown:
        ap.error("unknown document(s): %s" % ", ".join(unknown))

    classpath = jpmml_classpath()
    classes = compile_bench(classpath)
    results = {}
    for name in names:
        log("running %s" % name)
        results[name], checksum = run_one(name, classes, classpath, args)
        if not args.json:
            print("jpmml %s rows_per_second=%d checksum=%s" % (name, results[name], checksum), flush=True)
    if args.json:
        print(json.dumps(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
