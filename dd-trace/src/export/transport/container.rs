//! Container and entity ids for the `Datadog-Container-ID` / `Datadog-Entity-ID` headers, read
//! once at start from `/proc/self/cgroup` (spec §1.5). The agent uses them to tag traces with
//! the pod's and container's tags.
//!
//! In: `/proc/self/cgroup` and `DD_ENTITY_ID`. Out: the two header values. Called once, on the
//! thread that builds the tracer.

use std::path::Path;

/// Container and entity ids detected for this process.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct ContainerInfo {
    pub container_id: Option<String>,
    pub entity_id: Option<String>,
}

impl ContainerInfo {
    /// Reads `/proc/self/cgroup`; `dd_entity_id` (`DD_ENTITY_ID`) is the entity id of last resort.
    pub(crate) fn detect(dd_entity_id: Option<&str>) -> Self {
        let cgroup = std::fs::read_to_string("/proc/self/cgroup").unwrap_or_default();
        let container_id = parse_container_id(&cgroup);
        let entity_id = match &container_id {
            Some(cid) => Some(format!("ci-{cid}")),
            None => cgroup_v2_inode(&cgroup, Path::new("/sys/fs/cgroup"))
                .map(|inode| format!("in-{inode}"))
                .or_else(|| dd_entity_id.map(str::to_string)),
        };
        ContainerInfo {
            container_id,
            entity_id,
        }
    }
}

fn is_hex(s: &str, len: usize) -> bool {
    s.len() == len && s.bytes().all(|b| b.is_ascii_hexdigit())
}

/// A UUID (`8-4-4-4-12` hex groups).
fn is_uuid(s: &str) -> bool {
    let groups: Vec<&str> = s.split('-').collect();
    groups.len() == 5
        && [8, 4, 4, 4, 12]
            .iter()
            .zip(&groups)
            .all(|(&len, g)| is_hex(g, len))
}

/// An ECS task container id: 32 hex digits, `-`, digits.
fn is_ecs_task(s: &str) -> bool {
    match s.split_once('-') {
        Some((hex, n)) => is_hex(hex, 32) && !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()),
        None => false,
    }
}

/// Finds a container id in a cgroup file: the last path segment of a line, less a `.scope`
/// suffix and a runtime prefix (`docker-`, `cri-containerd-`, `crio-`, …), that is 64 hex
/// digits, a UUID, or an ECS task id.
pub(crate) fn parse_container_id(cgroup: &str) -> Option<String> {
    cgroup.lines().find_map(|line| {
        let path = line.splitn(3, ':').nth(2)?;
        let last = path.rsplit('/').next()?;
        let last = last.strip_suffix(".scope").unwrap_or(last);
        let candidates = [last, last.rsplit_once('-').map_or(last, |(_, id)| id)];
        candidates
            .into_iter()
            .find(|c| is_hex(c, 64) || is_uuid(c) || is_ecs_task(c))
            .or_else(|| {
                // `crio-<uuid>`: the UUID itself contains dashes.
                let after_prefix = last.split_once('-').map(|(_, rest)| rest)?;
                is_uuid(after_prefix).then_some(after_prefix)
            })
            .map(str::to_string)
    })
}

/// The inode of this process's cgroup v2 node, unless it is the root of the hierarchy (the
/// host's namespace, which says nothing about the container).
fn cgroup_v2_inode(cgroup: &str, root: &Path) -> Option<u64> {
    use std::os::unix::fs::MetadataExt;
    let path = cgroup.lines().find_map(|l| l.strip_prefix("0::"))?;
    let relative = path.trim_start_matches('/');
    if relative.is_empty() {
        return None;
    }
    std::fs::metadata(root.join(relative)).ok().map(|m| m.ino())
}

#[cfg(test)]
mod tests {
    use super::*;

    const DOCKER: &str = "3b6a2f1c9d0e4f5a6b7c8d9e0f1a2b3c4d5e6f7a8b9c0d1e2f3a4b5c6d7e8f9a";

    #[test]
    fn container_ids_are_found_in_common_cgroup_layouts() {
        let cases = [
            (
                format!("12:memory:/docker/{DOCKER}"),
                Some(DOCKER.to_string()),
            ),
            (
                format!(
                    "0::/kubepods.slice/kubepods-burstable.slice/cri-containerd-{DOCKER}.scope"
                ),
                Some(DOCKER.to_string()),
            ),
            (
                format!("1:name=systemd:/system.slice/docker-{DOCKER}.scope"),
                Some(DOCKER.to_string()),
            ),
            (
                "1:name=systemd:/ecs/34dc0b5e626f2c5c4c5170e34b10e765-1234567890".to_string(),
                Some("34dc0b5e626f2c5c4c5170e34b10e765-1234567890".to_string()),
            ),
            (
                "0::/crio-7a4b4c7e-8a2b-4c5d-9e6f-0a1b2c3d4e5f.scope".to_string(),
                Some("7a4b4c7e-8a2b-4c5d-9e6f-0a1b2c3d4e5f".to_string()),
            ),
            ("0::/".to_string(), None),
            (
                "0::/user.slice/user-1000.slice/session-3.scope".to_string(),
                None,
            ),
            ("garbage".to_string(), None),
        ];
        for (cgroup, want) in cases {
            assert_eq!(parse_container_id(&cgroup), want, "{cgroup}");
        }
    }

    #[test]
    fn cgroup_v2_inode_skips_the_host_root() {
        let dir = std::env::temp_dir().join(format!("dd-trace-cg-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("pod")).unwrap();
        let ino = cgroup_v2_inode("0::/pod", &dir);
        assert!(ino.is_some());
        assert_eq!(cgroup_v2_inode("0::/", &dir), None);
        assert_eq!(cgroup_v2_inode("12:memory:/pod", &dir), None);
        let _ = std::fs::remove_dir_all(dir);
    }
}
