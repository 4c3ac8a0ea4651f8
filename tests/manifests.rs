//! The Kubernetes manifests, checked offline: rendered by kustomize, validated against
//! the schemas, and the security rules read from the rendered YAML
//! (`cluster/k8s/check.py`); the checker itself must refuse broken manifests.

use std::process::{Command, Output};

use nano_testing::cluster::rendered_manifests as rendered;
use nano_testing::process;

fn check(yaml: &str) -> Output {
    process::piped(
        Command::new("python3")
            .arg("cluster/k8s/check.py")
            .current_dir(env!("CARGO_MANIFEST_DIR")),
        yaml,
    )
}

#[test]
fn the_manifests_render_validate_and_keep_the_security_rules() {
    let yaml = rendered();
    let out = check(&yaml);
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("0 failures"));
    for kind in [
        "kind: StatefulSet",
        "kind: NetworkPolicy",
        "type: NodePort",
        "kind: PersistentVolumeClaim",
        "kind: Secret",
    ] {
        assert!(
            yaml.contains(kind)
                || kind == "kind: PersistentVolumeClaim" && yaml.contains("volumeClaimTemplates"),
            "{kind}"
        );
    }
}

#[test]
fn the_checker_refuses_broken_manifests() {
    let yaml = rendered();
    let breakages = [
        (
            "readOnlyRootFilesystem: true",
            "readOnlyRootFilesystem: false",
            "readOnlyRootFilesystem is not true",
        ),
        (
            "runAsNonRoot: true",
            "runAsNonRoot: false",
            "runAsNonRoot is not true",
        ),
        (
            "allowPrivilegeEscalation: false",
            "allowPrivilegeEscalation: true",
            "allowPrivilegeEscalation",
        ),
        (
            "podManagementPolicy: Parallel",
            "podManagementPolicy: OrderedReady",
            "Parallel",
        ),
        (
            "publishNotReadyAddresses: true",
            "publishNotReadyAddresses: false",
            "publishNotReadyAddresses",
        ),
        ("replicas: 3", "replicas: three", "invalid"),
        (
            "value: \"768\"",
            "value: \"2048\"",
            "NANO_MEMORY_MB (2048.0) is not below",
        ),
        (
            "value: \"1.5\"",
            "value: \"4\"",
            "NANO_MAX_LOG_GB (4.0) is not below",
        ),
        (
            "  serviceName: nano-peers",
            "  serviceName: nano-peers\n  serviceNmae: typo",
            "invalid",
        ),
        ("kind: StatefulSet", "kind: StatefulSet\n  : [", "not YAML"),
    ];
    for (from, to, says) in breakages {
        assert!(
            yaml.contains(from),
            "the manifests no longer contain {from:?}"
        );
        let out = check(&yaml.replacen(from, to, 1));
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{to:?} passed the checker");
        assert!(stderr.contains(says), "{to:?}: {stderr}");
    }
}
