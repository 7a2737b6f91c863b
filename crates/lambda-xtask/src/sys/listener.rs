//! Which process group listens on a loopback TCP port, from /proc: a server we started is
//! confirmed by being ours, not merely by something answering on its port.

/// The process group of the process that listens on `port` (IPv4 or IPv6), if one is found.
pub fn listener_group(port: u16) -> Option<i32> {
    let inodes = listening_inodes(port);
    if inodes.is_empty() {
        return None;
    }
    for entry in std::fs::read_dir("/proc").ok()?.flatten() {
        let Some(pid) = entry.file_name().to_str().and_then(|n| n.parse::<i32>().ok()) else { continue };
        let Ok(fds) = std::fs::read_dir(format!("/proc/{pid}/fd")) else { continue };
        let holds = fds.flatten().any(|fd| {
            std::fs::read_link(fd.path()).is_ok_and(|target| {
                let target = target.to_string_lossy();
                inodes.iter().any(|inode| target == format!("socket:[{inode}]"))
            })
        });
        if holds {
            return process_group(pid);
        }
    }
    None
}

/// Socket inodes in LISTEN state (0A) on `port`.
fn listening_inodes(port: u16) -> Vec<String> {
    let mut inodes = Vec::new();
    for table in ["/proc/net/tcp", "/proc/net/tcp6"] {
        let Ok(text) = crate::sys::beneath::read_to_string(table) else { continue };
        for line in text.lines().skip(1) {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let (Some(local), Some(state), Some(inode)) = (fields.get(1), fields.get(3), fields.get(9)) else {
                continue;
            };
            let local_port = local.rsplit_once(':').and_then(|(_, p)| u16::from_str_radix(p, 16).ok());
            if local_port == Some(port) && *state == "0A" {
                inodes.push((*inode).to_string());
            }
        }
    }
    inodes
}

fn process_group(pid: i32) -> Option<i32> {
    let stat = crate::sys::beneath::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    stat.rsplit_once(')')?.1.split_whitespace().nth(2)?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_this_process_as_the_listener() {
        let listener = std::net::TcpListener::bind(("127.0.0.1", 0)).unwrap();
        let port = listener.local_addr().unwrap().port();
        // SAFETY: getpgrp has no preconditions.
        assert_eq!(listener_group(port), Some(unsafe { libc::getpgrp() }));
        drop(listener);
        assert_eq!(listener_group(port), None);
    }
}
