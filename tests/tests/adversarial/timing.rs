//! Channel 2: per-row cost as a timing channel.
//!
//! `repeat('ab', CASE WHEN <target> THEN 200000000 ELSE 1 END)` makes the answer take
//! seconds when the target's condition holds and milliseconds otherwise: one bit per query
//! at any budget, read off a stopwatch. Secure: an expression whose work grows with an
//! argument that can depend on data is refused at plan time (the same code and text for
//! both variants), or its argument is capped by a public constant. No timers here: the
//! pairs check refusal equality, and the cap is checked where it shows in an answer: over
//! many rows at once, an uncapped amplifier's output length is visible in a noised count
//! (which one person's row alone could not show through the noise).

use crate::fixture::TestServer;
use crate::kit::{attack_pair, client_spending, observe, scalar, secrets, single_violations, target};

/// Attack: the work-amplifying functions of this build (repeat, lpad, rpad, repeat inside
/// concat and replace, a regex whose pattern is built from data, array_repeat, range,
/// levenshtein, string_agg over a per-person group) with a count that is huge only for the
/// target, in WHERE, CASE and aggregate arguments. Then, for each amplifier, a count of
/// the rows (about a hundred at once) whose amplified output reached a million elements:
/// near that hundred today; secure: refused, or near zero because the output was capped.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn work_amplifying_functions_are_refused_or_capped() {
    let server = TestServer::start().await;
    let unit = server.health().clone();
    let mut pairs = client_spending(&server, &unit, "0.001").await;
    let pair_templates = [
        "SELECT COUNT(*) FROM residents WHERE length(repeat('ab', CASE WHEN {cond} THEN 200000000 ELSE 1 END)) > 0",
        "SELECT SUM(CASE WHEN length(repeat('ab', CASE WHEN {cond} THEN 200000000 ELSE 1 END)) > 1 THEN 1 ELSE 0 END) FROM residents",
        "SELECT COUNT(*) FROM residents WHERE CASE WHEN {cond} THEN lpad(district, 200000000) ELSE district END <> ''",
        "SELECT COUNT(*) FROM residents WHERE rpad(district, CASE WHEN {cond} THEN 200000000 ELSE 3 END, 'x') <> ''",
        "SELECT COUNT(*) FROM residents WHERE concat(district, repeat('ab', CASE WHEN {cond} THEN 200000000 ELSE 1 END)) <> ''",
        "SELECT COUNT(*) FROM residents WHERE replace(repeat('a', CASE WHEN {cond} THEN 1000 ELSE 1 END), 'a', repeat('b', CASE WHEN {cond} THEN 100000 ELSE 1 END)) <> ''",
        "SELECT COUNT(*) FROM residents WHERE regexp_like(district, CASE WHEN {cond} THEN repeat('a?', 200) || repeat('a', 200) ELSE '区' END)",
        "SELECT COUNT(*) FROM residents WHERE cardinality(array_repeat(age, CASE WHEN {cond} THEN 20000000 ELSE 1 END)) > 0",
        "SELECT COUNT(*) FROM residents WHERE cardinality(range(0, CASE WHEN {cond} THEN 20000000 ELSE 1 END)) > 0",
        "SELECT COUNT(*) FROM residents WHERE levenshtein(repeat('a', CASE WHEN {cond} THEN 20000 ELSE 1 END), repeat('b', CASE WHEN {cond} THEN 20000 ELSE 1 END)) >= 0",
        "SELECT COUNT(*) FROM (SELECT person_id, string_agg(repeat('ab', CASE WHEN {cond} THEN 100000000 ELSE 1 END), ',') AS s FROM residents GROUP BY person_id) t WHERE length(s) > 0",
    ];
    let mut breaches = Vec::new();
    for template in pair_templates {
        breaches.extend(attack_pair(&server, &unit, &mut pairs, template).await);
    }

    // About a hundred rows amplified at once (fewer for 8-byte array elements, to keep
    // today's memory use near 400 MB): (query, rows amplified).
    let many = "person_id <= {n} AND income >= 0";
    let caps = [
        ("SELECT COUNT(*) FROM residents WHERE length(repeat('ab', CASE WHEN {many} THEN 500000 ELSE 1 END)) = 1000000", 100),
        ("SELECT COUNT(*) FROM residents WHERE length(lpad(district, CASE WHEN {many} THEN 1000000 ELSE 3 END)) = 1000000", 100),
        ("SELECT COUNT(*) FROM residents WHERE length(rpad(district, CASE WHEN {many} THEN 1000000 ELSE 3 END, 'x')) = 1000000", 100),
        ("SELECT COUNT(*) FROM residents WHERE length(concat(district, repeat('ab', CASE WHEN {many} THEN 500000 ELSE 1 END))) > 1000000", 100),
        ("SELECT COUNT(*) FROM residents WHERE cardinality(array_repeat(age, CASE WHEN {many} THEN 1000000 ELSE 1 END)) = 1000000", 50),
        ("SELECT COUNT(*) FROM residents WHERE cardinality(range(0, CASE WHEN {many} THEN 1000000 ELSE 1 END)) = 1000000", 50),
    ];
    // rho 0.05 per count: Gaussian noise of standard deviation 1/sqrt(2 * 0.05) = 3.2, so
    // half the amplified rows (25 or 50) is 8 to 16 deviations from both 0 and the full count.
    let mut counts = client_spending(&server, &unit, "0.05").await;
    let t = target();
    for (template, n) in caps {
        let sql = template.replace("{many}", &many.replace("{n}", &n.to_string()));
        let o = observe(&server, &unit, &mut counts, &sql).await;
        breaches.extend(single_violations(&o, &secrets(t)));
        if let Ok((_, batches)) = &o.reply {
            let count = scalar(batches).unwrap_or(0.0);
            if count >= n as f64 / 2.0 {
                breaches.push(format!(
                    "uncapped: about {count:.0} of the {n} rows reached an output of a million elements (per-row work grows with data): {}",
                    o.describe()
                ));
            }
        }
    }
    assert!(breaches.is_empty(), "{} breach(es):\n  {}", breaches.len(), breaches.join("\n  "));
    server.stop().await;
}
