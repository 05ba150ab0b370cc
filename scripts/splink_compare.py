#!/usr/bin/env python3
"""Run Splink (DuckDB backend) on the labelled CSV the matching benchmark writes, and print
the same figures: pairwise precision, recall, F1 and records/s (training included) at match
probabilities 0.5, 0.9 and 0.99.

    cargo bench -p marketingforce-crm --features testing --bench matching      # writes the CSV
    python3 scripts/splink_compare.py [path/to/harder-20000.csv]

The script makes its own virtual environment under `$CARGO_TARGET_DIR` (or `target/`) and
pip-installs splink and duckdb into it on first use: a registry is needed at benchmark time
only, never by the tests. The Splink model is the one its documentation teaches for person
deduplication: forename/surname with a swap level, date of birth, postcode, address, region,
company, mobile and email; u by random sampling, m by EM over two blocking sessions.
"""

import os
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

THRESHOLDS = [0.5, 0.9, 0.99]


def target_dir() -> Path:
    return Path(os.environ.get("CARGO_TARGET_DIR", "target"))


def ensure_venv() -> None:
    """Re-run this script inside a venv that has splink, creating it if needed."""
    if os.environ.get("SPLINK_COMPARE_IN_VENV") == "1":
        return
    venv = target_dir() / "splink-venv"
    py = venv / "bin" / "python"
    if not py.exists():
        subprocess.check_call([sys.executable, "-m", "venv", str(venv)])
    try:
        subprocess.check_call(
            [str(py), "-c", "import splink, duckdb"], stderr=subprocess.DEVNULL
        )
    except subprocess.CalledProcessError:
        subprocess.check_call(
            [str(py), "-m", "pip", "install", "-q", "splink>=4,<6", "duckdb"]
        )
    env = dict(os.environ, SPLINK_COMPARE_IN_VENV="1")
    os.execve(str(py), [str(py), *sys.argv], env)


def pairwise(truth: list, clusters: list) -> tuple:
    def pairs(counts):
        return sum(n * (n - 1) // 2 for n in counts.values())

    tp = pairs(Counter(zip(clusters, truth)))
    predicted = pairs(Counter(clusters))
    actual = pairs(Counter(truth))
    precision = tp / predicted if predicted else 1.0
    recall = tp / actual if actual else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return precision, recall, f1


def main() -> None:
    ensure_venv()
    import logging

    import duckdb
    import splink
    import splink.comparison_library as cl
    from splink import DuckDBAPI, Linker, SettingsCreator, block_on

    logging.getLogger("splink").setLevel(logging.ERROR)
    if len(sys.argv) > 1:
        csv = Path(sys.argv[1])
    else:
        found = sorted((target_dir() / "dedupe-eval").glob("harder-*.csv"))
        if not found:
            sys.exit(
                "no CSV: run `cargo bench -p marketingforce-crm --features testing "
                "--bench matching` first"
            )
        csv = found[-1]

    con = duckdb.connect()
    cols = [
        "given_name",
        "family_name",
        "dob",
        "postcode",
        "address",
        "region",
        "company",
        "mobile",
        "email",
    ]
    select = ", ".join(f"nullif(trim({c}), '') as {c}" for c in cols)
    con.execute(
        f"""create table records as
        select cast(unique_id as bigint) as unique_id, cluster, {select},
               nullif(concat_ws(' ', nullif(given_name, ''), nullif(family_name, '')), '')
                   as name_concat
        from read_csv('{csv}', all_varchar = true, header = true)"""
    )
    n = con.execute("select count(*) from records").fetchone()[0]
    truth_rows = con.execute("select unique_id, cluster from records").fetchall()
    truth = {uid: c for uid, c in truth_rows}

    t0 = time.perf_counter()
    db_api = DuckDBAPI(connection=con)
    df = db_api.register("records")
    settings = SettingsCreator(
        link_type="dedupe_only",
        comparisons=[
            cl.ForenameSurnameComparison(
                "given_name",
                "family_name",
                forename_surname_concat_col_name="name_concat",
            ),
            cl.DateOfBirthComparison("dob", input_is_string=True),
            cl.LevenshteinAtThresholds("postcode", [1]),
            cl.JaroWinklerAtThresholds("address", [0.9, 0.7]),
            cl.ExactMatch("region"),
            cl.JaroWinklerAtThresholds("company", [0.92, 0.8]),
            cl.ExactMatch("mobile"),
            cl.ExactMatch("email"),
        ],
        blocking_rules_to_generate_predictions=[
            block_on("mobile"),
            block_on("email"),
            block_on("given_name", "family_name"),
            block_on("dob"),
            block_on("family_name", "postcode"),
            block_on("given_name", "postcode"),
            block_on("substr(given_name, 1, 2)", "substr(family_name, 1, 2)"),
            "l.given_name = r.family_name and l.family_name = r.given_name",
        ],
        retain_intermediate_calculation_columns=False,
    )
    linker = Linker(df, settings, log_level=logging.ERROR)
    linker.training.estimate_probability_two_random_records_match(
        [block_on("given_name", "family_name", "dob")], recall=0.6
    )
    linker.training.estimate_u_using_random_sampling(max_pairs=1e6, seed=1)
    linker.training.estimate_parameters_using_expectation_maximisation(
        block_on("given_name", "family_name")
    )
    linker.training.estimate_parameters_using_expectation_maximisation(block_on("dob"))
    predictions = linker.inference.predict(threshold_match_probability=0.01)
    t_model = time.perf_counter() - t0

    print(f"Splink {splink.__version__} (DuckDB {duckdb.__version__}) on {csv}: {n} records")
    print(f"| {'matcher':<44} | {'precision':>9} | {'recall':>9} | {'F1':>9} | {'records/s':>12} |")
    print(f"|{'-' * 46}|{'-' * 11}|{'-' * 11}|{'-' * 11}|{'-' * 14}|")
    for p in THRESHOLDS:
        t1 = time.perf_counter()
        clusters = linker.clustering.cluster_pairwise_predictions_at_threshold(
            predictions, threshold_match_probability=p
        )
        rows = con.execute(
            f"select unique_id, cluster_id from {clusters.physical_name}"
        ).fetchall()
        took = t_model + time.perf_counter() - t1
        ids = [uid for uid, _ in rows]
        precision, recall, f1 = pairwise(
            [truth[i] for i in ids], [c for _, c in rows]
        )
        label = f"Splink, p >= {p}"
        print(
            f"| {label:<44} | {precision:>9.4f} | {recall:>9.4f} | {f1:>9.4f} | {n / took:>12.0f} |"
        )


if __name__ == "__main__":
    main()
