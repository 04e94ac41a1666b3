mod common;

use arrow::util::pretty::pretty_format_batches;
use shuyu_compute::PrivateSession;
use shuyu_planner::QueryBudget;

#[tokio::test]
async fn smoke() {
    let s = PrivateSession::new(common::full_scope().await);
    for sql in [
        "SELECT COUNT(*) FROM residents",
        "SELECT district, COUNT(*) AS n, AVG(income) FROM residents GROUP BY district ORDER BY n DESC",
        "SELECT department, COUNT(*), SUM(cost) FROM medical_visits GROUP BY department",
        "SELECT gender, MEDIAN(age), STDDEV(income) FROM residents GROUP BY gender",
        "EXPLAIN PRIVACY SELECT department, COUNT(*), SUM(cost) FROM medical_visits GROUP BY department",
        "SELECT hospital, COUNT(*) FROM medical_visits GROUP BY hospital",
    ] {
        let budget = if sql.contains("hospital") { QueryBudget::zcdp(0.5, 1e-6) } else { QueryBudget::pure(1.0) };
        match s.execute(sql, budget).await {
            Ok(r) => println!("{sql}\ncost {} \n{}", r.cost, pretty_format_batches(&r.batches).unwrap()),
            Err(e) => println!("{sql}\nERROR {e}"),
        }
    }
}
