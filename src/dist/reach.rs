//! Waiting for the TCPStore's host to accept connections, within a deadline.
//!
//! c10d's TCPStore client spends its whole timeout on each connection attempt and then retries
//! after a back-off, so an unreachable master fails only after twice the timeout and more. This
//! check fails at the timeout; once it passes, the store's own connection succeeds at once.

use std::net::{TcpStream, ToSocketAddrs};
use std::time::{Duration, Instant};

/// Pause between attempts while the master is not up yet (ranks often start before rank 0).
const RETRY: Duration = Duration::from_millis(100);
/// One connection attempt at most; a host that drops packets is tried again after this.
const ATTEMPT: Duration = Duration::from_secs(1);

/// Return once something accepts TCP connections on `host:port`, or an error saying what the
/// last attempt met, once `timeout` has passed.
pub fn wait_until_listening(host: &str, port: u16, timeout: Duration) -> Result<(), String> {
    wait_then(host, port, timeout, &mut || {})
}

/// [`wait_until_listening`], calling `refused` after each round of attempts that failed (tests
/// open the port then, and count the rounds).
fn wait_then(host: &str, port: u16, timeout: Duration, refused: &mut dyn FnMut()) -> Result<(), String> {
    let deadline = Instant::now() + timeout;
    loop {
        let last_error = match (host, port).to_socket_addrs() {
            Ok(addrs) => {
                let mut last = String::from("the name resolves to no address");
                for addr in addrs {
                    let left =
                        deadline.saturating_duration_since(Instant::now()).clamp(Duration::from_millis(10), ATTEMPT);
                    match TcpStream::connect_timeout(&addr, left) {
                        Ok(_) => return Ok(()),
                        Err(e) => last = e.to_string(),
                    }
                }
                last
            }
            Err(e) => format!("cannot resolve '{host}': {e}"),
        };
        refused();
        if Instant::now() + RETRY >= deadline {
            return Err(format!("nothing accepted a connection within {timeout:?} ({last_error})"));
        }
        std::thread::sleep(RETRY);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// How much a loaded machine may add to a wait without it being a fault: the bounds below
    /// catch a wait that never ends, not a slow scheduler.
    const SLACK: Duration = Duration::from_secs(30);

    #[test]
    fn a_listening_port_is_reached_at_once() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let mut rounds = 0;
        for host in ["127.0.0.1", "localhost"] {
            wait_then(host, port, Duration::from_secs(60), &mut || rounds += 1).unwrap();
        }
        assert_eq!(rounds, 0, "the first attempt connects: no wait");
    }

    #[test]
    fn a_closed_port_fails_at_the_timeout() {
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let start = Instant::now();
        let mut rounds = 0;
        let e = wait_then("127.0.0.1", port, Duration::from_millis(700), &mut || rounds += 1).unwrap_err();
        let took = start.elapsed();
        assert!(took >= Duration::from_millis(550), "gave up before the timeout: {took:?}");
        assert!(took < Duration::from_millis(700) + SLACK, "{took:?}");
        assert!(rounds >= 2, "it tried again while the timeout lasted ({rounds} rounds)");
        assert!(e.starts_with("nothing accepted a connection within 700ms ("), "{e}");
        assert!(e.to_lowercase().contains("refused"), "{e}");
    }

    #[test]
    fn a_port_that_opens_late_is_reached() {
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        // The port opens once an attempt has been refused: the wait has really begun.
        let (mut rounds, mut listener) = (0, None);
        let opened = wait_then("127.0.0.1", port, SLACK, &mut || {
            rounds += 1;
            listener.get_or_insert_with(|| std::net::TcpListener::bind(("127.0.0.1", port)).unwrap());
        });
        opened.unwrap();
        assert_eq!(rounds, 1, "refused once, then reached");
    }
}
