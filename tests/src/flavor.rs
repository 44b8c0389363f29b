//! What differs between a private MariaDB and a private MySQL server in the harness: how a data
//! folder is made, the server's arguments, where its binaries and paths live, its SQL client.
//!
//! MariaDB 10.11 comes from the machine's Debian packages. MySQL 9.7 runs from a Debian sid root
//! built by `scripts/install-mysql.sh` (Debian bookworm has no MySQL server): every MySQL server is
//! started with `chroot ROOT /usr/sbin/mysqld`, its folders live inside the root, and it shares
//! the machine's network, so ferry and the tests reach it on 127.0.0.1 like any other.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Mutex;

/// Which server product a test runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Flavor {
    MariaDb,
    MySql,
}

/// The environment variable that picks the flavour of servers a test starts by default.
pub const FLAVOR_ENV: &str = "FERRY_TEST_FLAVOR";

impl Flavor {
    /// `$FERRY_TEST_FLAVOR` (`mariadb`, the default, or `mysql`). Panics on anything else, so that
    /// a typo does not silently test the other flavour.
    pub fn from_env() -> Flavor {
        match std::env::var(FLAVOR_ENV).ok().as_deref().map(str::to_ascii_lowercase).as_deref() {
            None | Some("") | Some("mariadb") => Flavor::MariaDb,
            Some("mysql") => Flavor::MySql,
            Some(other) => panic!("{FLAVOR_ENV}={other}: expected `mariadb` or `mysql`"),
        }
    }

    /// `mariadb` or `mysql`, as in `$FERRY_TEST_FLAVOR` and `make demo FLAVOR=…`.
    pub fn name(self) -> &'static str {
        match self {
            Flavor::MariaDb => "mariadb",
            Flavor::MySql => "mysql",
        }
    }

    /// The other one (for cross-flavour tests).
    pub fn other(self) -> Flavor {
        match self {
            Flavor::MariaDb => Flavor::MySql,
            Flavor::MySql => Flavor::MariaDb,
        }
    }

    /// The folder that holds the servers' temporary folders (inside the root for MySQL).
    pub(crate) fn temp_parent(self) -> PathBuf {
        match self {
            Flavor::MariaDb => crate::short_tmp(),
            Flavor::MySql => mysql_root().join("srv/ferry"),
        }
    }

    /// A path outside the root as the server sees it (inside the root).
    pub(crate) fn inner(self, outer: &Path) -> PathBuf {
        match self {
            Flavor::MariaDb => outer.to_path_buf(),
            Flavor::MySql => {
                let root = mysql_root();
                Path::new("/").join(
                    outer
                        .strip_prefix(&root)
                        .unwrap_or_else(|_| panic!("{} is not inside the MySQL root {}", outer.display(), root.display())),
                )
            }
        }
    }

    /// The server program, ready for its arguments.
    pub(crate) fn server_command(self) -> Command {
        match self {
            Flavor::MariaDb => Command::new(crate::tool("mariadbd", "/usr/sbin/mariadbd")),
            Flavor::MySql => chrooted("/usr/sbin/mysqld"),
        }
    }

    /// The command-line client, ready for its arguments (`--socket` as [`inner`](Self::inner)).
    pub(crate) fn client_command(self) -> tokio::process::Command {
        match self {
            Flavor::MariaDb => tokio::process::Command::new(crate::tool("mariadb", "/usr/bin/mariadb")),
            Flavor::MySql => chrooted("/usr/bin/mysql").into(),
        }
    }

    /// Arguments every server of this flavour gets (paths, ports and the server id apart): small,
    /// since several run at once on a 2-core machine, and fast while still safe when the process
    /// (not the machine) is killed.
    pub(crate) fn base_args(self) -> Vec<String> {
        let common = [
            "--no-defaults",
            "--user=root",
            "--bind-address=127.0.0.1",
            "--skip-name-resolve",
            "--performance-schema=OFF",
            "--innodb-buffer-pool-size=64M",
            "--innodb-log-buffer-size=8M",
            "--innodb-buffer-pool-dump-at-shutdown=OFF",
            "--innodb-buffer-pool-load-at-startup=OFF",
            "--key-buffer-size=4M",
            "--innodb-flush-log-at-trx-commit=2",
            "--sync-binlog=0",
        ];
        let own: &[&str] = match self {
            Flavor::MariaDb => &[
                "--character-set-server=utf8mb4",
                "--collation-server=utf8mb4_general_ci",
                "--aria-pagecache-buffer-size=8M",
                "--query-cache-size=0",
            ],
            // MySQL's own defaults otherwise (utf8mb4_0900_ai_ci, strict sql_mode,
            // caching_sha2_password). local_infile is OFF by default on MySQL; the harness turns
            // it on so that targets take ferry's LOAD DATA path unless a test says otherwise.
            Flavor::MySql => &["--mysqlx=OFF", "--secure-file-priv=", "--local-infile=ON", "--innodb-redo-log-capacity=32M"],
        };
        common.iter().chain(own).map(|s| s.to_string()).collect()
    }

    /// The variable that says a cutover made the server read-only (see the engine's
    /// `Flavor::read_only_lock`): MySQL's `super_read_only`, MariaDB's `read_only`.
    pub fn read_only_variable(self) -> &'static str {
        match self {
            Flavor::MySql => "@@global.super_read_only",
            Flavor::MariaDb => "@@global.read_only",
        }
    }

    /// The arguments that make a server a binlog source for ferry. MariaDB: FULL row metadata
    /// and strict GTIDs. MySQL: its defaults (ROW, FULL image, MINIMAL metadata) with GTIDs on.
    pub fn binlog_args(self) -> &'static [&'static str] {
        match self {
            Flavor::MariaDb => &[
                "--log-bin=mysql-bin",
                "--binlog-format=ROW",
                "--binlog-row-image=FULL",
                "--binlog-row-metadata=FULL",
                "--log-slave-updates=ON",
                "--log-bin-compress=OFF",
                "--gtid-strict-mode=ON",
                "--binlog-checksum=CRC32",
            ],
            Flavor::MySql => &["--log-bin=mysql-bin", "--gtid-mode=ON", "--enforce-gtid-consistency=ON", "--binlog-checksum=CRC32"],
        }
    }

    /// The arguments of a server without a binlog (MySQL 8+ writes one by default).
    pub(crate) fn no_binlog_args(self) -> &'static [&'static str] {
        match self {
            Flavor::MariaDb => &[],
            Flavor::MySql => &["--skip-log-bin"],
        }
    }

    /// Small InnoDB files for a data folder on a small tmpfs.
    pub(crate) fn small_disk_args(self) -> &'static [&'static str] {
        match self {
            Flavor::MariaDb => {
                &["--innodb-log-file-size=4M", "--innodb-data-file-path=ibdata1:4M:autoextend", "--innodb-autoextend-increment=1"]
            }
            Flavor::MySql => &["--innodb-autoextend-increment=1", "--innodb-redo-log-capacity=8M"],
        }
    }

    /// How many MiB a fresh data folder of this flavour takes (a small disk must hold it).
    pub fn fresh_datadir_mib(self) -> u32 {
        match self {
            Flavor::MariaDb => 20,
            Flavor::MySql => 110,
        }
    }

    /// Creates a fresh data folder at `datadir` (a path outside the root). `init_args` are the
    /// server arguments that matter at initialization (e.g. `--lower-case-table-names=1`).
    pub(crate) async fn install_db(self, datadir: &Path, tmpdir: &Path, init_args: &[String]) {
        match self {
            Flavor::MariaDb => install_mariadb(datadir, tmpdir, init_args).await,
            Flavor::MySql => install_mysql(datadir, init_args).await,
        }
    }
}

impl Flavor {
    /// Column type text as this flavour's information_schema prints it: MySQL 8.0.19+ dropped the
    /// display widths of integer types (`int(11)` → `int`) but for `tinyint(1)` and ZEROFILL
    /// columns; MariaDB keeps them all.
    pub fn int_display(self, text: &str) -> String {
        if self == Flavor::MariaDb {
            return text.to_string();
        }
        let mut out = String::with_capacity(text.len());
        let mut rest = text;
        while let Some(open) = rest.find('(') {
            let word_start = rest[..open].rfind(|c: char| !c.is_ascii_alphabetic()).map_or(0, |i| i + 1);
            let word = rest[word_start..open].to_ascii_lowercase();
            let close = rest[open..].find(')').map(|i| open + i);
            let is_int = matches!(word.as_str(), "tinyint" | "smallint" | "mediumint" | "int" | "integer" | "bigint");
            let kept = |c: usize| {
                let after = rest[c + 1..].trim_start().to_ascii_lowercase();
                after.starts_with("zerofill")
                    || after.starts_with("unsigned zerofill")
                    || (word == "tinyint" && &rest[open + 1..c] == "1" && !after.starts_with("unsigned"))
            };
            match close {
                Some(c) if is_int && rest[open + 1..c].chars().all(|ch| ch.is_ascii_digit()) && !kept(c) => {
                    out.push_str(&rest[..open]);
                    rest = &rest[c + 1..];
                }
                _ => {
                    out.push_str(&rest[..=open]);
                    rest = &rest[open + 1..];
                }
            }
        }
        out.push_str(rest);
        out
    }

    /// A table of the numbers 1 to `n` in column `seq`, to select from: MariaDB's Sequence engine
    /// table `db.seq_1_to_N`, or on MySQL a recursive CTE of that name (its session needs
    /// `cte_max_recursion_depth` at least `n`).
    pub fn sequence(self, db: &str, n: u64) -> String {
        match self {
            Flavor::MariaDb => format!("{db}.seq_1_to_{n}"),
            Flavor::MySql => format!(
                "(WITH RECURSIVE s (seq) AS (SELECT 1 UNION ALL SELECT seq + 1 FROM s WHERE seq < {n}) SELECT seq FROM s) AS seq_1_to_{n}"
            ),
        }
    }

    /// A test's SQL made to run on this flavour: MariaDB's Sequence engine tables (`seq_1_to_N`,
    /// optionally `db.`-qualified) become, on MySQL, a recursive CTE of the same name and rows.
    pub fn portable_sql(self, sql: &str) -> String {
        if self == Flavor::MariaDb || !sql.contains("seq_1_to_") {
            return sql.to_string();
        }
        let mut out = String::from("SET SESSION cte_max_recursion_depth = 4294967295;\n");
        let mut rest = sql;
        while let Some(at) = rest.find("seq_1_to_") {
            let digits: String = rest[at + 9..].chars().take_while(|c| c.is_ascii_digit()).collect();
            let before = &rest[..at];
            // Drop a `db.` qualifier: the CTE belongs to no database.
            let keep = match before.strip_suffix('.') {
                Some(b) => b.trim_end_matches(|c: char| c.is_ascii_alphanumeric() || c == '_'),
                None => before,
            };
            out.push_str(keep);
            if digits.is_empty() {
                out.push_str("seq_1_to_");
            } else {
                out.push_str(&self.sequence("", digits.parse().unwrap_or(0)));
            }
            rest = &rest[at + 9 + digits.len()..];
        }
        out.push_str(rest);
        out
    }
}

/// The Debian sid root holding MySQL: `$FERRY_MYSQL_ROOT`, else `/var/cache/ferry/mysql-sid`.
pub fn mysql_root() -> PathBuf {
    let root = std::env::var_os("FERRY_MYSQL_ROOT").map(PathBuf::from).unwrap_or_else(|| PathBuf::from("/var/cache/ferry/mysql-sid"));
    if !root.join("usr/sbin/mysqld").is_file() {
        panic!(
            "no MySQL server in {} (run scripts/install-mysql.sh, or `make deps`; \
             or set FERRY_MYSQL_ROOT)",
            root.display()
        );
    }
    root
}

fn chrooted(program: &str) -> Command {
    let mut cmd = Command::new(crate::tool("chroot", "/usr/sbin/chroot"));
    cmd.arg(mysql_root()).arg(program);
    cmd
}

async fn install_mariadb(datadir: &Path, tmpdir: &Path, server_args: &[String]) {
    let out = tokio::process::Command::new(crate::tool("mariadb-install-db", "/usr/bin/mariadb-install-db"))
        .arg("--no-defaults")
        .arg("--user=root")
        .arg(format!("--datadir={}", datadir.display()))
        .arg("--auth-root-authentication-method=normal")
        .arg("--skip-test-db")
        // Its own tmpdir: bootstraps sharing /tmp failed now and then here
        // ("Could not remove temporary table '/tmp/#sql-temptable-...'", then "Unknown table").
        .arg(format!("--tmpdir={}", tmpdir.display()))
        .args(server_args)
        .stdin(Stdio::null())
        .output()
        .await
        .expect("run mariadb-install-db (is mariadb-server installed? see scripts/install-deps.sh)");
    if !out.status.success() {
        panic!("mariadb-install-db failed:\n{}\n{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    }
}

/// `mysqld --initialize-insecure` takes a few seconds; a copy of a folder initialized once takes a
/// fraction of that. One template per set of initialization arguments, made once per machine.
async fn install_mysql(datadir: &Path, init_args: &[String]) {
    let template = mysql_template(init_args).await;
    let parent = datadir.parent().expect("a data folder inside a server folder");
    std::fs::create_dir_all(parent).expect("create the server folder");
    // Into an existing (tmpfs) folder, or as a new folder.
    let out = if datadir.exists() {
        Command::new("cp").arg("-a").arg(format!("{}/.", template.display())).arg(datadir).output()
    } else {
        Command::new("cp").arg("-a").arg(&template).arg(datadir).output()
    }
    .expect("run cp");
    assert!(out.status.success(), "copy the MySQL data folder template: {}", String::from_utf8_lossy(&out.stderr));
    // Every server needs its own server_uuid (GTIDs name it): auto.cnf is made anew at start.
    let _ = std::fs::remove_file(datadir.join("auto.cnf"));
}

async fn mysql_template(init_args: &[String]) -> PathBuf {
    static LOCK: Mutex<()> = Mutex::new(());
    let root = mysql_root();
    let version = std::fs::read_to_string(root.join(".ferry-ready")).unwrap_or_default();
    let key = {
        use std::hash::{Hash, Hasher};
        let mut h = std::collections::hash_map::DefaultHasher::new();
        (version.trim(), init_args).hash(&mut h);
        format!("{:016x}", h.finish())
    };
    let template = root.join(format!("srv/ferry-template-{key}"));
    if template.join(".complete").is_file() {
        return template.join("data");
    }
    let _guard = LOCK.lock().unwrap_or_else(|e| e.into_inner());
    if template.join(".complete").is_file() {
        return template.join("data");
    }
    // Made beside the template and renamed into place, so that test binaries running at the same
    // time never see half a template (the loser of a race discards its copy).
    let staging = root.join(format!("srv/ferry-template-{key}.{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&staging);
    std::fs::create_dir_all(&staging).expect("create the MySQL template folder");
    let inner = Flavor::MySql.inner(&staging);
    let out = chrooted("/usr/sbin/mysqld")
        .args(["--no-defaults", "--initialize-insecure", "--user=root", "--innodb-redo-log-capacity=32M"])
        .arg(format!("--datadir={}", inner.join("data").display()))
        .arg(format!("--log-error={}", inner.join("init.log").display()))
        .args(init_args)
        .stdin(Stdio::null())
        .output()
        .expect("run mysqld --initialize-insecure");
    if !out.status.success() {
        let log = std::fs::read_to_string(staging.join("init.log")).unwrap_or_default();
        panic!("mysqld --initialize-insecure failed:\n{}\n{log}", String::from_utf8_lossy(&out.stderr));
    }
    std::fs::write(staging.join(".complete"), version).expect("mark the template complete");
    if std::fs::rename(&staging, &template).is_err() {
        let _ = std::fs::remove_dir_all(&staging);
    }
    template.join("data")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integer_display_widths_go_on_mysql() {
        let t = "id int(11) NOT NULL, d decimal(10,2), b bigint(20) unsigned, v varchar(5), t tinyint(1), \
                 u tinyint(1) unsigned, z int(5) unsigned zerofill";
        assert_eq!(Flavor::MariaDb.int_display(t), t);
        assert_eq!(
            Flavor::MySql.int_display(t),
            "id int NOT NULL, d decimal(10,2), b bigint unsigned, v varchar(5), t tinyint(1), u tinyint unsigned, \
             z int(5) unsigned zerofill"
        );
    }

    #[test]
    fn sequences_become_ctes_on_mysql() {
        let sql = "INSERT INTO big.t SELECT seq, 'x' FROM seq_1_to_400; INSERT INTO w SELECT seq FROM big.seq_1_to_6;";
        assert_eq!(Flavor::MariaDb.portable_sql(sql), sql);
        let my = Flavor::MySql.portable_sql(sql);
        assert!(my.starts_with("SET SESSION cte_max_recursion_depth"), "{my}");
        assert!(my.contains("FROM (WITH RECURSIVE s (seq) AS (SELECT 1 UNION ALL SELECT seq + 1 FROM s WHERE seq < 400) SELECT seq FROM s) AS seq_1_to_400;"), "{my}");
        assert!(
            my.contains(
                "FROM (WITH RECURSIVE s (seq) AS (SELECT 1 UNION ALL SELECT seq + 1 FROM s WHERE seq < 6) SELECT seq FROM s) AS seq_1_to_6;"
            ),
            "{my}"
        );
        assert!(my.contains("INSERT INTO big.t SELECT"), "{my}");
    }
}
