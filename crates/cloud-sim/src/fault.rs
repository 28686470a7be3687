//! Fault injection: per-path rules consumed by the next N matching requests.
//!
//! A rule names a request path (`/open/refreshToken`), a route template
//! (`/oauth/qrcode/{sid}/status`) or `*` for every provider path, a [`Fault`] and how many
//! requests it applies to. Rules are consumed first-in first-out.

use std::time::Duration;

use parking_lot::Mutex;

/// Something to do to a request instead of (or before) answering it normally.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Fault {
    /// Wait this long, then answer normally.
    Delay(Duration),
    /// Handle the request normally (its effects, such as a rotated refresh token, happen
    /// at once), then hold the answer this long: the window in which a client that dies
    /// loses what the provider did.
    DelayAnswer(Duration),
    /// Answer with this HTTP status (e.g. 500, 502, 503) and a provider-shaped error body.
    Status(u16),
    /// Drop the connection without answering (TCP reset).
    Reset,
    /// Never answer: hold the request until the client gives up or the simulator stops.
    Hang,
    /// Answer HTTP 200 with a body the client cannot parse.
    Malformed(Malformed),
    /// Answer as the provider does when the account is over its quota.
    RateLimit(RateLimitAnswer),
    /// Break a transfer off after `after` body bytes of this request, then drop the
    /// connection: the client sees an error mid-body, never a clean end.
    ///
    /// - Download links (`/__sim/dl`) and any other answer: the response body stops after
    ///   `after` bytes (fewer when the body is shorter, then it ends normally).
    /// - Part uploads (`/__sim/up`): the server reads at most `after` bytes of the request
    ///   body, stores nothing and drops the connection (also when the body was shorter).
    CutBody {
        /// Body bytes let through before the cut.
        after: u64,
    },
}

/// A body that is not what the client expects.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Malformed {
    /// JSON cut off in the middle: `{"state":`.
    TruncatedJson,
    /// An HTML error page, as a proxy in front of the provider would send.
    Html,
    /// An empty body.
    Empty,
    /// This exact body.
    Custom(String),
}

impl Malformed {
    pub(crate) fn body(&self) -> (&'static str, String) {
        match self {
            Malformed::TruncatedJson => ("application/json", "{\"state\":".to_owned()),
            Malformed::Html => (
                "text/html; charset=utf-8",
                "<html><head><title>502 Bad Gateway</title></head><body><center><h1>502 Bad \
                 Gateway</h1></center><hr><center>Tengine</center></body></html>"
                    .to_owned(),
            ),
            Malformed::Empty => ("application/json", String::new()),
            Malformed::Custom(s) => ("application/json", s.clone()),
        }
    }
}

/// A rate-limit answer to inject.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RateLimitAnswer {
    /// HTTP 429 with `X-RateLimit-Reset: <reset_secs>` (alipan: code `TooManyRequests`).
    Http429 {
        /// Value of the `X-RateLimit-Reset` header, in seconds.
        reset_secs: u64,
    },
    /// 115: HTTP 200 with code 770004 and `已达到当前访问上限`. alipan: same as `Http429`
    /// with a one-second reset.
    Quota770004,
    /// 115: HTTP 200 with code 406 and `已达到当前访问上限`. alipan: same as `Http429`
    /// with a one-second reset.
    Quota406,
}

#[derive(Debug)]
struct Rule {
    path: String,
    fault: Fault,
    remaining: usize,
}

/// The queue of pending fault rules.
#[derive(Debug, Default)]
pub(crate) struct FaultRegistry {
    rules: Mutex<Vec<Rule>>,
}

impl FaultRegistry {
    pub(crate) fn add(&self, path: &str, fault: Fault, times: usize) {
        if times == 0 {
            return;
        }
        self.rules.lock().push(Rule {
            path: path.to_owned(),
            fault,
            remaining: times,
        });
    }

    pub(crate) fn clear(&self) {
        self.rules.lock().clear();
    }

    pub(crate) fn pending(&self) -> usize {
        self.rules.lock().iter().map(|r| r.remaining).sum()
    }

    /// Takes one use of the first rule matching `path` or `template` (or `*`, when
    /// `wildcard` is allowed: control paths are never hit by `*`).
    pub(crate) fn take(&self, path: &str, template: Option<&str>, wildcard: bool) -> Option<Fault> {
        let mut rules = self.rules.lock();
        let idx = rules.iter().position(|r| {
            r.remaining > 0
                && (r.path == path
                    || (wildcard && r.path == "*")
                    || template.is_some_and(|t| t == r.path))
        })?;
        let rule = &mut rules[idx];
        rule.remaining -= 1;
        let fault = rule.fault.clone();
        if rule.remaining == 0 {
            rules.remove(idx);
        }
        Some(fault)
    }
}
