//! Test fixtures for `clr download`: a tiny HTTP/1.1 server on loopback that serves one file
//! (with Range support and an optional cut-off transfer), and archives in the CIFAR-10 and CIFAR-100
//! layouts to serve.
#![allow(dead_code)] // each test crate uses a different part of this module

use md5::{Digest, Md5};
use std::io::{BufRead, BufReader, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

/// The server stops by itself after this many requests or this long, even if a test hangs.
const MAX_REQUESTS: usize = 32;
const LIFETIME: Duration = Duration::from_secs(30);

/// One request as the server saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    pub path: String,
    /// The raw `Range` header, e.g. `bytes=100-`.
    pub range: Option<String>,
}

/// How the server misbehaves.
#[derive(Debug, Clone, Copy, Default)]
pub struct Behaviour {
    /// Answer every request with 200 and the whole file, as servers without Range support do.
    pub ignore_range: bool,
    /// On the first request, promise the full Content-Length but close after this many bytes.
    pub cut_first_after: Option<usize>,
}

/// Serves `body` at `path` (or several files: [`Server::files`]); 404 elsewhere. Stops when dropped.
pub struct Server {
    addr: SocketAddr,
    path: String,
    log: Arc<Mutex<Vec<Request>>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Server {
    pub fn start(path: &str, body: Vec<u8>) -> Server {
        Server::with(path, body, Behaviour::default())
    }

    pub fn with(path: &str, body: Vec<u8>, behaviour: Behaviour) -> Server {
        Server::files(vec![(path.to_string(), body)], behaviour)
    }

    /// Serves each (path, body); `url()` is the first one's.
    pub fn files(files: Vec<(String, Vec<u8>)>, behaviour: Behaviour) -> Server {
        let path = files[0].0.clone();
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind loopback");
        listener.set_nonblocking(true).expect("nonblocking listener");
        let addr = listener.local_addr().expect("local addr");
        let log = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let (thread_log, thread_stop) = (log.clone(), stop.clone());
        let thread = thread::spawn(move || {
            let deadline = Instant::now() + LIFETIME;
            let mut served = 0;
            while !thread_stop.load(Ordering::Relaxed) && Instant::now() < deadline && served < MAX_REQUESTS {
                match listener.accept() {
                    Ok((stream, _)) => {
                        let cut = if served == 0 { behaviour.cut_first_after } else { None };
                        served += 1;
                        let _ = serve(stream, &files, behaviour.ignore_range, cut, &thread_log);
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => thread::sleep(Duration::from_millis(2)),
                    Err(_) => break,
                }
            }
        });
        Server { addr, path, log, stop, thread: Some(thread) }
    }

    /// The URL of the served file.
    pub fn url(&self) -> String {
        self.url_for(&self.path)
    }

    pub fn url_for(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    pub fn requests(&self) -> Vec<Request> {
        self.log.lock().unwrap().clone()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// A URL on a loopback port that nobody listens on (connection refused).
pub fn closed_port_url() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind loopback");
    let addr = listener.local_addr().expect("local addr");
    drop(listener);
    format!("http://{addr}/cifar-10-binary.tar.gz")
}

fn serve(
    stream: TcpStream,
    files: &[(String, Vec<u8>)],
    ignore_range: bool,
    cut: Option<usize>,
    log: &Mutex<Vec<Request>>,
) -> std::io::Result<()> {
    stream.set_nonblocking(false)?;
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    stream.set_write_timeout(Some(Duration::from_secs(5)))?;
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut line = String::new();
    reader.read_line(&mut line)?;
    let target = line.split_whitespace().nth(1).unwrap_or("").to_string();
    let mut range = None;
    loop {
        line.clear();
        if reader.read_line(&mut line)? == 0 || line.trim().is_empty() {
            break;
        }
        if let Some((name, value)) = line.split_once(':') {
            if name.trim().eq_ignore_ascii_case("range") {
                range = Some(value.trim().to_string());
            }
        }
    }
    log.lock().unwrap().push(Request { path: target.clone(), range: range.clone() });

    let file = files.iter().find(|(path, _)| *path == target);
    let body: &[u8] = file.map_or(b"", |(_, body)| body);
    let len = body.len();
    let start = range
        .as_deref()
        .filter(|_| !ignore_range)
        .and_then(|r| r.strip_prefix("bytes="))
        .and_then(|r| r.strip_suffix('-'))
        .and_then(|n| n.parse::<usize>().ok());
    let (status, extra, payload): (&str, String, &[u8]) = if file.is_none() {
        ("404 Not Found", String::new(), b"not found")
    } else {
        match start {
            None => ("200 OK", String::new(), body),
            Some(s) if s < len => {
                ("206 Partial Content", format!("Content-Range: bytes {s}-{}/{len}\r\n", len - 1), &body[s..])
            }
            Some(_) => ("416 Range Not Satisfiable", format!("Content-Range: bytes */{len}\r\n"), b""),
        }
    };
    let mut out = stream;
    write!(out, "HTTP/1.1 {status}\r\nContent-Length: {}\r\n{extra}Connection: close\r\n\r\n", payload.len())?;
    let sent = cut.map_or(payload.len(), |k| k.min(payload.len()));
    out.write_all(&payload[..sent])?;
    out.flush()?;
    out.shutdown(Shutdown::Both)
}

/// Hex MD5 of `bytes`.
pub fn md5_hex(bytes: &[u8]) -> String {
    format!("{:x}", Md5::digest(bytes))
}

/// Records in the CIFAR-10 layout: 1 label byte (0–9) then 3072 pixel bytes.
pub fn records(rng: &mut u64, count: usize) -> Vec<u8> {
    records_of(rng, count, &[10])
}

/// Records of random bytes whose label bytes are in range: one label byte per entry of
/// `classes` (CIFAR-10: `[10]`; CIFAR-100: `[20, 100]`, coarse then fine), then 3072 pixel bytes.
pub fn records_of(rng: &mut u64, count: usize, classes: &[u64]) -> Vec<u8> {
    let mut next = move || {
        // xorshift64: deterministic bytes without a rand dependency.
        *rng ^= *rng << 13;
        *rng ^= *rng >> 7;
        *rng ^= *rng << 17;
        *rng
    };
    let mut bytes = Vec::with_capacity(count * (classes.len() + 3072));
    for _ in 0..count {
        for c in classes {
            bytes.push((next() % c) as u8);
        }
        bytes.extend((0..3072).map(|_| next() as u8));
    }
    bytes
}

/// The members of a small archive in the CIFAR-100 binary layout: `cifar-100-binary/` with
/// `train.bin` and `test.bin` (`per_file` records each) and the two label-name files.
pub fn cifar100_members(seed: u64, per_file: usize) -> Members {
    let mut rng = seed | 1;
    let names = |n: usize, what: &str| (0..n).map(|i| format!("{what}{i}\n")).collect::<String>().into_bytes();
    vec![
        ("cifar-100-binary/train.bin".into(), records_of(&mut rng, per_file, &[20, 100])),
        ("cifar-100-binary/test.bin".into(), records_of(&mut rng, per_file, &[20, 100])),
        ("cifar-100-binary/fine_label_names.txt".into(), names(100, "fine")),
        ("cifar-100-binary/coarse_label_names.txt".into(), names(20, "coarse")),
    ]
}

/// [`fixture`] in the CIFAR-100 binary layout (20 records per file).
pub fn fixture100(seed: u64) -> Fixture {
    let members = cifar100_members(seed, 20);
    let archive = tar_gz(&members);
    Fixture { md5: md5_hex(&archive), archive, members }
}

/// The members of a small archive in the official layout: `cifar-10-batches-bin/` with
/// `data_batch_1.bin` … `data_batch_<batches>.bin`, `test_batch.bin` (`per_file` records each)
/// and `batches.meta.txt`.
pub fn cifar_members(seed: u64, batches: usize, per_file: usize) -> Members {
    let mut rng = seed | 1;
    let mut members: Members = (1..=batches)
        .map(|i| (format!("cifar-10-batches-bin/data_batch_{i}.bin"), records(&mut rng, per_file)))
        .collect();
    members.push(("cifar-10-batches-bin/test_batch.bin".into(), records(&mut rng, per_file)));
    let meta = "airplane\nautomobile\nbird\ncat\ndeer\ndog\nfrog\nhorse\nship\ntruck\n\n";
    members.push(("cifar-10-batches-bin/batches.meta.txt".into(), meta.as_bytes().to_vec()));
    members
}

/// Member paths and their bytes.
pub type Members = Vec<(String, Vec<u8>)>;

/// A small archive in the official layout (2 data batches, 20 records per file), its MD5 and
/// its members.
pub struct Fixture {
    pub archive: Vec<u8>,
    pub md5: String,
    pub members: Members,
}

pub fn fixture(seed: u64) -> Fixture {
    let members = cifar_members(seed, 2, 20);
    let archive = tar_gz(&members);
    Fixture { md5: md5_hex(&archive), archive, members }
}

/// A member of a hand-built archive; `link` makes a symbolic link to that target instead of a file.
pub struct Member<'a> {
    pub path: &'a str,
    pub bytes: &'a [u8],
    pub link: Option<&'a str>,
}

/// A .tar.gz of regular files.
pub fn tar_gz(members: &[(String, Vec<u8>)]) -> Vec<u8> {
    let raw: Vec<Member> = members.iter().map(|(p, b)| Member { path: p, bytes: b, link: None }).collect();
    tar_gz_raw(&raw)
}

/// A .tar.gz whose member names are written verbatim, so that hostile names (`../x`, `/x`)
/// can be built; the tar crate's safe setters refuse them.
pub fn tar_gz_raw(members: &[Member]) -> Vec<u8> {
    let gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    let mut builder = tar::Builder::new(gz);
    for m in members {
        let mut header = tar::Header::new_old();
        let name = &mut header.as_old_mut().name;
        assert!(m.path.len() < name.len(), "member name too long: {}", m.path);
        name[..m.path.len()].copy_from_slice(m.path.as_bytes());
        header.set_mode(0o644);
        match m.link {
            Some(target) => {
                header.set_entry_type(tar::EntryType::Symlink);
                header.set_size(0);
                let link = &mut header.as_old_mut().linkname;
                link[..target.len()].copy_from_slice(target.as_bytes());
            }
            None => header.set_size(m.bytes.len() as u64),
        }
        header.set_cksum();
        let data: &[u8] = if m.link.is_some() { b"" } else { m.bytes };
        builder.append(&header, data).expect("append member");
    }
    builder.into_inner().and_then(|gz| gz.finish()).expect("finish archive")
}
