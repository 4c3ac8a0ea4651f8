//! HTTP/1.1 over loopback, written by hand: requests from any address of 127/8, the
//! status, head and body as they came back.

use std::io::Read;
use std::time::Duration;

/// A GET whose body is counted, not kept: the status, the head and the body's bytes
/// (chunk framing included).
pub fn download(address: &str, path: &str) -> (u16, String, u64) {
    use std::io::Write;
    let mut stream = std::net::TcpStream::connect(address).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(300)))
        .unwrap();
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut buffer = vec![0u8; 1 << 16];
    let mut head = Vec::new();
    let mut in_body = false;
    let mut body = 0u64;
    loop {
        let read = stream.read(&mut buffer).unwrap();
        if read == 0 {
            break;
        }
        if in_body {
            body += read as u64;
            continue;
        }
        head.extend_from_slice(&buffer[..read]);
        if let Some(split) = head.windows(4).position(|w| w == b"\r\n\r\n") {
            in_body = true;
            body = (head.len() - split - 4) as u64;
            head.truncate(split);
        }
    }
    let head = String::from_utf8_lossy(&head).to_string();
    let status = head.split(' ').nth(1).unwrap().parse().unwrap();
    (status, head, body)
}

/// An address on loopback with a port free when asked.
pub fn free_address() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port");
    format!("127.0.0.1:{}", listener.local_addr().unwrap().port())
}

/// A tiny HTTP/1.1 GET over loopback: the status and the body.
pub fn http_get(address: &str, path: &str) -> Option<(u16, Vec<u8>)> {
    let response = http(address, "127.0.0.1", path, &[])?;
    Some((response.status, response.body))
}

/// What [`http`] read back.
#[derive(Debug)]
pub struct HttpResponse {
    pub status: u16,
    /// The status line and headers, as sent.
    pub head: String,
    pub body: Vec<u8>,
}

impl HttpResponse {
    /// The value of header `name` (case-insensitive), if present.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.head.lines().skip(1).find_map(|line| {
            let (key, value) = line.split_once(':')?;
            key.eq_ignore_ascii_case(name).then(|| value.trim())
        })
    }
}

/// An HTTP/1.1 GET of `path` with extra `headers`, from the loopback address `from`
/// (127.0.0.1, 127.0.0.2, ...: the whole 127/8 is loopback), to `address`.
pub fn http(
    address: &str,
    from: &str,
    path: &str,
    headers: &[(&str, &str)],
) -> Option<HttpResponse> {
    http_request(address, from, "GET", path, headers, b"")
}

/// An HTTP/1.1 POST of the JSON `body` to `path` on `address`, from 127.0.0.1.
pub fn http_post(address: &str, path: &str, body: &str) -> Option<HttpResponse> {
    http_request(
        address,
        "127.0.0.1",
        "POST",
        path,
        &[("Content-Type", "application/json")],
        body.as_bytes(),
    )
}

/// A blocking connection to `address` from the loopback address `from` (127.0.0.1,
/// 127.0.0.2, ...: the whole 127/8 is loopback).
pub fn connect_from(address: &str, from: &str) -> Option<std::net::TcpStream> {
    let local: std::net::IpAddr = from.parse().expect("a loopback address");
    assert!(local.is_loopback(), "tests only talk over loopback");
    let remote: std::net::SocketAddr = address.parse().ok()?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .build()
        .ok()?;
    let stream = runtime
        .block_on(async {
            let socket = tokio::net::TcpSocket::new_v4()?;
            socket.bind((local, 0).into())?;
            socket.connect(remote).await
        })
        .ok()?
        .into_std()
        .ok()?;
    stream.set_nonblocking(false).ok()?;
    Some(stream)
}

/// An HTTP/1.1 request with `method`, extra `headers` and `body` (its length sent),
/// from the loopback address `from`, to `address`.
pub fn http_request(
    address: &str,
    from: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Option<HttpResponse> {
    use std::io::Write;
    let mut stream = connect_from(address, from)?;
    stream
        .set_read_timeout(Some(Duration::from_secs(120)))
        .ok()?;
    let extra: String = headers
        .iter()
        .map(|(name, value)| format!("{name}: {value}\r\n"))
        .collect();
    let length = if body.is_empty() {
        String::new()
    } else {
        format!("Content-Length: {}\r\n", body.len())
    };
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n{extra}{length}\r\n"
    )
    .ok()?;
    stream.write_all(body).ok()?;
    let mut response = Vec::new();
    stream.read_to_end(&mut response).ok()?;
    let split = response.windows(4).position(|w| w == b"\r\n\r\n")?;
    let head = String::from_utf8_lossy(&response[..split]).to_string();
    let status = head.split(' ').nth(1)?.parse().ok()?;
    let mut body = response[split + 4..].to_vec();
    if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        body = dechunk(&body);
    }
    Some(HttpResponse { status, head, body })
}

fn dechunk(mut data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let line_end = data
            .windows(2)
            .position(|w| w == b"\r\n")
            .expect("a chunk size line");
        let size =
            usize::from_str_radix(std::str::from_utf8(&data[..line_end]).unwrap().trim(), 16)
                .unwrap();
        if size == 0 {
            return out;
        }
        out.extend_from_slice(&data[line_end + 2..line_end + 2 + size]);
        data = &data[line_end + 2 + size + 2..];
    }
}
