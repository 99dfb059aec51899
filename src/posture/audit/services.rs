//! Family `services`: exactly the expected OpenRC services are enabled in each runlevel.

use super::CheckId;
use super::host::{Host, join_or_none};

impl Host<'_> {
    pub(super) fn services(&mut self) {
        let enabled = self.enabled.clone();
        for (service, levels) in &enabled {
            for level in levels {
                let allowed = self
                    .policy
                    .services
                    .get(level)
                    .is_some_and(|s| s.contains(service));
                if !allowed {
                    self.emit(
                        CheckId::ServiceNotInProfile,
                        &format!("/etc/runlevels/{level}/{service}"),
                        None,
                        format!("service `{service}` is enabled in runlevel `{level}`"),
                        format!(
                            "allowed in `{level}`: {}",
                            join_or_none(self.policy.services.get(level))
                        ),
                    );
                }
            }
        }
        if self.policy.require_services {
            let wanted = self.policy.services.clone();
            for (level, services) in &wanted {
                for service in services {
                    if !enabled.get(service).is_some_and(|l| l.contains(level)) {
                        self.emit(
                            CheckId::ServiceNotEnabled,
                            &format!("/etc/runlevels/{level}/{service}"),
                            None,
                            format!("service `{service}` is not enabled in runlevel `{level}`"),
                            format!("/etc/runlevels/{level}/{service} does not exist"),
                        );
                    }
                }
            }
        } else {
            self.skip(
                CheckId::ServiceNotEnabled,
                "no profile: the enabled services are not required",
            );
        }
    }
}
