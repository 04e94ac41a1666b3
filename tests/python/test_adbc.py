"""A data scientist's session: `shuyu demo` serving Flight SQL, Python ADBC, polars.

Starts the built binary (path in SHUYU_BIN) as
`shuyu demo --rows 5000 --listen 127.0.0.1:0 --data-dir <tmp>`, waits for the
credentials.json it writes once the port is bound, and talks to it with the ADBC Flight SQL
driver exactly as an analyst would.
"""

import http.client
import json
import urllib.parse
import os
import signal
import subprocess
import time
from pathlib import Path

import adbc_driver_flightsql.dbapi as flightsql
from adbc_driver_manager import AdbcStatusCode
import polars as pl
import pytest

STARTUP_TIMEOUT_S = 600
GROUPED = "SELECT district, COUNT(*) AS n FROM residents GROUP BY district ORDER BY district"


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    binary = os.environ.get("SHUYU_BIN")
    assert binary, "set SHUYU_BIN to the built shuyu binary (scripts/test.sh does)"
    data_dir = tmp_path_factory.mktemp("demo")
    log = open(data_dir / "demo.log", "w")
    proc = subprocess.Popen(
        [binary, "demo", "--rows", "5000", "--listen", "127.0.0.1:0", "--console-listen", "127.0.0.1:0",
         "--data-dir", str(data_dir)],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    creds_path = data_dir / "credentials.json"
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    while not creds_path.exists():
        if proc.poll() is not None:
            pytest.fail(f"shuyu demo exited with {proc.returncode}:\n{(data_dir / 'demo.log').read_text()}")
        if time.monotonic() > deadline:
            proc.kill()
            pytest.fail("shuyu demo did not write credentials.json in time")
        time.sleep(0.2)
    creds = json.loads(creds_path.read_text())
    try:
        yield creds
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            code = proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            code = None
        log.close()
    assert code == 0, f"shuyu demo did not stop cleanly on Ctrl-C (exit {code})"


def unit(creds, name):
    return next(u for u in creds["units"] if u["unit"] == name)


def connect(creds, name, environment="prod"):
    u = unit(creds, name)
    return flightsql.connect(
        creds["flight_sql_uri"],
        db_kwargs={
            "adbc.flight.sql.authorization_header": f"Bearer {u['analyst_token']}",
            "adbc.flight.sql.rpc.call_header.x-shuyu-authorization": u["authorization"],
            "adbc.flight.sql.rpc.call_header.x-shuyu-environment": environment,
        },
        # Every query is its own job; the server has no transactions.
        autocommit=True,
    )


def test_credentials_name_the_bound_port(demo):
    uri = demo["flight_sql_uri"]
    assert uri.startswith("grpc://127.0.0.1:")
    assert int(uri.rsplit(":", 1)[1]) > 0
    # The third unit was admitted through the authorization workflow the demo walks.
    assert {u["unit"] for u in demo["units"]} == {"chunhe-health", "beilin-jobs", "nanhu-mobility"}


def console_request(demo, method, path, body=None, cookie=None):
    url = urllib.parse.urlsplit(demo["console_url"])
    conn = http.client.HTTPConnection(url.hostname, url.port, timeout=30)
    headers = {"Content-Type": "application/x-www-form-urlencoded"} if body else {}
    if cookie:
        headers["Cookie"] = cookie
    conn.request(method, path, body=body, headers=headers)
    response = conn.getresponse()
    return response, response.read().decode()


def test_the_console_signs_in_the_bureau_and_shows_the_walked_unit(demo):
    assert demo["console_url"].startswith("http://127.0.0.1:")
    roles = {s["role"] for s in demo["console_sign_ins"]}
    assert roles == {"bureau_admin", "unit_analyst", "supervisor", "expert", "provider"}, roles
    response, page = console_request(demo, "GET", "/console/sign-in")
    assert response.status == 200
    assert "default-src 'none'" in response.getheader("Content-Security-Policy")
    assert 'id="sign-in"' in page
    bureau = next(s for s in demo["console_sign_ins"] if s["role"] == "bureau_admin")
    body = urllib.parse.urlencode({"token": bureau["token"]})
    response, _ = console_request(demo, "POST", "/console/sign-in", body=body)
    assert response.status == 303
    cookie = response.getheader("Set-Cookie")
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie, cookie
    response, page = console_request(demo, "GET", "/console/", cookie=cookie.split(";")[0])
    assert response.status == 200
    assert "nanhu-mobility" in page


def test_a_grouped_count_reads_into_polars(demo):
    # chunhe-health's results are released automatically (beilin-jobs' wait for review).
    with connect(demo, "chunhe-health") as conn, conn.cursor() as cur:
        cur.execute(GROUPED)
        table = cur.fetch_arrow_table()
    df = pl.from_arrow(table)
    assert df.shape == (12, 2)
    assert df.columns == ["district", "n"]
    assert df["n"].min() >= 0
    assert abs(df["n"].sum() - 5000) < 500
    metadata = table.schema.metadata or {}
    assert b"shuyu.cost" in metadata, metadata
    assert float(metadata[b"shuyu.budget_remaining"]) < 2


def test_a_refused_query_raises_with_its_code(demo):
    with connect(demo, "chunhe-health") as conn, conn.cursor() as cur:
        with pytest.raises(flightsql.Error) as refused:
            cur.execute("SELECT person_id, age FROM residents")
            cur.fetch_arrow_table()
    assert "ROW_LEVEL_OUTPUT" in str(refused.value)


def fields(error, key):
    """The values of one gRPC metadata entry of a failed call, as ADBC reports them.

    The Flight SQL driver puts the status's headers and trailers into the error's
    `details`, a list of (key, value) pairs (both bytes in adbc-driver-manager 1.13); a
    value may appear once from each.
    """
    text = lambda b: b.decode() if isinstance(b, bytes) else b
    return {text(value) for name, value in error.details if text(name) == key}


def test_a_refusal_carries_its_code_as_a_field(demo):
    with connect(demo, "chunhe-health") as conn, conn.cursor() as cur:
        with pytest.raises(flightsql.Error) as refused:
            cur.execute("SELECT district, COUNT(*) OVER () FROM residents")
            cur.fetch_arrow_table()
        with pytest.raises(flightsql.Error) as invalid:
            cur.execute("SELEC district FROM residents")
            cur.fetch_arrow_table()
    # Branch on fields, not on the text: the code of the rule, the class of the fault, and
    # ADBC's status for gRPC's PERMISSION_DENIED.
    assert fields(refused.value, "x-shuyu-refusal-code") == {"WINDOW_FUNCTION"}
    assert fields(refused.value, "x-shuyu-fault") == {"refused"}
    assert refused.value.status_code == AdbcStatusCode.UNAUTHORIZED
    assert "refused [WINDOW_FUNCTION]" in str(refused.value), "the human message is unchanged"
    # Bad SQL is no refusal: an invalid argument, without a refusal code.
    assert fields(invalid.value, "x-shuyu-refusal-code") == set()
    assert fields(invalid.value, "x-shuyu-fault") == {"invalid_argument"}
    assert invalid.value.status_code == AdbcStatusCode.INVALID_ARGUMENT


def test_another_units_tables_cannot_be_named(demo):
    with connect(demo, "chunhe-health") as conn, conn.cursor() as cur:
        with pytest.raises(flightsql.Error) as missing:
            cur.execute("SELECT industry, COUNT(*) FROM enterprises GROUP BY industry")
            cur.fetch_arrow_table()
    assert "enterprises" in str(missing.value)


def test_dev_returns_masked_sample_rows_and_spends_nothing(demo):
    with connect(demo, "chunhe-health", environment="dev") as conn, conn.cursor() as cur:
        cur.execute("SELECT person_id, district, age FROM residents LIMIT 10")
        table = cur.fetch_arrow_table()
    df = pl.from_arrow(table)
    assert df.shape == (10, 3)
    assert (df["age"] % 5 == 0).all(), "ages are generalised to five-year bands"
    metadata = table.schema.metadata or {}
    assert metadata[b"shuyu.environment"] == b"dev"
    assert metadata[b"shuyu.charged"] == b"0"


def test_a_result_under_review_is_held_and_an_approved_one_fetched(demo):
    with connect(demo, "beilin-jobs") as conn, conn.cursor() as cur:
        cur.execute(GROUPED)
        notice = cur.fetch_arrow_table()
        assert notice.column_names == ["export", "status", "message"]
        assert notice.column("status")[0].as_py() == "pending"
        export = notice.column("export")[0].as_py()
        with pytest.raises(flightsql.Error) as pending:
            cur.execute(f"FETCH EXPORT '{export}'")
            cur.fetch_arrow_table()
        assert "waiting for the bureau" in str(pending.value)
        # The demo script's bureau approved beilin-jobs' first export.
        cur.execute("FETCH EXPORT '1'")
        released = cur.fetch_arrow_table()
    assert released.column_names == ["district", "employment_rate", "median_age"]
    assert released.num_rows == 12
    assert released.schema.metadata[b"shuyu.export_status"] == b"approved"
