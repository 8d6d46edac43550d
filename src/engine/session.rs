//! One run start-up, shared by every run made on the same data (a sweep's range tests, the range
//! test of `--max-lr auto` and the training after it): this rank's device prepared, the data
//! loaded once (rank 0 first when it may download), and the stop signals listened for. It is also
//! where "rank 0 alone" is decided for the runs: the lines it says, the folder it holds.

use super::Learner;
use crate::config::{Config, DataSettings};
use crate::data::{self, Data};
use crate::dist::Dist;
use crate::error::UsageError;
use crate::runtime::{device, signals};
use anyhow::Result;
use std::rc::Rc;
use tch::Device;

/// The device, the data and the ranks that one or several runs share.
pub struct Session {
    device: Device,
    data: Data,
    dist: Rc<Dist>,
    /// Whether this process draws progress (rank 0, and only when asked).
    progress: bool,
}

impl Session {
    /// This rank's device (`config.run`, or the rank's own GPU) and the data of `config.data`,
    /// with a progress bar for the download when `progress`. Nothing is written: a run that
    /// cannot start leaves no folder behind.
    pub fn start(config: &Config, dist: Rc<Dist>, progress: bool) -> Result<Session> {
        let device = device::prepare(&dist.rank_settings(&config.run))?;
        let data = load_data(&config.data, config.run.seed, device, progress, &dist)?;
        // An image folder's size is known once it is read: the network must take it.
        config.model.net(data.classes, data.image_size).check()?;
        let progress = progress && dist.is_primary();
        Ok(Session { device, data, dist, progress })
    }

    /// A process alone, without progress (the benchmark).
    pub fn alone(config: &Config) -> Result<Session> {
        Session::start(config, Rc::new(Dist::single()), false)
    }

    pub fn device(&self) -> Device {
        self.device
    }

    pub fn data(&self) -> &Data {
        &self.data
    }

    pub fn dist(&self) -> &Rc<Dist> {
        &self.dist
    }

    /// `config` as a run on this data records it in its config.json: with the names of the data's
    /// classes, when it has them.
    pub fn recorded(&self, config: &Config) -> Config {
        config.with_class_names(self.data.class_names.as_deref())
    }

    /// Whether a run of this session draws a progress bar (never on ranks other than 0).
    pub fn progress(&self) -> bool {
        self.progress
    }

    /// A freshly initialised model for `config` on this data, one replica of the session's ranks
    /// (its values are its own until `Learner::copy_from_root`). The initialisation is a function
    /// of `config.run.seed`: runs with the same seed start from the same weights.
    pub fn learner(&self, config: &Config) -> Learner {
        let shape = (self.data.classes, self.data.image_size);
        Learner::sized(&config.model, &config.run, shape, self.device).in_group(Rc::clone(&self.dist))
    }

    /// Listen for Ctrl-C and SIGTERM from now on (once per process); a stop's notice says `what`
    /// the command does next.
    pub fn listen(&self, what: &'static str) {
        signals::set_notice(what);
        signals::install();
    }

    /// A line for the user, said once: by rank 0.
    pub fn say(&self, line: &str) {
        if self.dist.is_primary() {
            eprintln!("{line}");
        }
    }

    /// Rank 0 does what only it does (take a run folder, write its first files); the others
    /// learn whether it succeeded: its value on rank 0, None on the others (see `Dist::on_root`).
    pub fn on_root<T>(&self, on_root: impl FnOnce() -> Result<T>) -> Result<Option<T>> {
        self.dist.on_root(on_root)
    }

    /// "cpu" alone, "cpu, rank 0 of 2 (gloo)" on several processes: where a run trains, for logs.
    pub fn describe(&self) -> String {
        let device = device::name(self.device);
        match self.dist.backend() {
            Some(backend) => format!("{device}, rank {} of {} ({backend})", self.dist.rank(), self.dist.world_size()),
            None => device,
        }
    }
}

/// The data of a run on every rank. When it may have to be downloaded (or an image folder's
/// cache built), rank 0 loads it first (downloading or building once) while the others wait, then
/// they read the files it left (they never download); rank 0's failure is theirs. Generated or
/// local data loads on every rank at once.
fn load_data(settings: &DataSettings, seed: u64, device: Device, progress: bool, dist: &Dist) -> Result<Data> {
    if !dist.is_distributed() || !data::may_write(settings) {
        return Data::load(settings, seed, device, progress && dist.is_primary());
    }
    if let Some(data) = dist.on_root(|| Data::load(settings, seed, device, progress))? {
        return Ok(data);
    }
    let local = DataSettings { no_download: true, ..settings.clone() };
    Data::load(&local, seed, device, false).map_err(|e| {
        let message = format!(
            "rank {} cannot read the data that rank 0 found or downloaded in --data-dir {}: a rank on another host \
             needs that folder on a shared file system, or `clr download` run there first ({e:#})",
            dist.rank(),
            settings.data_dir.display()
        );
        if crate::error::holds::<UsageError>(&e) {
            UsageError::new(message).into()
        } else {
            anyhow::anyhow!(message)
        }
    })
}
