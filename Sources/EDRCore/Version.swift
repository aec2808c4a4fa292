public enum AgentVersion {
    public static let version = "0.1.0"
    public static let ecsVersion = "8.11.0"
}
