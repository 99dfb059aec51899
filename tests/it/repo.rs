//! Repository access end to end: a real HTTP server (and proxy) on 127.0.0.1 written here,
//! local and `file://` repositories, the cache, and offline mode.

use crate::support;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

use basalt::repo::{
    Error, Event, ExpectedChecksum, Fetcher, HttpFailure, Origin, ProxySettings, RepoOptions,
    Repository,
};
use sha2::Digest as _;

/// What the test server answers to one request.
enum Reply {
    Ok(Vec<u8>),
    Status(u16),
    /// Announces `announced` bytes, sends `body`, and closes.
    Truncated {
        announced: usize,
        body: Vec<u8>,
    },
    /// Waits before answering (longer than the client's timeout).
    Slow(Duration, Vec<u8>),
    /// No `Content-Length`: the body ends when the connection closes.
    Unsized(Vec<u8>),
    /// `301 Moved Permanently` to this path.
    Redirect(String),
}

type Handler = dyn Fn(&str, usize) -> Reply + Send + Sync;

/// A one-request-per-connection HTTP/1.1 server on an ephemeral port. Its thread ends with the
/// test process; every socket has read and write timeouts.
struct Server {
    base: String,
    requests: Arc<Mutex<Vec<String>>>,
    headers: Arc<Mutex<Vec<String>>>,
}

impl Server {
    fn start(handler: impl Fn(&str, usize) -> Reply + Send + Sync + 'static) -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let requests = Arc::new(Mutex::new(Vec::new()));
        let headers = Arc::new(Mutex::new(Vec::new()));
        let (seen, heads) = (Arc::clone(&requests), Arc::clone(&headers));
        let handler: Arc<Handler> = Arc::new(handler);
        thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { continue };
                let (seen, heads) = (Arc::clone(&seen), Arc::clone(&heads));
                let handler = Arc::clone(&handler);
                thread::spawn(move || serve(stream, &seen, &heads, &*handler));
            }
        });
        Server {
            base,
            requests,
            headers,
        }
    }

    fn headers(&self) -> Vec<String> {
        self.headers.lock().unwrap().clone()
    }

    fn requests(&self) -> Vec<String> {
        self.requests.lock().unwrap().clone()
    }

    fn count(&self, path: &str) -> usize {
        self.requests().iter().filter(|p| *p == path).count()
    }
}

/// Reads a request head; returns its request line and header lines.
fn read_head(stream: &TcpStream) -> Option<(String, Vec<String>)> {
    let mut reader = BufReader::new(stream.try_clone().ok()?);
    let mut first = String::new();
    reader.read_line(&mut first).ok()?;
    let mut headers = Vec::new();
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).ok()? == 0 || line == "\r\n" {
            break;
        }
        headers.push(line.trim_end().to_owned());
    }
    Some((first.trim_end().to_owned(), headers))
}

fn serve(
    mut stream: TcpStream,
    seen: &Mutex<Vec<String>>,
    heads: &Mutex<Vec<String>>,
    handler: &Handler,
) {
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    stream
        .set_write_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let Some((line, headers)) = read_head(&stream) else {
        return;
    };
    heads.lock().unwrap().extend(headers);
    let path = line.split(' ').nth(1).unwrap_or_default().to_owned();
    let n = {
        let mut seen = seen.lock().unwrap();
        seen.push(path.clone());
        seen.iter().filter(|p| **p == path).count()
    };
    let head = |status: &str, length: usize| {
        format!("HTTP/1.1 {status}\r\nContent-Length: {length}\r\nConnection: close\r\n\r\n")
    };
    let _ = match handler(&path, n) {
        Reply::Ok(body) => stream
            .write_all(head("200 OK", body.len()).as_bytes())
            .and_then(|()| stream.write_all(&body)),
        Reply::Status(code) => {
            let body = format!("status {code}\n");
            stream
                .write_all(head(&format!("{code} Whatever"), body.len()).as_bytes())
                .and_then(|()| stream.write_all(body.as_bytes()))
        }
        Reply::Truncated { announced, body } => stream
            .write_all(head("200 OK", announced).as_bytes())
            .and_then(|()| stream.write_all(&body)),
        Reply::Unsized(body) => stream
            .write_all(b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n")
            .and_then(|()| stream.write_all(&body)),
        Reply::Redirect(to) => stream.write_all(
            format!(
                "HTTP/1.1 301 Moved Permanently\r\nLocation: {to}\r\n\
                 Content-Length: 0\r\nConnection: close\r\n\r\n"
            )
            .as_bytes(),
        ),
        Reply::Slow(delay, body) => {
            thread::sleep(delay);
            stream
                .write_all(head("200 OK", body.len()).as_bytes())
                .and_then(|()| stream.write_all(&body))
        }
    };
    let _ = stream.flush();
    let _ = stream.shutdown(Shutdown::Both);
}

/// An HTTP `CONNECT` proxy that records each request line and tunnels to the target.
fn start_proxy() -> (String, Arc<Mutex<Vec<String>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let lines = Arc::new(Mutex::new(Vec::new()));
    let seen = Arc::clone(&lines);
    thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut client) = stream else { continue };
            let seen = Arc::clone(&seen);
            thread::spawn(move || {
                client
                    .set_read_timeout(Some(Duration::from_secs(5)))
                    .unwrap();
                let Some((line, _)) = read_head(&client) else {
                    return;
                };
                seen.lock().unwrap().push(line.clone());
                let target = line.split(' ').nth(1).unwrap_or_default().to_owned();
                let Ok(upstream) = TcpStream::connect(&target) else {
                    let _ = client.write_all(b"HTTP/1.1 502 Bad Gateway\r\n\r\n");
                    return;
                };
                upstream
                    .set_read_timeout(Some(Duration::from_secs(5)))
                    .unwrap();
                client
                    .write_all(b"HTTP/1.1 200 Connection established\r\n\r\n")
                    .unwrap();
                let (mut c2, mut u2) = (client.try_clone().unwrap(), upstream.try_clone().unwrap());
                let up = thread::spawn(move || {
                    let _ = std::io::copy(&mut c2, &mut u2);
                    let _ = u2.shutdown(Shutdown::Write);
                });
                let (mut u, mut c) = (upstream, client);
                let _ = std::io::copy(&mut u, &mut c);
                let _ = c.shutdown(Shutdown::Write);
                let _ = up.join();
            });
        }
    });
    (url, lines)
}

struct Setup {
    _dir: tempfile::TempDir,
    cache: PathBuf,
}

fn setup() -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("cache");
    Setup { _dir: dir, cache }
}

fn options(cache: &Path) -> RepoOptions {
    let mut options = RepoOptions::new(cache.to_owned());
    options.proxy = ProxySettings::none();
    // Generous: the machine running the tests may be busy. The timeout test sets its own.
    options.timeout = Duration::from_secs(5);
    options.retries = 2;
    options.backoff = Duration::from_millis(5);
    options
}

fn fetcher(cache: &Path) -> Fetcher {
    Fetcher::new(options(cache)).unwrap()
}

fn offline(cache: &Path) -> Fetcher {
    let mut options = options(cache);
    options.offline = true;
    Fetcher::new(options).unwrap()
}

fn accept(_: &[u8]) -> Result<(), String> {
    Ok(())
}

fn sha256(bytes: &[u8]) -> [u8; 32] {
    sha2::Sha256::digest(bytes).into()
}

fn repo(server: &Server) -> Repository {
    Repository::parse(&format!("{}/alpine/v3.19/main", server.base)).unwrap()
}

const INDEX: &str = "/alpine/v3.19/main/x86_64/APKINDEX.tar.gz";
const PACKAGE: &str = "/alpine/v3.19/main/x86_64/musl-1.2.4-r2.apk";

fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = walkdir::WalkDir::new(dir)
        .into_iter()
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_file())
        .map(|e| e.path().to_owned())
        .collect();
    files.sort();
    files
}

fn blobs(cache: &Path) -> Vec<PathBuf> {
    files_under(&cache.join("v1/blobs"))
}

#[test]
fn an_index_is_fetched_and_cached() {
    let s = setup();
    let server = Server::start(|_, _| Reply::Ok(b"index bytes".to_vec()));
    let fetched = fetcher(&s.cache)
        .fetch_index(&repo(&server), "x86_64")
        .unwrap();
    assert_eq!(fetched.bytes, b"index bytes");
    assert_eq!(fetched.sha256, sha256(b"index bytes"));
    assert_eq!(
        fetched.origin,
        Origin::Network {
            url: format!("{}{INDEX}", server.base)
        }
    );
    assert_eq!(server.requests(), [INDEX]);
    let blobs = blobs(&s.cache);
    assert_eq!(blobs.len(), 1);
    assert!(blobs[0].ends_with(fetched.sha256_hex()));
}

#[test]
fn requests_identify_basalt_and_ask_for_the_bytes_as_published() {
    let s = setup();
    let server = Server::start(|_, _| Reply::Ok(b"x".to_vec()));
    fetcher(&s.cache)
        .fetch_index(&repo(&server), "x86_64")
        .unwrap();
    let headers: Vec<String> = server
        .headers()
        .iter()
        .map(|h| h.to_ascii_lowercase())
        .collect();
    let version = env!("CARGO_PKG_VERSION");
    assert!(
        headers.contains(&format!("user-agent: basalt/{version}")),
        "{headers:?}"
    );
    assert!(
        headers.contains(&"accept-encoding: identity".to_owned()),
        "{headers:?}"
    );
}

#[test]
fn a_body_without_content_length_is_read_to_the_end() {
    let s = setup();
    let body: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
    let served = body.clone();
    let server = Server::start(move |_, _| Reply::Unsized(served.clone()));
    let fetched = fetcher(&s.cache)
        .fetch_index(&repo(&server), "x86_64")
        .unwrap();
    assert_eq!(fetched.bytes, body);
}

#[test]
fn redirects_to_a_mirror_are_followed() {
    let s = setup();
    let server = Server::start(|path, _| {
        if let Some(rest) = path.strip_prefix("/alpine/") {
            Reply::Redirect(format!("/mirror/{rest}"))
        } else {
            Reply::Ok(format!("served at {path}").into_bytes())
        }
    });
    let fetched = fetcher(&s.cache)
        .fetch_index(&repo(&server), "x86_64")
        .unwrap();
    assert_eq!(
        fetched.bytes,
        b"served at /mirror/v3.19/main/x86_64/APKINDEX.tar.gz"
    );
    // The cache knows it by the URL that was asked for.
    let cached = offline(&s.cache)
        .fetch_index(&repo(&server), "x86_64")
        .unwrap();
    assert_eq!(cached.bytes, fetched.bytes);
}

#[test]
fn a_404_names_the_url_and_is_not_retried() {
    let s = setup();
    let server = Server::start(|_, _| Reply::Status(404));
    let err = fetcher(&s.cache)
        .fetch_index(&repo(&server), "x86_64")
        .unwrap_err();
    let Error::Http {
        url,
        attempts,
        failure,
    } = &err
    else {
        panic!("expected an HTTP error, got {err:?}");
    };
    assert_eq!(url, &format!("{}{INDEX}", server.base));
    assert_eq!(*attempts, 1);
    assert!(matches!(failure, HttpFailure::Status { code: 404, .. }));
    assert!(
        err.to_string().contains("server answered 404 Not Found"),
        "{err}"
    );
    assert!(err.to_string().contains(url.as_str()));
    assert!(err.hint().unwrap().contains("REPO/ARCH/APKINDEX.tar.gz"));
    assert_eq!(server.count(INDEX), 1);
    assert!(blobs(&s.cache).is_empty());
}

#[test]
fn a_500_then_success_is_retried() {
    let s = setup();
    let server = Server::start(|_, n| {
        if n == 1 {
            Reply::Status(500)
        } else {
            Reply::Ok(b"second time lucky".to_vec())
        }
    });
    let events = Arc::new(Mutex::new(Vec::new()));
    let sink = Arc::clone(&events);
    let fetched = fetcher(&s.cache)
        .with_events(move |e| sink.lock().unwrap().push(e.clone()))
        .fetch_index(&repo(&server), "x86_64")
        .unwrap();
    assert_eq!(fetched.bytes, b"second time lucky");
    assert_eq!(server.count(INDEX), 2);
    let events = events.lock().unwrap();
    assert!(events.iter().any(|e| matches!(
        e,
        Event::Retrying {
            attempt: 1,
            failure: HttpFailure::Status { code: 500, .. },
            ..
        }
    )));
    assert!(
        events
            .iter()
            .any(|e| matches!(e, Event::Finished { bytes: 17, .. }))
    );
}

#[test]
fn a_persistent_503_gives_up_after_the_retries() {
    let s = setup();
    let server = Server::start(|_, _| Reply::Status(503));
    let err = fetcher(&s.cache)
        .fetch_index(&repo(&server), "x86_64")
        .unwrap_err();
    assert!(
        matches!(
            &err,
            Error::Http {
                attempts: 3,
                failure: HttpFailure::Status { code: 503, .. },
                ..
            }
        ),
        "{err:?}"
    );
    assert_eq!(server.count(INDEX), 3);
}

#[test]
fn a_truncated_body_is_detected() {
    let s = setup();
    let server = Server::start(|_, _| Reply::Truncated {
        announced: 100,
        body: b"only ten b".to_vec(),
    });
    let err = fetcher(&s.cache)
        .fetch_index(&repo(&server), "x86_64")
        .unwrap_err();
    assert!(
        matches!(
            &err,
            Error::Http {
                attempts: 3,
                failure: HttpFailure::Truncated {
                    expected: 100,
                    received: 10
                },
                ..
            }
        ),
        "{err:?}"
    );
    assert!(
        err.to_string().contains("received 10 of 100 bytes"),
        "{err}"
    );
    assert!(blobs(&s.cache).is_empty());
}

#[test]
fn a_server_slower_than_the_timeout_fails() {
    let s = setup();
    let server = Server::start(|_, _| Reply::Slow(Duration::from_secs(3), b"late".to_vec()));
    let mut options = options(&s.cache);
    options.retries = 0;
    options.timeout = Duration::from_millis(200);
    let err = Fetcher::new(options)
        .unwrap()
        .fetch_index(&repo(&server), "x86_64")
        .unwrap_err();
    assert!(
        matches!(
            &err,
            Error::Http {
                attempts: 1,
                failure: HttpFailure::Timeout { .. },
                ..
            }
        ),
        "{err:?}"
    );
    assert!(err.to_string().contains("timed out after 200 ms"), "{err}");
}

#[test]
fn an_index_over_the_size_limit_is_refused_without_retrying() {
    let s = setup();
    let server = Server::start(|_, _| Reply::Ok(vec![0; 4096]));
    let mut options = options(&s.cache);
    options.max_index_size = 1024;
    let err = Fetcher::new(options)
        .unwrap()
        .fetch_index(&repo(&server), "x86_64")
        .unwrap_err();
    assert!(
        matches!(
            &err,
            Error::Http {
                attempts: 1,
                failure: HttpFailure::TooLarge { limit: 1024 },
                ..
            }
        ),
        "{err:?}"
    );
}

fn package_server(body: &'static [u8]) -> Server {
    Server::start(move |path, _| {
        if path == PACKAGE {
            Reply::Ok(body.to_vec())
        } else {
            Reply::Status(404)
        }
    })
}

#[test]
fn a_package_whose_bytes_do_not_match_is_refused_and_not_cached() {
    let s = setup();
    let server = package_server(b"tampered package");
    let expected = ExpectedChecksum {
        size: Some(16),
        sha256: Some(sha256(b"genuine package!")),
    };
    let err = fetcher(&s.cache)
        .fetch_package(
            &repo(&server),
            "x86_64",
            "musl",
            "1.2.4-r2",
            &expected,
            accept,
        )
        .unwrap_err();
    let Error::ChecksumMismatch {
        subject,
        expected: want,
        actual,
    } = &err
    else {
        panic!("expected a checksum mismatch, got {err:?}");
    };
    assert_eq!(subject, &format!("{}{PACKAGE}", server.base));
    assert_eq!(want, &hex::encode(sha256(b"genuine package!")));
    assert_eq!(actual, &hex::encode(sha256(b"tampered package")));
    assert!(blobs(&s.cache).is_empty());
    let err = offline(&s.cache)
        .fetch_package(
            &repo(&server),
            "x86_64",
            "musl",
            "1.2.4-r2",
            &expected,
            accept,
        )
        .unwrap_err();
    assert!(matches!(err, Error::NotCached { .. }), "{err:?}");
}

#[test]
fn a_package_of_the_wrong_size_is_refused() {
    let s = setup();
    let server = package_server(b"longer than the index says");
    let expected = ExpectedChecksum {
        size: Some(5),
        sha256: None,
    };
    let err = fetcher(&s.cache)
        .fetch_package(
            &repo(&server),
            "x86_64",
            "musl",
            "1.2.4-r2",
            &expected,
            accept,
        )
        .unwrap_err();
    // Only one byte more than announced is read: enough to know the size is wrong.
    assert!(
        matches!(&err, Error::LongerThanExpected { expected: 5, subject } if subject.ends_with(PACKAGE)),
        "{err:?}"
    );
    assert_eq!(server.count(PACKAGE), 1, "not retried");
    let expected = ExpectedChecksum {
        size: Some(100),
        sha256: None,
    };
    let err = fetcher(&s.cache)
        .fetch_package(
            &repo(&server),
            "x86_64",
            "musl",
            "1.2.4-r2",
            &expected,
            accept,
        )
        .unwrap_err();
    assert!(
        matches!(
            &err,
            Error::SizeMismatch {
                expected: 100,
                actual: 26,
                ..
            }
        ),
        "{err:?}"
    );
}

#[test]
fn the_callers_identity_check_can_refuse_a_package() {
    let s = setup();
    let server = package_server(b"package with another Q1");
    let err = fetcher(&s.cache)
        .fetch_package(
            &repo(&server),
            "x86_64",
            "musl",
            "1.2.4-r2",
            &ExpectedChecksum::default(),
            |_: &[u8]| Err("Q1 identity differs from the index"),
        )
        .unwrap_err();
    assert!(matches!(&err, Error::Rejected { .. }), "{err:?}");
    let source = std::error::Error::source(&err).unwrap().to_string();
    assert_eq!(source, "Q1 identity differs from the index");
    assert!(blobs(&s.cache).is_empty());
}

#[test]
fn a_cached_package_is_served_without_the_network_and_offline() {
    let s = setup();
    let server = package_server(b"musl package bytes");
    let expected = ExpectedChecksum {
        size: Some(18),
        sha256: None,
    };
    let first = fetcher(&s.cache)
        .fetch_package(
            &repo(&server),
            "x86_64",
            "musl",
            "1.2.4-r2",
            &expected,
            accept,
        )
        .unwrap();
    assert!(matches!(first.origin, Origin::Network { .. }));
    let checks = Arc::new(Mutex::new(0));
    let counted = Arc::clone(&checks);
    let verify = move |bytes: &[u8]| -> Result<(), String> {
        *counted.lock().unwrap() += 1;
        assert_eq!(bytes, b"musl package bytes");
        Ok(())
    };
    let second = fetcher(&s.cache)
        .fetch_package(
            &repo(&server),
            "x86_64",
            "musl",
            "1.2.4-r2",
            &expected,
            &verify,
        )
        .unwrap();
    assert!(
        matches!(second.origin, Origin::Cache { .. }),
        "{:?}",
        second.origin
    );
    let third = offline(&s.cache)
        .fetch_package(
            &repo(&server),
            "x86_64",
            "musl",
            "1.2.4-r2",
            &expected,
            &verify,
        )
        .unwrap();
    assert_eq!(third.bytes, first.bytes);
    assert_eq!(server.count(PACKAGE), 1);
    // The caller's check ran on both cached copies.
    assert_eq!(*checks.lock().unwrap(), 2);
    // By SHA-256 too (as a lock file gives it), without the URL entry.
    let by_digest = ExpectedChecksum {
        size: Some(18),
        sha256: Some(first.sha256),
    };
    fs_err::remove_dir_all(s.cache.join("v1/urls")).unwrap();
    let fourth = offline(&s.cache)
        .fetch_package(
            &repo(&server),
            "x86_64",
            "musl",
            "1.2.4-r2",
            &by_digest,
            accept,
        )
        .unwrap();
    assert_eq!(fourth.sha256, first.sha256);
}

#[test]
fn a_stale_cached_package_is_fetched_again() {
    let s = setup();
    let server = Server::start(|_, n| {
        Reply::Ok(if n == 1 {
            b"old build".to_vec()
        } else {
            b"new build".to_vec()
        })
    });
    let r = repo(&server);
    fetcher(&s.cache)
        .fetch_package(
            &r,
            "x86_64",
            "musl",
            "1.2.4-r2",
            &ExpectedChecksum::default(),
            accept,
        )
        .unwrap();
    let new_identity = |bytes: &[u8]| {
        if bytes == b"new build" {
            Ok(())
        } else {
            Err(format!(
                "Q1 of {:?} differs",
                String::from_utf8_lossy(bytes)
            ))
        }
    };
    let err = offline(&s.cache)
        .fetch_package(
            &r,
            "x86_64",
            "musl",
            "1.2.4-r2",
            &ExpectedChecksum::default(),
            new_identity,
        )
        .unwrap_err();
    assert!(
        matches!(&err, Error::CorruptCache { reason, .. } if reason.contains("rejected")),
        "{err:?}"
    );
    let fetched = fetcher(&s.cache)
        .fetch_package(
            &r,
            "x86_64",
            "musl",
            "1.2.4-r2",
            &ExpectedChecksum::default(),
            new_identity,
        )
        .unwrap();
    assert_eq!(fetched.bytes, b"new build");
    assert!(matches!(fetched.origin, Origin::Network { .. }));
    assert_eq!(server.count(PACKAGE), 2);
}

#[test]
fn an_index_comes_from_the_cache_offline() {
    let s = setup();
    let server = Server::start(|_, _| Reply::Ok(b"signed index".to_vec()));
    let online = fetcher(&s.cache)
        .fetch_index(&repo(&server), "x86_64")
        .unwrap();
    let events = Arc::new(Mutex::new(Vec::new()));
    let sink = Arc::clone(&events);
    let cached = offline(&s.cache)
        .with_events(move |e| sink.lock().unwrap().push(e.clone()))
        .fetch_index(&repo(&server), "x86_64")
        .unwrap();
    assert_eq!(cached.bytes, online.bytes);
    assert!(matches!(cached.origin, Origin::Cache { .. }));
    assert_eq!(server.count(INDEX), 1);
    assert_eq!(
        *events.lock().unwrap(),
        [Event::CacheHit {
            url: format!("{}{INDEX}", server.base)
        }]
    );
    // Online, an index is always fetched again: it changes.
    fetcher(&s.cache)
        .fetch_index(&repo(&server), "x86_64")
        .unwrap();
    assert_eq!(server.count(INDEX), 2);
}

#[test]
fn a_pinned_index_is_served_from_the_cache_even_after_the_index_changed() {
    let s = setup();
    let server = Server::start(|_, n| Reply::Ok(format!("index generation {n}").into_bytes()));
    let r = repo(&server);
    let first = fetcher(&s.cache).fetch_index(&r, "x86_64").unwrap();
    let second = fetcher(&s.cache).fetch_index(&r, "x86_64").unwrap();
    assert_ne!(first.sha256, second.sha256);
    // A lock made from the first index still finds it, online or offline.
    for f in [fetcher(&s.cache), offline(&s.cache)] {
        let pinned = f.fetch_index_pinned(&r, "x86_64", &first.sha256).unwrap();
        assert_eq!(pinned.bytes, b"index generation 1");
        assert!(matches!(pinned.origin, Origin::Cache { .. }));
    }
    assert_eq!(server.count(INDEX), 2);
    // A digest that nothing has: offline it is not cached; online the served index differs.
    let unknown = sha256(b"never served");
    let err = offline(&s.cache)
        .fetch_index_pinned(&r, "x86_64", &unknown)
        .unwrap_err();
    assert!(matches!(err, Error::NotCached { .. }), "{err:?}");
    let err = fetcher(&s.cache)
        .fetch_index_pinned(&r, "x86_64", &unknown)
        .unwrap_err();
    assert!(
        matches!(&err, Error::ChecksumMismatch { expected, .. } if *expected == hex::encode(unknown)),
        "{err:?}"
    );
    assert_eq!(server.count(INDEX), 3);
}

#[test]
fn offline_without_a_cached_copy_names_the_url() {
    let s = setup();
    let r = Repository::parse("https://mirror.invalid/alpine/v3.19/main").unwrap();
    let err = offline(&s.cache).fetch_index(&r, "aarch64").unwrap_err();
    assert!(
        err.to_string().contains(
            "`https://mirror.invalid/alpine/v3.19/main/aarch64/APKINDEX.tar.gz` is not in the cache"
        ),
        "{err}"
    );
    assert!(err.hint().unwrap().contains("without `--offline`"));
}

#[test]
fn a_corrupted_cache_entry_is_detected_discarded_and_fetched_again() {
    let s = setup();
    let server = Server::start(|_, _| Reply::Ok(b"pristine index".to_vec()));
    fetcher(&s.cache)
        .fetch_index(&repo(&server), "x86_64")
        .unwrap();
    let blob = blobs(&s.cache).pop().unwrap();
    fs_err::write(&blob, b"flipped bits!!").unwrap();

    let err = offline(&s.cache)
        .fetch_index(&repo(&server), "x86_64")
        .unwrap_err();
    let Error::CorruptCache { path, reason, .. } = &err else {
        panic!("expected a corrupt cache entry, got {err:?}");
    };
    assert_eq!(path, &blob);
    assert!(reason.contains("not to its name"), "{reason}");
    assert!(!blob.exists(), "the corrupt blob is discarded");

    // Online, the index is fetched again and the cache is whole once more.
    fetcher(&s.cache)
        .fetch_index(&repo(&server), "x86_64")
        .unwrap();
    let cached = offline(&s.cache)
        .fetch_index(&repo(&server), "x86_64")
        .unwrap();
    assert_eq!(cached.bytes, b"pristine index");
    assert!(blob.exists());
}

#[test]
fn a_corrupted_cached_package_is_fetched_again_online() {
    let s = setup();
    let server = package_server(b"the real package");
    let r = repo(&server);
    let expected = ExpectedChecksum {
        size: Some(16),
        sha256: None,
    };
    fetcher(&s.cache)
        .fetch_package(&r, "x86_64", "musl", "1.2.4-r2", &expected, accept)
        .unwrap();
    let blob = blobs(&s.cache).pop().unwrap();
    fs_err::write(&blob, b"the fake package").unwrap();
    let events = Arc::new(Mutex::new(Vec::new()));
    let sink = Arc::clone(&events);
    let fetched = fetcher(&s.cache)
        .with_events(move |e| sink.lock().unwrap().push(e.clone()))
        .fetch_package(&r, "x86_64", "musl", "1.2.4-r2", &expected, accept)
        .unwrap();
    assert_eq!(fetched.bytes, b"the real package");
    assert!(matches!(fetched.origin, Origin::Network { .. }));
    assert_eq!(server.count(PACKAGE), 2);
    assert!(
        events
            .lock()
            .unwrap()
            .iter()
            .any(|e| matches!(e, Event::CacheDiscarded { path, .. } if *path == blob))
    );
    let again = offline(&s.cache)
        .fetch_package(&r, "x86_64", "musl", "1.2.4-r2", &expected, accept)
        .unwrap();
    assert_eq!(again.bytes, b"the real package");
}

#[test]
fn a_damaged_url_entry_is_discarded() {
    let s = setup();
    let server = Server::start(|_, _| Reply::Ok(b"index".to_vec()));
    fetcher(&s.cache)
        .fetch_index(&repo(&server), "x86_64")
        .unwrap();
    let entries = files_under(&s.cache.join("v1/urls"));
    assert_eq!(entries.len(), 1);
    fs_err::write(
        &entries[0],
        "basalt-cache-url 1\nurl http://elsewhere/x\nsha256 00\nsize 1\n",
    )
    .unwrap();
    let err = offline(&s.cache)
        .fetch_index(&repo(&server), "x86_64")
        .unwrap_err();
    assert!(
        matches!(&err, Error::CorruptCache { reason, .. } if reason.contains("is for `http://elsewhere/x`")),
        "{err:?}"
    );
    assert!(!entries[0].exists());
}

#[test]
fn the_http_proxy_variable_is_honoured() {
    let s = setup();
    let server = Server::start(|_, _| Reply::Ok(b"via proxy".to_vec()));
    let (proxy, lines) = start_proxy();
    let env: BTreeMap<&str, String> = [
        ("HTTP_PROXY", proxy.clone()),
        ("HTTPS_PROXY", "http://127.0.0.1:9".to_owned()),
    ]
    .into_iter()
    .collect();
    let mut options = options(&s.cache);
    options.proxy = ProxySettings::from_vars(|name| env.get(name).cloned());
    let fetched = Fetcher::new(options.clone())
        .unwrap()
        .fetch_index(&repo(&server), "x86_64")
        .unwrap();
    assert_eq!(fetched.bytes, b"via proxy");
    let authority = server.base.trim_start_matches("http://");
    assert_eq!(
        *lines.lock().unwrap(),
        [format!("CONNECT {authority} HTTP/1.1")]
    );
    assert_eq!(server.count(INDEX), 1);

    // NO_PROXY sends the same request directly.
    let env: BTreeMap<&str, String> = [
        ("HTTP_PROXY", proxy),
        ("NO_PROXY", "localhost,127.0.0.1".to_owned()),
    ]
    .into_iter()
    .collect();
    options.proxy = ProxySettings::from_vars(|name| env.get(name).cloned());
    Fetcher::new(options)
        .unwrap()
        .fetch_index(&repo(&server), "x86_64")
        .unwrap();
    assert_eq!(lines.lock().unwrap().len(), 1);
    assert_eq!(server.count(INDEX), 2);
}

#[test]
fn an_unusable_proxy_variable_is_an_error_naming_it() {
    let s = setup();
    let mut options = options(&s.cache);
    options.proxy = ProxySettings::from_vars(|name| {
        (name == "https_proxy").then(|| "socks5://127.0.0.1:1".to_owned())
    });
    let err = Fetcher::new(options).unwrap_err();
    assert!(
        matches!(&err, Error::InvalidProxy { variable, .. } if variable == "https_proxy"),
        "{err:?}"
    );
}

#[test]
fn a_path_traversal_in_a_package_name_or_version_is_refused() {
    let s = setup();
    let server = Server::start(|_, _| Reply::Ok(b"secret".to_vec()));
    for (name, version) in [
        ("../../../etc/passwd", "1-r0"),
        ("musl", "1.0/../../../../x"),
        ("..", "1"),
    ] {
        let err = fetcher(&s.cache)
            .fetch_package(
                &repo(&server),
                "x86_64",
                name,
                version,
                &ExpectedChecksum::default(),
                accept,
            )
            .unwrap_err();
        assert!(matches!(err, Error::UnsafePackageName { .. }), "{err:?}");
    }
    let err = fetcher(&s.cache)
        .fetch_index(&repo(&server), "../..")
        .unwrap_err();
    assert!(matches!(err, Error::InvalidArch { .. }), "{err:?}");
    assert!(server.requests().is_empty());
}

/// A local repository in Alpine's layout.
fn local_repo(root: &Path) {
    let arch = root.join("x86_64");
    fs_err::create_dir_all(&arch).unwrap();
    fs_err::write(arch.join("APKINDEX.tar.gz"), b"local index").unwrap();
    fs_err::write(arch.join("busybox-1.36.1-r15.apk"), b"local busybox").unwrap();
}

#[test]
fn directory_and_file_url_repositories_are_read_in_place() {
    let s = setup();
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("my repo");
    local_repo(&root);
    let file_url = format!("file://{}", root.display().to_string().replace(' ', "%20"));
    for text in [
        root.display().to_string(),
        file_url,
        format!("@local {}", root.display()),
    ] {
        let r = Repository::parse(&text).unwrap();
        for f in [fetcher(&s.cache), offline(&s.cache)] {
            let index = f.fetch_index(&r, "x86_64").unwrap();
            assert_eq!(index.bytes, b"local index", "{text}");
            assert_eq!(
                index.origin,
                Origin::Local {
                    path: root.join("x86_64/APKINDEX.tar.gz")
                }
            );
            let expected = ExpectedChecksum {
                size: Some(13),
                sha256: Some(sha256(b"local busybox")),
            };
            let package = f
                .fetch_package(&r, "x86_64", "busybox", "1.36.1-r15", &expected, accept)
                .unwrap();
            assert_eq!(package.bytes, b"local busybox");
            let wrong = ExpectedChecksum {
                size: None,
                sha256: Some(sha256(b"other")),
            };
            let err = f
                .fetch_package(&r, "x86_64", "busybox", "1.36.1-r15", &wrong, accept)
                .unwrap_err();
            assert!(matches!(err, Error::ChecksumMismatch { .. }), "{err:?}");
            let short = ExpectedChecksum {
                size: Some(5),
                sha256: None,
            };
            let err = f
                .fetch_package(&r, "x86_64", "busybox", "1.36.1-r15", &short, accept)
                .unwrap_err();
            assert!(
                matches!(err, Error::LongerThanExpected { expected: 5, .. }),
                "{err:?}"
            );
        }
    }
    // Local repositories are not copied into the cache.
    assert!(!s.cache.exists());
    let r = Repository::parse(&root.display().to_string()).unwrap();
    let err = fetcher(&s.cache).fetch_index(&r, "aarch64").unwrap_err();
    assert!(
        matches!(&err, Error::LocalNotFound { path, .. } if path.ends_with("aarch64/APKINDEX.tar.gz")),
        "{err:?}"
    );
    let err = fetcher(&s.cache)
        .fetch_package(
            &r,
            "x86_64",
            "busybox",
            "0-r0",
            &ExpectedChecksum::default(),
            accept,
        )
        .unwrap_err();
    assert!(err.to_string().contains("busybox-0-r0.apk"), "{err}");
}

#[test]
fn package_names_with_plus_signs_are_requested_as_published() {
    let s = setup();
    let server = Server::start(|path, _| Reply::Ok(path.as_bytes().to_vec()));
    let fetched = fetcher(&s.cache)
        .fetch_package(
            &repo(&server),
            "x86_64",
            "libstdc++",
            "12.2.1_git20220924-r10",
            &ExpectedChecksum::default(),
            accept,
        )
        .unwrap();
    let path = "/alpine/v3.19/main/x86_64/libstdc++-12.2.1_git20220924-r10.apk";
    assert_eq!(fetched.bytes, path.as_bytes());
    assert_eq!(server.requests(), [path]);
}

#[test]
fn fetches_run_from_several_threads() {
    let s = setup();
    let server = Server::start(|path, _| Reply::Ok(path.as_bytes().to_vec()));
    let f = fetcher(&s.cache);
    let r = repo(&server);
    thread::scope(|scope| {
        for i in 0..4 {
            let (f, r) = (&f, &r);
            scope.spawn(move || {
                let version = format!("1.{i}-r0");
                let p = f
                    .fetch_package(
                        r,
                        "x86_64",
                        "pkg",
                        &version,
                        &ExpectedChecksum::default(),
                        accept,
                    )
                    .unwrap();
                assert!(
                    String::from_utf8(p.bytes)
                        .unwrap()
                        .ends_with(&format!("pkg-{version}.apk"))
                );
            });
        }
    });
    assert_eq!(blobs(&s.cache).len(), 4);
}

#[test]
fn the_shared_boot_repository_is_read_in_place() {
    let Some(data) = support::shared_data("the_shared_boot_repository_is_read_in_place") else {
        return;
    };
    let root = data.join("alpine/repos/v3.19-boot");
    let r = Repository::parse(&format!("@boot {}", root.display())).unwrap();
    let s = setup();
    let f = offline(&s.cache);
    let index = f.fetch_index(&r, "x86_64").unwrap();
    // An APKINDEX.tar.gz is gzip data (two members: signature, then index).
    assert_eq!(&index.bytes[..2], &[0x1f, 0x8b]);
    let apk = fs_err::read_dir(root.join("x86_64"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "apk"))
        .min()
        .unwrap();
    let mut bytes = Vec::new();
    fs_err::File::open(&apk)
        .unwrap()
        .read_to_end(&mut bytes)
        .unwrap();
    let stem = apk.file_stem().unwrap().to_str().unwrap();
    // NAME-VERSION where VERSION is the last two dash-separated fields (`1.2.3-r4`).
    let mut parts = stem.rsplitn(3, '-');
    let (rel, ver, name) = (
        parts.next().unwrap(),
        parts.next().unwrap(),
        parts.next().unwrap(),
    );
    let expected = ExpectedChecksum {
        size: Some(bytes.len() as u64),
        sha256: Some(sha256(&bytes)),
    };
    let fetched = f
        .fetch_package(
            &r,
            "x86_64",
            name,
            &format!("{ver}-{rel}"),
            &expected,
            accept,
        )
        .unwrap();
    assert_eq!(fetched.bytes, bytes);
}

#[test]
fn trusted_keys_are_read_from_files_and_directories() {
    let dir = tempfile::tempdir().unwrap();
    let keys = dir.path().join("keys");
    fs_err::create_dir_all(&keys).unwrap();
    fs_err::write(keys.join("b@example-2.rsa.pub"), b"key b").unwrap();
    fs_err::write(keys.join("a@example-1.rsa.pub"), b"key a").unwrap();
    fs_err::write(keys.join("README"), b"not a key").unwrap();
    let single = dir.path().join("extra.rsa.pub");
    fs_err::write(&single, b"key extra").unwrap();
    let trust = basalt::repo::Trust {
        key_paths: vec![keys, single],
        allow_untrusted: false,
    };
    let read = trust.read_keys().unwrap();
    assert_eq!(
        read.into_iter().collect::<Vec<_>>(),
        [
            ("a@example-1.rsa.pub".to_owned(), b"key a".to_vec()),
            ("b@example-2.rsa.pub".to_owned(), b"key b".to_vec()),
            ("extra.rsa.pub".to_owned(), b"key extra".to_vec()),
        ]
    );
    let missing = basalt::repo::Trust {
        key_paths: vec![dir.path().join("nope.rsa.pub")],
        allow_untrusted: false,
    };
    let err = missing.read_keys().unwrap_err();
    assert!(err.to_string().contains("nope.rsa.pub"), "{err}");
}

#[test]
fn alpines_release_keys_are_read() {
    let Some(data) = support::shared_data("alpines_release_keys_are_read") else {
        return;
    };
    let trust = basalt::repo::Trust {
        key_paths: vec![data.join("alpine/keys")],
        allow_untrusted: false,
    };
    let keys = trust.read_keys().unwrap();
    assert_eq!(keys.len(), 17);
    let key = &keys["alpine-devel@lists.alpinelinux.org-6165ee59.rsa.pub"];
    assert!(key.starts_with(b"-----BEGIN PUBLIC KEY-----"));
}
