# -*- coding: utf-8 -*-
# basalt.fleet filters: turn raw results of `basalt verify --format json` (and `basalt audit
# --format json`) into per-host results, and per-host results into one fleet report.
# They run on the controller; the hosts need nothing but a shell and basalt.

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import re

from ansible.errors import AnsibleFilterError

REPORT_FORMAT = 1
SEVERITIES = ("info", "low", "medium", "high", "critical")


def _output(result):
    """stdout (and, over an SSH pty, stderr within it) as text, plus stderr."""
    out = result.get("stdout") or ""
    err = result.get("stderr") or ""
    return out, err


def _document(text, keys):
    """The first JSON object in `text` that has all of `keys`; None when there is none.

    Over SSH, `raw` runs in a pty that mixes stderr into stdout and ends lines with CRLF, so
    every `{` that starts a line is tried."""
    decoder = json.JSONDecoder()
    for match in re.finditer(r"(?m)^[ \t]*\{", text):
        try:
            value, _ = decoder.raw_decode(text, match.end() - 1)
        except ValueError:
            continue
        if isinstance(value, dict) and all(k in value for k in keys):
            return value
    return None


def _message(out, err):
    """What basalt said on stderr (or, mixed into stdout, its error lines), compactly."""
    lines = [l.strip() for l in (err + "\n" + out).splitlines()]
    said = [l for l in lines if l.startswith(("error:", "warning:", "hint:"))]
    chosen = said or [l for l in lines if l]
    return " ".join(chosen)[:2000]


def _unreachable(result):
    if result.get("unreachable"):
        return "unreachable: %s" % (result.get("msg") or "no connection")
    if result.get("failed") and "rc" not in result:
        return "cannot run on the host: %s" % (result.get("msg") or "unknown error")
    return None


def _verify(result):
    host = {
        "status": "error",
        "exit": result.get("rc"),
        "image": None,
        "version": None,
        "findings": [],
        "counts": {},
        "error": None,
    }
    broken = _unreachable(result)
    if broken:
        host["error"] = broken
        return host
    out, err = _output(result)
    rc = result.get("rc")
    doc = _document(out, ("clean", "findings"))
    if rc in (0, 1) and doc is not None:
        findings = doc.get("findings") or []
        host["image"] = doc.get("image")
        host["version"] = doc.get("version")
        host["findings"] = findings
        host["counts"] = _counts(f.get("kind") for f in findings)
        if rc == 0 and doc.get("clean") and not findings:
            host["status"] = "clean"
        elif rc == 1:
            host["status"] = "drift"
        else:
            host["error"] = "basalt verify exited %s with a report that says clean=%s" % (
                rc,
                doc.get("clean"),
            )
        return host
    if rc == 1:
        # The signature was refused before the tree was compared: the host cannot be trusted.
        host["status"] = "drift"
        host["error"] = _message(out, err) or "basalt verify refused the manifest"
        return host
    if rc in (126, 127):
        host["error"] = "basalt cannot be run on the host (exit %s): %s" % (rc, _message(out, err))
        return host
    host["error"] = "basalt verify could not run (exit %s): %s" % (rc, _message(out, err))
    return host


def _audit(result):
    if result is None or result.get("skipped"):
        return None
    audit = {"status": "error", "exit": result.get("rc"), "counts": {}, "findings": [], "error": None}
    broken = _unreachable(result)
    if broken:
        audit["error"] = broken
        return audit
    out, err = _output(result)
    doc = _document(out, ("findings", "checks"))
    rc = result.get("rc")
    if rc in (0, 1) and doc is not None:
        findings = doc.get("findings") or []
        audit["findings"] = findings
        audit["counts"] = _counts(f.get("severity") for f in findings)
        audit["status"] = "pass" if rc == 0 else "fail"
        return audit
    audit["error"] = "basalt audit could not run (exit %s): %s" % (rc, _message(out, err))
    return audit


def _counts(values):
    counts = {}
    for v in values:
        key = str(v)
        counts[key] = counts.get(key, 0) + 1
    return dict(sorted(counts.items()))


def verify_result(verify, audit=None):
    """A host's result from the registered `raw` results of verify (and audit)."""
    if not isinstance(verify, dict):
        raise AnsibleFilterError("verify_result expects a registered task result, not %r" % (verify,))
    host = _verify(verify)
    host["audit"] = _audit(audit) if isinstance(audit, dict) else None
    host["failed"] = host["status"] != "clean" or (
        host["audit"] is not None and host["audit"]["status"] != "pass"
    )
    return host


def _version_key(version):
    """Numbers compare as numbers, words as words, in order: 1.10.0 > 1.9.2 > 1.9."""
    key = []
    for token in re.findall(r"\d+|[A-Za-z]+", str(version)):
        key.append((1, int(token), "") if token.isdigit() else (0, 0, token))
    return key


def version_older(version, than):
    """Whether image version `version` is older than `than`."""
    return _version_key(version) < _version_key(than)


def fleet_report(hosts, hostvars, latest=None):
    """One report for the hosts of the play, from each one's `basalt_fleet_result`."""
    latest = dict(latest or {})
    report = {
        "format": REPORT_FORMAT,
        "hosts": {},
        "totals": {"hosts": 0, "clean": 0, "drift": 0, "error": 0},
        "counts": {},
        "images": [],
        "latest": latest,
        "redeploy": [],
        "audit": None,
    }
    images = {}
    kinds = {}
    audits = None
    for name in sorted(hosts):
        try:
            result = hostvars[name].get("basalt_fleet_result")
        except KeyError:
            result = None
        if not isinstance(result, dict):
            result = {
                "status": "error",
                "exit": None,
                "image": None,
                "version": None,
                "findings": [],
                "counts": {},
                "error": "no result: the host failed before it was verified",
                "audit": None,
                "failed": True,
            }
        host = dict(result)
        image, version = host.get("image"), host.get("version")
        newest = latest.get(image) if image else None
        host["redeploy"] = bool(newest and version and version_older(version, newest))
        report["hosts"][name] = host
        report["totals"]["hosts"] += 1
        report["totals"][host["status"]] = report["totals"].get(host["status"], 0) + 1
        for kind, n in (host.get("counts") or {}).items():
            kinds[kind] = kinds.get(kind, 0) + n
        if image:
            images.setdefault((image, version), []).append(name)
        if host["redeploy"]:
            report["redeploy"].append(
                {"host": name, "image": image, "version": version, "latest": newest}
            )
        if host.get("audit"):
            if audits is None:
                audits = {"pass": 0, "fail": 0, "error": 0, "counts": {}}
            audit = host["audit"]
            audits[audit["status"]] = audits.get(audit["status"], 0) + 1
            for severity, n in (audit.get("counts") or {}).items():
                audits["counts"][severity] = audits["counts"].get(severity, 0) + n
    report["counts"] = dict(sorted(kinds.items()))
    report["images"] = [
        {"image": i, "version": v, "hosts": names}
        for (i, v), names in sorted(images.items(), key=lambda kv: (kv[0][0], _version_key(kv[0][1])))
    ]
    if audits is not None:
        audits["counts"] = dict(sorted(audits["counts"].items(), key=lambda kv: SEVERITIES.index(kv[0]) if kv[0] in SEVERITIES else 99))
    report["audit"] = audits
    return report


def _join_counts(counts):
    return ", ".join("%s %s" % (k, n) for k, n in counts.items())


def fleet_summary(report):
    """The report in a few lines for people."""
    totals = report["totals"]
    lines = [
        "basalt fleet: %d host(s): %d clean, %d drift, %d error"
        % (totals["hosts"], totals.get("clean", 0), totals.get("drift", 0), totals.get("error", 0))
    ]
    width = max([len(n) for n in report["hosts"]] + [4])
    for name, host in report["hosts"].items():
        running = "%s %s" % (host["image"], host["version"]) if host.get("image") else "-"
        detail = _join_counts(host.get("counts") or {})
        if host.get("error"):
            detail = (detail + "; " if detail else "") + host["error"]
        audit = host.get("audit")
        if audit:
            detail += "%saudit %s%s" % (
                "; " if detail else "",
                audit["status"],
                " (%s)" % _join_counts(audit["counts"]) if audit.get("counts") else "",
            )
        lines.append(("  %-5s  %-*s  %s  %s" % (host["status"], width, name, running, detail)).rstrip())
    if report["counts"]:
        lines.append("findings by kind: %s" % _join_counts(report["counts"]))
    if report["redeploy"]:
        lines.append(
            "redeploy (older than the newest image): %s"
            % ", ".join(
                "%s (%s %s < %s)" % (r["host"], r["image"], r["version"], r["latest"])
                for r in report["redeploy"]
            )
        )
    elif report["latest"]:
        lines.append("redeploy: none (every host runs the newest image it was given)")
    return "\n".join(lines) + "\n"


class FilterModule(object):
    """basalt.fleet filters."""

    def filters(self):
        return {
            "verify_result": verify_result,
            "fleet_report": fleet_report,
            "fleet_summary": fleet_summary,
            "version_older": version_older,
        }
