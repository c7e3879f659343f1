#![allow(dead_code)]
//! Helpers shared by the black-box tests of the `duro` binary: running it, reading its
//! output, and a real `duro serve` on a free port that is killed when dropped.
//!
//! Each test binary uses a subset, hence `dead_code` is allowed.

use std::ffi::OsStr;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

pub mod api;
pub mod browser;
pub mod counter;
pub mod run_events;

/// The `duro` binary under test, as a command to add arguments and environment to.
pub fn duro_command() -> Command {
    Command::new(env!("CARGO_BIN_EXE_duro"))
}

/// Runs `duro ARGS` (then `--data-dir DIR` when given) with the variables in `unset` removed
/// from its environment, and waits for its output.
pub fn duro_output(args: &[&str], data_dir: Option<&Path>, unset: &[&str]) -> Output {
    let mut command = duro_command();
    command.args(args);
    if let Some(dir) = data_dir {
        command.arg("--data-dir").arg(dir);
    }
    for name in unset {
        command.env_remove(name);
    }
    command.output().expect("run duro")
}

/// A port nothing listens on (at the time of asking), never handed out twice in this
/// process. Ports come from 20000-31999, below Linux's ephemeral range, so neither the
/// system (port 0 binds, outgoing connections) nor another test of this binary can take it
/// between this call and the server's bind: with port 0, two tests starting servers at once
/// could be given the same port, and one test would then talk to the other's server.
pub fn free_port() -> u16 {
    use std::sync::atomic::{AtomicU32, Ordering};
    const FIRST: u32 = 20_000;
    const SPAN: u32 = 12_000;
    static NEXT: AtomicU32 = AtomicU32::new(u32::MAX);
    // Each test binary starts at its own place, so binaries run one after another reuse
    // no port a lingering server of the previous one might hold.
    let _ = NEXT.compare_exchange(
        u32::MAX,
        (std::process::id() * 97) % SPAN,
        Ordering::SeqCst,
        Ordering::SeqCst,
    );
    loop {
        let offset = NEXT.fetch_add(1, Ordering::SeqCst) % SPAN;
        let port = u16::try_from(FIRST + offset).expect("a port");
        if TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
}

/// Whether `GET /readyz` on `127.0.0.1:port` answers 200.
pub fn ready(port: u16) -> bool {
    let Ok(mut stream) = TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
    if write!(
        stream,
        "GET /readyz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
    )
    .is_err()
    {
        return false;
    }
    let mut response = String::new();
    let _ = stream.read_to_string(&mut response);
    response.starts_with("HTTP/1.1 200")
}

/// How to start a `duro serve`: `Serve::new()`, the options wanted, then `start()` (waits
/// until `/readyz` answers 200) or `spawn()` (does not wait).
pub struct Serve {
    command: Command,
    data_dir: Option<PathBuf>,
    port: Option<u16>,
    within: Duration,
    poll: Duration,
    stderr: Option<PathBuf>,
}

impl Default for Serve {
    fn default() -> Self {
        Serve::new()
    }
}

impl Serve {
    /// A temporary data directory, a free port, a 60 s start-up limit polled every 50 ms,
    /// and the environment of the test.
    pub fn new() -> Serve {
        Serve {
            command: duro_command(),
            data_dir: None,
            port: None,
            within: Duration::from_secs(60),
            poll: Duration::from_millis(50),
            stderr: None,
        }
    }

    /// Writes the server's standard error (its log) to `path` instead of discarding it.
    pub fn stderr_file(mut self, path: &Path) -> Serve {
        self.stderr = Some(path.to_path_buf());
        self
    }

    /// `DURO_BOOTSTRAP_KEY=key`.
    pub fn bootstrap_key(self, key: &str) -> Serve {
        self.env("DURO_BOOTSTRAP_KEY", key)
    }

    /// Serves `dir` (kept when the server is dropped) instead of a temporary directory.
    pub fn data_dir(mut self, dir: &Path) -> Serve {
        self.data_dir = Some(dir.to_path_buf());
        self
    }

    /// Listens on `port` instead of a free one (to restart on the same address).
    pub fn port(mut self, port: u16) -> Serve {
        self.port = Some(port);
        self
    }

    pub fn env(mut self, name: &str, value: impl AsRef<OsStr>) -> Serve {
        self.command.env(name, value);
        self
    }

    pub fn env_remove(mut self, name: &str) -> Serve {
        self.command.env_remove(name);
        self
    }

    /// How long `start()` waits for `/readyz`.
    pub fn within(mut self, within: Duration) -> Serve {
        self.within = within;
        self
    }

    /// How often `start()` asks `/readyz`.
    pub fn poll_every(mut self, poll: Duration) -> Serve {
        self.poll = poll;
        self
    }

    /// Starts the process without waiting for it to be ready.
    pub fn spawn(self) -> Server {
        let Serve {
            mut command,
            data_dir,
            port,
            within: _,
            poll: _,
            stderr,
        } = self;
        let stderr = match stderr {
            Some(path) => Stdio::from(std::fs::File::create(path).expect("create the log file")),
            None => Stdio::null(),
        };
        let (dir, temp) = match data_dir {
            Some(dir) => (dir, None),
            None => {
                let temp = tempfile::tempdir().expect("tempdir");
                (temp.path().to_path_buf(), Some(temp))
            }
        };
        let port = port.unwrap_or_else(free_port);
        let child = command
            .args([
                "serve",
                "--listen",
                &format!("127.0.0.1:{port}"),
                "--data-dir",
            ])
            .arg(&dir)
            .stdout(Stdio::null())
            .stderr(stderr)
            .spawn()
            .expect("start duro serve");
        Server {
            child,
            url: format!("http://127.0.0.1:{port}"),
            port,
            _dir: temp,
        }
    }

    /// Starts the process and waits until `GET /readyz` answers 200.
    pub fn start(self) -> Server {
        let (within, poll) = (self.within, self.poll);
        let server = self.spawn();
        let deadline = Instant::now() + within;
        while !ready(server.port) {
            assert!(Instant::now() < deadline, "duro serve did not start");
            std::thread::sleep(poll);
        }
        server
    }
}

/// A running `duro serve`, killed when dropped (its temporary data directory removed after).
pub struct Server {
    pub child: Child,
    /// `http://127.0.0.1:PORT`
    pub url: String,
    pub port: u16,
    _dir: Option<tempfile::TempDir>,
}

impl Server {
    /// Sends SIGTERM and waits for the process to exit; returns its exit code.
    pub fn stop(&mut self) -> Option<i32> {
        let pid = i32::try_from(self.child.id()).expect("pid");
        // SAFETY: kill(2) with a pid this test started and has not reaped yet.
        unsafe { libc::kill(pid, libc::SIGTERM) };
        self.child.wait().expect("wait for duro serve").code()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A ready `duro serve` on a temporary data directory with `key` as its bootstrap key and
/// no `DURO_CONFIG`.
pub fn start_server(key: &str) -> Server {
    Serve::new()
        .bootstrap_key(key)
        .env_remove("DURO_CONFIG")
        .start()
}

/// The standard output, as text.
pub fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// The standard error, as text.
pub fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// Asserts the exit code, showing both streams when it is not the one expected.
#[track_caller]
pub fn expect_code(output: &Output, code: i32) {
    assert_eq!(
        output.status.code(),
        Some(code),
        "stdout:\n{}\nstderr:\n{}",
        stdout(output),
        stderr(output)
    );
}

/// Exit 0 and the stdout parsed as JSON.
#[track_caller]
pub fn json_of(output: &Output) -> Value {
    expect_code(output, 0);
    serde_json::from_str(&stdout(output)).unwrap_or_else(|e| panic!("{e}: {}", stdout(output)))
}
