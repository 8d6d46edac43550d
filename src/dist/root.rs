//! What rank 0 decides, every rank learns: rank 0 does what only it does (take the run folder,
//! read a checkpoint, download the data) and sends the outcome to the others, its value or its
//! error, so that all ranks continue with the same value or all fail (the others saying that rank 0
//! failed, with its message) instead of waiting in a collective rank 0 never reaches. Values travel
//! as JSON over two broadcasts (a header, then the bytes).

use super::context::Dist;
use crate::error::UsageError;
use anyhow::{anyhow, bail, Result};
use serde::{de::DeserializeOwned, Serialize};
use tch::{Device, Kind, Tensor};

/// Header codes of a value sent by rank 0.
const SENT_OK: i64 = 0;
const SENT_ERROR: i64 = 1;
const SENT_USAGE_ERROR: i64 = 2;

impl Dist {
    /// Rank 0 computes `on_root`: the first part of its value stays on rank 0, the second is sent
    /// to every rank. Returns (the first part on rank 0, None on the others; the second on every
    /// rank), or rank 0's error on every rank.
    pub fn split_from_root<K, S>(&self, on_root: impl FnOnce() -> Result<(K, S)>) -> Result<(Option<K>, S)>
    where
        S: Serialize + DeserializeOwned,
    {
        if !self.is_primary() {
            return Ok((None, self.receive()?));
        }
        let value = on_root();
        self.publish(value.as_ref().map(|(_, shared)| shared))?;
        value.map(|(own, shared)| (Some(own), shared))
    }

    /// Rank 0 does what only it does and tells the others whether it succeeded: its value on
    /// rank 0, None on the others; rank 0's failure is every rank's.
    pub fn on_root<T>(&self, on_root: impl FnOnce() -> Result<T>) -> Result<Option<T>> {
        Ok(self.split_from_root(|| on_root().map(|v| (v, ())))?.0)
    }

    /// Rank 0's side: send `value`, or the error in its place.
    fn publish<T: Serialize>(&self, value: Result<&T, &anyhow::Error>) -> Result<()> {
        if !self.is_distributed() {
            return Ok(());
        }
        let (code, bytes) = match value {
            Ok(v) => (SENT_OK, serde_json::to_vec(v)?),
            Err(e) if crate::error::holds::<UsageError>(e) => (SENT_USAGE_ERROR, e.to_string().into_bytes()),
            Err(e) => (SENT_ERROR, format!("{e:#}").into_bytes()),
        };
        self.send_bytes(code, bytes)
    }

    /// The other ranks' side: rank 0's value, or its error (a usage error when it was one).
    fn receive<T: DeserializeOwned>(&self) -> Result<T> {
        let (code, bytes) = self.receive_bytes()?;
        let text = || String::from_utf8_lossy(&bytes).into_owned();
        match code {
            SENT_OK => Ok(serde_json::from_slice(&bytes)?),
            SENT_USAGE_ERROR => Err(UsageError::new(format!("rank 0 stopped the run: {}", text())).into()),
            _ => bail!("rank 0 stopped the run: {}", text()),
        }
    }

    fn send_bytes(&self, code: i64, bytes: Vec<u8>) -> Result<()> {
        let mut header = Tensor::from_slice(&[code, bytes.len() as i64]);
        self.broadcast(&mut header)?;
        if bytes.is_empty() {
            return Ok(());
        }
        let mut payload = Tensor::from_slice(&bytes);
        self.broadcast(&mut payload)
    }

    fn receive_bytes(&self) -> Result<(i64, Vec<u8>)> {
        if !self.is_distributed() {
            bail!("receive: a process alone has no rank 0 to receive from");
        }
        let mut header = Tensor::zeros([2], (Kind::Int64, Device::Cpu));
        self.broadcast(&mut header)?;
        let header: Vec<i64> = Vec::try_from(&header)?;
        let len = usize::try_from(header[1]).map_err(|_| anyhow!("rank 0 sent a negative length"))?;
        if len == 0 {
            return Ok((header[0], Vec::new()));
        }
        let mut payload = Tensor::zeros([len as i64], (Kind::Uint8, Device::Cpu));
        self.broadcast(&mut payload)?;
        Ok((header[0], Vec::try_from(&payload)?))
    }
}
