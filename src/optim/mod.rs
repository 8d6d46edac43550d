//! How the weights move: SGD with momentum on one flat buffer (`sgd`), and the learning-rate and
//! momentum schedules that drive it (`schedule`, pure). To add a policy: a variant of
//! [`schedule::Policy`], its checks in `ScheduleConfig::validate` and its shape in `Schedule::new`.

pub mod schedule;
pub mod sgd;
