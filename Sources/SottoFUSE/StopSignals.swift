import CFuse3
import CSottoShims
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// SIGINT, SIGTERM and SIGHUP end a mount cleanly, whichever thread the kernel delivers them to.
///
/// Why not libfuse's own handlers (`fuse_set_signal_handlers`): in libfuse 3.14 the handler only
/// sets the session's exit flag, and the loop notices it when the main thread's wait on a
/// semaphore is interrupted by that same signal. libfuse blocks these signals in its worker
/// threads, but Sotto's own threads (the supervisor, background queues, readahead) take them too:
/// a Ctrl-C the kernel handed to one of them set the flag while the main thread slept on, and a
/// `--foreground` mount ignored Ctrl-C until a second one (issue 19). Here the handler only writes
/// the signal's number to a pipe (async-signal-safe) on whatever thread runs it; a watcher thread
/// ends the session and interrupts the main thread's wait, again until the loop has returned
/// (a signal that lands just before the main thread starts waiting would otherwise be lost).
final class StopSignals: @unchecked Sendable {
    static let signals: [Int32] = [SIGINT, SIGTERM, SIGHUP]
    /// How often the watcher interrupts the main thread again while the loop has not returned.
    static let retryInterval = 0.05

    private let session: OpaquePointer
    private let log: Log
    private let mainThread = pthread_self()
    private var previous: [Int32: sigaction] = [:]
    private let readEnd: Int32
    private let writeEnd: Int32
    /// Guards `loopRunning` and `loopEnded`; the watcher waits on it between interruptions.
    private let state = NSCondition()
    /// The main thread is inside the session loop: only then may it be interrupted (elsewhere an
    /// interrupted system call would fail with EINTR).
    private var loopRunning = false
    private var loopEnded = false
    private let watcherDone = DispatchSemaphore(value: 0)

    /// Installs the handlers (a signal inherited as ignored stays ignored, as `nohup` asks) and
    /// starts the watcher. Call on the thread that will run the session loop.
    init(session: OpaquePointer, log: Log) throws {
        self.session = session
        self.log = log
        var fds: [Int32] = [-1, -1]
        guard sotto_pipe_nonblocking_cloexec(&fds) == 0 else { throw Mount.MountError.setup("cannot create a pipe for signals") }
        (readEnd, writeEnd) = (fds[0], fds[1])
        stopSignalPipe = writeEnd
        var unblock = sigset_t()
        sigemptyset(&unblock)
        for s in Self.signals {
            var old = sigaction()
            sigaction(s, nil, &old)
            if unsafeBitCast(old.__sigaction_handler.sa_handler, to: Int.self) == unsafeBitCast(SIG_IGN, to: Int.self) { continue }
            var action = sigaction()
            action.__sigaction_handler.sa_handler = onStopSignal
            sigemptyset(&action.sa_mask)
            action.sa_flags = 0  // no SA_RESTART: the main thread's wait must be interrupted
            sigaction(s, &action, nil)
            previous[s] = old
            sigaddset(&unblock, s)
        }
        // A mask inherited from the launcher would leave them pending forever.
        pthread_sigmask(SIG_UNBLOCK, &unblock, nil)
        let watcher = Thread { [self] in
            Thread.setSystemName("sotto-signals")
            watch()
        }
        watcher.start()
    }

    /// Runs the session loop (`body`); a stop signal from now on ends it.
    func serve(_ body: () -> Int32) -> Int32 {
        state.lock()
        loopRunning = true
        state.unlock()
        let rc = body()
        finish()
        return rc
    }

    /// Stops the watcher and restores the handlers; idempotent (also called when setup failed).
    func finish() {
        state.lock()
        if loopEnded {
            state.unlock()
            return
        }
        loopEnded = true
        state.broadcast()
        state.unlock()
        var zero: UInt8 = 0
        _ = write(writeEnd, &zero, 1)
        watcherDone.wait()
        stopSignalPipe = -1
        for (s, old) in previous {
            var o = old
            sigaction(s, &o, nil)
        }
        // The write end stays open: a handler already running on another thread may still write
        // to it, and a closed number could by then belong to another file. (Its reader gone, such
        // a write fails with EPIPE; SIGPIPE is ignored.)
        close(readEnd)
    }

    private func watch() {
        defer { watcherDone.signal() }
        var signal: UInt8 = 0
        while signal == 0 {
            var p = pollfd(fd: readEnd, events: Int16(POLLIN), revents: 0)
            if poll(&p, 1, -1) < 0 { continue }  // EINTR
            if read(readEnd, &signal, 1) != 1 { signal = 0 }
            state.lock()
            let ended = loopEnded
            state.unlock()
            if ended { return }
        }
        log.info("signal \(signal) (\(String(cString: strsignal(Int32(signal))))): unmounting")
        fuse_session_exit(session)
        state.lock()
        defer { state.unlock() }
        while !loopEnded {
            if loopRunning { pthread_kill(mainThread, Int32(signal)) }
            _ = state.wait(until: Date(timeIntervalSinceNow: Self.retryInterval))
        }
    }
}

/// The write end of the running mount's signal pipe (one mount per process).
nonisolated(unsafe) private var stopSignalPipe: Int32 = -1

/// Async-signal-safe: one write to a non-blocking pipe, errno preserved.
private func onStopSignal(_ signal: Int32) {
    let saved = errno
    var number = UInt8(truncatingIfNeeded: signal)
    _ = write(stopSignalPipe, &number, 1)
    errno = saved
}
