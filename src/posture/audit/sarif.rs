//! SARIF 2.1.0 for an audit report, so that code-scanning systems show the findings.
//!
//! Invariants: every check of [`CHECKS`] is a rule (`runs[0].tool.driver.rules`, in table
//! order), related to the CIS Docker Benchmark items it answers; the benchmark is a taxonomy
//! (`runs[0].taxonomies`, every item of [`cis::ITEMS`], with whether basalt answers it
//! offline); every finding is a result pointing at its rule by id and index and at its CIS
//! item (`taxa`), with the file concerned as an artifact location relative to the audited
//! root (`uriBaseId` `ROOT`); every skipped check is a notification of the invocation.

use serde_json::{Value, json};

use super::cis::{self, Coverage};
use super::{CHECKS, Report};
use crate::finding::Severity;

/// The SARIF schema this output follows.
pub const SCHEMA: &str =
    "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json";

/// The stable GUID of the CIS Docker Benchmark v1.6.0 taxonomy in basalt's SARIF.
pub const CIS_TAXONOMY_GUID: &str = "6f0c8a52-3d1e-4b7a-9c2f-1a6d5e4b3c21";

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

/// A reference to one CIS item of the taxonomy.
fn taxon(id: &str) -> Value {
    let index = cis::ITEMS.iter().position(|i| i.id == id);
    let mut r = json!({
        "id": id,
        "toolComponent": { "name": cis::BENCHMARK, "guid": CIS_TAXONOMY_GUID },
    });
    if let Some(index) = index {
        r["index"] = json!(index);
    }
    r
}

fn location(path: &str, line: Option<u32>) -> Value {
    let mut physical = json!({
        "artifactLocation": { "uri": uri_path(path), "uriBaseId": "ROOT" },
    });
    if let Some(line) = line.filter(|l| *l >= 1) {
        physical["region"] = json!({ "startLine": line });
    }
    json!({ "physicalLocation": physical })
}

/// The CIS Docker Benchmark as a SARIF taxonomy.
#[must_use]
pub fn taxonomy() -> Value {
    let taxa: Vec<Value> = cis::ITEMS
        .iter()
        .map(|item| {
            let (coverage, why) = match item.coverage {
                Coverage::Answered => ("answered", String::new()),
                Coverage::NotOffline(why) => ("not answerable offline", why.to_owned()),
            };
            let mut properties = json!({
                "coverage": coverage,
                "checks": item.checks().map(|c| c.as_str()).collect::<Vec<_>>(),
            });
            if !why.is_empty() {
                properties["why"] = json!(why);
            }
            json!({
                "id": item.id,
                "name": format!("CIS-Docker-{}", item.id),
                "shortDescription": { "text": item.title },
                "properties": properties,
            })
        })
        .collect();
    json!({
        "name": cis::BENCHMARK,
        "guid": CIS_TAXONOMY_GUID,
        "version": cis::VERSION,
        "organization": "Center for Internet Security",
        "shortDescription": {
            "text": format!("{} v{}, item by item, as basalt answers it offline", cis::BENCHMARK, cis::VERSION),
        },
        "isComprehensive": true,
        "taxa": taxa,
    })
}

/// The report as a SARIF 2.1.0 log.
#[must_use]
pub fn to_sarif(report: &Report, version: &str) -> Value {
    let rules: Vec<Value> = CHECKS
        .iter()
        .map(|c| {
            let mut tags = vec!["security".to_owned(), c.area.as_str().to_owned()];
            tags.extend(c.cis.iter().map(|id| format!("CIS-Docker-{id}")));
            let cis = if c.cis.is_empty() {
                String::new()
            } else {
                format!(
                    "\n\n{} v{}: {} (mapped to OpenRC and Alpine)",
                    cis::BENCHMARK,
                    cis::VERSION,
                    c.cis.join(", ")
                )
            };
            let mut rule = json!({
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
                    "family": c.family.as_str(),
                    "cis": c.cis,
                    "tags": tags,
                },
            });
            if !c.cis.is_empty() {
                rule["relationships"] = c
                    .cis
                    .iter()
                    .map(|id| json!({ "target": taxon(id), "kinds": ["relevant"] }))
                    .collect();
            }
            rule
        })
        .collect();
    let results: Vec<Value> = report
        .findings
        .iter()
        .map(|f| {
            // The rules are CHECKS in table order, which CheckId indexes.
            let index = f.check as usize;
            let mut properties = json!({
                "severity": f.severity.as_str(),
                "evidence": f.evidence,
            });
            let mut result = json!({
                "ruleId": f.check,
                "ruleIndex": index,
                "level": level(f.severity),
                "message": { "text": format!("{} ({})", f.message, f.evidence) },
                "locations": [ location(&f.path, f.line) ],
            });
            if let Some(cis) = f.cis {
                properties["cis"] = json!(cis);
                result["taxa"] = json!([taxon(cis)]);
            }
            result["properties"] = properties;
            result
        })
        .collect();
    let notifications: Vec<Value> = report
        .skipped
        .iter()
        .map(|s| {
            let cis = s.cis.map(|c| format!(" (CIS {c})")).unwrap_or_default();
            let mut n = json!({
                "level": "note",
                "message": { "text": format!("{} not answered{cis}: {}", s.check, s.reason) },
                "associatedRule": { "id": s.check, "index": s.check as usize },
                "properties": { "skipped": true },
            });
            if let Some(cis) = s.cis {
                n["properties"]["cis"] = json!(cis);
            }
            if let Some(path) = &s.path {
                n["locations"] = json!([location(path, None)]);
            }
            n
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
                "supportedTaxonomies": [ { "name": cis::BENCHMARK, "guid": CIS_TAXONOMY_GUID } ],
            } },
            "taxonomies": [ taxonomy() ],
            "originalUriBaseIds": {
                "ROOT": {
                    "uri": "file:///",
                    "description": { "text": format!("the audited root: {}", report.root) },
                },
            },
            "invocations": [ {
                "executionSuccessful": true,
                "toolExecutionNotifications": notifications,
            } ],
            "results": results,
        } ],
    })
}
