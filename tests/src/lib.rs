//! The end-to-end harness: private MariaDB and MySQL servers on free ports, the `ferry` binary,
//! manifests, and byte-exact table comparisons.
//!
//! Servers are MariaDB unless `$FERRY_TEST_FLAVOR=mysql` (`make test` runs the suites both ways);
//! [`ServerOptions::flavor`] pins one for cross-flavour tests. What differs lives in [`flavor`].
//!
//! ```no_run
//! use ferry_e2e::*;
//! # async fn demo() {
//! let src = TestServer::start(ServerOptions::source()).await;
//! let dst = TestServer::start(ServerOptions::target()).await;
//! src.exec("CREATE DATABASE shop; CREATE TABLE shop.t (id INT PRIMARY KEY); INSERT INTO shop.t VALUES (1)").await;
//! let dir = tempfile::tempdir().unwrap();
//! let manifest = write_task(dir.path(), "t1", &src, &dst, "  objects:\n  - database: shop\n  incremental: false\n");
//! let out = ferry().args(["run", "-f"]).arg(&manifest).arg("--state-dir").arg(dir.path()).output().unwrap();
//! assert!(out.status.success());
//! assert_same_database(&mut src.conn().await, "shop", &mut dst.conn().await, "shop").await;
//! # }
//! ```
//!
//! Servers are killed (SIGTERM, then SIGKILL) and their folders removed when the [`TestServer`] is
//! dropped, also when a test panics. If the test process itself dies, the kernel kills them too
//! (they are started with `PR_SET_PDEATHSIG` from a thread that lives as long as the process).

use std::io;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU32, AtomicU64, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use mysql_async::prelude::*;
use mysql_async::{Conn, Opts, OptsBuilder};

pub mod flavor;
pub mod proxy;
pub use flavor::{FLAVOR_ENV, Flavor, mysql_root};

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
    /// MariaDB or MySQL; None: [`Flavor::from_env`] (`$FERRY_TEST_FLAVOR`).
    pub flavor: Option<Flavor>,
    /// Write a binlog fit for ferry's incremental sync ([`Flavor::binlog_args`]).
    pub binlog: bool,
    /// More server arguments, e.g. `--max-allowed-packet=64M`; they come last and so win.
    pub extra_args: Vec<String>,
    /// Put the data folder on a tmpfs of this many MiB (a server whose disk is nearly full).
    /// Mounting needs root, as CI runs.
    pub small_disk_mib: Option<u32>,
    /// Serve TLS with a certificate for 127.0.0.1 signed by a CA of this server's own
    /// ([`TestServer::ca_pem`]).
    pub tls: bool,
}

impl ServerOptions {
    /// A source: binlog on.
    pub fn source() -> Self {
        Self { binlog: true, ..Self::default() }
    }

    /// A target: binlog off.
    pub fn target() -> Self {
        Self::default()
    }

    /// A server of this flavour, whatever `$FERRY_TEST_FLAVOR` says (cross-flavour tests).
    pub fn flavor(mut self, flavor: Flavor) -> Self {
        self.flavor = Some(flavor);
        self
    }

    /// The data folder on a tmpfs of `mib` MiB more than a fresh data folder of the flavour
    /// takes, with small InnoDB files.
    pub fn small_disk(mut self, mib: u32) -> Self {
        self.small_disk_mib = Some(mib);
        self
    }

    /// TLS with a CA of its own (made with `openssl`), the certificate naming 127.0.0.1.
    pub fn tls(mut self) -> Self {
        self.tls = true;
        self
    }

    /// Adds one server argument.
    pub fn arg(mut self, arg: impl Into<String>) -> Self {
        self.extra_args.push(arg.into());
        self
    }

    /// The flavour this server will have.
    pub fn resolved_flavor(&self) -> Flavor {
        self.flavor.unwrap_or_else(Flavor::from_env)
    }
}

/// The flavour of the servers tests start by default (`$FERRY_TEST_FLAVOR`).
pub fn default_flavor() -> Flavor {
    Flavor::from_env()
}

/// A private MariaDB or MySQL server in a temporary folder, listening on 127.0.0.1 and a unix
/// socket.
pub struct TestServer {
    flavor: Flavor,
    dir: Option<tempfile::TempDir>,
    root: PathBuf,
    port: u16,
    server_id: u32,
    args: Vec<String>,
    child: Option<Child>,
    /// A tmpfs mounted on the data folder.
    mount: Option<Tmpfs>,
}

impl std::fmt::Debug for TestServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestServer")
            .field("flavor", &self.flavor)
            .field("port", &self.port)
            .field("server_id", &self.server_id)
            .field("dir", &self.root)
            .field("pid", &self.pid())
            .finish()
    }
}

static NEXT_SERVER: AtomicU32 = AtomicU32::new(0);

/// Arguments that must be given when a MySQL data folder is initialized as well.
const INIT_TIME_ARGS: &[&str] = &["--lower-case-table-names"];

impl TestServer {
    /// Creates a fresh data folder, starts the server on a free port, waits until it accepts
    /// connections and creates the `ferry` user. Panics (with the server's error log) on failure.
    pub async fn start(options: ServerOptions) -> TestServer {
        let flavor = options.resolved_flavor();
        let n = NEXT_SERVER.fetch_add(1, Ordering::Relaxed);
        // Unique within this process, and very likely across the test binaries of one run.
        let server_id = (std::process::id() % 40_000) * 100 + (n % 100) + 1;
        let dir = tempfile::Builder::new()
            .prefix(&format!("ferry-{}-", flavor.name()))
            .tempdir_in(flavor.temp_parent())
            .unwrap_or_else(|e| panic!("create a temp dir for {flavor:?}: {e}"));
        let root = dir.path().to_path_buf();
        let datadir = root.join("data");
        let mount = options.small_disk_mib.map(|mib| Tmpfs::mount(&datadir, mib + flavor.fresh_datadir_mib()));
        // InnoDB's files small, and grown 1 MiB at a time, so the data fits.
        let small: Vec<String> =
            if mount.is_some() { flavor.small_disk_args().iter().map(|s| s.to_string()).collect() } else { Vec::new() };
        let init_args: Vec<String> = small
            .iter()
            .chain(options.extra_args.iter())
            .filter(|a| flavor == Flavor::MariaDb || INIT_TIME_ARGS.iter().any(|p| a.starts_with(p)))
            .cloned()
            .collect();
        flavor.install_db(&datadir, &root, &init_args).await;

        let inner = |p: PathBuf| flavor.inner(&p).display().to_string();
        let mut args = flavor.base_args();
        args.extend([
            format!("--datadir={}", inner(datadir.clone())),
            format!("--socket={}", inner(root.join("mysqld.sock"))),
            format!("--pid-file={}", inner(root.join("mysqld.pid"))),
            format!("--log-error={}", inner(root.join("error.log"))),
            format!("--tmpdir={}", inner(root.clone())),
            format!("--server-id={server_id}"),
        ]);
        if options.binlog {
            args.extend(flavor.binlog_args().iter().map(|s| s.to_string()));
        } else {
            args.extend(flavor.no_binlog_args().iter().map(|s| s.to_string()));
        }
        args.extend(small.iter().cloned());
        if options.tls {
            let dir = root.join("tls");
            make_certificates(&dir);
            for (opt, file) in [("ssl-ca", "ca.pem"), ("ssl-cert", "server-cert.pem"), ("ssl-key", "server-key.pem")] {
                args.push(format!("--{opt}={}", inner(dir.join(file))));
            }
        }
        args.extend(options.extra_args.iter().cloned());

        let mut db = TestServer { flavor, dir: Some(dir), root, port: 0, server_id, args, child: None, mount };
        // A free port can be taken between our probe and the server's bind: retry then.
        let mut attempt = 0;
        loop {
            attempt += 1;
            db.port = free_port();
            match db.launch().await {
                Ok(()) => break,
                Err(log) if attempt < 5 && (log.contains("Bind on TCP/IP port") || log.contains("Address already in use")) => continue,
                Err(log) => panic!("{flavor:?} did not start (port {}):\n{log}", db.port),
            }
        }
        db.create_user().await;
        db
    }

    /// MariaDB or MySQL.
    pub fn flavor(&self) -> Flavor {
        self.flavor
    }

    /// The server's current binlog file and position (`SHOW MASTER STATUS`, or `SHOW BINARY LOG
    /// STATUS` on MySQL 8.4+).
    pub async fn binlog_position(&self) -> (String, u64) {
        let stmt = match self.flavor {
            Flavor::MariaDb => "SHOW MASTER STATUS",
            Flavor::MySql => "SHOW BINARY LOG STATUS",
        };
        let mut c = self.conn().await;
        let row: mysql_async::Row = c.query_first(stmt).await.unwrap().expect("the binlog is on");
        (row.get::<String, _>(0).unwrap(), row.get::<u64, _>(1).unwrap())
    }

    /// The server's GTID state as ferry records it: `@@gtid_binlog_pos` on MariaDB,
    /// `@@gtid_executed` on MySQL.
    pub async fn gtid_position(&self) -> String {
        let sql = match self.flavor {
            Flavor::MariaDb => "SELECT @@gtid_binlog_pos",
            Flavor::MySql => "SELECT REPLACE(@@gtid_executed, '\\n', '')",
        };
        let mut c = self.conn().await;
        c.query_first::<String, _>(sql).await.unwrap().unwrap_or_default()
    }

    /// Starts the server with the stored arguments and waits until it accepts connections.
    /// On failure returns the tail of its error log.
    async fn launch(&mut self) -> Result<(), String> {
        let log_path = self.root.join("error.log");
        let log_start = std::fs::metadata(&log_path).map(|m| m.len()).unwrap_or(0);
        let mut cmd = self.flavor.server_command();
        cmd.args(&self.args).arg(format!("--port={}", self.port)).stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::null());
        self.child = Some(spawn_tied(cmd).expect("spawn the server"));
        let log_tail = || {
            let log = std::fs::read(&log_path).unwrap_or_default();
            String::from_utf8_lossy(&log[(log_start as usize).min(log.len())..]).into_owned()
        };

        let deadline = Instant::now() + READY_TIMEOUT;
        loop {
            if let Ok(Some(status)) = self.child.as_mut().unwrap().try_wait() {
                self.child = None;
                return Err(format!("the server exited with {status}\n{}", log_tail()));
            }
            if self.socket().exists()
                && let Ok(conn) = Conn::new(self.root_opts()).await
            {
                let _ = conn.disconnect().await;
                return Ok(());
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
            conn.query_drop(format!("CREATE USER IF NOT EXISTS '{USER}'@'{host}' IDENTIFIED BY '{PASSWORD}'")).await.expect("create user");
            conn.query_drop(format!("GRANT ALL PRIVILEGES ON *.* TO '{USER}'@'{host}' WITH GRANT OPTION")).await.expect("grant");
        }
        conn.disconnect().await.ok();
    }

    /// The PEM of the CA that signed this server's certificate (servers started with
    /// [`ServerOptions::tls`]).
    pub fn ca_pem(&self) -> Option<String> {
        std::fs::read_to_string(self.root.join("tls/ca.pem")).ok()
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
        format!("mysql://{USER}:{PASSWORD}@{}:{}?prefer_socket=false", self.host(), self.port)
    }

    /// Connection options for the `ferry` user over TCP.
    pub fn opts(&self) -> Opts {
        Opts::from_url(&self.url()).expect("a valid URL")
    }

    fn root_opts(&self) -> Opts {
        OptsBuilder::default().socket(Some(self.socket().to_string_lossy().into_owned())).user(Some("root")).into()
    }

    /// A new connection as `ferry` over TCP.
    pub async fn conn(&self) -> Conn {
        Conn::new(self.opts()).await.unwrap_or_else(|e| panic!("connect to the server on port {}: {e}", self.port))
    }

    /// Runs a SQL script (several statements; `DELIMITER` works) with the `mariadb` client as root
    /// over the socket, and returns what it printed (tab-separated, no headers). Panics on error.
    pub async fn exec(&self, sql: &str) -> String {
        self.exec_in(None, sql).await
    }

    /// As [`TestServer::exec`], with `db` as the default database.
    pub async fn exec_in(&self, db: Option<&str>, sql: &str) -> String {
        self.try_exec_in(db, sql).await.unwrap_or_else(|e| panic!("{e}"))
    }

    /// As [`TestServer::exec_in`], returning the client's error (with the script) instead of
    /// panicking.
    async fn try_exec_in(&self, db: Option<&str>, sql: &str) -> Result<String, String> {
        use tokio::io::AsyncWriteExt;
        let mut cmd = self.flavor.client_command();
        cmd.arg("--no-defaults")
            .arg(format!("--socket={}", self.flavor.inner(&self.socket()).display()))
            .args(["--user=root", "--default-character-set=utf8mb4", "--batch", "--skip-column-names"])
            .args(db)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        let mut child = cmd.spawn().expect("run the SQL client");
        let mut stdin = child.stdin.take().unwrap();
        let script = self.flavor.portable_sql(sql);
        let writer = tokio::spawn(async move {
            let _ = stdin.write_all(script.as_bytes()).await;
        });
        let out = child.wait_with_output().await.expect("wait for the SQL client");
        let _ = writer.await;
        if !out.status.success() {
            return Err(format!(
                "SQL failed on port {}: {}\n--- script ---\n{}",
                self.port,
                String::from_utf8_lossy(&out.stderr).trim(),
                truncate(sql, 2000)
            ));
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
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
            tokio::task::spawn_blocking(move || terminate(&mut child, STOP_GRACE)).await.expect("stop the server");
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
            panic!("the server did not restart on port {}:\n{log}", self.port);
        }
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            terminate(&mut child, STOP_GRACE);
        }
        drop(self.mount.take());
        if let Some(dir) = self.dir.take() {
            let _ = dir.close();
        }
    }
}

/// The arguments that make a server of the default flavour a binlog source for ferry (server
/// id apart).
pub fn binlog_args() -> &'static [&'static str] {
    Flavor::from_env().binlog_args()
}

/// A tmpfs mounted on a folder (as root), unmounted on drop, also when a test panics.
struct Tmpfs(PathBuf);

impl Tmpfs {
    fn mount(dir: &Path, mib: u32) -> Tmpfs {
        std::fs::create_dir_all(dir).expect("create the folder to mount on");
        let out = Command::new("mount").args(["-t", "tmpfs", "-o", &format!("size={mib}m"), "tmpfs"]).arg(dir).output().expect("run mount");
        assert!(
            out.status.success(),
            "a small disk for a server is a tmpfs mounted on {} (this needs root, as CI runs): {}",
            dir.display(),
            String::from_utf8_lossy(&out.stderr)
        );
        Tmpfs(dir.to_path_buf())
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).output();
    }
}

/// A temp folder short enough for a unix socket path (108 bytes at most).
pub(crate) fn short_tmp() -> PathBuf {
    let t = std::env::temp_dir();
    if t.as_os_str().len() <= 60 { t } else { PathBuf::from("/tmp") }
}

/// A binary from PATH, or at its Debian location (`/usr/sbin` is not on every user's PATH).
pub(crate) fn tool(name: &str, debian_path: &str) -> PathBuf {
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
    std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).expect("find a free port on 127.0.0.1")
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
    sender.lock().unwrap_or_else(|e| e.into_inner()).send(SpawnRequest { cmd, reply: tx }).expect("spawner thread alive");
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
        Ok(stat) => matches!(stat.rsplit_once(')').and_then(|(_, rest)| rest.trim_start().chars().next()), Some('Z') | Some('X')),
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

/// A source (binlog on) and a target of the default flavour, started side by side.
pub async fn pair() -> (TestServer, TestServer) {
    tokio::join!(TestServer::start(ServerOptions::source()), TestServer::start(ServerOptions::target()))
}

/// A CA and a server certificate it signed for 127.0.0.1 and localhost, in `dir`: `ca.pem`,
/// `server-cert.pem`, `server-key.pem` (X.509 v3, as rustls wants them).
fn make_certificates(dir: &Path) {
    std::fs::create_dir_all(dir).expect("create the TLS folder");
    std::fs::write(
        dir.join("server.ext"),
        "subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=critical,CA:FALSE\n\
         keyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n",
    )
    .expect("write the certificate extensions");
    let steps: [&[&str]; 3] = [
        &[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "ca-key.pem",
            "-out",
            "ca.pem",
            "-days",
            "3650",
            "-subj",
            "/CN=ferry test CA",
            "-addext",
            "basicConstraints=critical,CA:TRUE",
            "-addext",
            "keyUsage=critical,keyCertSign,cRLSign",
        ],
        &["req", "-newkey", "rsa:2048", "-nodes", "-keyout", "server-key.pem", "-out", "server.csr", "-subj", "/CN=127.0.0.1"],
        &[
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca-key.pem",
            "-CAcreateserial",
            "-out",
            "server-cert.pem",
            "-days",
            "3650",
            "-extfile",
            "server.ext",
        ],
    ];
    for args in steps {
        let out = std::process::Command::new("openssl").args(args).current_dir(dir).output().expect("run openssl");
        assert!(out.status.success(), "openssl {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    }
}

/// `ferry run --no-progress -f MANIFEST --state-dir DIR` to its end (for tasks with
/// `incremental: false`).
pub fn run_ferry(manifest: &Path, state_dir: &Path) -> std::process::Output {
    run_ferry_with(manifest, state_dir, &[])
}

/// As [`run_ferry`], with more arguments for `ferry` before `run` (e.g. `-v`).
pub fn run_ferry_with(manifest: &Path, state_dir: &Path, extra_args: &[&str]) -> std::process::Output {
    ferry()
        .args(extra_args)
        .args(["run", "--no-progress", "-f"])
        .arg(manifest)
        .arg("--state-dir")
        .arg(state_dir)
        .output()
        .expect("run ferry")
}

/// Asserts that a ferry run succeeded (naming a panic as one) and returns its stderr.
#[track_caller]
pub fn assert_ok(out: &std::process::Output) -> String {
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.code() != Some(101), "ferry panicked:\n{stderr}");
    assert!(out.status.success(), "ferry failed ({}):\nstdout: {}\nstderr: {stderr}", out.status, String::from_utf8_lossy(&out.stdout));
    stderr
}

/// `SHOW CREATE TABLE db.table`'s text; panics when there is no such table.
pub async fn show_create_table(conn: &mut Conn, db: &str, table: &str) -> String {
    let sql = format!("SHOW CREATE TABLE {}.{}", quote_ident(db), quote_ident(table));
    let (_, ddl): (String, String) = conn
        .query_first(sql)
        .await
        .unwrap_or_else(|e| panic!("SHOW CREATE TABLE {db}.{table}: {e}"))
        .unwrap_or_else(|| panic!("no table {db}.{table}"));
    ddl
}

/// Writes `<dir>/<name>.yaml`: Secrets `<name>-source` and `<name>-target` holding the `ferry`
/// credentials, and SyncTask `<name>` whose spec has `source` and `target` (TLS disabled) followed
/// by `spec_yaml_tail`: YAML lines indented by two spaces, e.g.
/// `"  objects:\n  - database: shop\n  incremental: false\n"`.
pub fn write_task(dir: &Path, name: &str, source: &TestServer, target: &TestServer, spec_yaml_tail: &str) -> PathBuf {
    let secret = |role: &str, db: &TestServer| {
        format!(
            "apiVersion: v1\nkind: Secret\nmetadata:\n  name: {name}-{role}\ntype: Opaque\n\
             stringData:\n  username: {}\n  password: {}\n",
            yaml_str(db.user()),
            yaml_str(db.password())
        )
    };
    let endpoint = |role: &str, db: &TestServer| {
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
/// `SHA2(CONCAT_WS('#', ISNULL(c1), v1, ISNULL(c2), v2, ...), 256)` where `v` is SHA2 of the bytes for
/// strings and binaries (no size limit, no collation folding), the text form for numbers and
/// dates, and epoch seconds for TIMESTAMP (independent of the session time zone).
pub async fn row_hash_expr(conn: &mut Conn, db: &str, table: &str) -> String {
    try_row_hash_expr(conn, db, table).await.unwrap_or_else(|e| panic!("{e}"))
}

/// As [`row_hash_expr`], returning errors (a lost connection, a missing table) instead of panicking.
pub async fn try_row_hash_expr(conn: &mut Conn, db: &str, table: &str) -> Result<String, String> {
    let cols: Vec<(String, String)> = conn
        .exec(
            "SELECT COLUMN_NAME, DATA_TYPE FROM information_schema.COLUMNS \
             WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ? ORDER BY ORDINAL_POSITION",
            (db, table),
        )
        .await
        .map_err(|e| format!("read the column list of {db}.{table}: {e}"))?;
    if cols.is_empty() {
        return Err(format!("table {db}.{table} not found (or has no columns)"));
    }
    let parts: Vec<String> = cols
        .iter()
        .map(|(name, ty)| {
            let c = quote_ident(name);
            let v = match ty.to_ascii_lowercase().as_str() {
                "char" | "varchar" | "tinytext" | "text" | "mediumtext" | "longtext" | "binary" | "varbinary" | "tinyblob" | "blob"
                | "mediumblob" | "longblob" | "enum" | "set" | "json" | "geometry" | "point" | "linestring" | "polygon" | "multipoint"
                | "multilinestring" | "multipolygon" | "geometrycollection" | "inet6" | "uuid" | "inet4" => format!("SHA2({c}, 256)"),
                "bit" | "vector" => format!("HEX({c})"),
                "timestamp" => format!("UNIX_TIMESTAMP({c})"),
                _ => format!("CAST({c} AS CHAR)"),
            };
            format!("ISNULL({c}), IFNULL({v}, '')")
        })
        .collect();
    // SHA2, not MD5: MySQL 9.7 as Debian builds it has no MD5().
    Ok(format!("SHA2(CONCAT_WS('#', {}), 256)", parts.join(", ")))
}

/// Row count and an order-independent checksum of the table's full contents, byte-exact for every
/// type. Duplicate rows count: sums (not XOR) of the first 128 bits of each row's SHA2, kept as exact
/// decimals.
pub async fn table_checksum(conn: &mut Conn, db: &str, table: &str) -> (u64, String) {
    try_table_checksum(conn, db, table).await.unwrap_or_else(|e| panic!("{e}"))
}

/// As [`table_checksum`], returning errors instead of panicking.
pub async fn try_table_checksum(conn: &mut Conn, db: &str, table: &str) -> Result<(u64, String), String> {
    let h = try_row_hash_expr(conn, db, table).await?;
    let sql = format!(
        "SELECT COUNT(*), \
         CAST(IFNULL(SUM(CAST(CONV(SUBSTRING(ferry_row_hash, 1, 16), 16, 10) AS UNSIGNED)), 0) AS CHAR), \
         CAST(IFNULL(SUM(CAST(CONV(SUBSTRING(ferry_row_hash, 17, 16), 16, 10) AS UNSIGNED)), 0) AS CHAR) \
         FROM (SELECT {h} AS ferry_row_hash FROM {}.{}) AS t",
        quote_ident(db),
        quote_ident(table)
    );
    let row: Option<(u64, String, String)> = conn.query_first(sql).await.map_err(|e| format!("checksum of {db}.{table}: {e}"))?;
    let (n, hi, lo) = row.ok_or_else(|| format!("checksum of {db}.{table}: no row"))?;
    Ok((n, format!("{hi}:{lo}")))
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
    conn.query_first::<u64, _>(sql).await.unwrap_or_else(|e| panic!("duplicates of {db}.{table}: {e}")).unwrap_or(0)
}

/// Asserts that two tables (`db.table` each) hold the same rows, byte for byte, in any order.
pub async fn assert_same_table(src: &mut Conn, src_table: &str, dst: &mut Conn, dst_table: &str) {
    let (sd, st) = split_qualified(src_table);
    let (dd, dt) = split_qualified(dst_table);
    let (sn, sc) = table_checksum(src, sd, st).await;
    let (dn, dc) = table_checksum(dst, dd, dt).await;
    assert_eq!(sn, dn, "row counts differ: source {src_table} has {sn}, target {dst_table} has {dn}");
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

// ---- a table with every type ---------------------------------------------------------------------

/// The column definitions (after `id`) of the every-type table: every MariaDB 10.11 column type,
/// generated and invisible columns. Used by the full-sync and the binlog type tests.
pub const TYPES_COLUMNS_DDL: &str = "
  ti TINYINT, tiu TINYINT UNSIGNED, si SMALLINT, siu SMALLINT UNSIGNED,
  mi MEDIUMINT, miu MEDIUMINT UNSIGNED, i INT, iu INT UNSIGNED, bi BIGINT, biu BIGINT UNSIGNED,
  d65 DECIMAL(65,30), d2 DECIMAL(10,2) UNSIGNED,
  f FLOAT, f2 FLOAT(7,3), dbl DOUBLE,
  b1 BIT(1), b13 BIT(13), b64 BIT(64),
  e ENUM('a','b','c d'), s SET('x','y','z'),
  c CHAR(10), vc VARCHAR(255), tx TEXT, lt LONGTEXT, l1 VARCHAR(20) CHARACTER SET latin1,
  bn BINARY(4), vb VARBINARY(64), bl BLOB,
  dt DATE, tm TIME, tm6 TIME(6), dtm DATETIME, dtm6 DATETIME(6), ts TIMESTAMP(6) NULL DEFAULT NULL, y YEAR,
  j JSON, g GEOMETRY, pt POINT,
  gv INT AS (i DIV 2) VIRTUAL, gs VARCHAR(300) AS (CONCAT(vc, '!')) STORED,
  inv INT INVISIBLE DEFAULT 7";

/// The writable columns of the every-type table, `id` first (no generated columns; `inv` named,
/// as `SELECT *` leaves invisible columns out).
pub const TYPES_WRITABLE_COLUMNS: &[&str] = &[
    "id", "ti", "tiu", "si", "siu", "mi", "miu", "i", "iu", "bi", "biu", "d65", "d2", "f", "f2", "dbl", "b1", "b13", "b64", "e", "s", "c",
    "vc", "tx", "lt", "l1", "bn", "vb", "bl", "dt", "tm", "tm6", "dtm", "dtm6", "ts", "y", "j", "g", "pt", "inv",
];

/// Four rows of edge values (`id` 1 to 4: minima, maxima, odd text, all NULL), in the order of
/// [`TYPES_WRITABLE_COLUMNS`].
pub const TYPES_VALUES: &str = r#"
 (1, -128, 255, -32768, 65535, -8388608, 16777215, -2147483648, 4294967295, -9223372036854775808, 18446744073709551615,
  '-99999999999999999999999999999999999.999999999999999999999999999999', 99999999.99,
  -3.40282e38, 1234.567, -1.7976931348623157e308, b'1', b'1010101010101', b'1111111111111111111111111111111111111111111111111111111111111111',
  'c d', 'x,z', 'abc', 'tab\there\nnewline\\backslash \\N', REPEAT('long ', 1000), REPEAT('😀', 5000), 'café',
  x'00010203', x'00ff0a09005c', x'deadbeef00', '1000-01-01', '-838:59:59', '838:59:59.999999',
  '1000-01-01 00:00:00', '9999-12-31 23:59:59.999999', '1970-01-01 00:00:01.000000', 1901,
  '{"a": [1, 2.5, "x"], "b": null}', ST_GeomFromText('POLYGON((0 0,1 0,1 1,0 0))'), ST_GeomFromText('POINT(1.5 -2.25)'), 1),
 (2, 127, 0, 32767, 0, 8388607, 0, 2147483647, 0, 9223372036854775807, 0,
  '99999999999999999999999999999999999.999999999999999999999999999999', 0,
  1.17549e-38, -999.999, 2.2250738585072014e-308, b'0', b'0', b'0',
  'a', '', '', '', '', '', '', x'00000000', '', '', '0000-00-00', '00:00:00', '-00:00:00.000001',
  '0000-00-00 00:00:00', '2038-01-19 03:14:07.999999', '0000-00-00 00:00:00', 0,
  '[]', ST_GeomFromText('LINESTRING(0 0,1 1)'), ST_GeomFromText('POINT(0 0)'), 0),
 (3, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, '0.000000000000000000000000000001', 0.01,
  0.1, 0.5, 0.1, NULL, NULL, NULL, NULL, NULL, 'NULL', 'N', '\\', '\t', 'ü', NULL, NULL, NULL,
  '2024-02-29', '12:34:56', '12:34:56.000100', '2024-02-29 12:34:56', '2024-02-29 12:34:56.123456', '2024-03-31 01:30:00.5', 2155,
  NULL, NULL, NULL, NULL),
 (4, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
  NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL)"#;

/// `CREATE TABLE` of the every-type table named `qualified` (`db.table`): with its primary key on
/// `id`, two secondary indexes and AUTO_INCREMENT 1000 when `keyed`, without any key otherwise.
pub fn types_table_ddl(qualified: &str, keyed: bool) -> String {
    if keyed {
        format!(
            "CREATE TABLE {qualified} (\n  id INT NOT NULL PRIMARY KEY,{TYPES_COLUMNS_DDL},\n  \
             KEY k_vc (vc(10)), KEY k_dtm (dtm)\n) ENGINE=InnoDB AUTO_INCREMENT=1000;\n"
        )
    } else {
        format!("CREATE TABLE {qualified} (\n  id INT NOT NULL,{TYPES_COLUMNS_DDL}\n) ENGINE=InnoDB;\n")
    }
}

/// Inserts the four [`TYPES_VALUES`] rows into `qualified`, then gives row 3 a FLOAT that its text
/// form does not show exactly (16777217 stored as 16777216) and the classic 0.1 + 0.2 DOUBLE.
pub fn types_insert(qualified: &str) -> String {
    // Zero dates are legacy data ferry must carry; MySQL's default sql_mode refuses to write them.
    format!(
        "SET SESSION sql_mode = 'NO_ENGINE_SUBSTITUTION';\nINSERT INTO {qualified} ({}) VALUES {TYPES_VALUES};\n\
         UPDATE {qualified} SET f = 16777217, dbl = 0.30000000000000004 WHERE id = 3;\n",
        TYPES_WRITABLE_COLUMNS.join(", ")
    )
}

/// The whole every-type fixture: database `types` (utf8mb4_unicode_ci), table `types.t` with its
/// key, and the four rows.
pub fn types_ddl() -> String {
    format!(
        "CREATE DATABASE types CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;\n{}{}",
        types_table_ddl("types.t", true),
        types_insert("types.t")
    )
}

/// Asserts that `db.table` holds the same values on both sides column by column (HEX of every
/// value, rows in `id` then content order), and the same FLOAT/DOUBLE bits through the binary
/// protocol. Meant for the every-type table (`f`, `f2`, `dbl` are its float columns).
pub async fn assert_same_values(src: &mut Conn, dst: &mut Conn, db: &str, table: &str) {
    let q = format!("{}.{}", quote_ident(db), quote_ident(table));
    let cols: Vec<(String, String)> = src
        .exec(
            "SELECT COLUMN_NAME, LOWER(DATA_TYPE) FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ? \
             ORDER BY ORDINAL_POSITION",
            (db, table),
        )
        .await
        .unwrap();
    let order = format!("id, {}", row_hash_expr(src, db, table).await);
    for c in [&mut *src, &mut *dst] {
        c.query_drop("SET SESSION group_concat_max_len = 1 << 28").await.unwrap();
    }
    let mut differing = Vec::new();
    for (col, ty) in &cols {
        // HEX of a number is the HEX of its integer conversion, which MySQL and MariaDB round and
        // clamp differently: numbers compare as text, floats by their bits (below).
        let value = match ty.as_str() {
            "float" | "double" => continue,
            "decimal" | "tinyint" | "smallint" | "mediumint" | "int" | "bigint" => format!("CAST({} AS CHAR)", quote_ident(col)),
            _ => format!("HEX({})", quote_ident(col)),
        };
        let sql = format!("SELECT GROUP_CONCAT(IFNULL({value}, 'NULL') ORDER BY {order}) FROM {q}");
        let a: Option<String> = src.query_first(&sql).await.unwrap();
        let b: Option<String> = dst.query_first(&sql).await.unwrap();
        if a != b {
            differing.push(format!("{col}: source {} vs target {}", truncate(&format!("{a:?}"), 300), truncate(&format!("{b:?}"), 300)));
        }
    }
    assert!(differing.is_empty(), "{db}.{table}: columns differ:\n{}", differing.join("\n"));
    let floats = format!("SELECT id, f, f2, dbl FROM {q} ORDER BY {order}");
    type FloatRow = (i32, Option<f32>, Option<f32>, Option<f64>);
    let bits = |rows: Vec<FloatRow>| {
        rows.into_iter().map(|(id, f, f2, d)| (id, f.map(f32::to_bits), f2.map(f32::to_bits), d.map(f64::to_bits))).collect::<Vec<_>>()
    };
    let a = bits(src.exec(&floats, ()).await.unwrap());
    let b = bits(dst.exec(&floats, ()).await.unwrap());
    assert_eq!(a, b, "{db}.{table}: float bits differ (id, f, f2, dbl)");
}

// ---- deterministic randomness ------------------------------------------------------------------

/// A small deterministic random generator (SplitMix64): one seed, one sequence, on every machine.
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed ^ 0x5DEE_CE66_D1CE_4E5B)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (0 when `n` is 0).
    pub fn below(&mut self, n: u64) -> u64 {
        if n == 0 { 0 } else { self.next_u64() % n }
    }

    /// Uniform in `lo..hi` (`lo` when the range is empty).
    pub fn range(&mut self, lo: i64, hi: i64) -> i64 {
        if hi <= lo { lo } else { lo + self.below((hi - lo) as u64) as i64 }
    }

    /// Uniform in `[0, 1)`.
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// True with probability `p`.
    pub fn chance(&mut self, p: f64) -> bool {
        self.unit() < p
    }

    /// Uniform in `[lo, hi)`.
    pub fn duration(&mut self, lo: Duration, hi: Duration) -> Duration {
        lo + (hi.saturating_sub(lo)).mul_f64(self.unit())
    }

    /// One of `items` (which must not be empty).
    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }
}

// ---- ferry running in the background -------------------------------------------------------------

/// The task status `ferry run` keeps in `<state_dir>/<task>.status.yaml`, if the file is there.
pub fn read_status(state_dir: &Path, task: &str) -> Option<ferry_crds::SyncTaskStatus> {
    let text = std::fs::read_to_string(state_dir.join(format!("{task}.status.yaml"))).ok()?;
    serde_saphyr::from_str(&text).ok()
}

static NEXT_FERRY: AtomicU32 = AtomicU32::new(0);

/// `ferry run --no-progress -f MANIFEST --state-dir DIR` in the background (an incremental task runs
/// until stopped). Its stdout and stderr go to files in the state folder. Killed (SIGKILL) when
/// dropped, also when the test panics, and when the test process dies.
pub struct RunningFerry {
    child: Option<Child>,
    pid: u32,
    exit: Option<std::process::ExitStatus>,
    state_dir: PathBuf,
    task: String,
    stderr_path: PathBuf,
    stdout_path: PathBuf,
}

impl std::fmt::Debug for RunningFerry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RunningFerry").field("task", &self.task).field("pid", &self.pid).field("exit", &self.exit).finish()
    }
}

impl RunningFerry {
    /// Starts ferry on `manifest`; the task name is the manifest's file stem (as [`write_task`]
    /// names it).
    pub fn start(manifest: &Path, state_dir: &Path) -> RunningFerry {
        Self::start_with(manifest, state_dir, &[])
    }

    /// As [`start`](Self::start), with more arguments for `ferry` (e.g. `-v`).
    pub fn start_with(manifest: &Path, state_dir: &Path, extra_args: &[&str]) -> RunningFerry {
        let task = manifest.file_stem().expect("a manifest file name").to_string_lossy().into_owned();
        std::fs::create_dir_all(state_dir).expect("create the state folder");
        let n = NEXT_FERRY.fetch_add(1, Ordering::Relaxed);
        let stderr_path = state_dir.join(format!("ferry-{task}-{n}.stderr"));
        let stdout_path = state_dir.join(format!("ferry-{task}-{n}.stdout"));
        let mut cmd = ferry();
        cmd.args(extra_args)
            .args(["run", "--no-progress", "-f"])
            .arg(manifest)
            .arg("--state-dir")
            .arg(state_dir)
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(&stdout_path).expect("create the stdout file"))
            .stderr(std::fs::File::create(&stderr_path).expect("create the stderr file"));
        let child = spawn_tied(cmd).expect("spawn ferry");
        RunningFerry { pid: child.id(), child: Some(child), exit: None, state_dir: state_dir.to_owned(), task, stderr_path, stdout_path }
    }

    pub fn pid(&self) -> u32 {
        self.pid
    }

    pub fn task(&self) -> &str {
        &self.task
    }

    pub fn state_dir(&self) -> &Path {
        &self.state_dir
    }

    /// The exit status once ferry has exited (reaping it), None while it runs.
    pub fn exit_status(&mut self) -> Option<std::process::ExitStatus> {
        if self.exit.is_none()
            && let Some(child) = self.child.as_mut()
            && exited(child)
        {
            self.exit = child.try_wait().ok().flatten().or_else(|| child.wait().ok());
            self.child = None;
        }
        self.exit
    }

    pub fn is_running(&mut self) -> bool {
        self.exit_status().is_none() && self.child.is_some()
    }

    /// Waits up to `timeout` for ferry to exit on its own.
    pub async fn wait_exit(&mut self, timeout: Duration) -> Option<std::process::ExitStatus> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(s) = self.exit_status() {
                return Some(s);
            }
            if Instant::now() > deadline {
                return None;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// SIGKILL (a crash) and wait for the process to go. Returns whether it was still running.
    pub fn kill(&mut self) -> bool {
        let was_running = self.is_running();
        if let Some(mut child) = self.child.take() {
            terminate(&mut child, Duration::ZERO);
            self.exit = child.try_wait().ok().flatten();
        }
        was_running
    }

    /// SIGINT (Ctrl-C); waits up to `timeout` for the exit and returns its status. Panics (with
    /// ferry's stderr) when ferry does not exit in time.
    pub async fn interrupt(&mut self, timeout: Duration) -> std::process::ExitStatus {
        if self.is_running() {
            // SAFETY: kill(2) on our own, still unreaped, child.
            unsafe { libc::kill(self.pid as libc::pid_t, libc::SIGINT) };
        }
        match self.wait_exit(timeout).await {
            Some(s) => s,
            None => panic!("ferry did not exit within {timeout:?} of SIGINT\n{}", self.describe()),
        }
    }

    /// What ferry wrote to stderr so far.
    pub fn stderr(&self) -> String {
        String::from_utf8_lossy(&std::fs::read(&self.stderr_path).unwrap_or_default()).into_owned()
    }

    /// What ferry wrote to stdout so far.
    pub fn stdout(&self) -> String {
        String::from_utf8_lossy(&std::fs::read(&self.stdout_path).unwrap_or_default()).into_owned()
    }

    /// The task's status file, if there is one yet.
    pub fn status(&self) -> Option<ferry_crds::SyncTaskStatus> {
        read_status(&self.state_dir, &self.task)
    }

    /// For failure messages: exit status, the end of stderr and the status file.
    pub fn describe(&mut self) -> String {
        let exit = match self.exit_status() {
            Some(s) => format!("exited with {s}"),
            None => "still running".to_string(),
        };
        let err = self.stderr();
        let tail: Vec<&str> = err.lines().rev().take(30).collect::<Vec<_>>().into_iter().rev().collect();
        let status = std::fs::read_to_string(self.state_dir.join(format!("{}.status.yaml", self.task)))
            .unwrap_or_else(|_| "(no status file)".into());
        format!(
            "ferry (task {}, pid {}) {exit}\n--- stderr (end) ---\n{}\n--- status ---\n{}",
            self.task,
            self.pid,
            tail.join("\n"),
            truncate(&status, 3000)
        )
    }

    /// Panics with [`describe`](Self::describe) when ferry is no longer running.
    #[track_caller]
    pub fn assert_running(&mut self, context: &str) {
        if !self.is_running() {
            panic!("{context}: ferry is not running\n{}", self.describe());
        }
    }

    /// Waits until `sql` (a count, say) gives `want` on `db`; an error counts as "not yet" (the
    /// table may not be there yet). Panics when ferry exits first or on timeout.
    pub async fn wait_value(&mut self, db: &TestServer, sql: &str, want: u64, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        let mut conn = db.conn().await;
        loop {
            let got: Option<u64> = conn.query_first(sql).await.ok().flatten();
            if got == Some(want) {
                return;
            }
            assert!(Instant::now() < deadline && self.is_running(), "`{sql}` gave {got:?}, not {want}\n{}", self.describe());
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Waits until the status file shows `phase`; panics when ferry exits first or on timeout.
    pub async fn wait_for_phase(&mut self, phase: ferry_crds::Phase, timeout: Duration) -> ferry_crds::SyncTaskStatus {
        self.wait_for_status(&format!("phase {phase:?}"), timeout, |s| s.phase == Some(phase)).await
    }

    /// Waits until the status file satisfies `pred`; panics when ferry exits first or on timeout.
    pub async fn wait_for_status(
        &mut self,
        what: &str,
        timeout: Duration,
        mut pred: impl FnMut(&ferry_crds::SyncTaskStatus) -> bool,
    ) -> ferry_crds::SyncTaskStatus {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(s) = self.status()
                && pred(&s)
            {
                return s;
            }
            if !self.is_running() {
                // One last look: the final status may have been written on the way out.
                if let Some(s) = self.status().filter(|s| pred(s)) {
                    return s;
                }
                panic!("ferry exited while waiting for {what}\n{}", self.describe());
            }
            if Instant::now() > deadline {
                panic!("no {what} after {timeout:?}\n{}", self.describe());
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// [`wait_until_same`], failing at once (with ferry's stderr and status) if ferry exits.
    pub async fn wait_until_same(&mut self, src: &TestServer, dst: &TestServer, dbs: &[&str], timeout: Duration) {
        let (s, d) = (src.opts(), dst.opts());
        wait_same_inner(&s, &d, dbs, timeout, |timed_out| if timed_out || !self.is_running() { Some(self.describe()) } else { None }).await;
        self.assert_running("after the databases converged");
    }
}

impl Drop for RunningFerry {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            terminate(&mut child, Duration::ZERO);
        }
    }
}

// ---- waiting for the target to catch up -----------------------------------------------------------

/// Polls until every base table of `dbs` has the same rows on both servers (same table lists, then
/// [`table_checksum`]). Panics after `timeout` naming the tables that still differ. Connection
/// errors (a restarting server) count as "not yet".
pub async fn wait_until_same(src: &TestServer, dst: &TestServer, dbs: &[&str], timeout: Duration) {
    wait_same_inner(&src.opts(), &dst.opts(), dbs, timeout, |_| None).await
}

async fn wait_same_inner(
    src: &Opts,
    dst: &Opts,
    dbs: &[&str],
    timeout: Duration,
    // Called after each comparison that found differences, with whether time is up: Some(text)
    // gives up now (before the deadline) or adds to the timeout's message.
    mut check: impl FnMut(bool) -> Option<String>,
) {
    let start = Instant::now();
    let deadline = start + timeout;
    loop {
        let last = match compare_databases(src, dst, dbs).await {
            Ok(diffs) if diffs.is_empty() => return,
            Ok(diffs) => diffs.join("\n"),
            Err(e) => format!("(could not compare: {e})"),
        };
        let timed_out = Instant::now() > deadline;
        match check(timed_out) {
            Some(why) if !timed_out => {
                panic!("gave up waiting for the target to catch up: {why}\n--- still different ---\n{last}")
            }
            why if timed_out => panic!("source and target still differ after {timeout:?}:\n{last}\n{}", why.unwrap_or_default()),
            _ => {}
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// The differences between the base tables of `dbs` on two servers: missing tables, row counts
/// and (only when all counts agree) checksums. Empty when they are the same.
pub async fn compare_databases(src: &Opts, dst: &Opts, dbs: &[&str]) -> Result<Vec<String>, String> {
    let mut s = Conn::new(src.clone()).await.map_err(|e| format!("connect to the source: {e}"))?;
    let mut d = Conn::new(dst.clone()).await.map_err(|e| format!("connect to the target: {e}"))?;
    let list = "SELECT TABLE_NAME FROM information_schema.TABLES \
                WHERE TABLE_SCHEMA = ? AND TABLE_TYPE = 'BASE TABLE' ORDER BY TABLE_NAME";
    let mut diffs = Vec::new();
    let mut tables = Vec::new();
    for db in dbs {
        let st: Vec<String> = s.exec(list, (db,)).await.map_err(|e| format!("list source tables: {e}"))?;
        let dt: Vec<String> = d.exec(list, (db,)).await.map_err(|e| format!("list target tables: {e}"))?;
        if st != dt {
            diffs.push(format!("{db}: tables differ: source {st:?}, target {dt:?}"));
        }
        tables.extend(st.into_iter().filter(|t| dt.contains(t)).map(|t| (db.to_string(), t)));
    }
    let mut counts = Vec::new();
    for (db, t) in &tables {
        let sql = format!("SELECT COUNT(*) FROM {}.{}", quote_ident(db), quote_ident(t));
        let a: Option<u64> = s.query_first(&sql).await.map_err(|e| format!("count source {db}.{t}: {e}"))?;
        let b: Option<u64> = d.query_first(&sql).await.map_err(|e| format!("count target {db}.{t}: {e}"))?;
        counts.push((a, b));
        if a != b {
            diffs.push(format!("{db}.{t}: source has {} rows, target {}", a.unwrap_or(0), b.unwrap_or(0)));
        }
    }
    if !diffs.is_empty() {
        return Ok(diffs);
    }
    for (db, t) in &tables {
        let a = try_table_checksum(&mut s, db, t).await?;
        let b = try_table_checksum(&mut d, db, t).await?;
        if a != b {
            diffs.push(format!("{db}.{t}: both have {} rows, checksums differ (source {}, target {})", a.0, a.1, b.1));
        }
    }
    let _ = s.disconnect().await;
    let _ = d.disconnect().await;
    Ok(diffs)
}

// ---- a write workload on the source ----------------------------------------------------------------

/// Accounts in the workload's `ledger` table; every transfer keeps their total at [`LEDGER_TOTAL`].
pub const LEDGER_ACCOUNTS: i64 = 50;
/// The ledger's total balance, in every committed state (a torn transaction shows here).
pub const LEDGER_TOTAL: i64 = LEDGER_ACCOUNTS * 1000;
/// Rows of the workload's one big transaction (into `bulk`, with a ledger transfer).
pub const BULK_ROWS: u64 = 100_000;

/// What a [`Workload`] does. Build with [`WorkloadOptions::new`] and the setters.
#[derive(Clone, Debug)]
pub struct WorkloadOptions {
    /// The database made by [`Workload::create_tables`].
    pub db: String,
    /// Same seed, same statements (exactly so with one connection).
    pub seed: u64,
    /// Concurrent connections (each its own transactions; ids never collide).
    pub connections: usize,
    /// Stop after this long (checked between transactions).
    pub duration: Option<Duration>,
    /// Stop after this many transactions in all (committed, rolled back or aborted).
    pub transactions: Option<u64>,
    /// Sleep between two transactions of one connection.
    pub pause: Duration,
    /// Run one [`BULK_ROWS`]-row transaction (INSERT ... SELECT from `seq_1_to_100000`, plus a ledger
    /// transfer) once this long has passed.
    pub bulk_after: Option<Duration>,
    /// Log in as this user (and password) instead of `ferry`.
    pub login: Option<(String, String)>,
    /// A connection ends, without an error, when the server refuses writes as read-only (a
    /// cutover locked the source).
    pub until_read_only: bool,
}

impl WorkloadOptions {
    /// One connection, no pause, no big transaction, no bound (set one, or call [`Workload::stop`]).
    pub fn new(db: &str, seed: u64) -> Self {
        WorkloadOptions {
            db: db.to_string(),
            seed,
            connections: 1,
            duration: None,
            transactions: None,
            pause: Duration::ZERO,
            bulk_after: None,
            login: None,
            until_read_only: false,
        }
    }
    pub fn login(mut self, user: &str, password: &str) -> Self {
        self.login = Some((user.into(), password.into()));
        self
    }
    pub fn until_read_only(mut self) -> Self {
        self.until_read_only = true;
        self
    }
    pub fn connections(mut self, n: usize) -> Self {
        self.connections = n.max(1);
        self
    }
    pub fn duration(mut self, d: Duration) -> Self {
        self.duration = Some(d);
        self
    }
    pub fn transactions(mut self, n: u64) -> Self {
        self.transactions = Some(n);
        self
    }
    pub fn pause(mut self, d: Duration) -> Self {
        self.pause = d;
        self
    }
    pub fn bulk_after(mut self, d: Duration) -> Self {
        self.bulk_after = Some(d);
        self
    }
}

/// What a workload did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct WorkloadReport {
    /// Transactions committed (single statements in autocommit count as one each).
    pub committed: u64,
    /// Transactions ended with ROLLBACK on purpose.
    pub rolled_back: u64,
    /// Transactions the server aborted (deadlock, lock wait timeout) and that left no trace.
    pub aborted: u64,
    /// Statements sent, all transactions.
    pub statements: u64,
    /// Rows changed by committed transactions (affected rows; a key change counts once).
    pub rows_changed: u64,
    /// Rows of the big transaction, when it ran (0 or [`BULK_ROWS`]).
    pub bulk_rows: u64,
    pub elapsed: Duration,
}

#[derive(Default)]
struct WorkloadShared {
    stop: AtomicBool,
    issued: AtomicU64,
    committed: AtomicU64,
    rolled_back: AtomicU64,
    aborted: AtomicU64,
    statements: AtomicU64,
    rows_changed: AtomicU64,
    bulk_rows: AtomicU64,
    bulk_claimed: AtomicBool,
    next_id: AtomicI64,
    next_code: AtomicU64,
    bulk_base: AtomicI64,
}

/// A bounded mixed write workload running in the background on a source (tables made by
/// [`Workload::create_tables`]):
///
/// - `pk_int` (INT key): multi-row inserts, updates by key and by range, key changes (to fresh ids,
///   and swaps of two keys through a temporary one inside a transaction), deletes;
/// - `pk_composite` (CHAR + VARCHAR key): inserts, `ORDER BY ... LIMIT` updates, changes of either
///   key column, deletes;
/// - `nokey` (no key at all, NULLs, DOUBLEs): inserts of identical rows on purpose,
///   `DELETE ... LIMIT 1`, `UPDATE ... LIMIT 1`;
/// - `ledger`: transfers between two accounts, so the total is constant in every committed state;
/// - `<db>_unsynced.t`: writes to a database the tests leave unselected, inside the same transactions;
/// - optionally one transaction of [`BULK_ROWS`] rows into `bulk`.
///
/// Transactions hold 1 to 6 operations on several tables; 5% end with ROLLBACK, some single
/// statements run in autocommit.
pub struct Workload {
    shared: Arc<WorkloadShared>,
    handles: Vec<tokio::task::JoinHandle<Result<(), String>>>,
    started: Instant,
}

impl Workload {
    /// The tables of the workload's database, sorted.
    pub const TABLES: [&'static str; 5] = ["bulk", "ledger", "nokey", "pk_composite", "pk_int"];

    /// Creates database `db` (and `<db>_unsynced`) with the workload's tables on `server`:
    /// `pk_int` with `pk_int_rows` rows, 400 `pk_composite` rows, 200 `nokey` rows (with
    /// duplicates), the ledger, an empty `bulk`.
    pub async fn create_tables(server: &TestServer, db: &str, pk_int_rows: u64) {
        let mut sql = format!(
            "CREATE DATABASE {db}; CREATE DATABASE {db}_unsynced; USE {db};
             CREATE TABLE {db}.pk_int (id INT NOT NULL PRIMARY KEY, v INT NOT NULL, s VARCHAR(64),
               amount DECIMAL(12,2), ts DATETIME(6), KEY k_v (v));
             CREATE TABLE {db}.pk_composite (region CHAR(2) NOT NULL, code VARCHAR(40) NOT NULL, n INT NOT NULL,
               note TEXT, PRIMARY KEY (region, code));
             CREATE TABLE {db}.nokey (a INT, b VARCHAR(20), c DOUBLE);
             CREATE TABLE {db}.ledger (id INT NOT NULL PRIMARY KEY, balance BIGINT NOT NULL);
             CREATE TABLE {db}.bulk (id INT NOT NULL PRIMARY KEY, batch INT NOT NULL, pad VARCHAR(100));
             CREATE TABLE {db}_unsynced.t (id INT AUTO_INCREMENT PRIMARY KEY, v INT);
             INSERT INTO {db}.ledger SELECT seq, 1000 FROM seq_1_to_{LEDGER_ACCOUNTS};
             INSERT INTO {db}.pk_composite SELECT ELT(1 + seq % 4, 'eu', 'us', 'ap', 'sa'), CONCAT('init', seq), seq,
               IF(seq % 5 = 0, NULL, CONCAT('nöte ', seq)) FROM seq_1_to_400;
             INSERT INTO {db}.nokey SELECT seq % 20, ELT(1 + seq % 3, 'x', 'y', NULL), (seq % 20) / 3 FROM seq_1_to_200;
             "
        );
        if pk_int_rows > 0 {
            sql.push_str(&format!(
                "INSERT INTO {db}.pk_int SELECT seq, seq % 1000, CONCAT('init-', seq), seq / 100,
                   '2024-01-01 00:00:00' + INTERVAL seq SECOND FROM seq_1_to_{pk_int_rows};\n"
            ));
        }
        sql.push_str(&format!("ANALYZE TABLE {db}.pk_int, {db}.pk_composite, {db}.nokey, {db}.ledger;\n"));
        server.exec(&sql).await;
    }

    /// Starts the workload on `server` (over TCP as `ferry`).
    pub async fn start(server: &TestServer, options: WorkloadOptions) -> Workload {
        let opts = match &options.login {
            Some((user, password)) => OptsBuilder::from_opts(server.opts()).user(Some(user)).pass(Some(password)).into(),
            None => server.opts(),
        };
        let db = quote_ident(&options.db);
        let mut conn = server.conn().await;
        let max_id: i64 = conn
            .query_first(format!("SELECT CAST(IFNULL(MAX(id), 0) AS SIGNED) FROM {db}.pk_int"))
            .await
            .expect("read MAX(id) of pk_int (did create_tables run?)")
            .unwrap_or(0);
        let bulk_max: i64 = conn
            .query_first(format!("SELECT CAST(IFNULL(MAX(id), 0) AS SIGNED) FROM {db}.bulk"))
            .await
            .expect("read MAX(id) of bulk")
            .unwrap_or(0);
        // Codes of earlier workloads are still there: new ones start above them.
        let max_code: u64 = conn
            .query_first(format!(
                "SELECT CAST(IFNULL(MAX(CAST(SUBSTRING(code, 2) AS UNSIGNED)), 0) AS UNSIGNED) FROM {db}.pk_composite \
                 WHERE code LIKE 'c%' OR code LIKE 'm%'"
            ))
            .await
            .expect("read the codes of pk_composite")
            .unwrap_or(0);
        let _ = conn.disconnect().await;
        let shared = Arc::new(WorkloadShared::default());
        shared.next_code.store(max_code + 1, Ordering::Relaxed);
        shared.next_id.store(max_id + 1, Ordering::Relaxed);
        shared.bulk_base.store(bulk_max, Ordering::Relaxed);
        let started = Instant::now();
        let options = Arc::new(options);
        let handles = (0..options.connections)
            .map(|index| {
                let (opts, options, shared, flavor) = (opts.clone(), options.clone(), shared.clone(), server.flavor());
                tokio::spawn(async move { workload_connection(opts, flavor, options, index, shared, started).await })
            })
            .collect();
        Workload { shared, handles, started }
    }

    /// Transactions committed so far.
    pub fn committed(&self) -> u64 {
        self.shared.committed.load(Ordering::Relaxed)
    }

    /// Whether the big transaction has committed.
    pub fn bulk_done(&self) -> bool {
        self.shared.bulk_rows.load(Ordering::Relaxed) > 0
    }

    /// Whether every connection has ended (its bound reached, or an error).
    pub fn is_finished(&self) -> bool {
        self.handles.iter().all(|h| h.is_finished())
    }

    /// Asks every connection to stop after its current transaction, waits, and reports. Panics if a
    /// connection failed (with the statement that failed).
    pub async fn stop(self) -> WorkloadReport {
        self.shared.stop.store(true, Ordering::Relaxed);
        self.join().await
    }

    /// Waits until the workload ends by its bound (duration or transaction count), and reports.
    pub async fn wait(self) -> WorkloadReport {
        self.join().await
    }

    async fn join(mut self) -> WorkloadReport {
        for (i, h) in std::mem::take(&mut self.handles).into_iter().enumerate() {
            match h.await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => panic!("workload connection {i} failed: {e}"),
                Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
                Err(e) => panic!("workload connection {i}: {e}"),
            }
        }
        let s = &self.shared;
        WorkloadReport {
            committed: s.committed.load(Ordering::Relaxed),
            rolled_back: s.rolled_back.load(Ordering::Relaxed),
            aborted: s.aborted.load(Ordering::Relaxed),
            statements: s.statements.load(Ordering::Relaxed),
            rows_changed: s.rows_changed.load(Ordering::Relaxed),
            bulk_rows: s.bulk_rows.load(Ordering::Relaxed),
            elapsed: self.started.elapsed(),
        }
    }
}

impl Drop for Workload {
    fn drop(&mut self) {
        // Unjoined (a panicking test): let the connections end by themselves.
        self.shared.stop.store(true, Ordering::Relaxed);
    }
}

/// Checks what every committed state of the workload's database `db` satisfies: the ledger has its
/// accounts and total, and `bulk` holds whole big transactions only. A missing table (not copied
/// yet) passes.
pub async fn check_workload_invariants(conn: &mut Conn, db: &str) -> Result<(), String> {
    let db = quote_ident(db);
    let missing = |e: &mysql_async::Error| matches!(e, mysql_async::Error::Server(s) if s.code == 1146);
    match conn.query_first::<(i64, Option<String>), _>(format!("SELECT COUNT(*), CAST(SUM(balance) AS CHAR) FROM {db}.ledger")).await {
        Ok(Some((n, sum))) => {
            if n != LEDGER_ACCOUNTS || sum.as_deref() != Some(&LEDGER_TOTAL.to_string()) {
                return Err(format!(
                    "{db}.ledger has {n} accounts with total {sum:?}, expected {LEDGER_ACCOUNTS} with {LEDGER_TOTAL}: \
                     a transaction was applied in part"
                ));
            }
        }
        Ok(None) => {}
        Err(e) if missing(&e) => {}
        Err(e) => return Err(format!("read {db}.ledger: {e}")),
    }
    match conn.query_first::<u64, _>(format!("SELECT COUNT(*) FROM {db}.bulk")).await {
        Ok(Some(n)) if n % BULK_ROWS != 0 => {
            Err(format!("{db}.bulk has {n} rows, not a multiple of {BULK_ROWS}: the big transaction was applied in part"))
        }
        Ok(_) => Ok(()),
        Err(e) if missing(&e) => Ok(()),
        Err(e) => Err(format!("read {db}.bulk: {e}")),
    }
}

async fn workload_connection(
    opts: Opts,
    flavor: Flavor,
    o: Arc<WorkloadOptions>,
    index: usize,
    shared: Arc<WorkloadShared>,
    started: Instant,
) -> Result<(), String> {
    let mut conn = Conn::new(opts).await.map_err(|e| format!("connect: {e}"))?;
    if flavor == Flavor::MySql {
        conn.query_drop("SET SESSION cte_max_recursion_depth = 4294967295").await.map_err(|e| format!("{e}"))?;
    }
    let mut g = WorkloadGen {
        flavor,
        rng: Rng::new(o.seed.wrapping_mul(1000).wrapping_add(index as u64)),
        db: quote_ident(&o.db),
        unsynced: quote_ident(&format!("{}_unsynced", o.db)),
        temp_id: -(index as i64) - 1,
        shared: shared.clone(),
    };
    loop {
        if shared.stop.load(Ordering::Relaxed) || o.duration.is_some_and(|d| started.elapsed() >= d) {
            break;
        }
        if let Some(after) = o.bulk_after
            && index == 0
            && started.elapsed() >= after
            && !shared.bulk_claimed.swap(true, Ordering::Relaxed)
        {
            let stmts = g.bulk();
            run_transaction(&mut conn, &stmts, true, false).await.map_err(|e| format!("{e}\nin: {stmts:?}"))?;
            shared.statements.fetch_add(stmts.len() as u64, Ordering::Relaxed);
            shared.bulk_rows.store(BULK_ROWS, Ordering::Relaxed);
            shared.committed.fetch_add(1, Ordering::Relaxed);
            continue;
        }
        if let Some(max) = o.transactions
            && shared.issued.fetch_add(1, Ordering::Relaxed) >= max
        {
            break;
        }
        let ops = if g.rng.chance(0.12) { 1 } else { g.rng.range(1, 7) };
        let mut stmts = Vec::new();
        for _ in 0..ops {
            stmts.extend(g.op());
        }
        let explicit = stmts.len() > 1 || g.rng.chance(0.5);
        let rollback = explicit && g.rng.chance(0.05);
        shared.statements.fetch_add(stmts.len() as u64, Ordering::Relaxed);
        match run_transaction(&mut conn, &stmts, explicit, rollback).await {
            Ok(rows) if rollback => {
                let _ = rows;
                shared.rolled_back.fetch_add(1, Ordering::Relaxed);
            }
            Ok(rows) => {
                shared.committed.fetch_add(1, Ordering::Relaxed);
                shared.rows_changed.fetch_add(rows, Ordering::Relaxed);
            }
            // Deadlocks and lock wait timeouts; with several connections also a duplicate key: a
            // key swap may move a row onto an id another connection has drawn but not inserted yet.
            Err(mysql_async::Error::Server(e)) if e.code == 1213 || e.code == 1205 || (e.code == 1062 && o.connections > 1) => {
                let _ = conn.query_drop("ROLLBACK").await;
                shared.aborted.fetch_add(1, Ordering::Relaxed);
            }
            // ER_OPTION_PREVENTS_STATEMENT: read_only / super_read_only.
            Err(mysql_async::Error::Server(e)) if e.code == 1290 && o.until_read_only => {
                let _ = conn.query_drop("ROLLBACK").await;
                shared.aborted.fetch_add(1, Ordering::Relaxed);
                break;
            }
            Err(e) => return Err(format!("{e}\nin: {stmts:?}")),
        }
        if !o.pause.is_zero() {
            tokio::time::sleep(o.pause).await;
        }
    }
    let _ = conn.disconnect().await;
    Ok(())
}

/// Runs `stmts` as one transaction (`explicit`: BEGIN ... COMMIT/ROLLBACK; else one autocommit
/// statement) and returns the affected rows.
async fn run_transaction(conn: &mut Conn, stmts: &[String], explicit: bool, rollback: bool) -> Result<u64, mysql_async::Error> {
    let body = async {
        if explicit {
            conn.query_drop("BEGIN").await?;
        }
        let mut rows = 0;
        for s in stmts {
            conn.query_drop(s).await?;
            rows += conn.affected_rows();
        }
        if explicit {
            conn.query_drop(if rollback { "ROLLBACK" } else { "COMMIT" }).await?;
        }
        Ok::<u64, mysql_async::Error>(rows)
    };
    body.await
}

struct WorkloadGen {
    flavor: Flavor,
    rng: Rng,
    db: String,
    unsynced: String,
    temp_id: i64,
    shared: Arc<WorkloadShared>,
}

const REGIONS: [&str; 4] = ["eu", "us", "ap", "sa"];

impl WorkloadGen {
    fn fresh_id(&self) -> i64 {
        self.shared.next_id.fetch_add(1, Ordering::Relaxed)
    }
    fn some_id(&mut self) -> i64 {
        let hi = self.shared.next_id.load(Ordering::Relaxed);
        self.rng.range(1, hi)
    }
    fn fresh_code(&self) -> u64 {
        self.shared.next_code.fetch_add(1, Ordering::Relaxed)
    }
    fn pk_int_row(&mut self, id: i64) -> String {
        let v = self.rng.range(-1000, 1000);
        let s = if self.rng.chance(0.1) { "NULL".to_string() } else { format!("'s{}-é'", self.rng.below(100_000)) };
        let amount = format!("{}.{:02}", self.rng.range(-9999, 99999), self.rng.below(100));
        let ts = format!("'2024-01-01 00:00:00' + INTERVAL {} MICROSECOND", self.rng.below(1 << 45));
        format!("({id}, {v}, {s}, {amount}, {ts})")
    }

    fn transfer(&mut self) -> Vec<String> {
        let a = self.rng.range(1, LEDGER_ACCOUNTS + 1);
        let b = 1 + (a + self.rng.range(0, LEDGER_ACCOUNTS - 1)) % LEDGER_ACCOUNTS;
        let x = self.rng.range(1, 100);
        let db = &self.db;
        vec![
            format!("UPDATE {db}.ledger SET balance = balance - {x} WHERE id = {a}"),
            format!("UPDATE {db}.ledger SET balance = balance + {x} WHERE id = {b}"),
        ]
    }

    fn bulk(&mut self) -> Vec<String> {
        let base = self.shared.bulk_base.load(Ordering::Relaxed);
        let batch = base / BULK_ROWS as i64 + 1;
        let db = self.db.clone();
        let mut v = vec![format!(
            "INSERT INTO {db}.bulk (id, batch, pad) SELECT {base} + seq, {batch}, REPEAT(CHAR(97 + seq % 26), 60) \
             FROM {}",
            self.flavor.sequence(&db, BULK_ROWS)
        )];
        v.extend(self.transfer());
        v
    }

    /// The statements of one operation.
    fn op(&mut self) -> Vec<String> {
        let db = self.db.clone();
        let w = self.rng.below(100);
        match w {
            0..=13 => {
                let n = self.rng.range(1, 5);
                let rows: Vec<String> = (0..n)
                    .map(|_| {
                        let id = self.fresh_id();
                        self.pk_int_row(id)
                    })
                    .collect();
                vec![format!("INSERT INTO {db}.pk_int (id, v, s, amount, ts) VALUES {}", rows.join(", "))]
            }
            14..=27 => {
                let id = self.some_id();
                let d = self.rng.range(1, 50);
                vec![format!(
                    "UPDATE {db}.pk_int SET v = v + {d}, s = CONCAT(IFNULL(s, ''), 'u'), amount = amount + 0.25, \
                     ts = ts + INTERVAL {d} SECOND WHERE id = {id}"
                )]
            }
            28..=32 => {
                let id = self.some_id();
                vec![format!("UPDATE {db}.pk_int SET v = v - 1, s = NULL WHERE id BETWEEN {id} AND {id} + 9")]
            }
            33..=38 => {
                let (id, new) = (self.some_id(), self.fresh_id());
                vec![format!("UPDATE {db}.pk_int SET id = {new}, v = v + 1000 WHERE id = {id}")]
            }
            39..=41 => {
                let (a, b) = (self.some_id(), self.some_id());
                if a == b {
                    return vec![];
                }
                let t = self.temp_id;
                vec![
                    format!("UPDATE {db}.pk_int SET id = {t} WHERE id = {a}"),
                    format!("UPDATE {db}.pk_int SET id = {a} WHERE id = {b}"),
                    format!("UPDATE {db}.pk_int SET id = {b} WHERE id = {t}"),
                ]
            }
            42..=48 => {
                let id = self.some_id();
                if self.rng.chance(0.2) {
                    vec![format!("DELETE FROM {db}.pk_int WHERE id BETWEEN {id} AND {id} + 2")]
                } else {
                    vec![format!("DELETE FROM {db}.pk_int WHERE id = {id}")]
                }
            }
            49..=56 => {
                let n = self.rng.range(1, 4);
                let rows: Vec<String> = (0..n)
                    .map(|_| {
                        let region = *self.rng.pick(&REGIONS);
                        let code = self.fresh_code();
                        let note = if self.rng.chance(0.2) { "NULL".into() } else { format!("'nöte {}'", self.rng.below(1000)) };
                        format!("('{region}', 'c{code}', {}, {note})", self.rng.range(-100, 100))
                    })
                    .collect();
                vec![format!("INSERT INTO {db}.pk_composite (region, code, n, note) VALUES {}", rows.join(", "))]
            }
            57..=62 => {
                let region = *self.rng.pick(&REGIONS);
                let dir = if self.rng.chance(0.5) { "ASC" } else { "DESC" };
                vec![format!(
                    "UPDATE {db}.pk_composite SET n = n + 1, note = CONCAT(IFNULL(note, ''), '+') \
                     WHERE region = '{region}' ORDER BY code {dir} LIMIT 3"
                )]
            }
            63..=66 => {
                let region = *self.rng.pick(&REGIONS);
                let code = self.fresh_code();
                vec![format!("UPDATE {db}.pk_composite SET code = 'm{code}', n = n - 1 WHERE region = '{region}' ORDER BY code LIMIT 1")]
            }
            67..=68 => {
                let from = *self.rng.pick(&REGIONS);
                let to = *self.rng.pick(&REGIONS);
                vec![format!("UPDATE {db}.pk_composite SET region = '{to}' WHERE region = '{from}' ORDER BY code DESC LIMIT 1")]
            }
            69..=73 => {
                let region = *self.rng.pick(&REGIONS);
                vec![format!("DELETE FROM {db}.pk_composite WHERE region = '{region}' ORDER BY n, code LIMIT 1")]
            }
            74..=79 => {
                let a = self.rng.range(0, 20);
                let b = *self.rng.pick(&["'x'", "'y'", "NULL", "'zé'"]);
                let c = format!("{a} / 3");
                let copies = self.rng.range(1, 4);
                let row = format!("({a}, {b}, {c})");
                vec![format!("INSERT INTO {db}.nokey (a, b, c) VALUES {}", vec![row; copies as usize].join(", "))]
            }
            80..=86 => {
                let a = self.rng.range(0, 20);
                let limit = self.rng.range(1, 3);
                vec![format!("DELETE FROM {db}.nokey WHERE a = {a} LIMIT {limit}")]
            }
            87..=91 => {
                let a = self.rng.range(0, 20);
                if self.rng.chance(0.5) {
                    vec![format!("UPDATE {db}.nokey SET c = c * 1.5 + 0.1 WHERE a = {a} LIMIT 1")]
                } else {
                    vec![format!("UPDATE {db}.nokey SET b = IF(b IS NULL, 'x', NULL) WHERE a = {a} LIMIT 1")]
                }
            }
            92..=97 => self.transfer(),
            _ => {
                let v = self.rng.below(1000);
                vec![format!("INSERT INTO {}.t (v) VALUES ({v})", self.unsynced)]
            }
        }
    }
}

// ---- topologies: renamed databases and merged tables --------------------------------------------

/// As [`table_checksum`], over the rows matching `condition` (SQL on the table's columns): the
/// share of a merged table that one source wrote.
pub async fn table_checksum_where(conn: &mut Conn, db: &str, table: &str, condition: &str) -> (u64, String) {
    let h = row_hash_expr(conn, db, table).await;
    let sql = format!(
        "SELECT COUNT(*), \
         CAST(IFNULL(SUM(CAST(CONV(SUBSTRING(ferry_row_hash, 1, 16), 16, 10) AS UNSIGNED)), 0) AS CHAR), \
         CAST(IFNULL(SUM(CAST(CONV(SUBSTRING(ferry_row_hash, 17, 16), 16, 10) AS UNSIGNED)), 0) AS CHAR) \
         FROM (SELECT {h} AS ferry_row_hash FROM {}.{} WHERE {condition}) AS t",
        quote_ident(db),
        quote_ident(table)
    );
    let row: Option<(u64, String, String)> =
        conn.query_first(sql).await.unwrap_or_else(|e| panic!("checksum of {db}.{table} where {condition}: {e}"));
    let (n, hi, lo) = row.expect("one row");
    (n, format!("{hi}:{lo}"))
}

/// As [`compare_databases`], with each source database compared to a target database of
/// another name (`(source, target)` pairs).
pub async fn compare_databases_mapped(src: &Opts, dst: &Opts, pairs: &[(&str, &str)]) -> Result<Vec<String>, String> {
    let mut s = Conn::new(src.clone()).await.map_err(|e| format!("connect to the source: {e}"))?;
    let mut d = Conn::new(dst.clone()).await.map_err(|e| format!("connect to the target: {e}"))?;
    let list = "SELECT TABLE_NAME FROM information_schema.TABLES \
                WHERE TABLE_SCHEMA = ? AND TABLE_TYPE = 'BASE TABLE' ORDER BY TABLE_NAME";
    let mut diffs = Vec::new();
    for (sdb, ddb) in pairs {
        let st: Vec<String> = s.exec(list, (sdb,)).await.map_err(|e| format!("list source tables: {e}"))?;
        let dt: Vec<String> = d.exec(list, (ddb,)).await.map_err(|e| format!("list target tables: {e}"))?;
        if st != dt {
            diffs.push(format!("{sdb} -> {ddb}: tables differ: source {st:?}, target {dt:?}"));
            continue;
        }
        for t in &st {
            let a = try_table_checksum(&mut s, sdb, t).await?;
            let b = try_table_checksum(&mut d, ddb, t).await?;
            if a != b {
                diffs.push(format!("{sdb}.{t} -> {ddb}.{t}: source {a:?}, target {b:?}"));
            }
        }
    }
    let _ = s.disconnect().await;
    let _ = d.disconnect().await;
    Ok(diffs)
}

/// Polls [`compare_databases_mapped`] until it finds no difference; panics after `timeout`, or as
/// soon as `ferry` is no longer running, with what still differs and ferry's state.
pub async fn wait_until_same_mapped(
    src: &TestServer,
    dst: &TestServer,
    pairs: &[(&str, &str)],
    timeout: Duration,
    ferry: &mut RunningFerry,
) {
    let deadline = Instant::now() + timeout;
    loop {
        let last = match compare_databases_mapped(&src.opts(), &dst.opts(), pairs).await {
            Ok(d) if d.is_empty() => return,
            Ok(d) => d.join("\n"),
            Err(e) => format!("(could not compare: {e})"),
        };
        if !ferry.is_running() || Instant::now() > deadline {
            panic!("source and target still differ:\n{last}\n{}", ferry.describe());
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}
