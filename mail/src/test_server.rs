//! A small SMTP server (RFC 5321) on loopback, for tests here and in other crates
//! (`mail = { workspace = true, features = ["test-server"] }`).
//!
//! It speaks EHLO/HELO, AUTH PLAIN and AUTH LOGIN (RFC 4954) when told to require them,
//! MAIL FROM, RCPT TO, DATA (with dot-unstuffing), RSET, NOOP and QUIT, without TLS. It
//! records every message it accepts, and can be told to refuse the next commands of a stage
//! with a given reply. It delivers nothing anywhere and must never be used outside tests.

use std::io;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::{JoinHandle, JoinSet};

/// The longest command or data line read; longer lines end the connection.
const LINE_BYTES_MAX: u64 = 64 * 1024;
/// The largest message taken after DATA; larger ones are refused with 552.
const MESSAGE_BYTES_MAX: usize = 16 * 1024 * 1024;
const SERVER_NAME: &str = "duro-test-smtp";

/// One message the server accepted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Received {
    /// The envelope sender (MAIL FROM), without angle brackets; empty for `<>`.
    pub from: String,
    /// The envelope recipients (RCPT TO) in order, without angle brackets.
    pub recipients: Vec<String>,
    /// The message as sent after DATA, dot-unstuffed, lines ending in CRLF, without the
    /// final `.` line.
    pub data: String,
    /// The user of a successful AUTH on the connection, if any.
    pub authenticated_as: Option<String>,
}

/// The SMTP command a scripted failure answers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stage {
    Mail,
    Rcpt,
    /// The reply after the message content (the final `.`), where servers refuse a message.
    Data,
}

struct Failure {
    stage: Stage,
    code: u16,
    text: String,
    remaining: usize,
}

struct Shared {
    messages: Vec<Received>,
    failures: Vec<Failure>,
    credentials: Option<(String, String)>,
    auth_mechanisms: Vec<String>,
    n_connections: usize,
    /// How long QUIT waits for its answer: a window after a message is stored in which
    /// the client has not yet heard that the conversation ended.
    quit_delay: std::time::Duration,
}

/// A running test server; stops (with all its connections) when dropped.
pub struct TestSmtpServer {
    /// The loopback address to connect to, with the port the system chose.
    pub addr: SocketAddr,
    shared: Arc<Mutex<Shared>>,
    accept_task: JoinHandle<()>,
}

impl TestSmtpServer {
    /// Binds 127.0.0.1:0 and serves connections until dropped.
    pub async fn start() -> TestSmtpServer {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("the test SMTP server binds 127.0.0.1:0");
        let addr = listener
            .local_addr()
            .expect("a bound listener has an address");
        let shared = Arc::new(Mutex::new(Shared {
            messages: Vec::new(),
            failures: Vec::new(),
            credentials: None,
            auth_mechanisms: vec!["PLAIN".to_owned(), "LOGIN".to_owned()],
            n_connections: 0,
            quit_delay: std::time::Duration::ZERO,
        }));
        let accept_task = tokio::spawn(accept_loop(listener, Arc::clone(&shared)));
        TestSmtpServer {
            addr,
            shared,
            accept_task,
        }
    }

    /// The messages accepted so far, in order.
    pub fn messages(&self) -> Vec<Received> {
        lock(&self.shared).messages.clone()
    }

    /// How many connections were accepted so far.
    pub fn connections(&self) -> usize {
        lock(&self.shared).n_connections
    }

    /// Answers the next `n` commands of `stage` with `code text` (e.g. 451 or 550) instead of
    /// accepting them. For [`Stage::Data`] that is the next `n` messages.
    pub fn fail_next(&self, stage: Stage, code: u16, text: &str, n: usize) {
        lock(&self.shared).failures.push(Failure {
            stage,
            code,
            text: text.to_owned(),
            remaining: n,
        });
    }

    /// Advertises AUTH and refuses MAIL (530) until a client authenticates as `user` with
    /// `password`; other credentials get 535.
    pub fn require_auth(&self, user: &str, password: &str) {
        lock(&self.shared).credentials = Some((user.to_owned(), password.to_owned()));
    }

    /// Delays the answer to QUIT by `delay`: a test can act (kill the client) after a
    /// message was stored and before the client's send returned.
    pub fn delay_quit(&self, delay: std::time::Duration) {
        lock(&self.shared).quit_delay = delay;
    }

    /// The AUTH mechanisms advertised and accepted (default `PLAIN` and `LOGIN`).
    pub fn auth_mechanisms(&self, mechanisms: &[&str]) {
        lock(&self.shared).auth_mechanisms =
            mechanisms.iter().map(|m| m.to_ascii_uppercase()).collect();
    }
}

impl Drop for TestSmtpServer {
    fn drop(&mut self) {
        self.accept_task.abort();
    }
}

/// A panic in a test must not hide the messages from the next assertion.
fn lock(shared: &Mutex<Shared>) -> MutexGuard<'_, Shared> {
    shared.lock().unwrap_or_else(PoisonError::into_inner)
}

async fn accept_loop(listener: TcpListener, shared: Arc<Mutex<Shared>>) {
    // Owning the connection tasks here ends them when the server is dropped.
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let Ok((stream, _peer)) = accepted else { return };
                lock(&shared).n_connections += 1;
                connections.spawn(serve(stream, Arc::clone(&shared)));
            }
            Some(_finished) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
}

#[derive(Default)]
struct Session {
    greeted: bool,
    authenticated_as: Option<String>,
    from: Option<String>,
    recipients: Vec<String>,
}

impl Session {
    fn reset_transaction(&mut self) {
        self.from = None;
        self.recipients.clear();
    }
}

struct Connection {
    reader: BufReader<OwnedReadHalf>,
    writer: OwnedWriteHalf,
}

impl Connection {
    /// One line without its CRLF (or LF), or `None` at the end of the stream.
    async fn read_line(&mut self) -> io::Result<Option<String>> {
        let mut line = Vec::new();
        let n_bytes = (&mut self.reader)
            .take(LINE_BYTES_MAX)
            .read_until(b'\n', &mut line)
            .await?;
        if n_bytes == 0 {
            return Ok(None);
        }
        if line.last() != Some(&b'\n') {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "line too long or cut off",
            ));
        }
        line.pop();
        if line.last() == Some(&b'\r') {
            line.pop();
        }
        Ok(Some(String::from_utf8_lossy(&line).into_owned()))
    }

    /// Writes a reply; every line but the last is marked as continued (`250-...`).
    async fn reply(&mut self, code: u16, lines: &[&str]) -> io::Result<()> {
        let mut out = String::new();
        for (index, line) in lines.iter().enumerate() {
            let separator = if index + 1 == lines.len() { ' ' } else { '-' };
            out.push_str(&format!("{code}{separator}{line}\r\n"));
        }
        self.writer.write_all(out.as_bytes()).await?;
        self.writer.flush().await
    }
}

async fn serve(stream: TcpStream, shared: Arc<Mutex<Shared>>) -> io::Result<()> {
    let (reader, writer) = stream.into_split();
    let mut connection = Connection {
        reader: BufReader::new(reader),
        writer,
    };
    let mut session = Session::default();
    connection
        .reply(220, &[&format!("{SERVER_NAME} ESMTP ready")])
        .await?;
    while let Some(line) = connection.read_line().await? {
        let (verb, argument) = match line.split_once(' ') {
            Some((verb, argument)) => (verb.to_ascii_uppercase(), argument.trim()),
            None => (line.to_ascii_uppercase(), ""),
        };
        match verb.as_str() {
            "EHLO" => ehlo(&mut connection, &mut session, &shared).await?,
            "HELO" => {
                session.greeted = true;
                session.reset_transaction();
                connection.reply(250, &[SERVER_NAME]).await?;
            }
            "AUTH" => auth(&mut connection, &mut session, &shared, argument).await?,
            "MAIL" => mail(&mut connection, &mut session, &shared, argument).await?,
            "RCPT" => rcpt(&mut connection, &mut session, &shared, argument).await?,
            "DATA" => data(&mut connection, &mut session, &shared).await?,
            "RSET" => {
                session.reset_transaction();
                connection.reply(250, &["2.0.0 OK"]).await?;
            }
            "NOOP" => connection.reply(250, &["2.0.0 OK"]).await?,
            "QUIT" => {
                let delay = lock(&shared).quit_delay;
                if !delay.is_zero() {
                    tokio::time::sleep(delay).await;
                }
                connection.reply(221, &["2.0.0 Bye"]).await?;
                return Ok(());
            }
            _ => {
                connection
                    .reply(500, &["5.5.2 Command not recognized"])
                    .await?
            }
        }
    }
    Ok(())
}

async fn ehlo(
    connection: &mut Connection,
    session: &mut Session,
    shared: &Mutex<Shared>,
) -> io::Result<()> {
    session.greeted = true;
    session.reset_transaction();
    let auth_line = {
        let shared = lock(shared);
        shared
            .credentials
            .as_ref()
            .map(|_| format!("AUTH {}", shared.auth_mechanisms.join(" ")))
    };
    let size_line = format!("SIZE {MESSAGE_BYTES_MAX}");
    let mut lines = vec![SERVER_NAME, "8BITMIME", "SMTPUTF8", size_line.as_str()];
    if let Some(auth_line) = &auth_line {
        lines.push(auth_line);
    }
    connection.reply(250, &lines).await
}

async fn auth(
    connection: &mut Connection,
    session: &mut Session,
    shared: &Mutex<Shared>,
    argument: &str,
) -> io::Result<()> {
    let (credentials, mechanisms) = {
        let shared = lock(shared);
        (shared.credentials.clone(), shared.auth_mechanisms.clone())
    };
    let Some((user, password)) = credentials else {
        return connection.reply(502, &["5.5.1 AUTH not enabled"]).await;
    };
    if !session.greeted || session.authenticated_as.is_some() || session.from.is_some() {
        return connection.reply(503, &["5.5.1 AUTH not allowed now"]).await;
    }
    let (mechanism, initial_response) = match argument.split_once(' ') {
        Some((mechanism, initial)) => (mechanism.to_ascii_uppercase(), Some(initial.trim())),
        None => (argument.to_ascii_uppercase(), None),
    };
    if !mechanisms.contains(&mechanism) {
        return connection
            .reply(504, &["5.5.4 Unrecognized authentication type"])
            .await;
    }
    let given = match mechanism.as_str() {
        "PLAIN" => auth_plain(connection, initial_response).await?,
        "LOGIN" => auth_login(connection, initial_response).await?,
        _ => {
            return connection
                .reply(504, &["5.5.4 Unrecognized authentication type"])
                .await
        }
    };
    match given {
        Some((given_user, given_password)) if given_user == user && given_password == password => {
            session.authenticated_as = Some(given_user);
            connection
                .reply(235, &["2.7.0 Authentication successful"])
                .await
        }
        _ => {
            connection
                .reply(535, &["5.7.8 Authentication credentials invalid"])
                .await
        }
    }
}

/// `AUTH PLAIN [initial-response]`: base64 of `authzid NUL user NUL password`.
async fn auth_plain(
    connection: &mut Connection,
    initial_response: Option<&str>,
) -> io::Result<Option<(String, String)>> {
    let encoded = match initial_response {
        Some(encoded) => encoded.to_owned(),
        None => {
            connection.reply(334, &[""]).await?;
            connection.read_line().await?.unwrap_or_default()
        }
    };
    let Some(decoded) = decode_base64(&encoded) else {
        return Ok(None);
    };
    let mut fields = decoded.split('\0');
    let (Some(_authzid), Some(user), Some(password), None) =
        (fields.next(), fields.next(), fields.next(), fields.next())
    else {
        return Ok(None);
    };
    Ok(Some((user.to_owned(), password.to_owned())))
}

/// `AUTH LOGIN [user]`: the user and the password, each base64 after a 334 challenge.
async fn auth_login(
    connection: &mut Connection,
    initial_response: Option<&str>,
) -> io::Result<Option<(String, String)>> {
    let user = match initial_response {
        Some(encoded) => encoded.to_owned(),
        None => {
            connection
                .reply(334, &[&BASE64.encode("Username:")])
                .await?;
            connection.read_line().await?.unwrap_or_default()
        }
    };
    connection
        .reply(334, &[&BASE64.encode("Password:")])
        .await?;
    let password = connection.read_line().await?.unwrap_or_default();
    Ok(decode_base64(&user).zip(decode_base64(&password)))
}

fn decode_base64(encoded: &str) -> Option<String> {
    let bytes = BASE64.decode(encoded.trim()).ok()?;
    String::from_utf8(bytes).ok()
}

async fn mail(
    connection: &mut Connection,
    session: &mut Session,
    shared: &Mutex<Shared>,
    argument: &str,
) -> io::Result<()> {
    if !session.greeted {
        return connection.reply(503, &["5.5.1 EHLO first"]).await;
    }
    if session.from.is_some() {
        return connection.reply(503, &["5.5.1 Nested MAIL command"]).await;
    }
    let auth_required = lock(shared).credentials.is_some();
    if auth_required && session.authenticated_as.is_none() {
        return connection
            .reply(530, &["5.7.0 Authentication required"])
            .await;
    }
    let Some(from) = path(argument, "FROM:") else {
        return connection
            .reply(501, &["5.5.4 Syntax: MAIL FROM:<address>"])
            .await;
    };
    if let Some((code, text)) = take_failure(shared, Stage::Mail) {
        return connection.reply(code, &[&text]).await;
    }
    session.from = Some(from);
    connection.reply(250, &["2.1.0 OK"]).await
}

async fn rcpt(
    connection: &mut Connection,
    session: &mut Session,
    shared: &Mutex<Shared>,
    argument: &str,
) -> io::Result<()> {
    if session.from.is_none() {
        return connection.reply(503, &["5.5.1 MAIL first"]).await;
    }
    let Some(recipient) = path(argument, "TO:").filter(|recipient| !recipient.is_empty()) else {
        return connection
            .reply(501, &["5.5.4 Syntax: RCPT TO:<address>"])
            .await;
    };
    if let Some((code, text)) = take_failure(shared, Stage::Rcpt) {
        return connection.reply(code, &[&text]).await;
    }
    session.recipients.push(recipient);
    connection.reply(250, &["2.1.5 OK"]).await
}

async fn data(
    connection: &mut Connection,
    session: &mut Session,
    shared: &Mutex<Shared>,
) -> io::Result<()> {
    let Some(from) = session.from.clone() else {
        return connection.reply(503, &["5.5.1 MAIL first"]).await;
    };
    if session.recipients.is_empty() {
        return connection.reply(554, &["5.5.1 No valid recipients"]).await;
    }
    connection
        .reply(354, &["End data with <CR><LF>.<CR><LF>"])
        .await?;
    let mut content = String::new();
    loop {
        let Some(line) = connection.read_line().await? else {
            return Ok(());
        };
        if line == "." {
            break;
        }
        // Dot-unstuffing (RFC 5321, section 4.5.2): the client doubled a leading dot.
        content.push_str(line.strip_prefix('.').unwrap_or(&line));
        content.push_str("\r\n");
    }
    let recipients = std::mem::take(&mut session.recipients);
    session.reset_transaction();
    if content.len() > MESSAGE_BYTES_MAX {
        return connection.reply(552, &["5.3.4 Message too big"]).await;
    }
    if let Some((code, text)) = take_failure(shared, Stage::Data) {
        return connection.reply(code, &[&text]).await;
    }
    let queue_id = {
        let mut shared = lock(shared);
        shared.messages.push(Received {
            from,
            recipients,
            data: content,
            authenticated_as: session.authenticated_as.clone(),
        });
        shared.messages.len()
    };
    connection
        .reply(250, &[&format!("2.0.0 OK queued as {queue_id}")])
        .await
}

/// The address in `FROM:<a@b.c> PARAMS` or `TO:<a@b.c>`, without brackets.
fn path(argument: &str, keyword: &str) -> Option<String> {
    let head = argument.get(..keyword.len())?;
    if !head.eq_ignore_ascii_case(keyword) {
        return None;
    }
    let rest = argument[keyword.len()..].trim_start();
    let path = match rest.strip_prefix('<') {
        Some(bracketed) => bracketed.split_once('>')?.0,
        None => rest.split(' ').next()?,
    };
    Some(path.to_owned())
}

/// The scripted reply for this command, if one is pending; counts it down.
fn take_failure(shared: &Mutex<Shared>, stage: Stage) -> Option<(u16, String)> {
    let mut shared = lock(shared);
    let failure = shared
        .failures
        .iter_mut()
        .find(|failure| failure.stage == stage && failure.remaining > 0)?;
    failure.remaining -= 1;
    Some((failure.code, failure.text.clone()))
}
