//! CPU-heavy request work (hashing passwords, decoding images, rendering Markdown, parsing uploads,
//! building exports) off the async threads, a bounded number of jobs at a time: a burst of expensive
//! requests then waits its turn instead of stalling every other request or multiplying memory.

use std::sync::LazyLock;

use tokio::sync::Semaphore;
use tokio::task::JoinError;

/// A queue in front of the blocking thread pool for one kind of work.
pub struct Lane {
    permits: LazyLock<Semaphore>,
}

impl Lane {
    /// As many jobs at once as the machine has CPU cores.
    pub const fn per_core() -> Lane {
        Lane {
            permits: LazyLock::new(per_core_semaphore),
        }
    }

    /// Runs `work` on the blocking pool once a permit is free. The job holds its permit until it ends, even if
    /// the caller stops waiting (a client that hangs up), so abandoned work still counts against the limit.
    pub async fn run<T, F>(&'static self, work: F) -> Result<T, JoinError>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        let permit = self
            .permits
            .acquire()
            .await
            .expect("the semaphore is never closed");
        tokio::task::spawn_blocking(move || {
            let _permit = permit;
            work()
        })
        .await
    }
}

fn per_core_semaphore() -> Semaphore {
    Semaphore::new(std::thread::available_parallelism().map_or(1, |n| n.get()))
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    use super::*;

    static LANE: Lane = Lane::per_core();

    #[tokio::test]
    async fn no_more_jobs_run_at_once_than_there_are_cores() {
        static RUNNING: AtomicUsize = AtomicUsize::new(0);
        static MOST: AtomicUsize = AtomicUsize::new(0);
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        let jobs: Vec<_> = (0..cores * 3)
            .map(|_| {
                tokio::spawn(LANE.run(|| {
                    let now = RUNNING.fetch_add(1, Ordering::SeqCst) + 1;
                    MOST.fetch_max(now, Ordering::SeqCst);
                    std::thread::sleep(Duration::from_millis(20));
                    RUNNING.fetch_sub(1, Ordering::SeqCst);
                }))
            })
            .collect();
        for j in jobs {
            j.await.unwrap().unwrap();
        }
        let most = MOST.load(Ordering::SeqCst);
        assert!(
            (1..=cores).contains(&most),
            "{most} jobs ran at once on {cores} cores"
        );
    }
}
