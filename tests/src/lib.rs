//! The end-to-end harness: private MariaDB servers on free ports, the `ferry` binary, manifests,
//! and byte-exact table comparisons.
//!
//! ```no_run
//! use ferry_e2e::*;
//! # async fn demo() {
//! let src = MariaDb::start(ServerOptions::source()).await;
//! let dst = MariaDb::start(ServerOptions::target()).await;
//! src.exec("CREATE DATABASE shop; CREATE TABLE shop.t (id INT PRIMARY KEY); INSERT INTO shop.t VALUES (1)").await;
//! let dir = tempfile::tempdir().unwrap();
//! let manifest = write_task(dir.path(), "t1", &src, &dst, "  objects:\n  - database: shop\n  incremental: false\n");
//! let out = ferry().args(["run", "-f"]).arg(&manifest).arg("--state-dir").arg(dir.path()).output().unwrap();
//! assert!(out.status.success());
//! assert_same_database(&mut src.conn().await, "shop", &mut dst.conn().await, "shop").await;
//! # }
//! ```
//!
//! Servers are killed (SIGTERM, then SIGKILL) and their folders removed when the [`MariaDb`] is
//! dropped, also when a test panics. If the test process itself dies, the kernel kills them too
//! (they are started with `PR_SET_PDEATHSIG` from a thread that lives as long as the process).

use std::io;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::mpsc;
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use mysql_async::prelude::*;
use mysql_async::{Conn, Opts, OptsBuilder};

/// The user every server gets, with ALL PRIVILEGES WITH GRANT OPTION, from any host.
pub const USER: &str = "ferry";
/// That user's password.
pub const PASSWORD: &str = "ferry-Secret-1";

/// How long a server may take to accept connections after it was started.
const READY_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a server may take to shut down after SIGTERM before it gets SIGKILL.
const STOP_GRACE: Duration = Duration::from_secs(10);

/// How to start a server.
#[derive(Clone, Debug, Default)]
pub struct ServerOptions {
    /// Write a binlog fit for ferry's incremental sync (ROW, FULL image, FULL metadata, GTIDs).
    pub binlog: bool,
    /// More `mariadbd` arguments, e.g. `--max-allowed-packet=64M`; they come last and so win.
    pub extra_args: Vec<String>,
}

impl ServerOptions {
    /// A source: binlog on.
    pub fn source() -> Self {
        Self { binlog: true, extra_args: Vec::new() }
    }

    /// A target: binlog off.
    pub fn target() -> Self {
        Self::default()
    }

    /// Adds one `mariadbd` argument.
    pub fn arg(mut self, arg: impl Into<String>) -> Self {
        self.extra_args.push(arg.into());
        self
    }
}

/// A private MariaDB server in a temporary folder, listening on 127.0.0.1 and a unix socket.
pub struct MariaDb {
    dir: Option<tempfile::TempDir>,
    root: PathBuf,
    port: u16,
    server_id: u32,
    args: Vec<String>,
    child: Option<Child>,
}

impl std::fmt::Debug for MariaDb {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MariaDb")
            .field("port", &self.port)
            .field("server_id", &self.server_id)
            .field("dir", &self.root)
            .field("pid", &self.pid())
            .finish()
    }
}

static NEXT_SERVER: AtomicU32 = AtomicU32::new(0);

impl MariaDb {
    /// Creates a fresh data folder, starts the server on a free port, waits until it accepts
    /// connections and creates the `ferry` user. Panics (with the server's error log) on failure.
    pub async fn start(options: ServerOptions) -> MariaDb {
        let n = NEXT_SERVER.fetch_add(1, Ordering::Relaxed);
        // Unique within this process, and very likely across the test binaries of one run.
        let server_id = (std::process::id() % 40_000) * 100 + (n % 100) + 1;
        let dir = tempfile::Builder::new()
            .prefix("ferry-mariadb-")
            .tempdir_in(short_tmp())
            .expect("create a temp dir for MariaDB");
        let root = dir.path().to_path_buf();
        let datadir = root.join("data");
        install_db(&datadir, &root).await;

        let mut args = vec![
            "--no-defaults".to_string(),
            "--user=root".to_string(),
            format!("--datadir={}", datadir.display()),
            "--bind-address=127.0.0.1".to_string(),
            format!("--socket={}", root.join("mysqld.sock").display()),
            format!("--pid-file={}", root.join("mysqld.pid").display()),
            format!("--log-error={}", root.join("error.log").display()),
            format!("--tmpdir={}", root.display()),
            format!("--server-id={server_id}"),
            "--skip-name-resolve".to_string(),
            "--character-set-server=utf8mb4".to_string(),
            "--collation-server=utf8mb4_general_ci".to_string(),
            // Small: four of these run at once on a 2-core machine.
            "--performance-schema=OFF".to_string(),
            "--innodb-buffer-pool-size=64M".to_string(),
            "--innodb-log-buffer-size=8M".to_string(),
            "--innodb-buffer-pool-dump-at-shutdown=OFF".to_string(),
            "--innodb-buffer-pool-load-at-startup=OFF".to_string(),
            "--key-buffer-size=4M".to_string(),
            "--aria-pagecache-buffer-size=8M".to_string(),
            "--query-cache-size=0".to_string(),
            // Fast, and still safe when the process (not the machine) is killed.
            "--innodb-flush-log-at-trx-commit=2".to_string(),
            "--sync-binlog=0".to_string(),
        ];
        if options.binlog {
            args.extend(binlog_args().iter().map(|s| s.to_string()));
        }
        args.extend(options.extra_args.iter().cloned());

        let mut db = MariaDb { dir: Some(dir), root, port: 0, server_id, args, child: None };
        // A free port can be taken between our probe and the server's bind: retry then.
        let mut attempt = 0;
        loop {
            attempt += 1;
            db.port = free_port();
            match db.launch().await {
                Ok(()) => break,
                Err(log) if attempt < 5 && log.contains("Bind on TCP/IP port") => continue,
                Err(log) => panic!("MariaDB did not start (port {}):\n{log}", db.port),
            }
        }
        db.create_user().await;
        db
    }

    /// Starts `mariadbd` with the stored arguments and waits until it accepts connections.
    /// On failure returns the tail of its error log.
    async fn launch(&mut self) -> Result<(), String> {
        let log_path = self.root.join("error.log");
        let log_start = std::fs::metadata(&log_path).map(|m| m.len()).unwrap_or(0);
        let mut cmd = Command::new(tool("mariadbd", "/usr/sbin/mariadbd"));
        cmd.args(&self.args)
            .arg(format!("--port={}", self.port))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        self.child = Some(spawn_tied(cmd).expect("spawn mariadbd"));
        let log_tail = || {
            let log = std::fs::read(&log_path).unwrap_or_default();
            String::from_utf8_lossy(&log[(log_start as usize).min(log.len())..]).into_owned()
        };

        let deadline = Instant::now() + READY_TIMEOUT;
        loop {
            if let Ok(Some(status)) = self.child.as_mut().unwrap().try_wait() {
                self.child = None;
                return Err(format!("mariadbd exited with {status}\n{}", log_tail()));
            }
            if self.socket().exists() {
                if let Ok(conn) = Conn::new(self.root_opts()).await {
                    let _ = conn.disconnect().await;
                    return Ok(());
                }
            }
            if Instant::now() > deadline {
                self.kill();
                return Err(format!("not ready after {READY_TIMEOUT:?}\n{}", log_tail()));
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    async fn create_user(&self) {
        let mut conn = Conn::new(self.root_opts()).await.expect("connect as root over the socket");
        for host in ["%", "localhost", "127.0.0.1"] {
            conn.query_drop(format!(
                "CREATE USER IF NOT EXISTS '{USER}'@'{host}' IDENTIFIED BY '{PASSWORD}'"
            ))
            .await
            .expect("create user");
            conn.query_drop(format!(
                "GRANT ALL PRIVILEGES ON *.* TO '{USER}'@'{host}' WITH GRANT OPTION"
            ))
            .await
            .expect("grant");
        }
        conn.disconnect().await.ok();
    }

    /// Always `127.0.0.1`.
    pub fn host(&self) -> &str {
        "127.0.0.1"
    }

    /// The TCP port on 127.0.0.1.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The user with all privileges (`ferry`).
    pub fn user(&self) -> &str {
        USER
    }

    /// That user's password.
    pub fn password(&self) -> &str {
        PASSWORD
    }

    /// The server's `server_id` (unique per server started by this process).
    pub fn server_id(&self) -> u32 {
        self.server_id
    }

    /// The unix socket (root can log in there without a password).
    pub fn socket(&self) -> PathBuf {
        self.root.join("mysqld.sock")
    }

    /// The data folder.
    pub fn datadir(&self) -> PathBuf {
        self.root.join("data")
    }

    /// The server's error log.
    pub fn error_log(&self) -> PathBuf {
        self.root.join("error.log")
    }

    /// The process id while the server runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(|c| c.id())
    }

    /// A mysql_async URL for the `ferry` user over TCP (never silently switched to the socket).
    pub fn url(&self) -> String {
        format!(
            "mysql://{USER}:{PASSWORD}@{}:{}?prefer_socket=false",
            self.host(),
            self.port
        )
    }

    /// Connection options for the `ferry` user over TCP.
    pub fn opts(&self) -> Opts {
        Opts::from_url(&self.url()).expect("a valid URL")
    }

    fn root_opts(&self) -> Opts {
        OptsBuilder::default()
            .socket(Some(self.socket().to_string_lossy().into_owned()))
            .user(Some("root"))
            .into()
    }

    /// A new connection as `ferry` over TCP.
    pub async fn conn(&self) -> Conn {
        Conn::new(self.opts())
            .await
            .unwrap_or_else(|e| panic!("connect to MariaDB on port {}: {e}", self.port))
    }

    /// Runs a SQL script (several statements; `DELIMITER` works) with the `mariadb` client as root
    /// over the socket, and returns what it printed (tab-separated, no headers). Panics on error.
    pub async fn exec(&self, sql: &str) -> String {
        self.exec_in(None, sql).await
    }

    /// As [`MariaDb::exec`], with `db` as the default database.
    pub async fn exec_in(&self, db: Option<&str>, sql: &str) -> String {
        use tokio::io::AsyncWriteExt;
        let mut cmd = tokio::process::Command::new(tool("mariadb", "/usr/bin/mariadb"));
        cmd.arg("--no-defaults")
            .arg(format!("--socket={}", self.socket().display()))
            .args(["--user=root", "--default-character-set=utf8mb4", "--batch", "--skip-column-names"])
            .args(db)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        let mut child = cmd.spawn().expect("run the mariadb client");
        let mut stdin = child.stdin.take().unwrap();
        let script = sql.to_string();
        let writer = tokio::spawn(async move {
            let _ = stdin.write_all(script.as_bytes()).await;
        });
        let out = child.wait_with_output().await.expect("wait for the mariadb client");
        let _ = writer.await;
        if !out.status.success() {
            panic!(
                "SQL failed on port {}: {}\n--- script ---\n{}",
                self.port,
                String::from_utf8_lossy(&out.stderr).trim(),
                truncate(sql, 2000)
            );
        }
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Whether the server process is running.
    pub fn is_running(&mut self) -> bool {
        match self.child.as_mut() {
            None => false,
            Some(c) => !exited(c),
        }
    }

    /// Shuts the server down cleanly (SIGTERM; SIGKILL after a grace period), keeping its data.
    pub async fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            tokio::task::spawn_blocking(move || terminate(&mut child, STOP_GRACE))
                .await
                .expect("stop MariaDB");
        }
    }

    /// Kills the server with SIGKILL (a crash), keeping its data.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            terminate(&mut child, Duration::ZERO);
        }
    }

    /// Starts the server again on the same port with the same data (after [`stop`](Self::stop) or
    /// [`kill`](Self::kill)); stops it first if it runs.
    pub async fn restart(&mut self) {
        self.stop().await;
        if let Err(log) = self.launch().await {
            panic!("MariaDB did not restart on port {}:\n{log}", self.port);
        }
    }
}

impl Drop for MariaDb {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            terminate(&mut child, STOP_GRACE);
        }
        if let Some(dir) = self.dir.take() {
            let _ = dir.close();
        }
    }
}

/// The `mariadbd` arguments that make a server a binlog source for ferry (server id apart).
pub fn binlog_args() -> &'static [&'static str] {
    &[
        "--log-bin=mysql-bin",
        "--binlog-format=ROW",
        "--binlog-row-image=FULL",
        "--binlog-row-metadata=FULL",
        "--log-slave-updates=ON",
        "--log-bin-compress=OFF",
        "--gtid-strict-mode=ON",
        "--binlog-checksum=CRC32",
    ]
}

async fn install_db(datadir: &Path, tmpdir: &Path) {
    let out = tokio::process::Command::new(tool("mariadb-install-db", "/usr/bin/mariadb-install-db"))
        .arg("--no-defaults")
        .arg("--user=root")
        .arg(format!("--datadir={}", datadir.display()))
        .arg("--auth-root-authentication-method=normal")
        .arg("--skip-test-db")
        // Its own tmpdir: bootstraps sharing /tmp failed now and then here
        // ("Could not remove temporary table '/tmp/#sql-temptable-...'", then "Unknown table").
        .arg(format!("--tmpdir={}", tmpdir.display()))
        .stdin(Stdio::null())
        .output()
        .await
        .expect("run mariadb-install-db (is mariadb-server installed? see scripts/install-deps.sh)");
    if !out.status.success() {
        panic!(
            "mariadb-install-db failed:\n{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

/// A temp folder short enough for a unix socket path (108 bytes at most).
fn short_tmp() -> PathBuf {
    let t = std::env::temp_dir();
    if t.as_os_str().len() <= 60 { t } else { PathBuf::from("/tmp") }
}

/// A binary from PATH, or at its Debian location (`/usr/sbin` is not on every user's PATH).
fn tool(name: &str, debian_path: &str) -> PathBuf {
    if let Some(paths) = std::env::var_os("PATH") {
        for dir in std::env::split_paths(&paths) {
            let p = dir.join(name);
            if p.is_file() {
                return p;
            }
        }
    }
    PathBuf::from(debian_path)
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("find a free port on 127.0.0.1")
}

fn truncate(s: &str, max: usize) -> &str {
    match s.char_indices().nth(max) {
        Some((i, _)) => &s[..i],
        None => s,
    }
}

// ---- processes -------------------------------------------------------------------------------

struct SpawnRequest {
    cmd: Command,
    reply: mpsc::Sender<io::Result<Child>>,
}

/// Spawns `cmd` from one thread that lives as long as the process, with `PR_SET_PDEATHSIG`:
/// the child gets SIGKILL when this process dies, however it dies. (The death signal follows the
/// thread that forked, so forking from short-lived test threads would kill servers too early.)
fn spawn_tied(mut cmd: Command) -> io::Result<Child> {
    static SPAWNER: OnceLock<Mutex<mpsc::Sender<SpawnRequest>>> = OnceLock::new();
    let sender = SPAWNER.get_or_init(|| {
        let (tx, rx) = mpsc::channel::<SpawnRequest>();
        std::thread::Builder::new()
            .name("ferry-e2e-spawner".into())
            .spawn(move || {
                for mut req in rx {
                    let _ = req.reply.send(req.cmd.spawn());
                }
            })
            .expect("start the spawner thread");
        Mutex::new(tx)
    });
    let parent = std::process::id();
    // SAFETY: only async-signal-safe calls between fork and exec.
    unsafe {
        cmd.pre_exec(move || {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                return Err(io::Error::last_os_error());
            }
            // The parent may have died before prctl took effect.
            if libc::getppid() as u32 != parent {
                libc::_exit(1);
            }
            Ok(())
        });
    }
    let (tx, rx) = mpsc::channel();
    sender
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .send(SpawnRequest { cmd, reply: tx })
        .expect("spawner thread alive");
    rx.recv().expect("spawner thread replies")
}

/// Whether the child has exited (reaping it if so). Also reads /proc/PID/stat: a zombie counts.
fn exited(child: &mut Child) -> bool {
    if let Ok(Some(_)) = child.try_wait() {
        return true;
    }
    match std::fs::read_to_string(format!("/proc/{}/stat", child.id())) {
        Err(_) => true,
        Ok(stat) => {
            // "pid (comm) S ...": the state follows the last ')'.
            let state = stat.rsplit_once(')').and_then(|(_, rest)| rest.trim_start().chars().next());
            if state == Some('Z') || state == Some('X') {
                let _ = child.wait();
                true
            } else {
                false
            }
        }
    }
}

/// Whether process `pid` is gone or a zombie, by /proc/PID/stat (`kill -0` lingers here).
pub fn process_exited(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        Ok(stat) => matches!(
            stat.rsplit_once(')').and_then(|(_, rest)| rest.trim_start().chars().next()),
            Some('Z') | Some('X')
        ),
    }
}

/// SIGTERM, wait up to `grace`, then SIGKILL and wait.
fn terminate(child: &mut Child, grace: Duration) {
    if exited(child) {
        return;
    }
    let pid = child.id() as libc::pid_t;
    if !grace.is_zero() {
        // SAFETY: plain kill(2) on our own child.
        unsafe { libc::kill(pid, libc::SIGTERM) };
        let deadline = Instant::now() + grace;
        while Instant::now() < deadline {
            if exited(child) {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
    let _ = child.kill();
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline && !exited(child) {
        std::thread::sleep(Duration::from_millis(10));
    }
}

// ---- the ferry binary and manifests -----------------------------------------------------------

/// The built `ferry` binary: `$FERRY_BIN`, or `target/<profile>/ferry` next to this test's `deps/`.
pub fn ferry_bin() -> PathBuf {
    let path = match std::env::var_os("FERRY_BIN") {
        Some(p) => PathBuf::from(p),
        None => {
            let exe = std::env::current_exe().expect("current_exe");
            // target/debug/deps/harness-xxxx -> target/debug/ferry
            let profile_dir = exe.parent().and_then(|deps| deps.parent()).expect("target dir");
            profile_dir.join("ferry")
        }
    };
    if !path.is_file() {
        panic!(
            "the ferry binary is missing at {}: run `cargo build -p ferry-engine` first \
             (or `make build`; or set FERRY_BIN)",
            path.display()
        );
    }
    path
}

/// A `Command` for the `ferry` binary.
pub fn ferry() -> Command {
    Command::new(ferry_bin())
}

/// Writes `<dir>/<name>.yaml`: Secrets `<name>-source` and `<name>-target` holding the `ferry`
/// credentials, and SyncTask `<name>` whose spec has `source` and `target` (TLS disabled) followed
/// by `spec_yaml_tail`: YAML lines indented by two spaces, e.g.
/// `"  objects:\n  - database: shop\n  incremental: false\n"`.
pub fn write_task(
    dir: &Path,
    name: &str,
    source: &MariaDb,
    target: &MariaDb,
    spec_yaml_tail: &str,
) -> PathBuf {
    let secret = |role: &str, db: &MariaDb| {
        format!(
            "apiVersion: v1\nkind: Secret\nmetadata:\n  name: {name}-{role}\ntype: Opaque\n\
             stringData:\n  username: {}\n  password: {}\n",
            yaml_str(db.user()),
            yaml_str(db.password())
        )
    };
    let endpoint = |role: &str, db: &MariaDb| {
        format!(
            "  {role}:\n    host: {}\n    port: {}\n    credentialsSecret: {name}-{role}\n    tls:\n      mode: disabled\n",
            db.host(),
            db.port()
        )
    };
    let mut tail = spec_yaml_tail.to_string();
    if !tail.is_empty() && !tail.ends_with('\n') {
        tail.push('\n');
    }
    let doc = format!(
        "{}---\n{}---\napiVersion: ferry.dev/v1alpha1\nkind: SyncTask\nmetadata:\n  name: {name}\nspec:\n{}{}{tail}",
        secret("source", source),
        secret("target", target),
        endpoint("source", source),
        endpoint("target", target),
    );
    std::fs::create_dir_all(dir).expect("create the manifest folder");
    let path = dir.join(format!("{name}.yaml"));
    std::fs::write(&path, doc).expect("write the manifest");
    path
}

fn yaml_str(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

// ---- comparing data ----------------------------------------------------------------------------

/// Quotes an identifier with backticks.
pub fn quote_ident(name: &str) -> String {
    format!("`{}`", name.replace('`', "``"))
}

/// Splits `db.table` at its first dot.
fn split_qualified(name: &str) -> (&str, &str) {
    name.split_once('.').unwrap_or_else(|| panic!("expected `db.table`, got `{name}`"))
}

/// One SQL expression per row that is the same exactly when the rows are byte-for-byte equal:
/// `MD5(CONCAT_WS('#', ISNULL(c1), v1, ISNULL(c2), v2, ...))` where `v` is MD5 of the bytes for
/// strings and binaries (no size limit, no collation folding), the text form for numbers and
/// dates, and epoch seconds for TIMESTAMP (independent of the session time zone).
pub async fn row_hash_expr(conn: &mut Conn, db: &str, table: &str) -> String {
    let cols: Vec<(String, String)> = conn
        .exec(
            "SELECT COLUMN_NAME, DATA_TYPE FROM information_schema.COLUMNS \
             WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ? ORDER BY ORDINAL_POSITION",
            (db, table),
        )
        .await
        .expect("read the column list");
    assert!(!cols.is_empty(), "table {db}.{table} not found (or has no columns)");
    let parts: Vec<String> = cols
        .iter()
        .map(|(name, ty)| {
            let c = quote_ident(name);
            let v = match ty.to_ascii_lowercase().as_str() {
                "char" | "varchar" | "tinytext" | "text" | "mediumtext" | "longtext" | "binary"
                | "varbinary" | "tinyblob" | "blob" | "mediumblob" | "longblob" | "enum" | "set"
                | "json" | "geometry" | "point" | "linestring" | "polygon" | "multipoint"
                | "multilinestring" | "multipolygon" | "geometrycollection" | "inet6" | "uuid"
                | "inet4" => format!("MD5({c})"),
                "bit" => format!("HEX({c})"),
                "timestamp" => format!("UNIX_TIMESTAMP({c})"),
                _ => format!("CAST({c} AS CHAR)"),
            };
            format!("ISNULL({c}), IFNULL({v}, '')")
        })
        .collect();
    format!("MD5(CONCAT_WS('#', {}))", parts.join(", "))
}

/// Row count and an order-independent checksum of the table's full contents, byte-exact for every
/// type. Duplicate rows count: sums (not XOR) of each row's 128-bit MD5, kept as exact decimals.
pub async fn table_checksum(conn: &mut Conn, db: &str, table: &str) -> (u64, String) {
    let h = row_hash_expr(conn, db, table).await;
    let sql = format!(
        "SELECT COUNT(*), \
         CAST(IFNULL(SUM(CAST(CONV(SUBSTRING(ferry_row_hash, 1, 16), 16, 10) AS UNSIGNED)), 0) AS CHAR), \
         CAST(IFNULL(SUM(CAST(CONV(SUBSTRING(ferry_row_hash, 17, 16), 16, 10) AS UNSIGNED)), 0) AS CHAR) \
         FROM (SELECT {h} AS ferry_row_hash FROM {}.{}) AS t",
        quote_ident(db),
        quote_ident(table)
    );
    let row: Option<(u64, String, String)> = conn
        .query_first(sql)
        .await
        .unwrap_or_else(|e| panic!("checksum of {db}.{table}: {e}"));
    let (n, hi, lo) = row.expect("one row");
    (n, format!("{hi}:{lo}"))
}

/// How many rows are surplus copies of another row (0 when all rows are distinct), compared on
/// all columns byte-exactly. For tables without a primary key.
pub async fn duplicate_rows(conn: &mut Conn, db: &str, table: &str) -> u64 {
    let h = row_hash_expr(conn, db, table).await;
    let sql = format!(
        "SELECT CAST(IFNULL(SUM(n - 1), 0) AS UNSIGNED) FROM \
         (SELECT {h} AS ferry_row_hash, COUNT(*) AS n FROM {}.{} GROUP BY 1 HAVING COUNT(*) > 1) AS d",
        quote_ident(db),
        quote_ident(table)
    );
    conn.query_first::<u64, _>(sql)
        .await
        .unwrap_or_else(|e| panic!("duplicates of {db}.{table}: {e}"))
        .unwrap_or(0)
}

/// Asserts that two tables (`db.table` each) hold the same rows, byte for byte, in any order.
pub async fn assert_same_table(src: &mut Conn, src_table: &str, dst: &mut Conn, dst_table: &str) {
    let (sd, st) = split_qualified(src_table);
    let (dd, dt) = split_qualified(dst_table);
    let (sn, sc) = table_checksum(src, sd, st).await;
    let (dn, dc) = table_checksum(dst, dd, dt).await;
    assert_eq!(
        sn, dn,
        "row counts differ: source {src_table} has {sn}, target {dst_table} has {dn}"
    );
    assert_eq!(
        sc, dc,
        "contents differ: source {src_table} and target {dst_table} both have {sn} rows \
         but different checksums ({sc} vs {dc})"
    );
}

/// The base tables of a database, sorted.
pub async fn base_tables(conn: &mut Conn, db: &str) -> Vec<String> {
    conn.exec(
        "SELECT TABLE_NAME FROM information_schema.TABLES \
         WHERE TABLE_SCHEMA = ? AND TABLE_TYPE = 'BASE TABLE' ORDER BY TABLE_NAME",
        (db,),
    )
    .await
    .expect("list tables")
}

/// Asserts that two databases have the same base tables with the same contents.
pub async fn assert_same_database(src: &mut Conn, src_db: &str, dst: &mut Conn, dst_db: &str) {
    let st = base_tables(src, src_db).await;
    let dt = base_tables(dst, dst_db).await;
    assert_eq!(st, dt, "tables differ: source {src_db} vs target {dst_db}");
    for t in &st {
        assert_same_table(src, &format!("{src_db}.{t}"), dst, &format!("{dst_db}.{t}")).await;
    }
}

/// `SELECT COUNT(*)` of `db.table`.
pub async fn count_rows(conn: &mut Conn, table: &str) -> u64 {
    let (db, t) = split_qualified(table);
    conn.query_first::<u64, _>(format!("SELECT COUNT(*) FROM {}.{}", quote_ident(db), quote_ident(t)))
        .await
        .unwrap_or_else(|e| panic!("count {table}: {e}"))
        .unwrap_or(0)
}
