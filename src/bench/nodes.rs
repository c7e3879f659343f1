//! `duro serve` processes a benchmark starts and measures: on a free port, killed when
//! dropped, ready when `/readyz` answers 200, their peak resident memory read from /proc.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::Context;

/// A `duro serve` child process, killed when dropped.
pub struct Node {
    child: Child,
    pub address: SocketAddr,
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Node {
    /// Starts `duro serve --data-dir DIR --listen FREE_PORT ARGS...` with `env`, its log
    /// discarded, and waits up to `within` for it to be ready.
    pub fn start(
        data_dir: &Path,
        args: &[&str],
        env: &[(&str, &str)],
        within: Duration,
    ) -> anyhow::Result<Node> {
        let address = free_port()?;
        let exe = std::env::current_exe().context("finding the duro binary")?;
        let mut command = Command::new(exe);
        command
            .arg("serve")
            .arg("--data-dir")
            .arg(data_dir)
            .arg("--listen")
            .arg(address.to_string())
            .args(args)
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        for (name, value) in env {
            command.env(name, value);
        }
        let child = command.spawn().context("spawning duro serve")?;
        let mut node = Node { child, address };
        let deadline = Instant::now() + within;
        while !ready(address) {
            if let Some(status) = node.child.try_wait()? {
                anyhow::bail!("duro serve exited before it was ready ({status})");
            }
            anyhow::ensure!(
                Instant::now() < deadline,
                "duro serve was not ready in time"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        Ok(node)
    }

    pub fn base_url(&self) -> String {
        format!("http://{}", self.address)
    }

    /// The highest resident memory the process has had (VmHWM), in KiB.
    pub fn peak_rss_kib(&self) -> anyhow::Result<u64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))?;
        status_kib(&status, "VmHWM:").context("no VmHWM in /proc/PID/status")
    }
}

pub fn free_port() -> anyhow::Result<SocketAddr> {
    let listener = TcpListener::bind("127.0.0.1:0").context("finding a free port")?;
    Ok(listener.local_addr()?)
}

/// True when `GET /readyz` answers 200.
pub fn ready(address: SocketAddr) -> bool {
    let attempt = || -> std::io::Result<bool> {
        let mut stream = TcpStream::connect_timeout(&address, Duration::from_secs(1))?;
        stream.set_read_timeout(Some(Duration::from_secs(5)))?;
        stream.write_all(
            format!("GET /readyz HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\r\n")
                .as_bytes(),
        )?;
        let mut head = [0u8; 12];
        stream.read_exact(&mut head)?;
        Ok(head.starts_with(b"HTTP/1.1 200"))
    };
    attempt().unwrap_or(false)
}

/// A `/proc/PID/status` field in KiB.
pub fn status_kib(status: &str, field: &str) -> Option<u64> {
    status
        .lines()
        .find_map(|line| line.strip_prefix(field))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
}
