//! MySQL and MariaDB error numbers the engine acts on, by name, and the groups it decides by.
//! (Both servers share these numbers.)

pub const TOO_MANY_CONNECTIONS: u16 = 1040;
pub const SERVER_SHUTDOWN: u16 = 1053;
pub const UNKNOWN_CHARACTER_SET: u16 = 1115;
pub const CANNOT_ADD_FOREIGN_KEY_ROW: u16 = 1216;
pub const CANNOT_DELETE_PARENT_ROW_OLD: u16 = 1217;
pub const TOO_MANY_USER_CONNECTIONS: u16 = 1203;
pub const LOCK_WAIT_TIMEOUT: u16 = 1205;
pub const DEADLOCK: u16 = 1213;
pub const COLLATION_CHARSET_MISMATCH: u16 = 1253;
pub const UNKNOWN_COLLATION: u16 = 1273;
pub const DUPLICATE_KEY: u16 = 1062;
pub const DB_EXISTS: u16 = 1007;
pub const DB_DROP_MISSING: u16 = 1008;
pub const TABLE_EXISTS: u16 = 1050;
pub const UNKNOWN_TABLE: u16 = 1051;
pub const UNKNOWN_COLUMN: u16 = 1054;
pub const DUPLICATE_COLUMN: u16 = 1060;
pub const DUPLICATE_KEY_NAME: u16 = 1061;
pub const CANNOT_DROP_FIELD_OR_KEY: u16 = 1091;
pub const NO_SUCH_TABLE: u16 = 1146;
pub const LOCAL_INFILE_NOT_ALLOWED: u16 = 1148;
pub const UNKNOWN_SYSTEM_VARIABLE: u16 = 1193;
pub const ROUTINE_EXISTS: u16 = 1304;
pub const ROUTINE_DOES_NOT_EXIST: u16 = 1305;
pub const TRIGGER_EXISTS: u16 = 1359;
pub const TRIGGER_DOES_NOT_EXIST: u16 = 1360;
pub const BINLOG_FUNCTION_CREATORS: u16 = 1418;
pub const ROW_IS_REFERENCED: u16 = 1451;
pub const NO_REFERENCED_ROW: u16 = 1452;
pub const DUPLICATE_FOREIGN_KEY_NAME: u16 = 1826;
pub const CONNECTION_KILLED: u16 = 1927;
pub const SERVER_GONE: u16 = 2006;
pub const LOST_CONNECTION: u16 = 2013;
pub const DUPLICATE_CHECK_CONSTRAINT_NAME: u16 = 3822;
pub const LOCAL_INFILE_DISABLED_CLIENT: u16 = 3948;
pub const IDLE_DISCONNECT: u16 = 4031;
pub const LOCAL_INFILE_DISABLED: u16 = 4166;
pub const FATAL_BINLOG_READ: u16 = 1236;
pub const SAME_SERVER_ID_REPLICA: u16 = 4052;

/// What a reconnect can cure: the server going down or away, a killed or idle-dropped
/// connection, a lock wait timeout or a deadlock (the transaction is rolled back whole).
pub const TRANSIENT: &[u16] =
    &[SERVER_SHUTDOWN, LOCK_WAIT_TIMEOUT, DEADLOCK, CONNECTION_KILLED, SERVER_GONE, LOST_CONNECTION, IDLE_DISCONNECT];

/// Refusals while connecting that a later try may not meet: too many connections, a shutdown.
pub const TRANSIENT_AT_CONNECT: &[u16] = &[TOO_MANY_CONNECTIONS, SERVER_SHUTDOWN, TOO_MANY_USER_CONNECTIONS];

/// How a target refuses `LOAD DATA LOCAL` itself: the command is not allowed (1148), the server
/// has local_infile off (MySQL 3948, MariaDB 4166).
pub const LOAD_REFUSED: &[u16] = &[LOCAL_INFILE_NOT_ALLOWED, LOCAL_INFILE_DISABLED_CLIENT, LOCAL_INFILE_DISABLED];

/// A row change the target's keys refuse: a duplicate key, a restricting child row, a missing
/// parent row.
pub const REFUSED_BY_KEYS: &[u16] =
    &[DUPLICATE_KEY, CANNOT_ADD_FOREIGN_KEY_ROW, CANNOT_DELETE_PARENT_ROW_OLD, ROW_IS_REFERENCED, NO_REFERENCED_ROW];

/// The target lacks the character set or collation an object was made with.
pub const CHARSET_MISSING: &[u16] = &[UNKNOWN_CHARACTER_SET, COLLATION_CHARSET_MISMATCH, UNKNOWN_COLLATION];

/// A schema change found applied already (replayed after a crash between the statement and the
/// checkpoint, or run by another task writing a merged table).
pub const ALREADY_APPLIED: &[u16] = &[
    DB_EXISTS,
    DB_DROP_MISSING,
    TABLE_EXISTS,
    UNKNOWN_TABLE,
    UNKNOWN_COLUMN,
    DUPLICATE_COLUMN,
    DUPLICATE_KEY_NAME,
    CANNOT_DROP_FIELD_OR_KEY,
    NO_SUCH_TABLE,
    ROUTINE_EXISTS,
    ROUTINE_DOES_NOT_EXIST,
    TRIGGER_DOES_NOT_EXIST,
];

/// The same for ferry's copies of the source's definitions, whose statements also name foreign
/// keys and CHECK constraints (shadows are made from a later definition at times).
pub const ALREADY_IN_SHADOW: &[u16] = &[
    TABLE_EXISTS,
    UNKNOWN_TABLE,
    UNKNOWN_COLUMN,
    DUPLICATE_COLUMN,
    DUPLICATE_KEY_NAME,
    CANNOT_DROP_FIELD_OR_KEY,
    NO_SUCH_TABLE,
    DUPLICATE_FOREIGN_KEY_NAME,
    DUPLICATE_CHECK_CONSTRAINT_NAME,
];

/// The server error number of a driver error, if it is one.
pub fn of(e: &mysql_async::Error) -> Option<u16> {
    match e {
        mysql_async::Error::Server(s) => Some(s.code),
        _ => None,
    }
}
