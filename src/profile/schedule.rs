//! `[verify] every`: when a host verifies itself, as a named period or a cron expression in
//! the syntax busybox `crond` reads.
//!
//! Invariant: a [`Schedule`] holds a five-field expression that busybox `crond` accepts and
//! runs at least once a year: every field is `*`, a number, a range `A-B` or a list of those,
//! each optionally stepped (`*/15`, `0-30/10`), with numbers within the field's bounds;
//! months and weekdays may also be written by their three-letter English names.

use std::fmt;

use serde::Serialize;

/// Named periods and the expressions they stand for. The minutes are spread so that the
/// verifier does not start together with Alpine's own `/etc/periodic` jobs.
pub const NAMED: &[(&str, &str)] = &[
    ("15min", "7,22,37,52 * * * *"),
    ("hourly", "17 * * * *"),
    ("daily", "17 4 * * *"),
    ("weekly", "17 4 * * 0"),
    ("monthly", "17 4 1 * *"),
];

/// When the host verifies itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Schedule {
    /// As the profile writes it: a named period (`hourly`), or the expression with its fields
    /// separated by one space (`*/30 * * * *`).
    pub every: String,
    /// The five-field cron expression `crond` runs, fields separated by one space.
    pub cron: String,
}

/// Why a schedule was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScheduleError {
    /// What is wrong.
    pub message: String,
    /// How to write it instead.
    pub hint: String,
}

impl fmt::Display for ScheduleError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

struct Field {
    name: &'static str,
    min: u32,
    max: u32,
    names: &'static [&'static str],
}

const FIELDS: [Field; 5] = [
    Field {
        name: "minute",
        min: 0,
        max: 59,
        names: &[],
    },
    Field {
        name: "hour",
        min: 0,
        max: 23,
        names: &[],
    },
    Field {
        name: "day of month",
        min: 1,
        max: 31,
        names: &[],
    },
    Field {
        name: "month",
        min: 1,
        max: 12,
        names: &[
            "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
        ],
    },
    Field {
        name: "day of week",
        min: 0,
        max: 6,
        names: &["sun", "mon", "tue", "wed", "thu", "fri", "sat"],
    },
];

const SYNTAX_HINT: &str = "write `15min`, `hourly`, `daily`, `weekly`, `monthly`, or five cron fields \
     (minute hour day-of-month month day-of-week) such as `*/30 * * * *`";

impl Schedule {
    /// Parses a named period or a cron expression.
    ///
    /// # Errors
    /// A [`ScheduleError`] naming the field and the value that is wrong.
    pub fn parse(every: &str) -> Result<Schedule, ScheduleError> {
        let text = every.trim();
        if let Some((_, cron)) = NAMED.iter().find(|(name, _)| *name == text) {
            return Ok(Schedule {
                every: text.to_owned(),
                cron: (*cron).to_owned(),
            });
        }
        let fail = |message: String| ScheduleError {
            message,
            hint: SYNTAX_HINT.to_owned(),
        };
        if text.starts_with('@') {
            return Err(fail(format!(
                "`{text}` is not a schedule busybox crond understands"
            )));
        }
        let fields: Vec<&str> = text.split_ascii_whitespace().collect();
        if fields.len() != FIELDS.len() {
            let message = if fields.len() == 1 {
                format!("unknown schedule `{text}`")
            } else {
                format!(
                    "cron expression `{text}` has {} fields, not 5",
                    fields.len()
                )
            };
            return Err(fail(message));
        }
        let mut sets = Vec::with_capacity(FIELDS.len());
        for (value, field) in fields.iter().zip(&FIELDS) {
            let set = parse_field(value, field).map_err(|why| {
                fail(format!(
                    "invalid {} `{value}` in cron expression `{text}`: {why}",
                    field.name
                ))
            })?;
            sets.push(set);
        }
        // crond runs on a day that matches the day of month or the day of week when both are
        // restricted, and only on the days of month when the day of week is `*`: then some
        // selected month must have one of the selected days.
        if fields[4] == "*" {
            const DAYS_IN: [usize; 13] = [0, 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];
            let runs = (1..=12)
                .any(|month| sets[3][month] && (1..=DAYS_IN[month]).any(|day| sets[2][day]));
            if !runs {
                return Err(fail(format!(
                    "cron expression `{text}` never runs: no month in it has that day"
                )));
            }
        }
        let cron = fields.join(" ");
        Ok(Schedule {
            every: cron.clone(),
            cron,
        })
    }
}

/// The values a field selects, indexed by value (0 ..= max).
fn parse_field(value: &str, field: &Field) -> Result<Vec<bool>, String> {
    let mut set = vec![false; field.max as usize + 1];
    for item in value.split(',') {
        let (range, step) = match item.split_once('/') {
            Some((range, step)) => {
                let step: u32 = step
                    .parse()
                    .ok()
                    .filter(|s| *s >= 1 && *s <= field.max.max(1))
                    .ok_or_else(|| {
                        format!("step `{step}` is not a number from 1 to {}", field.max)
                    })?;
                (range, step)
            }
            None => (item, 1),
        };
        let (low, high) = if range == "*" {
            (field.min, field.max)
        } else if let Some((a, b)) = range.split_once('-') {
            let (a, b) = (number(a, field)?, number(b, field)?);
            if a > b {
                return Err(format!("range `{range}` runs backwards"));
            }
            (a, b)
        } else {
            let n = number(range, field)?;
            if step != 1 {
                // busybox reads `N/S` as `N-max/S`; say it explicitly instead.
                return Err(format!(
                    "write `{n}-{}/{step}` for a stepped range",
                    field.max
                ));
            }
            (n, n)
        };
        let mut v = low;
        while v <= high {
            set[v as usize] = true;
            v += step;
        }
    }
    Ok(set)
}

fn number(text: &str, field: &Field) -> Result<u32, String> {
    let lower = text.to_ascii_lowercase();
    if let Some(i) = field.names.iter().position(|n| *n == lower) {
        // Month names count from 1, weekday names from 0 (Sunday).
        return Ok(u32::try_from(i).unwrap_or(0) + field.min);
    }
    let bounds = || {
        format!(
            "`{text}` is not a number from {} to {}",
            field.min, field.max
        )
    };
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) || text.len() > 2 {
        return Err(bounds());
    }
    text.parse()
        .ok()
        .filter(|n| (field.min..=field.max).contains(n))
        .ok_or_else(bounds)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cron(s: &str) -> String {
        Schedule::parse(s).unwrap().cron
    }

    fn refused(s: &str) -> String {
        Schedule::parse(s).unwrap_err().message
    }

    #[test]
    fn named_periods_become_expressions() {
        assert_eq!(cron("hourly"), "17 * * * *");
        assert_eq!(cron("15min"), "7,22,37,52 * * * *");
        for (name, expr) in NAMED {
            assert_eq!(&cron(name), expr);
            // Every named expression is itself a valid expression.
            assert_eq!(&cron(expr), expr);
        }
    }

    #[test]
    fn expressions_in_busybox_syntax_are_accepted_and_normalised() {
        assert_eq!(cron("*/30  *\t* * *"), "*/30 * * * *");
        // Whatever separates the fields, the schedule is one line.
        let schedule = Schedule::parse("0\n*\n* * *").unwrap();
        assert_eq!(
            (schedule.every.as_str(), schedule.cron.as_str()),
            ("0 * * * *", "0 * * * *")
        );
        assert_eq!(cron("0 2 * * mon-fri"), "0 2 * * mon-fri");
        assert_eq!(
            cron("0-30/10 1,13 1-15 JAN,jul 0"),
            "0-30/10 1,13 1-15 JAN,jul 0"
        );
        assert_eq!(cron("* * * * *"), "* * * * *");
        assert_eq!(cron("0 0 31 jan *"), "0 0 31 jan *");
    }

    #[test]
    fn bad_expressions_name_the_field() {
        assert!(refused("60 * * * *").contains("invalid minute `60`"));
        assert!(refused("* 24 * * *").contains("invalid hour `24`"));
        assert!(refused("* * 0 * *").contains("invalid day of month `0`"));
        assert!(refused("* * * 13 *").contains("invalid month `13`"));
        assert!(refused("* * * * 7").contains("invalid day of week `7`"));
        assert!(refused("* * * foo *").contains("`foo` is not a number from 1 to 12"));
        assert!(refused("*/0 * * * *").contains("step `0`"));
        assert!(refused("5/10 * * * *").contains("write `5-59/10`"));
        assert!(refused("30-10 * * * *").contains("runs backwards"));
        assert!(refused("* * * *").contains("has 4 fields, not 5"));
        assert!(refused("houly").contains("unknown schedule `houly`"));
        assert!(refused("@hourly").contains("not a schedule busybox crond understands"));
        assert!(refused("0 0 30 feb *").contains("never runs"));
        assert!(refused("1,,2 * * * *").contains("invalid minute"));
        assert!(refused("-5 * * * *").contains("invalid minute"));
        assert!(refused("+5 * * * *").contains("invalid minute"));
        let err = Schedule::parse("houly").unwrap_err();
        assert!(err.hint.contains("`hourly`"), "{}", err.hint);
    }

    proptest::proptest! {
        #[test]
        fn parsing_never_panics(s in "\\PC{0,40}") {
            let _ = Schedule::parse(&s);
        }

        #[test]
        fn accepted_expressions_are_stable(s in "[0-9*/,a-z -]{0,30}") {
            if let Ok(schedule) = Schedule::parse(&s) {
                proptest::prop_assert_eq!(Schedule::parse(&schedule.cron).unwrap().cron, schedule.cron);
            }
        }
    }
}
