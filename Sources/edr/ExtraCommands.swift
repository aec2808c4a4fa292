import ArgumentParser

/// Subcommands that live in their own files (validate, replay, bench, doctor).
enum EDRExtraCommands {
    static let all: [any ParsableCommand.Type] = []
}
