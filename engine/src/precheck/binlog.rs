//! The source's binary log as incremental sync reads it: binlog-enabled, binlog-format,
//! binlog-row-image, binlog-row-metadata, binlog-compression, server-id, and cascade (a source
//! written by replication logs what it applies).

use std::collections::BTreeMap;

use mysql_async::Conn;
use mysql_async::prelude::*;

use crate::db::flavor::{Flavor, Kind};
use crate::db::{Role, Server, qt};
use crate::error::{Error, Result};

use super::{Check, global_vars, is_on};

/// Global variables by lower-case name.
type Vars = BTreeMap<String, String>;

impl Check<'_> {
    /// Item 3.
    pub(super) async fn binlog(&mut self) {
        let ids = ["binlog-enabled", "binlog-format", "binlog-row-image", "binlog-row-metadata", "binlog-compression", "server-id"];
        if !self.spec.incremental {
            for id in ids {
                self.skip(id, "incremental: false: the binlog is not read");
            }
            return;
        }
        let (Some(mut src), Some(f)) = (self.src.take(), self.src_flavor.clone()) else {
            return self.unreachable(&ids, Role::Source);
        };
        let source = self.source.clone();
        let mut names = vec!["log_bin", "binlog_format", "binlog_row_image", "binlog_row_metadata", "server_id"];
        names.extend(f.binlog_compression_variable());
        let vars = global_vars(&source, &mut src, &names).await;
        self.src = Some(src);
        let vars = match vars {
            Ok(v) => v,
            Err(e) => {
                for id in ids {
                    self.broken(id, Error::invalid(source.address.clone(), e.to_string()));
                }
                return;
            }
        };
        let addr = &source.address;
        self.binlog_rows(&vars, addr);
        self.binlog_row_metadata(&vars, &f);
        self.binlog_compression(&vars, &f, addr);
        self.server_id(&vars, addr);
    }

    /// binlog-enabled, binlog-format, binlog-row-image: a binlog of full row images.
    fn binlog_rows(&mut self, vars: &Vars, addr: &str) {
        let get = |k: &str| vars.get(k).map(|v| v.to_ascii_uppercase());
        if is_on(vars.get("log_bin")) {
            self.pass("binlog-enabled", format!("log_bin is ON on {addr}"));
        } else {
            self.fail(
                "binlog-enabled",
                format!("the binary log is off on the source {addr}; incremental sync reads it"),
                "start the source with log_bin (e.g. log-bin=mysql-bin in the [mysqld] section) and restart it",
            );
        }
        match get("binlog_format").as_deref() {
            Some("ROW") => self.pass("binlog-format", "binlog_format is ROW"),
            other => self.fail(
                "binlog-format",
                format!("binlog_format is {} on {addr}; ferry reads row events only", other.unwrap_or("unset")),
                "SET GLOBAL binlog_format = 'ROW'; and binlog_format=ROW in the server's config (sessions opened before keep the old format)",
            ),
        }
        match get("binlog_row_image").as_deref() {
            None | Some("FULL") => self.pass("binlog-row-image", "binlog_row_image is FULL"),
            Some(v) => self.fail(
                "binlog-row-image",
                format!("binlog_row_image is {v} on {addr}; ferry needs every column of every changed row"),
                "SET GLOBAL binlog_row_image = 'FULL'; and binlog_row_image=FULL in the server's config",
            ),
        }
    }

    /// binlog-row-metadata: informational.
    fn binlog_row_metadata(&mut self, vars: &Vars, f: &Flavor) {
        // Not needed, whatever the setting: the columns of every row event are mapped through
        // ferry's tracked copy of each table's definition (see `tracker`) when the event does not
        // name them (MySQL's MINIMAL, MariaDB's NO_LOG, MySQL 5.x, which has no such variable).
        let tracked = "ferry maps row-event columns by position through its own copy of each table's definition, \
                       kept in step with the binlog's schema changes";
        match vars.get("binlog_row_metadata").map(|v| v.to_ascii_uppercase()).as_deref() {
            Some("FULL") => self
                .pass("binlog-row-metadata", format!("binlog_row_metadata is FULL: row events name their columns; not needed: {tracked}")),
            other => self.pass(
                "binlog-row-metadata",
                format!(
                    "binlog_row_metadata is {} on {}: row events name no columns; not needed: {tracked}",
                    other.unwrap_or("absent"),
                    f.version_text
                ),
            ),
        }
    }

    /// binlog-compression.
    fn binlog_compression(&mut self, vars: &Vars, f: &Flavor, addr: &str) {
        match f.binlog_compression_variable() {
            None => self.pass("binlog-compression", format!("{} does not compress binlog events", f.version_text)),
            // MySQL 8.0.20+ compresses whole transactions into TRANSACTION_PAYLOAD events, which
            // the binlog reader unpacks (see `binlog`); MariaDB's compressed events it cannot read.
            Some(var) if f.kind == Kind::MySql => {
                let state = if is_on(vars.get(var)) { "ON: compressed transactions (TRANSACTION_PAYLOAD events) are read" } else { "OFF" };
                self.pass("binlog-compression", format!("{var} is {state}"));
            }
            Some(var) if !is_on(vars.get(var)) => self.pass("binlog-compression", format!("{var} is OFF")),
            Some(var) => self.fail(
                "binlog-compression",
                format!("{var} is ON on {addr}: MariaDB's compressed events are not supported"),
                format!("SET GLOBAL {var} = OFF; and {var}=OFF in the server's config"),
            ),
        }
    }

    /// server-id: the source has one, and it is not the one ferry replicates as.
    fn server_id(&mut self, vars: &Vars, addr: &str) {
        let server_id: u64 = vars.get("server_id").and_then(|v| v.parse().ok()).unwrap_or(0);
        let replica_id = self.spec.engine.server_id.unwrap_or_else(|| crate::source::binlog::server_id_for(&self.task.id()));
        if server_id == 0 {
            self.fail(
                "server-id",
                format!("server_id is 0 on {addr}: a server without an id writes no usable binlog"),
                "SET GLOBAL server_id = <a unique number>; and server_id in the server's config",
            );
        } else if server_id == replica_id as u64 {
            self.fail(
                "server-id",
                format!("the source's server_id {server_id} equals the replica id ferry would use for this task"),
                "set spec.engine.serverId to a number no server in the replication topology uses",
            );
        } else {
            self.pass("server-id", format!("source server_id {server_id}, ferry's replica id {replica_id}"));
        }
    }

    /// Item 13: a source that is itself written by replication must log what it applies, or the
    /// changes never reach this task (cascade A -> B -> C, this task reading B).
    ///
    /// What B needs depends on who writes it. ferry applies as an ordinary client session, and a
    /// server with log_bin on records every client write in its binary log whatever
    /// log_slave_updates says: that option only covers the native replication SQL thread. So a
    /// source written by another ferry task needs log_bin (in ROW format, which `binlog-format`
    /// checks), and a native replica needs log_slave_updates (MySQL 8.0.26+: log_replica_updates)
    /// as well. Checked on MariaDB 10.11 and MySQL 9.7: tests/tests/topologies.rs runs A -> B -> C
    /// with B at log_slave_updates=OFF, and tests/tests/precheck.rs sees this item fail for a
    /// native replica with it OFF.
    pub(super) async fn cascade(&mut self) {
        let id = "cascade";
        if !self.spec.incremental {
            return self.skip(id, "incremental: false: the binlog is not read");
        }
        let (Some(mut src), Some(f)) = (self.src.take(), self.src_flavor.clone()) else {
            return self.unreachable(&[id], Role::Source);
        };
        let source = self.source.clone();
        let r = Writers::read(&source, &mut src, &f).await;
        self.src = Some(src);
        let w = match r {
            Ok(v) => v,
            Err(e) => return self.broken(id, e),
        };
        let (addr, var) = (&source.address, w.updates_variable);
        let by_ferry = (!w.ferry_metas.is_empty())
            .then(|| format!("it is the target of another ferry task (checkpoints in {})", w.ferry_metas.join(", ")));
        let mut problems = Vec::new();
        let mut remedies = Vec::new();
        if let (Some(why), false) = (&by_ferry, w.log_bin) {
            problems.push(format!("{why}, and its binary log is off: what that task applies never reaches this one"));
            remedies
                .push("start the source with log_bin (and binlog_format=ROW); ferry's writes are then logged as any client's".to_string());
        }
        if w.replica && !w.updates_on {
            problems.push(format!("it is a replica, and {var} is OFF: what its replication thread applies would not reach its binlog"));
            remedies.push(format!("start the source with {var}=ON (and log_bin); it cannot be changed at runtime"));
        }
        if !problems.is_empty() {
            return self.fail(id, format!("the source {addr} is written by replication: {}", problems.join("; ")), remedies.join("; "));
        }
        let ferry_note = by_ferry
            .map(|why| format!("{why}; ferry writes there as a client, so its binary log records those changes whatever {var} says"));
        if w.updates_on {
            let note = ferry_note.map(|n| format!("; {n}")).unwrap_or_default();
            self.pass(id, format!("{var} is ON: the source logs what it applies{note}"));
        } else if let Some(note) = ferry_note {
            self.pass(id, format!("the source {addr}: {note}"));
        } else {
            let extra =
                if w.unknown { format!(" (could not run {}: replica state unknown)", f.replica_status_statement()) } else { String::new() };
            self.pass(id, format!("the source is not written by replication{extra}"));
        }
    }
}

/// Who may write the source besides its clients, as the `cascade` item reads it.
struct Writers {
    /// ferry metadata databases on the source holding a checkpoint: another task writes it.
    ferry_metas: Vec<String>,
    /// The source replicates from another server.
    replica: bool,
    /// Its replica state could not be read.
    unknown: bool,
    /// log_slave_updates, or log_replica_updates where the server calls it so.
    updates_variable: &'static str,
    updates_on: bool,
    log_bin: bool,
}

impl Writers {
    async fn read(source: &Server, src: &mut Conn, f: &Flavor) -> Result<Writers> {
        let mut ferry_metas = Vec::new();
        // ferry's metadata: a schema with its checkpoints and copy tables, holding a checkpoint.
        let metas: Vec<String> = src
            .query(
                "SELECT TABLE_SCHEMA FROM information_schema.TABLES WHERE TABLE_NAME IN ('checkpoints', 'copy_chunks') \
                 GROUP BY TABLE_SCHEMA HAVING COUNT(*) = 2",
            )
            .await
            .map_err(source.err("looking for ferry metadata on the source"))?;
        for m in metas {
            let n: Option<u64> = src.query_first(format!("SELECT COUNT(*) FROM {}", qt(&m, "checkpoints"))).await.ok().flatten();
            if n.unwrap_or(0) > 0 {
                ferry_metas.push(m);
            }
        }
        let stmt = f.replica_status_statement();
        let (replica, unknown) = match src.query::<mysql_async::Row, _>(stmt).await {
            Ok(rows) => (!rows.is_empty(), false),
            Err(_) => (false, true),
        };
        let var = f.replica_updates_variable();
        let vars = global_vars(source, src, &[var, "log_bin"]).await?;
        Ok(Writers {
            ferry_metas,
            replica,
            unknown,
            updates_variable: var,
            updates_on: is_on(vars.get(var)),
            log_bin: is_on(vars.get("log_bin")),
        })
    }
}
