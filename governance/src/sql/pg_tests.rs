//! What a PostgreSQL error lets through: an attacker who makes a store write fail on a
//! constraint must not read a stored value in the error (PostgreSQL's DETAIL quotes the
//! failing row). Runs on the server `SHUYU_TEST_POSTGRES` names (`scripts/test.sh` step 1a);
//! on SQLite alone it checks nothing and says so.

use super::*;

/// A fresh database on the test server, or `None` without one.
fn database() -> Option<PgConn> {
    let server = std::env::var("SHUYU_TEST_POSTGRES").ok()?;
    let name = format!("shuyu_pgerr_{}", hex::encode(crate::keys::random_bytes::<8>()));
    PgConn::connect(&format!("{server} dbname=postgres"), None).unwrap().batch(&format!("CREATE DATABASE {name}")).unwrap();
    Some(PgConn::connect(&format!("{server} dbname={name}"), None).unwrap())
}

#[test]
fn a_constraint_error_names_its_code_and_constraint_but_no_value() {
    let Some(mut conn) = database() else {
        eprintln!("SHUYU_TEST_POSTGRES is not set: nothing to check on SQLite");
        return;
    };
    const SECRET: &str = "110105199001010019";
    conn.batch("CREATE TABLE people (id_number TEXT UNIQUE, age BIGINT CHECK (age >= 0))").unwrap();
    conn.execute("INSERT INTO people (id_number, age) VALUES (?1, ?2)", &[&SECRET, &30i64]).unwrap();
    let duplicate = conn.execute("INSERT INTO people (id_number, age) VALUES (?1, ?2)", &[&SECRET, &31i64]).unwrap_err();
    let text = duplicate.to_string();
    assert!(text.contains("SQLSTATE 23505") && text.contains("people_id_number_key"), "{text}");
    assert!(!text.contains(SECRET), "the error quotes the value: {text}");
    assert!(!format!("{duplicate:?}").contains(SECRET), "the error's Debug quotes the value");

    let negative = conn.execute("INSERT INTO people (id_number, age) VALUES (?1, ?2)", &[&"x", &-4242i64]).unwrap_err();
    let text = format!("{negative} {negative:?}");
    assert!(text.contains("SQLSTATE 23514"), "{text}");
    assert!(!text.contains("4242"), "the error quotes the failing row: {text}");
}
