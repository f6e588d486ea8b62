package socket

// Switchboard patch (see PATCHES.md): a socket's task queue that runs a packet's task on the
// goroutine that decoded it when nothing is queued before it.

import (
	"runtime/debug"
	"sync"
)

// taskQueue runs a socket's tasks one at a time, in the order they were queued, as upstream's
// queue.Queue does. Enqueue hands a task to a worker goroutine, started when the queue goes
// from idle to busy and gone when it is idle again. Run, for a packet's task, runs the task on
// the caller's goroutine (the connection's reader) when the queue is idle, then whatever was
// queued meanwhile: upstream started a goroutine for every packet that found the queue idle,
// which then grew its stack through the event's handler (a broadcast, a store's queue), a
// goroutine start, a scheduler wake and a stack copy per event. The reader waits for the
// task, as Node's event loop runs a packet's handlers before it reads the next one.
type taskQueue struct {
	mu           sync.Mutex
	tasks        []func()
	running      bool
	shuttingDown bool
}

// Enqueue queues task for the worker.
func (q *taskQueue) Enqueue(task func()) {
	if !q.push(task) {
		return
	}
	go q.drain(task)
}

// Run runs task here when the queue is idle, and queues it otherwise.
func (q *taskQueue) Run(task func()) {
	if !q.push(task) {
		return
	}
	q.drain(task)
}

// push takes task: when the queue is idle it marks it busy and reports true (the caller runs
// task, then drains); otherwise it queues task behind the one running (false). A nil task or
// a closed queue is refused (false).
func (q *taskQueue) push(task func()) bool {
	if task == nil {
		return false
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.shuttingDown {
		return false
	}
	if q.running {
		q.tasks = append(q.tasks, task)
		return false
	}
	q.running = true
	return true
}

// drain runs task, then every task queued meanwhile, until the queue is empty.
func (q *taskQueue) drain(task func()) {
	for {
		execute(task)
		q.mu.Lock()
		if len(q.tasks) == 0 {
			q.tasks = nil
			q.running = false
			q.mu.Unlock()
			return
		}
		task = q.tasks[0]
		q.tasks[0] = nil
		q.tasks = q.tasks[1:]
		q.mu.Unlock()
	}
}

// TryClose refuses further tasks; those queued still run.
func (q *taskQueue) TryClose() {
	q.mu.Lock()
	q.shuttingDown = true
	q.mu.Unlock()
}

// execute runs task, logging a panic instead of crashing the server.
func execute(task func()) {
	defer func() {
		if r := recover(); r != nil {
			socketLog.Error("queue task panic recovered: %v\n%s", r, debug.Stack())
		}
	}()
	task()
}
