#!/usr/bin/env python3
"""One DP peer on shuyu's generated `residents` table, driven by `shuyu-bench --peers`.

    run_peer.py --peer smartnoise --job job.json --out result.json

The job file (written by shuyu-bench) names the Parquet file, its row count, the public
district keys, the clamping bounds, the epsilons to run at, delta and the repetitions. The
peer loads the table once (timed as `load_s`), then for each epsilon and each of the three
shared queries makes `reps` fresh DP releases, timing each one end to end (rewrite or
compile, execute, noise, fetch into Python). Answers are written as cells
(`"<district>|<measure>"` or `"|count"`); shuyu-bench scores them against its own exact
answers, the same way it scores shuyu, so every system is judged by one function.

Queries (privacy unit: one row = one person, so each person contributes once):
    Q1  SELECT COUNT(*) FROM residents
    Q2  SELECT district, COUNT(*), SUM(income) FROM residents GROUP BY district
    Q3  SELECT district, AVG(age) FROM residents WHERE employed GROUP BY district

Peers: smartnoise (smartnoise-sql over pandas), opendp_polars (OpenDP Context + Polars),
tumult (tmlt.analytics on local Spark; its own venv), qrlew_duckdb (pyqrlew's DP rewrite
run by DuckDB), exact_duckdb (NOT private: the engine-time floor). A peer whose package is
missing exits with status "skipped".
"""
import argparse
import json
import os
import sys
import time
import traceback

COLUMNS = ["person_id", "district", "age", "income", "employed"]
QUERY_NAMES = ["Q1", "Q2", "Q3"]


def grouped(rows, measures):
    """{"<key>|<measure>": value} from rows of (key, v1, v2, ...)."""
    cells = {}
    for row in rows:
        for name, value in zip(measures, row[1:]):
            cells[f"{row[0]}|{name}"] = None if value is None else float(value)
    return cells


def total(value):
    return {"|count": float(value)}


class Peer:
    """Base: `load()` once, then `release(query, eps)` per DP release."""

    packages = []

    def __init__(self, job):
        self.job = job
        self.path = job["parquet"]
        self.rows = job["rows"]
        self.keys = job["districts"]
        self.age = tuple(job["age_bounds"])
        self.income = tuple(job["income_bounds"])
        self.delta = job["delta"]
        self.notes = []

    def close(self):
        pass


class SmartNoise(Peer):
    packages = ["smartnoise-sql", "opendp", "pandas"]

    def load(self):
        import pandas as pd
        import snsql
        self.Privacy = snsql.Privacy
        table = {
            "max_ids": 1, "sample_max_ids": False, "row_privacy": False,
            "censor_dims": False,  # districts are public keys: no thresholding
            "clamp_counts": False, "clamp_columns": True,
            "person_id": {"type": "int", "private_id": True},
            "district": {"type": "string"},
            "age": {"type": "int", "lower": self.age[0], "upper": self.age[1]},
            "income": {"type": "float", "lower": self.income[0], "upper": self.income[1]},
            "employed": {"type": "boolean"},
        }
        frame = pd.read_parquet(self.path, columns=COLUMNS)
        self.reader = snsql.from_df(frame, privacy=self.Privacy(epsilon=1.0, delta=self.delta),
                                    metadata={"": {"city": {"residents": table}}})
        t = "city.residents"
        self.sql = {
            "Q1": f"SELECT COUNT(*) AS n FROM {t}",
            "Q2": f"SELECT district, COUNT(*) AS n, SUM(income) AS s FROM {t} GROUP BY district",
            "Q3": f"SELECT district, AVG(age) AS a FROM {t} WHERE employed GROUP BY district",
        }
        self.per_column = {}
        self.notes.append("epsilon is per noisy column in smartnoise-sql: scaled so that "
                          "get_privacy_cost of each query equals the target epsilon")

    def _per_column(self, q, eps):
        # Cost is linear in the per-column epsilon for these queries: measure it at 1.
        if (q, eps) not in self.per_column:
            self.reader.privacy = self.Privacy(epsilon=1.0, delta=self.delta)
            unit_cost, _ = self.reader.get_privacy_cost(self.sql[q])
            self.per_column[(q, eps)] = eps / unit_cost
        return self.per_column[(q, eps)]

    def release(self, q, eps):
        self.reader.privacy = self.Privacy(epsilon=self._per_column(q, eps), delta=self.delta)
        df = self.reader.execute_df(self.sql[q])
        if q == "Q1":
            return total(df["n"].iloc[0])
        if q == "Q2":
            return grouped(df[["district", "n", "s"]].itertuples(index=False), ["count", "sum"])
        return grouped(df[["district", "a"]].itertuples(index=False), ["avg"])


class OpenDPPolars(Peer):
    packages = ["opendp", "polars"]

    def load(self):
        import opendp.prelude as dp
        import polars as pl
        dp.enable_features("contrib")
        self.dp, self.pl = dp, pl
        # OpenDP's bundled Polars cannot deserialize a Parquet scan: materialise the frame.
        self.frame = pl.read_parquet(self.path, columns=COLUMNS).lazy()
        self.key_frame = pl.LazyFrame({"district": self.keys})
        self.contexts = {}
        self.notes.append("one dp.Context per epsilon, pure DP, split evenly over its releases")

    def _context(self, eps):
        dp = self.dp
        if eps not in self.contexts:
            releases = len(QUERY_NAMES) * self.job["reps"]
            self.contexts[eps] = dp.Context.compositor(
                data=self.frame,
                privacy_unit=dp.unit_of(contributions=1),
                privacy_loss=dp.loss_of(epsilon=eps * releases),
                split_evenly_over=releases,
                margins=[
                    dp.polars.Margin(by=[], max_length=self.rows),
                    dp.polars.Margin(by=["district"], invariant="keys", max_length=self.rows,
                                     max_groups=len(self.keys)),
                ],
            )
        return self.contexts[eps]

    def release(self, q, eps):
        dp, pl = self.dp, self.pl
        ctx = self._context(eps)
        if q == "Q1":
            out = ctx.query().select(dp.len()).release().collect()
            return total(out["len"][0])
        if q == "Q2":
            out = (ctx.query().group_by("district")
                   .agg([dp.len().alias("n"),
                         pl.col("income").fill_null(0.0).fill_nan(0.0).dp.sum(self.income).alias("s")])
                   .release().collect())
            return grouped(out.select(["district", "n", "s"]).iter_rows(), ["count", "sum"])
        # A filter drops the keys invariant: join the released groups back to the public keys.
        out = (ctx.query().filter(pl.col("employed")).group_by("district")
               .agg(pl.col("age").fill_null(0).dp.mean(self.age).alias("a"))
               .join(self.key_frame, on="district", how="right")
               .release().collect())
        return grouped(out.select(["district", "a"]).iter_rows(), ["avg"])


class Tumult(Peer):
    packages = ["tmlt.analytics", "tmlt.core", "pyspark"]

    def load(self):
        os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
        from pyspark.sql import SparkSession
        from pyspark.sql import functions as F
        from tmlt.analytics import AddOneRow, KeySet, PureDPBudget, QueryBuilder, Session
        self.spark = (SparkSession.builder.master("local[2]").appName("shuyu-bench")
                      .config("spark.driver.memory", "6g")
                      .config("spark.sql.shuffle.partitions", "4")
                      .config("spark.ui.enabled", "false")
                      .config("spark.driver.host", "127.0.0.1")
                      .config("spark.driver.bindAddress", "127.0.0.1")
                      .getOrCreate())
        self.spark.sparkContext.setLogLevel("ERROR")
        self.Budget, self.QB = PureDPBudget, QueryBuilder
        # tmlt.analytics refuses BooleanType columns.
        frame = (self.spark.read.parquet(self.path).select(*COLUMNS)
                 .withColumn("employed", F.col("employed").cast("int"))).cache()
        frame.count()
        releases = len(QUERY_NAMES) * self.job["reps"]
        budget = sum(self.job["epsilons"]) * releases
        self.session = Session.from_dataframe(privacy_budget=PureDPBudget(budget), source_id="residents",
                                              dataframe=frame, protected_change=AddOneRow())
        self.key_set = KeySet.from_dict({"district": self.keys})
        self.notes.append("load includes starting Spark (local[2]) and caching the frame; "
                          "Q2 is two evaluate() calls at eps/2 each")

    def release(self, q, eps):
        QB, B = self.QB, self.Budget
        if q == "Q1":
            df = self.session.evaluate(QB("residents").count(), B(eps)).toPandas()
            return total(df["count"].iloc[0])
        if q == "Q2":
            c = self.session.evaluate(QB("residents").groupby(self.key_set).count(), B(eps / 2)).toPandas()
            s = self.session.evaluate(QB("residents").groupby(self.key_set)
                                      .sum("income", *self.income, name="s"), B(eps / 2)).toPandas()
            m = c.merge(s, on="district")
            return grouped(m[["district", "count", "s"]].itertuples(index=False), ["count", "sum"])
        a = self.session.evaluate(QB("residents").filter("employed = 1").groupby(self.key_set)
                                  .average("age", *self.age, name="a"), B(eps)).toPandas()
        return grouped(a[["district", "a"]].itertuples(index=False), ["avg"])

    def close(self):
        self.spark.stop()


class QrlewDuckDB(Peer):
    packages = ["pyqrlew", "duckdb"]

    def load(self):
        import duckdb
        import sqlalchemy
        from pyqrlew import Dataset
        self.con = duckdb.connect()
        cols = ", ".join(COLUMNS)
        self.con.execute(f"CREATE TABLE residents AS SELECT {cols} FROM read_parquet('{self.path}')")
        self.dataset = self._dataset(Dataset, sqlalchemy)
        self.sql = {
            "Q1": "SELECT COUNT(*) AS n FROM residents",
            "Q2": "SELECT district, COUNT(*) AS n, SUM(income) AS s FROM residents GROUP BY district",
            "Q3": "SELECT district, AVG(age) AS a FROM residents WHERE employed GROUP BY district",
        }
        self.notes.append("approx DP (Gaussian mechanism) at (epsilon, delta); PostgreSQL-dialect "
                          "rewrite executed by DuckDB")

    def _dataset(self, Dataset, sqlalchemy):
        # pyqrlew introspects tables through SQLAlchemy, which DuckDB does not speak: declare
        # the same columns in an empty SQLite table, then set the declared row count (qrlew
        # reads sizes, not data) and bound the columns publicly.
        import sqlite3
        import uuid
        path = os.path.join(self.job["work_dir"], "qrlew-schema.sqlite")
        if os.path.exists(path):
            os.remove(path)
        lite = sqlite3.connect(path)
        lite.execute("CREATE TABLE residents (person_id INTEGER, district TEXT, age INTEGER, "
                     "income REAL, employed BOOLEAN)")
        lite.commit()
        lite.close()
        empty = Dataset.from_database("city", sqlalchemy.create_engine(f"sqlite:///{path}"))
        size = json.loads(empty.size)

        def with_rows(node):
            # Every statistics node that carries a multiplicity gets the row count as size.
            if isinstance(node, dict):
                out = {k: with_rows(v) for k, v in node.items() if k != "size"}
                if "multiplicity" in node:
                    out["size"] = str(self.rows)
                return out
            if isinstance(node, list):
                return [with_rows(v) for v in node]
            return node

        size["statistics"] = with_rows(size["statistics"])
        spec = {"@type": "sarus_data_spec/sarus_data_spec.Dataset", "uuid": size["dataset"], "name": "Transformed",
                "spec": {"transformed": {"transform": uuid.uuid4().hex, "arguments": [], "named_arguments": {}}},
                "properties": {}, "doc": "shuyu-bench residents"}
        ds = Dataset.from_str(json.dumps(spec), empty.schema, json.dumps(size))
        ds = ds.residents.age.with_range(*self.age)
        ds = ds.residents.income.with_range(*self.income)
        return ds.residents.district.with_possible_values(self.keys)

    def release(self, q, eps):
        relation = self.dataset.relation(self.sql[q])
        dp = relation.rewrite_with_differential_privacy(
            self.dataset, [("residents", [], "person_id")], {"epsilon": eps, "delta": self.delta},
            max_multiplicity=1)
        res = self.con.execute(dp.relation().to_query())
        names = [d[0] for d in res.description]
        rows = res.fetchall()
        at = {n: i for i, n in enumerate(names)}
        if q == "Q1":
            return total(rows[0][at["n"]])
        if q == "Q2":
            return grouped([(r[at["district"]], r[at["n"]], r[at["s"]]) for r in rows], ["count", "sum"])
        return grouped([(r[at["district"]], r[at["a"]]) for r in rows], ["avg"])


class ExactDuckDB(Peer):
    packages = ["duckdb"]

    def load(self):
        import duckdb
        self.con = duckdb.connect()
        cols = ", ".join(COLUMNS)
        self.con.execute(f"CREATE TABLE residents AS SELECT {cols} FROM read_parquet('{self.path}')")
        self.notes.append("NOT differentially private: exact answers (engine-time floor)")

    def release(self, q, eps):
        lo, hi = self.income
        alo, ahi = self.age
        if q == "Q1":
            return total(self.con.execute("SELECT COUNT(*) FROM residents").fetchone()[0])
        if q == "Q2":
            rows = self.con.execute(f"SELECT district, COUNT(*), SUM(LEAST(GREATEST(income, {lo}), {hi})) "
                                    "FROM residents GROUP BY district").fetchall()
            return grouped(rows, ["count", "sum"])
        rows = self.con.execute(f"SELECT district, AVG(LEAST(GREATEST(age, {alo}), {ahi})) FROM residents "
                                "WHERE employed GROUP BY district").fetchall()
        return grouped(rows, ["avg"])


PEERS = {
    "smartnoise": SmartNoise,
    "opendp_polars": OpenDPPolars,
    "tumult": Tumult,
    "qrlew_duckdb": QrlewDuckDB,
    "exact_duckdb": ExactDuckDB,
}


def versions(names):
    from importlib.metadata import PackageNotFoundError, version
    out = {}
    for n in names:
        try:
            out[n] = version(n)
        except PackageNotFoundError:
            out[n] = None
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--peer", required=True, choices=sorted(PEERS))
    ap.add_argument("--job", required=True, help="job file written by shuyu-bench")
    ap.add_argument("--out", required=True, help="where to write the result JSON")
    args = ap.parse_args()
    with open(args.job) as f:
        job = json.load(f)
    cls = PEERS[args.peer]
    result = {"peer": args.peer, "python": sys.version.split()[0], "versions": versions(cls.packages)}
    if any(v is None for v in result["versions"].values()):
        missing = [k for k, v in result["versions"].items() if v is None]
        result.update(status="skipped", reason=f"not installed: {', '.join(missing)}")
    else:
        try:
            peer = cls(job)
            t0 = time.perf_counter()
            peer.load()
            result["load_s"] = time.perf_counter() - t0
            runs = []
            for eps in job["epsilons"]:
                for q in QUERY_NAMES:
                    times, answers = [], []
                    for _ in range(job["reps"]):
                        t0 = time.perf_counter()
                        cells = peer.release(q, eps)
                        times.append(time.perf_counter() - t0)
                        answers.append(cells)
                    runs.append({"query": q, "epsilon": eps, "times_s": times, "answers": answers})
                    # Written after every query, so a peer stopped for time keeps what it did.
                    write(args.out, dict(result, status="partial", runs=runs, notes=peer.notes))
            peer.close()
            result.update(status="ok", runs=runs, notes=peer.notes)
        except Exception as e:  # reported, never fatal to the suite
            result.update(status="error", reason=f"{type(e).__name__}: {e}"[:1500],
                          traceback=traceback.format_exc()[-3000:])
    write(args.out, result)


def peak_rss_bytes():
    """VmHWM of this process (getrusage's maxrss would carry over the RSS of the process
    that forked it); None off Linux."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None


def write(path, result):
    """Writes the result atomically, with this process's peak RSS."""
    result = dict(result, peak_rss_bytes=peak_rss_bytes())
    with open(path + ".tmp", "w") as f:
        json.dump(result, f)
    os.replace(path + ".tmp", path)


if __name__ == "__main__":
    main()
