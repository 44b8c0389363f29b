//! The binlog reader against real private servers (never the machine's own server on 3306):
//! on MariaDB, exact values of every column type, transaction framing, GTIDs, positions,
//! heartbeats, resume by position and by GTID, purged binlogs, server id conflicts, and decoding
//! speed; on MySQL 9.7, compressed transactions (TRANSACTION_PAYLOAD), tagged GTIDs, resume by
//! GTID after a purge, and the session a statement ran in. Each test pins its flavour.

use std::time::{Duration, Instant};

use ferry_crds::{Endpoint, Tls, TlsMode};
use ferry_e2e::{Flavor as ServerFlavor, ServerOptions, TestServer};
use ferry_engine::Error;
use ferry_engine::db::flavor::{Flavor, Kind, Position};
use ferry_engine::db::{Role, Server};
use ferry_engine::source::binlog::{BinlogReader, ColumnKind, Event, RowChange, RowKind, RowsEvent};
use ferry_engine::task::manifest::Credentials;
use mysql_async::Value::{self, Bytes, Date, Double, Float, Int, NULL, Time, UInt};
use mysql_async::prelude::*;

const HEARTBEAT: Duration = Duration::from_millis(200);

fn server_of(db: &TestServer) -> Server {
    let ep = Endpoint {
        host: db.host().to_string(),
        port: db.port(),
        credentials_secret: "unused".into(),
        tls: Some(Tls { mode: TlsMode::Disabled, ca_secret: None }),
    };
    let creds = Credentials { username: db.user().to_string(), password: db.password().to_string() };
    Server::new(Role::Source, &ep, &creds, None)
}

async fn flavor_of(db: &TestServer) -> Flavor {
    let mut c = db.conn().await;
    let f = Flavor::detect(&server_of(db), &mut c).await.unwrap();
    let want = match db.flavor() {
        ServerFlavor::MariaDb => Kind::MariaDb,
        ServerFlavor::MySql => Kind::MySql,
    };
    assert_eq!(f.kind, want);
    f
}

/// A MariaDB source: the tests written for MariaDB's binlog run on it whatever
/// `$FERRY_TEST_FLAVOR` says.
async fn mariadb_source() -> TestServer {
    TestServer::start(ServerOptions::source().flavor(ServerFlavor::MariaDb)).await
}

/// The binlog status with the GTID state (MariaDB: @@gtid_binlog_pos; MySQL: the executed GTID
/// set, which SHOW BINARY LOG STATUS prints over several lines): where an idle reader must stand.
async fn master_status(db: &TestServer) -> Position {
    let (file, pos) = db.binlog_position().await;
    let gtid = db.gtid_position().await;
    Position { file, pos, gtid: Some(gtid).filter(|g| !g.is_empty()) }
}

async fn open(db: &TestServer, server_id: u32, at: &Position) -> BinlogReader {
    let server = server_of(db);
    BinlogReader::open(&server, &flavor_of(db).await, server_id, at, HEARTBEAT).await.unwrap_or_else(|e| panic!("open at {at}: {e}"))
}

/// The next event that is not a heartbeat.
async fn next_data(r: &mut BinlogReader) -> Event {
    loop {
        match tokio::time::timeout(Duration::from_secs(10), r.next()).await {
            Err(_) => panic!("no event within 10 s (at {})", r.position()),
            Ok(Err(e)) => panic!("reader failed: {e}"),
            Ok(Ok(None)) => panic!("stream ended"),
            Ok(Ok(Some(Event::Heartbeat))) => continue,
            Ok(Ok(Some(e))) => return e,
        }
    }
}

/// One source transaction as the reader delivers it.
#[derive(Debug)]
struct Txn {
    gtid: Option<String>,
    rows: Vec<RowsEvent>,
    queries: Vec<String>,
    position: Position,
}

/// Reads Begin .. Commit and checks the framing.
async fn next_txn(r: &mut BinlogReader) -> Txn {
    let gtid = match next_data(r).await {
        Event::Begin { gtid, timestamp } => {
            let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
            assert!((timestamp as u64).abs_diff(now) < 300, "Begin timestamp {timestamp} vs now {now}");
            gtid
        }
        other => panic!("expected Begin, got {other:?}"),
    };
    let mut rows = Vec::new();
    let mut queries = Vec::new();
    loop {
        match next_data(r).await {
            Event::Rows(re) => rows.push(re),
            Event::Query { sql, autocommit, .. } => {
                assert!(!autocommit, "a Query inside a transaction must not be autocommit: {sql}");
                queries.push(sql);
            }
            Event::Commit { .. } => break,
            other => panic!("unexpected inside a transaction: {other:?}"),
        }
    }
    Txn { gtid, rows, queries, position: r.position() }
}

/// All rows of a transaction's events for one table and kind, in order.
fn rows_of(t: &Txn, table: &str, kind: RowKind) -> Vec<RowChange> {
    t.rows.iter().filter(|r| r.table.table == table && r.kind == kind).flat_map(|r| r.rows.clone()).collect()
}

fn b(s: &[u8]) -> Value {
    Bytes(s.to_vec())
}

fn s(s: &str) -> Value {
    Bytes(s.as_bytes().to_vec())
}

fn point(x: f64, y: f64) -> Value {
    let mut v = vec![0, 0, 0, 0, 1, 1, 0, 0, 0];
    v.extend_from_slice(&x.to_le_bytes());
    v.extend_from_slice(&y.to_le_bytes());
    Bytes(v)
}

const TYPES_TABLE: &str = "
CREATE TABLE t.types (
  id INT NOT NULL PRIMARY KEY,
  y YEAR NULL,
  d65 DECIMAL(65,30) NULL,
  d10 DECIMAL(10,3) NULL,
  ti TINYINT NULL, tiu TINYINT UNSIGNED NULL,
  si SMALLINT NULL, siu SMALLINT UNSIGNED NULL,
  mi MEDIUMINT NULL, miu MEDIUMINT UNSIGNED NULL,
  i INT NULL, iu INT UNSIGNED NULL,
  bi BIGINT NULL, biu BIGINT UNSIGNED NULL,
  f FLOAT NULL, dbl DOUBLE NULL,
  b1 BIT(1) NULL, b10 BIT(10) NULL, b64 BIT(64) NULL,
  e ENUM('a','b','c') NULL, st SET('x','y','z') NULL,
  u8 VARCHAR(20) CHARACTER SET utf8mb4 NULL,
  l1 VARCHAR(20) CHARACTER SET latin1 NULL,
  c5 CHAR(5) CHARACTER SET utf8mb4 NULL,
  bin4 BINARY(4) NULL, vb VARBINARY(300) NULL,
  bl BLOB NULL, tx TEXT NULL,
  dt DATE NULL, tm TIME(6) NULL, tm0 TIME NULL, tm3 TIME(3) NULL, tm1 TIME(1) NULL,
  dtm DATETIME(6) NULL, dtm0 DATETIME NULL, dtm2 DATETIME(2) NULL,
  ts TIMESTAMP(6) NULL, ts0 TIMESTAMP NULL, ts3 TIMESTAMP(3) NULL,
  j JSON NULL, pt POINT NULL,
  e2 ENUM(__E300__) NULL, s64 SET(__S64__) NULL
) ENGINE=InnoDB;
CREATE TABLE t.small (id INT PRIMARY KEY, v VARCHAR(10));
";

fn types_ddl() -> String {
    let e300: Vec<String> = (1..=300).map(|i| format!("'v{i}'")).collect();
    let s64: Vec<String> = (1..=64).map(|i| format!("'m{i}'")).collect();
    format!("CREATE DATABASE t;{}", TYPES_TABLE.replace("__E300__", &e300.join(",")).replace("__S64__", &s64.join(",")))
}

fn insert_script() -> String {
    let all64: Vec<String> = (1..=64).map(|i| format!("m{i}")).collect();
    let blob1000: String = (0..1000).map(|i| format!("{:02X}", i % 256)).collect();
    format!(
        "SET time_zone = '+00:00'; SET sql_mode = '';
BEGIN;
INSERT INTO t.types VALUES
 (1, 0, '-99999999999999999999999999999999999.999999999999999999999999999999', -12.34,
  -128, 0, -32768, 0, -8388608, 0, -2147483648, 0, -9223372036854775808, 0,
  -1.5, -2.5e-300, b'0', b'0000000001', 0, 'a', '',
  '😀é', 'é', 'ab', X'00090A00', X'', X'00090A', 'tab\\there\\nnl',
  '0000-00-00', '-838:59:59.000000', '-00:00:01', '-00:00:00.500', '-01:00:00.5',
  '0000-00-00 00:00:00.000000', '1000-01-01 00:00:00', '2020-02-29 12:34:56.78',
  '0000-00-00 00:00:00', '1970-01-01 00:00:01', '2001-02-03 04:05:06.007',
  '{{\"a\": [1, 2.5, \"x\"], \"b\": null}}', ST_GeomFromText('POINT(1 2)'), 'v1', ''),
 (2, 2155, '99999999999999999999999999999999999.999999999999999999999999999999', 0.5,
  127, 255, 32767, 65535, 8388607, 16777215, 2147483647, 4294967295, 9223372036854775807, 18446744073709551615,
  0.1, 1.7976931348623157e308, b'1', b'1000000001', b'1111111111111111111111111111111111111111111111111111111111111111',
  'c', 'x,z',
  REPEAT('ü', 20), 'ÿ', 'abc  ', X'FFFFFFFF', REPEAT(X'AB', 300), X'{blob1000}', '',
  '9999-12-31', '838:59:59.000000', '838:59:59', '25:00:00.001', '-838:59:58.9',
  '9999-12-31 23:59:59.999999', '9999-12-31 23:59:59', '0000-00-00 00:00:00.00',
  '2038-01-19 03:14:07.999999', '2038-01-19 03:14:07', '1970-01-01 00:00:01.001',
  '[]', ST_GeomFromText('POINT(-1.5 1e300)'), 'v300', '{all64}'),
 (3, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
  NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
  NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL),
 (4, 1901, '0.000000000000000000000000000001', -0.001, 0, 1, -1, 1, -1, 1, -1, 1, -1, 1,
  0, 0, NULL, NULL, b'1', 'zzz', 'y', '', '', '', '', '', '', '',
  '2000-01-01', '00:00:00', '00:00:00', '00:00:00', '00:00:00',
  '2000-01-01 00:00:00', '2000-01-01 00:00:00', '2000-01-01 00:00:00',
  '2000-01-01 00:00:00', '2000-01-01 00:00:00', '2000-01-01 00:00:00',
  'null', NULL, 'v255', 'm64'),
 (5, NULL, '0', 0, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
  NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
  NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL);
COMMIT;",
        all64 = all64.join(",")
    )
}

fn expected_rows() -> Vec<Vec<Value>> {
    let blob1000: Vec<u8> = (0..1000).map(|i| (i % 256) as u8).collect();
    let mut nulls5 = vec![Int(5), NULL, s("0.000000000000000000000000000000"), s("0.000")];
    nulls5.extend(std::iter::repeat_n(NULL, 39));
    let mut nulls3 = vec![Int(3)];
    nulls3.extend(std::iter::repeat_n(NULL, 42));
    vec![
        vec![
            Int(1),
            Int(0),
            s("-99999999999999999999999999999999999.999999999999999999999999999999"),
            s("-12.340"),
            Int(-128),
            UInt(0),
            Int(-32768),
            UInt(0),
            Int(-8388608),
            UInt(0),
            Int(-2147483648),
            UInt(0),
            Int(i64::MIN),
            UInt(0),
            Float(-1.5),
            Double(-2.5e-300),
            b(&[0]),
            b(&[0, 1]),
            b(&[0; 8]),
            UInt(1),
            UInt(0),
            s("😀é"),
            b(&[0xE9]),
            s("ab"),
            // BINARY's trailing 0x00 padding is not in the binlog; the server pads it again.
            b(&[0, 9, 10]),
            b(b""),
            b(&[0, 9, 10]),
            s("tab\there\nnl"),
            Date(0, 0, 0, 0, 0, 0, 0),
            Time(true, 34, 22, 59, 59, 0),
            Time(true, 0, 0, 0, 1, 0),
            Time(true, 0, 0, 0, 0, 500_000),
            Time(true, 0, 1, 0, 0, 500_000),
            Date(0, 0, 0, 0, 0, 0, 0),
            Date(1000, 1, 1, 0, 0, 0, 0),
            Date(2020, 2, 29, 12, 34, 56, 780_000),
            Date(0, 0, 0, 0, 0, 0, 0),
            Date(1970, 1, 1, 0, 0, 1, 0),
            Date(2001, 2, 3, 4, 5, 6, 7_000),
            s(r#"{"a": [1, 2.5, "x"], "b": null}"#),
            point(1.0, 2.0),
            UInt(1),
            UInt(0),
        ],
        vec![
            Int(2),
            Int(2155),
            s("99999999999999999999999999999999999.999999999999999999999999999999"),
            s("0.500"),
            Int(127),
            UInt(255),
            Int(32767),
            UInt(65535),
            Int(8388607),
            UInt(16777215),
            Int(2147483647),
            UInt(4294967295),
            Int(i64::MAX),
            UInt(u64::MAX),
            Float(0.1),
            Double(1.7976931348623157e308),
            b(&[1]),
            b(&[2, 1]),
            b(&[0xFF; 8]),
            UInt(3),
            UInt(5),
            s(&"ü".repeat(20)),
            b(&[0xFF]),
            // CHAR's trailing spaces are not in the binlog (nor in the table).
            s("abc"),
            b(&[0xFF; 4]),
            b(&[0xAB; 300]),
            b(&blob1000),
            s(""),
            Date(9999, 12, 31, 0, 0, 0, 0),
            Time(false, 34, 22, 59, 59, 0),
            Time(false, 34, 22, 59, 59, 0),
            Time(false, 1, 1, 0, 0, 1_000),
            Time(true, 34, 22, 59, 58, 900_000),
            Date(9999, 12, 31, 23, 59, 59, 999_999),
            Date(9999, 12, 31, 23, 59, 59, 0),
            Date(0, 0, 0, 0, 0, 0, 0),
            Date(2038, 1, 19, 3, 14, 7, 999_999),
            Date(2038, 1, 19, 3, 14, 7, 0),
            Date(1970, 1, 1, 0, 0, 1, 1_000),
            s("[]"),
            point(-1.5, 1e300),
            UInt(300),
            UInt(u64::MAX),
        ],
        nulls3,
        vec![
            Int(4),
            Int(1901),
            s("0.000000000000000000000000000001"),
            s("-0.001"),
            Int(0),
            UInt(1),
            Int(-1),
            UInt(1),
            Int(-1),
            UInt(1),
            Int(-1),
            UInt(1),
            Int(-1),
            UInt(1),
            Float(0.0),
            Double(0.0),
            NULL,
            NULL,
            b(&[0, 0, 0, 0, 0, 0, 0, 1]),
            UInt(0),
            UInt(2),
            s(""),
            s(""),
            s(""),
            s(""),
            s(""),
            s(""),
            s(""),
            Date(2000, 1, 1, 0, 0, 0, 0),
            Time(false, 0, 0, 0, 0, 0),
            Time(false, 0, 0, 0, 0, 0),
            Time(false, 0, 0, 0, 0, 0),
            Time(false, 0, 0, 0, 0, 0),
            Date(2000, 1, 1, 0, 0, 0, 0),
            Date(2000, 1, 1, 0, 0, 0, 0),
            Date(2000, 1, 1, 0, 0, 0, 0),
            Date(2000, 1, 1, 0, 0, 0, 0),
            Date(2000, 1, 1, 0, 0, 0, 0),
            Date(2000, 1, 1, 0, 0, 0, 0),
            s("null"),
            NULL,
            UInt(255),
            UInt(1 << 63),
        ],
        nulls5,
    ]
}

fn assert_row(got: &[Value], want: &[Value], names: &[String], what: &str) {
    assert_eq!(got.len(), want.len(), "{what}: column count");
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        assert_eq!(g, w, "{what}: column {} ({})", i + 1, names[i]);
    }
}

#[tokio::test]
async fn decodes_every_type_frames_transactions_and_tracks_positions() {
    let db = mariadb_source().await;
    db.exec(&types_ddl()).await;
    let start = master_status(&db).await;
    let mut r = open(&db, 7001, &start).await;
    assert_eq!(r.position(), start, "an unread stream stands at its start");

    // 1. Every type at its edges, in one transaction.
    db.exec(&insert_script()).await;
    let t1 = next_txn(&mut r).await;
    let idle = master_status(&db).await;
    assert_eq!(t1.position, idle, "position after the Commit = SHOW MASTER STATUS");
    assert_eq!(t1.gtid, idle.gtid, "the Begin carries the transaction's GTID");
    assert!(t1.queries.is_empty());
    let table = &t1.rows[0].table;
    assert_eq!((table.db.as_str(), table.table.as_str()), ("t", "types"));
    let names: Vec<String> = table.columns.iter().map(|c| c.name.clone().expect("column names are logged")).collect();
    assert_eq!(names[0..4], ["id", "y", "d65", "d10"]);
    assert_eq!(names.len(), 43);
    let kinds: Vec<ColumnKind> = table.columns.iter().map(|c| c.kind).collect();
    use ColumnKind as K;
    assert_eq!(
        kinds,
        [
            K::Int,
            K::Year,
            K::Decimal,
            K::Decimal,
            K::Int,
            K::Int,
            K::Int,
            K::Int,
            K::Int,
            K::Int,
            K::Int,
            K::Int,
            K::Int,
            K::Int,
            K::Float,
            K::Double,
            K::Bit,
            K::Bit,
            K::Bit,
            K::Enum,
            K::Set,
            K::String,
            K::String,
            K::String,
            K::String,
            K::String,
            K::Blob,
            K::Blob,
            K::Date,
            K::Time,
            K::Time,
            K::Time,
            K::Time,
            K::DateTime,
            K::DateTime,
            K::DateTime,
            K::Timestamp,
            K::Timestamp,
            K::Timestamp,
            K::Blob,
            K::Geometry,
            K::Enum,
            K::Set
        ]
    );
    let unsigned: Vec<&str> = table.columns.iter().filter(|c| c.unsigned).map(|c| c.name.as_deref().unwrap()).collect();
    // MariaDB's YEAR is an unsigned number too.
    assert_eq!(unsigned, ["y", "tiu", "siu", "miu", "iu", "biu"]);
    let inserted = rows_of(&t1, "types", RowKind::Insert);
    let want = expected_rows();
    assert_eq!(inserted.len(), want.len());
    for (k, ((before, after), w)) in inserted.iter().zip(&want).enumerate() {
        assert!(before.is_none());
        assert_row(after.as_ref().unwrap(), w, &names, &format!("inserted row {}", k + 1));
    }
    assert!(t1.rows.iter().all(|r| r.kind == RowKind::Insert && std::sync::Arc::ptr_eq(&r.table, table)));

    // 2. An UPDATE that moves the primary key.
    db.exec("UPDATE t.types SET id = 100 WHERE id = 1").await;
    let t2 = next_txn(&mut r).await;
    let updated = rows_of(&t2, "types", RowKind::Update);
    assert_eq!(updated.len(), 1);
    let (before, after) = &updated[0];
    assert_row(before.as_ref().unwrap(), &want[0], &names, "update before");
    let mut moved = want[0].clone();
    moved[0] = Int(100);
    assert_row(after.as_ref().unwrap(), &moved, &names, "update after");
    assert_eq!(t2.position, master_status(&db).await);

    // 3. A DELETE.
    db.exec("DELETE FROM t.types WHERE id = 3").await;
    let t3 = next_txn(&mut r).await;
    let deleted = rows_of(&t3, "types", RowKind::Delete);
    assert_eq!(deleted.len(), 1);
    assert!(deleted[0].1.is_none());
    assert_row(deleted[0].0.as_ref().unwrap(), &want[2], &names, "deleted row");
    assert_eq!(t3.position, master_status(&db).await);

    // 4. Several statements and tables in one transaction: one Begin, one Commit, in order.
    db.exec(
        "BEGIN; INSERT INTO t.small VALUES (1, 'a'), (2, 'b'); UPDATE t.small SET v = 'c' WHERE id = 1;
         DELETE FROM t.small WHERE id = 2; INSERT INTO t.types (id) VALUES (6); COMMIT;",
    )
    .await;
    let t4 = next_txn(&mut r).await;
    let shape: Vec<(&str, RowKind, usize)> = t4.rows.iter().map(|r| (r.table.table.as_str(), r.kind, r.rows.len())).collect();
    assert_eq!(
        shape,
        [("small", RowKind::Insert, 2), ("small", RowKind::Update, 1), ("small", RowKind::Delete, 1), ("types", RowKind::Insert, 1)]
    );
    assert_eq!(t4.rows[0].rows[1].1.as_ref().unwrap(), &vec![Int(2), s("b")]);
    assert_eq!(t4.rows[1].rows[0], (Some(vec![Int(1), s("a")]), Some(vec![Int(1), s("c")])));
    let idle = master_status(&db).await;
    assert_eq!(t4.position, idle);
    assert_eq!(t4.gtid, idle.gtid);

    // 5. A DDL statement: a Query on its own, committed by itself.
    db.exec_in(Some("t"), "CREATE TABLE ddl_made (a INT)").await;
    match next_data(&mut r).await {
        Event::Query { db: d, sql, autocommit, timestamp, .. } => {
            assert_eq!((d.as_str(), sql.as_str(), autocommit), ("t", "CREATE TABLE ddl_made (a INT)", true));
            assert!(timestamp > 0);
        }
        other => panic!("expected the DDL Query, got {other:?}"),
    }
    let idle = master_status(&db).await;
    assert_eq!(r.position(), idle, "position and GTID state right after the DDL");

    // 6. Idle: heartbeats, and the position stays.
    let t0 = Instant::now();
    let mut beats = 0;
    while t0.elapsed() < Duration::from_millis(1500) {
        match tokio::time::timeout(Duration::from_secs(2), r.next()).await {
            Ok(Ok(Some(Event::Heartbeat))) => beats += 1,
            other => panic!("expected heartbeats while idle, got {other:?}"),
        }
    }
    assert!(beats >= 4, "only {beats} heartbeats in 1.5 s at a 200 ms period");
    assert_eq!(r.position(), idle);

    // 7. Reopening at a saved position continues with exactly the next transaction...
    drop(r);
    let mut again = open(&db, 7002, &t1.position).await;
    let t2b = next_txn(&mut again).await;
    assert_eq!((t2b.gtid.as_ref(), &t2b.position), (t2.gtid.as_ref(), &t2.position));
    assert_eq!(rows_of(&t2b, "types", RowKind::Update), updated);
    drop(again);

    // ... and so does reopening by the GTID state alone.
    let by_gtid = Position { file: String::new(), pos: 4, gtid: t1.position.gtid.clone() };
    let mut again = open(&db, 7003, &by_gtid).await;
    let t2c = next_txn(&mut again).await;
    assert_eq!((t2c.gtid.as_ref(), &t2c.position), (t2.gtid.as_ref(), &t2.position));
    let t3c = next_txn(&mut again).await;
    assert_eq!(t3c.position, t3.position);
    drop(again);

    // ... and at the very end it only hears heartbeats.
    let mut end = open(&db, 7004, &idle).await;
    match tokio::time::timeout(Duration::from_secs(2), end.next()).await {
        Ok(Ok(Some(Event::Heartbeat))) => {}
        other => panic!("expected a heartbeat at the end of the binlog, got {other:?}"),
    }
    assert_eq!(end.position(), idle);
}

#[tokio::test]
async fn follows_binlog_rotation_and_tracks_several_gtid_domains() {
    let db = mariadb_source().await;
    db.exec("CREATE DATABASE t; CREATE TABLE t.a (id INT PRIMARY KEY, v INT);").await;
    // A start without its GTID state: the reader asks the source for it (BINLOG_GTID_POS).
    let start = Position { gtid: None, ..master_status(&db).await };
    let mut r = open(&db, 7101, &start).await;
    db.exec("INSERT INTO t.a VALUES (1, 1)").await;
    let t1 = next_txn(&mut r).await;
    assert_eq!(t1.position, master_status(&db).await);
    db.exec("FLUSH BINARY LOGS").await;
    db.exec("SET gtid_domain_id = 7; INSERT INTO t.a VALUES (2, 2)").await;
    let t2 = next_txn(&mut r).await;
    let idle = master_status(&db).await;
    assert_ne!(idle.file, start.file, "the binlog rotated");
    assert_eq!(t2.position, idle, "after a rotation the position names the new file");
    let domains = t2.position.gtid.as_deref().unwrap();
    assert!(domains.starts_with("0-") && domains.contains(",7-"), "both domains in {domains}");
    assert_eq!(t2.gtid.as_deref().map(|g| g.starts_with("7-")), Some(true));
    assert!(t1.position < t2.position);

    // Resuming by GTID needs every domain: the full state is in position().gtid.
    drop(r);
    db.exec("INSERT INTO t.a VALUES (3, 3)").await;
    let mut again = open(&db, 7102, &Position { file: String::new(), pos: 4, gtid: t2.position.gtid.clone() }).await;
    let t3 = next_txn(&mut again).await;
    assert_eq!(rows_of(&t3, "a", RowKind::Insert), vec![(None, Some(vec![Int(3), Int(3)]))]);
    assert_eq!(t3.position, master_status(&db).await);
}

#[tokio::test]
async fn savepoints_non_transactional_tables_and_xa() {
    let db = mariadb_source().await;
    db.exec(
        "CREATE DATABASE t; CREATE TABLE t.a (id INT PRIMARY KEY, v INT);
         CREATE TABLE t.m (id INT PRIMARY KEY) ENGINE=MyISAM;",
    )
    .await;
    let start = master_status(&db).await;
    let mut r = open(&db, 7501, &start).await;

    // A non-transactional table: its own group, ended by a COMMIT query.
    db.exec("INSERT INTO t.m VALUES (1)").await;
    let t = next_txn(&mut r).await;
    assert_eq!(rows_of(&t, "m", RowKind::Insert), vec![(None, Some(vec![Int(1)]))]);
    assert_eq!(t.position, master_status(&db).await);

    // With a non-transactional change inside, MariaDB logs the savepoint and the rollback to it:
    // the rows after the savepoint must not come out.
    db.exec(
        "BEGIN; INSERT INTO t.a VALUES (11, 1); SAVEPOINT s; INSERT INTO t.m VALUES (3);
         INSERT INTO t.a VALUES (12, 1); ROLLBACK TO SAVEPOINT s; INSERT INTO t.a VALUES (13, 1); COMMIT;",
    )
    .await;
    let mut seen: Vec<Vec<Value>> = Vec::new();
    loop {
        let t = next_txn(&mut r).await;
        for re in &t.rows {
            for (_, after) in &re.rows {
                let mut row = vec![s(&re.table.table)];
                row.extend(after.clone().unwrap());
                seen.push(row);
            }
        }
        if t.position == master_status(&db).await {
            break;
        }
    }
    seen.sort_by_key(|r| format!("{r:?}"));
    assert_eq!(
        seen,
        vec![vec![s("a"), Int(11), Int(1)], vec![s("a"), Int(13), Int(1)], vec![s("m"), Int(3)]],
        "what the source's tables hold"
    );
    let mut c = db.conn().await;
    let ids: Vec<i32> = c.query("SELECT id FROM t.a ORDER BY id").await.unwrap();
    assert_eq!(ids, [11, 13]);
    let logged = db.exec("SHOW BINLOG EVENTS").await;
    assert!(logged.contains("SAVEPOINT `s`") && logged.contains("ROLLBACK TO `s`"), "the case under test: {logged}");

    // XA: the prepared part, then the XA COMMIT, each a transaction with its GTID.
    db.exec("XA START 'x1'; INSERT INTO t.a VALUES (20, 2); XA END 'x1'; XA PREPARE 'x1'; XA COMMIT 'x1';").await;
    let prepared = next_txn(&mut r).await;
    assert_eq!(rows_of(&prepared, "a", RowKind::Insert), vec![(None, Some(vec![Int(20), Int(2)]))]);
    let committed = next_txn(&mut r).await;
    assert!(committed.rows.is_empty());
    assert_eq!(committed.position, master_status(&db).await);
}

#[tokio::test]
async fn a_purged_binlog_is_a_distinct_error() {
    let db = mariadb_source().await;
    db.exec("CREATE DATABASE t; CREATE TABLE t.a (id INT PRIMARY KEY);").await;
    let old = master_status(&db).await;
    db.exec("INSERT INTO t.a VALUES (1)").await;
    let after_first = master_status(&db).await;
    db.exec("FLUSH BINARY LOGS; INSERT INTO t.a VALUES (2); FLUSH BINARY LOGS;").await;
    let now = master_status(&db).await;
    // A file stays until InnoDB has checkpointed its commits: retry for a while.
    let t0 = Instant::now();
    loop {
        db.exec(&format!("PURGE BINARY LOGS TO '{}'", now.file)).await;
        let left = db.exec("SHOW BINARY LOGS").await;
        if left.lines().count() == 1 {
            break;
        }
        assert!(t0.elapsed() < Duration::from_secs(30), "not purged: {left}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    let server = server_of(&db);
    let flavor = flavor_of(&db).await;
    for at in [old.clone(), Position { file: String::new(), pos: 4, gtid: after_first.gtid.clone() }] {
        let err = BinlogReader::open(&server, &flavor, 7201, &at, HEARTBEAT).await.expect_err("the position is gone");
        assert!(matches!(err, Error::BinlogPurged { .. }), "{err:?}");
        let msg = err.to_string();
        println!("{msg}");
        assert!(msg.contains("no longer on the source") && msg.contains("new initial sync"), "{msg}");
        assert!(msg.contains(&server.address), "{msg}");
    }
    // The current file still works.
    let mut r = open(&db, 7202, &now).await;
    db.exec("INSERT INTO t.a VALUES (3)").await;
    assert_eq!(next_txn(&mut r).await.position, master_status(&db).await);
}

#[tokio::test]
async fn a_second_stream_with_the_same_server_id_is_named() {
    let db = mariadb_source().await;
    let start = master_status(&db).await;
    let mut first = open(&db, 7301, &start).await;
    let _second = open(&db, 7301, &start).await;
    let err = loop {
        match tokio::time::timeout(Duration::from_secs(10), first.next()).await {
            Err(_) => panic!("the first stream was not told about the second one"),
            Ok(Ok(Some(Event::Heartbeat))) => continue,
            Ok(Ok(other)) => panic!("unexpected {other:?}"),
            Ok(Err(e)) => break e,
        }
    };
    let msg = err.to_string();
    println!("{msg}");
    assert!(msg.contains("7301") && msg.contains("server id"), "{msg}");
}

/// Reads `txns` transactions from `at` and returns (seconds, row changes).
async fn time_reading(db: &TestServer, server_id: u32, at: &Position, txns: usize) -> (f64, usize, Vec<Txn>) {
    let mut r = open(db, server_id, at).await;
    let t0 = Instant::now();
    let mut out = Vec::with_capacity(txns);
    let mut rows = 0;
    for _ in 0..txns {
        let t = next_txn(&mut r).await;
        rows += t.rows.iter().map(|r| r.rows.len()).sum::<usize>();
        out.push(t);
    }
    (t0.elapsed().as_secs_f64(), rows, out)
}

#[tokio::test]
async fn decoding_speed() {
    let db = mariadb_source().await;
    let wide_cols: Vec<String> = (0..64)
        .map(|i| match i % 4 {
            0 => format!("c{i} INT"),
            1 => format!("c{i} VARCHAR(32)"),
            2 => format!("c{i} DATETIME"),
            _ => format!("c{i} DECIMAL(10,2)"),
        })
        .collect();
    db.exec(&format!(
        "CREATE DATABASE t; CREATE TABLE t.bench (id INT PRIMARY KEY, a BIGINT, b VARCHAR(64), c DATETIME(6),
         d DECIMAL(12,2), e DOUBLE, f TIMESTAMP NULL, g INT UNSIGNED);
         CREATE TABLE t.wide (id INT PRIMARY KEY, {});
         CREATE TABLE t.sb (id INT PRIMARY KEY, k INT, c CHAR(120), pad CHAR(60));",
        wide_cols.join(", ")
    ))
    .await;

    // One transaction of 100k rows, 8 columns.
    const N: usize = 100_000;
    let start = master_status(&db).await;
    db.exec_in(
        Some("t"),
        &format!(
            "INSERT INTO t.bench SELECT seq, seq * 1000, CONCAT('row number ', seq), '2024-01-02 03:04:05.123456',
         seq / 7, seq / 3, '2024-05-06 07:08:09', seq FROM seq_1_to_{N}"
        ),
    )
    .await;
    let (secs, rows, t) = time_reading(&db, 7401, &start, 1).await;
    assert_eq!(rows, N);
    let all = rows_of(&t[0], "bench", RowKind::Insert);
    let last = all[N - 1].1.as_ref().unwrap();
    assert_eq!(last[0], Int(N as i64));
    assert_eq!(last[2], s(&format!("row number {N}")));
    assert_eq!(last[4], s(&format!("{:.2}", N as f64 / 7.0)));
    assert_eq!(last[6], Date(2024, 5, 6, 7, 8, 9, 0));
    assert_eq!(last[7], UInt(N as u64));
    println!("1 transaction, {N} rows x 8 columns: {secs:.3} s, {:.0} rows/s", N as f64 / secs);

    // 20k rows of 65 columns.
    const W: usize = 20_000;
    let start = master_status(&db).await;
    let values: Vec<String> = (0..64)
        .map(|i| match i % 4 {
            0 => "seq".to_string(),
            1 => "'some text here'".to_string(),
            2 => "'2024-01-02 03:04:05'".to_string(),
            _ => "seq / 100".to_string(),
        })
        .collect();
    db.exec_in(Some("t"), &format!("INSERT INTO t.wide SELECT seq, {} FROM seq_1_to_{W}", values.join(", "))).await;
    let (secs, rows, _) = time_reading(&db, 7402, &start, 1).await;
    assert_eq!(rows, W);
    println!("1 transaction, {W} rows x 65 columns: {secs:.3} s, {:.0} rows/s", W as f64 / secs);

    // 20k one-row transactions (sysbench-like rows).
    const S: usize = 20_000;
    let start = master_status(&db).await;
    db.exec(&format!(
        "DELIMITER //
         CREATE PROCEDURE t.load(n INT) BEGIN DECLARE i INT DEFAULT 0;
           WHILE i < n DO INSERT INTO t.sb VALUES (i, i, REPEAT('c', 120), REPEAT('p', 60)); SET i = i + 1; END WHILE; END//
         DELIMITER ;
         CALL t.load({S});"
    ))
    .await;
    // The CREATE PROCEDURE is a DDL before the transactions.
    let mut r = open(&db, 7403, &start).await;
    assert!(matches!(next_data(&mut r).await, Event::Query { autocommit: true, .. }));
    let at = r.position();
    drop(r);
    let (secs, rows, txns) = time_reading(&db, 7404, &at, S).await;
    assert_eq!(rows, S);
    assert_eq!(txns.last().unwrap().position, master_status(&db).await);
    println!("{S} one-row transactions: {secs:.3} s, {:.0} transactions/s", S as f64 / secs);
}

// ---- MySQL ------------------------------------------------------------------------------------

/// A MySQL 9.7 source (GTIDs on, MINIMAL row metadata) with `args` on top.
async fn mysql_source(args: &[&str]) -> TestServer {
    let mut o = ServerOptions::source().flavor(ServerFlavor::MySql);
    for a in args {
        o = o.arg(*a);
    }
    TestServer::start(o).await
}

/// Whether two MySQL GTID sets hold the same transactions, however each prints them.
fn same_gtids(a: Option<&str>, b: Option<&str>) -> bool {
    use ferry_engine::source::binlog::MySqlGtidSet;
    let parse = |g: Option<&str>| g.map(|g| MySqlGtidSet::parse(g).unwrap_or_else(|e| panic!("{e}")));
    parse(a) == parse(b)
}

#[tokio::test]
async fn mysql_compressed_transactions_are_read_with_exact_positions() {
    let db = mysql_source(&["--binlog-transaction-compression=ON"]).await;
    db.exec("CREATE DATABASE t; CREATE TABLE t.a (id INT PRIMARY KEY, v VARCHAR(200), j JSON);").await;
    let start = master_status(&db).await;
    let mut r = open(&db, 7601, &start).await;

    // A small transaction, then one of 20,000 rows (many rows events in one payload).
    db.exec(r#"INSERT INTO t.a VALUES (1, 'one', '{"k": [1, 2]}'), (2, 'two', NULL)"#).await;
    let t1 = next_txn(&mut r).await;
    let idle = master_status(&db).await;
    assert_eq!(t1.position.file, idle.file);
    assert_eq!(t1.position.pos, idle.pos, "position after a compressed transaction = the payload's end");
    assert!(same_gtids(t1.position.gtid.as_deref(), idle.gtid.as_deref()), "{:?} vs {:?}", t1.position.gtid, idle.gtid);
    assert_eq!(
        rows_of(&t1, "a", RowKind::Insert),
        vec![(None, Some(vec![Int(1), s("one"), s(r#"{"k": [1, 2]}"#)])), (None, Some(vec![Int(2), s("two"), NULL]))]
    );
    db.exec(
        "SET SESSION cte_max_recursion_depth = 100000;
         INSERT INTO t.a (id, v) WITH RECURSIVE n(i) AS (SELECT 3 UNION ALL SELECT i + 1 FROM n WHERE i < 20002)
         SELECT i, REPEAT('x', 150) FROM n",
    )
    .await;
    let t2 = next_txn(&mut r).await;
    assert_eq!(rows_of(&t2, "a", RowKind::Insert).len(), 20_000);
    db.exec("BEGIN; UPDATE t.a SET v = 'changed' WHERE id = 1; DELETE FROM t.a WHERE id = 2; COMMIT;").await;
    let t3 = next_txn(&mut r).await;
    assert_eq!(rows_of(&t3, "a", RowKind::Update)[0].1.as_ref().unwrap()[1], s("changed"));
    assert_eq!(rows_of(&t3, "a", RowKind::Delete).len(), 1);
    let idle = master_status(&db).await;
    assert_eq!((t3.position.file.as_str(), t3.position.pos), (idle.file.as_str(), idle.pos));
    let events = db.exec("SHOW BINLOG EVENTS").await;
    assert!(events.contains("Transaction_payload"), "the case under test: compressed transactions in\n{events}");

    // Resuming inside the compressed stream at a transaction's end reads exactly the next one.
    drop(r);
    let mut again = open(&db, 7602, &t1.position).await;
    assert_eq!(rows_of(&next_txn(&mut again).await, "a", RowKind::Insert).len(), 20_000);
    assert_eq!(next_txn(&mut again).await.position, t3.position);
}

#[tokio::test]
async fn mysql_tagged_gtids_and_resume_by_gtid_after_a_purge() {
    let db = mysql_source(&[]).await;
    db.exec("CREATE DATABASE t; CREATE TABLE t.a (id INT PRIMARY KEY);").await;
    let start = master_status(&db).await;
    let mut r = open(&db, 7701, &start).await;
    // Tagged and untagged transactions of one server, interleaved.
    db.exec("SET gtid_next = 'AUTOMATIC:blue'; INSERT INTO t.a VALUES (1); INSERT INTO t.a VALUES (2); SET gtid_next = 'AUTOMATIC';").await;
    db.exec("INSERT INTO t.a VALUES (3)").await;
    db.exec("SET gtid_next = 'AUTOMATIC:green_2'; INSERT INTO t.a VALUES (4); SET gtid_next = 'AUTOMATIC';").await;
    let tagged = next_txn(&mut r).await;
    let uuid: String = db.conn().await.query_first("SELECT @@server_uuid").await.unwrap().unwrap();
    assert_eq!(tagged.gtid.as_deref(), Some(format!("{uuid}:blue:1").as_str()));
    next_txn(&mut r).await;
    let t3 = next_txn(&mut r).await;
    let t4 = next_txn(&mut r).await;
    let idle = master_status(&db).await;
    assert!(idle.gtid.as_deref().unwrap().contains(":blue:1-2"), "{idle:?}");
    assert!(same_gtids(t4.position.gtid.as_deref(), idle.gtid.as_deref()), "{:?} vs {:?}", t4.position, idle);
    drop(r);

    // By a GTID set holding tags: the stream starts right after it.
    let by_gtid = Position { file: String::new(), pos: 4, gtid: t3.position.gtid.clone() };
    let mut again = open(&db, 7702, &by_gtid).await;
    let t4b = next_txn(&mut again).await;
    assert_eq!(t4b.gtid, t4.gtid);
    assert_eq!(rows_of(&t4b, "a", RowKind::Insert), vec![(None, Some(vec![Int(4)]))]);
    drop(again);

    // The checkpoint's file is purged (it holds only what was read): resume() goes by GTID and
    // reports the checkpoint until the first transaction, then exact positions.
    db.exec("FLUSH BINARY LOGS; INSERT INTO t.a VALUES (5); FLUSH BINARY LOGS; INSERT INTO t.a VALUES (6);").await;
    let newest = master_status(&db).await;
    let mut c = db.conn().await;
    async fn logs(c: &mut mysql_async::Conn) -> mysql_async::Result<Vec<String>> {
        c.query_map("SHOW BINARY LOGS", |row: mysql_async::Row| row.get::<String, _>(0).unwrap()).await
    }
    let second = logs(&mut c).await.unwrap().into_iter().find(|n| *n > t4.position.file).expect("a newer binlog");
    // A file a dump thread still reads is kept: retry while the closed streams go away.
    let t0 = Instant::now();
    loop {
        c.query_drop(format!("PURGE BINARY LOGS TO '{second}'")).await.unwrap();
        let left = logs(&mut c).await.unwrap();
        if !left.contains(&t4.position.file) {
            break;
        }
        assert!(t0.elapsed() < Duration::from_secs(30), "not purged: {left:?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let server = server_of(&db);
    let flavor = flavor_of(&db).await;
    let err = BinlogReader::open(&server, &flavor, 7703, &t4.position, HEARTBEAT).await.expect_err("by file the position is gone");
    assert!(matches!(err, Error::BinlogPurged { .. }), "{err:?}");
    let mut resumed = BinlogReader::resume(&server, &flavor, 7704, &t4.position, HEARTBEAT).await.unwrap();
    assert_eq!(resumed.position(), t4.position, "before its first transaction a resumed stream stands at the checkpoint");
    let t5 = next_txn(&mut resumed).await;
    assert_eq!(rows_of(&t5, "a", RowKind::Insert), vec![(None, Some(vec![Int(5)]))]);
    assert_eq!(t5.position.file, second, "exact once a transaction is read");
    let t6 = next_txn(&mut resumed).await;
    assert_eq!((t6.position.file.as_str(), t6.position.pos), (newest.file.as_str(), newest.pos));
    assert!(same_gtids(t6.position.gtid.as_deref(), newest.gtid.as_deref()));
}

#[tokio::test]
async fn mysql_statements_carry_the_session_they_ran_in() {
    let db = mysql_source(&[]).await;
    db.exec("CREATE DATABASE t").await;
    let start = master_status(&db).await;
    let mut r = open(&db, 7801, &start).await;
    // A latin1 client: the statement's bytes are latin1 ('é' is one byte, 0xE9), not UTF-8.
    let mut c = db.conn().await;
    c.query_drop("SET NAMES latin1 COLLATE latin1_german1_ci, SESSION sql_mode = 'ANSI_QUOTES,NO_ENGINE_SUBSTITUTION'").await.unwrap();
    c.query_drop(b"CREATE VIEW t.v AS SELECT 'caf\xe9' AS \"w\"".as_slice()).await.unwrap();
    let (db_name, sql, context) = match next_data(&mut r).await {
        Event::Query { db, sql, context, .. } => (db, sql, context),
        other => panic!("expected the CREATE VIEW, got {other:?}"),
    };
    assert_eq!(db_name, "");
    let bytes = ferry_engine::source::binlog::statement_bytes(&sql, &context).unwrap();
    assert!(context.bytes_as_chars, "latin1 bytes are not UTF-8");
    assert!(bytes.windows(4).any(|w| w == b"caf\xe9"), "the original bytes come back: {bytes:?}");
    let (client, connection, _) = context.charset.expect("the charset status variable");
    let names: Vec<(u64, String)> =
        c.query("SELECT ID, COLLATION_NAME FROM information_schema.COLLATIONS WHERE ID IN (8, 5)").await.unwrap();
    // SET NAMES ... COLLATE gives the client that collation too.
    assert_eq!((client, connection), (5, 5), "latin1_german1_ci's id: {names:?}");
    let mode = context.sql_mode.expect("the sql_mode status variable");
    assert_eq!(mode, (1 << 2) | (1 << 30), "ANSI_QUOTES | NO_ENGINE_SUBSTITUTION");
}
