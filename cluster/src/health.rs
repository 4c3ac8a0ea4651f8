//! A worker's health endpoint: process 0 serves HTTP, but a Kubernetes probe must reach
//! every pod of the StatefulSet, so a worker pod answers `GET /healthz` with this tiny
//! responder while its process runs.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::time::Duration;

const ALIVE: &str = "{\"status\":\"alive\",\"role\":\"worker\"}";

/// Binds `address` and answers every request with 200 and a small JSON body, on a
/// thread of its own, for as long as the process lives.
pub fn serve(address: &str) -> std::io::Result<std::net::SocketAddr> {
    let listener = TcpListener::bind(address)?;
    let bound = listener.local_addr()?;
    std::thread::Builder::new().name("health".into()).spawn(move || {
        for stream in listener.incoming().flatten() {
            let mut stream = stream;
            let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
            let mut request = [0u8; 1024];
            let _ = stream.read(&mut request);
            let _ = write!(
                stream,
                "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{ALIVE}",
                ALIVE.len()
            );
        }
    })?;
    Ok(bound)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_alive() {
        let address = serve("127.0.0.1:0").unwrap();
        let mut stream = std::net::TcpStream::connect(address).unwrap();
        stream
            .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            .unwrap();
        let mut response = String::new();
        stream.read_to_string(&mut response).unwrap();
        assert!(response.starts_with("HTTP/1.1 200 OK"), "{response}");
        assert!(response.ends_with(ALIVE));
    }
}
