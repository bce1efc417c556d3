import CSottoShims
import Foundation
import Synchronization

/// Work a request hands off so that its reply does not wait for it: a queue drained by one
/// background thread, started on first use and living as long as the daemon. Bounded: what does
/// not fit is handed back to the caller.
final class BackgroundQueue<Item>: @unchecked Sendable {
    private let name: String
    private let limit: Int
    private let handle: (Item) -> Void
    private let changed = NSCondition()
    private var queue: [Item] = []
    private var worker: Thread?
    /// Items taken so far, and items handled: equal when nothing is waiting or in hand.
    private var taken = 0, handled = 0
    /// `taken - handled`, readable without the lock (a WRITE asks it: no lock on that path).
    private let unhandled = Atomic<Int>(0)

    init(name: String, limit: Int, handle: @escaping (Item) -> Void) {
        self.name = name
        self.limit = limit
        self.handle = handle
    }

    /// Queues what fits under the limit; returns the rest, for the caller to handle or drop.
    @discardableResult
    func add(_ items: some Sequence<Item>) -> [Item] {
        changed.lock()
        defer { changed.unlock() }
        var rest: [Item] = []
        let before = queue.count
        for item in items {
            if queue.count < limit { queue.append(item) } else { rest.append(item) }
        }
        guard queue.count > before else { return rest }
        taken += queue.count - before
        unhandled.add(queue.count - before, ordering: .releasing)
        if worker == nil {
            let t = Thread { [self] in
                Thread.setSystemName(name)
                work()
            }
            worker = t
            t.start()
        }
        changed.signal()
        return rest
    }

    /// Whether something taken is not handled yet (or was, a moment ago).
    var busy: Bool { unhandled.load(ordering: .acquiring) > 0 }

    /// Returns once everything taken before the call is handled.
    func waitUntilHandled() {
        changed.lock()
        let target = taken
        while handled < target { changed.wait() }
        changed.unlock()
    }

    private func work() {
        while true {
            changed.lock()
            while queue.isEmpty { changed.wait() }
            let batch = queue
            queue.removeAll(keepingCapacity: true)
            changed.unlock()
            for item in batch { handle(item) }
            changed.lock()
            handled += batch.count
            unhandled.subtract(batch.count, ordering: .releasing)
            changed.broadcast()
            changed.unlock()
        }
    }
}

extension Thread {
    /// Names the calling thread as `ps -L`, `top -H` and /proc/PID/task/TID/comm show it (the
    /// kernel keeps 15 bytes). Foundation's `Thread.name` does not reach the kernel on Linux.
    static func setSystemName(_ name: String) {
        _ = sotto_set_thread_name(name)
    }
}
