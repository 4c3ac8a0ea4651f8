//! Running sedaro-nano as a cluster: the process bootstrap (hostfile, process index
//! from a pod's ordinal), with the container image and the Kubernetes manifests beside
//! this crate.
//!
//! Nothing is here yet: the cluster form arrives with its own issue.
