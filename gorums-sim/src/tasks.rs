//! The task table: every spawned future with its process and its waker, and the
//! [`ReadyQueue`] wakers put tasks on. Polling them is the executor's job; this module
//! only keeps them.

use std::collections::{BTreeMap, VecDeque};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Wake, Waker};

use gorums_core::runtime::BoxFuture;

use crate::events::Event;
use crate::ids::{ProcessId, TaskId};
use crate::kernel::{Garbage, Kernel};
use crate::trace::Note;

/// Tasks woken and waiting for a poll, in wake order (the scheduler picks among them).
#[derive(Default)]
pub(crate) struct ReadyQueue {
    queue: Mutex<VecDeque<TaskId>>,
}

impl ReadyQueue {
    /// Queues task `id` for a poll.
    pub(crate) fn push(&self, id: TaskId) {
        self.queue
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push_back(id);
    }

    /// The task `pick` takes out of the queue, if any is queued.
    pub(crate) fn pop_with(
        &self,
        pick: impl FnOnce(&mut VecDeque<TaskId>) -> Option<TaskId>,
    ) -> Option<TaskId> {
        let mut queue = self.queue.lock().unwrap_or_else(|p| p.into_inner());
        if queue.is_empty() {
            return None;
        }
        pick(&mut queue)
    }

    /// Forgets every queued task.
    pub(crate) fn clear(&self) {
        self.queue.lock().unwrap_or_else(|p| p.into_inner()).clear();
    }
}

/// A task's waker: puts the task on the ready queue once until it is polled again.
struct TaskWaker {
    id: TaskId,
    queued: AtomicBool,
    ready: Arc<ReadyQueue>,
}

impl Wake for TaskWaker {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        if !self.queued.swap(true, Ordering::AcqRel) {
            self.ready.push(self.id);
        }
    }
}

/// One spawned future; `fut` is `None` while the executor polls it.
struct Task {
    pid: ProcessId,
    fut: Option<BoxFuture<'static, ()>>,
    waker: Arc<TaskWaker>,
}

/// Every live task, by id.
pub(crate) struct Tasks {
    tasks: BTreeMap<TaskId, Task>,
    next: TaskId,
    ready: Arc<ReadyQueue>,
}

impl Tasks {
    /// No tasks; their wakers will queue them on `ready`.
    pub(crate) fn new(ready: Arc<ReadyQueue>) -> Tasks {
        Tasks {
            tasks: BTreeMap::new(),
            next: 0,
            ready,
        }
    }

    /// The queue this table's wakers push to.
    pub(crate) fn ready(&self) -> &ReadyQueue {
        &self.ready
    }

    /// Whether no task is left.
    pub(crate) fn is_empty(&self) -> bool {
        self.tasks.is_empty()
    }

    /// Adds a task of `pid` and queues its first poll; a task of a dead incarnation is
    /// dropped instead.
    pub(crate) fn spawn(
        &mut self,
        k: &mut Kernel,
        pid: ProcessId,
        incarnation: u64,
        fut: BoxFuture<'static, ()>,
    ) {
        if !k.is_current(pid, incarnation) {
            k.garbage.push(Box::new(fut));
            return;
        }
        let id = self.next;
        self.next += 1;
        let waker = Arc::new(TaskWaker {
            id,
            queued: AtomicBool::new(true),
            ready: self.ready.clone(),
        });
        self.tasks.insert(
            id,
            Task {
                pid,
                fut: Some(fut),
                waker,
            },
        );
        self.ready.push(id);
        k.note(Note::Spawn, pid, id, 0);
    }

    /// Takes task `id`'s future out for a poll, with its waker. `None` if the task is
    /// gone, already out, or its process is paused (then it waits in the process's
    /// deferred list).
    pub(crate) fn take_for_poll(
        &mut self,
        k: &mut Kernel,
        id: TaskId,
    ) -> Option<(BoxFuture<'static, ()>, Waker)> {
        let task = self.tasks.get_mut(&id)?;
        let pid = task.pid;
        if k.procs.get(pid.0).is_some_and(|p| p.paused) {
            k.procs[pid.0].deferred.push(id);
            return None;
        }
        task.waker.queued.store(false, Ordering::Release);
        let waker = Waker::from(task.waker.clone());
        if let Some(proc) = k.procs.get_mut(pid.0).filter(|_| k.cpu_per_poll > 0) {
            if proc.busy_until > k.now {
                // Still busy with an earlier poll: come back when the CPU is free.
                let at = proc.busy_until;
                k.schedule(at, Event::Wake(waker));
                return None;
            }
            proc.busy_until = k.now + k.cpu_per_poll;
        }
        let fut = task.fut.take()?;
        k.note(Note::Poll, pid, id, 0);
        Some((fut, waker))
    }

    /// Hands back a polled future: a finished task is removed, an unfinished one keeps
    /// its future. Returns what the caller must drop outside the lock (the finished
    /// future, or one whose task went away while it was polled).
    pub(crate) fn put_back(
        &mut self,
        id: TaskId,
        fut: BoxFuture<'static, ()>,
        done: bool,
    ) -> Option<BoxFuture<'static, ()>> {
        if done {
            self.tasks.remove(&id);
            return Some(fut);
        }
        match self.tasks.get_mut(&id) {
            Some(task) => {
                task.fut = Some(fut);
                None
            }
            None => Some(fut),
        }
    }

    /// Drops every task of `pid` (into the kernel's garbage).
    pub(crate) fn drop_process(&mut self, k: &mut Kernel, pid: ProcessId) {
        let ids: Vec<TaskId> = self
            .tasks
            .iter()
            .filter(|(_, t)| t.pid == pid)
            .map(|(id, _)| *id)
            .collect();
        for id in ids {
            if let Some(task) = self.tasks.remove(&id) {
                k.garbage.push(Box::new(task.fut));
            }
        }
    }

    /// Takes every task's future into `out`.
    pub(crate) fn take_all(&mut self, out: &mut Vec<Garbage>) {
        for (_, task) in std::mem::take(&mut self.tasks) {
            out.push(Box::new(task.fut));
        }
    }
}
