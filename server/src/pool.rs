//! Store connections for request handlers: taken from a small idle pool, opened on demand,
//! and dropped after an error (the connection may be what broke).

use roadsight_store::{EventStore, StoreError};
use std::sync::Mutex;

pub(crate) struct StorePool {
    url: String,
    idle: Mutex<Vec<Box<dyn EventStore>>>,
    max_idle: usize,
}

impl StorePool {
    /// A pool over `url`; opens one connection now so a bad URL fails at start.
    pub(crate) fn new(url: &str, max_idle: usize) -> Result<StorePool, StoreError> {
        let first = roadsight_store::open(url)?;
        Ok(StorePool {
            url: url.to_string(),
            idle: Mutex::new(vec![first]),
            max_idle,
        })
    }

    /// Runs `work` on a connection (blocking: call it from a blocking task).
    pub(crate) fn with<T>(
        &self,
        work: impl FnOnce(&mut dyn EventStore) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let taken = self.idle.lock().ok().and_then(|mut idle| idle.pop());
        let mut store = match taken {
            Some(store) => store,
            None => roadsight_store::open(&self.url)?,
        };
        let result = work(store.as_mut());
        if result.is_ok() {
            if let Ok(mut idle) = self.idle.lock() {
                if idle.len() < self.max_idle {
                    idle.push(store);
                }
            }
        }
        result
    }
}
