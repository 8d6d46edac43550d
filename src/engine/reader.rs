//! The one place that reads what the steps computed and decides, with the other ranks, whether to
//! stop. A step's loss and correct count stay on the device (reading a value synchronises it), so
//! they are read in groups: every [`READ_EVERY`] steps, at the caller's last step, and at once when
//! a process alone is asked to stop (Ctrl-C, SIGTERM). On several processes the group is summed
//! over the ranks in one all-reduce together with each rank's stop request, so that every rank
//! logs the same values, stops at the same step and exits with the same status.
//!
//! The trainer, the range test and a sweep between its values all stop through here.

use crate::dist::Dist;
use crate::runtime::signals;
use anyhow::Result;
use std::rc::Rc;
use tch::{Device, Kind, Tensor};

/// Steps between reads of the losses (each read waits for the device, and for the other ranks).
pub const READ_EVERY: usize = 10;

/// A pushed item with its loss and correct count, read (summed over the ranks).
pub type Read<T> = (T, f64, f64);

/// The pending steps of a loop, each with what the caller needs to record it, and the stop the
/// ranks agreed on.
pub struct Reader<T> {
    dist: Rc<Dist>,
    every: usize,
    items: Vec<(T, Tensor, Tensor)>,
    stop: Option<i32>,
}

impl<T> Reader<T> {
    /// A reader for the ranks of `dist` that reads every [`READ_EVERY`] steps.
    pub fn new(dist: Rc<Dist>) -> Reader<T> {
        Reader { dist, every: READ_EVERY, items: Vec::new(), stop: None }
    }

    /// The same, reading every `every` steps (tests compare groups of different sizes).
    pub fn every(self, every: usize) -> Reader<T> {
        Reader { every: every.max(1), ..self }
    }

    /// Add a step's values (this rank's parts of the global batch's, as the learner's step returns
    /// them). When it is time to read (`last`: the caller's last step), every pending item with
    /// its values, in order; then [`Reader::stop`] is what the ranks agreed on. Every rank must
    /// push the same steps.
    pub fn push(&mut self, item: T, loss: Tensor, correct: Tensor, last: bool) -> Result<Option<Vec<Read<T>>>> {
        self.items.push((item, loss, correct));
        let asked = signals::received();
        let alone_and_asked = asked.is_some() && !self.dist.is_distributed();
        if self.items.len() < self.every && !last && !alone_and_asked {
            return Ok(None);
        }
        let (values, stop) = read(&self.dist, asked, &self.items)?;
        self.stop = stop;
        let n = self.items.len();
        Ok(Some(self.items.drain(..).enumerate().map(|(i, (item, _, _))| (item, values[i], values[n + i])).collect()))
    }

    /// The stop the ranks agreed on at the last read (the signal: SIGINT or SIGTERM).
    pub fn stop(&self) -> Option<i32> {
        self.stop
    }

    /// Whether to stop now: agreed at the last read, or, alone, asked for since.
    pub fn stop_requested(&self) -> bool {
        self.stop.is_some() || (!self.dist.is_distributed() && signals::requested())
    }
}

/// The stop the ranks agree on now, outside a loop (a sweep between its values): one all-reduce
/// of their requests, adopted by this process (see [`signals::agree`]).
pub fn agreed_stop(dist: &Dist) -> Result<Option<i32>> {
    Ok(read::<()>(dist, signals::received(), &[])?.1)
}

/// The losses, then the correct counts of `items` as doubles on the CPU, each summed over the
/// ranks, and the stop the ranks agree on given this one's request `asked`: one transfer, and on
/// several processes one all-reduce.
fn read<T>(dist: &Dist, asked: Option<i32>, items: &[(T, Tensor, Tensor)]) -> Result<(Vec<f64>, Option<i32>)> {
    let device = items.first().map_or(Device::Cpu, |p| p.1.device());
    let as_one = |t: &Tensor| t.to_kind(Kind::Double).reshape([1]);
    let mut all: Vec<Tensor> = items.iter().map(|p| as_one(&p.1)).collect();
    all.extend(items.iter().map(|p| as_one(&p.2)));
    if !dist.is_distributed() {
        let values =
            if all.is_empty() { Vec::new() } else { Vec::try_from(Tensor::cat(&all, 0).to_device(Device::Cpu))? };
        return Ok((values, asked));
    }
    all.push(Tensor::from(signals::flag(asked)).to_kind(Kind::Double).reshape([1]).to_device(device));
    let mut values = Tensor::cat(&all, 0);
    dist.all_reduce_sum(&mut values)?;
    let mut values: Vec<f64> = Vec::try_from(values.to_device(Device::Cpu))?;
    let stop = signals::agree(values.pop().expect("the flag at least"));
    Ok((values, stop))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scalar(v: f64) -> Tensor {
        Tensor::from(v).to_kind(Kind::Float)
    }

    #[test]
    fn alone_values_are_read_in_groups_and_at_the_last_step() {
        let mut reader = Reader::new(Rc::new(Dist::single())).every(4);
        let mut reads = Vec::new();
        for i in 0..10u64 {
            if let Some(rows) = reader.push(i, scalar(i as f64 / 2.0), scalar(i as f64), i == 9).unwrap() {
                reads.push(rows);
            }
        }
        let sizes: Vec<usize> = reads.iter().map(Vec::len).collect();
        assert_eq!(sizes, [4, 4, 2], "every 4 steps, and the rest at the last one");
        let all: Vec<Read<u64>> = reads.into_iter().flatten().collect();
        assert_eq!(all.len(), 10);
        assert!(all.iter().enumerate().all(|(i, r)| *r == (i as u64, i as f64 / 2.0, i as f64)), "{all:?}");
        assert_eq!(reader.stop(), None);
        assert_eq!(agreed_stop(&Dist::single()).unwrap(), None);
    }
}
