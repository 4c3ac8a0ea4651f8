//! A pod's place in the cluster: its process index from its StatefulSet ordinal.
//!
//! A StatefulSet names its pods `<name>-<ordinal>`; the ordinal is the process index,
//! and the hostfile follows from the replica count and the headless Service's name
//! (see [`crate::hostfile::Hostfile::render`]). In Kubernetes every pod has its own
//! address, so all listen on one mesh port; pods that share one network (containers
//! on one host's network, as `tests/containers.rs` runs them) each need their own,
//! given by ordinal.

/// What is wrong with a pod's identity.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PodError {
    #[error("neither POD_NAME nor HOSTNAME is set: cannot tell this pod's ordinal")]
    NoName,
    #[error("pod name '{0}' has no ordinal: expected <statefulset>-<number>, such as nano-0")]
    NoOrdinal(String),
    #[error("pod '{name}' has ordinal {ordinal}, but the cluster has {replicas} replicas (0 to {last})", last = replicas - 1)]
    OrdinalBeyondReplicas {
        name: String,
        ordinal: usize,
        replicas: usize,
    },
    #[error("the replica count must be a whole number of at least 1, not '{0}'")]
    BadReplicas(String),
    #[error("{given} peer ports are given for {replicas} replicas: give one per pod, in ordinal order (or none, for one port shared by all)")]
    PeerPorts { given: usize, replicas: usize },
}

/// A pod's StatefulSet name and ordinal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pod {
    pub statefulset: String,
    pub ordinal: usize,
    pub replicas: usize,
}

impl Pod {
    /// From the pod's name (`POD_NAME`, else `HOSTNAME`) and the replica count.
    pub fn identify(
        pod_name: Option<&str>,
        hostname: Option<&str>,
        replicas: &str,
    ) -> Result<Pod, PodError> {
        let name = pod_name
            .filter(|n| !n.is_empty())
            .or(hostname.filter(|n| !n.is_empty()))
            .ok_or(PodError::NoName)?;
        // A hostname may carry a domain: nano-2.nano-peers.sedaro.svc.cluster.local.
        let name = name.split('.').next().unwrap_or(name);
        let (statefulset, ordinal) = name
            .rsplit_once('-')
            .filter(|(set, _)| !set.is_empty())
            .ok_or_else(|| PodError::NoOrdinal(name.to_owned()))?;
        let ordinal = ordinal
            .parse::<usize>()
            .map_err(|_| PodError::NoOrdinal(name.to_owned()))?;
        let replicas = match replicas.trim().parse::<usize>() {
            Ok(r) if r >= 1 => r,
            _ => return Err(PodError::BadReplicas(replicas.to_owned())),
        };
        if ordinal >= replicas {
            return Err(PodError::OrdinalBeyondReplicas {
                name: name.to_owned(),
                ordinal,
                replicas,
            });
        }
        Ok(Pod {
            statefulset: statefulset.to_owned(),
            ordinal,
            replicas,
        })
    }

    /// This pod's hostfile: every peer by its stable DNS name, itself the address it
    /// listens on (`bind`). Every pod's mesh port is `port`, unless `ports` gives each
    /// its own (by ordinal).
    pub fn hostfile(
        &self,
        service: &str,
        bind: &str,
        port: u16,
        ports: &[u16],
    ) -> Result<String, PodError> {
        let ports = match ports.len() {
            0 => vec![port; self.replicas],
            n if n == self.replicas => ports.to_vec(),
            given => {
                return Err(PodError::PeerPorts {
                    given,
                    replicas: self.replicas,
                })
            }
        };
        Ok(crate::hostfile::Hostfile::render(
            &self.statefulset,
            service,
            bind,
            &ports,
            self.ordinal,
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_ordinal_comes_from_the_pod_name_or_the_hostname() {
        let pod = Pod::identify(Some("nano-2"), Some("ignored-9"), "3").unwrap();
        assert_eq!(
            pod,
            Pod {
                statefulset: "nano".into(),
                ordinal: 2,
                replicas: 3
            }
        );
        let pod = Pod::identify(
            None,
            Some("sedaro-nano-0.nano-peers.sedaro.svc.cluster.local"),
            "1",
        )
        .unwrap();
        assert_eq!((pod.statefulset.as_str(), pod.ordinal), ("sedaro-nano", 0));
        assert_eq!(
            pod.hostfile("nano-peers", "0.0.0.0", 7000, &[]).unwrap(),
            "0.0.0.0:7000\n"
        );
        let pod = Pod::identify(Some("nano-1"), None, "3").unwrap();
        assert_eq!(
            pod.hostfile("nano-peers", "0.0.0.0", 7000, &[]).unwrap(),
            "nano-0.nano-peers:7000\n0.0.0.0:7000\nnano-2.nano-peers:7000\n"
        );
        assert_eq!(
            pod.hostfile("nano-peers", "127.0.0.1", 7000, &[7010, 7011, 7012])
                .unwrap(),
            "nano-0.nano-peers:7010\n127.0.0.1:7011\nnano-2.nano-peers:7012\n"
        );
        assert_eq!(
            pod.hostfile("nano-peers", "0.0.0.0", 7000, &[7010, 7011])
                .unwrap_err()
                .to_string(),
            "2 peer ports are given for 3 replicas: give one per pod, in ordinal order (or none, for one port shared by all)"
        );
    }

    #[test]
    fn bad_identities_are_clear_errors() {
        assert_eq!(Pod::identify(None, None, "3"), Err(PodError::NoName));
        assert_eq!(
            Pod::identify(Some(""), Some(""), "3"),
            Err(PodError::NoName)
        );
        assert_eq!(
            Pod::identify(Some("nano"), None, "3"),
            Err(PodError::NoOrdinal("nano".into()))
        );
        assert_eq!(
            Pod::identify(Some("nano-x"), None, "3"),
            Err(PodError::NoOrdinal("nano-x".into()))
        );
        assert_eq!(
            Pod::identify(Some("-3"), None, "4"),
            Err(PodError::NoOrdinal("-3".into()))
        );
        let err = Pod::identify(Some("nano-3"), None, "3").unwrap_err();
        assert_eq!(
            err.to_string(),
            "pod 'nano-3' has ordinal 3, but the cluster has 3 replicas (0 to 2)"
        );
        assert_eq!(
            Pod::identify(Some("nano-0"), None, "0"),
            Err(PodError::BadReplicas("0".into()))
        );
        assert_eq!(
            Pod::identify(Some("nano-0"), None, "many"),
            Err(PodError::BadReplicas("many".into()))
        );
    }
}
