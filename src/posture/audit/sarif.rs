//! SARIF 2.1.0 for an audit report, so that code-scanning systems show the findings.
//!
//! Invariant: every check of [`CHECKS`] is a rule (`runs[0].tool.driver.rules`,
//! in table order), every finding a result pointing at its rule by id and index, with the file
//! concerned as an artifact location relative to the audited root (`uriBaseId` `ROOT`).

use serde_json::{Value, json};

use super::{CHECKS, Report};
use crate::finding::Severity;

/// The SARIF schema this output follows.
pub const SCHEMA: &str =
    "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json";

/// The SARIF `level` of a severity.
#[must_use]
pub fn level(severity: Severity) -> &'static str {
    match severity {
        Severity::Critical | Severity::High => "error",
        Severity::Medium => "warning",
        Severity::Low | Severity::Info => "note",
    }
}

/// The `security-severity` score (0.0-10.0) code-scanning systems rank results by.
#[must_use]
pub fn security_severity(severity: Severity) -> &'static str {
    match severity {
        Severity::Critical => "9.5",
        Severity::High => "8.0",
        Severity::Medium => "5.5",
        Severity::Low => "3.0",
        Severity::Info => "0.0",
    }
}

/// Percent-encodes a path for a URI reference (unreserved characters and `/` kept).
fn uri_path(path: &str) -> String {
    let mut out = String::new();
    for b in path.trim_start_matches('/').bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~' | b'/') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    if out.is_empty() {
        out.push('.');
    }
    out
}

/// The report as a SARIF 2.1.0 log.
#[must_use]
pub fn to_sarif(report: &Report, version: &str) -> Value {
    let rules: Vec<Value> = CHECKS
        .iter()
        .map(|c| {
            let mut tags = vec!["security".to_owned(), c.area.as_str().to_owned()];
            if !c.cis.is_empty() {
                tags.push(format!("CIS-Docker-{}", c.cis.replace(", ", ",")));
            }
            let cis = if c.cis.is_empty() {
                String::new()
            } else {
                format!(
                    "\n\nCIS Docker Benchmark v1.6.0: {} (mapped to OpenRC and Alpine)",
                    c.cis
                )
            };
            json!({
                "id": c.id,
                "name": c.id,
                "shortDescription": { "text": c.title },
                "fullDescription": { "text": format!("{}.{cis}", c.title) },
                "help": {
                    "text": c.remediation,
                    "markdown": format!("**Remediation:** {}{cis}", c.remediation),
                },
                "defaultConfiguration": { "level": level(c.severity) },
                "properties": {
                    "security-severity": security_severity(c.severity),
                    "severity": c.severity.as_str(),
                    "tags": tags,
                },
            })
        })
        .collect();
    let results: Vec<Value> = report
        .findings
        .iter()
        .map(|f| {
            // The rules are CHECKS in table order, which CheckId indexes.
            let index = f.check as usize;
            let mut physical = json!({
                "artifactLocation": { "uri": uri_path(&f.path), "uriBaseId": "ROOT" },
            });
            if let Some(line) = f.line.filter(|l| *l >= 1) {
                physical["region"] = json!({ "startLine": line });
            }
            json!({
                "ruleId": f.check,
                "ruleIndex": index,
                "level": level(f.severity),
                "message": { "text": format!("{} ({})", f.message, f.evidence) },
                "locations": [ { "physicalLocation": physical } ],
                "properties": { "severity": f.severity.as_str(), "evidence": f.evidence },
            })
        })
        .collect();
    json!({
        "$schema": SCHEMA,
        "version": "2.1.0",
        "runs": [ {
            "tool": { "driver": {
                "name": "basalt",
                "semanticVersion": version,
                "version": version,
                "rules": rules,
            } },
            "originalUriBaseIds": {
                "ROOT": {
                    "uri": "file:///",
                    "description": { "text": format!("the audited root: {}", report.root) },
                },
            },
            "invocations": [ { "executionSuccessful": true } ],
            "results": results,
        } ],
    })
}
