import EDRCore

/// Windows event log records (Sysmon, Security, PowerShell … as exported to JSON) → Sigma
/// events: the logsource SigmaHQ's rules expect for the provider, channel and event id, and
/// the Sysmon field names they match (pySigma's Windows pipelines are the reference).
public enum WindowsEventLog {
    /// Sigma `service` per event log channel (pySigma's windows_logsource_mapping, inverted).
    public static let services: [String: String] = [
        "security": "security",
        "system": "system",
        "application": "application",
        "microsoft-windows-sysmon/operational": "sysmon",
        "microsoft-windows-powershell/operational": "powershell",
        "powershellcore/operational": "powershell",
        "windows powershell": "powershell-classic",
        "microsoft-windows-taskscheduler/operational": "taskscheduler",
        "microsoft-windows-wmi-activity/operational": "wmi",
        "dns server": "dns-server",
        "microsoft-windows-dns-server/audit": "dns-server-audit",
        "microsoft-windows-dns client events/operational": "dns-client",
        "microsoft-windows-driverframeworks-usermode/operational": "driver-framework",
        "microsoft-windows-ntlm/operational": "ntlm",
        "microsoft-windows-dhcp-server/operational": "dhcp",
        "msexchange management": "msexchange-management",
        "microsoft-windows-applocker/msi and script": "applocker",
        "microsoft-windows-applocker/exe and dll": "applocker",
        "microsoft-windows-applocker/packaged app-deployment": "applocker",
        "microsoft-windows-applocker/packaged app-execution": "applocker",
        "microsoft-windows-printservice/admin": "printservice-admin",
        "microsoft-windows-printservice/operational": "printservice-operational",
        "microsoft-windows-codeintegrity/operational": "codeintegrity-operational",
        "microsoft-windows-smbclient/security": "smbclient-security",
        "microsoft-windows-windows firewall with advanced security/firewall": "firewall-as",
        "microsoft-windows-bits-client/operational": "bits-client",
        "microsoft-windows-windows defender/operational": "windefend",
        "microsoft-windows-terminalservices-localsessionmanager/operational": "terminalservices-localsessionmanager",
        "microsoft-windows-appxdeploymentserver/operational": "appxdeployment-server",
        "microsoft-windows-security-mitigations/kernel mode": "security-mitigations",
        "microsoft-windows-security-mitigations/user mode": "security-mitigations",
        "openssh/operational": "openssh",
        "microsoft-windows-ldap-client/debug": "ldap",
        "microsoft-windows-shell-core/operational": "shell-core",
        "microsoft-windows-capi2/operational": "capi2"
    ]

    /// Sysmon event id → Sigma category (SigmaHQ's sysmon logsource documentation).
    public static func sysmonCategory(_ id: Int, eventType: String?) -> String? {
        switch id {
        case 1: return "process_creation"
        case 2: return "file_change"
        case 3: return "network_connection"
        case 4, 16: return "sysmon_status"
        case 5: return "process_termination"
        case 6: return "driver_load"
        case 7: return "image_load"
        case 8: return "create_remote_thread"
        case 9: return "raw_access_thread"
        case 10: return "process_access"
        case 11: return "file_event"
        case 12:
            // Key and value creation and deletion share the id; EventType tells them apart.
            return eventType?.hasPrefix("Delete") == true ? "registry_delete" : "registry_add"
        case 13: return "registry_set"
        case 14: return "registry_rename"
        case 15: return "create_stream_hash"
        case 17, 18: return "pipe_created"
        case 19, 20, 21: return "wmi_event"
        case 22: return "dns_query"
        case 23: return "file_delete"
        case 24: return "clipboard_capture"
        case 25: return "process_tampering"
        case 26: return "file_delete_detected"
        case 27: return "file_block_executable"
        case 28: return "file_block_shredding"
        case 29: return "file_executable_detected"
        case 255: return "sysmon_error"
        default: return nil
        }
    }

    /// Security log fields → the Sysmon names rules use (pySigma windows_audit_pipeline).
    public static let securityFieldNames: [(from: String, to: String)] = [
        ("NewProcessName", "Image"), ("ParentProcessName", "ParentImage"), ("NewValue", "Details"),
        ("SubjectLogonId", "LogonId")
    ]

    /// One record → the events to evaluate (registry events twice: their own category and
    /// registry_event). `provider` and `channel` as the record names them.
    public static func events(
        provider: String?, eventID: Int, channel: String?, timestamp: Double,
        data: [(String, FieldValue)]
    ) -> [Event] {
        let providerLower = provider?.lowercased() ?? ""
        let channelLower = channel?.lowercased() ?? ""
        var service = services[channelLower]
        var category: String?
        var fields: [(String, FieldValue)] = [("EventID", .int(Int64(eventID)))]
        if let channel { fields.append(("Channel", .string(channel))) }
        if let provider { fields.append(("Provider_Name", .string(provider))) }
        var extra: [(String, FieldValue)] = []
        if providerLower == "microsoft-windows-sysmon" || service == "sysmon" {
            service = "sysmon"
            let eventType = data.first { $0.0 == "EventType" }?.1.stringValue
            category = sysmonCategory(eventID, eventType: eventType)
        } else if service == "security" || providerLower == "microsoft-windows-security-auditing" {
            service = "security"
            if eventID == 4688 { category = "process_creation" }
            for (from, to) in securityFieldNames where !data.contains(where: { $0.0 == to }) {
                if let v = data.first(where: { $0.0 == from })?.1 { extra.append((to, v)) }
            }
        } else if providerLower == "microsoft-windows-powershell" || providerLower == "powershellcore" || service == "powershell" {
            service = "powershell"
            if eventID == 4104 { category = "ps_script" } else if eventID == 4103 { category = "ps_module" }
        } else if providerLower == "powershell" || service == "powershell-classic" {
            service = "powershell-classic"
            switch eventID {
            case 400: category = "ps_classic_start"
            case 600: category = "ps_classic_provider_start"
            case 800: category = "ps_classic_script"
            default: break
            }
        }
        fields.append(contentsOf: data)
        fields.append(contentsOf: extra)
        let e = Event(
            logsource: LogSource(product: "windows", category: category, service: service), timestamp: timestamp,
            fields: fields)
        return WindowsLogSources.expand(e)
    }
}

extension WindowsLogSources {
    /// The events to evaluate for one decoded event: registry events also under
    /// registry_event, which SigmaHQ uses for Sysmon's 12, 13 and 14 together.
    public static func expand(_ e: Event) -> [Event] {
        switch e.logsource.category {
        case "registry_add", "registry_delete", "registry_set", "registry_rename":
            var u = e
            u.logsource.category = registryEvent.category
            return [e, u]
        default:
            return [e]
        }
    }
}
