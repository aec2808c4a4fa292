import CLinux
import EDRCore
import EDRSystem
#if canImport(Glibc)
import Glibc
#endif

/// The connected detector: replay on connect, acknowledgements and forget-executables read,
/// frames (and the descriptors that go with exec records) written without ever blocking.
extension Sensor {
    /// A detector connection handed over by the supervisor (a socketpair end: nothing else
    /// can reach the sensor), or admitted on the sensor's socket (the detector's uid, one at
    /// a time). It replaces the previous one, whose detector is gone.
    func adopt(_ fd: Int32) {
        if connection >= 0 { dropConnection(reason: "a new detector connection") }
        // The supervisor made this end non-blocking (the sensor's allowlist has no F_SETFL).
        connection = fd
        passedExecutables.forgetAll()
        counters.connections += 1
        decoder = FrameDecoder(maxFrameSize: 4096)
        out.removeAll(keepingCapacity: true)
        outOffset = 0
        for m in outFDs { releaseHeld(m.fd) }
        outFDs.removeAll()
        let first = replay.firstUnacknowledged
        let replayed = replay.restartSending()
        counters.framesReplayed += UInt64(replayed)
        Log.info("detector connected; replaying \(replayed) unacknowledged frames from sequence \(first)")
        out.append(contentsOf: Hello(role: .sensor, pid: UInt32(getpid()), nextSequence: first).frame().encoded())
        for f in ProcSnapshot.frames() { out.append(contentsOf: f.encoded()) }
        out.append(contentsOf: Frame(type: .snapshotDone, payload: []).encoded())
        sendStats()
    }

    func dropConnection(reason: String) {
        if connection >= 0 {
            close(connection)
            peers.peerClosed(role: "detector")
            Log.info("detector disconnected (\(reason)); \(replay.unacknowledged) frames kept for replay")
        }
        connection = -1
        out.removeAll(keepingCapacity: true)
        outOffset = 0
        for m in outFDs { releaseHeld(m.fd) }
        outFDs.removeAll()
    }

    func readAcks() {
        while connection >= 0 {
            let n = readBuffer.withUnsafeMutableBytes { read(connection, $0.baseAddress, $0.count) }
            if n == 0 { dropConnection(reason: "closed by peer"); return }
            if n < 0 {
                if errno == EAGAIN || errno == EINTR { return }
                dropConnection(reason: String(cString: strerror(errno)))
                return
            }
            readBuffer.withUnsafeBytes { decoder.feed(UnsafeRawBufferPointer(rebasing: $0[0..<n])) }
            do {
                while let f = try decoder.next() {
                    switch f.type {
                    case .ack:
                        for fd in try replay.acknowledge(through: try Ack.sequence(from: f)) { releaseHeld(fd) }
                    case .forgetExecutables: passedExecutables.forgetAll()
                    case .hello: _ = try Hello(frame: f)
                    default: throw WireError.malformedPayload("unexpected \(f.type) from detector")
                    }
                }
            } catch {
                Log.error("protocol error from detector: \(error); dropping the connection")
                dropConnection(reason: "protocol error")
                return
            }
        }
    }

    /// Copies not-yet-queued frames into the output buffer (at most 1 MiB ahead), then writes
    /// what the socket takes.
    func flush() {
        if outOffset >= out.count && outFDs.isEmpty {
            out.removeAll(keepingCapacity: true)
            outOffset = 0
        }
        while out.count - outOffset < 1 << 20, let frame = replay.queueNext(into: &out) {
            // Executable-file frames right behind their exec record: the executable's (kind 0:
            // descriptor, 1: known), then a script's (kind 2: descriptor, 3: known).
            queueExecutableFile(frame.executable, of: frame.sequence, kinds: (0, 1))
            queueExecutableFile(frame.script, of: frame.sequence, kinds: (2, 3))
            counters.framesSent += 1
        }
        while outOffset < out.count {
            // Descriptors travel together with the first byte of a send that reaches their
            // frames (at most `maxFDsPerMessage` per send): one sendmsg per batch, not per exec.
            // They arrive before or with their frames, in order; the detector queues them.
            let k = min(outFDs.count, UnixSocket.maxFDsPerMessage)
            let limit = k < outFDs.count ? outFDs[k].offset : out.count
            let fds = outFDs.prefix(k).map(\.fd)
            let n: Int
            if fds.isEmpty {
                n = out.withUnsafeBytes { Glibc.send(connection, $0.baseAddress! + outOffset, limit - outOffset, Int32(MSG_NOSIGNAL)) }
                if n < 0 {
                    if errno == EAGAIN || errno == EINTR { return }
                    dropConnection(reason: String(cString: strerror(errno)))
                    return
                }
            } else {
                do {
                    n = try out.withUnsafeBytes {
                        try UnixSocket.sendSome(connection, UnsafeRawBufferPointer(rebasing: $0[outOffset..<limit]), passing: fds)
                    }
                } catch let e as SystemError where e.errno == EAGAIN || e.errno == EINTR {
                    return
                } catch {
                    dropConnection(reason: "\(error)")
                    return
                }
                for f in fds { releaseHeld(f) }
                counters.executablesPassed += UInt64(k)
                outFDs.removeFirst(k)
            }
            outOffset += n
        }
    }

    /// An executable-file frame for the record `sequence`: with the descriptor riding along
    /// (kind `kinds.descriptor`), or saying "known" (`kinds.known`); none for `.none`.
    private func queueExecutableFile(
        _ attachment: ReplayStore.Attachment, of sequence: UInt64,
        kinds: (descriptor: UInt8, known: UInt8)
    ) {
        if attachment == .none { return }
        var p = [UInt8]()
        p.appendLE(sequence)
        switch attachment {
        case .none:
            return
        case .known:
            p.append(kinds.known)
        case let .descriptor(fd):
            // The executable's own frame has no kind byte (its payload predates scripts).
            if kinds.descriptor != 0 { p.append(kinds.descriptor) }
            outFDs.append((out.count, fd))
        }
        out.append(contentsOf: Frame(type: .executableFile, payload: p).encoded())
    }

    func sendStats() {
        guard connection >= 0 else { return }
        let entries = counters.entries(
            kernel: try? programs.counters(), pendingFrames: replay.unacknowledged,
            heldDescriptors: heldFDs)
        out.append(contentsOf: SensorStats.frame(entries).encoded())
    }
}
