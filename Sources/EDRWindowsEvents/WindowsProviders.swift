import EDRCore

/// The ETW providers the detector decodes, with the GUIDs from their manifests.
public enum WindowsProvider {
    public static let kernelProcess = WindowsGUID(0x22FB_2CD6, 0x0E7B, 0x422B, [0xA0, 0xC7, 0x2F, 0xAD, 0x1F, 0xD0, 0xE7, 0x16])
    public static let kernelFile = WindowsGUID(0xEDD0_8927, 0x9CC4, 0x4E65, [0xB9, 0x70, 0xC2, 0x56, 0x0F, 0xB5, 0xC2, 0x89])
    public static let kernelNetwork = WindowsGUID(0x7DD4_2A49, 0x5329, 0x4832, [0x8D, 0xFD, 0x43, 0xD9, 0x79, 0x15, 0x3A, 0x88])
    public static let kernelRegistry = WindowsGUID(0x70EB_4F03, 0xC1DE, 0x4F73, [0xA0, 0x51, 0x33, 0xD1, 0x3D, 0x54, 0x13, 0xBD])
    public static let dnsClient = WindowsGUID(0x1C95_126E, 0x7EEA, 0x49A9, [0xA3, 0xFE, 0xA3, 0x78, 0xB0, 0x3D, 0xDB, 0x4D])
    public static let powerShell = WindowsGUID(0xA0C1_853B, 0x5C40, 0x4B15, [0x87, 0x66, 0x3C, 0xF1, 0xC5, 0x8F, 0x98, 0x5A])
    /// The sensor's own records (windows/sensor/devices.c), not an ETW provider: event 1 v0 is
    /// the drive-letter map.
    public static let edrSensor = WindowsGUID(0x8E7B_3C1A, 0x4D2F, 0x4A6B, [0x9C, 0x5E, 0x2F, 0x1D, 0x0A, 0x3B, 0x7C, 0x64])

    public static func name(_ g: WindowsGUID) -> String? {
        switch g {
        case kernelProcess: return "Microsoft-Windows-Kernel-Process"
        case kernelFile: return "Microsoft-Windows-Kernel-File"
        case kernelNetwork: return "Microsoft-Windows-Kernel-Network"
        case kernelRegistry: return "Microsoft-Windows-Kernel-Registry"
        case dnsClient: return "Microsoft-Windows-DNS-Client"
        case powerShell: return "Microsoft-Windows-PowerShell"
        case edrSensor: return "edr-sensor"
        default: return nil
        }
    }
}

/// Sigma logsources of Windows events, as SigmaHQ's rules name them.
public enum WindowsLogSources {
    public static let processCreation = LogSource(product: "windows", category: "process_creation")
    public static let processTermination = LogSource(product: "windows", category: "process_termination")
    public static let imageLoad = LogSource(product: "windows", category: "image_load")
    public static let fileEvent = LogSource(product: "windows", category: "file_event")
    public static let fileChange = LogSource(product: "windows", category: "file_change")
    public static let fileDelete = LogSource(product: "windows", category: "file_delete")
    public static let fileRename = LogSource(product: "windows", category: "file_rename")
    public static let networkConnection = LogSource(product: "windows", category: "network_connection")
    public static let registryAdd = LogSource(product: "windows", category: "registry_add")
    public static let registryDelete = LogSource(product: "windows", category: "registry_delete")
    public static let registrySet = LogSource(product: "windows", category: "registry_set")
    /// Sysmon events 12, 13 and 14 together: each registry event is evaluated under its own
    /// category and again under this one.
    public static let registryEvent = LogSource(product: "windows", category: "registry_event")
    public static let dnsQuery = LogSource(product: "windows", category: "dns_query")
    public static let psScript = LogSource(product: "windows", category: "ps_script")

    /// What the ETW decoder produces: rules for any other Windows logsource load as inert in
    /// a Windows detector.
    public static let etw: [LogSource] = [
        processCreation, processTermination, imageLoad, fileEvent, fileChange, fileDelete, fileRename,
        networkConnection, registryAdd, registryDelete, registrySet, registryEvent, dnsQuery, psScript
    ]
}
