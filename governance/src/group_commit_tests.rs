//! The write lane with writers held at chosen points, so that who shares a batch is known.
//! On SQLite, or on PostgreSQL when `SHUYU_TEST_POSTGRES` names a server (a fresh database
//! per lane).

use std::sync::mpsc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rusqlite::Connection;

use super::*;
use crate::sql::pg::PgConn;

/// Where a lane's table lives.
enum Db {
    Sqlite(std::path::PathBuf),
    Postgres(String),
}

struct Lane {
    lane: Arc<WriteLane>,
    db: Db,
    _dir: tempfile::TempDir,
}

impl Lane {
    fn new(max_batch: usize) -> Lane {
        let dir = tempfile::tempdir().unwrap();
        let db = match std::env::var("SHUYU_TEST_POSTGRES") {
            Ok(server) => {
                let name = format!("shuyu_lane_{}", hex::encode(crate::keys::random_bytes::<8>()));
                let mut admin = PgConn::connect(&format!("{server} dbname=postgres"), None).unwrap();
                admin.batch(&format!("CREATE DATABASE {name}")).unwrap();
                let url = format!("{server} dbname={name}");
                PgConn::connect(&url, None).unwrap().batch("CREATE TABLE t (writer BIGINT PRIMARY KEY)").unwrap();
                Db::Postgres(url)
            }
            Err(_) => {
                let path = dir.path().join("lane.db");
                let c = Connection::open(&path).unwrap();
                c.execute_batch("PRAGMA journal_mode = WAL; CREATE TABLE t (writer INTEGER PRIMARY KEY)").unwrap();
                Db::Sqlite(path)
            }
        };
        Lane { lane: Arc::new(WriteLane::new(max_batch)), db, _dir: dir }
    }

    fn connect(&self) -> Result<Conn> {
        match &self.db {
            Db::Sqlite(path) => Ok(Conn::Sqlite(Connection::open(path)?)),
            Db::Postgres(url) => Ok(Conn::Postgres(Box::new(PgConn::connect(url, None)?))),
        }
    }

    /// Inserts `writer`'s row, then runs `then` (still inside the writer's savepoint).
    fn insert(&self, writer: i64, then: impl FnOnce(&Tx<'_>) -> Result<()>) -> Result<()> {
        self.lane.write(
            || self.connect(),
            |tx| {
                tx.execute("INSERT INTO t (writer) VALUES (?1)", [writer])?;
                then(tx)
            },
        )
    }

    /// The rows a fresh connection sees: only what was committed.
    fn committed(&self) -> Vec<i64> {
        let mut conn = self.connect().unwrap();
        let tx = conn.tx();
        let mut s = tx.prepare("SELECT writer FROM t ORDER BY writer").unwrap();
        s.query_map((), |r| r.get(0)).unwrap().collect::<rusqlite::Result<_>>().unwrap()
    }

    fn waiting(&self) -> usize {
        self.lane.lock().waiting
    }

    /// Blocks until `n` writers queue behind the one holding the lane.
    fn until_waiting(&self, n: usize) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while self.waiting() < n {
            assert!(Instant::now() < deadline, "{n} writers never queued");
            std::thread::sleep(Duration::from_millis(2));
        }
    }
}

/// Writer 0 holds the lane inside its closure until released; writers 1..=n queue behind it;
/// `body(i)` is what writer i runs after its insert. Returns each writer's result and whether
/// its row was committed at the moment its call returned.
fn batch_of(l: &Arc<Lane>, n: i64, body: impl Fn(i64, &Tx<'_>) -> Result<()> + Send + Sync + 'static) -> Vec<(Result<()>, bool)> {
    let body = Arc::new(body);
    let (hold_tx, hold_rx) = mpsc::channel::<()>();
    let (entered_tx, entered_rx) = mpsc::channel::<()>();
    let first = {
        let (l, body) = (l.clone(), body.clone());
        std::thread::spawn(move || {
            let out = l.insert(0, |tx| {
                entered_tx.send(()).unwrap();
                hold_rx.recv().unwrap();
                body(0, tx)
            });
            let seen = l.committed().contains(&0);
            (out, seen)
        })
    };
    entered_rx.recv().unwrap();
    let rest: Vec<_> = (1..=n)
        .map(|i| {
            let (l, body) = (l.clone(), body.clone());
            std::thread::spawn(move || {
                let out = l.insert(i, |tx| body(i, tx));
                let seen = l.committed().contains(&i);
                (out, seen)
            })
        })
        .collect();
    l.until_waiting(n as usize);
    hold_tx.send(()).unwrap();
    let mut outs = vec![first.join().unwrap()];
    outs.extend(rest.into_iter().map(|t| t.join().unwrap()));
    outs
}

#[test]
fn queued_writers_share_one_commit_and_each_returns_only_once_it_is_durable() {
    let l = Arc::new(Lane::new(64));
    let outs = batch_of(&l, 7, |_, _| Ok(()));
    for (i, (out, seen)) in outs.iter().enumerate() {
        assert!(out.is_ok(), "writer {i}: {:?}", out.as_ref().err());
        assert!(seen, "writer {i} returned before its row was committed");
    }
    assert_eq!(l.committed(), (0..=7).collect::<Vec<_>>());
    assert_eq!(l.lane.stats(), WriteStats { writes: 8, commits: 1, failed: 0 });
}

#[test]
fn a_batch_is_cut_at_its_size_limit() {
    let l = Arc::new(Lane::new(3));
    let outs = batch_of(&l, 7, |_, _| Ok(()));
    assert!(outs.iter().all(|(o, seen)| o.is_ok() && *seen));
    assert_eq!(l.committed().len(), 8);
    // 8 writers, at most 3 per transaction: at least 3 commits. Writer 0 and the 7 queued
    // behind it form batches of exactly 3, 3 and 2.
    assert_eq!(l.lane.stats(), WriteStats { writes: 8, commits: 3, failed: 0 });
}

#[test]
fn a_refused_writer_rolls_back_only_its_own_statements() {
    let l = Arc::new(Lane::new(64));
    let outs = batch_of(&l, 5, |i, _| if i % 2 == 1 { Err(GovernanceError::invalid("x", "odd writers are refused")) } else { Ok(()) });
    for (i, (out, _)) in outs.iter().enumerate() {
        assert_eq!(out.is_ok(), i % 2 == 0, "writer {i}");
    }
    assert_eq!(l.committed(), vec![0, 2, 4]);
    assert_eq!(l.lane.stats(), WriteStats { writes: 6, commits: 1, failed: 0 });
}

#[test]
fn writers_see_the_writes_before_them_in_their_batch() {
    let l = Arc::new(Lane::new(64));
    let counts = Arc::new(Mutex::new(Vec::new()));
    let seen = counts.clone();
    let outs = batch_of(&l, 5, move |_, tx| {
        let n: i64 = tx.query_row("SELECT COUNT(*) FROM t", (), |r| r.get(0))?;
        seen.lock().unwrap().push(n);
        Ok(())
    });
    assert!(outs.iter().all(|(o, _)| o.is_ok()));
    // One batch of six: each writer counts its own row and those of the writers before it.
    let mut counts = counts.lock().unwrap().clone();
    counts.sort();
    assert_eq!(counts, (1..=6).collect::<Vec<i64>>());
    assert_eq!(l.lane.stats().commits, 1);
}

#[test]
fn a_lost_transaction_fails_every_writer_of_its_batch_and_writes_nothing() {
    let l = Arc::new(Lane::new(64));
    // Writer 2 ends the transaction behind the lane's back, as SQLite itself does on a full
    // disk or an I/O error: the writers before it in the batch lose their writes too.
    let outs = batch_of(&l, 4, |i, tx| {
        if i == 2 {
            tx.execute_batch("ROLLBACK")?;
        }
        Ok(())
    });
    let committed = l.committed();
    for (i, (out, _)) in outs.iter().enumerate() {
        let kept = committed.contains(&(i as i64));
        assert_eq!(out.is_ok(), kept, "writer {i} was told {:?} but its row is {}", out.as_ref().err().map(|e| e.to_string()), if kept { "committed" } else { "absent" });
    }
    assert!(outs[0].0.is_err() && outs[2].0.is_err(), "writer 0 was in the lost batch, writer 2 lost it");
    // Writers queued after the loss start a new batch and commit.
    let stats = l.lane.stats();
    assert_eq!(stats.failed, 1);
    assert_eq!(stats.commits, u64::from(!committed.is_empty()));
}

#[test]
fn a_panicking_writer_fails_its_batch_and_frees_the_lane() {
    let l = Arc::new(Lane::new(64));
    let outs = {
        let (hold_tx, hold_rx) = mpsc::channel::<()>();
        let (entered_tx, entered_rx) = mpsc::channel::<()>();
        let first = {
            let l = l.clone();
            std::thread::spawn(move || {
                l.insert(0, |_| {
                    entered_tx.send(()).unwrap();
                    hold_rx.recv().unwrap();
                    Ok(())
                })
            })
        };
        entered_rx.recv().unwrap();
        let panicker = {
            let l = l.clone();
            std::thread::spawn(move || {
                l.insert(1, |_| panic!("a bug in a writer"))
            })
        };
        l.until_waiting(1);
        hold_tx.send(()).unwrap();
        (first.join().unwrap(), panicker.join())
    };
    assert!(outs.0.is_err(), "writer 0 shared the batch that the panic rolled back");
    assert!(outs.1.is_err(), "the panic reaches its own caller");
    assert!(l.committed().is_empty());
    // The lane works afterwards.
    l.insert(9, |_| Ok(())).unwrap();
    assert_eq!(l.committed(), vec![9]);
}
