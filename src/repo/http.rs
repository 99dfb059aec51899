//! HTTP(S) downloads: timeouts, retries with exponential backoff on transient failures, the
//! usual proxy variables, a size limit, and a check of `Content-Length` against the bytes read.
//!
//! Invariant: a body is never held beyond the size limit, and a response is accepted only with
//! status 200 and exactly as many bytes as it announced.

use std::io::{self, Read};
use std::time::Duration;

use ureq::{Agent, Proxy};

use super::{Error, Event, HttpFailure, RepoOptions};

/// The longest wait between two attempts.
const MAX_BACKOFF: Duration = Duration::from_secs(30);
/// The read buffer, and so the granularity of progress events.
const CHUNK: usize = 64 << 10;

/// Proxies for `http://` and `https://` URLs, and the hosts that bypass them.
///
/// [`ProxySettings::from_env`] reads `http_proxy`/`HTTP_PROXY` for `http://` URLs,
/// `https_proxy`/`HTTPS_PROXY` for `https://` URLs, `all_proxy`/`ALL_PROXY` as the fallback for
/// both, and `no_proxy`/`NO_PROXY` (comma-separated host names; `.example.com` or
/// `*.example.com` for a domain and its subdomains, `example.com` for the host and its
/// subdomains, `*` for every host). Lowercase names win, as in curl. Only HTTP proxies (which
/// tunnel with `CONNECT`) are supported.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProxySettings {
    /// Proxy URL for `http://` requests.
    pub http: Option<String>,
    /// Proxy URL for `https://` requests.
    pub https: Option<String>,
    /// Hosts reached directly.
    pub no_proxy: Vec<String>,
}

impl ProxySettings {
    /// No proxy at all.
    #[must_use]
    pub fn none() -> Self {
        ProxySettings::default()
    }

    /// Reads the proxy variables of this process's environment.
    #[must_use]
    pub fn from_env() -> Self {
        ProxySettings::from_vars(|name| std::env::var(name).ok())
    }

    /// Reads the proxy variables through `var` (a name → value lookup); empty values count as
    /// unset.
    #[must_use]
    pub fn from_vars(var: impl Fn(&str) -> Option<String>) -> Self {
        let first = |names: &[&str]| {
            names
                .iter()
                .filter_map(|name| var(name))
                .map(|value| value.trim().to_owned())
                .find(|value| !value.is_empty())
        };
        let all = first(&["all_proxy", "ALL_PROXY"]);
        ProxySettings {
            http: first(&["http_proxy", "HTTP_PROXY"]).or_else(|| all.clone()),
            https: first(&["https_proxy", "HTTPS_PROXY"]).or(all),
            no_proxy: first(&["no_proxy", "NO_PROXY"])
                .map(|list| {
                    list.split(',')
                        .map(|entry| entry.trim().to_ascii_lowercase())
                        .filter(|entry| !entry.is_empty())
                        .collect()
                })
                .unwrap_or_default(),
        }
    }

    /// Whether `host` is reached directly because of `no_proxy`.
    #[must_use]
    pub fn bypasses(&self, host: &str) -> bool {
        let host = host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_ascii_lowercase();
        self.no_proxy.iter().any(|entry| {
            if entry == "*" {
                return true;
            }
            // Ports in entries are ignored: the decision is made per host.
            let entry = match entry.rsplit_once(':') {
                Some((name, port))
                    if !name.contains(':') && port.chars().all(|c| c.is_ascii_digit()) =>
                {
                    name
                }
                _ => entry.as_str(),
            };
            let domain = entry.trim_start_matches('*').trim_start_matches('.');
            if domain.is_empty() {
                return false;
            }
            host == domain
                || host
                    .strip_suffix(domain)
                    .is_some_and(|prefix| prefix.ends_with('.'))
        })
    }
}

/// A blocking HTTP client configured once from [`RepoOptions`].
#[derive(Clone)]
pub(super) struct Client {
    agent: Agent,
    http_proxy: Option<Proxy>,
    https_proxy: Option<Proxy>,
    settings: ProxySettings,
    timeout: Duration,
    retries: u32,
    backoff: Duration,
}

fn parse_proxy(variable: &str, value: Option<&String>) -> Result<Option<Proxy>, Error> {
    let Some(value) = value else {
        return Ok(None);
    };
    let invalid = |reason: String| Error::InvalidProxy {
        variable: variable.to_owned(),
        value: value.clone(),
        reason,
    };
    let proxy = Proxy::new(value).map_err(|err| invalid(err.to_string()))?;
    if !matches!(
        proxy.protocol(),
        ureq::ProxyProtocol::Http | ureq::ProxyProtocol::Https
    ) {
        return Err(invalid(
            "only http:// and https:// proxies are supported".to_owned(),
        ));
    }
    Ok(Some(proxy))
}

impl Client {
    pub(super) fn new(options: &RepoOptions) -> Result<Self, Error> {
        let timeout = Some(options.timeout);
        let config = Agent::config_builder()
            // Statuses are judged here, not by ureq, so that 404 and 5xx are told apart.
            .http_status_as_error(false)
            // The proxy is chosen per request from `ProxySettings`.
            .proxy(None)
            .user_agent(options.user_agent.as_str())
            // The bytes must arrive exactly as published (their checksums are over them).
            .accept_encoding("identity")
            .max_redirects(10)
            .timeout_resolve(timeout)
            .timeout_connect(timeout)
            .timeout_send_request(timeout)
            .timeout_recv_response(timeout)
            .timeout_per_read(timeout)
            .timeout_per_write(timeout)
            .build();
        Ok(Client {
            agent: config.new_agent(),
            http_proxy: parse_proxy("http_proxy", options.proxy.http.as_ref())?,
            https_proxy: parse_proxy("https_proxy", options.proxy.https.as_ref())?,
            settings: options.proxy.clone(),
            timeout: options.timeout,
            retries: options.retries,
            backoff: options.backoff,
        })
    }

    fn proxy_for(&self, url: &str) -> Option<Proxy> {
        let uri: ureq::http::Uri = url.parse().ok()?;
        if uri.host().is_some_and(|host| self.settings.bypasses(host)) {
            return None;
        }
        match uri.scheme_str() {
            Some("https") => self.https_proxy.clone(),
            Some("http") => self.http_proxy.clone(),
            _ => None,
        }
    }

    /// GETs `url`, retrying transient failures, and returns at most `limit` bytes.
    pub(super) fn get(
        &self,
        url: &str,
        limit: u64,
        events: &dyn Fn(&Event),
    ) -> Result<Vec<u8>, Error> {
        let mut attempt = 1;
        loop {
            match self.attempt(url, limit, events) {
                Ok(bytes) => return Ok(bytes),
                Err(failure) if failure.is_transient() && attempt <= self.retries => {
                    let delay = backoff(self.backoff, attempt);
                    events(&Event::Retrying {
                        url: url.to_owned(),
                        attempt,
                        delay,
                        failure,
                    });
                    std::thread::sleep(delay);
                    attempt += 1;
                }
                Err(failure) => {
                    return Err(Error::Http {
                        url: url.to_owned(),
                        attempts: attempt,
                        failure,
                    });
                }
            }
        }
    }

    fn attempt(
        &self,
        url: &str,
        limit: u64,
        events: &dyn Fn(&Event),
    ) -> Result<Vec<u8>, HttpFailure> {
        let response = self
            .agent
            .get(url)
            .config()
            .proxy(self.proxy_for(url))
            .build()
            .call()
            .map_err(|err| self.failure(&err))?;
        let status = response.status();
        if status.as_u16() != 200 {
            return Err(HttpFailure::Status {
                code: status.as_u16(),
                reason: status.canonical_reason().unwrap_or_default().to_owned(),
            });
        }
        let total = response
            .headers()
            .get(ureq::http::header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok());
        if total.is_some_and(|total| total > limit) {
            return Err(HttpFailure::TooLarge { limit });
        }
        events(&Event::Started {
            url: url.to_owned(),
            total,
        });
        let mut reader = response
            .into_body()
            .into_with_config()
            .limit(u64::MAX)
            .reader();
        let capacity = usize::try_from(total.unwrap_or(0).min(limit).min(64 << 20)).unwrap_or(0);
        let mut bytes = Vec::with_capacity(capacity);
        let mut buf = vec![0; CHUNK];
        loop {
            let n = match reader.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
                Err(err) => {
                    let received = bytes.len() as u64;
                    return Err(match total {
                        Some(expected) if !is_timeout_io(&err) && received < expected => {
                            HttpFailure::Truncated { expected, received }
                        }
                        _ => self.io_failure(&err),
                    });
                }
            };
            if (bytes.len() + n) as u64 > limit {
                return Err(HttpFailure::TooLarge { limit });
            }
            bytes.extend_from_slice(&buf[..n]);
            events(&Event::Progress {
                url: url.to_owned(),
                received: bytes.len() as u64,
                total,
            });
        }
        let received = bytes.len() as u64;
        if let Some(expected) = total
            && received != expected
        {
            return Err(HttpFailure::Truncated { expected, received });
        }
        events(&Event::Finished {
            url: url.to_owned(),
            bytes: received,
        });
        Ok(bytes)
    }

    fn failure(&self, err: &ureq::Error) -> HttpFailure {
        match err {
            ureq::Error::Timeout(_) => HttpFailure::Timeout {
                after: self.timeout,
            },
            ureq::Error::Io(io) => self.io_failure(io),
            ureq::Error::StatusCode(code) => HttpFailure::Status {
                code: *code,
                reason: String::new(),
            },
            ureq::Error::HostNotFound => HttpFailure::Connection("host not found".to_owned()),
            other => HttpFailure::Connection(other.to_string()),
        }
    }

    fn io_failure(&self, err: &io::Error) -> HttpFailure {
        if is_timeout_io(err) {
            return HttpFailure::Timeout {
                after: self.timeout,
            };
        }
        if let Some(inner) = err
            .get_ref()
            .and_then(|inner| inner.downcast_ref::<ureq::Error>())
        {
            return self.failure(inner);
        }
        HttpFailure::Connection(err.to_string())
    }
}

fn is_timeout_io(err: &io::Error) -> bool {
    matches!(
        err.kind(),
        io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock
    ) || err
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<ureq::Error>())
        .is_some_and(|inner| matches!(inner, ureq::Error::Timeout(_)))
}

/// The wait after failed attempt `attempt` (from 1): `base`, `2 base`, `4 base`, … at most
/// [`MAX_BACKOFF`].
fn backoff(base: Duration, attempt: u32) -> Duration {
    let factor = 1u32 << attempt.saturating_sub(1).min(16);
    base.saturating_mul(factor).min(MAX_BACKOFF)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_and_is_capped() {
        let base = Duration::from_millis(500);
        assert_eq!(backoff(base, 1), Duration::from_millis(500));
        assert_eq!(backoff(base, 2), Duration::from_secs(1));
        assert_eq!(backoff(base, 3), Duration::from_secs(2));
        assert_eq!(backoff(base, 40), MAX_BACKOFF);
    }

    #[test]
    fn proxy_variables_are_chosen_by_scheme() {
        let vars = |pairs: &'static [(&'static str, &'static str)]| {
            ProxySettings::from_vars(move |name| {
                pairs
                    .iter()
                    .find(|(k, _)| *k == name)
                    .map(|(_, v)| (*v).to_owned())
            })
        };
        let s = vars(&[
            ("HTTP_PROXY", "http://upper:1"),
            ("http_proxy", "http://lower:1"),
            ("HTTPS_PROXY", "http://secure:2"),
            (
                "NO_PROXY",
                "localhost, .internal.example,*.corp ,10.0.0.1:8080",
            ),
        ]);
        assert_eq!(s.http.as_deref(), Some("http://lower:1"));
        assert_eq!(s.https.as_deref(), Some("http://secure:2"));
        assert!(s.bypasses("localhost"));
        assert!(s.bypasses("a.internal.example"));
        assert!(s.bypasses("internal.example"));
        assert!(s.bypasses("x.y.corp"));
        assert!(s.bypasses("10.0.0.1"));
        assert!(!s.bypasses("example.com"));
        assert!(!s.bypasses("notlocalhost"));

        let s = vars(&[("ALL_PROXY", "http://all:3"), ("https_proxy", "")]);
        assert_eq!(s.http.as_deref(), Some("http://all:3"));
        assert_eq!(s.https.as_deref(), Some("http://all:3"));
        assert!(s.no_proxy.is_empty());

        let s = vars(&[("no_proxy", "*")]);
        assert!(s.bypasses("anything.example"));
        assert_eq!(vars(&[]), ProxySettings::none());
    }

    #[test]
    fn transient_failures_are_told_from_permanent_ones() {
        let status = |code| HttpFailure::Status {
            code,
            reason: String::new(),
        };
        assert!(status(500).is_transient());
        assert!(status(503).is_transient());
        assert!(status(429).is_transient());
        assert!(!status(404).is_transient());
        assert!(!status(403).is_transient());
        assert!(
            HttpFailure::Timeout {
                after: Duration::from_millis(1)
            }
            .is_transient()
        );
        assert!(!HttpFailure::TooLarge { limit: 1 }.is_transient());
    }
}
