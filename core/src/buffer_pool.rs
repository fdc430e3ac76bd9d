//! Recycled pixel buffers for tensor pictures.
//!
//! A 416x416x3 picture is half a megabyte; allocating one per frame costs page faults and a
//! fill every time. Each camera owns a [`BufferPool`]; a [`PlaneBuffer`] taken from it goes back
//! when the frame that holds it is dropped, wherever that happens. The pool keeps at most
//! `capacity` idle buffers and simply frees the rest, so it is bounded.

use std::ops::{Deref, DerefMut};
use std::sync::{Arc, Mutex, Weak};

/// Idle buffers of one camera.
#[derive(Debug)]
pub struct BufferPool {
    idle: Mutex<Vec<Vec<u8>>>,
    capacity: usize,
}

impl BufferPool {
    pub fn new(capacity: usize) -> Arc<Self> {
        Arc::new(Self {
            idle: Mutex::new(Vec::new()),
            capacity,
        })
    }

    /// An idle buffer (contents unspecified), or a new empty one.
    pub fn take(self: &Arc<Self>) -> PlaneBuffer {
        let bytes = self
            .idle
            .lock()
            .map(|mut idle| idle.pop())
            .unwrap_or(None)
            .unwrap_or_default();
        PlaneBuffer {
            bytes,
            home: Some(Arc::downgrade(self)),
        }
    }

    pub fn idle(&self) -> usize {
        self.idle.lock().map(|idle| idle.len()).unwrap_or(0)
    }

    fn give_back(&self, bytes: Vec<u8>) {
        if let Ok(mut idle) = self.idle.lock() {
            if idle.len() < self.capacity {
                idle.push(bytes);
            }
        }
    }
}

/// Bytes that return to their pool when dropped.
#[derive(Debug, Default)]
pub struct PlaneBuffer {
    bytes: Vec<u8>,
    home: Option<Weak<BufferPool>>,
}

impl PlaneBuffer {
    /// A buffer that belongs to no pool.
    pub fn unpooled(bytes: Vec<u8>) -> Self {
        Self { bytes, home: None }
    }

    /// The underlying vector, for writers that resize it.
    pub fn as_vec_mut(&mut self) -> &mut Vec<u8> {
        &mut self.bytes
    }
}

impl Deref for PlaneBuffer {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        &self.bytes
    }
}

impl DerefMut for PlaneBuffer {
    fn deref_mut(&mut self) -> &mut [u8] {
        &mut self.bytes
    }
}

impl Clone for PlaneBuffer {
    /// A copy; the copy does not return to the pool.
    fn clone(&self) -> Self {
        Self::unpooled(self.bytes.clone())
    }
}

impl PartialEq for PlaneBuffer {
    fn eq(&self, other: &Self) -> bool {
        self.bytes == other.bytes
    }
}

impl Drop for PlaneBuffer {
    fn drop(&mut self) {
        if let Some(pool) = self.home.take().and_then(|home| home.upgrade()) {
            pool.give_back(std::mem::take(&mut self.bytes));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dropped_buffers_return_and_the_pool_stays_bounded() {
        let pool = BufferPool::new(2);
        let mut first = pool.take();
        first.as_vec_mut().resize(1000, 7);
        let address = first.as_ptr();
        drop(first);
        assert_eq!(pool.idle(), 1);
        let again = pool.take();
        assert_eq!(again.as_ptr(), address, "the same allocation is reused");
        assert_eq!(again.len(), 1000);
        let (b, c, d) = (pool.take(), pool.take(), pool.take());
        drop((again, b, c, d));
        assert_eq!(pool.idle(), 2);
    }

    #[test]
    fn buffers_outliving_their_pool_keep_their_data_and_are_simply_freed() {
        let pool = BufferPool::new(2);
        let mut buffer = pool.take();
        buffer.as_vec_mut().extend_from_slice(&[1, 2, 3]);
        let home = Arc::downgrade(&pool);
        drop(pool);
        assert!(home.upgrade().is_none(), "the pool is gone");
        assert_eq!(&buffer[..], &[1, 2, 3], "the frame's pixels are intact");
        // Dropping now returns it nowhere (and does not panic); a new pool starts empty.
        drop(buffer);
        assert_eq!(BufferPool::new(2).idle(), 0);
    }
}
