public enum IOCPlaceholder {}
