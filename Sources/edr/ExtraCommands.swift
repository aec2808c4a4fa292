import ArgumentParser

/// Subcommands that live in their own files.
enum EDRExtraCommands {
    static let all: [any ParsableCommand.Type] = [
        ValidateCommand.self, ReplayCommand.self, DoctorCommand.self, StatusCommand.self, ReopenAlertsCommand.self, ResponseEnabledCommand.self,
        LogsEnabledCommand.self, UnitStoppedCommand.self
    ]
}
