//! Stable hashes of a spec: the operator names precheck Jobs and restarts engine pods by them, and
//! the engine knows by the same hash whether the precheck it finds in the status checked this spec.

use crate::SyncTaskSpec;

/// FNV-1a, 64 bits: stable across builds and platforms (std's hasher is not), enough to tell
/// spec versions apart in a name.
pub fn fnv1a(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf29ce484222325;
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x100000001b3);
    }
    h
}

/// Ten hex digits of the FNV-1a of a JSON value's text.
pub fn hash_json(v: &serde_json::Value) -> String {
    // serde_json's map is sorted (no preserve_order feature), so the text is canonical.
    format!("{:010x}", fnv1a(v.to_string().as_bytes()) & 0xff_ffff_ffff)
}

/// What the precheck checks: the spec without `suspend` (suspending must not re-run it), without
/// the engine's image and resources (they change the pod, not what is synchronized), and without
/// the verification and cutover settings (they change what the engine does, not what can be synced).
pub fn precheck_spec(spec: &SyncTaskSpec) -> SyncTaskSpec {
    let mut spec = spec.clone();
    spec.suspend = false;
    spec.engine.image = None;
    spec.engine.resources = None;
    spec.verification = Default::default();
    spec.cutover = Default::default();
    spec
}

/// The hash of [`precheck_spec`]: what `status.precheck.specHash` holds once a precheck of this
/// spec ran.
pub fn precheck_spec_hash(spec: &SyncTaskSpec) -> String {
    hash_json(&serde_json::to_value(precheck_spec(spec)).expect("spec serializes"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_precheck_hash_ignores_what_the_precheck_does_not_check() {
        let spec: SyncTaskSpec = serde_json::from_value(serde_json::json!({
            "source": {"host": "s", "port": 3306, "credentialsSecret": "a"},
            "target": {"host": "t", "port": 3306, "credentialsSecret": "b"},
            "objects": [{"database": "app"}]
        }))
        .unwrap();
        let mut same = spec.clone();
        same.suspend = true;
        same.engine.image = Some("ferry:other".into());
        same.verification.interval_seconds += 1;
        assert_eq!(precheck_spec_hash(&spec), precheck_spec_hash(&same));
        let mut other = spec.clone();
        other.target.port = 3307;
        assert_ne!(precheck_spec_hash(&spec), precheck_spec_hash(&other));
        assert_eq!(precheck_spec_hash(&spec).len(), 10);
    }
}
