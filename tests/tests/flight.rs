//! End to end over gRPC: arrow-flight's Flight SQL client against `shuyu::server` on
//! 127.0.0.1:0, over a fresh demo domain and a small generated city.

use shuyu_tests::fixture;

use arrow::array::{Array, AsArray, BinaryArray, StringArray};
use arrow::datatypes::{Int64Type, Schema};
use arrow_flight::sql::{CommandGetDbSchemas, CommandGetTables, SqlInfo, TicketStatementQuery};
use arrow_flight::IpcMessage;
use fixture::{code, fault, fetch, message, query, refusal_code, rows, TestServer};
use prost::Message;
use shuyu_governance::{Nano, Role};
use tonic::Code;

const GROUPED: &str = "SELECT district, COUNT(*) AS n FROM residents GROUP BY district ORDER BY district";

fn md<'a>(schema: &'a Schema, key: &str) -> &'a str {
    schema.metadata().get(key).map(String::as_str).unwrap_or_else(|| panic!("schema metadata lacks {key}: {:?}", schema.metadata()))
}

fn nano(text: &str) -> Nano {
    Nano::parse_decimal(text, "metadata").expect("a decimal amount")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_grouped_count_returns_noised_counts_with_cost_and_budget_in_its_metadata() {
    let server = TestServer::start().await;
    // chunhe-health: results are released automatically (beilin-jobs' are held for review,
    // see tests/devenv.rs).
    let unit = server.health().clone();
    let mut client = server.client(&unit).await;

    let info = client.execute(GROUPED.to_string(), None).await.expect("flight info");
    let announced = info.clone().try_decode_schema().expect("FlightInfo carries the schema");
    assert_eq!(md(&announced, "shuyu.environment"), "prod");
    // The ticket is an opaque server-side handle, not the query nor its result.
    let ticket = info.endpoint[0].ticket.clone().expect("ticket");
    let any = arrow_flight::sql::Any::decode(&*ticket.ticket).expect("an Any");
    let handle: TicketStatementQuery = any.unpack().expect("unpacks").expect("a statement ticket");
    let handle = String::from_utf8(handle.statement_handle.to_vec()).expect("text");
    assert!(handle.starts_with("r-") && handle.len() == 34, "{handle}");

    let (schema, batches) = fetch(&mut client, info).await.expect("results");
    assert_eq!(rows(&batches), 12, "every district of the public domain is released");
    let names: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
    assert_eq!(names, ["district", "n"]);
    for b in &batches {
        let n = b.column(1).as_primitive::<Int64Type>();
        assert!(n.iter().all(|v| v.is_some_and(|v| v >= 0)), "counts are clamped at 0");
    }
    let total: i64 = batches.iter().map(|b| b.column(1).as_primitive::<Int64Type>().iter().flatten().sum::<i64>()).sum();
    assert!((total - fixture::RESIDENTS as i64).abs() < 400, "noised total {total} is near {}", fixture::RESIDENTS);
    let cost: f64 = md(&schema, "shuyu.cost").parse().expect("a number");
    assert!((cost - 0.1).abs() < 1e-12, "the default rho of one query: {cost}");
    assert_eq!(md(&schema, "shuyu.charged"), "0.1");
    assert_eq!(md(&schema, "shuyu.budget_remaining"), "1.9");
    assert_eq!(md(&schema, "shuyu.budget_total"), "2");
    assert_eq!(md(&schema, "shuyu.authorization"), unit.authorization.0.to_string());
    assert!(schema.field_with_name("n").expect("n").metadata().contains_key("shuyu.ci95_half_width"));

    let budget = server.domain.store.budget(&server.domain.bureau, unit.authorization).expect("budget");
    assert_eq!(budget.spent, nano("0.1"));
    assert!(server.runner.has_cached_scope(unit.authorization), "the opened scope is kept for the next query");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_handshake_turns_basic_credentials_into_a_bearer_token() {
    let server = TestServer::start().await;
    let unit = server.health().clone();
    let mut client = server.anonymous().await;
    client.set_header("x-shuyu-authorization", unit.authorization.0.to_string());
    let payload = client.handshake("anyone", &unit.token).await.expect("handshake");
    assert_eq!(payload.as_ref(), unit.token.as_bytes());
    assert_eq!(client.token(), Some(&unit.token));
    let (_, batches) = query(&mut client, GROUPED).await.expect("query after the handshake");
    assert_eq!(rows(&batches), 12);

    let mut bad = server.anonymous().await;
    let e = bad.handshake("anyone", "not-a-token").await.expect_err("unknown token");
    assert!(e.to_string().contains("authentication failed"), "{e}");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refusals_and_bad_queries_get_their_codes_and_spend_nothing() {
    let server = TestServer::start().await;
    let unit = server.jobs().clone();
    let mut client = server.client(&unit).await;
    let refused: &[(&str, Code, &str)] = &[
        ("SELECT person_id, age FROM residents", Code::PermissionDenied, "ROW_LEVEL_OUTPUT"),
        ("SELECT district, MAX(age) FROM residents GROUP BY district", Code::PermissionDenied, "UNSUPPORTED_AGGREGATE"),
        ("SELECT person_id, COUNT(*) FROM residents GROUP BY person_id", Code::PermissionDenied, "GROUP_BY_UNIT"),
        ("SELECT age, COUNT(*) OVER () FROM residents", Code::PermissionDenied, "WINDOW_FUNCTION"),
        ("DROP TABLE residents", Code::PermissionDenied, "NOT_A_QUERY"),
        ("SELEC district FROM residents", Code::InvalidArgument, "invalid query"),
        ("SELECT COUNT(*) FROM nowhere", Code::InvalidArgument, "nowhere"),
    ];
    for (sql, want, text) in refused {
        let e = query(&mut client, sql).await.expect_err(sql);
        assert_eq!(code(&e), *want, "{sql}: {}", message(&e));
        assert!(message(&e).contains(text), "{sql}: {}", message(&e));
        // The refusal code is a field of the status: clients branch on it without the text.
        if *want == Code::PermissionDenied {
            assert_eq!(refusal_code(&e).as_deref(), Some(*text), "{sql}");
            assert_eq!(fault(&e).as_deref(), Some("refused"), "{sql}");
        } else {
            assert_eq!(refusal_code(&e), None, "{sql}: bad SQL is no refusal");
            assert_eq!(fault(&e).as_deref(), Some("invalid_argument"), "{sql}");
        }
    }
    // An environment other than prod and dev is a bad header.
    let mut staging = server.client(&unit).await;
    staging.set_header("x-shuyu-environment", "staging");
    let e = query(&mut staging, GROUPED).await.expect_err("staging");
    assert_eq!(code(&e), Code::InvalidArgument, "{}", message(&e));
    // Asking for more than the per-query cap (2) is a budget error.
    let mut greedy = server.client(&unit).await;
    greedy.set_header("x-shuyu-budget", "3");
    let e = query(&mut greedy, GROUPED).await.expect_err("over the cap");
    assert_eq!(code(&e), Code::ResourceExhausted, "{}", message(&e));
    assert_eq!((fault(&e).as_deref(), refusal_code(&e)), (Some("budget_exhausted"), None));

    let budget = server.domain.store.budget(&server.domain.bureau, unit.authorization).expect("budget");
    assert_eq!(budget.spent, Nano::ZERO, "refused queries spend nothing");
    assert_eq!(budget.reserved, Nano::ZERO, "no reservation is left open");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_unit_sees_and_names_only_its_own_tables_authorizations_and_results() {
    let server = TestServer::start().await;
    let (health, jobs) = (server.health().clone(), server.jobs().clone());
    let mut a = server.client(&health).await;
    let mut b = server.client(&jobs).await;

    let tables = |client: &mut arrow_flight::sql::client::FlightSqlServiceClient<tonic::transport::Channel>| {
        let mut c = client.clone();
        async move {
            let cmd = CommandGetTables { include_schema: true, ..Default::default() };
            let info = c.get_tables(cmd).await.expect("tables info");
            let (_, batches) = fetch(&mut c, info).await.expect("tables");
            let mut out = Vec::new();
            for batch in batches {
                let names = batch.column_by_name("table_name").expect("table_name").as_any().downcast_ref::<StringArray>().expect("utf8").clone();
                let schemas = batch.column_by_name("table_schema").expect("table_schema").as_any().downcast_ref::<BinaryArray>().expect("binary").clone();
                for i in 0..batch.num_rows() {
                    let schema = Schema::try_from(IpcMessage(schemas.value(i).to_vec().into())).expect("table schema");
                    let cols: Vec<String> = schema.fields().iter().map(|f| f.name().clone()).collect();
                    out.push((names.value(i).to_string(), cols));
                }
            }
            out
        }
    };
    let a_tables = tables(&mut a).await;
    let a_names: Vec<&str> = a_tables.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(a_names, ["districts", "medical_visits", "residents"]);
    let residents = &a_tables.iter().find(|(n, _)| n == "residents").expect("residents").1;
    assert!(!residents.contains(&"name".to_string()) && !residents.contains(&"id_number".to_string()), "{residents:?}");
    let b_tables = tables(&mut b).await;
    let b_names: Vec<&str> = b_tables.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(b_names, ["districts", "enterprises", "residents"]);
    assert_eq!(b_tables.iter().find(|(n, _)| n == "residents").expect("residents").1, ["person_id", "district", "age", "employed"]);

    // A cannot name B's tables, nor B's columns of a shared table.
    let e = query(&mut a, "SELECT industry, COUNT(*) FROM enterprises GROUP BY industry").await.expect_err("enterprises");
    assert_eq!(code(&e), Code::InvalidArgument);
    let e = query(&mut b, "SELECT district, AVG(income) FROM residents GROUP BY district").await.expect_err("income");
    assert_eq!(code(&e), Code::InvalidArgument);
    // A cannot act under B's authorization, nor learn that it exists: it reads exactly like
    // an id that does not exist.
    let mut a_as_b = server.client(&health).await;
    a_as_b.set_header("x-shuyu-authorization", jobs.authorization.0.to_string());
    let e = query(&mut a_as_b, GROUPED).await.expect_err("B's authorization");
    assert_eq!(code(&e), Code::NotFound, "{}", message(&e));
    let missing = jobs.authorization.0 + 1000;
    let mut a_as_none = server.client(&health).await;
    a_as_none.set_header("x-shuyu-authorization", missing.to_string());
    let absent = query(&mut a_as_none, GROUPED).await.expect_err("no such authorization");
    assert_eq!(code(&absent), Code::NotFound);
    assert_eq!(
        message(&e).replace(&jobs.authorization.0.to_string(), "#"),
        message(&absent).replace(&missing.to_string(), "#"),
        "the same answer for another unit's authorization and for none"
    );
    let cmd = CommandGetTables { include_schema: false, ..Default::default() };
    let e = a_as_b.get_tables(cmd).await.expect_err("B's tables");
    assert_eq!(code(&e), Code::NotFound);
    // A cannot fetch B's result, even with B's ticket.
    let info = b.execute(GROUPED.to_string(), None).await.expect("B's query");
    let ticket = info.endpoint[0].ticket.clone().expect("ticket");
    let e = match a.do_get(ticket.clone()).await {
        Ok(mut s) => futures::TryStreamExt::try_next(&mut s).await.expect_err("B's result"),
        Err(e) => e,
    };
    assert_eq!(code(&e), Code::InvalidArgument, "{}", message(&e));
    let (schema, batches) = fetch(&mut b, info).await.expect("B still gets its result");
    assert_eq!(rows(&batches), 1, "B's results wait for the bureau's review: one notice row");
    assert_eq!(md(&schema, "shuyu.export_status"), "pending");
    // A's budget is untouched by B's query.
    let a_budget = server.domain.store.budget(&server.domain.bureau, health.authorization).expect("budget");
    assert_eq!(a_budget.spent, Nano::ZERO);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_budget_runs_out_and_the_ledger_matches_what_clients_were_told() {
    let server = TestServer::start().await;
    let unit = server.health().clone();
    let mut client = server.client(&unit).await;
    client.set_header("x-shuyu-budget", "0.45");
    let mut told = Nano::ZERO;
    let mut answered = 0;
    let exhausted = loop {
        match query(&mut client, GROUPED).await {
            Ok((schema, _)) => {
                told = told.checked_add(nano(md(&schema, "shuyu.charged"))).expect("no overflow");
                answered += 1;
                assert!(answered <= 4, "a total of 2 allows four queries of 0.45");
            }
            Err(e) => break e,
        }
    };
    assert_eq!(answered, 4);
    assert_eq!(code(&exhausted), Code::ResourceExhausted, "{}", message(&exhausted));
    assert!(message(&exhausted).contains("budget exhausted"), "{}", message(&exhausted));
    let budget = server.domain.store.budget(&server.domain.bureau, unit.authorization).expect("budget");
    assert_eq!(budget.spent, told, "the ledger's committed total is what the client was told");
    assert_eq!(budget.spent, nano("1.8"));
    // A cheaper query still fits in what is left.
    client.set_header("x-shuyu-budget", "0.2");
    let (schema, _) = query(&mut client, GROUPED).await.expect("fits");
    assert_eq!(md(&schema, "shuyu.budget_remaining"), "0");
    server.domain.store.verify_ledger().expect("ledger verifies");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn suspension_and_revocation_take_effect_on_the_next_call() {
    let server = TestServer::start().await;
    let (store, bureau) = (server.domain.store.clone(), server.domain.bureau.clone());
    let (health, jobs) = (server.health().clone(), server.jobs().clone());
    let mut a = server.client(&health).await;
    query(&mut a, GROUPED).await.expect("answers while active");

    store.suspend_authorization(&bureau, health.authorization, "audit pending").expect("suspend");
    let e = query(&mut a, GROUPED).await.expect_err("suspended authorization");
    assert_eq!(code(&e), Code::PermissionDenied, "{}", message(&e));
    assert!(!server.runner.has_cached_scope(health.authorization), "a failed check evicts the cached scope");
    store.reinstate_authorization(&bureau, health.authorization, "audit done").expect("reinstate");
    query(&mut a, GROUPED).await.expect("answers again once reinstated");

    store.suspend_unit(&bureau, health.unit, "incident").expect("suspend unit");
    let e = query(&mut a, GROUPED).await.expect_err("suspended unit");
    assert_eq!(code(&e), Code::PermissionDenied, "{}", message(&e));
    store.reinstate_unit(&bureau, health.unit, "resolved").expect("reinstate unit");
    query(&mut a, GROUPED).await.expect("answers again");

    store.revoke_authorization(&bureau, health.authorization, "scenario ended").expect("revoke");
    let e = query(&mut a, GROUPED).await.expect_err("revoked authorization");
    assert_eq!(code(&e), Code::PermissionDenied, "{}", message(&e));

    let mut b = server.client(&jobs).await;
    query(&mut b, GROUPED).await.expect("the other unit is unaffected");
    store.revoke_unit(&bureau, jobs.unit, "licence withdrawn").expect("revoke unit");
    let e = query(&mut b, GROUPED).await.expect_err("revoked unit");
    assert_eq!(code(&e), Code::Unauthenticated, "its tokens are revoked with it: {}", message(&e));
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calls_without_a_valid_token_are_unauthenticated() {
    let server = TestServer::start().await;
    let mut none = server.anonymous().await;
    let e = query(&mut none, GROUPED).await.expect_err("no token");
    assert_eq!(code(&e), Code::Unauthenticated);
    assert!(message(&e).contains("Bearer"), "says what to send: {}", message(&e));
    let e = none.get_catalogs().await.expect_err("no token");
    assert_eq!(code(&e), Code::Unauthenticated);

    let mut wrong = server.anonymous().await;
    wrong.set_token("forged-token".into());
    let e = query(&mut wrong, GROUPED).await.expect_err("bad token");
    assert_eq!(code(&e), Code::Unauthenticated);
    let e = wrong.get_tables(CommandGetTables::default()).await.expect_err("bad token");
    assert_eq!(code(&e), Code::Unauthenticated);

    // The bureau's token is valid, but Flight SQL serves analysts only.
    let mut bureau = server.anonymous().await;
    bureau.set_token(server.domain.bureau_token.clone());
    let e = query(&mut bureau, GROUPED).await.expect_err("bureau");
    assert_eq!(code(&e), Code::PermissionDenied);
    assert_eq!(server.domain.bureau.role, Role::BureauAdmin);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prepared_statements_round_trip_and_refuse_early() {
    let server = TestServer::start().await;
    let unit = server.health().clone();
    let mut client = server.client(&unit).await;

    let mut stmt = client.prepare(GROUPED.to_string(), None).await.expect("prepared");
    let names: Vec<String> = stmt.dataset_schema().expect("schema").fields().iter().map(|f| f.name().clone()).collect();
    assert_eq!(names, ["district", "n"]);
    let budget = server.domain.store.budget(&server.domain.bureau, unit.authorization).expect("budget");
    assert_eq!(budget.spent, Nano::ZERO, "preparing spends nothing");
    let info = stmt.execute().await.expect("executed");
    let (schema, batches) = fetch(&mut client, info).await.expect("results");
    assert_eq!(rows(&batches), 12);
    assert_eq!(md(&schema, "shuyu.charged"), "0.1");
    let info = stmt.execute().await.expect("executed twice");
    let (schema, _) = fetch(&mut client, info).await.expect("results");
    assert_eq!(md(&schema, "shuyu.budget_remaining"), "1.8", "each execution is charged");
    let handle = stmt.clone();
    stmt.close().await.expect("closed");
    let mut closed = handle;
    let e = closed.execute().await.expect_err("closed");
    assert_eq!(code(&e), Code::InvalidArgument, "{}", message(&e));

    let e = client.prepare("SELECT person_id FROM residents".to_string(), None).await.expect_err("refused at prepare");
    assert_eq!(code(&e), Code::PermissionDenied);
    assert!(message(&e).contains("ROW_LEVEL_OUTPUT"), "{}", message(&e));
    assert_eq!(refusal_code(&e).as_deref(), Some("ROW_LEVEL_OUTPUT"), "a refused prepare carries the code as a field too");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metadata_calls_describe_the_service() {
    let server = TestServer::start().await;
    let unit = server.health().clone();
    let mut client = server.client(&unit).await;

    let info = client.get_sql_info(vec![SqlInfo::FlightSqlServerName, SqlInfo::FlightSqlServerReadOnly]).await.expect("sql info");
    let (_, batches) = fetch(&mut client, info).await.expect("sql info rows");
    assert_eq!(rows(&batches), 2);

    let info = client.get_catalogs().await.expect("catalogs");
    let (_, batches) = fetch(&mut client, info).await.expect("catalog rows");
    let catalogs = batches[0].column(0).as_string::<i32>().clone();
    assert_eq!(catalogs.value(0), "shuyu");

    let info = client.get_db_schemas(CommandGetDbSchemas::default()).await.expect("schemas");
    let (_, batches) = fetch(&mut client, info).await.expect("schema rows");
    assert_eq!(batches[0].column(1).as_string::<i32>().value(0), "public");

    let info = client.get_table_types().await.expect("table types");
    let (_, batches) = fetch(&mut client, info).await.expect("table type rows");
    assert_eq!(batches[0].column(0).as_string::<i32>().value(0), "TABLE");

    let cmd = CommandGetTables { table_name_filter_pattern: Some("med%".into()), ..Default::default() };
    let info = client.get_tables(cmd).await.expect("filtered tables");
    let (_, batches) = fetch(&mut client, info).await.expect("filtered rows");
    assert_eq!(rows(&batches), 1, "the client's filter applies");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_analyst_naming_no_authorization_gets_its_only_one() {
    let server = TestServer::start().await;
    let unit = server.health().clone();
    let mut client = server.anonymous().await;
    client.set_token(unit.token.clone());
    let (schema, _) = query(&mut client, GROUPED).await.expect("the only active authorization is used");
    assert_eq!(md(&schema, "shuyu.authorization"), unit.authorization.0.to_string());
    client.set_header("x-shuyu-authorization", "not-a-number");
    let e = query(&mut client, GROUPED).await.expect_err("bad header");
    assert_eq!(code(&e), Code::InvalidArgument);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_is_served_when_a_certificate_is_configured() {
    use arrow_flight::sql::client::FlightSqlServiceClient;
    use tonic::transport::{Certificate, Channel, ClientTlsConfig};

    let data = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("data");
    let tls = shuyu::config::TlsFiles { cert: data.join("localhost.pem"), key: data.join("localhost.key") };
    let server = TestServer::start_configured(shuyu::config::Limits::default(), Some(tls)).await;
    let unit = server.health().clone();
    let ca = std::fs::read(data.join("ca.pem")).expect("test CA");
    let channel = Channel::from_shared(format!("https://localhost:{}", server.addr.port()))
        .expect("uri")
        .tls_config(ClientTlsConfig::new().ca_certificate(Certificate::from_pem(ca)).domain_name("localhost"))
        .expect("client TLS")
        .connect()
        .await
        .expect("TLS connection");
    let mut client = FlightSqlServiceClient::new(channel);
    client.set_token(unit.token.clone());
    client.set_header("x-shuyu-authorization", unit.authorization.0.to_string());
    let (_, batches) = query(&mut client, GROUPED).await.expect("query over TLS");
    assert_eq!(rows(&batches), 12);

    // A plaintext client cannot talk to it.
    let plain = Channel::from_shared(format!("http://{}", server.addr)).expect("uri").connect().await;
    if let Ok(channel) = plain {
        let mut plain = FlightSqlServiceClient::new(channel);
        plain.set_token(unit.token.clone());
        assert!(query(&mut plain, GROUPED).await.is_err(), "plaintext is not served on a TLS port");
    }
    server.stop().await;
}
