//! Writes the SyncTask CRD YAML to stdout (`make crds` redirects it into crds/ and the chart).
fn main() {
    print!("{}", ferry_crds::crd_yaml());
}
