//! The ferry operator. The controller arrives with its own issue; until then this binary only
//! says so, so that the workspace, the image and the chart have their final shape.
fn main() {
    eprintln!(
        "ferry-operator {}: the controller is not part of this build yet; use `ferry run -f` to run a SyncTask locally",
        env!("CARGO_PKG_VERSION")
    );
    std::process::exit(2);
}
