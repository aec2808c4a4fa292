/// Who a file is: a replaced or rewritten file gets a new identity (new inode, or new
/// size/ctime), so a cached verdict is never reused for different content. Kernel records
/// carry it; EDRYara reads it from an open descriptor.
public struct FileIdentity: Hashable, Sendable, CustomStringConvertible {
    public var device: UInt64
    public var inode: UInt64
    public var size: Int64
    public var ctimeSeconds: Int64
    public var ctimeNanoseconds: Int64

    public init(device: UInt64, inode: UInt64, size: Int64, ctimeSeconds: Int64, ctimeNanoseconds: Int64) {
        self.device = device
        self.inode = inode
        self.size = size
        self.ctimeSeconds = ctimeSeconds
        self.ctimeNanoseconds = ctimeNanoseconds
    }

    public var description: String { "dev=\(device) ino=\(inode) size=\(size) ctime=\(ctimeSeconds).\(ctimeNanoseconds)" }
}
